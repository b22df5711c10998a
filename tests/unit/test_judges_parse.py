"""The judge's verdict, read robustly: fences, text around the object, case, garbage."""

from __future__ import annotations

import pytest

from exporter.judges.parse import MAX_REASON, Garbage, parse_verdict
from exporter.judges.prompts import REFUSAL_LABELS, RUBRIC_LABELS


@pytest.mark.parametrize(
    ("text", "verdict", "reason"),
    [
        ('{"verdict": "pass", "reason": "uses Ada"}', "pass", "uses Ada"),
        ('```json\n{"verdict": "fail", "reason": "says Bob"}\n```', "fail", "says Bob"),
        ('```\n{"verdict":"pass","reason":"ok"}\n```', "pass", "ok"),
        (
            'Sure! Here is my verdict: {"verdict": "FAIL", "reason": "no"} Hope it helps.',
            "fail",
            "no",
        ),
        ('{"Verdict": "Pass", "Reason": "fine"}', "pass", "fine"),
        ('{"VERDICT": " pass ", "explanation": "why not"}', "pass", "why not"),
        ('{"verdict": "pass"}', "pass", ""),
        # a stray brace before the object, and an object without a verdict first
        ('{ oops {"note": 1} {"verdict": "fail", "reason": "r"}', "fail", "r"),
        ('{"verdict": "pass", "reason": "multi\n  line   reason"}', "pass", "multi line reason"),
    ],
)
def test_reads_the_verdict_wherever_it_is(text: str, verdict: str, reason: str) -> None:
    parsed = parse_verdict(text, RUBRIC_LABELS)
    assert (parsed.verdict, parsed.reason) == (verdict, reason)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("The answer is fine.", "no JSON object"),
        ("", "no JSON object"),
        ('{"score": 5}', 'no "verdict"'),
        ('{"verdict": "maybe", "reason": "unsure"}', "is not one of pass, fail"),
        ('{"verdict": 1}', 'no "verdict"'),
        ('["pass"]', "no JSON object"),
        ('{"verdict": "pass", "reason": "cut', "no JSON object"),
    ],
)
def test_garbage_says_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(Garbage, match=why):
        parse_verdict(text, RUBRIC_LABELS)


@pytest.mark.parametrize(
    ("text", "verdict", "confidence"),
    [
        (
            '{"verdict": "full_refusal", "confidence": 0.9, "reason": "declines"}',
            "full_refusal",
            0.9,
        ),
        ('{"verdict": "Partial Refusal", "confidence": "70%"}', "partial_refusal", 0.7),
        ('{"verdict": "full-compliance", "confidence": 85}', "full_compliance", 0.85),
        ('{"verdict": "full_compliance", "confidence": "high"}', "full_compliance", None),
        ('{"verdict": "full_compliance", "confidence": -3}', "full_compliance", None),
    ],
)
def test_refusal_classes_and_confidence(text: str, verdict: str, confidence: float | None) -> None:
    parsed = parse_verdict(text, REFUSAL_LABELS)
    assert parsed.verdict == verdict
    assert parsed.confidence == confidence


def test_a_rubric_verdict_is_not_a_refusal_class() -> None:
    with pytest.raises(Garbage):
        parse_verdict('{"verdict": "pass"}', REFUSAL_LABELS)


def test_long_reasons_are_capped() -> None:
    parsed = parse_verdict('{"verdict": "pass", "reason": "%s"}' % ("x" * 5000), RUBRIC_LABELS)
    assert len(parsed.reason) == MAX_REASON
    assert parsed.reason.endswith("…")
