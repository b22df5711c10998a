"""exporter/jsontext.py: every text decodes as `json.loads` decodes it, or fails as it fails."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter import jsontext


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (1 is not 1.0, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def outcome(decode: Any, text: str) -> tuple[str, Any]:
    try:
        return "value", decode(text)
    except (ValueError, RecursionError) as exc:
        return "error", (type(exc), str(exc))


def assert_as_json(text: str) -> None:
    expected, got = outcome(json.loads, text), outcome(jsontext.loads, text)
    assert expected[0] == got[0], text
    if expected[0] == "value":
        assert same(expected[1], got[1]), text
    else:
        assert expected[1] == got[1], text


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=600)
@given(values, st.booleans())
def test_any_value_as_json_writes_it(value: Any, ascii_only: bool) -> None:
    assert_as_json(json.dumps(value, ensure_ascii=ascii_only))


# pieces of JSON and of what is not quite JSON, shuffled into texts
PIECES = st.sampled_from(
    [
        *'{}[]:,"\\ -+.eE0123456789',
        *("true", "false", "null", "NaN", "Infinity", "\\ud800", "\\u0041", "\ufeff", "\x00"),
        *("1" * 19, "9" * 20, "18446744073709551616", "1e400", '"id"', "é", "\t", "\n"),
    ]
)


@settings(max_examples=1500)
@given(st.lists(PIECES, max_size=14).map("".join))
def test_any_text_as_json_reads_it(text: str) -> None:
    assert_as_json(text)


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "[Infinity, -Infinity]",
        "1e400",
        '"\\ud800"',
        "123456789012345678901",
        "-9223372036854775809",
        "18446744073709551616",
        '{"usage": {"completion_tokens": 100000000000000000000000}}',
        '{"id": "chatcmpl-BENCH0000000000000000000", "n": 1}',
        '{"a": 1, "a": 2}',
        "[" * 5000 + "]" * 5000,
        "\ufeff{}",
        "",
        '{"text": "' + "\ud83d" + '"}',
    ],
)
def test_edges_where_orjson_alone_differs(text: str) -> None:
    assert_as_json(text)


def finite(value: Any) -> Any:
    """The value with every NaN and infinity as None (what `dumps` writes for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    return value


@settings(max_examples=600)
@given(values)
def test_dumps_writes_what_json_reads_back_as_the_value(value: Any) -> None:
    text = jsontext.dumps(value)
    assert same(json.loads(text), finite(value)), text
    text.encode("utf-8")  # a lone surrogate is escaped: the text is valid UTF-8


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": [1, 2.5, None, True]}, '{"a":[1,2.5,null,true]}'),
        ([2**64, "é"], '[18446744073709551616,"\\u00e9"]'),  # beyond 64 bits: `json`
        ({1: "x"}, '{"1":"x"}'),  # a key that is not a string: `json`
        ("\ud800", '"\\ud800"'),  # a lone surrogate: `json`, escaped
        ([float("nan"), float("-inf"), -0.0], "[null,null,-0.0]"),
        ([2**64, float("inf")], "[18446744073709551616,null]"),
        ({"k": "é"}, '{"k":"é"}'),
    ],
)
def test_dumps_at_the_edges(value: Any, expected: str) -> None:
    assert jsontext.dumps(value) == expected
