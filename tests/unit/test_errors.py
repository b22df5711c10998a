"""Error classification: exporter/errors.py and the pure helpers of protocols/http.py."""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from exporter.errors import ErrorClass, ProbeError, classify_status
from exporter.protocols import http
from exporter.protocols.http import classify_client_error, error_message, ratelimit, retry_after
from exporter.result import GAPS_KEPT, RateLimit

# --- classify_status ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (201, None),
        (204, None),
        (304, None),
        (399, None),
        (400, ErrorClass.HTTP_4XX),
        (401, ErrorClass.AUTH),
        (403, ErrorClass.AUTH),
        (404, ErrorClass.HTTP_4XX),
        (408, ErrorClass.HTTP_4XX),
        (422, ErrorClass.HTTP_4XX),
        (429, ErrorClass.RATE_LIMITED),
        (499, ErrorClass.HTTP_4XX),
        (500, ErrorClass.HTTP_5XX),
        (502, ErrorClass.HTTP_5XX),
        (503, ErrorClass.HTTP_5XX),
        (529, ErrorClass.HTTP_5XX),
        (599, ErrorClass.HTTP_5XX),
    ],
    ids=str,
)
def test_classify_status(status: int, error: ErrorClass | None) -> None:
    assert classify_status(status) is error


def test_error_classes_are_their_label_values() -> None:
    assert str(ErrorClass.FIRST_TOKEN_TIMEOUT) == "first_token_timeout"
    assert len({str(e) for e in ErrorClass}) == len(ErrorClass) == 16


def test_probe_error_carries_class_and_detail() -> None:
    exc = ProbeError(ErrorClass.TRUNCATED, "stream ended early")
    assert (exc.error_class, exc.detail) == (ErrorClass.TRUNCATED, "stream ended early")
    assert str(exc) == "truncated: stream ended early"


# --- retry_after -------------------------------------------------------------------------

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the wall clock `retry_after` compares HTTP dates with."""
    clock = SimpleNamespace(time=NOW.timestamp, perf_counter=time.perf_counter)
    monkeypatch.setattr("exporter.protocols.http.time", clock)


def _http_date(seconds_from_now: int) -> str:
    return format_datetime(datetime.fromtimestamp(NOW.timestamp() + seconds_from_now, UTC), True)


@pytest.mark.usefixtures("frozen_time")
@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0"}, 0.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "4"}, 4.0),
        ({"retry-after-ms": "-20"}, 0.0),
        ({"Retry-After": _http_date(120)}, 120.0),
        ({"Retry-After": _http_date(-120)}, 0.0),
        ({"Retry-After": "Sun, 01 Jun 2025 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "Sun, 99 Foo 2025"}, None),
    ],
    ids=[
        "absent",
        "seconds",
        "zero",
        "fractional",
        "negative-clamped",
        "ms",
        "ms-wins",
        "bad-ms-falls-back",
        "negative-ms-clamped",
        "http-date-future",
        "http-date-past",
        "http-date-literal",
        "garbage",
        "empty",
        "garbage-date",
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    value = retry_after(CIMultiDictProxy(CIMultiDict(headers)))
    if seconds is None:
        assert value is None
    else:
        assert value == pytest.approx(seconds)


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "inf"},
        {"retry-after": "Infinity"},
        {"retry-after": "nan"},
        {"retry-after-ms": "inf"},
        {"retry-after-ms": "nan", "retry-after": "nan"},
    ],
    ids=["inf", "infinity", "nan", "ms-inf", "both-nan"],
)
def test_retry_after_is_never_infinite_or_nan(headers: dict[str, str]) -> None:
    # The scheduler pauses a rate-limited target for exactly this long: an endless pause
    # would silence the canary for good.
    assert retry_after(CIMultiDictProxy(CIMultiDict(headers))) is None


# --- ratelimit ---------------------------------------------------------------------------


def test_ratelimit_reads_prefixed_headers() -> None:
    headers = CIMultiDictProxy(
        CIMultiDict(
            {
                "X-RateLimit-Limit-Requests": "500",
                "x-ratelimit-remaining-requests": "125",
                "x-ratelimit-limit-tokens": "30000",
                "x-ratelimit-remaining-tokens": "29000.5",
                "anthropic-ratelimit-requests-limit": "9",
            }
        )
    )
    limits = ratelimit(headers, "x-ratelimit")
    assert limits == RateLimit(
        limit_requests=500.0,
        remaining_requests=125.0,
        limit_tokens=30000.0,
        remaining_tokens=29000.5,
    )
    assert limits.remaining_ratio("requests") == 0.25
    assert limits.remaining_ratio("tokens") == pytest.approx(29000.5 / 30000)


def test_ratelimit_uses_the_given_prefix() -> None:
    headers = {
        "llm-limit-requests": "10",
        "llm-remaining-requests": "1",
        "x-ratelimit-limit-tokens": "5",
    }
    limits = ratelimit(headers, "llm")
    assert limits == RateLimit(limit_requests=10.0, remaining_requests=1.0)
    assert limits.remaining_ratio("requests") == 0.1
    assert limits.remaining_ratio("tokens") is None


def test_ratelimit_ignores_garbage() -> None:
    headers = {"x-ratelimit-limit-requests": "lots", "x-ratelimit-remaining-requests": "3"}
    limits = ratelimit(headers, "x-ratelimit")
    assert limits == RateLimit(remaining_requests=3.0)
    assert limits.remaining_ratio("requests") is None


def test_ratelimit_without_headers() -> None:
    assert ratelimit({}, "x-ratelimit") == RateLimit()


@pytest.mark.parametrize(
    ("limits", "ratio"),
    [
        (RateLimit(limit_requests=100, remaining_requests=40), 0.4),
        (RateLimit(limit_requests=100, remaining_requests=0), 0.0),
        (RateLimit(limit_requests=100, remaining_requests=150), 1.0),
        (RateLimit(limit_requests=100, remaining_requests=-5), 0.0),
        (RateLimit(limit_requests=0, remaining_requests=0), None),
        (RateLimit(limit_requests=-1, remaining_requests=0), None),
        (RateLimit(limit_requests=100), None),
        (RateLimit(remaining_requests=100), None),
        (RateLimit(limit_tokens=100, remaining_tokens=50), None),
    ],
    ids=[
        "ratio",
        "exhausted",
        "clamped-high",
        "clamped-low",
        "zero-limit",
        "negative-limit",
        "no-remaining",
        "no-limit",
        "other-kind",
    ],
)
def test_remaining_ratio_requests(limits: RateLimit, ratio: float | None) -> None:
    assert limits.remaining_ratio("requests") == ratio


def test_remaining_ratio_tokens() -> None:
    limits = RateLimit(
        limit_requests=10, remaining_requests=10, limit_tokens=200, remaining_tokens=50
    )
    assert limits.remaining_ratio("tokens") == 0.25
    assert limits.remaining_ratio("requests") == 1.0


# --- error_message -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'{"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}',
            "Incorrect API key",
        ),
        (b'{"error": "model \\"llama9\\" not found"}', 'model "llama9" not found'),
        (b'{"type": "error", "message": "overloaded"}', "overloaded"),
        (b"<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"),
        (b"  upstream timed out\n", "upstream timed out"),
        (b"", "(empty body)"),
        (b" \n\t", "(empty body)"),
        (b'{"error": {"code": 500}}', '{"error": {"code": 500}}'),
        (b'{"error": {"message": 42}}', '{"error": {"message": 42}}'),
        (b"[1, 2]", "[1, 2]"),
        (b"null", "null"),
        (b"caf\xc3\xa9 \xff", "café \ufffd"),
    ],
    ids=[
        "openai",
        "error-string",
        "top-level-message",
        "html",
        "plain-text-stripped",
        "empty",
        "whitespace",
        "error-without-message",
        "non-string-message",
        "json-list",
        "json-null",
        "bad-utf8",
    ],
)
def test_error_message(raw: bytes, message: str) -> None:
    assert error_message(raw) == message


def test_error_message_keeps_long_text_whole() -> None:
    # cut only after redaction (the runner's `Exchange.bounded`): a cut here could leave
    # half an echoed key that redaction no longer recognises
    assert error_message(b"x" * 5000) == "x" * 5000


# --- classify_client_error ---------------------------------------------------------------

KEY = ConnectionKey("api.example.invalid", 443, True, True, None, None, None)
REQUEST = aiohttp.RequestInfo(
    URL("https://api.example.invalid/v1/chat/completions"),
    "POST",
    CIMultiDictProxy(CIMultiDict()),
    URL("https://api.example.invalid/v1/chat/completions"),
)


def _certificate_error() -> ssl.SSLCertVerificationError:
    """As the ssl module raises it: the verification message is an attribute."""
    error = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed (_ssl.c:1)"
    )
    error.verify_message = "self-signed certificate"
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    return error


def _tls_alert() -> ssl.SSLError:
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1)")
    error.reason = "WRONG_VERSION_NUMBER"
    return error


AT = "(connecting to api.example.invalid:443)"


@pytest.mark.parametrize(
    ("exc", "before", "after", "detail"),
    [
        (
            aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
            ErrorClass.DNS,
            ErrorClass.DNS,
            f"name or service not known {AT}",
        ),
        (
            # asyncio's own words for a refused connection; the errno says it plainly
            aiohttp.ClientConnectorError(
                KEY, ConnectionRefusedError(111, "Connect call failed ('10.0.0.1', 443)")
            ),
            ErrorClass.CONNECTION,
            ErrorClass.TRUNCATED,
            f"connection refused {AT}",
        ),
        (
            aiohttp.ClientConnectorError(KEY, ConnectionResetError()),
            ErrorClass.CONNECTION,
            ErrorClass.TRUNCATED,
            f"connection reset {AT}",
        ),
        (
            aiohttp.ClientConnectorCertificateError(KEY, _certificate_error()),
            ErrorClass.TLS,
            ErrorClass.TLS,
            f"certificate verify failed: self-signed certificate {AT}",
        ),
        (
            aiohttp.ClientConnectorSSLError(KEY, _tls_alert()),
            ErrorClass.TLS,
            ErrorClass.TLS,
            f"TLS error: wrong version number {AT}",
        ),
        (
            aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError("handshake failure")),
            ErrorClass.TLS,
            ErrorClass.TLS,
            f"handshake failure {AT}",
        ),
        (aiohttp.ClientPayloadError("x"), ErrorClass.TRUNCATED, ErrorClass.TRUNCATED, "x"),
        (
            aiohttp.ServerDisconnectedError(),
            ErrorClass.CONNECTION,
            ErrorClass.TRUNCATED,
            "server disconnected",
        ),
        (
            aiohttp.ClientOSError(104, "Connection reset by peer"),
            ErrorClass.CONNECTION,
            ErrorClass.TRUNCATED,
            "connection reset by peer",
        ),
        (
            aiohttp.ContentTypeError(REQUEST, (), status=200, message="bad content type"),
            ErrorClass.MALFORMED,
            ErrorClass.MALFORMED,
            "bad content type",
        ),
        (
            aiohttp.ClientResponseError(
                REQUEST, (), status=400, message="Bad status line:\n  b'SSH-2.0'\n    ^"
            ),
            ErrorClass.MALFORMED,
            ErrorClass.MALFORMED,
            "bad status line: b'SSH-2.0'",
        ),
        (aiohttp.InvalidURL("not a url"), ErrorClass.MALFORMED, ErrorClass.MALFORMED, "not a url"),
        (aiohttp.ClientError("mystery"), ErrorClass.MALFORMED, ErrorClass.MALFORMED, "mystery"),
        (aiohttp.ClientError(), ErrorClass.MALFORMED, ErrorClass.MALFORMED, "client error"),
    ],
    ids=[
        "dns",
        "refused",
        "reset-while-connecting",
        "certificate",
        "tls-alert",
        "ssl",
        "payload",
        "server-disconnected",
        "reset",
        "content-type",
        "response-error",
        "invalid-url",
        "generic",
        "no-message",
    ],
)
def test_classify_client_error(
    exc: aiohttp.ClientError, before: ErrorClass, after: ErrorClass, detail: str
) -> None:
    """The class, and the root cause in words: no aiohttp class names, no `ssl:default`."""
    assert classify_client_error(exc, responded=False) == (before, detail)
    assert classify_client_error(exc, responded=True)[0] is after


def test_a_cut_body_names_the_framing_error_not_its_repr() -> None:
    cause = aiohttp.http_exceptions.TransferEncodingError(
        "Not enough data to satisfy transfer length header."
    )
    error = aiohttp.ClientPayloadError(f"Response payload is not completed: {cause!r}")
    error.__cause__ = cause
    assert classify_client_error(error, True) == (
        ErrorClass.TRUNCATED,
        "response payload is not completed: not enough data to satisfy transfer length header.",
    )


# --- Recorder ----------------------------------------------------------------------------


def test_the_recorder_keeps_the_first_gaps_and_counts_them_all() -> None:
    rec = http.Recorder(streamed=True)
    chunks = GAPS_KEPT + 500
    for i in range(chunks):
        # a gap of 1 ms, but 7 s before chunk 1,200 (past the kept gaps)
        rec.content("x", at=i * 0.001 + (7.0 if i >= 1200 else 0.0))
    exchange = rec.build()
    assert exchange.chunks == chunks
    assert len(exchange.chunk_gaps) == GAPS_KEPT
    assert exchange.chunk_gaps[0] == pytest.approx(0.001)
    assert exchange.max_gap_seconds == pytest.approx(7.001)
    assert exchange.text == "x" * chunks
