"""kill -9 of the service: the evaluation still finishes, nothing runs twice, nothing is stuck."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import httpx

from budeval.api.schemas import StartFull, full_to_spec
from budeval.config import Settings
from budeval.engines.base import API_KEY_SECRET_KEY, run_name
from budeval.secrets import LocalSecretStore
from budeval.store import open_store
from tests.service import TERMINAL, Service, smoke_request, wait_for


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


def _rows_as_start_leaves_them(home: Path, eval_id: str, *, key: bool = True) -> None:
    """What `kill -9` inside POST /evals/start leaves: the key and the committed rows, no
    workflow (the crash point between `create_evaluation` and `start_workflow_async`)."""
    body = smoke_request(eval_id, ["smoke-a"])
    spec = full_to_spec(StartFull.model_validate(body), default_engine="smoke", backend="local")
    api_key = body["eval_model_info"]["api_key"]
    settings = Settings(home=home)
    if key:
        LocalSecretStore(settings.secrets_dir).put(spec.secret_name, {API_KEY_SECRET_KEY: api_key})
    names = {run.run_id: run_name(run.run_id) for run in spec.datasets}
    with open_store(settings.store_url) as store:
        store.create_evaluation(spec, spec.fingerprint(api_key), names)
        if eval_id.endswith("cancel"):
            store.request_cancel(eval_id)  # the client's cancel got 202 before the crash


def test_rows_committed_without_a_workflow_end_after_a_restart(fresh_service: Service) -> None:
    """Issue 8 item 7: such an evaluation stayed `pending` (and a cancel `cancelling`) forever."""
    service = fresh_service.start()
    service.kill9()
    _rows_as_start_leaves_them(service.home, "lost-1")
    _rows_as_start_leaves_them(service.home, "lost-cancel")
    _rows_as_start_leaves_them(service.home, "lost-nokey", key=False)
    service.start()
    assert service.wait_terminal("lost-1", timeout=60)["status"] == "succeeded"
    assert service.wait_terminal("lost-cancel", timeout=60)["status"] == "cancelled"
    nokey = service.wait_terminal("lost-nokey", timeout=60)
    assert (nokey["status"], nokey["reason"]) == ("failed", "ApiKeyMissing")
    replay = service.start_eval(smoke_request("lost-1", ["smoke-a"]))
    assert (replay.status_code, replay.json()["status"]) == (200, "succeeded")
    assert not list((service.home / "secrets").glob("*lost*"))


def test_kill9_during_a_burst_of_starts_leaves_nothing_unfinished(fresh_service: Service) -> None:
    """A real `kill -9` while starts are in flight: whatever got committed ends after restart."""
    service = fresh_service.start()
    answered = threading.Semaphore(0)

    def post(index: int) -> None:
        with contextlib.suppress(httpx.TransportError):
            service.start_eval(smoke_request(f"burst-{index}", ["smoke-a"]))
            answered.release()

    threads = [threading.Thread(target=post, args=(i,), daemon=True) for i in range(20)]
    for thread in threads:
        thread.start()
    assert answered.acquire(timeout=30)  # the service is inside a burst of starts
    service.kill9()
    for thread in threads:
        thread.join(30)
    service.start()

    def unfinished() -> list[str]:
        listed = service.http.get("/evals", params={"limit": 100}).json()["items"]
        return [item["eval_id"] for item in listed if item["status"] not in TERMINAL]

    wait_for(lambda: not unfinished(), 60, "every committed evaluation to end")
    listed = service.http.get("/evals", params={"limit": 100}).json()["items"]
    assert listed and {item["status"] for item in listed} == {"succeeded"}  # no key was lost
