"""Traffic exchanges: what a proxy with `capture: true` kept of real users' exchanges.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traffic_exchanges",
        sa.Column("exchange_id", sa.String(64), primary_key=True),
        sa.Column("proxy", sa.String(200), nullable=False),
        sa.Column("shard", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(200)),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("duration_seconds", sa.Double, nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_class", sa.String(64)),
        sa.Column("http_status", sa.Integer),
        sa.Column("ttft_seconds", sa.Double),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("finish_reason", sa.String(64)),
        sa.Column("response_model", sa.String(200)),
        sa.Column("refusal", sa.JSON),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
    )
    op.create_index("ix_traffic_started_at", "traffic_exchanges", ["started_at"])
    op.create_index(
        "ix_traffic_conversation", "traffic_exchanges", ["conversation_id", "started_at"]
    )


def downgrade() -> None:
    op.drop_table("traffic_exchanges")
