"""Would uvloop or orjson pay? chatcanary's CPU per probe with each, side by side.
Run: `python -m bench.speedups` (`pip install uvloop orjson` first: a variant whose module
is missing is skipped and named in the results; not part of `make bench`).

`chatcanary run` is started as usual, or with `uvloop.install()` first, or with orjson's
`loads` in place of `json.loads` for response bodies and stream chunks, against the
canned endpoint, 64 probes in flight back to back, pinned to one core; CPU per probe is
the prober process's own over the measured window.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    QUICK,
    canary_config,
    cpu_seconds,
    free_port,
    markdown,
    pinned,
    scale,
    served,
    start_canned,
    stop,
    wait_http,
    write,
)

PRELUDE = {
    "asyncio + json (as shipped)": "",
    "uvloop": "import uvloop; uvloop.install()\n",
    "orjson": "import orjson, types, exporter.protocols.http as h\n"
    "h.json = types.SimpleNamespace(loads=orjson.loads, dumps=h.json.dumps)\n",
}
WARMUP, WINDOW = scale(4, 1), scale(8, 1)
# the quick profile: 8 non-streaming canaries, each run twice a second, not back to back
INTERVAL = scale(10, 500) / 1000
CANARIES = scale(64, 8)
STREAMS = (False,) if QUICK else (False, True)


def measure(endpoint: str, stream: bool, prelude: str) -> tuple[float, float]:
    directory = Path(tempfile.mkdtemp(prefix="chatcanary-speedups-"))
    path = directory / "config.yaml"
    path.write_text(canary_config(endpoint, CANARIES, INTERVAL, stream=stream, concurrency=64))
    port = free_port()
    code = prelude + (
        "from exporter.cli import main\n"
        f"main(['run', '-c', '{path}', '--listen', '127.0.0.1:{port}', '--log-level', 'warning'])"
    )
    process = subprocess.Popen([sys.executable, "-c", code], preexec_fn=pinned(0))
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=120)
        time.sleep(WARMUP)
        n0, c0, t0 = served(endpoint), cpu_seconds(process.pid), time.monotonic()
        time.sleep(WINDOW)
        n1, c1, t1 = served(endpoint), cpu_seconds(process.pid), time.monotonic()
    finally:
        stop(process)
    return 1000 * (c1 - c0) / (n1 - n0), (n1 - n0) / (t1 - t0)


def main() -> None:
    os.sched_setaffinity(0, {1})
    canned, endpoint = start_canned(cpu=1)
    rows = []
    missing = {
        name: f"{module} is not installed"
        for name, module in (("uvloop", "uvloop"), ("orjson", "orjson"))
        if importlib.util.find_spec(module) is None
    }
    try:
        for stream in STREAMS:
            for name, prelude in PRELUDE.items():
                if name in missing:
                    continue
                cpu, rate = measure(endpoint, stream, prelude)
                rows.append({"variant": name, "stream": stream, "cpu_ms": cpu, "rate": rate})
                print(rows[-1], flush=True)
    finally:
        stop(canned)
    base = {r["stream"]: r["cpu_ms"] for r in rows if not PRELUDE[r["variant"]]}
    table = markdown(
        ["variant", "canary", "CPU ms per probe", "vs as shipped", "probes/s"],
        [
            [
                r["variant"],
                "streaming, 100 chunks" if r["stream"] else "non-streaming",
                f"{r['cpu_ms']:.3f}",
                f"{r['cpu_ms'] / base[r['stream']]:.2f}x",
                f"{r['rate']:.0f}",
            ]
            for r in rows
        ],
    )
    if missing:
        table += "\nSkipped: " + "; ".join(missing.values()) + ".\n"
    write("speedups", {"rows": rows, "skipped": missing}, table)


if __name__ == "__main__":
    main()
