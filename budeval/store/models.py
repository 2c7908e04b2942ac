"""The store's tables, as SQLAlchemy 2 typed declarative classes.

These rows never leave the store: `Store` copies them into the frozen records of `records.py`
inside the session, so no lazy load can fire after a transaction has ended. The migration in
`migrations/versions` must create exactly this schema (a test compares the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from budeval.store.types import JSONValue, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations can name what they alter on both databases."""

ID = String(128)
"""Request ids are at most 128 characters (budeval.ids.ID_PATTERN)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class EvaluationRow(Base):
    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    experiment_id: Mapped[str | None] = mapped_column(ID, index=True)
    model_name: Mapped[str] = mapped_column(String(256), index=True)
    endpoint: Mapped[str] = mapped_column(String(2048))
    engine: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str | None] = mapped_column(String(128))
    message: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleaned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    runs: Mapped[list[RunRow]] = relationship(
        back_populates="evaluation", order_by="RunRow.position", lazy="raise"
    )


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    eval_id: Mapped[str] = mapped_column(
        ID, ForeignKey("evaluations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    dataset: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str | None] = mapped_column(String(128))
    message: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    handle: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    evaluation: Mapped[EvaluationRow] = relationship(back_populates="runs", lazy="raise")


class IdentifierRow(Base):
    """One namespace for every key a route accepts: evaluation ids, run ids and run (job) names.

    Written with the evaluation and its runs; the primary key makes a collision (a run id equal to
    another evaluation's id, …) fail in the database itself, so racing requests cannot both win.
    """

    __tablename__ = "identifiers"

    key: Mapped[str] = mapped_column(String(253), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    """`evaluation`, `run` or `job` (a run's DNS name)."""
    eval_id: Mapped[str] = mapped_column(
        ID, ForeignKey("evaluations.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str | None] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))


class ScoreRow(Base):
    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("run_id", "dataset", "metric"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    eval_id: Mapped[str] = mapped_column(
        ID, ForeignKey("evaluations.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(256))
    metric: Mapped[str] = mapped_column(String(256))
    value: Mapped[float] = mapped_column(Float)
    higher_is_better: Mapped[bool] = mapped_column(Boolean)
    n_samples: Mapped[int | None] = mapped_column(Integer)
    stderr: Mapped[float | None] = mapped_column(Float)
    engine: Mapped[str] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PredictionRow(Base):
    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("run_id", "idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    eval_id: Mapped[str] = mapped_column(
        ID, ForeignKey("evaluations.id", ondelete="CASCADE"), index=True
    )
    idx: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str | None] = mapped_column(Text)
    prediction: Mapped[str | None] = mapped_column(Text)
    gold: Mapped[str | None] = mapped_column(Text)
    correct: Mapped[bool | None] = mapped_column(Boolean)


class EventRow(Base):
    """The outbox: one row per CloudEvent, written in the transaction of its change."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_eval_id_time", "eval_id", "time"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    eval_id: Mapped[str] = mapped_column(ID, ForeignKey("evaluations.id", ondelete="CASCADE"))
    run_id: Mapped[str | None] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(256))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
