"""Creating, reading and listing evaluations: idempotency, conflicts, filters."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

import pydantic
import pytest

from budeval.errors import Conflict, InvalidRequest, NotFound
from budeval.status import EvalStatus, RunStatus
from budeval.store import EvaluationRecord, Store


def test_create_stores_evaluation_runs_and_first_event(store: Store, make_spec, names_for):
    spec = make_spec("e1", [("gsm8k", "r1"), ("mmlu", "r2"), ("arc", "r3")], experiment_id="x1")

    record, created = store.create_evaluation(spec, "fp", names_for(spec))

    assert created is True
    assert record.status is EvalStatus.PENDING
    assert record.cancel_requested is False
    assert record.spec == spec
    assert (record.model_name, record.experiment_id, record.engine) == ("model-a", "x1", "smoke")
    assert [(r.id, r.position, r.dataset, r.name) for r in record.runs] == [
        ("r1", 0, "gsm8k", "job-r1"),
        ("r2", 1, "mmlu", "job-r2"),
        ("r3", 2, "arc", "job-r3"),
    ]
    assert all(r.status is RunStatus.PENDING and r.handle is None for r in record.runs)
    assert store.get_evaluation("e1") == record
    [event] = store.events_for("e1")
    assert event.type == "io.budeval.evaluation.status"
    assert event.subject == "e1"
    assert event.data["status"] == "pending"


def test_timestamps_are_aware_utc(create, store: Store):
    record, _ = create("e1")
    again = store.get_evaluation("e1")
    assert again.created_at.tzinfo is not None
    assert again.created_at.utcoffset() == UTC.utcoffset(None)
    assert again.created_at == record.created_at
    assert again.runs[0].created_at == record.created_at


def test_records_are_frozen_values(create):
    record, _ = create("e1")
    with pytest.raises(pydantic.ValidationError):
        record.status = EvalStatus.FAILED


def test_same_request_again_returns_the_stored_one(create):
    first, created_first = create("e1")
    second, created_second = create("e1")
    assert (created_first, created_second) == (True, False)
    assert second == first


def test_same_id_other_request_conflicts(create, count_rows):
    create("e1")
    with pytest.raises(Conflict, match="e1"):
        create("e1", fingerprint="another body")
    assert count_rows("evaluations") == 1


def test_twenty_concurrent_creates_of_one_id_make_one_evaluation(
    store: Store, make_spec, names_for, count_rows
):
    spec = make_spec("e1", [("gsm8k", "r1"), ("mmlu", "r2")])
    barrier = threading.Barrier(20)

    def create_one(_: int) -> tuple[EvaluationRecord, bool]:
        barrier.wait()
        return store.create_evaluation(spec, "fp", names_for(spec))

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(create_one, range(20)))

    assert sum(created for _, created in outcomes) == 1
    assert all(record == outcomes[0][0] for record, _ in outcomes)
    assert count_rows("evaluations") == 1
    assert count_rows("runs") == 2
    assert count_rows("events") == 1


def test_twenty_concurrent_writers_all_succeed(store: Store, make_spec, names_for, count_rows):
    barrier = threading.Barrier(20)

    def create_and_move(index: int) -> bool:
        spec = make_spec(f"e{index}")
        barrier.wait()
        store.create_evaluation(spec, "fp", names_for(spec))
        moved = store.set_evaluation_status(spec.eval_id, EvalStatus.RUNNING)
        store.update_run(f"e{index}-r1", RunStatus.SCHEDULED, handle={"n": index})
        return moved

    with ThreadPoolExecutor(20) as pool:
        assert all(pool.map(create_and_move, range(20)))
    assert count_rows("evaluations", status="running") == 20
    assert count_rows("runs", status="scheduled") == 20
    assert count_rows("events") == 60


def test_run_id_of_another_evaluation_conflicts(create, count_rows):
    create("e1", [("gsm8k", "shared")])
    with pytest.raises(Conflict, match="shared"):
        create("e2", [("mmlu", "own"), ("gsm8k", "shared")])
    assert count_rows("evaluations") == 1
    assert count_rows("runs") == 1


def test_concurrent_claims_of_one_run_id_leave_one_owner(
    store: Store, make_spec, names_for, count_rows
):
    barrier = threading.Barrier(10)

    def claim(index: int) -> str:
        spec = make_spec(f"e{index}", [("gsm8k", "shared")])
        barrier.wait()
        try:
            store.create_evaluation(spec, "fp", names_for(spec))
        except Conflict:
            return "conflict"
        return "created"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(claim, range(10)))
    assert sorted(outcomes) == ["conflict"] * 9 + ["created"]
    assert count_rows("runs") == 1
    assert count_rows("evaluations") == 1


def test_run_name_of_another_evaluation_conflicts(store: Store, make_spec):
    one, two = make_spec("e1", [("d", "r1")]), make_spec("e2", [("d", "r2")])
    store.create_evaluation(one, "fp", {"r1": "same-name"})
    with pytest.raises(Conflict, match="same-name"):
        store.create_evaluation(two, "fp", {"r2": "same-name"})


def test_run_id_repeated_in_one_request_is_invalid(store: Store, make_spec):
    spec = make_spec("e1", [("gsm8k", "r1"), ("mmlu", "r1")])
    with pytest.raises(InvalidRequest, match="r1"):
        store.create_evaluation(spec, "fp", {"r1": "job-r1"})


def test_unknown_ids_are_not_found(store: Store):
    with pytest.raises(NotFound):
        store.get_evaluation("nope")
    with pytest.raises(NotFound):
        store.get_run("nope")
    assert store.find_run("nope") is None


def test_find_run_by_id_or_name(create, store: Store):
    create("e1", [("gsm8k", "R1")])
    by_id = store.find_run("R1")
    by_name = store.find_run("job-r1")
    assert by_id is not None and by_name == by_id
    assert by_id.eval_id == "e1"
    assert store.get_run("R1") == by_id


def test_list_newest_first_with_total_and_pages(create, store: Store):
    for index in range(5):
        create(f"e{index}")

    page, total = store.list_evaluations(limit=2, offset=0)
    rest, _ = store.list_evaluations(limit=10, offset=2)

    assert total == 5
    assert [r.id for r in page] == ["e4", "e3"]
    assert [r.id for r in rest] == ["e2", "e1", "e0"]
    assert [len(r.runs) for r in page] == [2, 2]


def test_list_filters_combine(create, store: Store):
    create("a1", model_name="llama", experiment_id="x1")
    create("a2", model_name="llama", experiment_id="x2")
    create("b1", model_name="qwen", experiment_id="x1")
    store.set_evaluation_status("a2", EvalStatus.RUNNING)

    def ids(**filters) -> tuple[list[str], int]:
        records, total = store.list_evaluations(limit=10, offset=0, **filters)
        return [r.id for r in records], total

    assert ids(model_name="llama") == (["a2", "a1"], 2)
    assert ids(experiment_id="x1") == (["b1", "a1"], 2)
    assert ids(model_name="llama", experiment_id="x1") == (["a1"], 1)
    assert ids(status=EvalStatus.RUNNING) == (["a2"], 1)
    assert ids(status=EvalStatus.FAILED) == ([], 0)


def test_list_total_counts_beyond_the_page(create, store: Store):
    for index in range(3):
        create(f"e{index}", model_name="m")
    records, total = store.list_evaluations(model_name="m", limit=1, offset=5)
    assert (records, total) == ([], 3)


def test_negative_paging_is_invalid(store: Store):
    with pytest.raises(InvalidRequest):
        store.list_evaluations(limit=-1)


def test_mark_cleaned_sets_once(create, store: Store):
    create("e1")
    store.mark_cleaned("e1")
    first = store.get_evaluation("e1").cleaned_at
    store.mark_cleaned("e1")
    assert first is not None
    assert store.get_evaluation("e1").cleaned_at == first
    with pytest.raises(NotFound):
        store.mark_cleaned("nope")
