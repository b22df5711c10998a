"""Reading a judge's answer: the first JSON object in it with a known `verdict`.

Models wrap JSON in code fences, write a sentence before or after it, capitalise keys
and values, or add a stray brace; all of that is forgiven. What is not — no object, no
`verdict`, a verdict outside the rubric's labels — raises `Garbage`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MAX_REASON = 300  # characters of the judge's reason kept


class Garbage(ValueError):
    """The judge's answer holds no usable verdict."""


@dataclass(frozen=True, slots=True)
class Parsed:
    verdict: str  # one of the allowed labels, lower case
    reason: str
    confidence: float | None = None  # in 0..1 when the judge gave one


def parse_verdict(text: str, allowed: Mapping[str, object]) -> Parsed:
    """The verdict in `text`; `allowed` holds the labels (lower case) it may take."""
    seen_object = False
    for candidate in _objects(text):
        seen_object = True
        fields = {str(k).strip().lower(): v for k, v in candidate.items()}
        verdict = fields.get("verdict")
        if not isinstance(verdict, str):
            continue
        label = verdict.strip().lower().replace(" ", "_").replace("-", "_")
        if label not in allowed:
            known = ", ".join(allowed)
            raise Garbage(f"verdict {verdict[:40]!r} is not one of {known}")
        reason = fields.get("reason", fields.get("explanation", ""))
        return Parsed(label, _short(reason), _confidence(fields.get("confidence")))
    if seen_object:
        raise Garbage('no "verdict" key in the JSON object')
    raise Garbage(f"no JSON object in the answer: {_short(text)[:80]!r}")


def _objects(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object in `text`, in order, from each `{` that starts one."""
    decoder = json.JSONDecoder(strict=False)  # models put raw newlines in strings
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            pass
        else:
            if isinstance(value, dict):
                yield value
        start = text.find("{", start + 1)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _confidence(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if 1 < value <= 100:  # a percentage
        value = value / 100
    return float(value) if 0 <= value <= 1 else None
