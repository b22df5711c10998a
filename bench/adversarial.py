"""Hostile answers: how the time to judge an answer grows with its size, for each
adversarial answer of the fault server (tests/integration/faultserver.py `HOSTILE`) and
each judge — every check kind that reads the text, the refusal classifier, the runner's
secret redaction and the OTel sink's `redact_patterns` — from 16 KiB to the 1 MiB answer
cap. The JSON fence regex these replaced is measured too, until it passes a second.
Run: `python -m bench.adversarial`.

In process, one judge at a time, the fastest of three tries (one at 1 MiB); a judge is
linear when 4 times the size costs about 4 times the time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from pydantic import TypeAdapter

from bench.common import markdown, scale, write
from exporter.checks import Answer, judge
from exporter.checkspecs import Check
from exporter.config import OpenTelemetry
from exporter.redaction import scrub
from exporter.refusal import detect_refusal
from exporter.sinks.otel import OTelSink
from tests.integration.faultserver import HOSTILE

# 16 KiB to 1 MiB; the quick profile 256 B to 16 KiB
SIZES = tuple(size >> scale(0, 6) for size in (1 << 14, 1 << 16, 1 << 18, 1 << 20))
CAP = SIZES[-1]
DEADLINE = 10.0  # seconds for one judge on one answer at the cap: the target
CHECKS = {
    "json": {"json": True, "allow_fences": True, "schema": {"type": "object"}},
    "json_schema_items": {"json": True, "schema": {"type": "array", "items": {"type": "string"}}},
    "regex": {"regex": "^(a+)+$"},
    "contains": {"contains": "42", "ignore_case": True},
    "contains_all": {"contains_all": ["4", "2"]},
    "number": {"number": 42},
    "equals": {"equals": "42"},
    "similarity": {"similarity": "The answer is 42."},
    "length": {"length": {"max_chars": 100}},
}
# what the old fence regex took at a size; it is not run past a second
OLD_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```$", re.DOTALL)
OLD_LIMIT = scale(1000, 50) / 1000  # seconds


def judges() -> dict[str, Callable[[str], Any]]:
    adapter: TypeAdapter[Any] = TypeAdapter(Check)
    out: dict[str, Callable[[str], Any]] = {}
    for name, fields in CHECKS.items():
        check = adapter.validate_python(fields)
        out[name] = lambda text, check=check: judge(check, Answer(text, 1.0, 0.1, 10, None))
    out["refusal"] = detect_refusal
    out["redaction"] = lambda text: scrub(text, ["sk-hostile-0123456789abcdef", "Bearer x"])
    settings = OpenTelemetry(
        capture_content=True,
        redact_patterns=["sk-[A-Za-z0-9-]{20,}", "(a|aa)+b", "(?s)```.*```", "a"],
    )
    failures = Counter("f", "x", ["signal"], registry=CollectorRegistry())
    sink = OTelSink(settings, _Nowhere(), failures)
    out["otel_redact"] = lambda text: sink._content("assistant", text)
    return out


class _Nowhere:
    """A span exporter that keeps nothing (the sink is only asked to redact)."""

    def export(self, spans: Any) -> Any:
        return None

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def timed(fn: Callable[[str], Any], text: str) -> float:
    best = float("inf")
    for _ in range(1 if len(text) >= CAP else 3):
        started = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - started)
    return best


def kib(size: int) -> str:
    return f"{size // 1024} KiB" if size < 1 << 20 else f"{size // (1 << 20)} MiB"


def main() -> None:
    every = judges()
    curves: dict[str, dict[str, dict[int, float]]] = {}
    for family, make in sorted(HOSTILE.items()):
        texts = {size: make(size) for size in SIZES}
        curves[family] = {
            name: {size: timed(fn, text) for size, text in texts.items()}
            for name, fn in every.items()
        }
        old: dict[int, float] = {}
        for size, text in texts.items():
            old[size] = timed(OLD_FENCE.match, text)
            if old[size] > OLD_LIMIT:
                break
        curves[family]["old_fence_regex"] = old
        print(family, f"{max(c[CAP] for n, c in curves[family].items() if CAP in c):.3f}s")
    rows = []
    for family, by_judge in curves.items():
        current = {n: c for n, c in by_judge.items() if n != "old_fence_regex"}
        slowest = max(current, key=lambda n: current[n][CAP])
        seconds = current[slowest][CAP]
        growth = seconds / max(current[slowest][SIZES[-2]], 1e-6)
        old = by_judge["old_fence_regex"]
        last = max(old)
        rows.append(
            (
                family,
                slowest,
                f"{seconds * 1000:.0f} ms",
                f"{growth:.1f}x",
                f"{sum(c[CAP] for c in current.values()) * 1000:.0f} ms",
                f"{old[last]:.2f} s at {kib(last)}",
            )
        )
    header = (
        f"answer ({kib(CAP)})",
        "slowest judge",
        "its time",
        f"its growth, {kib(SIZES[-2])} → {kib(CAP)}",
        "all judges",
        "old fence regex",
    )
    slowest_all = max(
        c[CAP] for f in curves.values() for n, c in f.items() if CAP in c and n != "old_fence_regex"
    )
    write(
        "adversarial",
        {
            "sizes": list(SIZES),
            "deadline_seconds": DEADLINE,
            "slowest_seconds": slowest_all,
            "curves": {
                family: {name: {str(k): v for k, v in c.items()} for name, c in by_judge.items()}
                for family, by_judge in curves.items()
            },
        },
        markdown(header, rows),
    )


if __name__ == "__main__":
    main()
