"""The bounded verdict cache."""

from __future__ import annotations

from exporter.judges.cache import Bounded, conversation_hash


def key(n: int) -> tuple[str, str, str, str, str]:
    return ("judge", "model", "1", "builtin:coherent", str(n))


def test_keeps_at_most_size_and_drops_the_least_recently_used() -> None:
    cache: Bounded[str] = Bounded(2)
    cache.put(key(1), "a")
    cache.put(key(2), "b")
    assert cache.get(key(1)) == "a"  # 1 is now the most recent
    cache.put(key(3), "c")
    assert len(cache) == 2
    assert cache.get(key(2)) is None
    assert cache.get(key(1)) == "a" and cache.get(key(3)) == "c"


def test_size_zero_keeps_nothing_and_shrinking_drops_the_oldest() -> None:
    off: Bounded[str] = Bounded(0)
    off.put(key(1), "a")
    assert off.get(key(1)) is None
    cache: Bounded[str] = Bounded(3)
    for n in range(3):
        cache.put(key(n), str(n))
    cache.resize(1)
    assert len(cache) == 1 and cache.get(key(2)) == "2"


def test_the_conversation_hash_tells_roles_and_turns_apart() -> None:
    one = conversation_hash([("user", "hi"), ("assistant", "hello")])
    assert one == conversation_hash([("user", "hi"), ("assistant", "hello")])
    assert one != conversation_hash([("assistant", "hi"), ("user", "hello")])
    assert one != conversation_hash([("user", "hi hello")])
