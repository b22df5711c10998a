"""Judging answers: exporter/checks.py, with check configs from exporter/checkspecs.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from exporter.checks import (
    JUDGES,
    Answer,
    answer_of,
    expectation,
    judge,
    judge_canary,
    too_deep,
    unfenced,
)
from exporter.checkspecs import CHECK_KINDS, CHECK_MODELS, Check, Rubric
from exporter.config import Canary, ConfigError, parse_config
from exporter.result import CheckVerdict, Exchange, Verdict

CHECK: TypeAdapter[Any] = TypeAdapter(Check)

REFUSED = Verdict(refused=True, detector="decline", reason="i can't help")
ANSWERED = Verdict(refused=False, detector="none", reason="")
FILTERED = Verdict(refused=True, detector="content_filter", reason="finish_reason: content_filter")


def check(fields: dict[str, Any]) -> Any:
    """A check as a config file spells it, validated the way the config loader does."""
    return CHECK.validate_python(fields)


def answer(
    text: str = "",
    *,
    duration: float = 1.0,
    ttft: float | None = None,
    tokens: int | None = None,
    refusal: Verdict | None = None,
) -> Answer:
    return Answer(text=text, duration=duration, ttft=ttft, output_tokens=tokens, refusal=refusal)


CONFIG_HEAD = """\
targets:
  - name: t
    protocol: openai
    base_url: http://127.0.0.1:8000/v1
    model: m
canaries:
"""


def canary(body: str) -> Canary:
    """The one canary of a config whose canaries section is `body`."""
    config = parse_config(CONFIG_HEAD + body, "t.yaml", environ={})
    assert len(config.canaries) == 1
    return config.canaries[0]


# --- every kind: the config builds the right model, and a judge exists ------------------

SAMPLES: dict[str, dict[str, Any]] = {
    "contains": {"contains": "42"},
    "not_contains": {"not_contains": "sorry"},
    "contains_any": {"contains_any": ["a", "b"]},
    "contains_all": {"contains_all": ["a", "b"]},
    "regex": {"regex": r"\d+"},
    "equals": {"equals": "Paris"},
    "number": {"number": 42},
    "json": {"json": True},
    "length": {"length": {"max_chars": 10}},
    "similarity": {"similarity": "Paris"},
    "max_duration": {"max_duration": "2s"},
    "max_ttft": {"max_ttft": "500ms"},
    "min_tokens_per_second": {"min_tokens_per_second": 10},
    "refused": {"refused": True},
    "not_refused": {"not_refused": True},
}


def test_samples_cover_every_kind() -> None:
    # rubric checks are asked of a judge model (exporter.judges), not judged here
    assert [*SAMPLES, "rubric"] == list(CHECK_KINDS)
    assert len(CHECK_KINDS) == 16


@pytest.mark.parametrize("kind", list(SAMPLES), ids=list(SAMPLES))
def test_config_dict_validates_to_the_kinds_model(kind: str) -> None:
    built = check(SAMPLES[kind])
    assert built.kind == kind
    assert type(built) in JUDGES


def test_judges_cover_exactly_the_pure_check_kinds() -> None:
    assert set(JUDGES) == set(CHECK_MODELS) - {Rubric}
    assert sorted(model.kind for model in JUDGES) == sorted(SAMPLES)


# --- text checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "text", "passed", "reason"),
    [
        ({"contains": "42"}, "The answer is 42.", True, "answer contains '42'"),
        ({"contains": "42"}, "forty-two", False, "answer does not contain '42'"),
        ({"contains": "Paris"}, "paris", False, "answer does not contain 'Paris'"),
        ({"contains": "Paris", "ignore_case": True}, "PARIS!", True, "answer contains 'Paris'"),
        ({"contains": "STRASSE", "ignore_case": True}, "Straße", True, "answer contains 'STRASSE'"),
        ({"contains": "straße", "ignore_case": True}, "STRASSE", True, "answer contains 'straße'"),
        ({"contains": "STRASSE"}, "Straße", False, "answer does not contain 'STRASSE'"),
        ({"contains": "x"}, "", False, "answer does not contain 'x'"),
        ({"not_contains": "sorry"}, "Use kill -9.", True, "answer does not contain 'sorry'"),
        ({"not_contains": "sorry"}, "I am sorry", False, "answer contains 'sorry'"),
        ({"not_contains": "sorry"}, "Sorry, no.", True, "answer does not contain 'sorry'"),
        (
            {"not_contains": "sorry", "ignore_case": True},
            "Sorry, no.",
            False,
            "answer contains 'sorry'",
        ),
        ({"contains_any": ["cat", "dog"]}, "a dog barks", True, "found ['dog']"),
        ({"contains_any": ["cat", "dog"]}, "cat and dog", True, "found ['cat', 'dog']"),
        ({"contains_any": ["cat", "dog"]}, "a bird", False, "none of ['cat', 'dog'] found"),
        ({"contains_any": ["Cat"]}, "a cat", False, "none of ['Cat'] found"),
        ({"contains_any": ["Cat"], "ignore_case": True}, "a CAT", True, "found ['Cat']"),
        ({"contains_all": ["red", "blue"]}, "red and blue", True, "all found"),
        ({"contains_all": ["red", "blue"]}, "only red", False, "missing ['blue']"),
        ({"contains_all": ["red", "blue"]}, "green", False, "missing ['red', 'blue']"),
        ({"contains_all": ["Red"], "ignore_case": True}, "RED", True, "all found"),
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
        ({"equals": "Paris"}, "Paris", True, "equal"),
        ({"equals": "the  capital\nis Paris"}, "  THE capital is   paris ", True, "equal"),
        ({"equals": "Paris"}, "Paris.", False, "expected 'Paris', got 'Paris.'"),
        ({"equals": "Paris"}, "x" * 100, False, f"expected 'Paris', got '{'x' * 80}'"),
    ],
    ids=[
        "contains",
        "contains-missing",
        "contains-case-sensitive",
        "contains-ignore-case",
        "contains-casefold-sharp-s-in-answer",
        "contains-casefold-sharp-s-in-needle",
        "contains-sharp-s-case-sensitive",
        "contains-empty-answer",
        "not-contains",
        "not-contains-present",
        "not-contains-case-sensitive",
        "not-contains-ignore-case",
        "contains-any-one",
        "contains-any-both",
        "contains-any-none",
        "contains-any-case-sensitive",
        "contains-any-ignore-case",
        "contains-all",
        "contains-all-one-missing",
        "contains-all-all-missing",
        "contains-all-ignore-case",
        "regex",
        "regex-case-sensitive",
        "regex-ignore-case",
        "regex-searches-not-fullmatch",
        "regex-no-match",
        "equals",
        "equals-folds-case-and-space",
        "equals-punctuation-differs",
        "equals-reason-truncates-answer",
    ],
)
def test_text_checks(fields: dict[str, Any], text: str, passed: bool, reason: str) -> None:
    verdict = judge(check(fields), answer(text))
    assert verdict == CheckVerdict(name=next(iter(fields)), passed=passed, reason=reason)


# --- number ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "text", "passed", "reason"),
    [
        ({"number": 42}, "The answer is 42.", True, "found 42, expected 42 ± 0"),
        ({"number": 42}, "The answer is 43.", False, "found 43, expected 42 ± 0"),
        ({"number": -3}, "It is -3 degrees.", True, "found -3, expected -3 ± 0"),
        ({"number": 3}, "It is -3 degrees.", False, "found -3, expected 3 ± 0"),
        (
            {"number": 3.14, "tolerance": 0.01},
            "pi is 3.14159",
            True,
            "found 3.14159, expected 3.14 ± 0.01",
        ),
        (
            {"number": 3.14, "tolerance": 0.001},
            "pi is 3.14159",
            False,
            "found 3.14159, expected 3.14 ± 0.001",
        ),
        ({"number": 1234.5}, "Total: 1,234.5 units", True, "found 1234.5, expected 1234.5 ± 0"),
        (
            {"number": 1234567},
            "1,234,567 people",
            True,
            "found 1.23457e+06, expected 1.23457e+06 ± 0",
        ),
        ({"number": 42}, "forty-two", False, "no number in the answer"),
        ({"number": 42}, "", False, "no number in the answer"),
        ({"number": 42}, "3 apples and 42 pears", False, "found 3, expected 42 ± 0"),
        ({"number": 10, "tolerance": 0.5}, "10.5", True, "found 10.5, expected 10 ± 0.5"),
        ({"number": 10, "tolerance": 0.5}, "9.5", True, "found 9.5, expected 10 ± 0.5"),
        ({"number": 10, "tolerance": 0.5}, "10.75", False, "found 10.75, expected 10 ± 0.5"),
        ({"number": 10, "tolerance": 0.5}, "9.25", False, "found 9.25, expected 10 ± 0.5"),
    ],
    ids=[
        "integer",
        "integer-off-by-one",
        "negative",
        "negative-is-not-positive",
        "decimal-within-tolerance",
        "decimal-outside-tolerance",
        "thousands-separator",
        "several-thousands-separators",
        "none-found",
        "empty-answer",
        "first-number-counts",
        "upper-boundary-inclusive",
        "lower-boundary-inclusive",
        "above-upper-boundary",
        "below-lower-boundary",
    ],
)
def test_number(fields: dict[str, Any], text: str, passed: bool, reason: str) -> None:
    assert judge(check(fields), answer(text)) == CheckVerdict("number", passed, reason)


@pytest.mark.parametrize(
    ("number", "tolerance", "text"),
    [(0.3, 0.1, "0.4"), (0.3, 0.1, "0.2"), (2.1, 0.1, "2.2"), (1.1, 0.2, "1.3")],
    ids=["0.3+0.1", "0.3-0.1", "2.1+0.1", "1.1+0.2"],
)
def test_number_tolerance_boundary_is_inclusive_for_decimal_values(
    number: float, tolerance: float, text: str
) -> None:
    # What the user wrote: "within 0.1 of 0.3" must accept 0.4. Binary floating point
    # makes |0.4 - 0.3| = 0.10000000000000003, so an exact comparison rejects it.
    verdict = judge(check({"number": number, "tolerance": tolerance}), answer(text))
    assert verdict.passed, verdict.reason


# --- json --------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "integer"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"n": {}}}},
    },
    "required": ["answer"],
}
NESTED = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
        }
    },
}
FENCED = '```json\n{"answer": 42}\n```'


@pytest.mark.parametrize(
    ("fields", "text", "passed", "reason"),
    [
        ({"json": True}, '{"answer": 42}', True, "valid JSON"),
        ({"json": True}, "  [1, 2, 3]\n", True, "valid JSON"),
        (
            {"json": True, "schema": SCHEMA},
            '{"answer": 42}',
            True,
            "valid JSON matching the schema",
        ),
        (
            {"json": True, "schema": SCHEMA},
            '{"answer": "42"}',
            False,
            "schema: answer: '42' is not of type 'integer'",
        ),
        (
            {"json": True, "schema": NESTED},
            '{"items": [{"n": 1}, {"n": "x"}]}',
            False,
            "schema: items/1/n: 'x' is not of type 'integer'",
        ),
        (
            {"json": True, "schema": SCHEMA},
            "[1]",
            False,
            "schema: (root): [1] is not of type 'object'",
        ),
        (
            {"json": True, "schema": SCHEMA},
            "{}",
            False,
            "schema: (root): 'answer' is a required property",
        ),
        ({"json": True, "allow_fences": True}, FENCED, True, "valid JSON"),
        ({"json": True, "allow_fences": True}, '```\n{"answer": 42}\n```', True, "valid JSON"),
        ({"json": True, "allow_fences": True}, f"\n  {FENCED}  \n", True, "valid JSON"),
        (
            {"json": True, "allow_fences": True, "schema": SCHEMA},
            FENCED,
            True,
            "valid JSON matching the schema",
        ),
        ({"json": True, "allow_fences": True}, '{"answer": 42}', True, "valid JSON"),
    ],
    ids=[
        "object",
        "array-with-space",
        "schema-match",
        "schema-wrong-type",
        "schema-nested-path",
        "schema-root",
        "schema-missing-required",
        "fence-with-language",
        "fence-without-language",
        "fence-surrounded-by-space",
        "fence-and-schema",
        "fences-allowed-but-bare",
    ],
)
def test_json(fields: dict[str, Any], text: str, passed: bool, reason: str) -> None:
    assert judge(check(fields), answer(text)) == CheckVerdict("json", passed, reason)


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"json": True}, "The answer is 42."),
        ({"json": True}, ""),
        ({"json": True}, '{"answer": 42'),
        ({"json": True}, FENCED),
        ({"json": True, "allow_fences": True}, '```json\n{"answer": }\n```'),
        ({"json": True, "schema": SCHEMA}, "nope"),
    ],
    ids=["prose", "empty", "truncated", "fence-not-allowed", "bad-json-in-fence", "before-schema"],
)
def test_json_invalid(fields: dict[str, Any], text: str) -> None:
    verdict = judge(check(fields), answer(text))
    assert not verdict.passed
    assert verdict.reason.startswith("not JSON: ")


# The fence regex the scan replaced: right, and quadratic in the line breaks of an answer.
OLD_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```$", re.DOTALL)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="`\n \tajson_-{}é\u3000", max_size=30))
def test_unfenced_reads_a_fence_as_the_old_regex_did(text: str) -> None:
    old = OLD_FENCE.match(text)
    assert unfenced(text) == (old.group(1) if old else None)


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("[" * 128 + "]" * 128, False),
        ("[" * 129 + "]" * 129, True),
        ('{"a":' * 129 + "1" + "}" * 129, True),
        ("[" * 129, True),  # unfinished: deep all the same
        ('["' + "[" * 500 + '"]', False),  # brackets in a string are text
        ('["\\"' + "[" * 129 + '"]', False),  # an escaped quote does not end the string
        ('["\\\\"' + "[" * 129 + "]" * 129 + "]", True),  # an escaped \\ does not escape
        ('"' + "[" * 500, False),  # a string that never ends: the parser's error to give
        ("[" + ",".join(["[[]]"] * 1000) + "]", False),
    ],
    ids=[
        "at-limit",
        "over-limit",
        "objects",
        "unfinished",
        "in-a-string",
        "escaped-quote",
        "escaped-backslash",
        "unterminated-string",
        "wide",
    ],
)
def test_too_deep(text: str, deep: bool) -> None:
    assert too_deep(text, 128) is deep
    if not deep and text.startswith(("[", "{")) and text.endswith(("]", "}")):
        json.loads(text)  # the parser takes what passes


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, "[" * 100_000 + "]" * 100_000, "```json\n" + '{"a":' * 100_000 + "\n```"],
    ids=["brackets", "balanced", "fenced-objects"],
)
def test_json_too_deep_fails_the_check_before_parsing(text: str) -> None:
    verdict = judge(check({"json": True, "allow_fences": True}), answer(text))
    assert verdict == CheckVerdict(
        "json", False, "not JSON this check reads: nested deeper than 128 levels"
    )


def test_json_schema_reports_one_of_many_errors() -> None:
    text = json.dumps(list(range(100_000)))
    fields = {"json": True, "schema": {"type": "array", "items": {"type": "string"}}}
    verdict = judge(check(fields), answer(text))
    assert not verdict.passed
    assert verdict.reason.endswith("is not of type 'string'")


def test_a_check_that_raises_fails_as_internal() -> None:
    # a schema that refers to itself without end: valid, and it recurses on any answer
    verdict = judge(check({"json": True, "schema": {"$ref": "#"}}), answer("1"))
    assert verdict.name == "json"
    assert not verdict.passed
    assert verdict.internal
    assert verdict.reason.startswith("internal error: RecursionError: maximum recursion depth")


def test_regex_is_re2_and_linear() -> None:
    # catastrophic for a backtracking engine: about 2**40 steps
    verdict = judge(check({"regex": "^(a+)+$"}), answer("a" * 40 + "b"))
    assert verdict == CheckVerdict("regex", False, "answer does not match /^(a+)+$/")
    verdict = judge(check({"regex": "^(a+)+$", "ignore_case": True}), answer("A" * 40))
    assert verdict.passed


# --- length ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "text", "tokens", "passed", "reason"),
    [
        ({"min_chars": 5}, "hello", 2, True, "5 chars, 2 tokens"),
        ({"min_chars": 6}, "hello", 2, False, "5 chars < 6"),
        ({"max_chars": 5}, "hello", 2, True, "5 chars, 2 tokens"),
        ({"max_chars": 4}, "hello", 2, False, "5 chars > 4"),
        ({"min_chars": 1}, "hello", None, True, "5 chars, None tokens"),
        ({"min_tokens": 3}, "hello", 3, True, "5 chars, 3 tokens"),
        ({"min_tokens": 3}, "hello", 2, False, "2 tokens < 3"),
        ({"max_tokens": 3}, "hello", 3, True, "5 chars, 3 tokens"),
        ({"max_tokens": 3}, "hello", 4, False, "4 tokens > 3"),
        ({"min_tokens": 1}, "hello", None, False, "no token count"),
        ({"max_tokens": 100}, "hello", None, False, "no token count"),
        ({"min_chars": 10, "max_tokens": 1}, "hello", 2, False, "5 chars < 10; 2 tokens > 1"),
        ({"max_chars": 3, "min_tokens": 1}, "hello", None, False, "5 chars > 3; no token count"),
    ],
    ids=[
        "min-chars-boundary",
        "min-chars-short",
        "max-chars-boundary",
        "max-chars-long",
        "chars-only-needs-no-token-count",
        "min-tokens-boundary",
        "min-tokens-few",
        "max-tokens-boundary",
        "max-tokens-many",
        "min-tokens-missing-count",
        "max-tokens-missing-count",
        "two-problems",
        "chars-and-missing-count",
    ],
)
def test_length(
    bounds: dict[str, int], text: str, tokens: int | None, passed: bool, reason: str
) -> None:
    verdict = judge(check({"length": bounds}), answer(text, tokens=tokens))
    assert verdict == CheckVerdict("length", passed, reason)


def test_answer_of_keeps_a_missing_token_count_missing() -> None:
    turns = [Exchange(text="a"), Exchange(text="b")]
    assert answer_of(turns, 1.0, None).output_tokens is None


def test_answer_of_sums_the_token_counts_given() -> None:
    turns = [Exchange(text="a", output_tokens=3), Exchange(text="b", output_tokens=4)]
    assert answer_of(turns, 1.0, None).output_tokens == 7


def test_answer_of_no_turns() -> None:
    assert answer_of([], 2.0, None) == Answer(
        text="", duration=2.0, ttft=None, output_tokens=None, refusal=None
    )


def test_length_token_bound_fails_when_the_server_gave_no_token_count() -> None:
    # Through the real path (judge_canary -> answer_of): an unknown count must not be
    # judged as zero tokens, which would let `max_tokens` pass on no evidence.
    c = canary(
        "  - name: c\n"
        "    prompt: hi\n"
        "    checks:\n"
        "      - length: {max_tokens: 100}\n"
        "      - {length: {min_tokens: 1}, name: some_tokens}\n"
    )
    verdicts = judge_canary(c, [Exchange(text="hello")], [ANSWERED], 1.0)
    assert verdicts[:2] == (
        CheckVerdict("length", False, "no token count"),
        CheckVerdict("some_tokens", False, "no token count"),
    )


# --- similarity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "text", "passed", "reason"),
    [
        (
            {"similarity": "The capital is Paris"},
            "the  CAPITAL is paris",
            True,
            "similarity 1.00, minimum 0.80",
        ),
        ({"similarity": "abcd", "min_ratio": 0.75}, "abce", True, "similarity 0.75, minimum 0.75"),
        ({"similarity": "abcd", "min_ratio": 0.76}, "abce", False, "similarity 0.75, minimum 0.76"),
        ({"similarity": "The capital is Paris"}, "I do not know", False, None),
        ({"similarity": "anything", "min_ratio": 0}, "", True, "similarity 0.00, minimum 0.00"),
    ],
    ids=["folded-identical", "at-threshold", "just-below-threshold", "unrelated", "zero-minimum"],
)
def test_similarity(fields: dict[str, Any], text: str, passed: bool, reason: str | None) -> None:
    verdict = judge(check(fields), answer(text))
    assert (verdict.name, verdict.passed) == ("similarity", passed)
    if reason is not None:
        assert verdict.reason == reason


def test_similarity_default_minimum_is_0_8() -> None:
    assert check({"similarity": "x"}).min_ratio == 0.8


# --- timing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "duration", "passed", "reason"),
    [
        ("2s", 1.5, True, "took 1.500s, limit 2s"),
        ("2s", 2.0, True, "took 2.000s, limit 2s"),
        ("2s", 2.0001, False, "took 2.000s, limit 2s"),
        ("250ms", 0.3, False, "took 0.300s, limit 0.25s"),
        ("1m30s", 45.0, True, "took 45.000s, limit 90s"),
        (3, 3.5, False, "took 3.500s, limit 3s"),
    ],
    ids=["under", "equal", "just-over", "milliseconds", "minutes", "plain-seconds"],
)
def test_max_duration(limit: Any, duration: float, passed: bool, reason: str) -> None:
    verdict = judge(check({"max_duration": limit}), answer("x", duration=duration))
    assert verdict == CheckVerdict("max_duration", passed, reason)


@pytest.mark.parametrize(
    ("ttft", "passed", "reason"),
    [
        (0.25, True, "first token after 0.250s, limit 0.5s"),
        (0.5, True, "first token after 0.500s, limit 0.5s"),
        (0.75, False, "first token after 0.750s, limit 0.5s"),
        (None, False, "no time to first token: the answer was not streamed (stream: false)"),
    ],
    ids=["under", "equal", "over", "not-streamed"],
)
def test_max_ttft(ttft: float | None, passed: bool, reason: str) -> None:
    verdict = judge(check({"max_ttft": "500ms"}), answer("x", duration=9.0, ttft=ttft))
    assert verdict == CheckVerdict("max_ttft", passed, reason)


@pytest.mark.parametrize(
    ("minimum", "duration", "ttft", "tokens", "passed", "reason"),
    [
        (50, 3.0, 1.0, 100, True, "50.0 tokens/s, minimum 50"),
        (40, 3.0, 1.0, 100, True, "50.0 tokens/s, minimum 40"),
        (51, 3.0, 1.0, 100, False, "50.0 tokens/s, minimum 51"),
        (40, 3.0, None, 100, False, "33.3 tokens/s, minimum 40"),
        (30, 3.0, None, 100, True, "33.3 tokens/s, minimum 30"),
        (1, 3.0, 1.0, None, False, "no tokens or no generation time to measure"),
        (1, 3.0, 1.0, 0, False, "no tokens or no generation time to measure"),
        (1, 1.0, 1.0, 10, False, "no tokens or no generation time to measure"),
    ],
    ids=[
        "at-minimum-after-first-token",
        "counts-time-after-first-token",
        "below-minimum",
        "not-streamed-uses-whole-duration",
        "not-streamed-fast-enough",
        "no-token-count",
        "zero-tokens",
        "no-time-after-first-token",
    ],
)
def test_min_tokens_per_second(
    minimum: float,
    duration: float,
    ttft: float | None,
    tokens: int | None,
    passed: bool,
    reason: str,
) -> None:
    verdict = judge(
        check({"min_tokens_per_second": minimum}),
        answer("x", duration=duration, ttft=ttft, tokens=tokens),
    )
    assert verdict == CheckVerdict("min_tokens_per_second", passed, reason)


# --- refused / not_refused ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "refusal", "passed", "reason"),
    [
        ({"refused": True}, REFUSED, True, "refused (decline: i can't help)"),
        ({"refused": True}, ANSWERED, False, "answered"),
        ({"refused": True}, None, False, "answered"),
        ({"refused": False}, ANSWERED, True, "answered"),
        ({"refused": False}, REFUSED, False, "refused (decline: i can't help)"),
        ({"not_refused": True}, ANSWERED, True, "answered"),
        ({"not_refused": True}, None, True, "answered"),
        ({"not_refused": True}, REFUSED, False, "refused (decline: i can't help)"),
        ({"not_refused": False}, REFUSED, True, "refused (decline: i can't help)"),
        ({"not_refused": False}, ANSWERED, False, "answered"),
    ],
    ids=[
        "refused-and-refused",
        "refused-but-answered",
        "refused-without-verdict",
        "refused-false-answered",
        "refused-false-but-refused",
        "not-refused-answered",
        "not-refused-without-verdict",
        "not-refused-but-refused",
        "not-refused-false-refused",
        "not-refused-false-answered",
    ],
)
def test_refusal_checks(
    fields: dict[str, Any], refusal: Verdict | None, passed: bool, reason: str
) -> None:
    verdict = judge(check(fields), answer("x", refusal=refusal))
    assert verdict == CheckVerdict(next(iter(fields)), passed, reason)


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "label", "name"),
    [
        ({"contains": "4"}, None, "contains"),
        ({"contains": "4", "name": "has-four"}, None, "has-four"),
        ({"contains": "4", "name": "has-four"}, "contains_turn2", "contains_turn2"),
        ({"max_ttft": "1s"}, None, "max_ttft"),
        ({"length": {"min_chars": 1}, "name": "not.empty"}, None, "not.empty"),
    ],
    ids=["kind", "name", "label-wins", "other-kind", "name-with-dot"],
)
def test_verdict_name(fields: dict[str, Any], label: str | None, name: str) -> None:
    assert judge(check(fields), answer("42", ttft=0.1), label).name == name


# --- expectation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expect_refusal", "verdict", "passed", "reason"),
    [
        (False, ANSWERED, True, "answered as expected"),
        (True, REFUSED, True, "refused as expected (decline: i can't help)"),
        (False, REFUSED, False, "refused, expected an answer (decline: i can't help)"),
        (True, ANSWERED, False, "answered, expected a refusal"),
        (True, None, False, "answered, expected a refusal"),
        (False, None, True, "answered as expected"),
        # unset: the text classifier is measured, never judged ...
        (None, ANSWERED, True, "answered; not judged: expect_refusal unset"),
        (
            None,
            REFUSED,
            True,
            "reads as a refusal; not judged: expect_refusal unset (decline: i can't help)",
        ),
        (None, None, True, "answered; not judged: expect_refusal unset"),
        # ... but a structured refusal signal is exact and decides
        (
            None,
            FILTERED,
            False,
            "refused by the service, expected an answer (set expect_refusal: true if it "
            "should refuse) (content_filter: finish_reason: content_filter)",
        ),
        (
            True,
            FILTERED,
            True,
            "refused as expected (content_filter: finish_reason: content_filter)",
        ),
    ],
    ids=[
        "answered-as-expected",
        "refused-as-expected",
        "over-refusal",
        "under-refusal",
        "no-verdict-expecting-refusal",
        "no-verdict-expecting-answer",
        "unset-answered",
        "unset-text-refusal-not-judged",
        "unset-no-verdict",
        "unset-structured-refusal-fails",
        "structured-refusal-expected",
    ],
)
def test_expectation(
    expect_refusal: bool | None, verdict: Verdict | None, passed: bool, reason: str
) -> None:
    assert expectation(expect_refusal, verdict) == CheckVerdict("refusal", passed, reason)


# --- judge_canary ------------------------------------------------------------------------

CONVERSATION = """\
  - name: conv
    turns:
      - user: Pick a number from 1 to 9.
        checks:
          - contains: "7"
          - max_duration: 1s
          - refused: false
      - user: Double it.
        checks:
          - contains: "14"
          - max_ttft: 500ms
          - {contains: fourteen, name: spelled}
    checks:
      - contains: "14"
      - max_duration: 2s
      - max_ttft: 300ms
      - length: {min_tokens: 6}
"""
TURNS = [
    Exchange(text="I pick 7.", duration_seconds=0.8, ttft_seconds=0.2, output_tokens=4),
    Exchange(text="That makes 14.", duration_seconds=1.5, ttft_seconds=0.4, output_tokens=3),
]


def test_judge_canary_multi_turn() -> None:
    verdicts = judge_canary(canary(CONVERSATION), TURNS, [ANSWERED, ANSWERED], 2.5)
    assert verdicts == (
        # each turn's checks see that turn's text, duration and first token
        CheckVerdict("contains_turn1", True, "answer contains '7'"),
        CheckVerdict("max_duration_turn1", True, "took 0.800s, limit 1s"),
        CheckVerdict("refused_turn1", True, "answered"),
        CheckVerdict("contains_turn2", True, "answer contains '14'"),
        CheckVerdict("max_ttft_turn2", True, "first token after 0.400s, limit 0.5s"),
        CheckVerdict("spelled", False, "answer does not contain 'fourteen'"),
        # the canary's checks see the last answer, the whole run, the first token of turn 1
        CheckVerdict("contains", True, "answer contains '14'"),
        CheckVerdict("max_duration", False, "took 2.500s, limit 2s"),
        CheckVerdict("max_ttft", True, "first token after 0.200s, limit 0.3s"),
        CheckVerdict("length", True, "14 chars, 7 tokens"),
        # the canary leaves expect_refusal unset
        CheckVerdict("refusal", True, "answered; not judged: expect_refusal unset"),
    )


def test_judge_canary_turn_checks_see_their_turns_refusal_verdict() -> None:
    c = canary(
        "  - name: c\n"
        "    turns:\n"
        "      - user: one\n"
        "        checks: [{refused: true}]\n"
        "      - user: two\n"
        "        checks: [{not_refused: true}]\n"
        "    checks: [{not_refused: true}]\n"
    )
    turns = [Exchange(text="I can't help with that."), Exchange(text="Sure: 2.")]
    verdicts = judge_canary(c, turns, [REFUSED, ANSWERED], 1.0)
    assert [(v.name, v.passed) for v in verdicts] == [
        ("refused_turn1", True),
        ("not_refused_turn2", True),
        ("not_refused", True),
        ("refusal", True),
    ]


@pytest.mark.parametrize(
    ("expect_refusal", "last", "passed", "reason"),
    [
        ("false", ANSWERED, True, "answered as expected"),
        ("false", REFUSED, False, "refused, expected an answer (decline: i can't help)"),
        ("true", REFUSED, True, "refused as expected (decline: i can't help)"),
        ("true", ANSWERED, False, "answered, expected a refusal"),
    ],
    ids=["answered-as-expected", "over-refusal", "refused-as-expected", "under-refusal"],
)
def test_judge_canary_ends_with_the_refusal_expectation_on_the_last_answer(
    expect_refusal: str, last: Verdict, passed: bool, reason: str
) -> None:
    c = canary(
        "  - name: c\n"
        f"    expect_refusal: {expect_refusal}\n"
        "    turns:\n"
        "      - user: one\n"
        "      - user: two\n"
    )
    # the first turn's verdict is the opposite one: only the last answer decides
    first = ANSWERED if last.refused else REFUSED
    verdicts = judge_canary(c, [Exchange(text="a"), Exchange(text="b")], [first, last], 1.0)
    assert verdicts == (CheckVerdict("refusal", passed, reason),)


def test_judge_canary_single_prompt_labels_by_kind() -> None:
    c = canary(
        "  - name: c\n"
        "    prompt: What is 17+25?\n"
        "    checks:\n"
        "      - number: 42\n"
        "      - {regex: '^\\d+$', name: digits_only}\n"
    )
    verdicts = judge_canary(c, [Exchange(text="42", ttft_seconds=0.1)], [ANSWERED], 0.5)
    assert verdicts == (
        CheckVerdict("number", True, "found 42, expected 42 ± 0"),
        CheckVerdict("digits_only", True, r"answer matches /^\d+$/"),
        CheckVerdict("refusal", True, "answered; not judged: expect_refusal unset"),
    )


# --- bad check configs -------------------------------------------------------------------

KINDS = ", ".join(CHECK_KINDS)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{wat: 1}", f"t.yaml:10: canaries[0].checks[0]: a check needs exactly one of: {KINDS}"),
        (
            "{contains: a, regex: b}",
            f"t.yaml:10: canaries[0].checks[0]: a check needs exactly one of: {KINDS}",
        ),
        (
            '{regex: "("}',
            "t.yaml:10: canaries[0].checks[0].regex: invalid regular expression: "
            "missing ): ( (RE2 syntax: no backreferences or lookarounds)",
        ),
        (
            r'{regex: "(a)\\1"}',
            "t.yaml:10: canaries[0].checks[0].regex: invalid regular expression: "
            r"invalid escape sequence: \1 (RE2 syntax: no backreferences or lookarounds)",
        ),
        (
            '{regex: "(?!no)"}',
            "t.yaml:10: canaries[0].checks[0].regex: invalid regular expression: "
            "invalid perl operator: (?! (RE2 syntax: no backreferences or lookarounds)",
        ),
        (
            "{json: true, schema: {type: 7}}",
            "t.yaml:10: canaries[0].checks[0].schema: invalid JSON Schema: "
            "7 is not valid under any of the given schemas",
        ),
        (
            "{json: false}",
            "t.yaml:10: canaries[0].checks[0].json: "
            "write `json: true`; remove the check to allow any text",
        ),
        (
            "{length: {}}",
            "t.yaml:10: canaries[0].checks[0].length: "
            "give at least one of min_chars, max_chars, min_tokens, max_tokens",
        ),
        (
            "{contains: a, name: refusal}",
            "t.yaml:7: canaries[0]: the check name 'refusal' is reserved for expect_refusal",
        ),
        (
            "{contains: a, ignorecase: true}",
            "t.yaml:10: canaries[0].checks[0].ignorecase: unknown key; did you mean ignore_case?",
        ),
    ],
    ids=[
        "unknown-kind",
        "two-kinds",
        "bad-regex",
        "backreference",
        "lookahead",
        "invalid-json-schema",
        "json-false",
        "length-without-bound",
        "reserved-name",
        "unknown-option",
    ],
)
def test_bad_check_config(entry: str, message: str) -> None:
    body = f"  - name: c\n    prompt: hi\n    checks:\n      - {entry}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG_HEAD + body, "t.yaml", environ={})
    assert info.value.messages == [message]


def test_bad_turn_check_config_names_the_turns_line() -> None:
    body = "  - name: c\n    turns:\n      - user: hi\n        checks:\n          - {length: {}}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG_HEAD + body, "t.yaml", environ={})
    assert info.value.messages == [
        "t.yaml:11: canaries[0].turns[0].checks[0].length: "
        "give at least one of min_chars, max_chars, min_tokens, max_tokens"
    ]
