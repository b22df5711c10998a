"""`/probe?target=&canary=`: blackbox-style `probe_*` metrics for one run, on a registry
of its own per request, and the `debug=true` text (the run's log, its metrics, the
canary's config with secrets hidden)."""

from __future__ import annotations

import time
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from exporter.config import RunSpec
from exporter.redaction import masked_url
from exporter.result import Outcome, ProbeResult
from exporter.web.views import finished_at


def registry_for(result: ProbeResult, cached: bool, now: float) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)

    def gauge(name: str, doc: str, value: float | None, **labels: str) -> None:
        if value is None:
            return
        g = Gauge(name, doc, list(labels), registry=registry)
        (g.labels(**labels) if labels else g).set(value)

    gauge("probe_success", "Whether the run succeeded.", _flag(result.outcome is Outcome.SUCCESS))
    gauge("probe_duration_seconds", "Duration of the run.", result.duration_seconds)
    gauge(
        "probe_time_to_first_token_seconds",
        "Time from request start to the first chunk with content.",
        result.ttft_seconds,
    )
    gauge("probe_http_status_code", "HTTP status of the last response.", result.last.status)
    gauge("probe_input_tokens", "Input tokens of the run.", result.input_tokens)
    gauge("probe_output_tokens", "Output tokens of the run.", result.output_tokens)
    gauge(
        "probe_refused",
        "Whether the last answer was judged a refusal.",
        None if result.refused is None else _flag(result.refused),
    )
    if result.checks:
        checks = Gauge(
            "probe_check_success", "Whether each check passed.", ["check"], registry=registry
        )
        for check in result.checks:
            checks.labels(check.name).set(_flag(check.passed))
    if result.error_class is not None:
        gauge("probe_error_info", "Why the run errored.", 1, error_class=str(result.error_class))
    gauge("probe_cached", "Whether a recent result was reused instead of a new run.", _flag(cached))
    gauge(
        "probe_result_age_seconds",
        "Seconds since the run finished.",
        max(0.0, now - finished_at(result)),
    )
    return registry


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def metrics_text(result: ProbeResult, cached: bool, now: float | None = None) -> bytes:
    return generate_latest(registry_for(result, cached, time.time() if now is None else now))


def debug_text(result: ProbeResult, cached: bool, spec: RunSpec) -> str:
    """The run's log, the metrics the scrape would have returned, and the config."""
    lines = ["Logs for the probe:", *run_log(result, cached), ""]
    lines += ["Metrics that would have been returned:", metrics_text(result, cached).decode()]
    lines += ["Canary configuration (secrets redacted):", config_yaml(spec)]
    return "\n".join(lines)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"


def run_log(result: ProbeResult, cached: bool) -> list[str]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.started_at))
    how = "reused a recent result" if cached else "ran now"
    out = [f"{stamp} run {result.run_id} of {result.target}/{result.canary} ({how})"]
    for number, t in enumerate(result.turns, start=1):
        out.append(f"  turn {number}: connection ready after {_ms(t.connect_seconds)}")
        out.append(f"  turn {number}: headers after {_ms(t.headers_seconds)} (HTTP {t.status})")
        if t.ttft_seconds is not None:
            out.append(f"  turn {number}: first token after {_ms(t.ttft_seconds)}")
        tokens = f"{t.input_tokens or 0} in / {t.output_tokens or 0} out"
        out.append(
            f"  turn {number}: finished after {_ms(t.duration_seconds)}; {tokens}; "
            f"finish_reason={t.finish_reason}"
        )
        if t.error_class is not None:
            out.append(f"  turn {number}: error {t.error_class}: {t.error_detail}")
    for check in result.checks:
        verdict = "passed" if check.passed else "FAILED"
        out.append(f"  check {check.name}: {verdict}: {check.reason}")
    if result.refusal is not None:
        refusal = result.refusal
        word = "refused" if refusal.refused else "answered"
        reason = f": {refusal.reason}" if refusal.reason else ""
        out.append(f"  refusal: {word} (detector {refusal.detector}{reason})")
    why = "" if result.error_class is None else f" ({result.error_class}: {result.error_detail})"
    out.append(f"  outcome: {result.outcome}{why} after {_ms(result.duration_seconds)}")
    return out


def config_yaml(spec: RunSpec) -> str:
    """The target and canary as configured; secret values (and the base URL's userinfo)
    print as asterisks."""
    target = spec.target.model_dump(mode="json", exclude_none=True)
    target["base_url"] = masked_url(spec.target.base_url)
    data: dict[str, Any] = {
        "target": target,
        "canary": spec.canary.model_dump(mode="json", exclude_none=True),
    }
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)
    return text
