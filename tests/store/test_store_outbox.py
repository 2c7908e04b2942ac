"""The outbox: events written with their change (or not at all), delivered in order, once."""

from __future__ import annotations

import pytest

from budeval.errors import NotFound
from budeval.events.models import CloudEvent
from budeval.status import EvalStatus, RunStatus
from budeval.store import Store, outbox


def test_every_change_has_its_event_and_no_op_has_none(create, store: Store, count_rows):
    create("e1", [("gsm8k", "r1")])
    changes = [
        store.set_evaluation_status("e1", EvalStatus.RUNNING),
        store.set_evaluation_status("e1", EvalStatus.RUNNING),
        store.update_run("r1", RunStatus.RUNNING),
        store.update_run("r1", RunStatus.SCHEDULED),
        store.update_run("r1", RunStatus.RUNNING, log_tail="x"),
        store.update_run("r1", RunStatus.SUCCEEDED),
        store.set_evaluation_status("e1", EvalStatus.SUCCEEDED),
        store.set_evaluation_status("e1", EvalStatus.FAILED),
    ]
    assert changes == [True, False, True, False, False, True, True, False]
    assert count_rows("events") == 1 + sum(changes)


@pytest.mark.parametrize("operation", ["evaluation", "run", "cancel"])
def test_change_is_rolled_back_when_its_event_cannot_be_written(
    create, store: Store, monkeypatch, operation: str
):
    create("e1", [("gsm8k", "r1")])

    def fail(*_args, **_kwargs):
        raise RuntimeError("outbox write failed")

    monkeypatch.setattr(outbox, "append", fail)
    with pytest.raises(RuntimeError):
        if operation == "evaluation":
            store.set_evaluation_status("e1", EvalStatus.RUNNING)
        elif operation == "run":
            store.update_run("r1", RunStatus.RUNNING)
        else:
            store.request_cancel("e1")
    monkeypatch.undo()

    record = store.get_evaluation("e1")
    assert record.status is EvalStatus.PENDING and record.cancel_requested is False
    assert record.runs[0].status is RunStatus.PENDING
    assert len(store.events_for("e1")) == 1


def test_create_is_rolled_back_when_its_event_cannot_be_written(
    store: Store, make_spec, names_for, monkeypatch, count_rows
):
    monkeypatch.setattr(outbox, "append", lambda *a, **k: 1 / 0)
    spec = make_spec("e1")
    with pytest.raises(ZeroDivisionError):
        store.create_evaluation(spec, "fp", names_for(spec))
    assert count_rows("evaluations") == 0
    assert count_rows("runs") == 0


def test_undelivered_oldest_first_then_marked(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    store.set_evaluation_status("e1", EvalStatus.RUNNING)
    store.update_run("r1", RunStatus.RUNNING)
    store.add_event("e1", "io.budeval.evaluation.progress", "e1", {"done": 0})

    first_two = store.undelivered_events(limit=2)
    assert [(e.type, e.data.get("status")) for e in first_two] == [
        ("io.budeval.evaluation.status", "pending"),
        ("io.budeval.evaluation.status", "running"),
    ]
    store.mark_delivered([e.id for e in first_two])
    store.mark_delivered([first_two[0].id])  # again: harmless

    rest = store.undelivered_events(limit=10)
    assert [e.type for e in rest] == ["io.budeval.run.status", "io.budeval.evaluation.progress"]
    store.mark_delivered([e.id for e in rest])
    assert store.undelivered_events(limit=10) == []

    history = store.events_for("e1")
    assert len(history) == 4
    assert all(e.delivered_at is not None for e in history)


def test_to_cloudevent(create, store: Store):
    create("e1")
    store.set_evaluation_status("e1", EvalStatus.RUNNING)
    record = store.events_for("e1")[-1]

    event = record.to_cloudevent()

    assert isinstance(event, CloudEvent)
    assert (event.id, event.type, event.subject) == (record.id, record.type, "e1")
    assert event.time == record.time and event.time.tzinfo is not None
    assert event.data["status"] == "running"
    assert event.specversion == "1.0" and event.source == "budeval"


def test_add_event_needs_a_known_evaluation_and_run(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    create("e2", [("gsm8k", "r2")])
    event = store.add_event("e1", "io.budeval.evaluation.progress", "r1", {"p": 1}, run_id="r1")
    assert (event.run_id, event.data, event.delivered_at) == ("r1", {"p": 1}, None)
    with pytest.raises(NotFound):
        store.add_event("nope", "io.budeval.evaluation.progress", "nope", {})
    with pytest.raises(NotFound):
        store.add_event("e2", "io.budeval.evaluation.progress", "r1", {}, run_id="r1")
