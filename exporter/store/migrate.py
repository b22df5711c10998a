"""Schema versions: what a database holds, and bringing it to this chatcanary's head.

The stored revision is compared with `schema.HEAD` first; Alembic is imported only when
a migration is due (it costs a process about 10 MB). An empty database gets the head
schema straight from `schema.metadata` and Alembic's version row, as `alembic stamp`
writes it (a test proves it equal to what the migrations build). On PostgreSQL the
upgrade holds an advisory lock, so replicas that start together migrate once.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)

from exporter.store.errors import SchemaError
from exporter.store.schema import HEAD, REVISIONS, metadata

MIGRATE_LOCK = 0x63_63_6D_67  # pg_advisory_lock key: "ccmg"
MIGRATIONS = Path(__file__).parent / "migrations"
# Alembic's own table, as it creates it
VERSION = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


class State(StrEnum):
    EMPTY = "empty"  # no tables yet
    OLDER = "older"  # a migration is due
    CURRENT = "current"


def state(conn: Connection, shown: str) -> tuple[State, str | None]:
    """(the state, the stored revision); raises SchemaError for a database this chatcanary
    cannot use: a newer schema, or tables not made by its migrations."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables:
        if tables & {"runs", "feedback"}:
            raise SchemaError(
                f"{shown} holds tables but no schema version: not a chatcanary store. "
                "Point store.url at an empty database or a chatcanary one."
            )
        return State.EMPTY, None
    found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if found == HEAD:
        return State.CURRENT, found
    if found in REVISIONS:
        return State.OLDER, found
    raise SchemaError(
        f"{shown} has schema revision {found!r}, newer than this chatcanary knows ({HEAD}): "
        "it was written by a newer chatcanary. Run that version (or newer), or point "
        "store.url at another database."
    )


def upgrade(conn: Connection, shown: str, target: str = HEAD) -> tuple[str | None, str]:
    """Migrate to `target` if needed; (the revision before, the revision now)."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATE_LOCK})
        conn.commit()
    try:
        current, before = state(conn, shown)
        if current is State.CURRENT and target == HEAD:
            return before, HEAD
        if current is State.EMPTY and target == HEAD:
            _create(conn)
            conn.commit()
            return before, HEAD
        _alembic_upgrade(conn, target)
        conn.commit()
        return before, target
    finally:
        if postgres:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATE_LOCK})
            conn.commit()


def _create(connection: Connection) -> None:
    """The head schema in an empty database, stamped with its revision: one transaction."""
    metadata.create_all(connection)
    VERSION.create(connection)
    connection.execute(VERSION.insert().values(version_num=HEAD))


def _alembic_upgrade(connection: Connection, target: str) -> None:
    # quiet before the import, which logs its plugins; the store logs the outcome
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, target)
