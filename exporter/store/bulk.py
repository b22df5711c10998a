"""The writer thread's own connection: batches of rows inserted by INSERT statements
compiled once per dialect from the schema (no SQLAlchemy per batch): a few multi-row
INSERTs a batch on SQLite, `executemany` on PostgreSQL.

SQLite through the standard library's `sqlite3` (WAL, synchronous=FULL, as the engine);
PostgreSQL through asyncpg on a private event loop that lives in the writer thread, so
the driver the readers use is the only one installed.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import JSON, Table, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from exporter import jsontext
from exporter.store.engine import COMMAND_TIMEOUT, CONNECT_TIMEOUT, SQLITE_PRAGMAS
from exporter.store.schema import model_changes, run_content, runs
from exporter.store.url import Location

Identity = tuple[str | None, str | None]  # (response_model, system_fingerprint) as stored


@dataclass(frozen=True)
class Statement:
    """One compiled statement: its SQL and the order of its parameters."""

    sql: str
    keys: tuple[str, ...]
    json: frozenset[str] = frozenset()  # keys whose value is sent as JSON text
    defaults: tuple[tuple[str, Any], ...] = ()  # values fixed in the statement (LIMIT 1)

    def params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The row's values in order (its JSON values are encoded in place)."""
        if self.defaults:
            row = {**dict(self.defaults), **row}
        for key in self.json:
            row[key] = jsontext.dumps(row[key])
        return tuple(map(row.__getitem__, self.keys))


def _compile(stmt: ClauseElement, dialect: Dialect, table: Table, keys: Sequence[str]) -> Statement:
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    assert isinstance(compiled, SQLCompiler)
    order = tuple(compiled.positiontup or ())
    json_keys = frozenset(c.name for c in table.columns if isinstance(c.type, JSON))
    return Statement(str(compiled), order, json_keys & set(order))


def _inserts(dialect_module: Any, dialect: Dialect) -> dict[str, Statement]:
    """INSERT ... ON CONFLICT DO NOTHING for runs and content (a batch retried after a
    commit whose answer was lost writes nothing twice); a plain INSERT for model changes;
    the last stored identity of a target."""
    out = {}
    for table in (runs, run_content):
        keys = [c.name for c in table.columns]
        stmt = dialect_module.insert(table).on_conflict_do_nothing()
        out[table.name] = _compile(stmt, dialect, table, keys)
    keys = [c.name for c in model_changes.columns if c.name != "id"]
    out["model_changes"] = _compile(model_changes.insert().inline(), dialect, model_changes, keys)
    last = (
        select(runs.c.response_model, runs.c.system_fingerprint)
        .where(runs.c.target == bindparam("target"))
        .where(runs.c.response_model.is_not(None) | runs.c.system_fingerprint.is_not(None))
        .order_by(runs.c.started_at.desc())
        .limit(1)
    )
    compiled = last.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    fixed = tuple((k, v) for k, v in compiled.params.items() if k != "target")
    out["last_identity"] = Statement(
        str(compiled), tuple(compiled.positiontup or ()), defaults=fixed
    )
    return out


_STATEMENTS: dict[str, dict[str, Statement]] = {}


def statements(engine: str) -> dict[str, Statement]:
    """The compiled statements of an engine (sqlite or postgresql), compiled once."""
    if engine not in _STATEMENTS:  # each dialect imported only where it is used
        if engine == "sqlite":
            from sqlalchemy.dialects import sqlite

            _STATEMENTS[engine] = _inserts(sqlite, sqlite.dialect(paramstyle="qmark"))
        else:
            from sqlalchemy.dialects import postgresql
            from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

            _STATEMENTS[engine] = _inserts(postgresql, asyncpg_dialect())  # type: ignore[no-untyped-call]
    return _STATEMENTS[engine]


class Bulk(Protocol):
    """A connection the writer thread owns."""

    rejected: tuple[type[Exception], ...]  # the driver's errors for content it refuses
    statements: dict[str, Statement]

    def write(
        self,
        summaries: list[tuple[Any, ...]],
        contents: list[tuple[Any, ...]],
        changes: list[tuple[Any, ...]],
        pace: Callable[[], None],
    ) -> None:
        """Insert the rows (parameters in the statements' order) in one transaction,
        calling `pace` between statements."""

    def last_identity(self, target: str) -> Identity | None: ...

    def close(self) -> None: ...


# SQLite: rows per multi-row INSERT at most. A prepared statement holds a few KB a row,
# and every row count is a statement of its own, so a batch goes in as statements of a
# power of two rows up to this (a batch of 500: seven of 64, then 32, 16 and 4): seven
# sizes a table whatever the batches. SQLite's memory after 60,000 runs, one statement
# per batch size (8 kept) against these: batches of 1-500 runs 3.9 against 1.1 MB, of
# 500 2.4 against 1.0 MB; full batches cost about 10% more CPU, mixed ones 5% less.
# A batch of fewer rows than that, as a sidecar's few canaries write, goes in row by row
# through the one-row statement: no multi-row statement is prepared until a batch needs
# one (`run` with 24 canaries: 0.4 MB less RSS; bench/notes.md, memory).
SQLITE_ROWS = 64
SQLITE_STATEMENTS = 2 * SQLITE_ROWS.bit_length()  # the inserts of both tables


@functools.lru_cache(maxsize=SQLITE_STATEMENTS)  # their SQL
def many_rows(sql: str, count: int) -> str:
    """`INSERT ... VALUES (?, ...) ...` for `count` rows in one statement."""
    head, tail = sql.split(" VALUES ", 1)
    group, rest = tail.split(")", 1)
    return f"{head} VALUES {', '.join([group + ')'] * count)}{rest}"


def chunks(count: int) -> list[int]:
    """The row counts of the statements that insert `count` rows: one row each for fewer
    than SQLITE_ROWS; else SQLITE_ROWS while as many are left, then the powers of two of
    the rest, largest first."""
    if count < SQLITE_ROWS:
        return [1] * count
    whole, rest = divmod(count, SQLITE_ROWS)
    return [SQLITE_ROWS] * whole + [
        1 << b for b in reversed(range(rest.bit_length())) if rest >> b & 1
    ]


class SQLiteBulk:
    """sqlite3, each batch in a few multi-row INSERTs rather than `executemany`: the
    module lets go of the GIL around every statement it steps, so one statement per row
    hands the GIL to and from the event loop's thread twice a run."""

    # what the driver raises for content it will not take (not for being down)
    rejected: tuple[type[Exception], ...] = (
        sqlite3.IntegrityError,
        sqlite3.DataError,
        sqlite3.ProgrammingError,
    )

    def __init__(self, path: str) -> None:
        self.statements = statements("sqlite")
        # prepared statements kept: the inserts, model changes' and the last identity's
        cached = SQLITE_STATEMENTS + 2
        self._conn = sqlite3.connect(path, timeout=10.0, cached_statements=cached)
        try:
            for pragma in SQLITE_PRAGMAS:
                self._conn.execute(pragma)
        except BaseException:
            self._conn.close()
            raise

    def write(
        self,
        summaries: list[tuple[Any, ...]],
        contents: list[tuple[Any, ...]],
        changes: list[tuple[Any, ...]],
        pace: Callable[[], None],
    ) -> None:
        s = self.statements
        try:
            self._insert(s["runs"], summaries, pace)
            self._insert(s["run_content"], contents, pace)
            if changes:
                self._conn.executemany(s["model_changes"].sql, changes)
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise

    def _insert(
        self, statement: Statement, rows: list[tuple[Any, ...]], pace: Callable[[], None]
    ) -> None:
        start = 0
        for count in chunks(len(rows)):
            part = rows[start : start + count]
            start += count
            self._conn.execute(
                many_rows(statement.sql, count), list(itertools.chain.from_iterable(part))
            )
            pace()  # a thread woken meanwhile may be waiting on this CPU

    def last_identity(self, target: str) -> Identity | None:
        last = self.statements["last_identity"]
        row = self._conn.execute(last.sql, last.params({"target": target})).fetchone()
        return None if row is None else (row[0], row[1])

    def close(self) -> None:
        self._conn.close()


class PostgresBulk:
    """asyncpg on the writer thread's private loop: every call runs to completion there."""

    def __init__(self, dsn: str) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self.rejected: tuple[type[Exception], ...] = (
            asyncpg.IntegrityConstraintViolationError,
            asyncpg.DataError,
        )
        self.statements = statements("postgresql")
        self._loop = asyncio.new_event_loop()
        try:
            self._conn: Any = self._run(
                asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT)
            )
        except BaseException:
            self._loop.close()
            raise

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def write(
        self,
        summaries: list[tuple[Any, ...]],
        contents: list[tuple[Any, ...]],
        changes: list[tuple[Any, ...]],
        pace: Callable[[], None],
    ) -> None:
        # asyncpg's `executemany` sends a table's rows in one call: nothing to pace between
        self._run(self._write(summaries, contents, changes))

    async def _write(
        self,
        summaries: list[tuple[Any, ...]],
        contents: list[tuple[Any, ...]],
        changes: list[tuple[Any, ...]],
    ) -> None:
        s = self.statements
        async with self._conn.transaction():
            await self._conn.executemany(s["runs"].sql, summaries)
            await self._conn.executemany(s["run_content"].sql, contents)
            if changes:
                await self._conn.executemany(s["model_changes"].sql, changes)

    def last_identity(self, target: str) -> Identity | None:
        last = self.statements["last_identity"]
        row = self._run(self._conn.fetchrow(last.sql, *last.params({"target": target})))
        return None if row is None else (row[0], row[1])

    def close(self) -> None:
        try:
            self._run(self._conn.close(timeout=5))
        except Exception:
            self._conn.terminate()
        finally:
            self._loop.close()


def opener(location: Location) -> Callable[[], Bulk]:
    """How the writer thread connects to the location (a SQLite file, or PostgreSQL)."""
    if location.engine == "sqlite":
        path = location.url.database or ""
        return lambda: SQLiteBulk(path)
    dsn = location.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return lambda: PostgresBulk(dsn)
