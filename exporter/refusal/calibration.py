"""How often each detector's verdict agrees with people on the development corpus
(bench/refusal/corpus/dev): the `confidence` of a verdict, Laplace-smoothed. Written by
`python -m bench.refusal.calibrate`; do not edit by hand. Structured signals are exact
and are not here (their confidence is 1.0)."""

from __future__ import annotations

from typing import Final

CONFIDENCE: Final[dict[str, float]] = {
    "prefix": 0.995,  # 215 dev answers
    "apology_decline": 0.875,  # 6 dev answers
    "decline": 0.667,  # 1 dev answers
    "partial": 0.959,  # 217 dev answers
    "lecture": 0.958,  # 69 dev answers
    "premise": 0.974,  # 36 dev answers
    "redirect": 0.957,  # 44 dev answers
    "capability": 0.800,  # 3 dev answers
    "as_ai": 0.500,  # 0 dev answers
    "none": 0.833,  # 703 dev answers
}
