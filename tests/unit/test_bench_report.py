"""The benchmarks page (bench/report.py): goals judged from hand-written results, missing
files and missing figures rendered as "not measured", the page written where asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MACHINE = {"machine": "test machine", "when": "2026-12-03 12:00"}


def report(results: Path, out: Path) -> str:
    env = {**os.environ, "CHATCANARY_BENCH_RESULTS": str(results)}
    subprocess.run(
        [sys.executable, "-m", "bench.report", "--out", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return out.read_text()


def write(results: Path, name: str, result: dict[str, Any], table: str | None = None) -> None:
    results.mkdir(exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps({**MACHINE, **result}))
    if table is not None:
        (results / f"{name}.md").write_text(table)


def target(page: str, words: str) -> str:
    """The Targets table's one row whose goal names `words`."""
    table = page.split("\n## Targets\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and words in line]
    assert len(rows) == 1, (words, rows)
    return rows[0]


def test_no_results_renders_every_section_as_not_measured(tmp_path: Path) -> None:
    page = report(tmp_path / "empty", tmp_path / "page.md")
    assert "Not measured: run `python -m bench.startup`." in page
    assert "Not measured: run `python -m bench.store`." in page
    assert "Not measured: run `python -m bench.refusal.speed`." in page
    assert "| not measured | — |" in target(page, "`chatcanary --version` ≤ 0.10 s")
    assert "| not measured | — |" in target(page, "5,000 runs/s into SQLite")


def test_the_page_is_written_where_asked_and_nowhere_else(tmp_path: Path) -> None:
    docs = ROOT / "docs" / "BENCHMARKS.md"
    before = docs.read_text()
    report(tmp_path / "empty", tmp_path / "deep" / "page.md")
    assert (tmp_path / "deep" / "page.md").exists()
    assert docs.read_text() == before


def test_goals_are_judged_from_the_figures(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write(
        results,
        "store",
        {
            "goals": {
                "sqlite_write_rate": {"committed_per_s": 6000.0},
                "scheduler_lag_p99": {"off_ms": 100.0, "sqlite_ms": 109.0},
            }
        },
        "| store | committed |\n|---|---|\n| sqlite | 6000 |\n",
    )
    write(
        results,
        "startup",
        {
            "commands": [
                {"command": "chatcanary --version", "median_s": 0.08, "p90_s": 0.09, "rss_mb": 20},
                {
                    "command": "chatcanary check -c examples/demo.yaml",
                    "median_s": 0.35,
                    "p90_s": 0.4,
                    "rss_mb": 30,
                },
            ],
            "goals": {"chatcanary --version": 0.1, "chatcanary check -c examples/demo.yaml": 0.3},
        },
    )
    # a floor of 43 MB: 24 canaries at 52 MB is within 10 MB of it and under 70 MB;
    # 1,000 canaries at 90 MB is 47 MB above it, over the 40 MB allowed
    write(
        results,
        "memory",
        {
            "floor_mb": 43.0,
            "small": {"canaries": 24, "rss_mb": 52.0},
            "large": {"canaries": 1000, "runs_per_canary": 30, "rss_mb": 90.0},
        },
    )
    write(
        results,
        "refusal-speed",
        {
            "answers": 10,
            "mean_chars": 500,
            "answers_per_second": {"median": 12000, "max": 13000},
            "prefix_baseline": {"median": 50000, "max": 60000},
            "goal": 10000,
        },
    )
    page = report(results, tmp_path / "page.md")
    assert target(page, "5,000 runs/s into SQLite").endswith("| **met** |")
    assert target(page, "`chatcanary --version`").endswith("| **met** |")
    assert target(page, "`chatcanary check -c").endswith("| **not met** |")
    assert target(page, "24 canaries after 15 s").endswith("| **met** |")
    assert "52.0 MB (floor + 9.0)" in target(page, "24 canaries after 15 s")
    assert target(page, "1,000 canaries with full history").endswith("| **not met** |")
    assert "90.0 MB (floor + 47.0)" in target(page, "1,000 canaries with full history")
    assert "prefix baseline 50,000/s" in target(page, "refusal classifier")
    assert target(page, "refusal classifier").endswith("| **met** |")
    # the benchmark's own table, and the JSON-rendered ones where it wrote none
    assert "| sqlite | 6000 |" in page
    assert "| `chatcanary --version` | 0.080 | 0.090 |" in page
    assert "| prefix baseline | 50,000 | 60,000 |" in page
    assert "52.0 MB (floor + 9.0)" in target(page, "24 canaries after 15 s")


def test_a_file_lacking_a_figure_says_so_and_the_rest_renders(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write(results, "proxy", {"results": [{"streams": 1, "requests": 5}]}, "| proxy |\n|---|\n")
    write(
        results,
        "store",
        {
            "goals": {
                "sqlite_write_rate": {"committed_per_s": 4000.0},
                "scheduler_lag_p99": {"off_ms": 100.0, "sqlite_ms": 100.0},
            }
        },
    )
    page = report(results, tmp_path / "page.md")
    assert "not measured (`proxy.json` lacks the figure)" in target(page, "proxy adds at 50")
    assert target(page, "5,000 runs/s into SQLite").endswith("| **not met** |")


def test_the_proxy_is_judged_on_its_legs_with_end_to_end_beside(tmp_path: Path) -> None:
    def quantiles(p50: float, p99: float) -> dict[str, float]:
        return {"p50": p50, "p99": p99}

    row = {
        "streams": 50,
        "requests": 1000,
        "added_ttft_ms": quantiles(0.9, 1.0),  # end to end over the bound ...
        "added_total_ms": quantiles(0.8, 2.5),
        "added_ttft_legs_ms": quantiles(0.3, 0.6),  # ... the legs within it
        "added_total_legs_ms": quantiles(0.2, 1.9),
        "litellm": {"added_ttft_ms": quantiles(700.0, 1300.0), "added_total_ms": quantiles(1, 2)},
    }
    results = tmp_path / "results"
    write(results, "proxy", {"litellm": "LiteLLM 9.9", "results": [row]})
    line = target(report(results, tmp_path / "page.md"), "proxy adds at 50")
    assert "TTFT +0.30 / +0.60 ms by legs (+0.90 / +1.00 ms end to end)" in line
    assert "total +0.20 / +1.90 ms by legs (+0.80 / +2.50 ms end to end)" in line
    assert "LiteLLM 9.9 (same run) TTFT +700.00 / +1300.00 ms, total" in line  # no stamps
    assert line.endswith("| **met** |")

    row["added_total_legs_ms"] = quantiles(0.2, 2.1)  # one leg's p99 over the bound
    write(results, "proxy", {"results": [row]})
    line = target(report(results, tmp_path / "page.md"), "proxy adds at 50")
    assert line.endswith("| **not met** |")

    for key in ("added_ttft_legs_ms", "added_total_legs_ms"):
        del row[key]  # a run before the stamps: judged end to end
    row["added_total_ms"] = quantiles(0.4, 1.5)
    row["added_ttft_ms"] = quantiles(0.45, 1.0)
    write(results, "proxy", {"results": [row]})
    line = target(report(results, tmp_path / "page.md"), "proxy adds at 50")
    assert "TTFT +0.45 / +1.00 ms, total +0.40 / +1.50 ms" in line
    assert line.endswith("| **met** |")
