"""The helpers of exporter/runner.py: refusal verdicts, fingerprints, and the guard that
turns a crash of ours into a recorded result without a secret in it."""

from __future__ import annotations

import logging
import re

import pytest

from exporter.config import RunSpec, parse_config
from exporter.errors import ErrorClass
from exporter.logs import TextFormatter
from exporter.refusal import Verdict, detect_refusal
from exporter.result import Exchange, ProbeResult
from exporter.runner import fingerprint, guarded, refusal_verdict

# --- refusal_verdict ---------------------------------------------------------------------

PLAIN_REFUSAL = "I'm sorry, but I can't help with that request."
PLAIN_ANSWER = "The capital of France is Paris."


@pytest.mark.parametrize(
    ("exchange", "expected"),
    [
        (
            Exchange(refusal="I can't assist with that."),
            Verdict(refused=True, detector="refusal_field", reason="I can't assist with that."),
        ),
        (
            Exchange(refusal="x" * 200),
            Verdict(refused=True, detector="refusal_field", reason="x" * 120),
        ),
        (
            Exchange(refusal="Filtered.", finish_reason="content_filter", text=PLAIN_ANSWER),
            Verdict(refused=True, detector="content_filter", reason="Filtered."),
        ),
        (
            Exchange(finish_reason="content_filter"),
            Verdict(
                refused=True, detector="content_filter", reason="finish_reason: content_filter"
            ),
        ),
        (
            Exchange(finish_reason="content_filter", text=PLAIN_ANSWER),
            Verdict(
                refused=True, detector="content_filter", reason="finish_reason: content_filter"
            ),
        ),
        (
            Exchange(finish_reason="refusal", text="Here is"),
            Verdict(refused=True, detector="stop_reason", reason="stop_reason: refusal"),
        ),
        (Exchange(finish_reason="stop", text=PLAIN_ANSWER), detect_refusal(PLAIN_ANSWER)),
        (Exchange(finish_reason=None, text=""), detect_refusal("")),
    ],
    ids=[
        "refusal-field",
        "refusal-field-reason-capped",
        "content-filter-first",
        "content-filter",
        "content-filter-beats-text",
        "stop-reason-refusal",
        "normal-answer",
        "empty-answer",
    ],
)
def test_refusal_verdict(exchange: Exchange, expected: Verdict) -> None:
    assert refusal_verdict(exchange) == expected


def test_refusal_verdict_falls_back_to_the_text_classifier() -> None:
    verdict = refusal_verdict(Exchange(finish_reason="stop", text=PLAIN_REFUSAL))
    assert verdict.refused
    assert verdict.detector not in {"refusal_field", "content_filter", "stop_reason", "none"}
    assert verdict == detect_refusal(PLAIN_REFUSAL)


@pytest.mark.parametrize("finish_reason", ["stop", "length", "end_turn", "tool_calls", None])
def test_other_finish_reasons_are_not_refusals(finish_reason: str | None) -> None:
    verdict = refusal_verdict(Exchange(finish_reason=finish_reason, text=PLAIN_ANSWER))
    assert not verdict.refused


# --- fingerprint -------------------------------------------------------------------------


def fp(*texts: str) -> str:
    return fingerprint([Exchange(text=t) for t in texts])


def test_fingerprint_is_short_hex_and_stable() -> None:
    first = fp("The answer is 42.")
    assert first == fp("The answer is 42.")
    assert re.fullmatch("[0-9a-f]{16}", first), first  # a label value: 16 lowercase hex


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The answer is 42.", "the ANSWER is 42."),
        ("The answer is 42.", "  The   answer\nis\t42.  "),
        ("Straße", "STRASSE"),
    ],
    ids=["case", "whitespace", "casefold"],
)
def test_fingerprint_folds_case_and_whitespace(a: str, b: str) -> None:
    assert fp(a) == fp(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The answer is 42.", "The answer is 43."),
        ("The answer is 42.", "The answer is 42"),
        ("Paris", "Lyon"),
        ("ab", "a b"),
    ],
    ids=["digit", "punctuation", "word", "space-between-letters"],
)
def test_fingerprint_differs_across_answers(a: str, b: str) -> None:
    assert fp(a) != fp(b)


def test_fingerprint_of_a_conversation_joins_every_turn() -> None:
    both = fp("Seven.", "Fourteen.")
    assert both == fp("seven.", "  FOURTEEN. ")
    assert both != fp("Fourteen.")  # not just the last turn
    assert both != fp("Fourteen.", "Seven.")  # order matters
    assert both != fp("Seven. Fourteen.")  # turn boundaries matter
    assert both != fp("Seven.", "Fifteen.")


# --- guarded: a crash of ours shows no secret ----------------------------------------------

KEY = "sk-crash-0123456789abcdef"
CRASHING = f"""
targets:
  - name: t
    protocol: openai
    base_url: http://127.0.0.1:9/v1
    model: m
    api_key: {KEY}
canaries:
  - name: c
    prompt: hi
"""


async def test_a_crash_carrying_the_key_leaves_it_in_neither_the_result_nor_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = next(iter(parse_config(CRASHING, "crashing.yaml").plan().values()))

    async def crashing(_spec: RunSpec) -> ProbeResult:
        raise ValueError(f"bad header Authorization: Bearer {KEY}")

    with caplog.at_level(logging.ERROR):
        result = await guarded(crashing, spec)
    assert result.error_class is ErrorClass.INTERNAL
    assert result.error_detail == (
        "internal error: ValueError: bad header Authorization: Bearer [redacted]"
    )
    (record,) = [r for r in caplog.records if r.getMessage() == "canary run failed"]
    logged = TextFormatter().format(record)
    assert "crashing" in logged and "ValueError" in logged  # the traceback is there
    assert KEY[:8] not in logged and record.exc_info is None
