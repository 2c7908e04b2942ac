"""The lm-eval adapter's pure parts: validation at submit, the run spec, parsing, the runner's
redaction and path helpers. Fast; the real engine runs in test_lmeval.py."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from budeval.engines.lmeval import LmEvalEngine
from budeval.engines.registry import default_registry
from budeval.errors import InvalidRequest
from budeval.runners import lmeval_runner
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec

ENGINE = LmEvalEngine()


def spec(datasets: list[str] | None = None, **extra: Any) -> EvaluationSpec:
    return EvaluationSpec(
        eval_id="e1",
        model=ModelSpec(model_name="org/model-1", endpoint="http://h:1/v1", extra_args=extra),
        datasets=[
            DatasetRun(dataset_id=name, run_id=f"r{index}")
            for index, name in enumerate(datasets or ["demo_arith"])
        ],
        engine="lmeval",
        secret_name="budeval-key-e1",
    )


def refused(evaluation: EvaluationSpec) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        ENGINE.validate(evaluation)
    return caught.value


def test_registered_with_its_recipe() -> None:
    engine = default_registry().get("lmeval")
    assert engine.recipe is not None and engine.recipe.phases == [["lm-eval[api]==0.4.13"]]
    assert (engine.version, engine.environment, engine.mode) == ("0.4.13", "lmeval", "chat")


def test_accepts_its_own_and_opencompass_options() -> None:
    ENGINE.validate(spec(num_concurrent=8, max_retries=2, max_gen_toks=64, temperature=0.5))
    ENGINE.validate(spec(query_per_second=2, max_out_len=64, max_seq_len=4096, retry=1))
    ENGINE.validate(spec(["demo_mcq", "demo_arith_tiny", "my_task.v2"], limit=5, batch_size=4))


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"nonsense": 1}, "eval_model_info.extra_args.nonsense"),
        ({"num_concurrent": 0}, "eval_model_info.extra_args.num_concurrent"),
        ({"num_concurrent": 65}, "eval_model_info.extra_args.num_concurrent"),
        ({"num_concurrent": "4"}, "eval_model_info.extra_args.num_concurrent"),
        ({"max_retries": 21}, "eval_model_info.extra_args.max_retries"),
        ({"max_out_len": 0}, "eval_model_info.extra_args.max_out_len"),
        ({"max_gen_toks": 40000}, "eval_model_info.extra_args.max_gen_toks"),
        ({"temperature": 2.5}, "eval_model_info.extra_args.temperature"),
        ({"limit": 0}, "eval_model_info.extra_args.limit"),
        ({"model_type": "embeddings"}, "eval_model_info.extra_args.model_type"),
        ({"retry": 1, "max_retries": 2}, "eval_model_info.extra_args.retry"),
        ({"max_out_len": 8, "max_gen_toks": 9}, "eval_model_info.extra_args.max_out_len"),
    ],
)
def test_refuses_bad_options_naming_the_field(extra: dict[str, Any], field: str) -> None:
    assert refused(spec(**extra)).field == field


def test_refuses_a_dataset_id_that_cannot_name_a_task_file() -> None:
    assert refused(spec(["a:b"])).field == "eval_datasets.dataset_id"


def test_check_datasets_needs_a_task_file_for_non_demo_datasets(tmp_path: Path) -> None:
    ENGINE.check_datasets(spec(["demo_arith", "demo_mcq"]), tmp_path)
    with pytest.raises(InvalidRequest) as caught:
        ENGINE.check_datasets(spec(["demo_arith", "mine"]), tmp_path)
    assert caught.value.field == "eval_datasets.dataset_id"
    assert "/datasets/lmeval/mine.yaml" in caught.value.message
    (tmp_path / "lmeval").mkdir()
    (tmp_path / "lmeval" / "mine.yaml").write_text("task: mine\n")
    ENGINE.check_datasets(spec(["mine"]), tmp_path)


def test_model_type_chooses_the_endpoint_mode() -> None:
    assert ENGINE.endpoint_mode(spec()) == "chat"
    assert ENGINE.endpoint_mode(spec(model_type="completions")) == "completions"


def args_of(evaluation: EvaluationSpec, index: int = 0) -> dict[str, Any]:
    return ENGINE.build(evaluation, evaluation.datasets[index]).engine_args


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_build_chat_demo_run() -> None:
    run = ENGINE.build(spec(), spec().datasets[0])
    assert run.command == ["python", "/opt/budeval/runners/lmeval_runner.py"]
    assert run.environment == "lmeval" and run.image == "budeval/engine-lmeval:0.4.13"
    assert set(run.secret_env) == {"OPENAI_API_KEY"}
    args = run.engine_args
    assert args["task_config"]["dataset_kwargs"]["data_files"]["test"] == (
        "/datasets/demo/demo_arith.jsonl"
    )
    assert args["task_file"] is None and args["task_yaml"] == "/data/tasks/demo_arith.yaml"
    cli = args["lm_eval_args"]
    assert option(cli, "--model") == "local-chat-completions"
    assert json.loads(option(cli, "--model_args") or "") == {
        "model": "org/model-1",
        "base_url": "http://h:1/v1/chat/completions",
        "num_concurrent": 4,
        "max_retries": 4,
        "tokenized_requests": False,
        "tokenizer_backend": None,
    }
    assert option(cli, "--tasks") == "/data/tasks/demo_arith.yaml"
    assert option(cli, "--output_path") == "/output"
    assert "--log_samples" in cli and "--apply_chat_template" in cli
    assert "--gen_kwargs" not in cli and "--limit" not in cli


def test_build_completions_with_generation_options_and_a_local_task() -> None:
    evaluation = spec(
        ["my_task"],
        model_type="completions",
        max_out_len=64,
        temperature=0.2,
        limit=3,
        retry=0,
        max_seq_len=4096,
        batch_size=2,
    )
    args = args_of(evaluation)
    assert args["task_config"] is None and args["task_file"] == "/datasets/lmeval/my_task.yaml"
    cli = args["lm_eval_args"]
    assert option(cli, "--model") == "local-completions"
    model_args = json.loads(option(cli, "--model_args") or "")
    assert model_args["base_url"] == "http://h:1/v1/completions"
    assert model_args["max_retries"] == 1 and model_args["max_length"] == 4096
    assert "--apply_chat_template" not in cli
    assert json.loads(option(cli, "--gen_kwargs") or "") == {"max_gen_toks": 64, "temperature": 0.2}
    assert option(cli, "--limit") == "3" and option(cli, "--batch_size") == "2"


def test_mcq_demo_task_extracts_a_letter() -> None:
    config = args_of(spec(["demo_mcq"]))["task_config"]
    assert config["filter_list"][0]["filter"][0]["regex_pattern"] == r"\b([A-D])\b"
    assert config["output_type"] == "generate_until"


# -- parse ---------------------------------------------------------------------------------------


def write_output(root: Path, results: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    folder = root / "demo-model"
    folder.mkdir(parents=True)
    stamp = "2026-11-24T00-00-00.000001"
    (folder / f"results_{stamp}.json").write_text(json.dumps(results))
    lines = "".join(json.dumps(sample) + "\n" for sample in samples)
    (folder / f"samples_demo_arith_{stamp}.jsonl").write_text(lines)


RESULTS = {
    "results": {
        "demo_arith": {
            "alias": "demo_arith",
            "exact_match,strict-match": 0.5,
            "exact_match_stderr,strict-match": 0.5,
            "exact_match,flexible-extract": 1.0,
            "exact_match_stderr,flexible-extract": "N/A",
        }
    },
    "n-samples": {"demo_arith": {"original": 2, "effective": 2}},
    "higher_is_better": {"demo_arith": {"exact_match": True}},
    "configs": {
        "demo_arith": {
            "filter_list": [{"name": "strict-match"}, {"name": "flexible-extract"}],
            "metric_list": [{"metric": "exact_match"}],
        }
    },
}


def sample(doc: int, filter_name: str, answer: str, gold: str) -> dict[str, Any]:
    return {
        "doc_id": doc,
        "target": gold,
        "arguments": {"gen_args_0": {"arg_0": [f"prompt {doc}"], "arg_1": {}}},
        "resps": [[f"#### {answer}"]],
        "filtered_resps": [answer],
        "filter": filter_name,
        "metrics": ["exact_match"],
        "exact_match": float(answer == gold),
    }


def test_parse_scores_and_primary_filter_predictions(tmp_path: Path) -> None:
    samples = [
        sample(1, "strict-match", "7", "8"),
        sample(0, "strict-match", "3", "3"),
        sample(0, "flexible-extract", "3", "3"),
        sample(1, "flexible-extract", "8", "8"),
    ]
    write_output(tmp_path, RESULTS, samples)
    parsed = ENGINE.parse(spec(), spec().datasets[0], tmp_path)
    scores = {score.metric: score for score in parsed.scores}
    assert set(scores) == {"exact_match/strict-match", "exact_match/flexible-extract"}
    assert scores["exact_match/strict-match"].value == 0.5
    assert scores["exact_match/strict-match"].stderr == 0.5
    assert scores["exact_match/flexible-extract"].stderr is None
    assert {score.n_samples for score in parsed.scores} == {2}
    assert [(p.index, p.prediction, p.gold, p.correct) for p in parsed.predictions] == [
        (0, "3", "3", True),
        (1, "7", "8", False),
    ]
    assert parsed.predictions[0].prompt == "prompt 0"


@pytest.mark.parametrize(
    ("choices", "doc", "gold"),
    [
        (["red", "green", "blue"], {}, "green"),  # a list in the task config
        ("{{options}}", {"options": ["x", "y", "z"]}, "y"),  # a doc field
        ("{{ q.opts }}", {"q": {"opts": ["a", "b"]}}, "b"),
        ("{{options}}", {"options": "not a list"}, "1"),  # unresolvable: the target as written
    ],
)
def test_gold_is_the_choice_text_the_metric_compared(
    tmp_path: Path, choices: Any, doc: dict[str, Any], gold: str
) -> None:
    """With `doc_to_choice`, lm-eval's `target` is an index and its metric compares
    `choices[target]` (ConfigurableTask.process_results); gold is that text, as for OpenCompass."""
    results = json.loads(json.dumps(RESULTS))
    results["configs"]["demo_arith"]["doc_to_choice"] = choices
    samples = [{**sample(0, "strict-match", "x", "1"), "target": 1, "doc": doc}]
    write_output(tmp_path, results, samples)
    [prediction] = ENGINE.parse(spec(), spec().datasets[0], tmp_path).predictions
    assert prediction.gold == gold


def test_parse_without_results_is_a_clear_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no results_"):
        ENGINE.parse(spec(), spec().datasets[0], tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "results_x.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable lm-eval results"):
        ENGINE.parse(spec(), spec().datasets[0], tmp_path)


# -- runner helpers ------------------------------------------------------------------------------


def test_operator_task_paths_are_mapped(tmp_path: Path) -> None:
    mapped = lmeval_runner.map_datasets_path
    assert mapped("/datasets/demo/a.jsonl", "/home/d", tmp_path) == "/home/d/demo/a.jsonl"
    assert mapped("b.jsonl", "/home/d", tmp_path) == str(tmp_path / "b.jsonl")
    assert mapped("/abs/c.jsonl", "/home/d", tmp_path) == "/abs/c.jsonl"
    assert mapped("hf://datasets/x", "/home/d", tmp_path) == "hf://datasets/x"


SIBLINGS = {"redaction", "budeval.runners.redaction"}
"""Standard-library runner modules beside it (copied with it into every image)."""


def test_runner_imports_only_the_standard_library_and_lm_eval() -> None:
    """It runs inside the engine's environment or image, where budeval is not installed."""
    tree = ast.parse(Path(lmeval_runner.__file__).read_text())
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    names |= {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    foreign = {
        name
        for name in names
        if name.split(".")[0] not in (*sys.stdlib_module_names, "__future__", "lm_eval")
        and name not in SIBLINGS
    }
    assert foreign == set()
