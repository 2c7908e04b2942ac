"""Prompts shaped like the engines' and the engines' own answer extraction, for the demo tests."""

from __future__ import annotations

import re
from typing import Any

import httpx

GSM_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
"""lm-eval's gsm8k `strict-match` filter."""
LETTER = re.compile(r"\b([A-D])\b")
"""lm-eval's letter filter (take_first)."""


def opencompass_gsm8k(text: str) -> str:
    """OpenCompass `gsm8k_postprocess`: the last number before any "Question:"."""
    numbers = re.findall(r"\-?\d+\.\d+|\-?\d+", text.split("Question:")[0])
    return numbers[-1] if numbers else "NULL"


def is_choice(row: dict[str, Any]) -> bool:
    return "A" in row


def render(row: dict[str, Any]) -> str:
    if is_choice(row):
        options = "".join(f"\n{letter}. {row[letter]}" for letter in "ABCD")
        return f"{row['question']}{options}\nAnswer:"
    return f"Question: {row['question']}\nAnswer:"


def target(row: dict[str, Any]) -> str:
    return row["answer"] if is_choice(row) else row["answer"].split("#### ")[-1].strip()


def prompt(row: dict[str, Any], shots: list[dict[str, Any]]) -> str:
    """A few-shot prompt: solved examples (other known questions) first, the question last."""
    examples = "".join(f"{render(shot)} {target(shot)}\n\n" for shot in shots)
    return examples + render(row)


def is_right(row: dict[str, Any], text: str) -> bool:
    if is_choice(row):
        found = LETTER.search(text)
        return found is not None and found.group(1) == row["answer"]
    strict = GSM_STRICT.search(text)
    right = target(row)
    assert (strict is not None and strict.group(1) == right) == (opencompass_gsm8k(text) == right)
    return strict is not None and strict.group(1) == right


def ask(client: httpx.Client, api: str, text: str, **extra: Any) -> httpx.Response:
    if api == "chat":
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
        body = {"model": "demo-model", "messages": messages, **extra}
        return client.post("/chat/completions", json=body)
    return client.post("/completions", json={"model": "demo-model", "prompt": text, **extra})


def answer_text(api: str, response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    return choice["message"]["content"] if api == "chat" else choice["text"]
