"""The traffic metrics: bounded labels, and the families promtool accepts."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import Metrics, Proxy
from exporter.errors import ErrorClass
from exporter.proxy.metrics import Cap, TrafficMetrics
from exporter.result import Exchange, TrafficOutcome, TrafficRecord, Verdict


def record(model: str = "m", tenant: str | None = None, **changes: Any) -> TrafficRecord:
    fields: dict[str, Any] = {
        "exchange_id": "e",
        "proxy": "p",
        "route": "chat",
        "method": "POST",
        "path": "/v1/chat/completions",
        "model": model,
        "tenant": tenant,
        "stream": True,
        "started_at": 0.0,
        "outcome": TrafficOutcome.SUCCESS,
        "exchange": Exchange(
            status=200,
            ttft_seconds=0.2,
            duration_seconds=1.5,
            chunk_gaps=(0.01, 0.02),
            input_tokens=10,
            output_tokens=5,
        ),
        "refusal": Verdict(refused=False, detector="none", reason=""),
    }
    fields.update(changes)
    return TrafficRecord(**fields)


def samples(metrics: TrafficMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(metrics)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metrics_for(**settings: Any) -> TrafficMetrics:
    proxy = Proxy(
        name="p", protocol="openai", listen="127.0.0.1:0", upstream="http://u", **settings
    )
    metrics = TrafficMetrics(Metrics())
    metrics.configure([proxy], Metrics())
    return metrics


def test_model_label_keeps_the_first_n_then_other() -> None:
    metrics = metrics_for(max_models=2)
    for model in ("A", "b", "c", "a", "d\n"):
        metrics.record(record(model))
    got = samples(metrics)
    models = {
        dict(labels)["model"] for name, labels in got if name == "chatcanary_traffic_requests_total"
    }
    assert models == {"a", "b", "other"}
    key = (
        "chatcanary_traffic_requests_total",
        (("model", "a"), ("outcome", "success"), ("proxy", "p"), ("route", "chat"), ("tenant", "")),
    )
    assert got.get(key) is None or got[key] == 2  # "" is no label: the parser drops it


def test_tenant_only_with_a_tenant_header_and_capped() -> None:
    without = metrics_for()
    without.record(record(tenant="blue"))
    # an empty label is no label to Prometheus, which drops it at ingestion
    assert {
        dict(labels).get("tenant") for _, labels in samples(without) if "route" in dict(labels)
    } == {""}
    metrics = metrics_for(tenant_header="x-team", max_tenants=1)
    for tenant in ("blue", "green", None):
        metrics.record(record(tenant=tenant))
    tenants = {
        dict(labels).get("tenant") for _, labels in samples(metrics) if "tenant" in dict(labels)
    }
    assert tenants == {"blue", "other", "none"}


def test_counts_and_histograms() -> None:
    metrics = metrics_for()
    metrics.record(record())
    metrics.record(record(refusal=Verdict(refused=True, detector="stop_reason", reason="")))
    failed = Exchange(status=503, duration_seconds=0.1, error_class=ErrorClass.HTTP_5XX)
    metrics.record(record(outcome=TrafficOutcome.ERROR, exchange=failed, refusal=None))
    got = samples(metrics)
    base = (("model", "m"), ("proxy", "p"), ("route", "chat"), ("tenant", ""))

    def value(name: str, *extra: tuple[str, str]) -> float:
        return got[(name, tuple(sorted(base + extra)))]

    assert value("chatcanary_traffic_requests_total", ("outcome", "success")) == 2
    assert value("chatcanary_traffic_requests_total", ("outcome", "error")) == 1
    assert value("chatcanary_traffic_errors_total", ("error_class", "http_5xx")) == 1
    assert value("chatcanary_traffic_responses_total") == 2
    assert value("chatcanary_traffic_refusals_total") == 1
    assert value("chatcanary_traffic_tokens_total", ("type", "output")) == 10
    assert value("chatcanary_traffic_time_to_first_token_seconds_count") == 2
    assert value("chatcanary_traffic_inter_token_latency_seconds_count") == 4
    assert (
        value(
            "chatcanary_traffic_request_duration_seconds_bucket",
            ("le", "2.0"),
            ("outcome", "success"),
        )
        == 2
    )


def test_cap_normalises() -> None:
    cap = Cap(3)
    assert [cap(v) for v in (" GPT-4o ", "gpt-4o", "", None, "x" * 100)] == [
        "gpt-4o",
        "gpt-4o",
        "none",
        "none",
        "x" * 64,
    ]


def test_promtool_accepts_the_families() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (or put it on PATH)")
    metrics = metrics_for(tenant_header="x-team")
    metrics.record(record(tenant="blue"))
    registry = CollectorRegistry()
    registry.register(metrics)
    out = subprocess.run(
        [promtool, "check", "metrics"], input=generate_latest(registry), capture_output=True
    )
    assert out.returncode == 0, out.stderr.decode() + out.stdout.decode()
