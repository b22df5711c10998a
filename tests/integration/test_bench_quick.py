"""The benchmarks' quick profile (`CHATCANARY_BENCH_QUICK=1`, bench/common.py), so they never
rot: each benchmark runs as a real subprocess, a few at a time, writing into a temporary
results directory; each must produce its JSON with its figures finite and positive; then
`bench.report` renders every section from them into a temporary page. No timing is
asserted: the figures of a few seconds on a loaded machine mean nothing, only that they
are produced. Third-party peers (LiteLLM, the openai SDK) are each benchmark's to skip."""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bench.report import TARGETS

ROOT = Path(__file__).resolve().parents[2]
Figures = Callable[[dict[str, Any]], list[Any]]

# results name -> (module, the figures that must be there and positive)
BENCHMARKS: dict[str, tuple[str, Figures]] = {
    "timing": ("bench.timing", lambda r: [row["runs"] for row in r["rows"]]),
    "cost": (
        "bench.cost",
        # chatcanary's own rows: a contender absent here (the openai SDK) is the module's to skip
        lambda r: [
            row["fixed"]["cpu_ms_per_probe"] for row in r["rows"] if row["prober"] == "chatcanary"
        ],
    ),
    "scheduling": (
        "bench.scheduling",
        lambda r: [s[k] for s in r["scenarios"].values() for k in ("runs", "runs_per_s")],
    ),
    "memory": (
        "bench.memory",
        lambda r: [r["floor_mb"], r["small"]["rss_mb"], r["large"]["rss_mb"]],
    ),
    "scrape": (
        "bench.scrape",
        lambda r: [
            row[f][k]
            for row in r["rows"]
            for f in ("openmetrics", "text")
            for k in ("series", "bytes", "median_ms")
        ],
    ),
    "scaling": (
        "bench.scaling",
        lambda r: (
            [row["runs_per_s_total"] for row in r["rows"]] + list(r["partition_10k"].values())
        ),
    ),
    "adversarial": ("bench.adversarial", lambda r: [r["slowest_seconds"], *r["sizes"]]),
    "store": (
        "bench.store",
        lambda r: [
            r["goals"]["sqlite_write_rate"]["committed_per_s"],
            r["goals"]["scheduler_lag_p99"]["off_ms"],
            r["goals"]["scheduler_lag_p99"]["sqlite_ms"],
            r["goals"]["loop_lateness_p99_at_goal_rate"]["sqlite_ms"],
            r["goals"]["loop_lateness_p99_at_goal_rate"]["neighbour_ms"],
        ],
    ),
    "proxy": (
        "bench.proxy",
        lambda r: [
            x for row in r["results"] for x in (row["requests"], row["direct_ttft_ms"]["p50"])
        ],
    ),
    "startup": (
        "bench.startup",
        lambda r: [c[k] for c in r["commands"] for k in ("median_s", "p90_s", "rss_mb")],
    ),
    "refusal-speed": (
        "bench.refusal.speed",
        lambda r: [r["answers_per_second"]["median"], r["prefix_baseline"]["median"]],
    ),
    "slowloris": (
        "bench.slowloris",
        lambda r: [r["scrapes_ok"], r["scrape_median_s"], r["slow_closed_by_server"]],
    ),
    "soak": ("bench.soak", lambda r: [r["runs"], r["rss_mb"]["max"], r["fds"]["max"]]),
    "speedups": (
        "bench.speedups",
        lambda r: [x for row in r["rows"] for x in (row["cpu_ms"], row["rate"])],
    ),
}
DEADLINE = 120.0  # seconds for one benchmark; each takes a few on a quiet machine
PARALLEL = 4


def source(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def unavailable(module: str) -> str | None:
    """Why a benchmark cannot run its quick profile here: one still on full sizes (another
    branch gives it its quick profile) would take minutes."""
    path = source(module)
    if not path.exists():
        return f"{path.relative_to(ROOT)} does not exist on this branch yet"
    if "scale(" not in path.read_text():
        return f"{path.relative_to(ROOT)} has no quick profile (`scale()`) on this branch yet"
    return None


READY = sorted(name for name, (module, _) in BENCHMARKS.items() if unavailable(module) is None)


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_has_a_quick_profile(name: str) -> None:
    reason = unavailable(BENCHMARKS[name][0])
    if reason is not None:
        pytest.skip(reason)


def numbers(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield float(value)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_quick(results: Path, data: Path) -> None:
    """Every ready benchmark's quick profile, a few at a time, into one results directory;
    each with its own data directory (its store), as each would have alone."""
    results.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CHATCANARY_BENCH_QUICK": "1", "CHATCANARY_BENCH_RESULTS": str(results)}
    started, cpu = time.monotonic(), children_cpu()

    def run(name: str) -> int:
        with (results / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", BENCHMARKS[name][0]],
                cwd=ROOT,
                env={**env, "CHATCANARY_DATA_DIR": str(data / name)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a stuck run is killed with its children
            )
            try:
                return process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                log.write(f"\nkilled after {DEADLINE:.0f} s\n".encode())
                return -1

    # a few at a time: most of a quick run is waiting, but a burst of every benchmark's
    # processes at once would starve the tests running beside this one
    with ThreadPoolExecutor(PARALLEL) as pool:
        codes = dict(zip(READY, pool.map(run, READY), strict=True))
    # what the quick profile costs, for whoever tunes it (`pytest -s`): no bound asserted
    wall, cpu = time.monotonic() - started, children_cpu() - cpu
    print(f"\nquick profile: {len(READY)} benchmarks, {wall:.1f} s wall, {cpu:.1f} s CPU")
    failed = {
        name: (results / f"{name}.log").read_text()[-3000:]
        for name, code in codes.items()
        if code != 0
    }
    assert not failed, "\n\n".join(f"--- {name} failed:\n{log}" for name, log in failed.items())


# one test, so that the benchmarks run once whichever worker takes it
@pytest.mark.timeout(600)
def test_the_quick_profile_produces_figures_and_the_report_renders_them(tmp_path: Path) -> None:
    assert READY, "no benchmark has a quick profile"
    results = tmp_path / "results"
    run_quick(results, tmp_path / "data")
    for name in READY:
        path = results / f"{name}.json"
        assert path.exists(), f"{name} wrote no {path.name}"
        result = json.loads(path.read_text())
        assert result["machine"] and result["when"], name
        bad = [x for x in numbers(result) if not math.isfinite(x)]
        assert not bad, f"{name}: non-finite figures {bad}"
        figures = BENCHMARKS[name][1](result)
        assert figures, f"{name}: no figures"
        assert all(isinstance(x, int | float) and x > 0 for x in figures), (name, figures)

    page = tmp_path / "BENCHMARKS.md"
    env = {**os.environ, "CHATCANARY_BENCH_RESULTS": str(results)}
    subprocess.run(
        [sys.executable, "-m", "bench.report", "--out", str(page)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    text = page.read_text()
    sections = text.split("\n## ")
    by_module = {s.split("\n", 2)[2].split("`")[1]: s for s in sections[2:]}
    for name in READY:
        module = BENCHMARKS[name][0]
        if name == "soak":
            continue  # a ten-minute run of its own (`make soak`), not a section of the page
        body = by_module.get(f"python -m {module}")
        assert body is not None, f"no section for {module}"
        table = results / f"{name}.md"
        if table.exists():
            assert table.read_text().strip() in body, name
        assert "|---|" in body, f"{module}: no table"
    targets = text.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in targets.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(TARGETS)
    for target, row in zip(TARGETS, rows, strict=True):
        assert row.startswith(f"| {target.goal} |")
        if target.source not in READY:
            assert "| not measured |" in row, row
