"""Why a canary run failed: a closed set of error classes, the only values of `error_class`.

Every failure a probe meets is mapped to exactly one class, so `error_class` stays a
bounded label and an operator can read the tree like httpx's exception docstring:

    network, before any HTTP response
        dns                  the host name did not resolve
        connection           connection refused or reset
        tls                  TLS handshake or certificate failure
        connect_timeout      no TCP/TLS connection within `connect_timeout`
    waiting for the answer
        first_token_timeout  no first content token before the deadline (a JSON answer:
                             before a `first_token_timeout` set below `timeout`)
        timeout              first token seen, but the run did not finish by its deadline
                             (a JSON answer: not done by `timeout`)
    HTTP status (also when its body does not finish by the deadline)
        auth                 401 or 403
        rate_limited         429
        http_4xx             any other 4xx
        http_5xx             any 5xx
    the body
        stream_error         an error event inside a 200 stream
        truncated            the stream or body ended before its end marker, or at it
                             with no content and no finish reason (cut off)
        malformed            bad JSON, bad SSE, or an unexpected shape
        empty_answer         a well-formed answer with no content
        too_large            the response exceeded `max_response_bytes`
    chatcanary itself
        internal             a bug in chatcanary; reported, never raised into the scheduler
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    DNS = "dns"
    CONNECTION = "connection"
    TLS = "tls"
    CONNECT_TIMEOUT = "connect_timeout"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    TIMEOUT = "timeout"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    STREAM_ERROR = "stream_error"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    EMPTY_ANSWER = "empty_answer"
    TOO_LARGE = "too_large"
    INTERNAL = "internal"


class ProbeError(Exception):
    """Raised inside a protocol to end a run with a classified error."""

    def __init__(self, error_class: ErrorClass, detail: str) -> None:
        super().__init__(f"{error_class}: {detail}")
        self.error_class = error_class
        self.detail = detail


def classify_status(status: int) -> ErrorClass | None:
    """The error class of an HTTP status, or None for a success status."""
    if status < 400:
        return None
    if status in (401, 403):
        return ErrorClass.AUTH
    if status == 429:
        return ErrorClass.RATE_LIMITED
    if status < 500:
        return ErrorClass.HTTP_4XX
    return ErrorClass.HTTP_5XX
