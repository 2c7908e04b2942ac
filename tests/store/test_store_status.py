"""Status moves of evaluations and runs: forward only, terminal sticks, timestamps, cancel."""

from __future__ import annotations

import pytest

from budeval.errors import Conflict, NotFound
from budeval.status import EvalStatus, RunStatus
from budeval.store import Store


def _statuses(store: Store, eval_id: str, type_: str) -> list[str]:
    return [e.data["status"] for e in store.events_for(eval_id) if e.type == type_]


EVAL = "io.budeval.evaluation.status"
RUN = "io.budeval.run.status"


def test_evaluation_moves_forward_and_sets_times(create, store: Store):
    create("e1")
    assert store.set_evaluation_status("e1", EvalStatus.RUNNING) is True
    running = store.get_evaluation("e1")
    assert running.status is EvalStatus.RUNNING
    assert running.started_at is not None and running.finished_at is None

    done = store.set_evaluation_status("e1", EvalStatus.SUCCEEDED, reason="Done", message="ok")
    final = store.get_evaluation("e1")
    assert done is True
    assert final.status is EvalStatus.SUCCEEDED
    assert (final.reason, final.message) == ("Done", "ok")
    assert final.started_at == running.started_at
    assert final.finished_at is not None and final.finished_at >= final.started_at
    assert _statuses(store, "e1", EVAL) == ["pending", "running", "succeeded"]


@pytest.mark.parametrize("terminal", [s for s in EvalStatus if s.terminal], ids=lambda s: s.value)
def test_terminal_evaluation_never_changes(create, store: Store, terminal: EvalStatus):
    create("e1")
    assert store.set_evaluation_status("e1", terminal) is True
    for later in EvalStatus:
        assert store.set_evaluation_status("e1", later) is False
    assert store.get_evaluation("e1").status is terminal
    assert _statuses(store, "e1", EVAL) == ["pending", terminal.value]


def test_evaluation_never_moves_back(create, store: Store):
    create("e1")
    store.set_evaluation_status("e1", EvalStatus.RUNNING)
    assert store.set_evaluation_status("e1", EvalStatus.RUNNING) is False
    assert store.set_evaluation_status("e1", EvalStatus.PENDING) is False
    store.request_cancel("e1")
    assert store.set_evaluation_status("e1", EvalStatus.RUNNING) is False
    assert store.get_evaluation("e1").status is EvalStatus.CANCELLING
    assert _statuses(store, "e1", EVAL) == ["pending", "running", "cancelling"]


def test_status_event_carries_reason_message_and_data(create, store: Store):
    create("e1")
    store.set_evaluation_status(
        "e1", EvalStatus.FAILED, reason="EngineError", message="boom", data={"runs": 2}
    )
    event = store.events_for("e1")[-1]
    assert event.data == {
        "eval_id": "e1",
        "status": "failed",
        "reason": "EngineError",
        "message": "boom",
        "runs": 2,
    }


def test_unknown_evaluation_status_is_not_found(store: Store):
    with pytest.raises(NotFound):
        store.set_evaluation_status("nope", EvalStatus.RUNNING)


def test_cancel_marks_cancelling_once(create, store: Store):
    create("e1")
    store.set_evaluation_status("e1", EvalStatus.RUNNING)
    first = store.request_cancel("e1")
    second = store.request_cancel("e1")
    assert first.status is EvalStatus.CANCELLING and first.cancel_requested is True
    assert second == first
    assert _statuses(store, "e1", EVAL) == ["pending", "running", "cancelling"]
    assert store.set_evaluation_status("e1", EvalStatus.CANCELLED) is True


def test_cancel_of_terminal_evaluation_conflicts(create, store: Store):
    create("e1")
    store.set_evaluation_status("e1", EvalStatus.SUCCEEDED)
    with pytest.raises(Conflict, match="already succeeded"):
        store.request_cancel("e1")
    assert store.get_evaluation("e1").cancel_requested is False


def test_run_moves_forward_with_times_and_event(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    assert store.update_run("r1", RunStatus.SCHEDULED, handle={"backend": "local"}) is True
    scheduled = store.get_run("r1")
    assert scheduled.scheduled_at is not None and scheduled.started_at is None
    assert scheduled.handle == {"backend": "local"}

    assert store.update_run("r1", RunStatus.RUNNING) is True
    assert store.update_run("r1", RunStatus.FAILED, reason="OOMKilled", exit_code=137) is True
    run = store.get_run("r1")
    assert (run.status, run.reason, run.exit_code) == (RunStatus.FAILED, "OOMKilled", 137)
    assert run.scheduled_at <= run.started_at <= run.finished_at

    events = [e for e in store.events_for("e1") if e.type == RUN]
    assert [e.data["status"] for e in events] == ["scheduled", "running", "failed"]
    assert events[-1].subject == "r1"
    assert events[-1].run_id == "r1"
    assert events[-1].data == {
        "eval_id": "e1",
        "run_id": "r1",
        "dataset": "gsm8k",
        "status": "failed",
        "reason": "OOMKilled",
        "message": None,
    }


def test_run_never_moves_back_and_terminal_sticks(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    store.update_run("r1", RunStatus.RUNNING)
    assert store.update_run("r1", RunStatus.SCHEDULED) is False
    assert store.update_run("r1", RunStatus.PENDING) is False
    assert store.update_run("r1", RunStatus.SUCCEEDED) is True
    for later in RunStatus:
        assert store.update_run("r1", later, reason="late") is False
    run = store.get_run("r1")
    assert run.status is RunStatus.SUCCEEDED and run.reason is None
    events = [e for e in store.events_for("e1") if e.type == RUN]
    assert [e.data["status"] for e in events] == ["running", "succeeded"]


def test_pending_run_may_fail_directly_without_schedule_time(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    assert store.update_run("r1", RunStatus.FAILED, reason="BackendError") is True
    run = store.get_run("r1")
    assert run.scheduled_at is None and run.started_at is None and run.finished_at is not None


def test_same_status_fills_details_without_event(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    store.update_run("r1", RunStatus.FAILED)
    before = len(store.events_for("e1"))

    changed = store.update_run("r1", RunStatus.FAILED, log_tail="last lines", handle={"pid": 7})

    run = store.get_run("r1")
    assert changed is False
    assert (run.log_tail, run.handle) == ("last lines", {"pid": 7})
    assert len(store.events_for("e1")) == before


def test_set_run_handle(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    store.set_run_handle("r1", {"backend": "kubernetes", "name": "job-r1"})
    assert store.get_run("r1").handle == {"backend": "kubernetes", "name": "job-r1"}
    with pytest.raises(NotFound):
        store.set_run_handle("nope", {})


def test_active_runs_are_submitted_unfinished_runs_of_live_evaluations(create, store: Store):
    create("live", [("a", "submitted"), ("b", "unsubmitted"), ("c", "done")])
    create("over", [("a", "orphan")])
    store.set_run_handle("submitted", {"n": 1})
    store.update_run("done", RunStatus.SUCCEEDED, handle={"n": 2})
    store.update_run("orphan", RunStatus.RUNNING, handle={"n": 3})
    store.set_evaluation_status("over", EvalStatus.TIMED_OUT)

    assert [run.id for run in store.active_runs()] == ["submitted"]


def test_results_unreadable_fails_only_a_succeeded_run_once(create, store: Store):
    create("e1", [("gsm8k", "r1"), ("mmlu", "r2")])
    store.update_run("r1", RunStatus.SUCCEEDED)
    store.update_run("r2", RunStatus.FAILED, reason="EngineError")
    assert store.mark_results_unreadable("r1", "pods/log: HTTP 500") is True
    assert store.mark_results_unreadable("r1", "again") is False
    assert store.mark_results_unreadable("r2", "not a succeeded run") is False
    first, second = store.get_run("r1"), store.get_run("r2")
    assert (first.status, first.reason, first.message) == (
        RunStatus.FAILED,
        "ResultsUnreadable",
        "pods/log: HTTP 500",
    )
    assert (second.status, second.reason) == (RunStatus.FAILED, "EngineError")
    assert _statuses(store, "e1", RUN)[-1] == "failed"
