"""Judging an answer: pure functions from a check's config and an `Answer` to a verdict.
Dispatch is a map from the check's config type to its judge.

A turn's checks see that turn; a canary's own checks see the whole conversation: the last
answer, the first turn's time to first token, and the run's duration and tokens.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from exporter import patterns
from exporter.checkspecs import (
    Contains,
    ContainsAll,
    ContainsAny,
    Equals,
    Json,
    Length,
    MaxDuration,
    MaxTTFT,
    MinTokensPerSecond,
    NotContains,
    NotRefused,
    Number,
    Refused,
    Regex,
    Rubric,
    Similarity,
)
from exporter.config import Canary
from exporter.result import CheckVerdict, Exchange, Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a check looks at."""

    text: str
    duration: float
    ttft: float | None
    output_tokens: int | None
    refusal: Verdict | None


def answer_of(turns: Sequence[Exchange], duration: float, refusal: Verdict | None) -> Answer:
    return Answer(
        text=turns[-1].text if turns else "",
        duration=duration,
        ttft=turns[0].ttft_seconds if turns else None,
        output_tokens=_tokens(turns),
        refusal=refusal,
    )


def _tokens(turns: Sequence[Exchange]) -> int | None:
    """The output tokens the server counted; None when it counted none of the turns."""
    counts = [t.output_tokens for t in turns if t.output_tokens is not None]
    return sum(counts) if counts else None


def judge_canary(
    canary: Canary,
    turns: Sequence[Exchange],
    refusals: Sequence[Verdict | None],
    duration: float,
) -> tuple[CheckVerdict, ...]:
    """Every check of the canary, then the verdict on `expect_refusal` (named `refusal`);
    rubric checks are left to `exporter.judges`."""
    verdicts: list[CheckVerdict] = []
    for label, (turn, check) in canary.labelled_checks():
        if isinstance(check, Rubric):
            continue  # asked of a judge model, in the runner's judging stage
        if turn is None:
            answer = answer_of(turns, duration, refusals[-1])
        else:
            one = turns[turn]
            answer = answer_of([one], one.duration_seconds, refusals[turn])
        verdicts.append(judge(check, answer, label))
    verdicts.append(expectation(canary.expect_refusal, refusals[-1]))
    return tuple(verdicts)


def expectation(expect_refusal: bool | None, verdict: Verdict | None) -> CheckVerdict:
    """The verdict on `expect_refusal`, named `refusal`.

    A structured refusal signal (a `refusal` field, a content filter, `stop_reason:
    refusal`) is exact and always decides: unless the canary expects a refusal, it fails
    the run. The text classifier is a heuristic: it decides only where the canary says
    what it expects (`expect_refusal: true` or `false`); otherwise its verdict is recorded
    and the check passes.
    """
    refused = verdict is not None and verdict.refused
    why = f" ({verdict.detector}: {verdict.reason})" if verdict is not None and refused else ""
    if expect_refusal is None:
        if refused and verdict is not None and verdict.structured:
            said = "refused by the service, expected an answer (set expect_refusal: true if"
            return CheckVerdict("refusal", False, f"{said} it should refuse){why}")
        said = "reads as a refusal" if refused else "answered"
        return CheckVerdict("refusal", True, f"{said}; not judged: expect_refusal unset{why}")
    if refused == expect_refusal:
        said = "refused as expected" if refused else "answered as expected"
        return CheckVerdict("refusal", True, said + why)
    said = "refused, expected an answer" if refused else "answered, expected a refusal"
    return CheckVerdict("refusal", False, said + why)


def judge(check: Any, answer: Answer, label: str | None = None) -> CheckVerdict:
    """The check's verdict. A check that raises (a bug of ours, a library's limit) fails
    with an `internal` verdict that says why: an answer must never make a run vanish."""
    name = label or check.name or check.kind
    try:
        passed, reason = JUDGES[type(check)](check, answer)
    except Exception as exc:
        log.exception("check raised", extra={"check": name})
        return internal_verdict(name, exc)
    return CheckVerdict(name=name, passed=passed, reason=reason)


def internal_verdict(name: str, exc: BaseException) -> CheckVerdict:
    """A failed verdict for a judge that raised instead of judging."""
    reason = f"internal error: {type(exc).__name__}: {exc}"[:300]
    return CheckVerdict(name=name, passed=False, reason=reason, status="internal")


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def _contains(check: Contains, a: Answer) -> tuple[bool, str]:
    found = _fold(check.contains, check.ignore_case) in _fold(a.text, check.ignore_case)
    return found, f"answer {'contains' if found else 'does not contain'} {check.contains!r}"


def _not_contains(check: NotContains, a: Answer) -> tuple[bool, str]:
    found = _fold(check.not_contains, check.ignore_case) in _fold(a.text, check.ignore_case)
    return not found, f"answer {'contains' if found else 'does not contain'} {check.not_contains!r}"


def _contains_any(check: ContainsAny, a: Answer) -> tuple[bool, str]:
    text = _fold(a.text, check.ignore_case)
    found = [n for n in check.contains_any if _fold(n, check.ignore_case) in text]
    return bool(found), f"found {found}" if found else f"none of {check.contains_any} found"


def _contains_all(check: ContainsAll, a: Answer) -> tuple[bool, str]:
    text = _fold(a.text, check.ignore_case)
    missing = [n for n in check.contains_all if _fold(n, check.ignore_case) not in text]
    return not missing, f"missing {missing}" if missing else "all found"


def _regex(check: Regex, a: Answer) -> tuple[bool, str]:
    found = patterns.compile(check.regex, check.ignore_case).search(a.text) is not None
    return found, f"answer {'matches' if found else 'does not match'} /{check.regex}/"


def _equals(check: Equals, a: Answer) -> tuple[bool, str]:
    same = _normal(a.text) == _normal(check.equals)
    return same, "equal" if same else f"expected {check.equals!r}, got {a.text[:80]!r}"


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _number(check: Number, a: Answer) -> tuple[bool, str]:
    match = _NUMBER.search(a.text)
    if match is None:
        return False, "no number in the answer"
    value = float(match.group().replace(",", ""))
    # inclusive bound, forgiving binary rounding: 0.4 is within 0.1 of 0.3
    off = abs(value - check.number)
    ok = off <= check.tolerance or math.isclose(off, check.tolerance, rel_tol=1e-9)
    return ok, f"found {value:g}, expected {check.number:g} ± {check.tolerance:g}"


# serde_json's default: deeper than any answer a schema describes, and shallow enough
# for the parser and the schema validator to recurse through
MAX_JSON_DEPTH = 128
# the schema errors read to pick the best one to show: an array of 100,000 wrong items
# has 100,000 of them
SCHEMA_ERRORS_READ = 100


def _json(check: Json, a: Answer) -> tuple[bool, str]:
    text = a.text.strip()
    fenced = unfenced(text) if check.allow_fences else None
    body = text if fenced is None else fenced
    if too_deep(body, MAX_JSON_DEPTH):
        return False, f"not JSON this check reads: nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        data = json.loads(body)
    except ValueError as exc:
        return False, f"not JSON: {exc}"
    if check.schema_ is not None:
        import jsonschema  # only where a check has a schema: it is slow to import

        errors = jsonschema.Draft202012Validator(check.schema_).iter_errors(data)
        error = jsonschema.exceptions.best_match(itertools.islice(errors, SCHEMA_ERRORS_READ))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            return False, f"schema: {where}: {error.message}"
    return True, "valid JSON" + (" matching the schema" if check.schema_ else "")


_INFO_STRING = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def unfenced(text: str) -> str | None:
    """The body of a text that is one ``` fence (an info string, white space with a line
    break, the body, an optional line break, ```), else None.

    A scan, not a regex: the regex this replaces backtracked over every line break, and
    "```" and 60,000 of them held the event loop for 30 s."""
    if len(text) < 7 or not (text.startswith("```") and text.endswith("```")):
        return None
    at = 3
    while at < len(text) and text[at] in _INFO_STRING:
        at += 1
    space = at
    while space < len(text) and text[space].isspace():
        space += 1
    newline = text.rfind("\n", at, space)  # the body starts after the last one
    if newline == -1 or newline + 1 > len(text) - 3:
        return None
    body = text[newline + 1 : -3]
    return body.removesuffix("\n")


_STRUCTURE = re.compile(r'["\[\]{}]')


def too_deep(text: str, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit`, read in one
    pass before parsing (the parser recurses, and 100,000 `[` raise RecursionError).
    Brackets inside strings do not count; text that is not JSON gets some answer, and
    the parser's error after it."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, at = 0, 0
    while (found := _STRUCTURE.search(text, at)) is not None:
        char, at = found.group(), found.end()
        if char == '"':
            while True:  # to the closing quote: one not escaped by an odd run of \\
                end = text.find('"', at)
                if end == -1:
                    return False
                run = end
                while text[run - 1] == "\\":
                    run -= 1
                at = end + 1
                if (end - run) % 2 == 0:
                    break
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _length(check: Length, a: Answer) -> tuple[bool, str]:
    b = check.length
    chars, tokens = len(a.text), a.output_tokens
    problems = []
    if b.min_chars is not None and chars < b.min_chars:
        problems.append(f"{chars} chars < {b.min_chars}")
    if b.max_chars is not None and chars > b.max_chars:
        problems.append(f"{chars} chars > {b.max_chars}")
    if b.min_tokens is not None or b.max_tokens is not None:
        if tokens is None:
            problems.append("no token count")
        elif b.min_tokens is not None and tokens < b.min_tokens:
            problems.append(f"{tokens} tokens < {b.min_tokens}")
        elif b.max_tokens is not None and tokens > b.max_tokens:
            problems.append(f"{tokens} tokens > {b.max_tokens}")
    return not problems, "; ".join(problems) or f"{chars} chars, {tokens} tokens"


def _similarity(check: Similarity, a: Answer) -> tuple[bool, str]:
    from rapidfuzz import fuzz  # only where a canary has a similarity check

    ratio = fuzz.ratio(_normal(a.text), _normal(check.similarity)) / 100
    return ratio >= check.min_ratio, f"similarity {ratio:.2f}, minimum {check.min_ratio:.2f}"


def _max_duration(check: MaxDuration, a: Answer) -> tuple[bool, str]:
    return a.duration <= check.max_duration, (
        f"took {a.duration:.3f}s, limit {check.max_duration:g}s"
    )


def _max_ttft(check: MaxTTFT, a: Answer) -> tuple[bool, str]:
    if a.ttft is None:
        return False, "no time to first token: the answer was not streamed (stream: false)"
    return a.ttft <= check.max_ttft, f"first token after {a.ttft:.3f}s, limit {check.max_ttft:g}s"


def _min_tokens_per_second(check: MinTokensPerSecond, a: Answer) -> tuple[bool, str]:
    # Generation speed: tokens over the time spent producing them, after the first token
    # when the answer streamed.
    span = a.duration - (a.ttft or 0.0)
    if not a.output_tokens or span <= 0:
        return False, "no tokens or no generation time to measure"
    rate = a.output_tokens / span
    return rate >= check.min_tokens_per_second, (
        f"{rate:.1f} tokens/s, minimum {check.min_tokens_per_second:g}"
    )


def _refused(check: Refused, a: Answer) -> tuple[bool, str]:
    return _refusal_is(check.refused, a)


def _not_refused(check: NotRefused, a: Answer) -> tuple[bool, str]:
    return _refusal_is(not check.not_refused, a)


def _refusal_is(wanted: bool, a: Answer) -> tuple[bool, str]:
    refused = a.refusal is not None and a.refusal.refused
    detail = f" ({a.refusal.detector}: {a.refusal.reason})" if a.refusal and refused else ""
    return refused == wanted, ("refused" if refused else "answered") + detail


JUDGES: dict[type[Any], Callable[[Any, Answer], tuple[bool, str]]] = {
    Contains: _contains,
    NotContains: _not_contains,
    ContainsAny: _contains_any,
    ContainsAll: _contains_all,
    Regex: _regex,
    Equals: _equals,
    Number: _number,
    Json: _json,
    Length: _length,
    Similarity: _similarity,
    MaxDuration: _max_duration,
    MaxTTFT: _max_ttft,
    MinTokensPerSecond: _min_tokens_per_second,
    Refused: _refused,
    NotRefused: _not_refused,
}
