"""Secrets out of everything shown: which values of a run are secret, and the run's texts
with those values replaced.

The runner redacts each exchange as it arrives, before anything cuts its texts short
(`Exchange.bounded`); the web redacts again with the target's current secrets before it
shows a kept run (a key may have changed since), and the OTel sink marks what its
patterns remove the same way. A text that ends in a secret's first PREFIX_CHARS or more
characters (a server, or anything else, cut it there) loses that tail too.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import unquote, urlsplit, urlunsplit

from exporter.config import RunSpec
from exporter.result import Exchange, ProbeResult

REDACTED = "[redacted]"
MASK = "**********"  # as pydantic shows a secret
PREFIX_CHARS = 8
# what may follow a secret cut short: an ellipsis, stars, quotes, brackets, white space
_AFTER_CUT = " \t\r\n.…*\"'()[]"


def secrets(spec: RunSpec) -> tuple[str, ...]:
    """Values that must never leave the process: the API key, every header value that
    looks like a credential, and the credentials in the base URL (`user:password@`)."""
    found = [] if spec.target.api_key is None else [spec.target.api_key.get_secret_value()]
    found += url_credentials(spec.target.base_url)
    for name, value in spec.target.header_values().items():
        if is_secret_header(name):
            found.append(value)
            # `Bearer <token>`, `Basic <creds>`: a server may echo the credential alone
            _scheme, _, credential = value.strip().partition(" ")
            if credential.strip():
                found.append(credential.strip())
    return tuple(s for s in found if len(s) >= 4)


def url_credentials(url: str) -> list[str]:
    """The userinfo of `url` as a server could echo it: as written, the password (or a
    user without one) as written and decoded, and the Basic credential aiohttp sends."""
    parts = urlsplit(url)
    userinfo, at, _host = parts.netloc.rpartition("@")
    if not at:
        return []
    user, _, password = userinfo.partition(":")
    credential = password or user
    basic = f"{unquote(user)}:{unquote(password)}".encode("latin-1", "replace")
    return [userinfo, credential, unquote(credential), base64.b64encode(basic).decode()]


def masked_url(url: str) -> str:
    """`url` with its userinfo masked, for showing the configuration."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in ("auth", "key", "token", "secret", "cookie"))


def scrub(text: str, values: Sequence[str]) -> str:
    """`text` with every value replaced (longest first, so a secret that begins with
    another leaves no tail behind), and with a tail that is a value cut short."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return _cut_tail(text, values)


def _cut_tail(text: str, values: Sequence[str]) -> str:
    """`text` with its end replaced when it is a value's first PREFIX_CHARS or more
    characters, before what may follow a cut (`sk-proj-ab…`, `sk-proj-ab****`)."""
    body = text.rstrip(_AFTER_CUT)
    for value in values:
        for size in range(min(len(value) - 1, len(body)), PREFIX_CHARS - 1, -1):
            if body.endswith(value[:size]):
                return body[:-size] + REDACTED + text[len(body) :]
    return text


def redact(exchange: Exchange, values: tuple[str, ...]) -> Exchange:
    """The exchange with every secret replaced wherever a server could echo it back: the
    answer, the error, the reported identity and ids, and the headers we show."""
    if not values:
        return exchange
    changes: dict[str, object] = {}
    for name in _ECHOED:
        text = getattr(exchange, name)
        if text is not None and (clean := scrub(text, values)) != text:
            changes[name] = clean
    headers = {k: scrub(v, values) for k, v in exchange.headers.items()}
    if headers != exchange.headers:
        changes["headers"] = headers
    return replace(exchange, **changes) if changes else exchange  # type: ignore[arg-type]


def redact_result(result: ProbeResult, values: tuple[str, ...]) -> ProbeResult:
    """The run with every secret replaced in each exchange and in its error detail."""
    if not values:
        return result
    return replace(
        result,
        error_detail=scrub(result.error_detail, values),
        turns=tuple(redact(t, values) for t in result.turns),
    )


# the Exchange's text fields whose content comes from the server
_ECHOED = (
    "text",
    "refusal",
    "error_detail",
    "finish_reason",
    "response_model",
    "system_fingerprint",
    "request_id",
    "response_id",
)
