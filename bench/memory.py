"""Memory: RSS of `chatcanary run` with 10, 100, 1,000 and 10,000 canaries configured and
the run history on (its default: the last 50 runs of every canary kept, plus failures).
Run: `python -m bench.memory [--limit 75]`.

Each canary set runs against the canned endpoint (its own process) on an interval short
enough to fill every canary's history quickly; RSS is read from /proc when the history is
full (50 runs per canary) or after `--limit` seconds. Where the history could not fill in
that time, the table adds a projection to full history from the RSS growth per run
measured over the second half of that same run (marked as projected).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench.common import (
    canary_config,
    markdown,
    rss_mb,
    served,
    start_canned,
    start_chatcanary,
    stop,
    write,
)

HISTORY = 50
RATE = 800.0  # offered runs per second: under what one core carries
PROBER_CPU, ENDPOINT_CPU = 0, 1


def measure(canaries: int, limit: float) -> dict[str, Any]:
    canned, endpoint = start_canned(cpu=ENDPOINT_CPU)
    interval = max(0.05, canaries / RATE)
    config = canary_config(
        endpoint,
        canaries,
        interval,
        targets=max(1, canaries // 100),
        concurrency=16,
        history_size=HISTORY,
    )
    try:
        process, _ = start_chatcanary(config, cpu=PROBER_CPU)
        try:
            ready = rss_mb(process.pid)
            base = served(endpoint)
            started = time.monotonic()
            samples: list[tuple[int, float]] = []
            while True:
                time.sleep(0.5)
                runs = served(endpoint) - base
                samples.append((runs, rss_mb(process.pid)))
                if runs >= HISTORY * canaries or time.monotonic() - started > limit:
                    break
        finally:
            stop(process)
    finally:
        stop(canned)
    runs, rss = samples[-1]
    kept = min(HISTORY, runs / canaries)
    row: dict[str, Any] = {
        "canaries": canaries,
        "interval_s": interval,
        "rss_mb_at_ready": round(ready, 1),
        "runs": runs,
        "runs_kept_per_canary": round(kept, 1),
        "rss_mb": round(rss, 1),
    }
    if kept < HISTORY:
        mid_runs, mid_rss = samples[len(samples) // 2]
        per_run = (rss - mid_rss) / max(1, runs - mid_runs)
        row["rss_kb_per_run_kept"] = round(per_run * 1024, 2)
        row["rss_mb_full_history_projected"] = round(rss + per_run * (HISTORY - kept) * canaries, 1)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    out = []
    for row in rows:
        full = (
            f"{row['rss_mb']:.1f} MB (measured)"
            if "rss_mb_full_history_projected" not in row
            else f"{row['rss_mb_full_history_projected']:.1f} MB (projected)"
        )
        out.append(
            [
                f"{row['canaries']:,}",
                f"{row['rss_mb_at_ready']:.1f} MB",
                f"{row['rss_mb']:.1f} MB after {row['runs_kept_per_canary']:g} runs each",
                full,
            ]
        )
    return markdown(
        ["canaries", "RSS at ready", "RSS, history filling", f"RSS, full history ({HISTORY} runs)"],
        out,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--canaries", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--limit", type=float, default=75.0, help="seconds per canary set")
    args = parser.parse_args()
    os.sched_setaffinity(0, {ENDPOINT_CPU})
    rows = [measure(n, args.limit) for n in args.canaries]
    write("memory", {"history_size": HISTORY, "rows": rows}, table(rows))


if __name__ == "__main__":
    main()
