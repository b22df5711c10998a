"""Strategies the fuzz tests share: JSON values, cuts of a byte string into reads, and
mutations of valid bytes."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def reads(draw: st.DrawFn, raw: bytes) -> list[bytes]:
    """`raw` cut at arbitrary points into network reads (their concatenation is `raw`)."""
    if raw and draw(st.integers(0, 9)) == 0:
        return [raw[i : i + 1] for i in range(len(raw))]  # one byte per read
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=16)))
    bounds = [0, *cuts, len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def mutated(draw: st.DrawFn, raw: bytes) -> bytes:
    """`raw` with a few bytes flipped, inserted or deleted: almost valid, which reaches
    deeper into a parser than random bytes do."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "insert" or not data:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "flip":
            at = min(at, len(data) - 1)
            data[at] = draw(st.integers(0, 255))
        else:
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a sub-value of a JSON value, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            found += paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found += paths(sub, (*prefix, i))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """`value` with the sub-value at `path` replaced by `new` (a copy)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)
    return copy


@st.composite
def reshaped(draw: st.DrawFn, value: Any) -> Any:
    """A JSON value of the right shape with one part (maybe all) swapped for any JSON."""
    path = draw(st.sampled_from(paths(value)))
    return replaced(value, path, draw(json_values))
