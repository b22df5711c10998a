"""Whether the OpenTelemetry sinks are on: read from the config and the OTEL_* environment
without importing the SDK, so that a process with tracing off never loads it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from exporter.config import OpenTelemetry


def traces_enabled(settings: OpenTelemetry, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if settings.traces is not None:
        return settings.traces
    if env.get("OTEL_TRACES_EXPORTER", "").lower() == "none":
        return False
    return bool(
        settings.endpoint
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def metrics_enabled(settings: OpenTelemetry) -> bool:
    return settings.metrics and os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"
