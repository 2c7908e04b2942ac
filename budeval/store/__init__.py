"""Persistence: evaluations, runs, scores, predictions and the event outbox (SQLite / PostgreSQL).

Everything outside this package goes through `Store` and receives frozen records; SQLAlchemy and
Alembic are imported nowhere else. `open_store` migrates the schema, then opens the store.
"""

from __future__ import annotations

from budeval.store.migrate import upgrade
from budeval.store.records import (
    EvaluationRecord,
    EventRecord,
    PredictionRecord,
    RunRecord,
    ScoreRecord,
)
from budeval.store.store import Store


def open_store(url: str) -> Store:
    """Migrate the database at `url` to the newest schema, then open a `Store` on it."""
    store = Store(url)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


__all__ = [
    "EvaluationRecord",
    "EventRecord",
    "PredictionRecord",
    "RunRecord",
    "ScoreRecord",
    "Store",
    "open_store",
    "upgrade",
]
