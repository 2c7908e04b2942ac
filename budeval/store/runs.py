"""Run rows: lookup, forward-only status moves, backend handles, and the poller's active set.

A run only moves forward (`budeval.status.run_may_move`): reports arrive late and twice from
watches and polls, and a stale "running" must never overwrite "succeeded". Functions take an open
session and never commit; each status change appends its event in the same session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from budeval.errors import NotFound
from budeval.status import EvalStatus, RunStatus, run_may_move
from budeval.store import outbox
from budeval.store.db import utcnow
from budeval.store.models import EvaluationRow, RunRow
from budeval.store.records import RunRecord

_TERMINAL_RUN = [status.value for status in RunStatus if status.terminal]
_TERMINAL_EVAL = [status.value for status in EvalStatus if status.terminal]


def record(row: RunRow) -> RunRecord:
    return RunRecord.model_validate(row)


def load(session: Session, run_id: str, *, for_update: bool = False) -> RunRow:
    query = select(RunRow).where(RunRow.id == run_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFound(f"run {run_id} not found")
    return row


def find(session: Session, key: str) -> RunRecord | None:
    """The run whose id or DNS name is `key` (an id match wins)."""
    rows = session.scalars(select(RunRow).where(or_(RunRow.id == key, RunRow.name == key))).all()
    rows = sorted(rows, key=lambda row: row.id != key)
    return record(rows[0]) if rows else None


def update(
    session: Session,
    run_id: str,
    status: RunStatus,
    *,
    reason: str | None,
    message: str | None,
    exit_code: int | None,
    log_tail: str | None,
    handle: dict[str, Any] | None,
) -> bool:
    """Move the run to `status` if that is forward; fill details when it is already there."""
    row = load(session, run_id, for_update=True)
    current = RunStatus(row.status)
    now = utcnow()
    if status == current:
        _fill(row, exit_code=exit_code, log_tail=log_tail, handle=handle, now=now)
        return False
    if not run_may_move(current, status):
        return False
    row.status = status.value
    row.reason = reason
    row.message = message
    row.updated_at = now
    _fill(row, exit_code=exit_code, log_tail=log_tail, handle=handle, now=now)
    if status in (RunStatus.SCHEDULED, RunStatus.RUNNING) and row.scheduled_at is None:
        row.scheduled_at = now
    if status is RunStatus.RUNNING and row.started_at is None:
        row.started_at = now
    if status.terminal:
        row.finished_at = now
    outbox.run_status(session, row)
    return True


def _fill(
    row: RunRow,
    *,
    exit_code: int | None,
    log_tail: str | None,
    handle: dict[str, Any] | None,
    now: datetime,
) -> None:
    changed = False
    for field, value in (("exit_code", exit_code), ("log_tail", log_tail), ("handle", handle)):
        if value is not None and getattr(row, field) != value:
            setattr(row, field, value)
            changed = True
    if changed:
        row.updated_at = now


def results_unreadable(session: Session, run_id: str, message: str) -> bool:
    """The one move out of a terminal status: a `succeeded` run whose results cannot be read
    counts as failed (reason `ResultsUnreadable`), so the run agrees with its evaluation."""
    row = load(session, run_id, for_update=True)
    if RunStatus(row.status) is not RunStatus.SUCCEEDED:
        return False
    row.status = RunStatus.FAILED.value
    row.reason = "ResultsUnreadable"
    row.message = message
    row.updated_at = utcnow()
    outbox.run_status(session, row)
    return True


def set_handle(session: Session, run_id: str, handle: dict[str, Any]) -> None:
    row = load(session, run_id, for_update=True)
    if row.handle != handle:
        row.handle = handle
        row.updated_at = utcnow()


def active(session: Session) -> list[RunRecord]:
    """Submitted runs still in flight, of evaluations still in flight (the poller's work list)."""
    query = (
        select(RunRow)
        .join(EvaluationRow, EvaluationRow.id == RunRow.eval_id)
        .where(
            RunRow.status.not_in(_TERMINAL_RUN),
            RunRow.handle.is_not(None),
            EvaluationRow.status.not_in(_TERMINAL_EVAL),
        )
        .order_by(RunRow.eval_id, RunRow.position)
    )
    return [record(row) for row in session.scalars(query)]
