"""The first schema: runs and their content, feedback, model changes.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("canary", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("shard", sa.String(32), nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("duration_seconds", sa.Double, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_class", sa.String(64)),
        sa.Column("error_detail", sa.Text, nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("ttft_seconds", sa.Double),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("finish_reason", sa.String(64)),
        sa.Column("response_model", sa.String(200)),
        sa.Column("system_fingerprint", sa.String(200)),
        sa.Column("answer_fingerprint", sa.String(128)),
        sa.Column("expect_refusal", sa.Boolean),
        sa.Column("refused", sa.Boolean),
        sa.Column("refusal", sa.JSON),
        sa.Column("verdicts", sa.JSON, nullable=False),
        sa.Column("turns", sa.Integer, nullable=False),
        sa.Column("trace_id", sa.String(32)),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_target_canary_started", "runs", ["target", "canary", "started_at"])
    op.create_table(
        "run_content",
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("failed", sa.Boolean, nullable=False),
        sa.Column("exchanges", sa.JSON, nullable=False),
    )
    op.create_index("ix_run_content_started", "run_content", ["failed", "started_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("rating", sa.String(16), nullable=False),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("shard", sa.String(32), nullable=False),
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_table(
        "model_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("shard", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("old_response_model", sa.String(200), nullable=False),
        sa.Column("old_system_fingerprint", sa.String(200), nullable=False),
        sa.Column("new_response_model", sa.String(200), nullable=False),
        sa.Column("new_system_fingerprint", sa.String(200), nullable=False),
    )
    op.create_index("ix_model_changes_at", "model_changes", ["at"])


def downgrade() -> None:
    for table in ("model_changes", "feedback", "run_content", "runs"):
        op.drop_table(table)
