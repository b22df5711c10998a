"""Slowloris at full size: 500 connections that dribble their headers at a `chatcanary run`
whose file-descriptor limit is 256, while `/metrics` is scraped every half second.
Run: `python -m bench.slowloris [--slow 500] [--nofile 256] [--seconds 20]`.

Reported: how many scrapes answered, their median and worst time, how many slow
connections the server closed and after how long (the header timeout, 15 s by default, or
at once for the one idle longest when a new connection comes past `web.max_connections`,
here 200 so that the cap, not the fd limit, is what holds).
The test suite runs the same attack scaled down (tests/unit/test_web_server.py)."""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import free_port, markdown, quantile, scale, stop, wait_http, write

CONFIG = """
targets: [{name: t, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: m}]
canaries: [{name: c, prompt: "hi", interval: 1h}]
"""
# the quick profile: 60 slow connections against a cap of 40, for 3 s
SLOW, CAP, SECONDS = scale(500, 60), scale(200, 40), scale(20, 3)


def start(nofile: int) -> tuple[subprocess.Popen[bytes], str]:
    directory = Path(tempfile.mkdtemp(prefix="chatcanary-slowloris-"))
    (directory / "config.yaml").write_text(CONFIG + f"web: {{max_connections: {CAP}}}\n")
    port = free_port()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    args = [sys.executable, "-m", "exporter", "run", "-c", str(directory / "config.yaml")]
    args += ["--listen", f"127.0.0.1:{port}", "--log-level", "error"]
    process = subprocess.Popen(args, preexec_fn=limit)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/-/ready", timeout=60)
    return process, url


async def slow(port: int, until: float, closed: list[float]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    start = time.monotonic()
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    n = 0
    try:
        while time.monotonic() < until:
            try:
                if await asyncio.wait_for(reader.read(100), 1.0) == b"":
                    closed.append(time.monotonic() - start)
                    return
            except TimeoutError:
                pass
            writer.write(b"X-%d: y\r\n" % n)
            n += 1
            await writer.drain()
    except ConnectionError:
        closed.append(time.monotonic() - start)
    finally:
        writer.close()


async def attack(url: str, count: int, seconds: float) -> dict[str, object]:
    port = int(url.rsplit(":", 1)[1])
    until = time.monotonic() + seconds
    closed: list[float] = []
    tasks = [asyncio.create_task(slow(port, until, closed)) for _ in range(count)]
    await asyncio.sleep(1)  # let them connect
    times: list[float] = []
    failed = 0
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < until:
            begin = time.monotonic()
            try:
                async with session.get(url + "/metrics") as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                times.append(time.monotonic() - begin)
            else:
                failed += 1
            await asyncio.sleep(0.5)
    await asyncio.gather(*tasks)
    return {
        "slow_connections": count,
        "scrapes_ok": len(times),
        "scrapes_failed": failed,
        "scrape_median_s": round(quantile(times, 0.5), 3) if times else None,
        "scrape_worst_s": round(max(times), 3) if times else None,
        "slow_closed_by_server": len(closed),
        "closed_after_median_s": round(quantile(closed, 0.5), 3) if closed else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slow", type=int, default=SLOW)
    parser.add_argument("--nofile", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args()
    process, url = start(args.nofile)
    try:
        result = asyncio.run(attack(url, args.slow, args.seconds))
    finally:
        stop(process)
    result["nofile"] = args.nofile
    result["max_connections"] = CAP
    table = markdown(
        [
            "slow connections",
            "`web.max_connections`",
            "fd limit",
            "scrapes answered / failed",
            "scrape median / worst s",
            "slow ones closed by the server",
            "closed after, median s",
        ],
        [
            [
                result["slow_connections"],
                result["max_connections"],
                result["nofile"],
                f"{result['scrapes_ok']} / {result['scrapes_failed']}",
                f"{result['scrape_median_s']} / {result['scrape_worst_s']}",
                result["slow_closed_by_server"],
                result["closed_after_median_s"],
            ]
        ],
    )
    write("slowloris", result, table)


if __name__ == "__main__":
    main()
