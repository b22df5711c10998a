"""Sharding: the partition of the plan, the shard's spellings, and the Service applying it."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from prometheus_client import generate_latest

from exporter.config import parse_config
from exporter.service import Service
from exporter.sharding import WHOLE, Shard, ShardError, bucket, resolve

KEYS = [(f"target-{t}", f"canary-{c}") for t in range(40) for c in range(50)]  # 2,000 runs


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 16])
def test_every_key_runs_on_exactly_one_shard(count: int) -> None:
    plan = {key: key for key in KEYS}
    parts = [Shard(i, count).select(plan) for i in range(count)]
    owners = Counter(key for part in parts for key in part)
    assert set(owners) == set(KEYS)
    assert set(owners.values()) == {1}


@pytest.mark.parametrize("count", [2, 3, 4, 5, 7, 8, 16])
def test_shards_get_an_even_share(count: int) -> None:
    # As a fair hash would: each shard's size within 4 standard deviations of the binomial.
    sizes = Counter(bucket(key, count) for key in KEYS)
    mean = len(KEYS) / count
    deviation = math.sqrt(mean * (1 - 1 / count))
    assert set(sizes) == set(range(count))
    assert all(abs(size - mean) < 4 * deviation for size in sizes.values()), sizes


def test_the_hash_is_stable_across_processes_and_releases() -> None:
    # Pinned values: a change here reshuffles every sharded fleet on upgrade.
    assert [bucket(("fast", "arithmetic"), n) for n in range(1, 9)] == [0, 0, 2, 3, 4, 4, 4, 4]
    assert [bucket(("t1", "c7"), n) for n in range(1, 9)] == [0, 0, 0, 0, 0, 0, 0, 7]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 9])
def test_adding_a_shard_moves_only_its_share_and_only_to_it(count: int) -> None:
    moved = [key for key in KEYS if bucket(key, count) != bucket(key, count + 1)]
    assert all(bucket(key, count + 1) == count for key in moved)
    share = len(KEYS) / (count + 1)
    assert abs(len(moved) - share) < 0.2 * share


def test_a_single_shard_owns_everything() -> None:
    assert all(WHOLE.owns(key) for key in KEYS)
    assert str(WHOLE) == "0/1"


@pytest.mark.parametrize(
    ("text", "shard"),
    [("0/1", Shard(0, 1)), ("2/3", Shard(2, 3)), (" 0/16 ", Shard(0, 16))],
)
def test_parse(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard
    assert str(Shard.parse(text)) == text.strip()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/3", "shard index must be in 0..2 for 3 shards, got 3"),
        ("0/0", "shard count must be at least 1, got 0"),
        ("1", "shard wants INDEX/COUNT such as 0/3 (0-based), got '1'"),
        ("-1/3", "shard wants INDEX/COUNT such as 0/3 (0-based), got '-1/3'"),
        ("a/b", "shard wants INDEX/COUNT such as 0/3 (0-based), got 'a/b'"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ShardError) as caught:
        Shard.parse(text)
    assert str(caught.value) == message


def test_auto_takes_the_statefulset_ordinal_and_the_shard_count() -> None:
    env = {"HOSTNAME": "chatcanary-2", "CHATCANARY_SHARDS": "3"}
    assert resolve("auto", env) == Shard(2, 3)
    assert resolve("auto", {"HOSTNAME": "canary-eu-10", "CHATCANARY_SHARDS": "11"}) == Shard(10, 11)
    assert resolve(None, env) == WHOLE
    assert resolve("1/4", env) == Shard(1, 4)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOSTNAME": "chatcanary-0"}, "--shard auto needs CHATCANARY_SHARDS"),
        (
            {"HOSTNAME": "chatcanary-0", "CHATCANARY_SHARDS": "three"},
            "CHATCANARY_SHARDS must be a whole number, got 'three'",
        ),
        (
            {"HOSTNAME": "chatcanary", "CHATCANARY_SHARDS": "3"},
            "--shard auto needs a hostname ending in -ORDINAL",
        ),
        (
            {"HOSTNAME": "chatcanary-3", "CHATCANARY_SHARDS": "3"},
            "shard index must be in 0..2 for 3 shards, got 3",
        ),
    ],
)
def test_auto_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ShardError, match=message):
        resolve("auto", env)


CONFIG = (
    """
defaults: {interval: 1h}
targets:
"""
    + "".join(
        f"  - {{name: t{t}, protocol: openai, base_url: 'http://127.0.0.1:9/v1', model: m}}\n"
        for t in range(3)
    )
    + "canaries:\n"
    + "".join(f"  - {{name: c{c}, prompt: hi}}\n" for c in range(4))
)


async def test_the_service_schedules_only_its_shard_and_says_which_it_is() -> None:
    config = parse_config(CONFIG, "test.yaml")
    everything = set(config.plan())
    seen: set[tuple[str, str]] = set()
    for index in range(3):
        service = Service(config, shard=Shard(index, 3))
        await service.start()
        try:
            keys = set(service.scheduler.keys)
            assert keys == {k for k in everything if bucket(k, 3) == index}
            assert set(service.plan) == keys  # what its page and APIs show
            text = generate_latest(service.registry).decode()
            assert f'chatcanary_shard_info{{shard="{index}",shards="3"}} 1.0' in text
            assert "\nchatcanary_shards 3.0\n" in text
            assert f"chatcanary_canaries_configured {float(len(keys))}" in text
        finally:
            await service.stop(grace=0)
        assert not keys & seen
        seen |= keys
    assert seen == everything
