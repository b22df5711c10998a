"""What every dialect shares: one timed HTTP POST, its deadlines, its size bound, the
mapping of every network failure to an `ErrorClass`, and the small body helpers (JSON,
SSE, identity, tokens, the empty-answer rule) each dialect would otherwise repeat.

A dialect supplies a `Request` (URL, headers, JSON body) and a `read` coroutine that
consumes the response into a `Recorder`; `post` turns whatever happens into an `Exchange`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeGuard

import aiohttp

from exporter import jsontext
from exporter.config import Message, RunSpec, Target
from exporter.errors import ErrorClass, ProbeError, classify_status
from exporter.protocols.arrivals import Arrivals
from exporter.result import GAPS_KEPT, Exchange, RateLimit
from exporter.sse import Event, SSEDecoder, SSEError

ERROR_BODY_LIMIT = 64 * 1024
# finish reasons by which a server refuses on purpose: an answer without text is then a
# refusal to judge, not an empty answer (OpenAI/Azure content filter, Anthropic refusal)
REFUSAL_REASONS = frozenset({"content_filter", "refusal"})
INTERRUPTED = "stream ended with no content and no finish reason: it was cut off"
MAX_REDIRECTS = 5  # with a target's `follow_redirects: true`
# response headers worth showing an operator; an allowlist, so no credential slips through
SHOWN_HEADERS = (
    "content-type",
    "server",
    "x-request-id",
    "request-id",
    "openai-processing-ms",
    "openai-version",
    "retry-after",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-remaining",
)


@dataclass(frozen=True, slots=True)
class Request:
    """What a dialect sends, built by a pure function so it can be tested offline."""

    url: str
    headers: dict[str, str] = field(repr=False)  # carries the API key: never printed
    body: dict[str, Any]


class Recorder:
    """Mutable measurements of one exchange, frozen into an `Exchange` at the end."""

    def __init__(self, streamed: bool, prompt_chars: int = 0) -> None:
        self.started = time.perf_counter()
        self.streamed = streamed
        self.prompt_chars = prompt_chars  # of the request's messages, to estimate its tokens
        self.status: int | None = None
        self.connect_seconds: float | None = None
        self.headers_seconds: float | None = None
        self.ttft_seconds: float | None = None
        self.last_chunk: float | None = None
        self.gaps: list[float] = []  # the first GAPS_KEPT
        self.max_gap: float | None = None
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.chunks = 0
        self.error_body = bytearray()  # as much of an error status's body as has arrived
        # what the server said about the answer
        self.finish_reason: str | None = None
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.system_fingerprint: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.tokens_estimated = False
        self.server_timings: dict[str, float] = {}
        # ... and in its headers
        self.request_id: str | None = None
        self.retry_after: float | None = None
        self.ratelimit = RateLimit()
        self.headers: dict[str, str] = {}
        self.on_first_token: Callable[[], None] = lambda: None

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def content(self, text: str, refusal: str = "", at: float | None = None) -> None:
        """Record a chunk of answer; the first non-empty one stamps the first token."""
        if not text and not refusal:
            return
        now = self.elapsed() if at is None else at
        if self.ttft_seconds is None:
            self.ttft_seconds = now
            self.on_first_token()
        elif self.last_chunk is not None:
            gap = now - self.last_chunk
            if len(self.gaps) < GAPS_KEPT:
                self.gaps.append(gap)
            self.max_gap = gap if self.max_gap is None else max(self.max_gap, gap)
        self.last_chunk = now
        self.chunks += 1
        if text:
            self.text.append(text)
        if refusal:
            self.refusal.append(refusal)

    def response(self, resp: aiohttp.ClientResponse, ratelimit_prefix: str) -> None:
        self.status = resp.status
        self.headers_seconds = self.elapsed()
        headers = resp.headers
        self.request_id = headers.get("x-request-id") or headers.get("request-id")
        self.retry_after = retry_after(headers)
        self.ratelimit = ratelimit(headers, ratelimit_prefix)
        self.headers = {h: headers[h] for h in SHOWN_HEADERS if h in headers}

    def build(
        self, error: ErrorClass | None = None, detail: str = "", duration: float | None = None
    ) -> Exchange:
        """The measurements frozen; `duration` (seconds from the start) is now if None."""
        if not self.streamed and self.ttft_seconds is not None:
            self.ttft_seconds = None  # one JSON body has no first token, only an end
        return Exchange(
            status=self.status,
            connect_seconds=self.connect_seconds,
            headers_seconds=self.headers_seconds,
            ttft_seconds=self.ttft_seconds,
            duration_seconds=self.elapsed() if duration is None else duration,
            chunk_gaps=tuple(self.gaps),
            chunks=self.chunks,
            max_gap_seconds=self.max_gap,
            text="".join(self.text),
            refusal="".join(self.refusal),
            finish_reason=self.finish_reason,
            response_model=self.response_model,
            system_fingerprint=self.system_fingerprint,
            request_id=self.request_id,
            response_id=self.response_id,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tokens_estimated=self.tokens_estimated,
            ratelimit=self.ratelimit,
            headers=self.headers,
            retry_after=self.retry_after,
            streamed=self.streamed,
            server_timings=self.server_timings,
            error_class=error,
            error_detail=detail,
        )


def timing_trace() -> aiohttp.TraceConfig:
    """A session hook on each request's connection, for its `Recorder`.

    The request's clock (re)starts when its connection starts to open, or is taken from
    the pool: building the request in Python is the prober's own time, not the service's,
    while DNS, TCP and TLS stay in every figure. It also stamps when the connection was
    ready, for the run page's waterfall."""

    async def opening(_session: object, context: Any, _params: object) -> None:
        rec = context.trace_request_ctx
        if isinstance(rec, Recorder) and rec.connect_seconds is None:
            rec.started = time.perf_counter()

    async def ready(_session: object, context: Any, _params: object) -> None:
        rec = context.trace_request_ctx
        if isinstance(rec, Recorder) and rec.connect_seconds is None:
            rec.connect_seconds = rec.elapsed()

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_start.append(opening)
    trace.on_connection_create_end.append(ready)
    trace.on_connection_reuseconn.append(opening)
    trace.on_connection_reuseconn.append(ready)
    return trace


Reader = Callable[[aiohttp.ClientResponse, Recorder, int], Awaitable[None]]
# Given an error status and its body, records it as the answer and returns True when the
# dialect knows it for one (Azure refuses a filtered prompt with HTTP 400).
ErrorAnswer = Callable[[int, bytes, Recorder], bool]


@dataclass(frozen=True)
class Dialect:
    """A wire dialect: how to build its request and read its two kinds of answer."""

    build: Callable[[RunSpec, Sequence[Message]], Request]
    read_stream: Reader
    read_json: Reader
    ratelimit_prefix: str
    error_answer: ErrorAnswer | None = None

    async def probe(
        self,
        session: aiohttp.ClientSession,
        spec: RunSpec,
        messages: Sequence[Message],
        deadline: float,
    ) -> Exchange:
        rec = Recorder(spec.stream, sum(len(m.content) for m in messages))
        request, payload = self.rendered(spec, messages)
        return await post(session, spec, request, payload, deadline, rec, self)

    def rendered(self, spec: RunSpec, messages: Sequence[Message]) -> tuple[Request, bytes]:
        """The request and its JSON body's bytes. A canary's first turn is the same run
        after run: it is rendered once per run spec and kept."""
        sent = tuple(messages)
        kept = _RENDERED.get(id(spec))
        if kept is not None and kept[0] is spec and kept[1] == sent:
            return kept[2], kept[3]
        request = self.build(spec, messages)
        payload = json.dumps(request.body).encode()
        if sent == first_turn(spec):  # not a later turn, nor a judge's question
            if len(_RENDERED) >= RENDERED_KEPT:  # specs of old configs: start again
                _RENDERED.clear()
            _RENDERED[id(spec)] = (spec, sent, request, payload)
        return request, payload


def first_turn(spec: RunSpec) -> tuple[Message, ...]:
    """The messages of a canary's first turn."""
    canary = spec.canary
    return (*canary.preamble(), Message(role="user", content=canary.user_turns()[0]))


# Rendered first turns by the id of their run spec; the spec is kept with them so that an
# id reused by a new spec never matches.
_RENDERED: dict[int, tuple[RunSpec, tuple[Message, ...], Request, bytes]] = {}
RENDERED_KEPT = 4096


def json_headers(
    target: Target, key_header: str, key_prefix: str = "", **extra: str
) -> dict[str, str]:
    """JSON content type, the dialect's extra headers, the user's headers, and the key."""
    headers = {"content-type": "application/json", **extra, **target.header_values()}
    if target.api_key is not None:
        headers[key_header] = key_prefix + target.api_key.get_secret_value()
    return headers


async def post(
    session: aiohttp.ClientSession,
    spec: RunSpec,
    request: Request,
    payload: bytes,
    deadline: float,
    rec: Recorder,
    dialect: Dialect,
) -> Exchange:
    """POST the request (`payload`: its body's JSON bytes) and let the dialect read the
    answer into `rec`, within the run's deadlines. Every failure becomes a classified
    `Exchange`.

    Until the first content token the tighter first-token deadline applies; after it,
    the run's own deadline. A JSON answer's first token is its end, so there only a
    `first_token_timeout` set below `timeout` bounds it: else a slow answer is a plain
    `timeout`, as the alerts on that class expect.
    """
    read = dialect.read_stream if rec.streamed else dialect.read_json
    first_token_deadline = deadline
    # unset, `first_token_timeout` is `timeout` (see RunSpec): only a streamed answer has
    # a first token before its end to wait for
    if rec.streamed or spec.first_token_timeout < spec.timeout:
        now = asyncio.get_running_loop().time()
        first_token_deadline = min(deadline, now + spec.first_token_timeout)
    timer = asyncio.timeout_at(first_token_deadline)
    rec.on_first_token = lambda: timer.reschedule(deadline)
    timeout = aiohttp.ClientTimeout(total=None, connect=spec.connect_timeout)
    try:
        async with (
            timer,
            session.post(
                request.url,
                data=payload,
                headers=request.headers,
                timeout=timeout,
                allow_redirects=spec.target.follow_redirects,
                max_redirects=MAX_REDIRECTS,
                trace_request_ctx=rec,
            ) as resp,
        ):
            rec.response(resp, dialect.ratelimit_prefix)
            if not await _check_status(resp, rec, dialect.error_answer):
                await read(resp, rec, spec.max_response_bytes)
    except ProbeError as exc:
        return rec.build(exc.error_class, exc.detail)
    except aiohttp.ConnectionTimeoutError:
        return rec.build(
            ErrorClass.CONNECT_TIMEOUT, f"no connection within {spec.connect_timeout}s"
        )
    except TimeoutError:
        return rec.build(*_late(rec, rec.streamed or first_token_deadline < deadline))
    except aiohttp.ClientError as exc:
        return rec.build(*classify_client_error(exc, rec.status is not None))
    except OSError as exc:
        error = ErrorClass.TRUNCATED if rec.status is not None else ErrorClass.CONNECTION
        return rec.build(error, root_cause(exc))
    except UnicodeError as exc:
        # a host name the resolver cannot even encode (a label over 63 characters, an
        # empty one): it fails in getaddrinfo's IDNA step, before any lookup
        if rec.status is not None:
            raise
        # the codec wraps the reason ("label empty or too long") in a message of its own
        cause = root_cause(exc.__cause__ or exc)
        return rec.build(ErrorClass.DNS, f"host name cannot be resolved: {cause}")
    return rec.build()


def _late(rec: Recorder, first_token_bound: bool) -> tuple[ErrorClass, str]:
    """Why a run that met its deadline failed. An error status says it best, even when its
    body never finished; else no first token (where a first-token deadline applies), else
    an unfinished answer."""
    if rec.status is not None and (error := classify_status(rec.status)) is not None:
        partial = error_message(bytes(rec.error_body))
        return error, f"HTTP {rec.status}, its body unfinished at the deadline: {partial}"
    if rec.ttft_seconds is None and first_token_bound:
        return ErrorClass.FIRST_TOKEN_TIMEOUT, "no first token before the deadline"
    return ErrorClass.TIMEOUT, "the answer did not finish before the deadline"


def classify_client_error(exc: aiohttp.ClientError, responded: bool) -> tuple[ErrorClass, str]:
    detail = describe_client_error(exc)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ErrorClass.DNS, detail
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return ErrorClass.TLS, detail
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ErrorClass.TRUNCATED, detail
    if isinstance(exc, aiohttp.ClientResponseError):
        return ErrorClass.MALFORMED, detail
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientOSError):
        return (ErrorClass.TRUNCATED if responded else ErrorClass.CONNECTION), detail
    return ErrorClass.MALFORMED, detail


def describe_client_error(exc: aiohttp.ClientError) -> str:
    """What went wrong, in an operator's words: the root cause ("connection refused"),
    not aiohttp's class names and connection key (`ssl:default` on plain HTTP)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"{root_cause(exc.certificate_error)} (connecting to {exc.host}:{exc.port})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"{root_cause(exc.os_error)} (connecting to {exc.host}:{exc.port})"
    framing = getattr(exc.__cause__, "message", None)
    if isinstance(exc, aiohttp.ClientPayloadError) and isinstance(framing, str):
        # aiohttp puts the framing error's repr in the message; its own text says it
        return f"response payload is not completed: {_sentence(framing)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return _sentence(exc.message) or f"HTTP {exc.status}"
    return root_cause(exc)


def root_cause(exc: BaseException) -> str:
    """An OS, TLS or other error as the words that explain it: the system's text for its
    errno (asyncio words a refused connection "Connect call failed (...)"), a certificate's
    verification message, a TLS alert's reason, else the message or the class in words."""
    if isinstance(exc, ssl.SSLError):  # both attributes are unset on a hand-made error
        if verified := getattr(exc, "verify_message", None):
            return f"certificate verify failed: {verified}"
        if reason := getattr(exc, "reason", None):
            return f"TLS error: {reason.lower().replace('_', ' ')}"
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno > 0:
        return _sentence(os.strerror(exc.errno))
    if isinstance(exc, OSError) and exc.strerror:  # getaddrinfo's negative codes
        return _sentence(exc.strerror)
    # one argument is the message (str() of an OSError made with one shows a tuple)
    message = _sentence(str(exc.args[0]) if len(exc.args) == 1 else str(exc))
    if message:
        return message
    # no message (`ConnectionResetError()`): the class says it, "connection reset"
    words = " ".join(re.findall(r"[A-Z]+[a-z]*|[a-z]+", type(exc).__name__)).lower()
    return words.removesuffix(" error") if isinstance(exc, OSError) else words


def _sentence(text: str) -> str:
    """One line, starting lower case unless its first word is an acronym (TLS, HTTP),
    without the caret line under aiohttp's quote of a bad byte."""
    # by hand: the regex it replaces (\n\s*\^\s*$) was quadratic in a run of line breaks
    stripped = text.rstrip()
    if stripped.endswith("^"):
        body = stripped[:-1].rstrip()
        if "\n" in stripped[len(body) : -1]:
            text = body
    text = " ".join(text.split())
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[1:2].islower() else text


async def _check_status(
    resp: aiohttp.ClientResponse, rec: Recorder, error_answer: ErrorAnswer | None
) -> bool:
    """Raise the error of a failed status; True when `error_answer` took it as the answer."""
    if 300 <= resp.status < 400:
        where = resp.headers.get("location", "?")
        raise ProbeError(
            ErrorClass.MALFORMED,
            f"HTTP {resp.status} redirect to {where}: point base_url at the final address "
            "(or set follow_redirects: true on the target)",
        )
    error = classify_status(resp.status)
    if error is None:
        return False
    raw = await _read_error_body(resp, rec)
    if error_answer is not None and error_answer(resp.status, raw, rec):
        return True
    raise ProbeError(error, f"HTTP {resp.status}: {error_message(raw)}")


async def _read_error_body(resp: aiohttp.ClientResponse, rec: Recorder) -> bytes:
    """An error status's body, whole up to ERROR_BODY_LIMIT bytes (one read returns only
    what has arrived: a content-filter refusal cut between two TCP segments would read as
    a broken JSON error). Kept in `rec` as it comes, to show what came of a body that
    never ends when the deadline ends the run."""
    async for chunk in resp.content.iter_any():
        rec.error_body += chunk[: ERROR_BODY_LIMIT - len(rec.error_body)]
        if len(rec.error_body) == ERROR_BODY_LIMIT:
            break
    return bytes(rec.error_body)


def error_message(raw: bytes) -> str:
    """The message of a JSON error body (OpenAI, Anthropic and Ollama shapes), or its text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = parse_json(text)
    except ProbeError:
        return text or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return text


async def bounded_chunks(resp: aiohttp.ClientResponse, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives, raising `too_large` past `limit` bytes."""
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise ProbeError(ErrorClass.TOO_LARGE, f"response larger than {limit} bytes")
        yield chunk


async def timed_chunks(
    resp: aiohttp.ClientResponse, rec: Recorder, limit: int
) -> AsyncIterator[tuple[float, bytes]]:
    """The body as it arrives, in pieces each with when its read came (seconds since the
    request's start), raising `too_large` past `limit` bytes."""
    arrivals = Arrivals(resp)
    started = rec.started
    try:
        async for chunk in bounded_chunks(resp, limit):
            for at, piece in arrivals.split(chunk):
                yield at - started, piece
    finally:
        arrivals.close()


async def read_all(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    return b"".join([chunk async for chunk in bounded_chunks(resp, limit)])


def require_content_type(resp: aiohttp.ClientResponse, *expected: str) -> None:
    if resp.content_type not in expected:
        raise ProbeError(
            ErrorClass.MALFORMED,
            f"expected content-type {' or '.join(expected)}, got {resp.content_type or 'none'}",
        )


async def sse_events(
    resp: aiohttp.ClientResponse, rec: Recorder, limit: int
) -> AsyncIterator[tuple[float, Event]]:
    """The server-sent events of a streamed body, each with the time the read that
    ended it came."""
    require_content_type(resp, "text/event-stream")
    decoder = SSEDecoder()
    async for now, piece in timed_chunks(resp, rec, limit):
        try:
            events = decoder.feed(piece)
        except SSEError as exc:
            for event in exc.events:  # what came before the bad line counts
                yield now, event
            raise ProbeError(ErrorClass.MALFORMED, str(exc)) from None
        for event in events:
            yield now, event


def parse_json(text: str) -> Any:
    try:
        return jsontext.loads(text)
    # a deeply nested body exhausts the parser's recursion: hostile, so malformed
    except (ValueError, RecursionError) as exc:
        raise ProbeError(ErrorClass.MALFORMED, f"invalid JSON: {exc}") from None


async def read_json_body(resp: aiohttp.ClientResponse, limit: int) -> tuple[Any, bytes]:
    """A whole JSON body, parsed, and its bytes. JSON is UTF-8 (RFC 8259), strictly, as a
    stream is. The content type is not required (the official SDKs parse JSON under any
    label), but named when the body does not parse: it is most often an HTML error page."""
    raw = await read_all(resp, limit)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProbeError(ErrorClass.MALFORMED, f"invalid UTF-8 in body: {exc.reason}") from None
    try:
        return parse_json(text), raw
    except ProbeError as exc:
        kind = resp.content_type
        if kind == "application/json" or kind.endswith("+json"):
            raise
        raise ProbeError(
            exc.error_class, f"expected a JSON body, got {kind}: {exc.detail}"
        ) from None


def as_text(value: Any) -> str:
    """A JSON value that should be a string, or "" when the server sent something else."""
    return value if isinstance(value, str) else ""


def identity(data: Mapping[str, Any], rec: Recorder) -> None:
    """The response's model, id and system fingerprint, where the object carries them."""
    rec.response_model = as_text(data.get("model")) or rec.response_model
    rec.response_id = as_text(data.get("id")) or rec.response_id
    if isinstance(data.get("system_fingerprint"), str):
        rec.system_fingerprint = data["system_fingerprint"]


def record_tokens(rec: Recorder, input_tokens: Any, output_tokens: Any) -> None:
    """Token counts as the server reported them; anything but an integer is ignored."""
    if _count(input_tokens):
        rec.input_tokens = input_tokens
    if _count(output_tokens):
        rec.output_tokens = output_tokens


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def finish_answer(rec: Recorder) -> None:
    """Close a well-formed answer: estimate the tokens the server did not report, so the
    cost guard counts them too (output: a streamed chunk each; else, and for the prompt,
    four characters each), and fail an answer with no content unless the server withheld
    it on purpose as a refusal."""
    if rec.output_tokens is None:
        rec.output_tokens = rec.chunks if rec.streamed else _tokens(sum(map(len, rec.text)))
        rec.tokens_estimated = True
    if rec.input_tokens is None:
        rec.input_tokens = _tokens(rec.prompt_chars)
        rec.tokens_estimated = True
    if not rec.text and not rec.refusal and rec.finish_reason not in REFUSAL_REASONS:
        raise ProbeError(ErrorClass.EMPTY_ANSWER, "the answer has no content")


def _tokens(chars: int) -> int:
    """Tokens of `chars` characters of text, by the common rule of thumb of four each."""
    return math.ceil(chars / 4)


class StreamState:
    """Whether a stream reached its end marker; what follows it is read but ignored."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False


def end_stream(rec: Recorder, state: StreamState, truncated: str) -> None:
    """Judge a finished stream: it reached its end marker, or at least said why it stopped
    (else it was cut, and `truncated` says how), and it carries an answer. An end marker
    with neither content nor a reason is a cut too: llama-cpp-python's server ends a
    stream so when another request interrupts it."""
    if rec.finish_reason is None:
        if not state.done:
            raise ProbeError(ErrorClass.TRUNCATED, truncated)
        if not rec.text and not rec.refusal:
            raise ProbeError(ErrorClass.TRUNCATED, INTERRUPTED)
    finish_answer(rec)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    if (ms := _number(headers.get("retry-after-ms"))) is not None:
        return max(0.0, ms / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    if (seconds := _number(value)) is not None:
        return max(0.0, seconds)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def ratelimit(headers: Mapping[str, str], prefix: str) -> RateLimit:
    """Rate-limit headroom from `{prefix}-{limit,remaining}-{requests,tokens}` headers
    (OpenAI's order) or `{prefix}-{requests,tokens}-{limit,remaining}` (Anthropic's)."""

    def header(measure: str, kind: str) -> float | None:
        value = headers.get(f"{prefix}-{measure}-{kind}")
        return _number(value or headers.get(f"{prefix}-{kind}-{measure}"))

    return RateLimit(
        limit_requests=header("limit", "requests"),
        remaining_requests=header("remaining", "requests"),
        limit_tokens=header("limit", "tokens"),
        remaining_tokens=header("remaining", "tokens"),
    )


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
