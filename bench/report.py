"""Write docs/BENCHMARKS.md from the latest results in bench/results/: the machine, the
commands, each benchmark's table, and every target judged from the measured figures.
Run: `python -m bench.report` (the last step of `make bench`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import RESULTS

DOCS = Path(__file__).parent.parent / "docs" / "BENCHMARKS.md"
NOTES = Path(__file__).parent / "notes.md"


def load(name: str) -> tuple[dict[str, Any], str]:
    result = json.loads((RESULTS / f"{name}.json").read_text())
    return result, (RESULTS / f"{name}.md").read_text()


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def timing_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    row = next(r for r in result["rows"] if r["streams"] == 200)
    out = []
    for name, label in (("ttft", "TTFT"), ("gap", "inter-token gap"), ("duration", "duration")):
        median, p99 = row[f"{name}_median_abs_error_ms"], row[f"{name}_p99_abs_error_ms"]
        out.append(
            (
                f"{label} error at 200 streams: median < 1 ms, p99 < 5 ms",
                f"median {median:.2f} ms, p99 {p99:.2f} ms",
                verdict(median < 1 and p99 < 5),
            )
        )
    return out


def cost_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = {(r["prober"], r["mode"]): r for r in result["rows"]}
    ours = rows["chatcanary", "json"]
    cpu = ours["fixed"]["cpu_ms_per_probe"]
    blackbox = rows["blackbox", "json"]["fixed"]["cpu_ms_per_probe"]
    out = [
        (
            "CPU per non-streaming probe at most 2x blackbox_exporter's",
            f"{cpu:.3f} ms vs {blackbox:.3f} ms ({cpu / blackbox:.2f}x)",
            verdict(cpu <= 2 * blackbox),
        )
    ]
    for mode, label in (("json", "non-streaming"), ("stream", "streaming")):
        mine = rows["chatcanary", mode]["fixed"]["cpu_ms_per_probe"]
        sdk = rows["sdk", mode]["fixed"]["cpu_ms_per_probe"]
        out.append(
            (
                f"at least 3x cheaper than the SDK prober ({label})",
                f"{mine:.3f} ms vs {sdk:.3f} ms ({sdk / mine:.1f}x cheaper)",
                verdict(sdk >= 3 * mine),
            )
        )
    rate = ours["max"]["probes_per_s"]
    out.append(
        (
            "1,000 non-streaming probes/s on one core",
            f"{rate:.0f}/s",
            verdict(rate >= 1000),
        )
    )
    return out


def scheduling_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    realistic, queueing = result["scenarios"].values()
    return [
        (
            "scheduler lag with 10,000 canaries, reported apart from the measured latency",
            f"lag p50 {realistic['lag_p50_ms']:.2f} ms, p99 {realistic['lag_p99_ms']:.1f} ms; "
            f"measured duration minus true delay p50 {realistic['duration_error_p50_ms']:.2f} ms, "
            f"p99 {realistic['duration_error_p99_ms']:.1f} ms",
            "reported",
        ),
        (
            "queueing stays out of the measured latency (targets saturated on purpose)",
            f"lag p50 {queueing['lag_p50_ms']:.0f} ms; measured duration minus true delay "
            f"p50 {queueing['duration_error_p50_ms']:.2f} ms",
            verdict(queueing["duration_error_p50_ms"] < 0.05 * queueing["lag_p50_ms"]),
        ),
    ]


def memory_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    row = next(r for r in result["rows"] if r["canaries"] == 1000)
    full = row.get("rss_mb_full_history_projected", row["rss_mb"])
    kind = "projected" if "rss_mb_full_history_projected" in row else "measured"
    return [
        (
            "RSS under 80 MB with 1,000 canaries (history on)",
            f"{row['rss_mb']:.1f} MB after {row['runs_kept_per_canary']:g} runs each; "
            f"{full:.1f} MB with full history ({kind})",
            verdict(full < 80),
        )
    ]


def scrape_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    row = max(result["rows"], key=lambda r: r["text"]["series"])
    out = []
    for name in ("openmetrics", "text"):
        median = row[name]["median_ms"]
        out.append(
            (
                f"/metrics under 100 ms at 50k series ({name})",
                f"median {median:.1f} ms at {row[name]['series']:,} series",
                verdict(median < 100),
            )
        )
    return out


def scaling_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = {r["processes"]: r for r in result["rows"]}
    cores = result["cores"]
    worst = max(r["runs_max_min_ratio"] for r in result["rows"])
    top = rows[min(cores, max(rows))]["runs_per_s_total"]
    base = rows[1]["runs_per_s_total"]
    return [
        (
            "N processes split the work evenly (max/min runs)",
            f"worst max/min {worst:.3f}",
            verdict(worst <= 1.2),
        ),
        (
            f"throughput grows with N up to the core count ({cores})",
            f"{base:.0f}/s with 1 process, {top:.0f}/s with {cores} ({top / base:.2f}x)",
            verdict(top > 1.1 * base),
        ),
    ]


def adversarial_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    slowest, deadline = result["slowest_seconds"], result["deadline_seconds"]
    return [
        (
            f"every judge on every hostile 1 MiB answer: < {deadline:g} s",
            f"slowest {slowest * 1000:.0f} ms",
            verdict(slowest < deadline),
        )
    ]


def store_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """bench/store.py judges its own goals; PostgreSQL is reported beside, no goal."""
    return [
        (
            f"store: {goal['goal']}",
            goal["measured"],
            "—" if name.startswith("postgresql") else verdict(goal["met"]),
        )
        for name, goal in result["goals"].items()
    ]


def proxy_targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    row = next((r for r in result["results"] if r["streams"] == 50), None)
    if row is None:
        return []
    ttft, total = row["added_ttft_ms"], row["added_total_ms"]
    out = [
        (
            "proxy adds at 50 streams: TTFT and total ≤ 0.5 ms median, ≤ 2 ms p99",
            f"TTFT {ttft['p50']:+.2f} / {ttft['p99']:+.2f} ms, "
            f"total {total['p50']:+.2f} / {total['p99']:+.2f} ms",
            verdict(max(ttft["p50"], total["p50"]) <= 0.5 and max(ttft["p99"], total["p99"]) <= 2),
        )
    ]
    peer = row.get("litellm")
    if peer:  # the same run's reference point, no target of ours
        ttft, total = peer["added_ttft_ms"], peer["added_total_ms"]
        out.append(
            (
                f"{result['litellm']} adds at 50 streams (same run, for comparison)",
                f"TTFT {ttft['p50']:+.2f} / {ttft['p99']:+.2f} ms, "
                f"total {total['p50']:+.2f} / {total['p99']:+.2f} ms",
                "—",
            )
        )
    return out


SECTIONS = (
    ("timing", "1. Timing accuracy", timing_targets),
    ("cost", "2. Cost per probe and maximum rate", cost_targets),
    ("scheduling", "3. Scheduling under load", scheduling_targets),
    ("memory", "4. Memory", memory_targets),
    ("scrape", "5. Scrape cost", scrape_targets),
    ("scaling", "6. Scaling out", scaling_targets),
    ("adversarial", "7. Hostile answers: time to judge by size", adversarial_targets),
    ("store", "8. The durable store", store_targets),
    ("proxy", "9. The proxy's overhead", proxy_targets),
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


def main() -> None:
    prose = notes()
    machine = load("timing")[0]["machine"]
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
        "| target | measured | |",
        "|---|---|---|",
    ]
    sections = []
    for name, title, judge in SECTIONS:
        if not (RESULTS / f"{name}.json").exists():
            continue  # a benchmark not run yet on this machine
        result, table = load(name)
        if judge is not None:
            for target, measured, met in judge(result):
                lines.append(f"| {target} | {measured} | {met} |")
        sections += [
            f"## {title}",
            "",
            f"`python -m bench.{name}` — run {result['when']}.",
            "",
            table.strip(),
            "",
            prose.get(name, "").strip(),
            "",
        ]
    if (RESULTS / "speedups.json").exists():
        result, table = load("speedups")
        sections += [
            "## Optional speed-ups: uvloop, orjson",
            "",
            f"`python -m bench.speedups` — run {result['when']}.",
            "",
            table.strip(),
            "",
            prose.get("speedups", "").strip(),
            "",
        ]
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text("\n".join([*lines, "", *sections]).rstrip() + "\n")
    print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
