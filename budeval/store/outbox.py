"""The event outbox: CloudEvents written in the transaction of the change they describe.

Writers call `append` with the session that changes the state, so an event exists if and only if
its change committed. Sinks read undelivered events after commit and mark them delivered; the event
id lets receivers drop the duplicates a crash between "sent" and "marked" can cause.
These functions take an open session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from budeval.events.models import EVALUATION_STATUS, RUN_STATUS
from budeval.store.models import EvaluationRow, EventRow, RunRow
from budeval.store.records import EventRecord

_CHUNK = 500
"""Ids per UPDATE … IN (…): stays far below SQLite's bound-parameter limit."""


def append(
    session: Session,
    *,
    eval_id: str,
    type: str,
    subject: str,
    data: dict[str, Any],
    time: datetime,
    run_id: str | None = None,
) -> EventRow:
    row = EventRow(
        id=str(uuid.uuid4()),
        eval_id=eval_id,
        run_id=run_id,
        type=type,
        subject=subject,
        time=time,
        data=data,
        delivered_at=None,
    )
    session.add(row)
    return row


def evaluation_status(session: Session, evaluation: EvaluationRow, extra: dict[str, Any]) -> None:
    """The `io.budeval.evaluation.status` event for the evaluation's current state."""
    data = {
        "eval_id": evaluation.id,
        "status": evaluation.status,
        "reason": evaluation.reason,
        "message": evaluation.message,
        **extra,
    }
    append(
        session,
        eval_id=evaluation.id,
        type=EVALUATION_STATUS,
        subject=evaluation.id,
        data=data,
        time=evaluation.updated_at,
    )


def run_status(session: Session, run: RunRow) -> None:
    """The `io.budeval.run.status` event for the run's current state."""
    data = {
        "eval_id": run.eval_id,
        "run_id": run.id,
        "dataset": run.dataset,
        "status": run.status,
        "reason": run.reason,
        "message": run.message,
    }
    append(
        session,
        eval_id=run.eval_id,
        run_id=run.id,
        type=RUN_STATUS,
        subject=run.id,
        data=data,
        time=run.updated_at,
    )


def undelivered(session: Session, limit: int) -> list[EventRecord]:
    query = (
        select(EventRow)
        .where(EventRow.delivered_at.is_(None))
        .order_by(EventRow.time, EventRow.id)
        .limit(limit)
    )
    return [EventRecord.model_validate(row) for row in session.scalars(query)]


def mark_delivered(session: Session, ids: Iterable[str], when: datetime) -> None:
    pending = list(dict.fromkeys(ids))
    for start in range(0, len(pending), _CHUNK):
        chunk = pending[start : start + _CHUNK]
        session.execute(
            update(EventRow)
            .where(EventRow.id.in_(chunk), EventRow.delivered_at.is_(None))
            .values(delivered_at=when)
            .execution_options(synchronize_session=False)
        )


def for_evaluation(session: Session, eval_id: str) -> list[EventRecord]:
    query = select(EventRow).where(EventRow.eval_id == eval_id).order_by(EventRow.time, EventRow.id)
    return [EventRecord.model_validate(row) for row in session.scalars(query)]
