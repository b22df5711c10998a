"""What the page and the JSON API show, as plain data: one function per view, pure.

The HTML pages render these dicts and the API returns them as JSON, so both always say
the same thing. The API hands them runs already redacted (exporter/redaction.py) with the
current secrets of their target.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, get_args

from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from exporter import __version__
from exporter.checkspecs import parse_duration
from exporter.config import Config, Protocol, RunSpec, Target
from exporter.history import Spark
from exporter.redaction import masked_url
from exporter.result import Exchange, Outcome, ProbeResult


class State(StrEnum):
    """A canary's state on the page: its last outcome, or pending before its first run."""

    SUCCESS = "success"
    ERROR = "error"
    CHECK_FAILED = "check_failed"
    PENDING = "pending"


FAILING = (State.ERROR, State.CHECK_FAILED)


def finished_at(result: ProbeResult) -> float:
    return result.started_at + result.duration_seconds


def row(
    spec: RunSpec, last: ProbeResult | None, recent: Sequence[Spark], now: float
) -> dict[str, Any]:
    """One (target, canary) of the status grid: its last run and the sparkline's runs,
    oldest first."""
    out: dict[str, Any] = {
        "target": spec.target.name,
        "canary": spec.canary.name,
        "model": spec.target.model,
        "protocol": str(spec.target.protocol),
        "interval_seconds": spec.interval,
        "expect_refusal": spec.canary.expect_refusal,
        "state": str(State.PENDING if last is None else State(str(last.outcome))),
        "recent": [
            {"run_id": r.run_id, "outcome": str(r.outcome), "duration_seconds": r.duration_seconds}
            for r in recent
        ],
        "last": None,
    }
    if last is not None:
        out["last"] = {
            "run_id": last.run_id,
            "finished_at": finished_at(last),
            "age_seconds": max(0.0, now - finished_at(last)),
            "ttft_seconds": last.ttft_seconds,
            "duration_seconds": last.duration_seconds,
            "error_class": None if last.error_class is None else str(last.error_class),
            "http_status": last.last.status,
            "refused": last.refused,
            "refusal_detector": None if last.refusal is None else last.refusal.detector,
            "checks_passed": sum(c.passed for c in last.checks),
            "checks_total": len(last.checks),
            "failed_checks": list(last.failed_checks),
            "response_model": last.last.response_model,
            "system_fingerprint": last.last.system_fingerprint,
        }
    return out


def status(rows: list[dict[str, Any]], targets: list[str]) -> dict[str, Any]:
    counts = {str(s): 0 for s in State}
    for r in rows:
        counts[r["state"]] += 1
    return {
        "version": __version__,
        "generated_at": time.time(),
        "targets": targets,
        "canaries": len(rows),
        "failing": sum(counts[str(s)] for s in FAILING),
        "counts": counts,
        "results": rows,
    }


def turn(exchange: Exchange, number: int) -> dict[str, Any]:
    return {
        "turn": number,
        "prompt": exchange.prompt,
        "answer": exchange.text,
        "refusal": exchange.refusal or None,
        "started_at": exchange.started_at,
        "http_status": exchange.status,
        "streamed": exchange.streamed,
        "timings": {
            "connect_seconds": exchange.connect_seconds,
            "headers_seconds": exchange.headers_seconds,
            "ttft_seconds": exchange.ttft_seconds,
            "duration_seconds": exchange.duration_seconds,
        },
        "chunks": exchange.chunks if exchange.ttft_seconds is not None else None,
        "max_gap_seconds": exchange.max_gap_seconds,
        "input_tokens": exchange.input_tokens,
        "output_tokens": exchange.output_tokens,
        "tokens_estimated": exchange.tokens_estimated,
        "finish_reason": exchange.finish_reason,
        "response_model": exchange.response_model,
        "system_fingerprint": exchange.system_fingerprint,
        "response_id": exchange.response_id,
        "request_id": exchange.request_id,
        "headers": dict(exchange.headers),
        "server_timings": dict(exchange.server_timings),
        "error_class": None if exchange.error_class is None else str(exchange.error_class),
        "error_detail": exchange.error_detail or None,
    }


def run(
    result: ProbeResult,
    spec: RunSpec | None,
    trace_url: str | None,
    kept_failure: bool = False,
    shard: str = "0/1",
    content_kept: bool = True,
) -> dict[str, Any]:
    """A run in full: the summary, the shard that ran it, the preamble the canary sends
    (from the current config, when the pair is still configured), and every turn. Once
    retention deleted the exchange (`content_kept` false), the one turn left carries the
    summary's numbers and no text."""
    out = result.summary()
    del out["answer"]  # each turn carries its own
    out["shard"] = shard
    out["content_kept"] = content_kept
    out["started_at"] = result.started_at
    out["finished_at"] = finished_at(result)
    out["trace_url"] = (
        trace_url.replace("{trace_id}", result.trace_id)
        if trace_url is not None and result.trace_id is not None
        else None
    )
    out["kept_failure"] = kept_failure
    preamble = spec.canary.preamble() if spec is not None else ()
    out["preamble"] = [{"role": m.role, "content": m.content} for m in preamble]
    out["turns"] = [turn(t, i) for i, t in enumerate(result.turns, start=1)]
    return out


def brief(result: ProbeResult, shard: str = "0/1") -> dict[str, Any]:
    """A run as the runs list shows it, with the shard that ran it."""
    return {
        "run_id": result.run_id,
        "shard": shard,
        "target": result.target,
        "canary": result.canary,
        "model": result.model,
        "outcome": str(result.outcome),
        "started_at": result.started_at,
        "duration_seconds": result.duration_seconds,
        "ttft_seconds": result.ttft_seconds,
        "error_class": None if result.error_class is None else str(result.error_class),
        "failed_checks": list(result.failed_checks),
        "refused": result.refused,
        "trace_id": result.trace_id,
    }


def is_failure(result: ProbeResult) -> bool:
    return result.outcome is not Outcome.SUCCESS


# --- the configuration ------------------------------------------------------------------

# A target field that only its dialect reads: elsewhere it is a default nobody set and
# nothing sends, so showing it would suggest otherwise.
DIALECT_FIELDS = {"api_version": Protocol.AZURE_OPENAI, "anthropic_version": Protocol.ANTHROPIC}
UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))


def config(cfg: Config) -> dict[str, Any]:
    """The configuration as the /config page shows it: secrets masked (pydantic's
    SecretStr dumps as stars; any URL's `user:password@` too), durations in the YAML's
    units, `name` first in each object, and no field that the target's dialect does not
    read."""
    return _shown(cfg)


def duration_text(seconds: float) -> str:
    """Seconds in the largest unit that holds them whole: 90.0 is `90s`, 0.25 is `250ms`;
    `parse_duration` reads every form back to the same number."""
    for unit, size in UNITS:
        count = round(seconds / size, 6)
        if count >= 1 and count.is_integer():
            return f"{count:.0f}{unit}"
    return f"{seconds:g}s"


def _shown(model: BaseModel) -> dict[str, Any]:
    # by alias: the `json` check's field is `json_` in Python and `json` in the YAML
    dumped = model.model_dump(mode="json", exclude_none=True, by_alias=True)
    fields = type(model).model_fields
    names = {field.alias or name: name for name, field in fields.items()}
    out: dict[str, Any] = {}
    for key in sorted(dumped, key=lambda k: k != "name"):  # stable: the rest keep their order
        if isinstance(model, Target) and DIALECT_FIELDS.get(key, model.protocol) != model.protocol:
            continue
        name = names.get(key)
        value = None if name is None else getattr(model, name)
        if isinstance(value, BaseModel):
            out[key] = _shown(value)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            out[key] = [_shown(item) for item in value]
        elif name is not None and value is not None and _is_duration(fields[name]):
            out[key] = duration_text(value)
        elif isinstance(dumped[key], str) and "://" in dumped[key]:
            # any URL: a target's base_url, a proxy's upstream, the OTLP endpoint, the
            # report's Prometheus may carry `user:password@`
            out[key] = masked_url(dumped[key])
        else:
            out[key] = dumped[key]
    return out


def _is_duration(field: FieldInfo) -> bool:
    marks = list(field.metadata)  # a plain `Duration` field
    for arg in get_args(field.annotation):  # `Duration | None`: Annotated's own metadata
        marks += get_args(arg)[1:]
    return any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in marks)
