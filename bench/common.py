"""Helpers for benchmarks: start the endpoints in their own processes, measure another
process's CPU and memory from /proc, write JSON results and Markdown tables."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

# `CHATCANARY_BENCH_QUICK=1`: the quick profile `make test` runs so the benchmarks never
# rot (tiny sizes, figures produced, no timing asserted); `CHATCANARY_BENCH_RESULTS`: where
# results go (the quick profile writes to a temporary directory, never to bench/results/).
QUICK = os.environ.get("CHATCANARY_BENCH_QUICK") == "1"
RESULTS = Path(os.environ.get("CHATCANARY_BENCH_RESULTS") or Path(__file__).parent / "results")


def scale(full: int, quick: int) -> int:
    """A size: `full` in `make bench`, `quick` in the quick profile."""
    return quick if QUICK else full


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port this process has not handed out before (a port taken with
    port 0 and closed again can come back from the next bind to port 0)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def start_simulator(
    scenario: str = "healthy", cpu: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The simulator in its own process, so it does not share an event loop with the
    prober being measured."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "simulate",
            "--listen",
            f"127.0.0.1:{port}",
            "--scenario",
            scenario,
        ],
        stdout=subprocess.DEVNULL,
        preexec_fn=pinned(cpu),
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/v1/models")
    return process, url


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def put_behaviour(url: str, model: str, behaviour: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{url}/_sim/behaviours/{model}",
        data=json.dumps(behaviour).encode(),
        method="PUT",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


def machine() -> str:
    """The OS, CPU model, core count, memory and Python of this machine."""
    facts = {}
    for path, key in (("/etc/os-release", "PRETTY_NAME="), ("/proc/cpuinfo", "model name")):
        with contextlib.suppress(OSError):
            line = next(x for x in Path(path).read_text().splitlines() if x.startswith(key))
            facts[key] = line.split("=" if "=" in key else ":", 1)[1].strip().strip('"')
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{facts.get('PRETTY_NAME=', platform.system())}, "
        f"{facts.get('model name', platform.machine())}, {os.cpu_count()} cores, "
        f"{memory:.0f} GiB, Python {platform.python_version()}"
    )


def write(name: str, result: dict[str, Any], table: str | None = None) -> None:
    """`bench/results/NAME.json`, and `NAME.md` when the benchmark renders a table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M"), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if table is not None:
        (RESULTS / f"{name}.md").write_text(table.rstrip("\n") + "\n")
        print(table)
    else:
        print(json.dumps(result, indent=2))


def markdown(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def pinned(cpu: int | None) -> Callable[[], None] | None:
    """A `preexec_fn` that pins the child (and every thread it starts) to one CPU."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (children not included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    return rss_parts_mb(pid)["rss_mb"]


def rss_parts_mb(pid: int) -> dict[str, float]:
    """RSS and its two parts, from one read: anonymous (the process's own heap, arenas and
    stacks) and file-backed (the pages of the interpreter's and extensions' code it has
    touched, shared and reclaimable)."""
    names = {"VmRSS": "rss_mb", "RssAnon": "anon_mb", "RssFile": "file_mb"}
    parts = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in names:
            parts[names[name]] = int(value.split()[0]) / 1024
    if "rss_mb" not in parts:
        raise RuntimeError("no VmRSS")
    return parts


def start_canned(
    chunks: int = 100, delay_ms: float = 0.0, cpu: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The canned-response endpoint (`bench.canned`) in its own process."""
    port = free_port()
    args = [sys.executable, "-m", "bench.canned", "--port", str(port), "--chunks", str(chunks)]
    args += ["--delay-ms", str(delay_ms)]
    if cpu is not None:
        args += ["--cpu", str(cpu)]
    process = subprocess.Popen(args)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/stats")
    return process, url


def served(url: str) -> int:
    """Chat requests the canned endpoint has answered so far."""
    with urllib.request.urlopen(url + "/stats", timeout=5) as response:
        count: int = json.load(response)["served"]
        return count


def stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; the one definition every table uses."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of `name` in a text exposition whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def fetch(url: str, timeout: float = 30.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        text: str = response.read().decode()
        return text


PROMPT = "What is 17+25? Answer with the number only."


def canary_config(
    url: str,
    canaries: int,
    interval: float,
    *,
    stream: bool = False,
    targets: int = 1,
    concurrency: int = 64,
    history_size: int = 50,
) -> str:
    """A chatcanary config: `canaries` canaries spread over `targets` targets, all at the
    same OpenAI-compatible endpoint, each checking that the answer contains "42"."""
    lines = [
        "defaults:",
        f"  interval: {interval}",
        "  timeout: 10s",
        f"  max_tokens: {128 if stream else 16}",
        f"  stream: {str(stream).lower()}",
        f"  concurrency: {concurrency}",
        f"web: {{history_size: {history_size}}}",
        "targets:",
    ]
    lines += [
        f"  - {{name: t{t}, protocol: openai, base_url: '{url}/v1', model: gpt-4o-mini,"
        " api_key: sk-bench}"
        for t in range(targets)
    ]
    lines.append("canaries:")
    per_target = -(-canaries // targets)
    lines += [
        f"  - {{name: c{i}, prompt: '{PROMPT}', checks: [{{contains: '42'}}]}}"
        for i in range(per_target)
    ]
    return "\n".join(lines) + "\n"


def start_chatcanary(
    config: str, cpu: int | None = None, shard: str | None = None, data_dir: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`chatcanary run` in its own process with this config text; returns it and its URL.
    The config file (`config.yaml`) and the default store go to `data_dir` (else a new
    temporary directory), never to the user's data directory."""
    directory = data_dir or Path(tempfile.mkdtemp(prefix="chatcanary-bench-"))
    path = directory / "config.yaml"
    path.write_text(config)
    port = free_port()
    args = [sys.executable, "-m", "exporter", "run", "-c", str(path)]
    args += ["--data-dir", str(directory)]
    args += ["--listen", f"127.0.0.1:{port}", "--log-level", "warning"]
    if shard is not None:
        args += ["--shard", shard]
    compile_chatcanary()
    process = subprocess.Popen(args, preexec_fn=pinned(cpu))
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/-/ready", timeout=120)
    return process, url


@functools.cache
def compile_chatcanary() -> None:
    """Write chatcanary's bytecode caches (`__pycache__`, as Python does by default), once
    per bench process, so that `run` loads its modules from them as it does installed (pip
    compiles them at install time; the image's are in it). Without them — here
    `PYTHONDONTWRITEBYTECODE` is set — every start compiles ~80 modules from source: time,
    and the compiler's peaks left in the process's RSS, which are costs of a checkout, not
    of chatcanary. (The import floor's libraries come with theirs from pip.)"""
    package = Path(__file__).resolve().parent.parent / "exporter"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
