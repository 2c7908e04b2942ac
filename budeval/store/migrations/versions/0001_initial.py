"""Initial schema: evaluations, runs, scores, predictions and the event outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out with plain SQLAlchemy types (not the application's column classes) so that this
revision keeps creating the same schema whatever later code does to `budeval.store.models`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.String(128), **kwargs)


def _time(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, *, nullable: bool) -> sa.Column:
    kind = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    return sa.Column(name, kind, nullable=nullable)


def _fk(column: str, table: str, source: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{table}.id"], name=f"fk_{source}_{column}_{table}", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "evaluations",
        _id("id", nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        _id("experiment_id", nullable=True),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("endpoint", sa.String(2048), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(128), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        _json("spec", nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        _time("created_at", nullable=False),
        _time("started_at"),
        _time("finished_at"),
        _time("updated_at", nullable=False),
        _time("cleaned_at"),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
    )
    for column in ("created_at", "experiment_id", "model_name", "status"):
        op.create_index(f"ix_evaluations_{column}", "evaluations", [column])

    op.create_table(
        "runs",
        _id("id", nullable=False),
        _id("eval_id", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _id("dataset", nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(128), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        _json("handle", nullable=True),
        _time("created_at", nullable=False),
        _time("scheduled_at"),
        _time("started_at"),
        _time("finished_at"),
        _time("updated_at", nullable=False),
        _fk("eval_id", "evaluations", "runs"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("name", name="uq_runs_name"),
    )
    op.create_index("ix_runs_eval_id", "runs", ["eval_id"])
    op.create_index("ix_runs_status", "runs", ["status"])

    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("eval_id", nullable=False),
        _id("run_id", nullable=False),
        sa.Column("dataset", sa.String(256), nullable=False),
        sa.Column("metric", sa.String(256), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("higher_is_better", sa.Boolean(), nullable=False),
        sa.Column("n_samples", sa.Integer(), nullable=True),
        sa.Column("stderr", sa.Float(), nullable=True),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("engine_version", sa.String(64), nullable=False),
        _time("created_at", nullable=False),
        _fk("eval_id", "evaluations", "scores"),
        _fk("run_id", "runs", "scores"),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
        sa.UniqueConstraint("run_id", "dataset", "metric", name="uq_scores_run_id_dataset_metric"),
    )
    op.create_index("ix_scores_eval_id", "scores", ["eval_id"])

    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("run_id", nullable=False),
        _id("eval_id", nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("gold", sa.Text(), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        _fk("eval_id", "evaluations", "predictions"),
        _fk("run_id", "runs", "predictions"),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
        sa.UniqueConstraint("run_id", "idx", name="uq_predictions_run_id_idx"),
    )
    op.create_index("ix_predictions_eval_id", "predictions", ["eval_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.String(36), nullable=False),
        _id("eval_id", nullable=False),
        _id("run_id", nullable=True),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        _time("time", nullable=False),
        _json("data", nullable=False),
        _time("delivered_at"),
        _fk("eval_id", "evaluations", "events"),
        _fk("run_id", "runs", "events"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_delivered_at", "events", ["delivered_at"])
    op.create_index("ix_events_eval_id_time", "events", ["eval_id", "time"])


def downgrade() -> None:
    for table in ("events", "predictions", "scores", "runs", "evaluations"):
        op.drop_table(table)
