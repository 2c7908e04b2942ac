"""The OpenCompass runner's own logic, without OpenCompass: the config it renders (literal values
only, whatever the request holds), redaction, and where OpenCompass's data comes from."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from budeval.engines.opencompass.datasets import CONFIGS, dataset_args
from budeval.runners import opencompass_runner as runner
from tests.engines.test_opencompass_adapter import ENGINE, HOSTILE, spec


def runner_args(dataset: str, model: str = HOSTILE, **extra: Any) -> dict[str, Any]:
    evaluation = spec([dataset], model=model, **extra)
    return json.loads(json.dumps(ENGINE.build(evaluation, evaluation.datasets[0]).engine_args))


def keyword(tree: ast.Module, name: str) -> Any:
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no keyword {name}")


@pytest.mark.parametrize("dataset", ["demo_arith", "demo_mcq", "demo_gsm8k_chat_gen", "my_qa"])
def test_config_renders_request_values_as_literals_only(dataset: str) -> None:
    text = runner.render_config(runner_args(dataset, limit=5, temperature=0.5))
    tree = ast.parse(text)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all(isinstance(n, ast.ImportFrom) for n in imports)
    assert {n.module.split(".")[0] for n in imports} <= {"mmengine", "opencompass"}  # type: ignore[union-attr]
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not {"os", "environ", "getenv", "eval", "exec", "open", "__import__"} & names
    assert not attributes
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert [s for s in strings if "import os" in str(s)] == [HOSTILE]  # one constant, as sent
    assert keyword(tree, "path") in (HOSTILE, runner_args(dataset)["dataset"].get("path"))
    assert keyword(tree, "key") == "ENV" and keyword(tree, "temperature") == 0.5
    assert keyword(tree, "retry") == 4  # attempts = retries + 1
    assert "test_range" in text and "'[0:5]'" in text


def test_config_rejects_what_would_be_code() -> None:
    args = runner_args("demo_gsm8k_chat_gen")
    args["dataset"]["module"] = "os; import os"
    with pytest.raises(runner.Failure):
        runner.render_config(args)
    args = runner_args("demo_arith")
    args["generation"]["max_out_len"] = "__import__('os')"
    with pytest.raises(runner.Failure):
        runner.render_config(args)
    args = runner_args("demo_arith")
    args["model_abbr"] = "../x"
    with pytest.raises(runner.Failure):
        runner.render_config(args)


def test_seeds_default_dataset_falls_back_to_the_demo_rows(tmp_path: Path, capsys) -> None:
    rows = tmp_path / "demo_arith.jsonl"
    rows.write_text('{"question": "q", "answer": "1\\n#### 1"}\n')
    args = {"dataset": {**dataset_args("demo_gsm8k_chat_gen"), "demo_rows": str(rows)}}
    args["dataset"]["data_root"] = str(tmp_path / "compass")
    env = runner.engine_environment(args, str(tmp_path / "data"))
    cache = Path(env["COMPASS_DATA_CACHE"])
    assert cache == tmp_path / "data" / "compass-data"
    assert (cache / "data/gsm8k/test.jsonl").read_text() == rows.read_text()
    assert (cache / "data/gsm8k/train.jsonl").exists()
    assert "runs on the generated rows" in capsys.readouterr().out
    installed = tmp_path / "compass" / "data" / "gsm8k"
    installed.mkdir(parents=True)
    (installed / "test.jsonl").write_text("real\n")
    env = runner.engine_environment(args, str(tmp_path / "data"))
    assert env["COMPASS_DATA_CACHE"] == str(tmp_path / "compass")


def test_a_missing_or_malformed_custom_file_is_named(tmp_path: Path) -> None:
    dataset = {"kind": "custom", "name": "mine", "path": str(tmp_path / "mine.jsonl")}
    with pytest.raises(runner.Failure, match=r"dataset mine: no file .*mine\.jsonl"):
        runner.check_file(dataset)
    (tmp_path / "mine.jsonl").write_text('{"question": "q", "answer": "a"}\n[1]\n')
    with pytest.raises(runner.Failure, match="dataset mine: line 2 is not a JSON object"):
        runner.check_file(dataset)
    (tmp_path / "mine.jsonl").write_text('{"question": "q", "answer": "a"}\n\n')
    with pytest.raises(runner.Failure, match="dataset mine: line 2 is not JSON: Expecting value"):
        runner.check_file(dataset)
    (tmp_path / "mine.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    runner.check_file(dataset)
    runner.check_file({"kind": "config", "name": "gsm8k_gen"})  # no file of its own


def inferencer_overrides(text: str) -> dict[str, Any]:
    """The keywords the rendered config puts into each dataset's `inferencer=dict(...)`."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.keyword) and node.arg == "inferencer":
            call = node.value
            assert isinstance(call, ast.Call)
            return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    return {}


@pytest.mark.parametrize("dataset", sorted(CONFIGS))
def test_requested_generation_settings_override_every_allowlisted_config(dataset: str) -> None:
    """OpenCompass fills the model's max_out_len only where the dataset config sets none
    (gsm8k_gen_1d7fe4: GenInferencer(max_out_len=512)); a request's value must win everywhere."""
    args = runner_args(dataset, max_out_len=77, num_concurrent=3)
    assert inferencer_overrides(runner.render_config(args)) == {"max_out_len": 77, "batch_size": 3}
    limited = runner.render_config(runner_args(dataset, max_gen_toks=9, limit=2))
    assert inferencer_overrides(limited) == {"max_out_len": 9} and "'[0:2]'" in limited


def test_without_a_requested_length_each_config_keeps_its_own() -> None:
    text = runner.render_config(runner_args("gsm8k_gen_1d7fe4"))
    assert inferencer_overrides(text) == {} and "datasets = [*gsm8k_datasets]" in text
    args = runner_args("gsm8k_gen_1d7fe4", max_out_len=64)
    args["generation"]["inferencer"] = {"max_out_len": 64, "__import__('os')": 1}
    with pytest.raises(runner.Failure):
        runner.render_config(args)
