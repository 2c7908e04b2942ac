from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from budeval.engines.registry import EngineRegistry, default_registry, register_engine
from budeval.engines.smoke import SmokeEngine
from budeval.errors import InvalidRequest
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec


def spec(
    configs: dict[str, object] | None = None, datasets: tuple[str, ...] = ("smoke",)
) -> EvaluationSpec:
    return EvaluationSpec(
        eval_id="e1",
        model=ModelSpec(model_name="m", endpoint="http://h/v1"),
        datasets=[DatasetRun(dataset_id=d, run_id=f"r-{d}") for d in datasets],
        engine="smoke",
        configs=configs or {},
        secret_name="key-e1",
    )


def test_build_is_pure_and_carries_no_secret() -> None:
    engine = default_registry().get("smoke")
    run = engine.build(
        spec({"smoke": {"score": 3.5, "per_dataset": {"smoke": {"exit_code": 4}}}}),
        DatasetRun(dataset_id="smoke", run_id="r-smoke"),
    )
    assert run.command == ["python", "-m", "budeval.engines.smoke_program"]
    assert run.engine_args["score"] == 3.5 and run.engine_args["exit_code"] == 4
    assert run.secret_env["OPENAI_API_KEY"].name == "key-e1"
    assert (
        run.name.startswith("eval-r-smoke-") and run.labels["app.kubernetes.io/name"] == "budeval"
    )


@pytest.mark.parametrize(
    ("configs", "field"),
    [
        ({"smoke": {"exit_code": 256}}, "exit_code"),
        ({"smoke": {"duration_seconds": -1}}, "duration_seconds"),
        ({"smoke": {"command": "rm -rf /"}}, "command"),
        ({"smoke": "sleep 1"}, "smoke"),
    ],
)
def test_bad_configs_are_invalid_requests(configs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        default_registry().get("smoke").validate(spec(configs))
    assert field in (caught.value.field or "")


def test_unknown_dataset_and_engine() -> None:
    with pytest.raises(InvalidRequest, match="unknown dataset"):
        default_registry().get("smoke").validate(spec(datasets=("gsm8k",)))
    with pytest.raises(InvalidRequest, match=r"known engines: .*smoke"):
        default_registry().get("nope")


def test_registry_can_be_injected_and_refuses_duplicates() -> None:
    registry = EngineRegistry()
    register_engine(registry)(SmokeEngine)
    assert registry.names() == ["smoke"]
    with pytest.raises(ValueError, match="twice"):
        registry.add(SmokeEngine())


def test_program_writes_parseable_results_and_honours_exit_code(tmp_path: Path) -> None:
    engine = default_registry().get("smoke")
    evaluation = spec({"smoke": {"duration_seconds": 0, "score": 12.5, "n_samples": 7}})
    run = engine.build(evaluation, evaluation.datasets[0])
    env = {
        "PATH": os.environ["PATH"],
        "ENGINE_ARGS": json.dumps(run.engine_args),
        "OUTPUT_DIR": str(tmp_path),
        "OPENAI_API_KEY": "sk-secret-value",
    }
    done = subprocess.run(
        [sys.executable, "-m", "budeval.engines.smoke_program"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "sk-secret-value" not in done.stdout + done.stderr
    parsed = engine.parse(evaluation, evaluation.datasets[0], tmp_path)
    assert [(s.metric, s.value, s.n_samples) for s in parsed.scores] == [("score", 12.5, 7)]

    env["ENGINE_ARGS"] = json.dumps({**run.engine_args, "exit_code": 5})
    failed = subprocess.run([sys.executable, "-m", "budeval.engines.smoke_program"], env=env)
    assert failed.returncode == 5
