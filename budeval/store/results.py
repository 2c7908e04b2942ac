"""Scores and per-sample predictions of finished runs.

Storing is idempotent per run: the extract step may run again after a crash, and a run's results
never change once parsed, so a second `store` is a no-op rather than a duplicate or an overwrite.
Functions take an open session and never commit.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from budeval.errors import NotFound, PermanentError
from budeval.results.models import ParsedResults
from budeval.store.db import utcnow
from budeval.store.models import EvaluationRow, PredictionRow, RunRow, ScoreRow
from budeval.store.records import PredictionRecord, ScoreRecord


def already_stored(session: Session, run_id: str) -> bool:
    for table in (ScoreRow, PredictionRow):
        query = select(table.id).where(table.run_id == run_id).limit(1)
        if session.scalar(query) is not None:
            return True
    return False


def check(session: Session, eval_id: str, run_id: str, parsed: ParsedResults) -> None:
    """Refuse results for an unknown run and parses that name a score or sample twice."""
    owner = session.scalar(select(RunRow.eval_id).where(RunRow.id == run_id))
    if owner != eval_id:
        raise NotFound(f"run {run_id} of evaluation {eval_id} not found")
    repeated = [
        key for key, n in Counter((s.dataset, s.metric) for s in parsed.scores).items() if n > 1
    ]
    if repeated:
        dataset, metric = repeated[0]
        raise PermanentError(
            f"results of run {run_id} name metric {metric} of {dataset} twice", reason="EngineError"
        )
    indexes = Counter(p.index for p in parsed.predictions)
    twice = [index for index, n in indexes.items() if n > 1]
    if twice:
        raise PermanentError(
            f"results of run {run_id} hold prediction {twice[0]} twice", reason="EngineError"
        )


def store(session: Session, eval_id: str, run_id: str, parsed: ParsedResults) -> int:
    now = utcnow()
    if parsed.scores:
        session.execute(
            insert(ScoreRow),
            [
                {
                    "eval_id": eval_id,
                    "run_id": run_id,
                    "dataset": score.dataset,
                    "metric": score.metric,
                    "value": score.value,
                    "higher_is_better": score.higher_is_better,
                    "n_samples": score.n_samples,
                    "stderr": score.stderr,
                    "engine": parsed.engine,
                    "engine_version": parsed.engine_version,
                    "created_at": now,
                }
                for score in parsed.scores
            ],
        )
    if parsed.predictions:
        session.execute(
            insert(PredictionRow),
            [
                {
                    "eval_id": eval_id,
                    "run_id": run_id,
                    "idx": prediction.index,
                    "prompt": prediction.prompt,
                    "prediction": prediction.prediction,
                    "gold": prediction.gold,
                    "correct": prediction.correct,
                }
                for prediction in parsed.predictions
            ],
        )
    return len(parsed.scores)


def scores(session: Session, eval_id: str) -> list[ScoreRecord]:
    query = (
        select(ScoreRow)
        .join(RunRow, RunRow.id == ScoreRow.run_id)
        .where(ScoreRow.eval_id == eval_id)
        .order_by(RunRow.position, ScoreRow.dataset, ScoreRow.metric)
    )
    return [ScoreRecord.model_validate(row) for row in session.scalars(query)]


def count_scores(session: Session, eval_id: str) -> int:
    query = select(func.count()).select_from(ScoreRow).where(ScoreRow.eval_id == eval_id)
    return int(session.scalar(query) or 0)


def predictions(session: Session, run_id: str, limit: int, offset: int) -> list[PredictionRecord]:
    query = (
        select(PredictionRow)
        .where(PredictionRow.run_id == run_id)
        .order_by(PredictionRow.idx)
        .limit(limit)
        .offset(offset)
    )
    return [PredictionRecord.model_validate(row) for row in session.scalars(query)]


class DatasetPrediction(PredictionRecord):
    """A stored prediction with the dataset of its run (what the predictions route returns)."""

    dataset: str


def eval_predictions(
    session: Session,
    eval_id: str,
    *,
    run_id: str | None = None,
    dataset: str | None = None,
    correct: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[DatasetPrediction], int]:
    """One page of an evaluation's predictions (run order, then sample index) and the total
    matching the filters. NotFound for an unknown evaluation or a run of another one."""
    if session.scalar(select(EvaluationRow.id).where(EvaluationRow.id == eval_id)) is None:
        raise NotFound(f"evaluation {eval_id} not found")
    if (
        run_id is not None
        and session.scalar(select(RunRow.id).where(RunRow.id == run_id, RunRow.eval_id == eval_id))
        is None
    ):
        raise NotFound(f"run {run_id} of evaluation {eval_id} not found")
    where = [PredictionRow.eval_id == eval_id]
    if run_id is not None:
        where.append(PredictionRow.run_id == run_id)
    if dataset is not None:
        where.append(RunRow.dataset == dataset)
    if correct is not None:
        where.append(PredictionRow.correct.is_(correct))
    joined = select(PredictionRow, RunRow.dataset).join(RunRow, RunRow.id == PredictionRow.run_id)
    total = session.scalar(
        select(func.count())
        .select_from(PredictionRow)
        .join(RunRow, RunRow.id == PredictionRow.run_id)
        .where(*where)
    )
    query = (
        joined.where(*where)
        .order_by(RunRow.position, PredictionRow.idx)
        .limit(limit)
        .offset(offset)
    )
    page = [
        DatasetPrediction.model_validate(
            {**PredictionRecord.model_validate(row).model_dump(), "dataset": name}
        )
        for row, name in session.execute(query)
    ]
    return page, int(total or 0)
