"""Secrets out of everything shown: which values of a run are secret, and the run's texts
with those values replaced.

The runner redacts each exchange as it arrives; the web redacts again with the target's
current secrets before it shows a kept run (a key may have changed since), and the OTel
sink marks what its patterns remove the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from exporter.config import RunSpec
from exporter.result import Exchange, ProbeResult

REDACTED = "[redacted]"


def secrets(spec: RunSpec) -> tuple[str, ...]:
    """Values that must never leave the process: the API key and every header value
    that looks like a credential."""
    found = [] if spec.target.api_key is None else [spec.target.api_key.get_secret_value()]
    for name, value in spec.target.header_values().items():
        if is_secret_header(name):
            found.append(value)
            # `Bearer <token>`, `Basic <creds>`: a server may echo the credential alone
            _scheme, _, credential = value.strip().partition(" ")
            if credential.strip():
                found.append(credential.strip())
    return tuple(s for s in found if len(s) >= 4)


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in ("auth", "key", "token", "secret", "cookie"))


def scrub(text: str, values: Sequence[str]) -> str:
    """`text` with every value replaced; longest first, so a secret that begins with
    another leaves no tail behind."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def redact(exchange: Exchange, values: tuple[str, ...]) -> Exchange:
    """The exchange with every secret replaced wherever a server could echo it back: the
    answer, the error, the reported identity and ids, and the headers we show."""
    if not values:
        return exchange

    def dirty(text: str | None) -> bool:
        return text is not None and any(v in text for v in values)

    changes: dict[str, object] = {
        name: scrub(getattr(exchange, name), values)
        for name in _ECHOED
        if dirty(getattr(exchange, name))
    }
    if any(dirty(v) for v in exchange.headers.values()):
        changes["headers"] = {k: scrub(v, values) for k, v in exchange.headers.items()}
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
