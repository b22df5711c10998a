"""A PREVIEW of the overview dashboard's main panels, drawn with matplotlib — not Grafana.

Grafana cannot run where chatcanary is built, so this draws the same queries (from the
generated dashboard JSON, variables substituted as Grafana would) from a real Prometheus.
With no --prometheus it starts `chatcanary demo` and the Debian Prometheus on loopback,
lets them run, and draws from that:

    .venv/bin/python grafana/preview.py --seconds 180 --out docs/img/overview-preview.png
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from exporter.dashboards import render

STATS = (
    "Canaries failing",
    "Canaries passing",
    "Availability (time range)",
    "Runs passing every check (time range)",
)
PER_TARGET = (
    "Request duration",
    "Time to first token",
    "Errors by class",
    "Over- and under-refusal",
)
UNITS = {"s": "seconds", "percentunit": "ratio", "reqps": "runs/s"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, path: str, **params: Any) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}{path}?{query}", timeout=10) as resp:
        body = json.load(resp)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def substitute(expr: str, target: str, seconds: float) -> str:
    expr = expr.replace("$target", target)
    for name in ("model", "canary"):
        expr = expr.replace(f"${name}", ".*")
    return expr.replace("$__rate_interval", "40s").replace("$__range", f"{int(seconds)}s")


def legend(fmt: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        fmt = fmt.replace("{{" + key + "}}", value)
    return fmt


def draw(url: str, out: Path, targets: list[str], seconds: float) -> None:
    panels = {p["title"]: p for p in json.loads(render()["chatcanary-overview.json"])["panels"]}
    rows = 1 + len(targets)
    fig, axes = plt.subplots(
        rows,
        4,
        figsize=(18, 1.6 + 3.4 * len(targets)),
        squeeze=False,
        gridspec_kw={"height_ratios": [0.45] + [1] * len(targets)},
    )
    end = time.time()
    for ax, title in zip(axes[0], STATS, strict=True):
        (target,) = panels[title]["targets"]
        result = get(url, "/api/v1/query", query=substitute(target["expr"], ".*", seconds))
        value = float(result[0]["value"][1]) if result else float("nan")
        unit = panels[title]["fieldConfig"]["defaults"]["unit"]
        text = f"{value:.1%}" if unit == "percentunit" else f"{value:.0f}"
        ax.text(0.5, 0.35, text, ha="center", va="center", fontsize=28, weight="bold")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    for row, name in enumerate(targets, start=1):
        for ax, title in zip(axes[row], PER_TARGET, strict=True):
            panel = panels[title]
            for target in panel["targets"]:
                series = get(
                    url,
                    "/api/v1/query_range",
                    query=substitute(target["expr"], name, seconds),
                    start=end - seconds,
                    end=end,
                    step=5,
                )
                for s in series:
                    stamps = [datetime.fromtimestamp(float(t)) for t, _ in s["values"]]
                    values = [float(v) for _, v in s["values"]]
                    ax.plot(stamps, values, label=legend(target["legendFormat"], s["metric"]))
            unit = panel["fieldConfig"]["defaults"]["unit"]
            ax.set_title(f"{name} · {title}", fontsize=10)
            ax.set_ylabel(UNITS.get(unit, unit), fontsize=8)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7, loc="upper left")
            else:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(
        "PREVIEW (matplotlib, not Grafana): chatcanary / Overview — the dashboard's own "
        f"queries against a real Prometheus, {int(seconds)} s of `chatcanary demo`",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(out)


def with_demo(seconds: float) -> tuple[str, list[subprocess.Popen[bytes]], Path]:
    """Start `chatcanary demo` and Prometheus scraping it every 2 s."""
    workdir = Path(tempfile.mkdtemp(prefix="chatcanary-preview-"))
    exporter, prom = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "exporter", "demo", "--listen", f"127.0.0.1:{exporter}",
         "--duration", str(seconds + 30)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 2s}\nscrape_configs:\n  - job_name: chatcanary\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter}']}}]\n"
    )
    binary = shutil.which("prometheus") or sys.exit("preview: install Debian's prometheus")
    server = subprocess.Popen(
        [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{prom}",
         f"--storage.tsdb.path={workdir / 'tsdb'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return f"http://127.0.0.1:{prom}", [demo, server], workdir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", help="URL of a Prometheus that scrapes chatcanary")
    parser.add_argument("--seconds", type=float, default=180, help="how much data to draw")
    parser.add_argument("--targets", default="flaky,fast", help="targets' rows to draw")
    parser.add_argument("--out", type=Path, default=Path("overview-preview.png"))
    args = parser.parse_args()
    processes: list[subprocess.Popen[bytes]] = []
    workdir: Path | None = None
    url = args.prometheus
    try:
        if url is None:
            url, processes, workdir = with_demo(args.seconds)
            print(f"running the demo for {args.seconds:.0f} s")
            time.sleep(args.seconds)
        draw(url, args.out, args.targets.split(","), args.seconds)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
