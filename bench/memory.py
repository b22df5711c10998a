"""Idle RSS of `chatcanary run` with the demo config (the simulator in another process).
Run: `python -m bench.memory [--settle 20]`."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.common import free_port, start_simulator, wait_http, write

DEMO = Path(__file__).parent.parent / "exporter" / "data" / "demo.yaml"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settle", type=float, default=25.0, help="seconds of running first")
    args = parser.parse_args()
    simulator, url = start_simulator("demo")
    port = free_port()
    exporter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "run",
            "-c",
            str(DEMO),
            "--listen",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env={"CHATCANARY_SIMULATOR_URL": url, "PATH": "/usr/bin:/bin"},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready")
        started = rss_mb(exporter.pid)
        time.sleep(args.settle)
        settled = rss_mb(exporter.pid)
    finally:
        for p in (exporter, simulator):
            p.terminate()
            p.wait()
    write(
        "memory",
        {
            "config": "demo",
            "rss_mb_at_ready": round(started, 1),
            f"rss_mb_after_{int(args.settle)}s": round(settled, 1),
        },
    )


if __name__ == "__main__":
    main()
