"""An index for the failed-run queries (the runs list filtered by outcome, retention).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_outcome_started", "runs", ["outcome", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_outcome_started", table_name="runs")
