"""Judging answers: exporter/checks.py."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from exporter.checks import JUDGES, judge, judge_all
from exporter.config import CHECK_KINDS, Check
from exporter.result import CheckVerdict, Exchange

CHECK = TypeAdapter(Check)


def check(**fields: Any) -> Check:
    """A check as the config file would spell it."""
    return CHECK.validate_python(fields)


def answer(text: str, ttft: float | None = 0.2) -> list[Exchange]:
    return [Exchange(status=200, text=text, ttft_seconds=ttft, streamed=ttft is not None)]


@pytest.mark.parametrize(
    ("fields", "text", "passed", "reason"),
    [
        ({"contains": "42"}, "The answer is 42.", True, "answer contains '42'"),
        ({"contains": "42"}, "forty-two", False, "answer does not contain '42'"),
        ({"contains": "Paris"}, "paris", False, "answer does not contain 'Paris'"),
        ({"contains": "Paris", "ignore_case": True}, "PARIS!", True, "answer contains 'Paris'"),
        ({"contains": "STRASSE", "ignore_case": True}, "Straße", True, "answer contains 'STRASSE'"),
        ({"contains": "x"}, "", False, "answer does not contain 'x'"),
        (
            {"not_contains": "can't help"},
            "Use kill -9.",
            True,
            'answer does not contain "can\'t help"',
        ),
        ({"not_contains": "can't help"}, "I can't help", False, 'answer contains "can\'t help"'),
        ({"not_contains": "sorry"}, "Sorry, no.", True, "answer does not contain 'sorry'"),
        (
            {"not_contains": "sorry", "ignore_case": True},
            "Sorry, no.",
            False,
            "answer contains 'sorry'",
        ),
        ({"regex": r"^\s*hello\W*$"}, "  hello!", True, r"answer matches /^\s*hello\W*$/"),
        ({"regex": r"^\s*hello\W*$"}, "Hello!", False, r"answer does not match /^\s*hello\W*$/"),
        (
            {"regex": r"^\s*hello\W*$", "ignore_case": True},
            "Hello!",
            True,
            r"answer matches /^\s*hello\W*$/",
        ),
        ({"regex": r"\b42\b"}, "it is 42 exactly", True, r"answer matches /\b42\b/"),
        ({"regex": r"\b42\b"}, "it is 420", False, r"answer does not match /\b42\b/"),
    ],
    ids=[
        "contains",
        "contains-missing",
        "contains-case-sensitive",
        "contains-ignore-case",
        "contains-ignore-case-casefold",
        "contains-empty-answer",
        "not-contains",
        "not-contains-present",
        "not-contains-case-sensitive",
        "not-contains-ignore-case",
        "regex",
        "regex-case-sensitive",
        "regex-ignore-case",
        "regex-search-not-fullmatch",
        "regex-no-match",
    ],
)
def test_text_checks(fields: dict[str, Any], text: str, passed: bool, reason: str) -> None:
    verdict = judge(check(**fields), answer(text), duration=1.0)
    assert verdict == CheckVerdict(name=next(iter(fields)), passed=passed, reason=reason)


def test_text_checks_judge_the_last_turn() -> None:
    turns = [Exchange(text="42"), Exchange(text="no number here")]
    assert not judge(check(contains="42"), turns, 1.0).passed
    assert judge(check(contains="number"), turns, 1.0).passed


def test_text_checks_without_turns_see_an_empty_answer() -> None:
    assert not judge(check(contains="42"), [], 1.0).passed
    assert judge(check(not_contains="42"), [], 1.0).passed
    assert judge(check(regex="^$"), [], 1.0).passed


@pytest.mark.parametrize(
    ("limit", "duration", "passed", "reason"),
    [
        ("2s", 1.5, True, "took 1.500s, limit 2s"),
        ("2s", 2.0, True, "took 2.000s, limit 2s"),
        ("2s", 2.0001, False, "took 2.000s, limit 2s"),
        ("250ms", 0.3, False, "took 0.300s, limit 0.25s"),
        ("1m30s", 45.0, True, "took 45.000s, limit 90s"),
    ],
    ids=["under", "equal", "just-over", "milliseconds", "minutes"],
)
def test_max_duration(limit: str, duration: float, passed: bool, reason: str) -> None:
    verdict = judge(check(max_duration=limit), answer("x", ttft=0.1), duration)
    assert verdict == CheckVerdict(name="max_duration", passed=passed, reason=reason)


def test_max_duration_uses_the_run_duration_not_the_exchange() -> None:
    turns = [Exchange(text="x", duration_seconds=0.1)]
    assert not judge(check(max_duration="1s"), turns, duration=5.0).passed


@pytest.mark.parametrize(
    ("ttft", "passed", "reason"),
    [
        (0.25, True, "first token after 0.250s, limit 0.5s"),
        (0.5, True, "first token after 0.500s, limit 0.5s"),
        (0.75, False, "first token after 0.750s, limit 0.5s"),
    ],
    ids=["under", "equal", "over"],
)
def test_max_ttft(ttft: float, passed: bool, reason: str) -> None:
    verdict = judge(check(max_ttft="500ms"), answer("x", ttft=ttft), duration=9.0)
    assert verdict == CheckVerdict(name="max_ttft", passed=passed, reason=reason)


@pytest.mark.parametrize(
    "turns",
    [answer("a complete answer", ttft=None), []],
    ids=["not-streamed", "no-turns"],
)
def test_max_ttft_without_a_first_token_fails_with_a_reason(turns: list[Exchange]) -> None:
    verdict = judge(check(max_ttft="10s"), turns, duration=0.1)
    assert not verdict.passed
    assert verdict.reason == "no time to first token: the answer was not streamed (stream: false)"


def test_max_ttft_judges_the_first_turn() -> None:
    turns = [Exchange(text="a", ttft_seconds=0.1), Exchange(text="b", ttft_seconds=9.0)]
    assert judge(check(max_ttft="1s"), turns, 10.0).passed


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"contains": "4"}, "contains"),
        ({"contains": "4", "name": "has-four"}, "has-four"),
        ({"not_contains": "x"}, "not_contains"),
        ({"not_contains": "x", "name": "no_x"}, "no_x"),
        ({"regex": "4"}, "regex"),
        ({"regex": "4", "name": "digit"}, "digit"),
        ({"max_duration": "1s"}, "max_duration"),
        ({"max_duration": "1s", "name": "fast"}, "fast"),
        ({"max_ttft": "1s"}, "max_ttft"),
        ({"max_ttft": "1s", "name": "snappy"}, "snappy"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_verdict_name(fields: dict[str, Any], name: str) -> None:
    assert judge(check(**fields), answer("42"), 0.5).name == name


def test_judge_all_keeps_order_and_names() -> None:
    checks = [
        check(contains="42"),
        check(not_contains="sorry", ignore_case=True),
        check(regex=r"^\d+$", name="digits"),
        check(max_duration="1s"),
        check(max_ttft="100ms"),
    ]
    verdicts = judge_all(checks, answer("42", ttft=0.2), duration=0.5)
    assert [(v.name, v.passed) for v in verdicts] == [
        ("contains", True),
        ("not_contains", True),
        ("digits", True),
        ("max_duration", True),
        ("max_ttft", False),
    ]


def test_judge_all_without_checks() -> None:
    assert judge_all([], answer("x"), 1.0) == ()


def test_every_check_kind_has_a_judge() -> None:
    assert sorted(cls.kind for cls in JUDGES) == sorted(CHECK_KINDS)
