"""exporter/redaction.py: which values of a target are secret, and runs with them replaced
wherever a server could echo them back."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from exporter.config import RunSpec, parse_config
from exporter.errors import ErrorClass
from exporter.redaction import (
    REDACTED,
    is_secret_header,
    masked_url,
    redact,
    redact_result,
    secrets,
)
from exporter.result import Exchange, Outcome, ProbeResult


def spec(
    target_extra: str = "",
    environ: dict[str, str] | None = None,
    base_url: str = "http://127.0.0.1:8000/v1",
) -> RunSpec:
    text = (
        "targets:\n"
        "  - name: t\n"
        "    protocol: openai\n"
        f"    base_url: {base_url}\n"
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


def test_a_run_is_redacted_in_its_error_detail_and_every_turn() -> None:
    turn = Exchange(text="key sk-secret-1 here", error_detail="bad key sk-secret-1")
    run = ProbeResult(
        run_id="r1",
        target="t",
        canary="c",
        model="m",
        started_at=100.0,
        outcome=Outcome.ERROR,
        duration_seconds=2.0,
        turns=(turn,),
        error_detail="bad key sk-secret-1",
    )
    shown = redact_result(run, ("sk-secret-1",))
    assert shown.error_detail == "bad key [redacted]"
    assert shown.turns[0].text == "key [redacted] here"
    assert shown.turns[0].error_detail == "bad key [redacted]"
    assert redact_result(run, ()) is run


KEY = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    "tail",
    [KEY[:8], KEY[:20], KEY[:12] + "…", KEY[:12] + "****", KEY[:10] + '".', KEY[:-1]],
    ids=["8-chars", "20-chars", "ellipsis", "stars", "quote-stop", "all-but-one"],
)
def test_a_key_cut_short_at_the_end_is_redacted(tail: str) -> None:
    redacted = redact(Exchange(error_detail=f"HTTP 401: bad key {tail}"), (KEY,))
    assert redacted.error_detail.startswith(f"HTTP 401: bad key {REDACTED}")
    assert KEY[:8] not in redacted.error_detail


@pytest.mark.parametrize(
    "text",
    [f"ends with {KEY[:7]}", f"{KEY[:12]} in the middle", "nothing"],
    ids=["too-short", "not-at-the-end", "nothing"],
)
def test_a_short_or_inner_prefix_stays(text: str) -> None:
    exchange = Exchange(error_detail=text)
    assert redact(exchange, (KEY,)) is exchange


def test_a_key_after_255_characters_leaves_no_fragment_once_cut() -> None:
    """Regression (issue 17): the detail was cut to 300 characters before redaction, so a
    key echoed after 255 of them survived as its first 35 characters."""
    detail = "HTTP 401: " + "x" * 255 + f" {KEY}" + " and more" * 10
    shown = redact(Exchange(error_detail=detail), (KEY,)).bounded()
    assert len(shown.error_detail) == 300
    assert not any(KEY[i : i + 8] in shown.error_detail for i in range(len(KEY) - 7))


def test_userinfo_of_the_base_url_is_secret() -> None:
    found = secrets(spec(base_url="http://bob:pa%40ss-word@127.0.0.1:8000/v1"))
    basic = base64.b64encode(b"bob:pa@ss-word").decode()
    assert {"bob:pa%40ss-word", "pa%40ss-word", "pa@ss-word", basic} <= set(found)
    assert "bob" not in found  # a user beside a password is a name, not a credential


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://u:p4ssw0rd@host:8000/v1", "http://**********@host:8000/v1"),
        ("https://token1234@host/v1", "https://**********@host/v1"),
        ("http://host/v1", "http://host/v1"),
    ],
    ids=["user-password", "user-only", "none"],
)
def test_masked_url(url: str, expected: str) -> None:
    assert masked_url(url) == expected
