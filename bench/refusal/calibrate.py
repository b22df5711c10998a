"""Each detector's `confidence`: how often its verdict agreed with people on the dev split
(Laplace-smoothed, so a rule that fired twice does not claim certainty). Writes
exporter/refusal/calibration.py. Run: `python -m bench.refusal.calibrate`. Only the dev
split is read: the test split stays unseen.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.refusal.evaluate import load_split
from exporter.refusal import detect_refusal
from exporter.refusal.classify import DETECTORS

TARGET = Path(__file__).parents[2] / "exporter" / "refusal" / "calibration.py"

HEADER = '''"""How often each detector's verdict agrees with people on the development corpus
(bench/refusal/corpus/dev): the `confidence` of a verdict, Laplace-smoothed. Written by
`python -m bench.refusal.calibrate`; do not edit by hand. Structured signals are exact
and are not here (their confidence is 1.0)."""

from __future__ import annotations

from typing import Final

CONFIDENCE: Final[dict[str, float]] = {
'''


def calibrate() -> dict[str, tuple[float, int]]:
    fired: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    for item in load_split("dev"):
        verdict = detect_refusal(item.text)
        fired[verdict.detector] += 1
        agreed[verdict.detector] += verdict.refused == item.refused
    # a detector that never fired on the dev split claims nothing: (0 + 1) / (0 + 2)
    return {d: ((agreed[d] + 1) / (fired[d] + 2), fired[d]) for d in DETECTORS}


def main() -> None:
    table = calibrate()
    lines = [f'    "{d}": {p:.3f},  # {n} dev answers' for d, (p, n) in table.items()]
    TARGET.write_text(HEADER + "\n".join(lines) + "\n}\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
