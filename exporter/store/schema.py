"""The store's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Times are unix seconds (double precision). A run has one summary row in `runs`, kept
long, and its exchange in `run_content`, deleted first by retention. Verdicts are JSON
objects `{name, status, decided_by, reason}` with status pass | fail | unknown | internal,
so later kinds of judge need no migration. `traffic_exchanges` holds what a proxy with
`capture: true` kept of real users' exchanges (redacted), found by conversation id.

`HEAD` is the newest migration (migrations/versions/); `REVISIONS` lists them all, oldest
first, so start-up can tell "up to date", "older" and "newer than this chatcanary" apart
without importing Alembic.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

REVISIONS = ("0001", "0002", "0003")
HEAD = REVISIONS[-1]

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("target", String(200), nullable=False),
    Column("canary", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("shard", String(32), nullable=False),
    Column("started_at", Double, nullable=False),
    Column("duration_seconds", Double, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error_class", String(64)),
    Column("error_detail", Text, nullable=False),
    Column("http_status", Integer),
    Column("ttft_seconds", Double),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("finish_reason", String(64)),
    Column("response_model", String(200)),
    Column("system_fingerprint", String(200)),
    Column("answer_fingerprint", String(128)),
    Column("expect_refusal", Boolean),
    Column("refused", Boolean),
    Column("refusal", JSON),  # the refusal verdict: refused, detector, reason, ...
    Column("verdicts", JSON, nullable=False),  # list of {name, status, decided_by, reason}
    Column("turns", Integer, nullable=False),
    Column("trace_id", String(32)),
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_target_canary_started", "target", "canary", "started_at"),
    Index("ix_runs_outcome_started", "outcome", "started_at"),  # 0002: failed-run queries
)

run_content = Table(
    "run_content",
    metadata,
    Column(
        "run_id",
        String(64),
        ForeignKey("runs.run_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("started_at", Double, nullable=False),
    Column("failed", Boolean, nullable=False),
    Column("exchanges", JSON, nullable=False),  # the turns, redacted and capped
    Index("ix_run_content_started", "failed", "started_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", Double, nullable=False),
    Column("target", String(200), nullable=False),
    Column("rating", String(16), nullable=False),
    Column("category", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("conversation_id", String(200), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("shard", String(32), nullable=False),
    Index("ix_feedback_received_at", "received_at"),
)

model_changes = Table(
    "model_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("target", String(200), nullable=False),
    Column("shard", String(32), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("old_response_model", String(200), nullable=False),
    Column("old_system_fingerprint", String(200), nullable=False),
    Column("new_response_model", String(200), nullable=False),
    Column("new_system_fingerprint", String(200), nullable=False),
    Index("ix_model_changes_at", "at"),
)

traffic_exchanges = Table(
    "traffic_exchanges",
    metadata,
    Column("exchange_id", String(64), primary_key=True),
    Column("proxy", String(200), nullable=False),
    Column("shard", String(32), nullable=False),
    Column("conversation_id", String(200)),
    Column("started_at", Double, nullable=False),
    Column("duration_seconds", Double, nullable=False),
    Column("route", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error_class", String(64)),
    Column("http_status", Integer),
    Column("ttft_seconds", Double),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("finish_reason", String(64)),
    Column("response_model", String(200)),
    Column("refusal", JSON),  # the verdict: refused, detector (no text)
    Column("trace_id", String(32)),
    Column("prompt", Text, nullable=False),  # redacted and capped
    Column("answer", Text, nullable=False),  # redacted and capped
    Index("ix_traffic_started_at", "started_at"),
    Index("ix_traffic_conversation", "conversation_id", "started_at"),
)
