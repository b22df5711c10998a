"""Write docs/BENCHMARKS.md from the latest results in bench/results/: the machine, the
commands, each benchmark's table, and every target judged from the measured figures.
Run: `python -m bench.report [--out PATH]` (the last step of `make bench`); the results
directory is `CHATCANARY_BENCH_RESULTS` when set. A benchmark with no results file, or
whose file lacks a figure a target needs, renders as "not measured"."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import RESULTS, markdown

DOCS = Path(__file__).parent.parent / "docs" / "BENCHMARKS.md"
NOTES = Path(__file__).parent / "notes.md"
NOT_MEASURED = "not measured"

Result = dict[str, Any]
# a target's judge: the measured figures as text, and met (True/False) or None (reported only)
Judge = Callable[[Result], tuple[str, bool | None]]


@dataclass(frozen=True)
class Target:
    source: str  # the results file (bench/results/SOURCE.json)
    goal_of: str  # where the goal was set
    goal: str
    judge: Judge


def load(name: str) -> Result | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    result: Result = json.loads(path.read_text())
    return result


def table_of(name: str) -> str | None:
    path = RESULTS / f"{name}.md"
    return path.read_text().strip() if path.exists() else None


def verdict(met: bool | None) -> str:
    if met is None:
        return "reported"
    return "**met**" if met else "**not met**"


# --- figures read from each results file -------------------------------------------------


def row_at(rows: list[Result], key: str, value: object) -> Result:
    return next(r for r in rows if r[key] == value)


def floor_mb(result: Result, row: Result | None = None) -> float | None:
    """The import floor measured in the same run: a number under a key naming a floor, in
    the row first, then at the top (or a top-level `floor` object's `rss_mb`)."""
    for place in (row or {}, result):
        for key, value in place.items():
            if "floor" not in key:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, dict) and isinstance(value.get("rss_mb"), int | float):
                return float(value["rss_mb"])
    return None


def beside_floor(mb: float, floor: float | None) -> str:
    return f"{mb:.1f} MB" if floor is None else f"{mb:.1f} MB (floor + {mb - floor:.1f})"


def startup_command(result: Result, words: str) -> tuple[Result, float | None]:
    row = next(c for c in result["commands"] if words in c["command"])
    goals = result.get("goals") or {}
    return row, goals.get(row["command"])


def startup_judge(words: str, goal: float) -> Judge:
    def judge(result: Result) -> tuple[str, bool | None]:
        row, measured_goal = startup_command(result, words)
        limit = goal if measured_goal is None else float(measured_goal)
        floor = floor_mb(result, row)
        text = f"median {row['median_s']:.3f} s, p90 {row['p90_s']:.3f} s"
        if isinstance(row.get("rss_mb"), int | float):
            text += f", RSS {beside_floor(row['rss_mb'], floor)}"
        return text, row["median_s"] <= limit

    return judge


def memory_figure(result: Result, size: str) -> tuple[float, float | None]:
    """RSS of one `run` of the memory benchmark (`small`: 24 canaries, `large`: 1,000 with
    full history, settled if it settled) and the import floor of the same run."""
    run = result[size]
    return float(run.get("settled", run)["rss_mb"]), floor_mb(result)


def sidecar_rss(result: Result) -> tuple[str, bool | None]:
    rss, floor = memory_figure(result, "small")
    if floor is None:
        return f"{rss:.1f} MB; import floor not measured", False
    return f"{beside_floor(rss, floor)}, floor {floor:.1f} MB", rss <= floor + 10 and rss <= 70


def thousand_rss(result: Result) -> tuple[str, bool | None]:
    rss, floor = memory_figure(result, "large")
    runs = result["large"]["runs_per_canary"]
    if floor is None:
        return f"{rss:.1f} MB after {runs:g} runs each; import floor not measured", False
    return f"{beside_floor(rss, floor)} after {runs:g} runs each", rss <= floor + 40


def old_thousand_rss(result: Result) -> tuple[str, bool | None]:
    rss, _ = memory_figure(result, "large")
    return f"{rss:.1f} MB with full history", rss < 80


def cost_rows(result: Result) -> dict[tuple[str, str], Result]:
    return {(r["prober"], r["mode"]): r for r in result["rows"]}


def cost_vs_blackbox(result: Result) -> tuple[str, bool | None]:
    rows = cost_rows(result)
    ours = rows["chatcanary", "json"]["fixed"]["cpu_ms_per_probe"]
    blackbox = rows["blackbox", "json"]["fixed"]["cpu_ms_per_probe"]
    return f"{ours:.3f} ms vs {blackbox:.3f} ms ({ours / blackbox:.2f}x)", ours <= blackbox


def cost_vs_sdk(mode: str) -> Judge:
    def judge(result: Result) -> tuple[str, bool | None]:
        rows = cost_rows(result)
        mine = rows["chatcanary", mode]["fixed"]["cpu_ms_per_probe"]
        sdk = rows["sdk", mode]["fixed"]["cpu_ms_per_probe"]
        return f"{mine:.3f} ms vs {sdk:.3f} ms ({sdk / mine:.1f}x cheaper)", sdk >= 3 * mine

    return judge


def cost_rate(result: Result) -> tuple[str, bool | None]:
    rate = cost_rows(result)["chatcanary", "json"]["max"]["probes_per_s"]
    return f"{rate:.0f}/s", rate >= 1000


def timing_runs(result: Result) -> list[Result]:
    """The 200-stream row of each consecutive run (`repeats`, else the one run)."""
    runs = result.get("repeats") or [result]
    return [row_at(run["rows"], "streams", 200) for run in runs]


def timing_ttft_p99(result: Result) -> tuple[str, bool | None]:
    p99s = [float(row["ttft_p99_abs_error_ms"]) for row in timing_runs(result)]
    text = ", ".join(f"{p:.2f}" for p in p99s)
    runs = "run" if len(p99s) == 1 else "consecutive runs"
    return f"p99 {text} ms in {len(p99s)} {runs}", len(p99s) >= 3 and max(p99s) < 5


def timing_error(name: str, label: str) -> Judge:
    def judge(result: Result) -> tuple[str, bool | None]:
        row = timing_runs(result)[-1]
        median, p99 = row[f"{name}_median_abs_error_ms"], row[f"{name}_p99_abs_error_ms"]
        return f"median {median:.2f} ms, p99 {p99:.2f} ms", median < 1 and p99 < 5

    return judge


def scheduling_reported(result: Result) -> tuple[str, bool | None]:
    realistic = next(iter(result["scenarios"].values()))
    return (
        f"lag p50 {realistic['lag_p50_ms']:.2f} ms, p99 {realistic['lag_p99_ms']:.1f} ms; "
        f"measured duration minus true delay p50 {realistic['duration_error_p50_ms']:.2f} ms, "
        f"p99 {realistic['duration_error_p99_ms']:.1f} ms",
        None,
    )


def scheduling_queueing(result: Result) -> tuple[str, bool | None]:
    queueing = list(result["scenarios"].values())[1]
    lag, error = queueing["lag_p50_ms"], queueing["duration_error_p50_ms"]
    return (
        f"lag p50 {lag:.0f} ms; measured duration minus true delay p50 {error:.2f} ms",
        error < 0.05 * lag,
    )


def scrape_judge(name: str) -> Judge:
    def judge(result: Result) -> tuple[str, bool | None]:
        row = max(result["rows"], key=lambda r: r["text"]["series"])
        median = row[name]["median_ms"]
        return f"median {median:.1f} ms at {row[name]['series']:,} series", median < 100

    return judge


def scaling_even(result: Result) -> tuple[str, bool | None]:
    worst = max(r["runs_max_min_ratio"] for r in result["rows"])
    return f"worst max/min {worst:.3f}", worst <= 1.2


def scaling_grows(result: Result) -> tuple[str, bool | None]:
    rows = {r["processes"]: r for r in result["rows"]}
    cores = result["cores"]
    top = rows[min(cores, max(rows))]["runs_per_s_total"]
    base = rows[1]["runs_per_s_total"]
    return (
        f"{base:.0f}/s with 1 process, {top:.0f}/s with {cores} ({top / base:.2f}x)",
        top > 1.1 * base,
    )


def adversarial_judge(result: Result) -> tuple[str, bool | None]:
    slowest, deadline = result["slowest_seconds"], result["deadline_seconds"]
    return f"slowest {slowest * 1000:.0f} ms", slowest < deadline


def store_judge(result: Result) -> tuple[str, bool | None]:
    """The write rate into SQLite and the scheduler lag beside the store off, from the
    figures bench/store.py measured (PostgreSQL reported beside, no goal)."""
    goals = result["goals"]
    rate, lag = goals["sqlite_write_rate"], goals["scheduler_lag_p99"]
    committed, on, off = rate["committed_per_s"], lag["sqlite_ms"], lag["off_ms"]
    text = f"{committed:,.0f} runs/s committed; scheduler lag p99 {on:.1f} ms on SQLite "
    text += f"vs {off:.1f} ms off"
    if "postgresql_write_rate" in goals:
        text += f"; PostgreSQL (same run) {goals['postgresql_write_rate']['measured']}"
    return text, committed >= 5000 and on <= 1.1 * off


def added(figures: Result) -> str:
    """TTFT and total added, by legs (the upstream's stamps: what the goal is judged on) with
    end to end beside them; end to end alone where a proxy dropped the stamps."""

    def pair(kind: str) -> str:
        legs, whole = figures.get(f"added_{kind}_legs_ms"), figures[f"added_{kind}_ms"]
        text = f"{whole['p50']:+.2f} / {whole['p99']:+.2f} ms"
        if legs:
            text = f"{legs['p50']:+.2f} / {legs['p99']:+.2f} ms by legs ({text} end to end)"
        return text

    return f"TTFT {pair('ttft')}, total {pair('total')}"


def proxy_judge(result: Result) -> tuple[str, bool | None]:
    """Judged at 50 streams on the legs (end to end where a run has no stamps)."""
    row = row_at(result["results"], "streams", 50)
    judged = [row.get(f"added_{k}_legs_ms") or row[f"added_{k}_ms"] for k in ("ttft", "total")]
    met = all(figures["p50"] <= 0.5 and figures["p99"] <= 2 for figures in judged)
    text = "chatcanary " + added(row)
    if row.get("litellm"):  # the same run's reference point, no target of ours
        text += f"; {result.get('litellm') or 'LiteLLM'} (same run) " + added(row["litellm"])
    return text, met


def refusal_judge(result: Result) -> tuple[str, bool | None]:
    rate = result["answers_per_second"]["median"]
    text = f"{rate:,.0f} answers/s median"
    baseline = result.get("prefix_baseline")
    if baseline:
        text += f" (prefix baseline {baseline['median']:,.0f}/s, same run)"
    return text, rate >= result.get("goal", 10_000)


TARGETS = (
    Target(
        "startup", "issue 22", "`chatcanary --version` ≤ 0.10 s", startup_judge("--version", 0.10)
    ),
    Target(
        "startup",
        "issue 22",
        "`chatcanary check -c examples/demo.yaml` ≤ 0.30 s",
        startup_judge("check", 0.30),
    ),
    Target(
        "memory",
        "issue 22",
        "RSS, `run` with 24 canaries after 15 s: ≤ import floor + 10 MB and ≤ 70 MB",
        sidecar_rss,
    ),
    Target(
        "memory",
        "issue 22",
        "RSS, 1,000 canaries with full history: ≤ import floor + 40 MB",
        thousand_rss,
    ),
    Target(
        "memory", "earlier", "RSS under 80 MB with 1,000 canaries (history on)", old_thousand_rss
    ),
    Target(
        "cost",
        "issue 22",
        "CPU per non-streaming probe ≤ 1.0x blackbox_exporter's (same run)",
        cost_vs_blackbox,
    ),
    Target(
        "cost",
        "earlier",
        "at least 3x cheaper than the SDK prober (non-streaming)",
        cost_vs_sdk("json"),
    ),
    Target(
        "cost",
        "earlier",
        "at least 3x cheaper than the SDK prober (streaming)",
        cost_vs_sdk("stream"),
    ),
    Target("cost", "earlier", "1,000 non-streaming probes/s on one core", cost_rate),
    Target(
        "timing",
        "issue 22",
        "TTFT error p99 < 5 ms at 200 streams in three consecutive runs",
        timing_ttft_p99,
    ),
    Target(
        "timing",
        "earlier",
        "TTFT error at 200 streams: median < 1 ms, p99 < 5 ms",
        timing_error("ttft", "TTFT"),
    ),
    Target(
        "timing",
        "earlier",
        "inter-token gap error at 200 streams: median < 1 ms, p99 < 5 ms",
        timing_error("gap", "gap"),
    ),
    Target(
        "timing",
        "earlier",
        "duration error at 200 streams: median < 1 ms, p99 < 5 ms",
        timing_error("duration", "duration"),
    ),
    Target(
        "store",
        "issue 18",
        "store: ≥ 5,000 runs/s into SQLite, scheduler lag p99 within 10% of the store off",
        store_judge,
    ),
    Target(
        "proxy",
        "issue 20",
        "proxy adds at 50 streams: TTFT and total ≤ 0.5 ms median, ≤ 2 ms p99",
        proxy_judge,
    ),
    Target(
        "refusal-speed",
        "issue 14",
        "refusal classifier: ≥ 10,000 answers of ~500 characters/s on one core",
        refusal_judge,
    ),
    Target(
        "scheduling",
        "earlier",
        "scheduler lag with 10,000 canaries, reported apart from the measured latency",
        scheduling_reported,
    ),
    Target(
        "scheduling",
        "earlier",
        "queueing stays out of the measured latency (targets saturated on purpose)",
        scheduling_queueing,
    ),
    Target(
        "scrape",
        "earlier",
        "/metrics under 100 ms at 50k series (openmetrics)",
        scrape_judge("openmetrics"),
    ),
    Target("scrape", "earlier", "/metrics under 100 ms at 50k series (text)", scrape_judge("text")),
    Target("scaling", "earlier", "N processes split the work evenly (max/min runs)", scaling_even),
    Target("scaling", "earlier", "throughput grows with N up to the core count", scaling_grows),
    Target(
        "adversarial",
        "earlier",
        "every judge on every hostile 1 MiB answer: < 10 s",
        adversarial_judge,
    ),
)


def target_row(target: Target, results: dict[str, Result | None]) -> str:
    result = results[target.source]
    if result is None:
        measured, met = NOT_MEASURED, "—"
    else:
        try:
            text, ok = target.judge(result)
            measured, met = text, verdict(ok)
        except (KeyError, StopIteration, TypeError, ValueError, IndexError, ZeroDivisionError):
            measured, met = f"{NOT_MEASURED} (`{target.source}.json` lacks the figure)", "—"
    return f"| {target.goal} | {target.goal_of} | {measured} | {met} |"


# --- tables rendered from JSON where a benchmark writes none ---------------------------------


def startup_table(result: Result) -> str:
    goals = result.get("goals") or {}
    return markdown(
        ["command", "median s", "p90 s", "RSS", "goal"],
        [
            [
                f"`{row['command']}`",
                f"{row['median_s']:.3f}",
                f"{row['p90_s']:.3f}",
                beside_floor(row["rss_mb"], floor_mb(result, row)) if "rss_mb" in row else "—",
                f"≤ {goals[row['command']]:g} s" if row["command"] in goals else "—",
            ]
            for row in result["commands"]
        ],
    )


def refusal_table(result: Result) -> str:
    speed = result["answers_per_second"]
    rows = [["`detect_refusal`", f"{speed['median']:,.0f}", f"{speed['max']:,.0f}"]]
    baseline = result.get("prefix_baseline")
    if baseline:
        rows.append(["prefix baseline", f"{baseline['median']:,.0f}", f"{baseline['max']:,.0f}"])
    return (
        markdown(["classifier", "answers/s, median", "best round"], rows)
        + f"\n{result['answers']} corpus answers of {result['mean_chars']} characters on one "
        f"core; goal {result.get('goal', 10_000):,}/s."
    )


# name, title, module; a table rendered from the JSON when the benchmark wrote no NAME.md;
# one rendered from the JSON below the benchmark's own
Renderer = Callable[[Result], str | None]
SECTIONS: tuple[tuple[str, str, str, Renderer | None, Renderer | None], ...] = (
    ("timing", "1. Timing accuracy", "bench.timing", None, None),
    ("cost", "2. Cost per probe and maximum rate", "bench.cost", None, None),
    ("scheduling", "3. Scheduling under load", "bench.scheduling", None, None),
    ("memory", "4. Memory", "bench.memory", None, None),
    ("scrape", "5. Scrape cost", "bench.scrape", None, None),
    ("scaling", "6. Scaling out", "bench.scaling", None, None),
    ("adversarial", "7. Hostile answers: time to judge by size", "bench.adversarial", None, None),
    ("store", "8. The durable store", "bench.store", None, None),
    ("proxy", "9. The proxy's overhead", "bench.proxy", None, None),
    ("startup", "10. Start-up", "bench.startup", startup_table, None),
    (
        "refusal-speed",
        "11. The refusal classifier's speed",
        "bench.refusal.speed",
        refusal_table,
        None,
    ),
    ("slowloris", "12. Slowloris at full size", "bench.slowloris", None, None),
    ("speedups", "Optional speed-ups: uvloop, orjson", "bench.speedups", None, None),
)


def notes() -> dict[str, str]:
    """The prose of each section, from bench/notes.md (`## name` headings)."""
    out: dict[str, str] = {}
    name = ""
    for line in NOTES.read_text().splitlines(keepends=True):
        if line.startswith("## "):
            name = line[3:].strip()
            out[name] = ""
        elif name:
            out[name] += line
    return out


def section(
    name: str, title: str, module: str, fallback: Renderer | None, extra: Renderer | None
) -> list[str]:
    result = load(name)
    head = [f"## {title}", ""]
    if result is None:
        return [*head, f"{NOT_MEASURED.capitalize()}: run `python -m {module}`.", ""]
    own = table_of(name) or (fallback(result) if fallback else None)
    tables = [t for t in (own, extra(result) if extra else None) if t]
    when = f" — run {result['when']}" if "when" in result else ""
    return [*head, f"`python -m {module}`{when}.", "", *(t.strip() + "\n" for t in tables)]


def render() -> str:
    prose = notes()
    results = {t.source: load(t.source) for t in TARGETS}
    machine = next((r["machine"] for r in results.values() if r and "machine" in r), "unknown")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.report`) from `bench/results/*.json`;",
        "do not edit by hand: the prose lives in `bench/notes.md`.",
        "",
        f"Machine: {machine}. Every contender of a benchmark ran on this machine in the same",
        "run, against the same endpoint; CPU is the prober process's own.",
        "",
        prose.get("intro", "").strip(),
        "",
        "## Targets",
        "",
        "| target | goal of | measured | |",
        "|---|---|---|---|",
        *(target_row(target, results) for target in TARGETS),
        "",
    ]
    for name, title, module, fallback, extra in SECTIONS:
        lines += section(name, title, module, fallback, extra)
        lines += [prose[name].strip(), ""] if prose.get(name, "").strip() else []
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("CHATCANARY_BENCH_REPORT") or DOCS),
        help="where to write the page (default docs/BENCHMARKS.md)",
    )
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
