"""The page and the API of a sharded fleet on one PostgreSQL store: two real `chatcanary
run --shard` processes, and either one's `/runs`, `/api/v1/runs` and run pages show the
runs of both shards, each labelled with its shard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.conftest import Sim, wait_for
from tests.integration.test_store_postgres import CONFIG, start, stop

SHARDS = {"0/2", "1/2"}
CANARIES = {"one", "two", "three", "four"}


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def test_either_replica_shows_the_whole_fleet(
    simulator: Sim, postgres: str, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(url=simulator.url, db=postgres, queue=10000))
    shards = [start(config, tmp_path, "--shard", f"{i}/2") for i in range(2)]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

            async def fleet(url: str) -> dict[str, str] | None:
                """Each shard's newest run as this replica's API lists it, once both shards
                and every canary show (the writers commit in batches, each on its own)."""
                try:
                    status, body = await get(session, url + "/api/v1/runs?limit=200")
                except aiohttp.ClientError:
                    return None  # not listening yet
                if status != 200 or body["source"] != "store":
                    return None
                newest: dict[str, str] = {}
                for run in body["runs"]:
                    newest.setdefault(run["shard"], run["run_id"])
                seen = {run["canary"] for run in body["runs"]}
                return newest if set(newest) == SHARDS and seen == CANARIES else None

            for _, url in shards:
                newest = await wait_for(lambda url=url: fleet(url), timeout=90)
                status, page = await get(session, url + "/runs")
                assert status == 200 and "<th>Shard</th>" in page
                assert set(re.findall(r'<td class="mono"><bdi>(\d/2)</bdi></td>', page)) == SHARDS
                for shard, run_id in newest.items():  # a run of either shard, in full
                    status, view = await get(session, f"{url}/api/v1/runs/{run_id}")
                    assert status == 200 and view["shard"] == shard and view["turns"]
                    assert view["turns"][0]["answer"]
                    status, page = await get(session, f"{url}/runs/{run_id}")
                    assert status == 200 and f'<span class="mono">{shard}</span>' in page
            # each canary runs on one shard only, and the filter by shard says which
            _, url = shards[0]
            canaries: dict[str, set[str]] = {}
            for shard in SHARDS:
                _, body = await get(session, f"{url}/api/v1/runs?limit=500&shard={shard}")
                assert {r["shard"] for r in body["runs"]} == {shard}
                canaries[shard] = {r["canary"] for r in body["runs"]}
            assert not canaries["0/2"] & canaries["1/2"]
            assert canaries["0/2"] | canaries["1/2"] == CANARIES
    finally:
        for process, _ in shards:
            stop(process)
