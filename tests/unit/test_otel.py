"""The pure parts of the OpenTelemetry sinks: what the service is
called, where spans go, and what a failed export costs."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry, Counter

from exporter.config import OpenTelemetry
from exporter.sinks.otel import (
    CountingExporter,
    endpoint_of,
    resource,
    span_exporter,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "yaml_name", "expected"),
    [
        ({}, None, "chatcanary"),
        ({}, "fleet-a", "fleet-a"),
        ({"OTEL_SERVICE_NAME": "from-env"}, "fleet-a", "from-env"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=attrs,team=x"}, None, "attrs"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=attrs"}, "fleet-a", "fleet-a"),
    ],
    ids=["default", "yaml", "env-wins", "resource-attributes", "yaml-over-attributes"],
)
def test_service_name_precedence(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], yaml_name: str | None, expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    attributes = resource(OpenTelemetry(service_name=yaml_name)).attributes
    assert attributes["service.name"] == expected
    assert attributes["service.version"]


def test_resource_attributes_from_the_environment_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    assert resource(OpenTelemetry()).attributes["deployment.environment"] == "prod"


def test_endpoint_takes_the_signal_path_for_http_only() -> None:
    settings = OpenTelemetry(endpoint="http://collector:4318/")
    assert endpoint_of(settings, "v1/traces", grpc=False) == "http://collector:4318/v1/traces"
    assert endpoint_of(settings, "", grpc=True) == "http://collector:4318"
    assert endpoint_of(OpenTelemetry(), "v1/traces", grpc=False) is None


class Scripted(SpanExporter):
    def __init__(self, outcome: SpanExportResult | Exception) -> None:
        self.outcome = outcome

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


@pytest.mark.parametrize(
    ("outcome", "dropped"),
    [
        (SpanExportResult.SUCCESS, 0),
        (SpanExportResult.FAILURE, 3),
        (ConnectionError("refused"), 3),
    ],
    ids=["success", "failure", "raises"],
)
def test_failed_exports_count_their_spans(
    outcome: SpanExportResult | Exception, dropped: int
) -> None:
    registry = CollectorRegistry()
    failures = Counter("chatcanary_otel_export_failures", "x", ["signal"], registry=registry)
    exporter = CountingExporter(Scripted(outcome), failures)
    spans: list[ReadableSpan] = [ReadableSpan(name=f"s{i}") for i in range(3)]
    result = exporter.export(spans)
    assert (result is SpanExportResult.SUCCESS) is (dropped == 0)
    value = registry.get_sample_value("chatcanary_otel_export_failures_total", {"signal": "traces"})
    assert value == dropped


def test_grpc_needs_its_extra_or_builds_its_exporter() -> None:
    import importlib.util

    settings = OpenTelemetry(protocol="grpc", endpoint="http://collector:4317")
    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is None:
        with pytest.raises(RuntimeError, match=r"pip install 'chatcanary\[grpc\]'"):
            span_exporter(settings, {})
    else:
        assert type(span_exporter(settings, {})).__module__.endswith("grpc.trace_exporter")


def test_http_exporter_is_the_default() -> None:
    exporter = span_exporter(OpenTelemetry(endpoint="http://collector:4318"), {})
    assert type(exporter).__module__.endswith("http.trace_exporter")
