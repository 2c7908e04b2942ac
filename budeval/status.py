"""Run and evaluation statuses: the states, which are terminal, and how runs add up.

Pure values, no I/O: the store persists them, backends report them, the workflow decides with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    """Known to budeval, not yet handed to a backend."""
    SCHEDULED = "scheduled"
    """Handed to the backend, waiting for a slot / a node."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_RUN


_TERMINAL_RUN = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
_RUN_ORDER = {status: index for index, status in enumerate(RunStatus)}


def run_may_move(current: RunStatus, new: RunStatus) -> bool:
    """A run only moves forward; a terminal run never changes again."""
    if current.terminal:
        return False
    return new.terminal or _RUN_ORDER[new] > _RUN_ORDER[current]


class EvalStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_EVAL


_TERMINAL_EVAL = frozenset(
    {
        EvalStatus.SUCCEEDED,
        EvalStatus.PARTIALLY_FAILED,
        EvalStatus.FAILED,
        EvalStatus.CANCELLED,
        EvalStatus.TIMED_OUT,
    }
)


_EVAL_ORDER = {EvalStatus.PENDING: 0, EvalStatus.RUNNING: 1, EvalStatus.CANCELLING: 2}
"""Non-terminal statuses in the only order they may be entered; any terminal status ranks last."""


def eval_may_move(current: EvalStatus, new: EvalStatus) -> bool:
    """An evaluation only moves forward; a terminal one never changes again.

    Forward is pending → running → cancelling → any terminal status, skipping allowed, so a late
    "running" cannot undo a cancellation request.
    """
    if current.terminal or new == current:
        return False
    return _EVAL_ORDER.get(new, 3) > _EVAL_ORDER.get(current, 3)


def overall_status(runs: Iterable[RunStatus]) -> EvalStatus:
    """The final evaluation status from its runs' final statuses."""
    statuses = list(runs)
    if not statuses:
        return EvalStatus.FAILED
    if any(status is RunStatus.CANCELLED for status in statuses):
        return EvalStatus.CANCELLED
    succeeded = sum(status is RunStatus.SUCCEEDED for status in statuses)
    if succeeded == len(statuses):
        return EvalStatus.SUCCEEDED
    if succeeded == 0:
        return EvalStatus.FAILED
    return EvalStatus.PARTIALLY_FAILED
