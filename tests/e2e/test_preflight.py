"""Endpoint pre-flight through the service: a bad endpoint fails the evaluation before any run."""

from __future__ import annotations

from typing import Any

import pytest

from budeval.demo.endpoint import DemoEndpoint
from tests.e2e.engines_present import pretend_installed
from tests.service import Service, free_port


@pytest.fixture(autouse=True)
def _lmeval_present(service: Service) -> None:
    """The pre-flight fails before any run: the engine need not really be installed."""
    pretend_installed(service.home / "engines")


def lmeval_request(eval_id: str, endpoint: str, key: str = "sk-pre") -> dict[str, Any]:
    return {
        "eval_id": eval_id,
        "eval_model_info": {"model_name": "demo-model", "endpoint": endpoint, "api_key": key},
        "eval_datasets": [{"dataset_id": "demo_arith"}],
        "engine": "lmeval",
    }


def assert_failed_before_runs(service: Service, eval_id: str, reason: str) -> dict[str, Any]:
    done = service.wait_terminal(eval_id)
    assert (done["status"], done["reason"]) == ("failed", reason), done
    assert [run["status"] for run in done["runs"]] == ["failed"]
    assert not (service.home / "runs" / done["runs"][0]["run_id"]).exists()
    return done


def test_unreachable_endpoint(service: Service) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert service.start_eval(lmeval_request("pre-down", url)).status_code == 201
    assert_failed_before_runs(service, "pre-down", "EndpointUnreachable")


@pytest.mark.parametrize(
    ("eval_id", "setup", "reason"),
    [
        ("pre-key", {"api_key": "sk-other"}, "Unauthorized"),
        ("pre-mode", {"mode": "completions"}, "ModeUnsupported"),
        ("pre-model", {"model": "another-model"}, "ModelNotFound"),
    ],
)
def test_refusing_endpoint(
    service: Service, eval_id: str, setup: dict[str, str], reason: str
) -> None:
    with DemoEndpoint(**setup) as endpoint:
        assert service.start_eval(lmeval_request(eval_id, endpoint.url)).status_code == 201
        done = assert_failed_before_runs(service, eval_id, reason)
    assert "sk-pre" not in str(done)
