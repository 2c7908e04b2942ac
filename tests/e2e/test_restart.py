"""kill -9 of the service mid-monitor: the evaluation still finishes, nothing runs twice."""

from __future__ import annotations

import sqlite3

from tests.service import Service, smoke_request, wait_for


def test_kill9_mid_monitor_then_restart_finishes_exactly_once(fresh_service: Service) -> None:
    service = fresh_service.start()
    body = smoke_request("restart-1", ["smoke-a", "smoke-b"], duration_seconds=4)
    assert service.start_eval(body).status_code == 201
    running = service.wait_run_status("restart-1", "running")
    run_ids = [run["run_id"] for run in running["runs"]]
    wait_for(lambda: all(service.launches(run_id) for run_id in run_ids), 10, "engines started")

    service.kill9()
    service.start()  # same data dir; runs are still going (their supervisors survived)

    done = service.wait_terminal("restart-1", timeout=60)
    assert done["status"] == "succeeded"
    for run_id in run_ids:
        assert len(service.launches(run_id)) == 1, f"{run_id} launched more than once"
    scores = service.http.get("/evals/restart-1/results").json()["scores"]
    assert sorted(score["dataset"] for score in scores) == ["smoke-a", "smoke-b"]
    with sqlite3.connect(service.home / "budeval.sqlite") as db:
        (stored,) = db.execute("select count(*) from scores where eval_id = 'restart-1'").fetchone()
        (evals,) = db.execute("select count(*) from evaluations").fetchone()
    assert (stored, evals) == (2, 1)


def test_kill9_while_runs_wait_for_a_slot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Queued runs survive too: with one slot, the second run starts only after the first."""
    service = Service(tmp_path / "home", env={"BUDEVAL_LOCAL_CONCURRENCY": "1"}).start()
    try:
        body = smoke_request("restart-2", ["smoke-a", "smoke-b"], duration_seconds=2)
        assert service.start_eval(body).status_code == 201
        first = wait_for(
            lambda: (
                (e := service.show("restart-2"))
                and sorted(r["status"] for r in e["runs"]) == ["running", "scheduled"]
                and e
            ),
            20,
            "one running, one scheduled",
        )
        service.kill9()
        service.start()
        done = service.wait_terminal("restart-2", timeout=60)
        assert done["status"] == "succeeded"
        for run in first["runs"]:
            assert len(service.launches(run["run_id"])) == 1
        a, b = done["runs"]
        assert a["started_at"] and b["started_at"]
        later, earlier = sorted([a, b], key=lambda r: r["started_at"], reverse=True)
        assert later["started_at"] >= earlier["finished_at"], "slots overlapped"
    finally:
        service.stop()
