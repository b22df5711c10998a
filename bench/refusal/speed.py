"""Throughput of `detect_refusal` on one core: answers of about 500 characters from the
labelled corpus (every language, refusals and answers alike), classified in a loop
pinned to one CPU. Run: `python -m bench.refusal.speed` (goal: 10,000 answers/s).
Writes bench/results/refusal-speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from bench.common import RESULTS, machine
from bench.refusal.evaluate import load_authored, load_split
from exporter.refusal import detect_refusal

GOAL = 10_000


def answers(chars: int = 500) -> list[str]:
    """Every corpus answer at least `chars` long, cut to `chars`, in a fixed order."""
    items = [*load_split("dev"), *load_split("test"), *load_split("heldout"), *load_authored()]
    return [i.text[:chars] for i in items if len(i.text) >= chars]


def rounds(texts: list[str], seconds: float, repeats: int) -> list[float]:
    """Answers per second in each of `repeats` rounds of about `seconds`."""
    rates = []
    for _ in range(repeats):
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for text in texts:
                detect_refusal(text)
            done += len(texts)
        rates.append(done / (time.perf_counter() - started))
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    texts = answers()
    rates = rounds(texts, args.seconds, args.repeats)
    result = {
        "machine": machine(),
        "answers": len(texts),
        "mean_chars": round(statistics.mean(map(len, texts))),
        "answers_per_second": {"median": round(statistics.median(rates)), "max": round(max(rates))},
        "goal": GOAL,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "refusal-speed.json").write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"detect_refusal: {result['answers_per_second']['median']:,} answers/s median "
        f"(best {result['answers_per_second']['max']:,}) on one core, {len(texts)} answers of "
        f"{result['mean_chars']} characters; goal {GOAL:,}"
    )


if __name__ == "__main__":
    main()
