"""The store on a real PostgreSQL: two shard processes writing one database and each
reading the whole fleet, and the store going down and coming back while probing goes on."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import urllib.request
import uuid
from pathlib import Path

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
