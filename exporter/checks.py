"""Judging an answer: pure functions from a check's config and the run's exchanges to a
`CheckVerdict`. Dispatch is a map from the check's config type to its judge."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from exporter.config import Check, Contains, MaxDuration, MaxTTFT, NotContains, Regex
from exporter.result import CheckVerdict, Exchange

Judge = Callable[[Any, Sequence[Exchange], float], tuple[bool, str]]


def judge(check: Check, turns: Sequence[Exchange], duration: float) -> CheckVerdict:
    passed, reason = JUDGES[type(check)](check, turns, duration)
    return CheckVerdict(name=check.label, passed=passed, reason=reason)


def judge_all(
    checks: Sequence[Check], turns: Sequence[Exchange], duration: float
) -> tuple[CheckVerdict, ...]:
    return tuple(judge(check, turns, duration) for check in checks)


def _answer(turns: Sequence[Exchange]) -> str:
    return turns[-1].text if turns else ""


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


def _contains(check: Contains, turns: Sequence[Exchange], _: float) -> tuple[bool, str]:
    found = _fold(check.contains, check.ignore_case) in _fold(_answer(turns), check.ignore_case)
    return found, f"answer {'contains' if found else 'does not contain'} {check.contains!r}"


def _not_contains(check: NotContains, turns: Sequence[Exchange], _: float) -> tuple[bool, str]:
    needle = _fold(check.not_contains, check.ignore_case)
    found = needle in _fold(_answer(turns), check.ignore_case)
    return not found, f"answer {'contains' if found else 'does not contain'} {check.not_contains!r}"


def _regex(check: Regex, turns: Sequence[Exchange], _: float) -> tuple[bool, str]:
    flags = re.IGNORECASE if check.ignore_case else 0
    found = re.search(check.regex, _answer(turns), flags) is not None
    return found, f"answer {'matches' if found else 'does not match'} /{check.regex}/"


def _max_duration(check: MaxDuration, _: Sequence[Exchange], duration: float) -> tuple[bool, str]:
    ok = duration <= check.max_duration
    return ok, f"took {duration:.3f}s, limit {check.max_duration:g}s"


def _max_ttft(check: MaxTTFT, turns: Sequence[Exchange], _: float) -> tuple[bool, str]:
    ttft = turns[0].ttft_seconds if turns else None
    if ttft is None:
        return False, "no time to first token: the answer was not streamed (stream: false)"
    return ttft <= check.max_ttft, f"first token after {ttft:.3f}s, limit {check.max_ttft:g}s"


JUDGES: dict[type[Any], Judge] = {
    Contains: _contains,
    NotContains: _not_contains,
    Regex: _regex,
    MaxDuration: _max_duration,
    MaxTTFT: _max_ttft,
}
