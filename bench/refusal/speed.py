"""Throughput of `detect_refusal` on one core, beside the prefix baseline in the same run:
answers of about 500 characters from the labelled corpus (every language, refusals and
answers alike), classified in a loop pinned to one CPU.
Run: `python -m bench.refusal.speed` (goal: 10,000 answers/s).
Writes bench/results/refusal-speed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from bench.common import markdown, scale, write
from bench.refusal.evaluate import load_authored, load_split
from exporter.refusal import detect_refusal, prefix_refusal

GOAL = 10_000
CLASSIFIERS: dict[str, Callable[[str], object]] = {
    "detect_refusal": detect_refusal,
    "prefix baseline": prefix_refusal,
}


def answers(chars: int = 500) -> list[str]:
    """Every corpus answer at least `chars` long, cut to `chars`, in a fixed order."""
    items = [*load_split("dev"), *load_split("test"), *load_split("heldout"), *load_authored()]
    return [i.text[:chars] for i in items if len(i.text) >= chars]


def one_round(texts: list[str], seconds: float, classify: Callable[[str], object]) -> float:
    """Answers per second over about `seconds`."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for text in texts:
            classify(text)
        done += len(texts)
    return done / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=scale(2000, 100) / 1000)
    parser.add_argument("--repeats", type=int, default=scale(5, 2))
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    texts = answers()
    for classify in CLASSIFIERS.values():  # warm-up: compiled patterns, lazy tables
        for text in texts:
            classify(text)
    rates: dict[str, list[float]] = {name: [] for name in CLASSIFIERS}
    for _ in range(args.repeats):  # rounds interleaved, so load on the machine hits both
        for name, classify in CLASSIFIERS.items():
            rates[name].append(one_round(texts, args.seconds, classify))
    speeds = {
        name: {"median": round(statistics.median(r)), "max": round(max(r))}
        for name, r in rates.items()
    }
    result = {
        "answers": len(texts),
        "mean_chars": round(statistics.mean(map(len, texts))),
        "answers_per_second": speeds["detect_refusal"],
        "prefix_baseline": speeds["prefix baseline"],
        "goal": GOAL,
    }
    table = markdown(
        ["classifier", "answers/s, median", "best round"],
        [[name, f"{s['median']:,}", f"{s['max']:,}"] for name, s in speeds.items()],
    )
    table += (
        f"\n{len(texts)} corpus answers of {result['mean_chars']} characters, one core, "
        f"rounds interleaved by classifier; goal {GOAL:,} answers/s.\n"
    )
    write("refusal-speed", result, table)


if __name__ == "__main__":
    main()
