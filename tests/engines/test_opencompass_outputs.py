"""Reading OpenCompass's output folder: the runner's verdict (OpenCompass exits 0 on failures)
and the engine's parser (percentages → fractions, shards, subsets), on OpenCompass-shaped files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from budeval.runners import opencompass_outcome as outcome
from budeval.runners import opencompass_runner as runner
from budeval.spec import DatasetRun
from tests.engines.test_opencompass_adapter import ENGINE, spec


def fake_output(root: Path, results: dict[str, Any], shards: int = 1) -> Path:
    run = root / "20261124_010203"
    for folder in ("summary", "results/m", "predictions/m", "logs/infer/m", "logs/eval/m"):
        (run / folder).mkdir(parents=True, exist_ok=True)
    rows = ["dataset,version,metric,mode,m"]
    for abbr, result in results.items():
        rows.append(f"{abbr},abc123,accuracy,gen,{'-' if result is None else 1}")
        if result is None:
            (run / "logs/infer/m" / f"{abbr}.out").write_text(
                "Traceback (most recent call last):\n  File x\n"
                "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n"
            )
            continue
        (run / "results/m" / f"{abbr}.json").write_text(json.dumps(result))
        samples = {
            str(i): {
                "origin_prompt": [{"role": "HUMAN", "prompt": f"q{i}"}],
                "prediction": f"p{i}",
                "gold": f"g{i}",
            }
            for i in range(4)
        }
        per = 4 // shards
        for shard in range(shards):
            name = f"{abbr}_{shard}.json" if shards > 1 else f"{abbr}.json"
            part = {str(i): samples[str(shard * per + i)] for i in range(per)}
            (run / "predictions/m" / name).write_text(json.dumps(part))
    (run / "summary" / "summary_20261124_010203.csv").write_text("\n".join(rows) + "\n")
    return run


def details(correct: list[int]) -> list[dict[str, Any]]:
    return [{"pred": ["1"], "answer": ["1"], "correct": [bool(ok)]} for ok in correct]


def test_parse_normalises_percentages_and_merges_shards(tmp_path: Path) -> None:
    fake_output(tmp_path, {"demo_arith": {"accuracy": 75.0, "details": details([1, 0, 1, 1])}}, 2)
    parsed = ENGINE.parse(spec(model="m"), spec().datasets[0], tmp_path)
    [score] = parsed.scores
    assert (score.dataset, score.metric, score.value, score.n_samples) == (
        "demo_arith",
        "accuracy",
        0.75,
        4,
    )
    assert [p.prompt for p in parsed.predictions] == [f"HUMAN: q{i}" for i in range(4)]
    assert [p.correct for p in parsed.predictions] == [True, False, True, True]
    assert outcome.verdict(str(tmp_path), "m", "d", runner.Redactor(""), []) is None


def test_parse_several_subsets_adds_their_mean(tmp_path: Path) -> None:
    fake_output(
        tmp_path,
        {
            "a": {"accuracy": 50.0, "details": details([1, 0, 1, 0])},
            "b": {"accuracy": 100.0, "details": details([1, 1, 1, 1])},
        },
    )
    parsed = ENGINE.parse(spec(model="m"), DatasetRun(dataset_id="mmlu_gen", run_id="r"), tmp_path)
    values = {(s.dataset, s.metric): (s.value, s.n_samples) for s in parsed.scores}
    assert values == {
        ("mmlu_gen/a", "accuracy"): (0.5, 4),
        ("mmlu_gen/b", "accuracy"): (1.0, 4),
        ("mmlu_gen", "accuracy"): (0.75, 8),
    }
    assert [p.index for p in parsed.predictions] == list(range(8))


def test_verdict_names_the_failed_dataset_and_its_error(tmp_path: Path, capsys) -> None:
    fake_output(tmp_path, {"ok": {"accuracy": 1.0}, "broken": None})
    reason = outcome.verdict(str(tmp_path), "m", "d", runner.Redactor(""), [])
    assert reason is not None and reason.startswith("dataset broken: no results file; ")
    assert "JSONDecodeError: Expecting value" in reason and "logs/infer/m/broken.out" in reason
    assert "tail of" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    why = outcome.verdict(str(empty), "m", "d", runner.Redactor(""), ["x", "ValueError: bad: x"])
    assert why == "dataset d: OpenCompass stopped before a summary: ValueError: bad: x"


def test_verdict_refuses_an_evaluator_error(tmp_path: Path) -> None:
    fake_output(tmp_path, {"d": {"error": "preds and refrs have different length"}})
    reason = outcome.verdict(str(tmp_path), "m", "d", runner.Redactor(""), [])
    assert reason is not None and "evaluator error: preds and refrs" in reason


def test_verdict_adds_the_last_api_error_to_a_retry_failure(tmp_path: Path) -> None:
    run = fake_output(tmp_path, {"d": None})
    (run / "logs/infer/m/d.out").write_text(
        "11/24 00:39:22 - OpenCompass - ERROR - x.py - _generate - 956 - error occurs at http://h\n"
        "11/24 00:39:22 - OpenCompass - ERROR - x.py - _generate - 957 - Connection error.\n"
        "RuntimeError: Calling OpenAI API failed after retrying for 4 times. Check the logs.\n"
    )
    reason = outcome.verdict(str(tmp_path), "m", "d", runner.Redactor(""), [])
    assert reason is not None and "Last API error: Connection error." in reason


def test_details_dict_counts_only_samples() -> None:
    from budeval.engines.opencompass.results import details_list

    details = {"1": {"pred": "b"}, "0": {"pred": "a"}, "type": "GEN", "10": {"pred": "k"}}
    assert [entry["pred"] for entry in details_list(details)] == ["a", "b", "k"]


def test_gold_is_the_processed_reference_the_evaluator_compared(tmp_path: Path) -> None:
    """As for lm-eval (its `target`): `gold` is the answer after the dataset postprocessor (what
    the metric compared), not the raw reference of OpenCompass's predictions file."""
    run = fake_output(tmp_path, {"d": {"accuracy": 50.0, "details": []}})
    raw = {
        str(i): {"origin_prompt": "q", "prediction": "p", "gold": f"{i}+1\n#### {i + 1}"}
        for i in range(4)
    }
    (run / "predictions/m/d.json").write_text(json.dumps(raw))
    shapes = [  # the per-sample shapes of OpenCompass 0.5.4's evaluators, flattened
        {"pred": ["1"], "answer": ["1"], "correct": [True]},  # Gsm8kEvaluator, EM
        {"predictions": "x", "references": "2", "correct": False},  # format_details
        {"pred": ["3"], "refr": ["3"], "correct": [True]},  # custom datasets
        {"pred": ["0"], "is_correct": [False]},  # AccwithDetailsEvaluator; no reference
    ]
    (run / "results/m/d.json").write_text(json.dumps({"accuracy": 50.0, "details": shapes}))
    parsed = ENGINE.parse(spec(model="m"), DatasetRun(dataset_id="d", run_id="r"), tmp_path)
    assert [p.gold for p in parsed.predictions] == ["1", "2", "3", "3+1\n#### 4"]
    assert [p.correct for p in parsed.predictions] == [True, False, True, False]
