"""One namespace for evaluation ids, run ids and run (job) names: the `identifiers` table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Existing rows are copied in: evaluation ids first, then run ids, then run names, each only when
the key is still free, so a collision left by an older version resolves to the evaluation (then
the run) deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FREE = "NOT EXISTS (SELECT 1 FROM identifiers AS i WHERE i.key = {column})"


def upgrade() -> None:
    op.create_table(
        "identifiers",
        sa.Column("key", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("eval_id", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["eval_id"],
            ["evaluations.id"],
            name="fk_identifiers_eval_id_evaluations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_identifiers_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("key", name="pk_identifiers"),
    )
    op.create_index("ix_identifiers_eval_id", "identifiers", ["eval_id"])
    op.execute(
        "INSERT INTO identifiers (key, kind, eval_id, run_id) "
        "SELECT id, 'evaluation', id, NULL FROM evaluations"
    )
    for kind, column in (("run", "id"), ("job", "name")):
        # One row at a time per key: two runs of the old schema cannot share an id or a name.
        op.execute(
            f"INSERT INTO identifiers (key, kind, eval_id, run_id) "
            f"SELECT r.{column}, '{kind}', r.eval_id, r.id FROM runs AS r "
            f"WHERE {_FREE.format(column='r.' + column)}"
        )


def downgrade() -> None:
    op.drop_table("identifiers")
