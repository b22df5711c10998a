"""exporter/result.py: an exchange's server-supplied texts made well-formed and bounded,
and the check verdict's status: derived from `passed` unless given, from a closed set."""

from __future__ import annotations

import pytest

from exporter.result import (
    CUT,
    FIELD_LIMITS,
    HEADER_LIMIT,
    CheckVerdict,
    Exchange,
    cut,
    well_formed,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("\ud800", "\ufffd"),  # JSON's "\ud800"
        ("a\udcffb", "a\ufffdb"),  # a header byte 0xff, as aiohttp decodes it
        ("\udfff\ud800", "\ufffd\ufffd"),  # a pair in the wrong order
        ("émoji 😀 ok", "émoji 😀 ok"),  # a whole character is kept
    ],
    ids=["plain", "high", "escaped-byte", "reversed-pair", "astral"],
)
def test_well_formed_replaces_lone_surrogates(text: str, expected: str) -> None:
    assert well_formed(text) == expected
    well_formed(text).encode("utf-8")  # the point: it encodes


def test_cut_keeps_short_text_and_marks_a_cut() -> None:
    assert cut("abc", 3) == "abc"
    assert cut("abcdef", 4) == "abc" + CUT
    assert len(cut("x" * 10_000, 300)) == 300
    assert cut("x" * 10_000, None) == "x" * 10_000


def test_bounded_cuts_every_server_field_to_its_limit() -> None:
    huge = "z" * 100_000
    exchange = Exchange(
        text=huge,
        refusal=huge,
        error_detail=huge,
        finish_reason=huge,
        response_model=huge,
        system_fingerprint=huge,
        request_id=huge,
        response_id=huge,
        headers={"x-request-id": huge, "server": "ok"},
        prompt=huge,
    )
    bounded = exchange.bounded()
    limits = {
        "refusal": 4096,
        "error_detail": 300,
        "finish_reason": 64,
        "response_model": 256,
        "system_fingerprint": 256,
        "request_id": 256,
        "response_id": 256,
    }
    assert dict(FIELD_LIMITS) == limits  # the documented lengths (docs/security.md)
    for name, limit in limits.items():
        value = getattr(bounded, name)
        assert len(value) == limit and value.endswith(CUT), name
    assert bounded.headers == {"x-request-id": "z" * (HEADER_LIMIT - 1) + CUT, "server": "ok"}
    # the answer is judged whole (max_response_bytes bounds it); the prompt is ours
    assert bounded.text == huge and bounded.prompt == huge


def test_bounded_makes_every_server_field_well_formed() -> None:
    exchange = Exchange(
        text="4\ud8002",
        refusal="\ud800",
        error_detail="bad \udcff",
        finish_reason="\ud800",
        response_model="m\ud800",
        system_fingerprint="\ud800",
        request_id="\udcff\udcfe",
        response_id="\ud800",
        headers={"x-request-id": "\udcff"},
    )
    bounded = exchange.bounded()
    assert bounded.text == "4\ufffd2" and bounded.response_model == "m\ufffd"
    texts = [getattr(bounded, name) for name in ("text", *FIELD_LIMITS)]
    for text in [*texts, *bounded.headers.values()]:
        assert "\ufffd" in text
        text.encode("utf-8")


def test_bounded_returns_the_same_exchange_when_nothing_changes() -> None:
    exchange = Exchange(text="42", response_model="m", headers={"server": "x"})
    assert exchange.bounded() is exchange


def test_status_defaults_from_passed_and_old_constructors_still_work() -> None:
    assert CheckVerdict("contains", True, "found").status == "pass"
    assert CheckVerdict("contains", False, "missing").status == "fail"
    assert CheckVerdict("contains", False, "missing").decided_by == ""


def test_unknown_verdicts_need_not_fail_the_run() -> None:
    verdict = CheckVerdict("coherent", True, "judge timed out", "unknown", "on_judge_error")
    assert (verdict.passed, verdict.status, verdict.decided_by) == (
        True,
        "unknown",
        "on_judge_error",
    )


def test_a_status_outside_the_set_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown check status"):
        CheckVerdict("x", True, "", "maybe")
