"""The check verdict's status: derived from `passed` unless given, from a closed set."""

from __future__ import annotations

import pytest

from exporter.result import CheckVerdict


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
