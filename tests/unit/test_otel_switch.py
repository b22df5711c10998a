"""When the OpenTelemetry sinks are on, decided without the SDK."""

from __future__ import annotations

import pytest

from exporter.config import OpenTelemetry
from exporter.sinks.otel_switch import metrics_enabled, traces_enabled

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


@pytest.mark.parametrize(
    ("settings", "environ", "expected"),
    [
        ({}, {}, False),
        ({}, ENDPOINT, True),
        ({}, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"endpoint": "http://collector:4318"}, {}, True),
        ({"traces": True}, {}, True),
        ({"traces": False}, ENDPOINT, False),
        ({}, {**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"traces": True}, {"OTEL_SDK_DISABLED": "true"}, False),
    ],
    ids=[
        "nothing",
        "env-endpoint",
        "env-traces-endpoint",
        "yaml-endpoint",
        "yaml-on",
        "yaml-off-wins",
        "traces-exporter-none",
        "sdk-disabled",
    ],
)
def test_when_traces_are_on(
    settings: dict[str, object], environ: dict[str, str], expected: bool
) -> None:
    assert traces_enabled(OpenTelemetry.model_validate(settings), environ) is expected


@pytest.mark.parametrize(
    ("metrics", "disabled", "expected"),
    [(True, "", True), (False, "", False), (True, "true", False), (True, "TRUE", False)],
)
def test_when_otel_metrics_are_on(
    monkeypatch: pytest.MonkeyPatch, metrics: bool, disabled: str, expected: bool
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", disabled)
    assert metrics_enabled(OpenTelemetry.model_validate({"metrics": metrics})) is expected
