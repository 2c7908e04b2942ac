"""`Store`: the one object the rest of budeval uses to persist evaluations, runs and results.

A thin facade: each public method is one transaction (reads `DEFERRED`, writes `IMMEDIATE` on
SQLite) around a function of `evaluations`, `runs`, `results` or `outbox`. The API is synchronous
and thread-safe; async callers wrap calls in `asyncio.to_thread`. Everything returned is a frozen
record; every error is from `budeval.errors`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from budeval.errors import Conflict, InvalidRequest, NotFound
from budeval.results.models import ParsedResults
from budeval.spec import EvaluationSpec
from budeval.status import EvalStatus, RunStatus
from budeval.store import evaluations, migrate, outbox, results, runs
from budeval.store.db import create_db_engine, transaction, utcnow, writer
from budeval.store.records import (
    EvaluationRecord,
    EventRecord,
    PredictionRecord,
    RunRecord,
    ScoreRecord,
)


class Store:
    """Evaluations, runs, scores, predictions and the event outbox, on SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self._engine = create_db_engine(url)
        self._writer = writer(self._engine)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest revision (see `budeval.store.migrate`)."""
        migrate.upgrade_engine(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # evaluations

    def create_evaluation(
        self, spec: EvaluationSpec, fingerprint: str, run_names: dict[str, str]
    ) -> tuple[EvaluationRecord, bool]:
        """Insert the evaluation, its runs and its first event; `(record, created)`.

        A replay (same id, same fingerprint) returns the stored evaluation and False; the same id
        with another fingerprint, or a run id of another evaluation, raises Conflict.
        """
        try:
            with transaction(self._writer) as session:
                existing = evaluations.find(session, spec.eval_id)
                if existing is not None:
                    return evaluations.check_replay(existing, fingerprint), False
                evaluations.check_run_ids(session, spec, run_names)
                created = evaluations.record(
                    evaluations.insert(session, spec, fingerprint, run_names)
                )
            return created, True
        except IntegrityError as e:
            # Lost a race (PostgreSQL): a concurrent request inserted the id or a run first.
            with transaction(self._engine) as session:
                existing = evaluations.find(session, spec.eval_id)
                if existing is not None:
                    return evaluations.check_replay(existing, fingerprint), False
                evaluations.check_run_ids(session, spec, run_names)
            raise Conflict(f"evaluation {spec.eval_id} collides with a concurrent request") from e

    def resolve(self, key: str) -> tuple[EvaluationRecord, RunRecord | None]:
        """What a route's "evaluation id, run id or job name" names: the evaluation, and the run
        when the key is a run's (one namespace, so the answer is unique); NotFound otherwise."""
        with transaction(self._engine) as session:
            return evaluations.resolve(session, key)

    def get_evaluation(self, eval_id: str) -> EvaluationRecord:
        with transaction(self._engine) as session:
            return evaluations.record(evaluations.load(session, eval_id))

    def list_evaluations(
        self,
        *,
        status: EvalStatus | None = None,
        model_name: str | None = None,
        experiment_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[EvaluationRecord], int]:
        """A page of evaluations, newest first, and the total matching the filters."""
        if limit < 0 or offset < 0:
            raise InvalidRequest("limit and offset must not be negative", field="limit")
        with transaction(self._engine) as session:
            return evaluations.listing(
                session,
                status=status,
                model_name=model_name,
                experiment_id=experiment_id,
                limit=limit,
                offset=offset,
            )

    def set_evaluation_status(
        self,
        eval_id: str,
        status: EvalStatus,
        *,
        reason: str | None = None,
        message: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """Move forward to `status` with its event; False (nothing written) if not a move.

        A terminal status written after a granted cancel (`request_cancel` answered) becomes
        `cancelled`, decided under the same row lock: a granted cancel always ends `cancelled`.
        """
        with transaction(self._writer) as session:
            return evaluations.set_status(
                session, eval_id, status, reason=reason, message=message, data=data or {}
            )

    def unfinished_evaluation_ids(self) -> list[str]:
        """Ids of every evaluation not yet terminal (one indexed query, no rows loaded)."""
        with transaction(self._engine) as session:
            return evaluations.unfinished_ids(session)

    def request_cancel(self, eval_id: str) -> EvaluationRecord:
        """Mark cancellation requested (status `cancelling`); Conflict if already terminal.

        Granted means the evaluation will end `cancelled` (see `set_evaluation_status`)."""
        with transaction(self._writer) as session:
            return evaluations.request_cancel(session, eval_id)

    def mark_cleaned(self, eval_id: str) -> None:
        with transaction(self._writer) as session:
            row = evaluations.load(session, eval_id, for_update=True)
            if row.cleaned_at is None:
                row.cleaned_at = row.updated_at = utcnow()

    # runs

    def find_run(self, key: str) -> RunRecord | None:
        """The run whose id or DNS name is `key`, or None."""
        with transaction(self._engine) as session:
            return runs.find(session, key)

    def get_run(self, run_id: str) -> RunRecord:
        with transaction(self._engine) as session:
            return runs.record(runs.load(session, run_id))

    def update_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        reason: str | None = None,
        message: str | None = None,
        exit_code: int | None = None,
        log_tail: str | None = None,
        handle: dict[str, Any] | None = None,
    ) -> bool:
        """Move the run forward with its event; True only when the status changed."""
        with transaction(self._writer) as session:
            return runs.update(
                session,
                run_id,
                status,
                reason=reason,
                message=message,
                exit_code=exit_code,
                log_tail=log_tail,
                handle=handle,
            )

    def mark_results_unreadable(self, run_id: str, message: str) -> bool:
        """A `succeeded` run whose results cannot be read becomes `failed` (ResultsUnreadable)."""
        with transaction(self._writer) as session:
            return runs.results_unreadable(session, run_id, message)

    def set_run_handle(self, run_id: str, handle: dict[str, Any]) -> None:
        with transaction(self._writer) as session:
            runs.set_handle(session, run_id, handle)

    def active_runs(self) -> list[RunRecord]:
        """Submitted, unfinished runs of unfinished evaluations."""
        with transaction(self._engine) as session:
            return runs.active(session)

    # results

    def store_results(self, eval_id: str, run_id: str, parsed: ParsedResults) -> int:
        """Insert the run's scores and predictions once; the number of scores, 0 if stored."""
        try:
            with transaction(self._writer) as session:
                results.check(session, eval_id, run_id, parsed)
                if results.already_stored(session, run_id):
                    return 0
                return results.store(session, eval_id, run_id, parsed)
        except IntegrityError:
            # A concurrent call stored them first (PostgreSQL); theirs equal ours.
            with transaction(self._engine) as session:
                if results.already_stored(session, run_id):
                    return 0
            raise

    def get_scores(self, eval_id: str) -> list[ScoreRecord]:
        with transaction(self._engine) as session:
            return results.scores(session, eval_id)

    def count_scores(self, eval_id: str) -> int:
        with transaction(self._engine) as session:
            return results.count_scores(session, eval_id)

    def get_predictions(
        self, run_id: str, limit: int = 100, offset: int = 0
    ) -> list[PredictionRecord]:
        with transaction(self._engine) as session:
            return results.predictions(session, run_id, limit, offset)

    def list_predictions(
        self, eval_id: str, **filters: Any
    ) -> tuple[list[results.DatasetPrediction], int]:
        """A page of the evaluation's predictions and the total (`results.eval_predictions`)."""
        with transaction(self._engine) as session:
            return results.eval_predictions(session, eval_id, **filters)

    # events

    def add_event(
        self,
        eval_id: str,
        type: str,
        subject: str,
        data: dict[str, Any],
        run_id: str | None = None,
    ) -> EventRecord:
        """Record an event that is not a status change (e.g. progress), in its own transaction."""
        with transaction(self._writer) as session:
            evaluations.load(session, eval_id)  # NotFound rather than a foreign-key error
            if run_id is not None and runs.load(session, run_id).eval_id != eval_id:
                raise NotFound(f"run {run_id} of evaluation {eval_id} not found")
            row = outbox.append(
                session,
                eval_id=eval_id,
                run_id=run_id,
                type=type,
                subject=subject,
                data=data,
                time=utcnow(),
            )
            session.flush()
            return EventRecord.model_validate(row)

    def undelivered_events(self, limit: int = 100) -> list[EventRecord]:
        """Events not yet delivered, oldest first."""
        with transaction(self._engine) as session:
            return outbox.undelivered(session, limit)

    def mark_delivered(self, ids: list[str]) -> None:
        if not ids:
            return
        with transaction(self._writer) as session:
            outbox.mark_delivered(session, ids, utcnow())

    def events_for(self, eval_id: str) -> list[EventRecord]:
        """Every event of the evaluation, oldest first."""
        with transaction(self._engine) as session:
            return outbox.for_evaluation(session, eval_id)
