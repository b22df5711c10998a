"""Grafana dashboards as code (grafana-foundation-sdk), written by `chatcanary dashboards`.

The SDK is the `dashboards` extra (`pip install 'chatcanary[dashboards]'`): importing this
package without it raises ModuleNotFoundError, which the command turns into that advice.

The committed JSON in grafana/dashboards/ is this package's output; a test keeps it so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from exporter.dashboards import health, overview, slo, target, traffic

BUILDERS: dict[str, Callable[[], Dashboard]] = {
    "chatcanary-overview.json": overview.build,
    "chatcanary-target.json": target.build,
    "chatcanary-slo.json": slo.build,
    "chatcanary-exporter.json": health.build,
    "chatcanary-traffic.json": traffic.build,
}


def render() -> dict[str, str]:
    """File name → dashboard JSON, panel ids numbered in order, byte-stable."""
    files = {}
    for name, build in BUILDERS.items():
        model = build().build()
        for number, panel in enumerate(model.panels or [], start=1):
            panel.id_val = number
        files[name] = json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
    return files


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
