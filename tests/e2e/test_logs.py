"""A run's log over HTTP from a real service (local backend, smoke engine): read, tail, follow."""

from __future__ import annotations

import httpx

from tests.e2e.engines_present import pretend_installed
from tests.e2e.test_cli import budeval
from tests.service import Service, smoke_request

KEY = "sk-test-key"  # smoke_request's key: it must never show up in a log


def logs(service: Service, eval_id: str, run_id: str, **params: object) -> httpx.Response:
    return service.http.get(f"/evals/{eval_id}/runs/{run_id}/logs", params=params)


def test_logs_of_a_finished_run_and_its_tail(service: Service) -> None:
    assert service.start_eval(smoke_request("logs-1", score=3.5)).status_code == 201
    run = service.wait_terminal("logs-1")["runs"][0]
    whole = logs(service, "logs-1", run["run_id"])
    assert whole.status_code == 200, whole.text
    assert whole.headers["content-type"].startswith("text/plain")
    lines = whole.text.splitlines()
    assert lines[0].startswith("smoke: ENGINE_ARGS=")
    assert "smoke: api key present: True" in lines
    assert lines[-1] == "smoke: done, score=3.5"
    assert whole.text == (service.run_dir(run["run_id"]) / "run.log").read_text()
    assert KEY not in whole.text

    tail = logs(service, "logs-1", run["run_id"], tail=2)
    assert tail.text.splitlines() == lines[-2:]
    by_job_name = logs(service, "logs-1", run["job_name"], tail=1)
    assert by_job_name.text == "smoke: done, score=3.5\n"
    assert logs(service, "logs-1", run["run_id"], since=3600).text == whole.text

    printed = budeval("eval", "logs", "logs-1", run["run_id"], "--tail", "1", server=service)
    assert (printed.returncode, printed.stdout) == (0, "smoke: done, score=3.5\n")
    followed = budeval("eval", "logs", "logs-1", run["run_id"], "--follow", server=service)
    assert followed.stdout == whole.text
    missing = budeval("eval", "logs", "logs-1", "nope", server=service)
    assert missing.returncode == 1 and "HTTP 404" in missing.stdout


def test_follow_streams_a_running_run_until_it_ends(service: Service) -> None:
    assert service.start_eval(smoke_request("logs-2", duration_seconds=1.5)).status_code == 201
    run_id = service.wait_run_status("logs-2", "running")["runs"][0]["run_id"]
    received: list[str] = []
    status_at_first_line = None
    path = f"/evals/logs-2/runs/{run_id}/logs"
    with service.http.stream("GET", path, params={"follow": True}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if status_at_first_line is None:
                status_at_first_line = service.show("logs-2")["runs"][0]["status"]
            received.append(line)
    # the stream closed by itself once the run ended, after lines had arrived while it ran
    assert status_at_first_line == "running"
    assert received[0].startswith("smoke: ENGINE_ARGS=")
    assert any(line.startswith("smoke: working") for line in received)
    assert received[-1] == "smoke: done, score=42.0"  # the smoke default
    assert KEY not in "".join(received)
    assert service.wait_terminal("logs-2")["status"] == "succeeded"


def test_unknown_evaluation_or_run_is_404(service: Service) -> None:
    assert service.start_eval(smoke_request("logs-3")).status_code == 201
    run_id = service.wait_terminal("logs-3")["runs"][0]["run_id"]
    assert service.start_eval(smoke_request("logs-4", ["smoke-4"])).status_code == 201
    other = service.wait_terminal("logs-4")["runs"][0]["run_id"]
    for eval_id, run in (("nope", run_id), ("logs-3", "nope"), ("logs-3", other)):
        response = logs(service, eval_id, run)
        assert response.status_code == 404, (eval_id, run, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert logs(service, "logs-3", "a;b").status_code == 422
    assert logs(service, "logs-3", run_id, tail=0).status_code == 422


def test_a_run_that_was_never_deployed_is_409(service: Service) -> None:
    """The pre-flight check fails (nothing listens on port 9), so no run ever gets a handle."""
    pretend_installed(service.home / "engines")  # never launched: the pre-flight fails first
    body = smoke_request("logs-5", ["demo_arith_tiny"])
    body["engine"] = "lmeval"
    body["eval_configs"] = []
    response = service.start_eval(body)
    assert response.status_code == 201, response.text
    done = service.wait_terminal("logs-5")
    assert done["status"] == "failed" and done["reason"] == "EndpointUnreachable", done
    response = logs(service, "logs-5", done["runs"][0]["run_id"])
    assert response.status_code == 409
    assert "not deployed yet" in response.json()["detail"]
