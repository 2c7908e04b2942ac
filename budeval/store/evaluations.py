"""Evaluation rows: creation with their runs, lookup, listing and status moves.

Functions here take an open session and never commit; `Store` owns transactions, retries after a
lost insert race, and error translation. Every status change appends its event in the same session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from budeval.errors import Conflict, InvalidRequest, NotFound
from budeval.spec import EvaluationSpec
from budeval.status import EvalStatus, RunStatus, eval_may_move
from budeval.store import outbox
from budeval.store.db import utcnow
from budeval.store.models import EvaluationRow, IdentifierRow, RunRow
from budeval.store.records import EvaluationRecord, RunRecord


def record(row: EvaluationRow) -> EvaluationRecord:
    return EvaluationRecord.model_validate(row)


def load(session: Session, eval_id: str, *, for_update: bool = False) -> EvaluationRow:
    query = select(EvaluationRow).where(EvaluationRow.id == eval_id)
    query = query.options(selectinload(EvaluationRow.runs))
    if for_update:
        query = query.with_for_update(of=EvaluationRow)
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFound(f"evaluation {eval_id} not found")
    return row


def find(session: Session, eval_id: str) -> EvaluationRow | None:
    try:
        return load(session, eval_id)
    except NotFound:
        return None


def check_replay(existing: EvaluationRow, fingerprint: str) -> EvaluationRecord:
    """The stored evaluation when this request repeats it; Conflict when it differs."""
    if existing.fingerprint != fingerprint:
        raise Conflict(f"evaluation {existing.id} already exists with a different request")
    return record(existing)


def check_run_ids(session: Session, spec: EvaluationSpec, run_names: dict[str, str]) -> None:
    """Refuse ids or names already taken (one namespace: evaluation ids, run ids, run names), or
    repeated in this evaluation. The `identifiers` primary key enforces the same under races."""
    run_ids = [entry.run_id for entry in spec.datasets]
    duplicates = sorted({run_id for run_id in run_ids if run_ids.count(run_id) > 1})
    if duplicates:
        raise InvalidRequest(f"run id {duplicates[0]} is repeated", field="eval_datasets")
    missing = [run_id for run_id in run_ids if run_id not in run_names]
    if missing:
        raise ValueError(f"no run name given for run {missing[0]}")
    keys = _keys(spec, run_names)
    if len({key for key, *_ in keys}) != len(keys):
        raise InvalidRequest(
            "the evaluation id, run ids and run names must all differ", field="eval_datasets"
        )
    taken = session.execute(
        select(IdentifierRow.key, IdentifierRow.kind, IdentifierRow.eval_id).where(
            IdentifierRow.key.in_([key for key, *_ in keys]),
            IdentifierRow.eval_id != spec.eval_id,
        )
    ).first()
    if taken is not None:
        what = {"evaluation": "the id of", "run": "a run id of", "job": "a run name of"}
        raise Conflict(
            f"{taken.key} is already {what.get(taken.kind, 'used by')} evaluation "
            f"{taken.eval_id}: evaluation ids, run ids and run names share one namespace"
        )


def _keys(spec: EvaluationSpec, run_names: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(key, kind, run id) of every identifier the evaluation claims."""
    keys: list[tuple[str, str, str | None]] = [(spec.eval_id, "evaluation", None)]
    for entry in spec.datasets:
        keys.append((entry.run_id, "run", entry.run_id))
        if run_names[entry.run_id] != entry.run_id:
            keys.append((run_names[entry.run_id], "job", entry.run_id))
    return keys


def resolve(session: Session, key: str) -> tuple[EvaluationRecord, RunRecord | None]:
    """The evaluation an evaluation id, run id or run name stands for, and the run if it is one."""
    row = session.get(IdentifierRow, key)
    if row is None:
        raise NotFound(f"no evaluation, run or job named {key}")
    evaluation = record(load(session, row.eval_id))
    if row.run_id is None:
        return evaluation, None
    run = next(run for run in evaluation.runs if run.id == row.run_id)
    return evaluation, run


def insert(
    session: Session, spec: EvaluationSpec, fingerprint: str, run_names: dict[str, str]
) -> EvaluationRow:
    """Add the evaluation, its runs and its first event to the session (flushed, not committed)."""
    now = utcnow()
    row = EvaluationRow(
        id=spec.eval_id,
        fingerprint=fingerprint,
        experiment_id=spec.experiment_id,
        model_name=spec.model.model_name,
        endpoint=spec.model.endpoint,
        engine=spec.engine,
        backend=spec.backend,
        status=EvalStatus.PENDING.value,
        spec=spec.model_dump(mode="json"),
        cancel_requested=False,
        created_at=now,
        updated_at=now,
    )
    row.runs = [
        RunRow(
            id=entry.run_id,
            eval_id=spec.eval_id,
            position=position,
            dataset=entry.dataset_id,
            name=run_names[entry.run_id],
            status=RunStatus.PENDING.value,
            created_at=now,
            updated_at=now,
        )
        for position, entry in enumerate(spec.datasets)
    ]
    session.add(row)
    session.flush()  # evaluation before its runs (unit of work orders by foreign key)
    session.add_all(
        IdentifierRow(key=key, kind=kind, eval_id=spec.eval_id, run_id=run_id)
        for key, kind, run_id in _keys(spec, run_names)
    )
    session.flush()  # a taken key fails here (IntegrityError), before anything is committed
    outbox.evaluation_status(session, row, {})
    session.flush()
    return row


def set_status(
    session: Session,
    eval_id: str,
    status: EvalStatus,
    *,
    reason: str | None,
    message: str | None,
    data: dict[str, Any],
) -> bool:
    row = load(session, eval_id, for_update=True)
    if status.terminal and row.cancel_requested and status is not EvalStatus.CANCELLED:
        status, reason, message = _granted_cancel(status, reason, message)
    return _move(session, row, status, reason=reason, message=message, data=data)


def _granted_cancel(
    verdict: EvalStatus, reason: str | None, message: str | None
) -> tuple[EvalStatus, str, str]:
    """A cancel answered 202 wins over any later verdict (decided under the same row lock)."""
    cause = ", ".join(part for part in (reason, message) if part)
    told = f"cancelled on request; the runs had already ended: {verdict.value}"
    return EvalStatus.CANCELLED, "Cancelled", (f"{told} ({cause})" if cause else told)[:2000]


def unfinished_ids(session: Session) -> list[str]:
    terminal = [status.value for status in EvalStatus if status.terminal]
    return list(
        session.scalars(select(EvaluationRow.id).where(EvaluationRow.status.not_in(terminal)))
    )


def request_cancel(session: Session, eval_id: str) -> EvaluationRecord:
    row = load(session, eval_id, for_update=True)
    current = EvalStatus(row.status)
    if current.terminal:
        raise Conflict(f"evaluation {eval_id} already {current.value}")
    row.cancel_requested = True
    _move(session, row, EvalStatus.CANCELLING, reason="CancelRequested", message=None, data={})
    return record(row)


def _move(
    session: Session,
    row: EvaluationRow,
    status: EvalStatus,
    *,
    reason: str | None,
    message: str | None,
    data: dict[str, Any],
) -> bool:
    if not eval_may_move(EvalStatus(row.status), status):
        return False
    now = utcnow()
    row.status = status.value
    row.reason = reason
    row.message = message
    row.updated_at = now
    if status is EvalStatus.RUNNING and row.started_at is None:
        row.started_at = now
    if status.terminal:
        row.finished_at = now
    outbox.evaluation_status(session, row, data)
    return True


def listing(
    session: Session,
    *,
    status: EvalStatus | None,
    model_name: str | None,
    experiment_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[EvaluationRecord], int]:
    conditions = []
    if status is not None:
        conditions.append(EvaluationRow.status == status.value)
    if model_name is not None:
        conditions.append(EvaluationRow.model_name == model_name)
    if experiment_id is not None:
        conditions.append(EvaluationRow.experiment_id == experiment_id)
    total = session.scalar(select(func.count()).select_from(EvaluationRow).where(*conditions))
    query = (
        select(EvaluationRow)
        .where(*conditions)
        .options(selectinload(EvaluationRow.runs))
        .order_by(EvaluationRow.created_at.desc(), EvaluationRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [record(row) for row in session.scalars(query)], int(total or 0)
