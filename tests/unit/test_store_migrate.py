"""Schema versions on real SQLite files: from empty, from the previous revision, and the
files start-up must refuse (newer, corrupt, not ours), through `chatcanary db`."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from exporter.cli import main
from exporter.store import SchemaError, engine, migrate
from exporter.store.schema import HEAD, REVISIONS
from exporter.store.url import Location
from tests.unit.store_helpers import sqlite_store

CONFIG = """\
targets: [{{name: local, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: m}}]
canaries: [{{name: a, prompt: hi}}]
store: {{url: "sqlite:///{db}"}}
"""


def indexes(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def revision(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


async def db_command(tmp_path: Path, db: Path, action: str) -> int:
    """`chatcanary db ACTION` (its own event loop, so in a thread)."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(db=db))
    return await asyncio.to_thread(main, ["db", action, "-c", str(config)])


def test_the_migrations_end_at_the_head_the_store_checks_against() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_current_head() == HEAD
    assert [s.revision for s in reversed(list(scripts.walk_revisions()))] == list(REVISIONS)


async def test_from_empty_and_from_the_previous_revision(tmp_path: Path) -> None:
    db = tmp_path / "cc.db"
    location = Location(_url(db))
    old = engine.Database(location)
    await old.run(migrate.upgrade, "test", target="0001")
    await old.dispose()
    assert revision(db) == "0001" and "ix_runs_outcome_started" not in indexes(db)
    assert await db_command(tmp_path, db, "check") == 1  # a migration is due

    store = sqlite_store(tmp_path)  # the same file: start-up migrates it
    await store.open()
    await store.close()
    assert revision(db) == HEAD and "ix_runs_outcome_started" in indexes(db)
    assert await db_command(tmp_path, db, "check") == 0

    fresh = tmp_path / "fresh.db"
    assert await db_command(tmp_path, fresh, "check") == 1  # no file yet
    assert await db_command(tmp_path, fresh, "upgrade") == 0
    assert revision(fresh) == HEAD


async def test_runs_and_feedback_written_under_the_first_revision_survive_the_upgrade(
    tmp_path: Path,
) -> None:
    """A file at the first revision holding runs, an exchange, feedback and a model
    change (copied row for row from a store that wrote them) keeps every one of them when
    start-up migrates it to the head."""
    from tests.unit.store_helpers import complaint, run

    source_dir = tmp_path / "source"
    source_dir.mkdir()
    writer = sqlite_store(source_dir)
    await writer.open()
    t0 = float(int(time.time()) - 3600)  # recent: start-up's retention sweep keeps it all
    first = run(t0, fingerprint="fp_1")
    second = run(t0 + 60, text="41", fingerprint="fp_2")  # a model change
    for result in (first, second):
        writer.record(result)
    await writer.flush()
    said = complaint(second.run_id, t0 + 100, "17+25 is not 41")
    await writer.add_feedback(said)
    await writer.close()

    db = tmp_path / "cc.db"  # where sqlite_store(tmp_path) looks
    old = engine.Database(Location(_url(db)))
    await old.run(migrate.upgrade, "test", target=REVISIONS[0])
    await old.dispose()
    tables = ("runs", "run_content", "feedback", "model_changes")
    with sqlite3.connect(db) as conn:
        conn.execute("ATTACH DATABASE ? AS source", (str(source_dir / "cc.db"),))
        for table in tables:  # the columns of these tables are the first revision's
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM source.{table}")
    assert revision(db) == REVISIONS[0]

    store = sqlite_store(tmp_path)
    await store.open()  # migrates to the head
    try:
        assert revision(db) == HEAD
        kept = await store.run(second.run_id)
        assert kept is not None and kept.content_kept
        assert kept.result.turns[0].text == "41"
        assert {r.result.run_id for r in (await store.runs(limit=10)).items} == {
            first.run_id,
            second.run_id,
        }
        [stored] = (await store.feedback()).items
        assert stored.feedback == said
        assert stored.feedback.run_id == second.run_id
        [change] = await store.model_changes()
        assert change.new[1] == "fp_2" and change.run_id == second.run_id
    finally:
        await store.close()


def schema_of(db: Path) -> set[tuple[str, str, str]]:
    """Every table and index of a SQLite file with the SQL that made it."""
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT type, name, sql FROM sqlite_master")
        return {(kind, name, " ".join((sql or "").split())) for kind, name, sql in found}


async def test_an_empty_database_gets_the_schema_the_migrations_build(tmp_path: Path) -> None:
    created, migrated = tmp_path / "created.db", tmp_path / "migrated.db"
    fresh = engine.Database(Location(_url(created)))
    assert await fresh.run(migrate.upgrade, "test") == (None, HEAD)  # straight to the head
    await fresh.dispose()
    stepwise = engine.Database(Location(_url(migrated)))
    await stepwise.run(migrate.upgrade, "test", target=REVISIONS[0])  # then Alembic, step by step
    assert await stepwise.run(migrate.upgrade, "test") == (REVISIONS[0], HEAD)
    await stepwise.dispose()
    assert revision(created) == revision(migrated) == HEAD
    assert schema_of(created) == schema_of(migrated)
    assert len(schema_of(created)) > 10  # the tables and their indexes, not two empty files


def test_opening_an_empty_or_current_store_does_not_import_alembic(tmp_path: Path) -> None:
    """Alembic costs a process about 10 MB: only a migration that is due imports it."""
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from tests.unit.store_helpers import sqlite_store\n"
        "async def main():\n"
        "    for _ in range(2):  # empty, then current\n"
        f"        store = sqlite_store(Path({str(tmp_path)!r}))\n"
        "        await store.open()\n"
        "        await store.close()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules, 'mako' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.split() == ["False", "False"], done.stdout + done.stderr
    assert revision(tmp_path / "cc.db") == HEAD


def _url(db: Path) -> URL:
    return URL.create("sqlite+pysqlite", database=str(db))


async def test_a_newer_schema_stops_start_up_and_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cc.db"
    assert await db_command(tmp_path, db, "upgrade") == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    store = sqlite_store(tmp_path)
    with pytest.raises(SchemaError, match=r"revision '0099', newer than this chatcanary"):
        await store.open()
    await store.close()
    assert await db_command(tmp_path, db, "check") == 2
    assert "written by a newer chatcanary" in capsys.readouterr().err
    assert revision(db) == "0099"  # left as it was


async def test_a_corrupt_file_stops_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cc.db"
    db.write_bytes(b"this is not a database, just bytes " * 200)
    store = sqlite_store(tmp_path)
    with pytest.raises(SchemaError, match=r"not a usable SQLite database .*move it aside"):
        await store.open()
    await store.close()
    assert await db_command(tmp_path, db, "check") == 2
    assert "not a usable SQLite database" in capsys.readouterr().err


async def test_tables_without_a_version_are_not_ours(tmp_path: Path) -> None:
    db = tmp_path / "cc.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
    store = sqlite_store(tmp_path)
    with pytest.raises(SchemaError, match="not a chatcanary store"):
        await store.open()
    await store.close()
