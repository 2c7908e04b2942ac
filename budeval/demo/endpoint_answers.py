"""What the demo endpoint answers: the known questions, which of them it gets right, and the text.

Pure: no sockets, no clock, no randomness. Given the dataset rows and an accuracy, every prompt maps
to the same reply on every machine. Per dataset exactly `round(accuracy * N)` questions are answered
right — those whose sha256(question) ranks lowest — so a run over a whole file scores exactly
`round(accuracy * N) / N` whatever order or concurrency the engine uses. A wrong answer is the right
number + 1, or the next option letter (wrapping around); an unknown question gets `FALLBACK`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from budeval.demo import datasets

FALLBACK = "I don't know."
"""The reply to a prompt that contains no known question (scored wrong by every engine)."""

WRONG_LOGPROB = -5.0
"""Per-byte log-probability of a continuation that is not the endpoint's answer (else 0.0)."""

_NUMBER = re.compile(r"-?[\d,]*\.?\d+")


@dataclass(frozen=True)
class Question:
    text: str
    dataset: str
    right: str
    """The right answer: a number as text, an option letter, or free text."""
    choices: dict[str, str] | None
    """Option letter → option text for multiple choice; None otherwise."""
    correct: bool
    """Whether the endpoint answers this question right."""

    @property
    def given(self) -> str:
        """The answer the endpoint gives."""
        if self.correct:
            return self.right
        if self.choices:
            letters = sorted(self.choices)
            return letters[(letters.index(self.right) + 1) % len(letters)]
        try:
            return str(Decimal(self.right) + 1)
        except InvalidOperation:
            return FALLBACK

    def reply(self) -> str:
        """The generated text: gsm8k style for numbers, the letter first for multiple choice."""
        given = self.given
        if self.choices:
            return f"{given}. {self.choices[given]}\nThe answer is {given}."
        if given != FALLBACK and _NUMBER.fullmatch(given):
            return f"Let me compute it step by step. The answer is {given}.\n#### {given}"
        return given


def parse_row(row: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
    """(right answer, choices) of a dataset row in the formats of `budeval.demo.datasets`."""
    answer = str(row["answer"]).strip()
    if "A" in row and "B" in row:
        letters = [letter for letter in "ABCDEFGHIJ" if letter in row]
        if answer not in letters:
            raise ValueError(f"multiple-choice answer {answer!r} is not one of {letters}")
        return answer, {letter: str(row[letter]) for letter in letters}
    final = answer.split("####")[-1].strip()
    numbers = _NUMBER.findall(final)
    return (numbers[-1].replace(",", "") if numbers else final), None


def load_rows(datasets_dir: Path | None) -> dict[str, list[dict[str, Any]]]:
    """The generated demo datasets, plus (or replaced by) `<datasets_dir>/*.jsonl` by file stem."""
    rows = {name: _parse_jsonl(datasets.render(name).decode()) for name in datasets.GENERATORS}
    if datasets_dir is not None:
        if not datasets_dir.is_dir():
            raise ValueError(f"datasets directory {datasets_dir} does not exist")
        for path in sorted(datasets_dir.glob("*.jsonl")):
            rows[path.stem] = _parse_jsonl(path.read_text(encoding="utf-8"))
    return rows


def _parse_jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _rank(question: str) -> str:
    return hashlib.sha256(question.encode()).hexdigest()


class AnswerBook:
    """The known questions at one accuracy. Immutable: a new accuracy builds a new book."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]], accuracy: float) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"accuracy must be within [0, 1], got {accuracy}")
        self.rows = rows
        self.accuracy = accuracy
        self.questions: dict[str, Question] = {}
        for name, dataset_rows in rows.items():
            right_ones = round(accuracy * len(dataset_rows))
            ranked = sorted((str(row["question"]) for row in dataset_rows), key=_rank)
            correct = set(ranked[:right_ones])
            for row in dataset_rows:
                text = str(row["question"])
                right, choices = parse_row(row)
                # The first dataset to define a question owns it.
                self.questions.setdefault(
                    text, Question(text, name, right, choices, text in correct)
                )

    def lookup(self, prompt: str) -> Question | None:
        """The known question that occurs last in the prompt (few-shot examples come first)."""
        best: tuple[int, int] | None = None
        found: Question | None = None
        for text, question in self.questions.items():
            position = prompt.rfind(text)
            if position >= 0 and (best is None or (position, len(text)) > best):
                best, found = (position, len(text)), question
        return found

    def reply(self, prompt: str, stop: list[str] | None = None) -> str:
        question = self.lookup(prompt)
        text = question.reply() if question else FALLBACK
        for marker in stop or []:
            if marker and marker in text:
                text = text[: text.index(marker)]
        return text

    def expected_accuracy(self, dataset: str) -> float:
        """The score an engine must report for a whole dataset (0 to 1)."""
        total = len(self.rows[dataset])
        right = sum(q.correct for q in self.questions.values() if q.dataset == dataset)
        return right / total if total else 0.0

    def echo_logprobs(self, raw: bytes, generated: int) -> dict[str, Any]:
        """OpenAI `logprobs` for an echoed prompt, with a byte-level tokenizer (token i = byte i).

        The continuation — the text after the last "Answer:" following the question, or after the
        question — gets log-probability 0 per byte if it is the endpoint's answer (its letter or
        option text), else `WRONG_LOGPROB` per byte; so lm-eval's loglikelihood tasks pick the
        endpoint's answer. `generated` (0 or 1) extra tokens " " follow the prompt.
        """
        text = raw.decode("utf-8", "replace")
        logprobs: list[float | None] = [None] + [0.0] * (len(raw) - 1)
        question = self.lookup(text)
        if question is not None and raw:
            after = text[text.rfind(question.text) + len(question.text) :]
            cut = after.rfind("Answer:")
            continuation = (after[cut + len("Answer:") :] if cut >= 0 else after).strip()
            given = question.given
            chosen = {given, question.choices.get(given, given)} if question.choices else {given}
            if continuation not in chosen:
                count = min(len(continuation.encode()) or 1, len(raw) - 1)
                logprobs[len(raw) - count :] = [WRONG_LOGPROB] * count
        tokens = [chr(byte) for byte in raw] + [" "] * generated
        logprobs += [0.0] * generated
        top = [None if lp is None else {tok: lp} for tok, lp in zip(tokens, logprobs, strict=True)]
        return {
            "tokens": tokens,
            "token_logprobs": logprobs,
            "top_logprobs": top,
            "text_offset": list(range(len(tokens))),
        }
