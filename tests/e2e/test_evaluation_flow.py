"""The main paths through a real service process, over HTTP, with the smoke engine."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.engines_present import pretend_installed
from tests.service import Service, free_port, smoke_request, wait_for


def test_demo_flow_start_running_succeeded_with_scores(service: Service) -> None:
    response = service.start_eval(
        smoke_request(
            "flow-1",
            ["smoke-a", "smoke-b"],
            duration_seconds=1.5,
            per_dataset={"smoke-b": {"score": 7.5}},
        )
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "pending"
    assert [run["dataset_id"] for run in created["runs"]] == ["smoke-a", "smoke-b"]

    running = service.wait_run_status("flow-1", "running")
    assert running["status"] == "running"
    done = service.wait_terminal("flow-1")
    assert done["status"] == "succeeded"
    assert all(run["status"] == "succeeded" and run["exit_code"] == 0 for run in done["runs"])

    results = service.http.get("/evals/flow-1/results").json()
    values = {score["dataset"]: score["value"] for score in results["scores"]}
    assert values == {"smoke-a": 42.0, "smoke-b": 7.5}
    assert {score["n_samples"] for score in results["scores"]} == {10}

    status = service.http.get("/evals/status/flow-1").json()
    assert status["job_id"] == "flow-1"
    assert status["details"]["succeeded"] == 2 and status["details"]["active"] == 0
    job = done["runs"][0]["job_name"]
    by_job = service.http.get(f"/evals/status/{job}").json()
    assert by_job["details"]["phase"] == "Succeeded" and by_job["details"]["pod_count"] == 1


def test_concurrent_identical_starts_create_one_evaluation(service: Service) -> None:
    body = smoke_request("idem-1", ["smoke-x", "smoke-y"], duration_seconds=0.5)
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda _: service.start_eval(body).status_code, range(20)))
    assert sorted(codes) == [200] * 19 + [201]
    done = service.wait_terminal("idem-1")
    assert done["status"] == "succeeded"
    listed = service.http.get("/evals", params={"experiment": "tests", "limit": 200}).json()
    assert [item["eval_id"] for item in listed["items"]].count("idem-1") == 1
    for run in done["runs"]:
        assert len(service.launches(run["run_id"])) == 1
    assert len(service.http.get("/evals/idem-1/results").json()["scores"]) == 2


def test_same_id_with_a_different_body_conflicts(service: Service) -> None:
    assert service.start_eval(smoke_request("idem-2")).status_code == 201
    other = smoke_request("idem-2", score=1.0)
    response = service.start_eval(other)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    other_key = smoke_request("idem-2")
    other_key["eval_model_info"]["api_key"] = "sk-another"
    assert service.start_eval(other_key).status_code == 409


def test_cancel_while_running_kills_the_process_group(service: Service) -> None:
    assert service.start_eval(smoke_request("cancel-1", duration_seconds=120)).status_code == 201
    running = service.wait_run_status("cancel-1", "running")
    run_id = running["runs"][0]["run_id"]
    engine = wait_for(lambda: (service.run_dir(run_id) / "engine.json").exists(), 10, "engine.json")
    assert engine
    import json

    pgid = json.loads((service.run_dir(run_id) / "engine.json").read_text())["pgid"]
    os.killpg(pgid, 0)  # alive now

    response = service.http.post("/evals/cancel-1/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelling"
    done = service.wait_terminal("cancel-1", timeout=30)
    assert done["status"] == "cancelled"
    assert done["runs"][0]["status"] == "cancelled"
    try:
        os.killpg(pgid, 0)
        raise AssertionError("the engine's process group survived cancellation")
    except ProcessLookupError:
        pass
    assert service.http.get("/evals/cancel-1/results").json()["scores"] == []
    again = service.http.post("/evals/cancel-1/cancel")
    assert again.status_code == 409


def test_failing_run_gives_partial_failure_with_reason_and_log_tail(service: Service) -> None:
    body = smoke_request(
        "fail-1", ["smoke-ok", "smoke-bad"], per_dataset={"smoke-bad": {"exit_code": 3}}
    )
    assert service.start_eval(body).status_code == 201
    done = service.wait_terminal("fail-1")
    assert done["status"] == "partially_failed"
    assert done["reason"] == "EngineError"
    runs = {run["dataset_id"]: run for run in done["runs"]}
    assert runs["smoke-ok"]["status"] == "succeeded"
    bad = runs["smoke-bad"]
    assert (bad["status"], bad["reason"], bad["exit_code"]) == ("failed", "EngineError", 3)
    assert "failing on purpose with exit code 3" in bad["log_tail"]
    assert "smoke-bad" in done["message"] and "exited with code 3" in done["message"]
    scores = service.http.get("/evals/fail-1/results").json()["scores"]
    assert [score["dataset"] for score in scores] == ["smoke-ok"]

    all_bad = smoke_request("fail-2", ["smoke-bad"], exit_code=1)
    assert service.start_eval(all_bad).status_code == 201
    assert service.wait_terminal("fail-2")["status"] == "failed"


def test_list_filters_and_pagination(service: Service) -> None:
    for index in range(3):
        body = smoke_request(f"page-{index}")
        body["experiment_id"] = "paging"
        assert service.start_eval(body).status_code == 201
    for index in range(3):
        service.wait_terminal(f"page-{index}")
    page = service.http.get("/evals", params={"experiment": "paging", "limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    rest = service.http.get(
        "/evals", params={"experiment": "paging", "limit": 2, "offset": 2}
    ).json()
    assert [item["eval_id"] for item in rest["items"]] == ["page-0"]
    succeeded = service.http.get("/evals", params={"experiment": "paging", "status": "succeeded"})
    assert succeeded.json()["total"] == 3
    assert service.http.get("/evals", params={"status": "bogus"}).status_code == 422


def test_cleanup_removes_run_directories_and_is_idempotent(service: Service) -> None:
    assert service.start_eval(smoke_request("clean-1")).status_code == 201
    done = service.wait_terminal("clean-1")
    run_dir = service.run_dir(done["runs"][0]["run_id"])
    assert run_dir.exists()
    first = service.http.delete("/evals/cleanup/clean-1")
    assert first.status_code == 200 and first.json()["removed"] == [done["runs"][0]["job_name"]]
    assert not run_dir.exists()
    assert service.http.delete("/evals/cleanup/clean-1").status_code == 200
    status = service.http.get("/evals/status/clean-1").json()
    assert status["details"]["data_pvc_status"] == "Deleted"
    assert service.http.delete("/evals/cleanup/no-such-eval").status_code == 404


def test_short_request_shape_uses_the_default_engine_and_dataset(service: Service) -> None:
    """The seeds' defaults: OpenCompass on demo_gsm8k_chat_gen (here its endpoint is down)."""
    pretend_installed(service.home / "engines")  # never launched: the pre-flight fails first
    body = {
        "eval_request_id": "short-1",
        "model_name": "m",
        "api_key": "sk-short",
        "base_url": f"http://127.0.0.1:{free_port()}/v1",
    }
    response = service.start_eval(body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["engine"] == "opencompass"
    assert created["runs"][0]["dataset_id"] == "demo_gsm8k_chat_gen"
    done = service.wait_terminal("short-1")
    assert (done["status"], done["reason"]) == ("failed", "EndpointUnreachable")


def test_health_and_metrics(service: Service) -> None:
    assert service.http.get("/healthz").json() == {"status": "ok"}
    assert service.http.get("/readyz").status_code == 200
    metrics = service.http.get("/metrics/")
    assert metrics.status_code == 200
    assert 'budeval_evaluations_created_total{engine="smoke"}' in metrics.text
    assert 'budeval_evaluations_finished_total{status="succeeded"}' in metrics.text


def test_engines_are_listed(service: Service) -> None:
    engines = {engine["name"]: engine for engine in service.http.get("/engines").json()}
    assert set(engines) == {"lmeval", "opencompass", "smoke"}
    assert engines["opencompass"]["default_dataset"] == "demo_gsm8k_chat_gen"
    assert engines["smoke"]["installed"] is True and engines["smoke"]["endpoint_mode"] is None
    assert engines["lmeval"]["endpoint_mode"] == "chat"
