"""The store on a real PostgreSQL: two shard processes writing one database and each
reading the whole fleet; the store going down and coming back while probing goes on, and
unreachable at start; the schema built and migrated (`chatcanary db`, two upgrades at
once); retention one replica at a time; a restart keeping runs and feedback; the password
in no output."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from exporter.config import Store as StoreSettings
from exporter.store import Store, locate
from tests.integration.conftest import CLI, Sim, free_port, poll
from tests.integration.postgres import Cluster

CONFIG = """\
defaults: {{interval: 0.2s, timeout: 5s}}
targets:
  - {{name: local, protocol: openai, base_url: "{url}/v1", model: gpt-4o-mini}}
canaries:
  - {{name: one, prompt: "What is 17+25? Answer with the number only."}}
  - {{name: two, prompt: "What is 2+2? Answer with the number only."}}
  - {{name: three, prompt: "What is 3+3? Answer with the number only."}}
  - {{name: four, prompt: "What is 4+4? Answer with the number only."}}
store: {{url: "{db}", queue: {queue}}}
"""


def start(config: Path, tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (tmp_path / f"run-{port}.log").open("wb")
    process = subprocess.Popen(
        [*CLI, "run", "-c", str(config), "--listen", f"127.0.0.1:{port}", *flags],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


def metric(url: str, series: str) -> float:
    """The sum of the samples whose line starts with `series` (a name, or a name with the
    first labels and no closing brace)."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        lines = resp.read().decode().splitlines()
    found = [float(t.rsplit(" ", 1)[1]) for t in lines if t.startswith(series)]
    return sum(found) if found else float("nan")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)


async def fleet(db: str) -> Store:
    settings = StoreSettings.model_validate({"url": db})
    store = Store(locate(settings, Path("/nonexistent")), settings)
    await store.open(background=False)
    return store


async def test_two_shards_write_one_database_and_read_the_whole_fleet(
    simulator: Sim, postgres: str, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(url=simulator.url, db=postgres, queue=10000))
    shards = [start(config, tmp_path, "--shard", f"{i}/2") for i in range(2)]
    try:
        store = await fleet(postgres)
        try:

            async def seen() -> tuple[set[str], set[str]]:
                page = await store.runs(limit=1000)
                return {s.shard for s in page.items}, {s.result.canary for s in page.items}

            # until every canary has run once (each on its shard), with a generous deadline
            deadline = asyncio.get_running_loop().time() + 90
            while await seen() != ({"0/2", "1/2"}, {"one", "two", "three", "four"}):
                assert asyncio.get_running_loop().time() < deadline, await seen()
                await asyncio.sleep(0.2)
            page = await store.runs(limit=1000)
            by_shard = {(s.result.canary, s.shard) for s in page.items}
            canaries = {c for c, _ in by_shard}
            assert canaries == {"one", "two", "three", "four"}
            assert len(by_shard) == 4  # each canary runs on exactly one shard
        finally:
            await store.close()
        export = subprocess.run(
            [*CLI, "export", "-c", str(config), "runs", "--since", "1h"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        exported = [json.loads(line) for line in export.stdout.decode().splitlines()]
        assert {r["shard"] for r in exported} == {"0/2", "1/2"}
    finally:
        for process, _ in shards:
            stop(process)


async def test_store_down_then_back_probing_goes_on_and_it_catches_up(
    simulator: Sim, postgres: str, postgres_cluster: Cluster, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(url=simulator.url, db=postgres, queue=20))
    process, url = start(config, tmp_path)
    # The simulator answers on this test's event loop: every blocking wait and request
    # runs in a thread, so that it goes on answering while the test waits.
    wait = functools.partial(asyncio.to_thread, poll)
    try:
        written = 'chatcanary_store_writes_total{result="written"} '
        await wait("runs written", lambda: metric(url, written), lambda v: v > 0, 60)
        await asyncio.to_thread(postgres_cluster.stop)
        try:
            probes = "chatcanary_probes_total{"
            before = await asyncio.to_thread(metric, url, probes)
            dropped = 'chatcanary_store_writes_total{result="dropped"} '
            await wait("writes dropped", lambda: metric(url, dropped), lambda v: v > 0, 60)
            # probing and /metrics went on
            assert await asyncio.to_thread(metric, url, probes) > before
            assert await asyncio.to_thread(metric, url, "chatcanary_store_queue_length ") == 20
            status = await asyncio.to_thread(_post_feedback, url)
            assert status[0] == 503 and status[1] is not None
        finally:
            await asyncio.to_thread(postgres_cluster.start)
        await wait(
            "queue drained",
            lambda: metric(url, "chatcanary_store_queue_length "),
            lambda v: v < 20,
            90,
        )
        after = await asyncio.to_thread(metric, url, written)
        await wait("writes again", lambda: metric(url, written), lambda v: v > after, 60)
        assert (await asyncio.to_thread(_post_feedback, url))[0] == 202
    finally:
        stop(process)


def _post_feedback(url: str) -> tuple[int, str | None]:
    request = urllib.request.Request(
        url + "/api/v1/feedback",
        data=json.dumps({"target": "local", "rating": "negative"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After")


async def test_an_empty_database_gets_the_schema_the_migrations_build(
    postgres: str, postgres_cluster: Cluster
) -> None:
    """Start-up creates an empty database's schema without Alembic; on a second database
    the migrations build it step by step. Alembic's own comparison with the tables the
    store declares finds no difference in either."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import Connection, text

    from exporter.store import engine, migrate
    from exporter.store.schema import HEAD, REVISIONS, metadata

    stepwise = "t_" + uuid.uuid4().hex[:12]
    postgres_cluster.create_database(stepwise)
    urls = {"created": postgres, "migrated": postgres_cluster.url(stepwise)}

    VERSION_QUERY = "SELECT version_num FROM alembic_version"

    def differences(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    for how, url in urls.items():
        location = locate(StoreSettings.model_validate({"url": url}), Path("."))
        db = engine.Database(location)
        try:
            if how == "migrated":
                await db.run(migrate.upgrade, how, target=REVISIONS[0])
                assert await db.run(migrate.upgrade, how) == (REVISIONS[0], HEAD)
            else:
                assert await db.run(migrate.upgrade, how) == (None, HEAD)
            assert await db.run(differences) == [], how
            version = await db.run(lambda c: c.execute(text(VERSION_QUERY)).scalar())
            assert version == HEAD, how
        finally:
            await db.dispose()


async def test_retention_sweeps_on_one_replica_at_a_time(postgres: str) -> None:
    """On PostgreSQL each kind goes at its age, content first, as on SQLite; while another
    session holds the retention lock (another replica sweeping), a sweep deletes nothing
    and says it was not its turn."""
    import asyncpg

    from exporter.result import Outcome
    from exporter.store.retention import RETENTION_LOCK
    from tests.unit.store_helpers import complaint, run

    day, t0 = 86400.0, 1_700_000_000.0
    settings = StoreSettings.model_validate({"url": postgres})
    store = Store(locate(settings, Path("/nonexistent")), settings)
    await store.open(background=False, maintain=False)  # only the sweeps below delete
    other = await asyncpg.connect(postgres)
    try:
        ok, failed = run(t0), run(t0 + 1, outcome=Outcome.ERROR)
        store.record(ok)
        store.record(failed)
        await store.flush()
        await store.add_feedback(complaint(ok.run_id, t0))

        await other.execute("SELECT pg_advisory_lock($1)", RETENTION_LOCK)
        assert await store.sweep(now=t0 + 400 * day) is None  # the other replica's turn
        assert len((await store.runs(limit=10)).items) == 2
        assert len((await store.feedback()).items) == 1
        await other.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK)

        # 8 days on: the successful run's exchange goes, its summary and the failed one stay
        swept = await store.sweep(now=t0 + 8 * day)
        assert swept is not None and (swept["runs"], swept["failed_runs"]) == (1, 0)
        kept = {r.result.run_id: r.content_kept for r in (await store.runs(limit=10)).items}
        assert kept == {ok.run_id: False, failed.run_id: True}

        # 400 days on: summaries, the failed run's exchange and the feedback go
        swept = await store.sweep(now=t0 + 400 * day)
        assert swept is not None
        assert (swept["failed_runs"], swept["summaries"], swept["feedback"]) == (1, 2, 1)
        assert (await store.runs(limit=10)).items == ()
        assert (await store.feedback()).items == ()
    finally:
        await other.close()
        await store.close()


async def test_a_store_unreachable_at_start_is_connected_and_migrated_when_it_comes(
    simulator: Sim, postgres: str, postgres_cluster: Cluster, tmp_path: Path
) -> None:
    """`run` starts while its PostgreSQL is down: probing goes on from the start; once the
    database answers, the store connects, builds the schema and writes the runs queued
    meanwhile, and feedback is committed."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(url=simulator.url, db=postgres, queue=1000))
    wait = functools.partial(asyncio.to_thread, poll)
    await asyncio.to_thread(postgres_cluster.stop)
    process, url = start(config, tmp_path)
    try:
        try:
            probes = "chatcanary_probes_total{"
            await wait("probing", lambda: metric(url, probes), lambda v: v >= 4, 60)
            assert await asyncio.to_thread(metric, url, "chatcanary_store_up ") == 0
            assert await asyncio.to_thread(metric, url, "chatcanary_store_queue_length ") > 0
        finally:
            await asyncio.to_thread(postgres_cluster.start)
        written = 'chatcanary_store_writes_total{result="written"} '
        await wait("queued runs written", lambda: metric(url, written), lambda v: v >= 4, 120)
        assert await asyncio.to_thread(metric, url, "chatcanary_store_up ") == 1
        assert (await asyncio.to_thread(_post_feedback, url))[0] == 202
    finally:
        stop(process)
    store = await fleet(postgres)  # the schema is there, with the runs and the feedback
    try:
        assert len((await store.runs(limit=10)).items) >= 4
        assert len((await store.feedback()).items) == 1
    finally:
        await store.close()


async def test_the_store_password_appears_in_no_output(
    simulator: Sim, postgres: str, postgres_cluster: Cluster, tmp_path: Path
) -> None:
    """A password in the store's URL (from `${VAR}`; the throwaway cluster trusts, so it is
    accepted and unused) never shows: not in debug logs, /metrics, /config, the status API,
    a reload that changes the URL, nor `chatcanary db check`."""
    import os

    secret = "MARKER-pg-password-3c9e"
    with_password = postgres.replace("postgres@", "postgres:${CC_TEST_PG_PASSWORD}@", 1)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(url=simulator.url, db=with_password, queue=100))
    env = {**os.environ, "CC_TEST_PG_PASSWORD": secret}
    log = tmp_path / "run.log"
    port = free_port()
    process = _popen([*CLI, "--log-level", "debug", "run", "-c", str(config), "--listen",
                      f"127.0.0.1:{port}"], log, env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait = functools.partial(asyncio.to_thread, poll)
    seen: dict[str, str] = {}
    try:
        written = 'chatcanary_store_writes_total{result="written"} '
        await wait("runs written", lambda: metric(url, written), lambda v: v > 0, 60)

        def get(path: str) -> str:
            with urllib.request.urlopen(url + path, timeout=10) as resp:
                return str(resp.read().decode())

        for path in ("/metrics", "/config", "/api/v1/status", "/"):
            seen[path] = await asyncio.to_thread(get, path)
        assert "store:" in seen["/config"] and "**********" in seen["/config"]  # masked
        # a reload that changes the URL (applied at the next start, and logged)
        other = with_password.rsplit("/", 1)[0] + "/postgres"
        config.write_text(CONFIG.format(url=simulator.url, db=other, queue=100))
        assert await asyncio.to_thread(_reload, url) == 200
    finally:
        stop(process)
    seen["logs"] = log.read_text()
    assert "postgres:***@" in seen["logs"]  # the logs name the store, masked
    check = [*CLI, "db", "check", "-c", str(config)]
    checked = await asyncio.to_thread(subprocess.run, check, capture_output=True, env=env)
    seen["db check"] = (checked.stdout + checked.stderr).decode()
    assert [where for where, text in seen.items() if secret in text] == []


def _popen(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def _reload(url: str) -> int:
    request = urllib.request.Request(url + "/-/reload", method="POST")
    with urllib.request.urlopen(request, timeout=30) as resp:
        return int(resp.status)


def _db(action: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "db", action, "-c", str(config)], capture_output=True, text=True, timeout=120
    )


async def test_db_check_and_upgrade_on_postgresql_and_two_upgrades_at_once(
    postgres_cluster: Cluster, tmp_path: Path
) -> None:
    """`chatcanary db` on PostgreSQL: a fresh database needs a migration (1), two upgrades
    started together both succeed and leave one schema at the head (the migrations take
    an advisory lock), then it is up to date (0); a database nobody
    listens for is unreachable (3)."""
    from exporter.store.schema import HEAD

    name = "t_" + uuid.uuid4().hex[:12]
    postgres_cluster.create_database(name)
    config = tmp_path / "c.yaml"
    config.write_text(
        CONFIG.format(url="http://127.0.0.1:9", db=postgres_cluster.url(name), queue=10)
    )
    assert (await asyncio.to_thread(_db, "check", config)).returncode == 1
    both = await asyncio.gather(*(asyncio.to_thread(_db, "upgrade", config) for _ in range(2)))
    assert [done.returncode for done in both] == [0, 0], [done.stderr for done in both]
    assert (await asyncio.to_thread(_db, "check", config)).returncode == 0
    from sqlalchemy import text

    from exporter.store import engine

    location = locate(StoreSettings.model_validate({"url": postgres_cluster.url(name)}), Path("."))
    db = engine.Database(location)
    try:
        query = text("SELECT version_num FROM alembic_version")
        versions = await db.run(lambda conn: [row[0] for row in conn.execute(query)])
    finally:
        await db.dispose()
    assert versions == [HEAD]

    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/{name}"
    config.write_text(CONFIG.format(url="http://127.0.0.1:9", db=nobody, queue=10))
    unreachable = await asyncio.to_thread(_db, "check", config)
    assert unreachable.returncode == 3, unreachable.stderr


async def test_a_restart_keeps_the_runs_and_the_feedback(
    simulator: Sim, postgres: str, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(url=simulator.url, db=postgres, queue=100))
    wait = functools.partial(asyncio.to_thread, poll)
    written = 'chatcanary_store_writes_total{result="written"} '
    process, url = start(config, tmp_path)
    try:
        await wait("runs written", lambda: metric(url, written), lambda v: v >= 4, 60)
        assert (await asyncio.to_thread(_post_feedback, url))[0] == 202
    finally:
        stop(process)  # a clean stop writes what is queued
    store = await fleet(postgres)
    try:
        before = {r.result.run_id for r in (await store.runs(limit=1000)).items}
    finally:
        await store.close()
    assert len(before) >= 4

    process, url = start(config, tmp_path)
    try:
        await wait("runs written again", lambda: metric(url, written), lambda v: v >= 4, 60)
        listed = await asyncio.to_thread(_get_json, url + "/api/v1/feedback")
    finally:
        stop(process)
    items = listed["feedback"] if isinstance(listed, dict) else listed
    assert len(items) == 1  # the first process's, read by the second
    store = await fleet(postgres)
    try:
        after = {r.result.run_id for r in (await store.runs(limit=1000)).items}
    finally:
        await store.close()
    assert before < after  # the first process's runs and the second's


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())
