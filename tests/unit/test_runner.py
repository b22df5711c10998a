"""The pure helpers of exporter/runner.py: refusal verdicts, fingerprints, redaction."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.config import RunSpec, parse_config
from exporter.errors import ErrorClass
from exporter.refusal import Verdict, detect_refusal
from exporter.result import Exchange
from exporter.runner import (
    REDACTED,
    fingerprint,
    is_secret_header,
    redact,
    refusal_verdict,
    secrets,
)

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


# --- secrets / is_secret_header / redact -------------------------------------------------


def spec(target_extra: str = "", environ: dict[str, str] | None = None) -> RunSpec:
    text = (
        "targets:\n"
        "  - name: t\n"
        "    protocol: openai\n"
        "    base_url: http://127.0.0.1:8000/v1\n"
        "    model: m\n" + target_extra + "canaries:\n"
        "  - name: c\n"
        "    prompt: hi\n"
    )
    plans = parse_config(text, "t.yaml", environ=environ or {}).plan()
    return plans[("t", "c")]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("authorization", True),
        ("Proxy-Authorization", True),
        ("X-Api-Key", True),
        ("api-key", True),
        ("x-goog-api-key", True),
        ("X-Auth-Token", True),
        ("Cookie", True),
        ("X-Client-Secret", True),
        ("Content-Type", False),
        ("Accept", False),
        ("User-Agent", False),
        ("X-Request-Id", False),
        ("anthropic-version", False),
        ("OpenAI-Organization", False),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_is_secret_header(name: str, secret: bool) -> None:
    assert is_secret_header(name) is secret


def test_secrets_are_the_api_key_and_credential_headers() -> None:
    found = secrets(
        spec(
            "    api_key: ${KEY}\n"
            "    headers:\n"
            "      X-Api-Key: abcd1234\n"
            "      Cookie: session=xyz\n"
            "      X-Request-Source: canary-prober\n"
            "      X-Auth-Token: abc\n",
            environ={"KEY": "sk-test-0123456789"},
        )
    )
    assert {"sk-test-0123456789", "abcd1234", "session=xyz"} <= set(found)
    assert "canary-prober" not in found  # not a credential header
    assert "abc" not in found  # too short to redact safely


def test_secrets_from_api_key_file(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("sk-from-file-0123\n", encoding="utf-8")
    assert secrets(spec(f"    api_key_file: {key}\n")) == ("sk-from-file-0123",)


@pytest.mark.parametrize(
    "extra",
    ["", "    api_key: abc\n", "    headers: {Content-Type: application/json}\n"],
    ids=["nothing", "short-key", "no-credential-header"],
)
def test_no_secrets(extra: str) -> None:
    assert secrets(spec(extra)) == ()


def test_redact_replaces_secrets_in_text_and_error_detail() -> None:
    exchange = Exchange(
        status=401,
        ttft_seconds=0.1,
        text="key sk-abc123 and again sk-abc123",
        error_detail="401: invalid key sk-abc123 (cookie session=xyz)",
        error_class=ErrorClass.AUTH,
    )
    redacted = redact(exchange, ("sk-abc123", "session=xyz"))
    assert redacted.text == f"key {REDACTED} and again {REDACTED}"
    assert redacted.error_detail == f"401: invalid key {REDACTED} (cookie {REDACTED})"
    assert (redacted.status, redacted.ttft_seconds, redacted.error_class) == (
        401,
        0.1,
        ErrorClass.AUTH,
    )


def test_redact_reaches_every_field_a_server_can_echo_into() -> None:
    """Regression (found by tests/integration/test_secrets.py): the reported model, the
    ids and the shown headers carried an echoed key."""
    key = "sk-abc123"
    exchange = Exchange(
        response_model=f"m-{key}",
        system_fingerprint=f"fp-{key}",
        request_id=f"req-{key}",
        response_id=f"resp-{key}",
        refusal=f"no, {key}",
        finish_reason=key,
        headers={"x-request-id": f"id {key}", "server": "fine"},
        prompt="hi",
    )
    redacted = redact(exchange, (key,))
    assert key not in repr(redacted)
    assert redacted.headers == {"x-request-id": f"id {REDACTED}", "server": "fine"}
    assert redacted.response_model == f"m-{REDACTED}"


def test_redact_in_error_detail_only() -> None:
    exchange = Exchange(text="fine", error_detail="bad key sk-abc123")
    redacted = redact(exchange, ("sk-abc123",))
    assert (redacted.text, redacted.error_detail) == ("fine", f"bad key {REDACTED}")


@pytest.mark.parametrize(
    "values", [(), ("sk-abc123",), ("sk-abc123", "session=xyz")], ids=["none", "one", "two"]
)
def test_redact_returns_the_same_exchange_when_nothing_matches(values: tuple[str, ...]) -> None:
    exchange = Exchange(text="a normal answer", error_detail="")
    assert redact(exchange, values) is exchange


def test_redact_end_to_end_with_a_configured_key() -> None:
    hidden = secrets(spec("    api_key: ${KEY}\n", environ={"KEY": "sk-live-0123456789"}))
    exchange = Exchange(error_detail="Incorrect API key provided: sk-live-0123456789.")
    assert "sk-live-0123456789" not in redact(exchange, hidden).error_detail


def test_redact_an_overlapping_secret_leaves_no_part_of_the_longer_one() -> None:
    # The API key is a prefix of another credential; replacing the short one first would
    # leave the longer one's tail in the clear ("[redacted]XYZW").
    exchange = Exchange(error_detail="rejected token abcd1234XYZW")
    redacted = redact(exchange, ("abcd1234", "abcd1234XYZW"))
    assert redacted.error_detail == f"rejected token {REDACTED}"


def test_redact_a_bearer_token_echoed_without_its_scheme() -> None:
    # A credential set as `Authorization: Bearer <token>`: servers echo the token alone.
    hidden = secrets(spec("    headers: {Authorization: Bearer tok-0123456789abcdef}\n"))
    exchange = Exchange(error_detail="401: invalid token tok-0123456789abcdef")
    assert "tok-0123456789abcdef" not in redact(exchange, hidden).error_detail
