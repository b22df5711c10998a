"""Cost per probe and maximum probe rate on one core: chatcanary side by side with
blackbox_exporter (HTTP POST module + body regex) and a hand-written prober on the
official `openai` SDK (`bench.sdkprober`), all against the same canned endpoint.

Every prober runs in its own process pinned to CPU 0; the canned endpoint (`bench.canned`)
and blackbox_exporter's driver (this process) share CPU 1, so the endpoint is not what
limits the rate. CPU is the prober process's own user + system time from /proc (every
thread), over a measured window after a warm-up. Probes are counted by the endpoint, the
same meter for every contender.

Two phases per contender: a fixed offered rate that every contender carries with room to
spare (cost per probe, CPU ms/probe), and 64 probes kept in flight back to back, more than
one core can serve (the highest sustained rate). chatcanary runs as a user runs it, with
its default store (a SQLite file in a new data directory): its writes are part of the cost.
Run: `python -m bench.cost [--window 8]`. The quick profile measures chatcanary alone,
non-streaming, at the fixed rate, for a second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    PROMPT,
    canary_config,
    cpu_seconds,
    fetch,
    free_port,
    markdown,
    metric_sum,
    pinned,
    scale,
    served,
    start_canned,
    start_chatcanary,
    stop,
    wait_http,
    write,
)

PROBER_CPU, ENDPOINT_CPU = 0, 1
CHUNKS = 100
# The fixed phase: (canaries, interval s), a load every contender carries with room to
# spare, so the CPU per probe is not inflated by queueing.
FIXED = {"json": (100, 1.0), "stream": (25, 1.0)}
# The max phase: this many probes in flight back to back (canaries on a 10 ms interval,
# run again as soon as they finish), far more than one core can serve.
IN_FLIGHT = 64
BACK_TO_BACK = 0.01
WARMUP = scale(5, 1)
WINDOW = scale(8, 1)
# the quick profile: no third-party peer, no saturation
CONTENDERS = scale(3, 1)
PHASES = ("fixed", "max")[: scale(2, 1)]
MODES = ("json", "stream")[: scale(2, 1)]  # the quick profile: non-streaming only

BLACKBOX_CONFIG = """
modules:
  chat:
    prober: http
    timeout: 5s
    http:
      method: POST
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
      headers:
        Content-Type: application/json
        Authorization: Bearer sk-bench
      body: '{body}'
      fail_if_body_not_matches_regexp: ['"content": *"42"']
"""


@dataclass
class Window:
    probes: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.probes / self.seconds

    @property
    def cpu_ms_per_probe(self) -> float:
        return 1000 * self.cpu / max(1, self.probes)

    @property
    def utilisation(self) -> float:
        return self.cpu / self.seconds


async def measure(pid: int, endpoint: str, warmup: float, window: float) -> Window:
    await asyncio.sleep(warmup)
    cpu0, n0, t0 = cpu_seconds(pid), served(endpoint), time.monotonic()
    await asyncio.sleep(window)
    cpu1, n1, t1 = cpu_seconds(pid), served(endpoint), time.monotonic()
    return Window(n1 - n0, t1 - t0, cpu1 - cpu0)


def start_sdk(endpoint: str, canaries: int, interval: float, stream: bool) -> tuple[Any, str]:
    port = free_port()
    args = [sys.executable, "-m", "bench.sdkprober", "--base-url", endpoint + "/v1"]
    args += ["--canaries", str(canaries), "--interval", str(interval), "--port", str(port)]
    if stream:
        args.append("--stream")
    process = subprocess.Popen(args, preexec_fn=pinned(PROBER_CPU))
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/metrics")
    return process, url


def start_blackbox(endpoint: str) -> tuple[Any, int, str]:
    body = (
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        + PROMPT
        + '"}], "max_tokens": 16}'
    )
    directory = Path(tempfile.mkdtemp(prefix="blackbox-bench-"))
    (directory / "blackbox.yml").write_text(BLACKBOX_CONFIG.format(body=body))
    port = free_port()
    args = [
        "prometheus-blackbox-exporter",
        f"--config.file={directory / 'blackbox.yml'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    process = subprocess.Popen(args, preexec_fn=pinned(PROBER_CPU))
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/-/healthy")
    target = urllib.parse.quote(endpoint + "/v1/chat/completions", safe="")
    return process, port, f"/probe?module=chat&target={target}"


class Driver:
    """Asks blackbox_exporter for probes the way Prometheus does (`GET /probe`), over
    keep-alive connections, either at a fixed rate or as fast as it answers."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.ok = self.failed = 0

    async def worker(self, rate: float | None, until: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        request = f"GET {self.path} HTTP/1.1\r\nHost: blackbox\r\n\r\n".encode()
        loop = asyncio.get_running_loop()
        due = loop.time()
        while loop.time() < until:
            if rate is not None:
                due += 1 / rate
                await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(request)
            body = await self._response(reader)
            if b"\nprobe_success 1" in body:
                self.ok += 1
            else:
                self.failed += 1
        writer.close()

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await reader.readexactly(size + 2))
                if size == 0:
                    return b"".join(parts)
        length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
        return await reader.readexactly(length)


async def blackbox_phase(
    endpoint: str, rate: float | None, warmup: float, window: float
) -> tuple[Window, dict[str, int]]:
    process, port, path = start_blackbox(endpoint)
    try:
        driver = Driver(port, path)
        until = asyncio.get_running_loop().time() + warmup + window + 0.5
        workers = 20 if rate is not None else IN_FLIGHT
        per_worker = None if rate is None else rate / workers
        tasks = [asyncio.create_task(driver.worker(per_worker, until)) for _ in range(workers)]
        result = await measure(process.pid, endpoint, warmup, window)
        await asyncio.gather(*tasks)
    finally:
        stop(process)
    return result, {"ok": driver.ok, "failed": driver.failed}


async def chatcanary_phase(
    endpoint: str, mode: str, load: tuple[int, float], warmup: float, window: float
) -> tuple[Window, dict[str, int]]:
    canaries, interval = load
    config = canary_config(
        endpoint, canaries, interval, stream=mode == "stream", concurrency=IN_FLIGHT
    )
    process, url = start_chatcanary(config, cpu=PROBER_CPU)
    try:
        result = await measure(process.pid, endpoint, warmup, window)
        text = fetch(url + "/metrics")
    finally:
        stop(process)
    return result, outcomes(text, "chatcanary_probes_total")


async def sdk_phase(
    endpoint: str, mode: str, load: tuple[int, float], warmup: float, window: float
) -> tuple[Window, dict[str, int]]:
    canaries, interval = load
    process, url = start_sdk(endpoint, canaries, interval, mode == "stream")
    try:
        result = await measure(process.pid, endpoint, warmup, window)
        text = fetch(url + "/metrics")
    finally:
        stop(process)
    return result, outcomes(text, "canary_probes_total")


def outcomes(text: str, name: str) -> dict[str, int]:
    return {
        outcome: int(metric_sum(text, name, outcome=outcome))
        for outcome in ("success", "error", "check_failed")
    }


async def run(window: float) -> dict[str, Any]:
    os.sched_setaffinity(0, {ENDPOINT_CPU})
    canned, endpoint = start_canned(chunks=CHUNKS, cpu=ENDPOINT_CPU)
    rows: list[dict[str, Any]] = []
    try:
        for mode in MODES:
            contenders = ["chatcanary", "sdk"] + (["blackbox"] if mode == "json" else [])
            for contender in contenders[:CONTENDERS]:
                row: dict[str, Any] = {"prober": contender, "mode": mode}
                loads = {"fixed": FIXED[mode], "max": (IN_FLIGHT, BACK_TO_BACK)}
                for phase in PHASES:
                    load = loads[phase]
                    if contender == "blackbox":
                        rate = load[0] / load[1] if phase == "fixed" else None
                        result, verdicts = await blackbox_phase(endpoint, rate, WARMUP, window)
                    elif contender == "chatcanary":
                        result, verdicts = await chatcanary_phase(
                            endpoint, mode, load, WARMUP, window
                        )
                    else:
                        result, verdicts = await sdk_phase(endpoint, mode, load, WARMUP, window)
                    row[phase] = {
                        "offered_per_s": round(load[0] / load[1]) if phase == "fixed" else None,
                        "probes_per_s": round(result.rate, 1),
                        "cpu_ms_per_probe": round(result.cpu_ms_per_probe, 3),
                        "cpu_utilisation": round(result.utilisation, 3),
                        "outcomes": verdicts,
                    }
                    print(contender, mode, phase, row[phase], flush=True)
                rows.append(row)
    finally:
        stop(canned)
    return {"chunks_per_stream": CHUNKS, "window_s": window, "rows": rows}


def table(result: dict[str, Any]) -> str:
    rows = result["rows"]

    def find(prober: str, mode: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["prober"] == prober and r["mode"] == mode), None)

    out = []
    names = {
        "chatcanary": "chatcanary",
        "blackbox": "blackbox_exporter 0.23",
        "sdk": "openai SDK + prometheus_client",
    }
    for row in rows:
        base = find("chatcanary", row["mode"])
        assert base is not None
        ratio = row["fixed"]["cpu_ms_per_probe"] / base["fixed"]["cpu_ms_per_probe"]
        peak = row.get("max", {"probes_per_s": float("nan"), "cpu_utilisation": float("nan")})
        out.append(
            [
                names[row["prober"]],
                f"streaming, {result['chunks_per_stream']} chunks"
                if row["mode"] == "stream"
                else "non-streaming",
                f"{row['fixed']['cpu_ms_per_probe']:.3f} ms at {row['fixed']['offered_per_s']}/s",
                f"{ratio:.2f}x",
                f"{peak['probes_per_s']:.0f}/s",
                f"{peak['cpu_utilisation']:.2f}",
            ]
        )
    return markdown(
        [
            "prober",
            "canary",
            "CPU per probe",
            "CPU vs chatcanary",
            "max rate, 1 core",
            "prober CPU at max (cores)",
        ],
        out,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=float, default=WINDOW, help="seconds measured per phase")
    args = parser.parse_args()
    result = asyncio.run(run(args.window))
    write("cost", result, table(result))


if __name__ == "__main__":
    main()
