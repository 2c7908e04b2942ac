"""The demo endpoint answers the demo datasets with an exact accuracy, as the engines read it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from budeval.demo import datasets
from budeval.demo.endpoint import DemoEndpoint
from budeval.demo.endpoint_answers import FALLBACK
from tests.demo.helpers import answer_text, ask, is_right, prompt, render

NAMES = sorted(datasets.GENERATORS)


def right_answers(endpoint: DemoEndpoint, name: str, api: str) -> int:
    rows = endpoint.rows(name)
    with httpx.Client(base_url=endpoint.url, timeout=10) as client:
        return sum(
            is_right(row, answer_text(api, ask(client, api, prompt(row, rows[:3]), max_tokens=64)))
            for row in rows
        )


@pytest.mark.parametrize("api", ["chat", "completions"])
@pytest.mark.parametrize("accuracy", [0.0, 0.33, 0.7, 1.0])
def test_every_dataset_is_answered_with_the_exact_accuracy(api: str, accuracy: float) -> None:
    with DemoEndpoint(accuracy=accuracy) as endpoint:
        for name in NAMES:
            count = len(endpoint.rows(name))
            assert right_answers(endpoint, name, api) == round(accuracy * count), name
            assert endpoint.expected_accuracy(name) == round(accuracy * count) / count


def all_answers(endpoint: DemoEndpoint) -> list[str]:
    with httpx.Client(base_url=endpoint.url) as client:
        return [
            answer_text("chat", ask(client, "chat", render(row)))
            for name in NAMES
            for row in endpoint.rows(name)
        ]


def test_answers_are_identical_across_restarts() -> None:
    with DemoEndpoint(accuracy=0.6) as first:
        before = all_answers(first)
    with DemoEndpoint(accuracy=0.6) as second:
        assert all_answers(second) == before


def test_answer_formats_satisfy_both_engines_extractors() -> None:
    with DemoEndpoint(accuracy=1.0) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        arith, choice = endpoint.rows("demo_arith")[0], endpoint.rows("demo_mcq")[0]
        number = arith["answer"].split("#### ")[-1]
        text = answer_text("chat", ask(client, "chat", render(arith)))
        assert text == f"Let me compute it step by step. The answer is {number}.\n#### {number}"
        text = answer_text("chat", ask(client, "chat", render(choice)))
        letter = choice["answer"]
        assert text == f"{letter}. {choice[letter]}\nThe answer is {letter}."


def test_a_wrong_answer_is_the_number_plus_one_or_the_next_letter() -> None:
    with DemoEndpoint(accuracy=0.0) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        arith, choice = endpoint.rows("demo_arith")[0], endpoint.rows("demo_mcq")[0]
        number = int(arith["answer"].split("#### ")[-1])
        assert answer_text("chat", ask(client, "chat", render(arith))).endswith(
            f"#### {number + 1}"
        )
        wrong = "ABCD"[("ABCD".index(choice["answer"]) + 1) % 4]
        assert answer_text("chat", ask(client, "chat", render(choice))).startswith(f"{wrong}. ")


def test_an_unknown_question_gets_the_fallback() -> None:
    with DemoEndpoint() as endpoint, httpx.Client(base_url=endpoint.url) as client:
        for api in ("chat", "completions"):
            assert answer_text(api, ask(client, api, "What is the capital of Peru?")) == FALLBACK


def test_set_accuracy_changes_the_score_at_run_time() -> None:
    with DemoEndpoint(accuracy=1.0) as endpoint:
        assert right_answers(endpoint, "demo_arith", "chat") == 20
        endpoint.set_accuracy(0.25)
        assert right_answers(endpoint, "demo_arith", "chat") == 5
        assert endpoint.expected_accuracy("demo_arith") == 0.25


def test_stop_sequences_cut_the_answer() -> None:
    with DemoEndpoint(accuracy=1.0) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        text = answer_text(
            "completions",
            ask(client, "completions", render(endpoint.rows("demo_arith")[0]), stop=["\n"]),
        )
        assert text.startswith("Let me compute") and "\n" not in text


@pytest.mark.parametrize("tokenized", [False, True])
def test_loglikelihood_picks_the_endpoints_choice(tokenized: bool) -> None:
    """lm-eval `multiple_choice`: echo + logprobs, byte-level tokens, argmax over continuations."""
    with DemoEndpoint(accuracy=0.7) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        rows, right = endpoint.rows("demo_mcq"), 0
        for row in rows:
            context = render(row).encode()
            prompts = [context + f" {letter}".encode() for letter in "ABCD"]
            body = {"model": "demo-model", "max_tokens": 1, "echo": True, "logprobs": 1}
            body["prompt"] = (
                [list(p) for p in prompts] if tokenized else [p.decode() for p in prompts]
            )
            choices = client.post("/completions", json=body).json()["choices"]
            scores = [sum(c["logprobs"]["token_logprobs"][len(context) : -1]) for c in choices]
            assert all(len(c["logprobs"]["tokens"]) == len(context) + 3 for c in choices)
            right += "ABCD"[scores.index(max(scores))] == row["answer"]
        assert right == round(0.7 * len(rows))


def test_echo_with_max_tokens_zero_adds_no_token() -> None:
    with DemoEndpoint() as endpoint, httpx.Client(base_url=endpoint.url) as client:
        body = {"prompt": "abc", "max_tokens": 0, "echo": True, "logprobs": 0}
        choice = client.post("/completions", json=body).json()["choices"][0]
        assert choice["logprobs"]["tokens"] == ["a", "b", "c"] and choice["text"] == "abc"
        assert choice["logprobs"]["token_logprobs"][0] is None


def test_datasets_dir_adds_and_overrides_datasets(tmp_path: Path) -> None:
    rows = [
        {"question": f"Riddle {i}: what is {i} plus {i}?", "answer": f"#### {2 * i}"}
        for i in range(10)
    ]
    (tmp_path / "riddles.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "demo_arith_tiny.jsonl").write_text(json.dumps(rows[0]) + "\n")
    with DemoEndpoint(accuracy=0.4, datasets_dir=tmp_path) as endpoint:
        assert endpoint.datasets == ["demo_arith", "demo_arith_tiny", "demo_mcq", "riddles"]
        assert right_answers(endpoint, "riddles", "chat") == 4
        assert endpoint.rows("demo_arith_tiny") == rows[:1]


def test_responses_follow_the_openai_schema() -> None:
    with DemoEndpoint() as endpoint, httpx.Client(base_url=endpoint.url) as client:
        chat = ask(client, "chat", "hello").json()
        assert chat["object"] == "chat.completion" and chat["model"] == "demo-model"
        assert set(chat) >= {"id", "created", "choices", "usage"}
        assert chat["choices"][0]["message"]["role"] == "assistant"
        assert chat["choices"][0]["finish_reason"] == "stop"
        usage = chat["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
        completion = ask(client, "completions", "hello").json()
        assert completion["object"] == "text_completion" and completion["choices"][0]["index"] == 0
        models = client.get("/models").json()
        assert models["object"] == "list" and models["data"][0]["id"] == "demo-model"
