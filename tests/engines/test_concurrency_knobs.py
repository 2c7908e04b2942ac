"""The knobs README's "Slow or CPU-only endpoints" names, each carried into what the engine runs:
OpenCompass's infer workers (`--max-num-workers`), per-worker `batch_size` (alias
`num_concurrent`), per-worker `query_per_second`, `request_timeout`; lm-eval's `num_concurrent`
and `request_timeout`. Real runs measuring the endpoint's peak concurrency are in
test_request_settings.py."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from budeval.engines.lmeval import LmEvalEngine
from budeval.runners import opencompass_runner as runner
from tests.engines.test_lmeval_adapter import option
from tests.engines.test_lmeval_adapter import spec as lm_spec
from tests.engines.test_opencompass_runner import runner_args


def model_of(text: str) -> dict[str, Any]:
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "models":
            [call] = node.value.elts  # type: ignore[attr-defined]
            literals = [k for k in call.keywords if isinstance(k.value, ast.Constant)]
            return {k.arg: ast.literal_eval(k.value) for k in literals}
    raise AssertionError("no models")


def test_opencompass_defaults_give_two_workers_of_eight() -> None:
    args = runner_args("demo_arith", model="m")
    model = model_of(runner.render_config(args))
    assert (model["batch_size"], model["query_per_second"], model["timeout"]) == (8, 10, 600)
    assert option(runner.command(args, "/data/config.py", "/output"), "--max-num-workers") == "2"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"batch_size": 2}, {"batch_size": 2}),
        ({"num_concurrent": 3}, {"batch_size": 3}),
        ({"query_per_second": 0.5}, {"query_per_second": 0.5}),
        ({"request_timeout": 1800}, {"timeout": 1800}),
    ],
)
def test_opencompass_model_knobs(extra: dict[str, Any], expected: dict[str, Any]) -> None:
    model = model_of(runner.render_config(runner_args("demo_arith", model="m", **extra)))
    assert {key: model[key] for key in expected} == expected


def test_opencompass_workers_knob() -> None:
    args = runner_args("demo_arith", model="m", max_num_workers=1)
    argv = runner.command(args, "/data/config.py", "/output")
    assert argv[1:] == ["/data/config.py", "-w", "/output", "--max-num-workers", "1"]


def lm_model_args(**extra: Any) -> dict[str, Any]:
    evaluation = lm_spec(**extra)
    cli = LmEvalEngine().build(evaluation, evaluation.datasets[0]).engine_args["lm_eval_args"]
    return json.loads(option(cli, "--model_args") or "")  # type: ignore[no-any-return]


def test_lmeval_num_concurrent_and_request_timeout() -> None:
    assert lm_model_args()["num_concurrent"] == 4 and "timeout" not in lm_model_args()
    assert lm_model_args(num_concurrent=1)["num_concurrent"] == 1
    assert lm_model_args(request_timeout=900)["timeout"] == 900
    assert lm_model_args(request_timeout=1.5)["timeout"] == 2  # lm-eval takes whole seconds
