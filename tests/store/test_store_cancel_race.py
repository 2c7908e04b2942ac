"""A granted cancel and the final status are decided atomically (issue 8, item 8).

`request_cancel` answers (202) only while the evaluation is not terminal; a terminal write that
comes after a granted cancel ends the evaluation `cancelled`, whatever its runs did. So a client
that got 202 always sees `cancelled`, and one that came too late gets 409.
"""

from __future__ import annotations

import threading

import pytest

from budeval.errors import Conflict
from budeval.status import EvalStatus
from budeval.store import Store


def test_a_granted_cancel_makes_the_final_status_cancelled(create, store: Store):
    create("e1")
    store.set_evaluation_status("e1", EvalStatus.RUNNING)
    assert store.request_cancel("e1").status is EvalStatus.CANCELLING
    store.set_evaluation_status("e1", EvalStatus.SUCCEEDED)
    final = store.get_evaluation("e1")
    assert (final.status, final.reason) == (EvalStatus.CANCELLED, "Cancelled")
    assert "succeeded" in (final.message or "")


def test_a_failure_after_a_granted_cancel_still_ends_cancelled_with_the_cause(create, store):
    create("e1")
    store.request_cancel("e1")
    store.set_evaluation_status("e1", EvalStatus.FAILED, reason="Unavailable", message="HTTP 500")
    final = store.get_evaluation("e1")
    assert final.status is EvalStatus.CANCELLED
    assert "Unavailable" in (final.message or "") and "HTTP 500" in (final.message or "")


def test_cancel_after_the_final_status_is_refused(create, store: Store):
    create("e1")
    store.set_evaluation_status("e1", EvalStatus.SUCCEEDED)
    with pytest.raises(Conflict):
        store.request_cancel("e1")
    assert store.get_evaluation("e1").status is EvalStatus.SUCCEEDED


@pytest.mark.parametrize("attempt", range(8))
def test_cancel_racing_the_final_write_is_consistent(create, store: Store, attempt: int):
    """Both orders happen; in each, 202 ⇔ cancelled and 409 ⇔ the runs' verdict."""
    eval_id = f"race-{attempt}"
    create(eval_id)
    store.set_evaluation_status(eval_id, EvalStatus.RUNNING)
    go = threading.Barrier(2)
    granted: list[bool] = []

    def cancel() -> None:
        go.wait()
        try:
            store.request_cancel(eval_id)
            granted.append(True)
        except Conflict:
            granted.append(False)

    def finish() -> None:
        go.wait()
        store.set_evaluation_status(eval_id, EvalStatus.SUCCEEDED)

    threads = [threading.Thread(target=cancel), threading.Thread(target=finish)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    final = store.get_evaluation(eval_id).status
    assert final is (EvalStatus.CANCELLED if granted == [True] else EvalStatus.SUCCEEDED)


def test_unfinished_evaluation_ids_lists_only_non_terminal(create, store: Store):
    for eval_id in ("a", "b", "c", "d"):
        create(eval_id)
    store.set_evaluation_status("b", EvalStatus.RUNNING)
    store.request_cancel("c")
    store.set_evaluation_status("d", EvalStatus.FAILED)
    assert sorted(store.unfinished_evaluation_ids()) == ["a", "b", "c"]
