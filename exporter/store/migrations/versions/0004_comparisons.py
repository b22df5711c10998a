"""Comparisons made by `chatcanary compare`, so the report can link a model change to the
comparison that approved it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comparisons",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double, nullable=False),
        sa.Column("baseline_target", sa.String(200), nullable=False),
        sa.Column("baseline_model", sa.String(200), nullable=False),
        sa.Column("candidate_target", sa.String(200), nullable=False),
        sa.Column("candidate_model", sa.String(200), nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index("ix_comparisons_finished_at", "comparisons", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_comparisons_finished_at", table_name="comparisons")
    op.drop_table("comparisons")
