"""Daily counts from Prometheus's HTTP API (`/api/v1/query_range`), for the days the store
does not cover. Each day is the `increase` over the 24 hours ending at its end."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

DAY = 86400.0
TIMEOUT = 30.0


class PrometheusError(Exception):
    """Prometheus did not answer a query; the message says which and why."""


@dataclass
class DayCounts:
    """One target's canary runs on one day."""

    runs: float = 0.0
    errors: float = 0.0
    check_failed: float = 0.0
    answer_judged: float = 0.0  # answers of canaries that expect an answer
    answer_refused: float = 0.0
    ttft_p95: float | None = None
    error_classes: dict[str, float] = field(default_factory=dict)


QUERIES = {
    "outcomes": "sum by (target, outcome) (increase(chatcanary_probes_total[1d]))",
    "errors": "sum by (target, error_class) (increase(chatcanary_probe_errors_total[1d]))",
    "judged": 'sum by (target) (increase(chatcanary_responses_total{expected="answer"}[1d]))',
    "refused": 'sum by (target) (increase(chatcanary_refusals_total{expected="answer"}[1d]))',
    "ttft_p95": "histogram_quantile(0.95, sum by (target, le) "
    "(rate(chatcanary_time_to_first_token_seconds_bucket[1d])))",
}


async def daily(url: str, days: list[float]) -> dict[tuple[str, float], DayCounts]:
    """(target, day start) -> counts, for each day (its start, unix seconds) that
    Prometheus holds samples of. Raises PrometheusError."""
    if not days:
        return {}
    out: dict[tuple[str, float], DayCounts] = defaultdict(DayCounts)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for name, promql in QUERIES.items():
            for series in await _range(session, url, promql, days[0] + DAY, days[-1] + DAY):
                labels = series["metric"]
                target = labels.get("target")
                if target is None:
                    continue
                for at, text in series["values"]:
                    value = float(text)
                    if math.isnan(value):
                        continue
                    counts = out[target, float(at) - DAY]
                    _add(counts, name, labels, value)
    wanted = set(days)
    return {key: counts for key, counts in out.items() if key[1] in wanted and counts.runs > 0}


async def traffic(url: str, start: float, end: float) -> dict[str, tuple[float, float]]:
    """Per proxy, (refusals, judged answers) of real traffic over [start, end), from the
    chatcanary_traffic_* counters. Raises PrometheusError."""
    window = f"{max(1, round(end - start))}s"
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for i, name in enumerate(("refusals", "responses")):
            promql = f"sum by (proxy) (increase(chatcanary_traffic_{name}_total[{window}]))"
            for series in await _range(session, url, promql, end, end):
                proxy = series["metric"].get("proxy")
                for _, text in series["values"]:
                    if proxy is not None and not math.isnan(float(text)):
                        out[proxy][i] += float(text)
    return {proxy: (refused, judged) for proxy, (refused, judged) in out.items()}


def _add(counts: DayCounts, name: str, labels: dict[str, str], value: float) -> None:
    if name == "outcomes":
        counts.runs += value
        if labels.get("outcome") == "error":
            counts.errors += value
        elif labels.get("outcome") == "check_failed":
            counts.check_failed += value
    elif name == "errors":
        cls = labels.get("error_class", "unknown")
        counts.error_classes[cls] = counts.error_classes.get(cls, 0.0) + value
    elif name == "judged":
        counts.answer_judged += value
    elif name == "refused":
        counts.answer_refused += value
    else:
        counts.ttft_p95 = value


async def _range(
    session: aiohttp.ClientSession, url: str, promql: str, start: float, end: float
) -> list[dict[str, Any]]:
    shown = _shown(url)
    params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1d"}
    endpoint = url.rstrip("/") + "/api/v1/query_range"
    try:
        async with session.get(endpoint, params=params) as resp:
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise PrometheusError(f"Prometheus at {shown} did not answer: {exc}") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else body
        raise PrometheusError(f"Prometheus at {shown} refused a query: {error}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _shown(url: str) -> str:
    """The URL without user or password, fit for a message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=host).geturl()
