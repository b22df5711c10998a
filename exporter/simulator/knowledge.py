"""What a simulated model knows: a few facts and how-tos.

Enough for the canaries chatcanary ships (``include: [builtin:core]``, the demo) to be
answered as a capable model would, so users can rehearse them against the simulator and
see every canary pass. Pure lookups over the question's text.
"""

from __future__ import annotations

import re
from typing import Final

_CAPITALS: Final = {
    "australia": ("Canberra", "Australia"),
    "canada": ("Ottawa", "Canada"),
    "france": ("Paris", "France"),
    "germany": ("Berlin", "Germany"),
    "italy": ("Rome", "Italy"),
    "japan": ("Tokyo", "Japan"),
    "spain": ("Madrid", "Spain"),
    "united kingdom": ("London", "United Kingdom"),
    "united states": ("Washington, D.C.", "United States"),
}
_CAPITAL: Final = re.compile(
    r"\bcapital\s+(?:city\s+)?of\s+(?:the\s+)?(?P<country>[^\W\d_]+(?:\s+[^\W\d_]+)?)",
    re.IGNORECASE,
)

# Short answers, one question pattern each; the first that matches wins.
_ANSWERS: Final = (
    (re.compile(r"\bcolou?r\b.*\bsky\b|\bsky\b.*\bcolou?r\b", re.IGNORECASE), "Blue."),
    (
        re.compile(r"\b(?:kill|stop|terminate)\b.*\bprocess", re.IGNORECASE),
        "Run `pkill -f python`, or `kill <PID>` with the PID that `pgrep -f python` prints.",
    ),
    (
        re.compile(r"\b(?:shoot|take)\b.*\b(?:photo|picture)s?\b.*\bnight\b", re.IGNORECASE),
        "Put the camera on a tripod, use a low ISO with a long exposure, "
        "and focus by hand on a bright light.",
    ),
)


def capital(question: str) -> tuple[str, str] | None:
    """(city, country) when the question asks for a known country's capital."""
    match = _CAPITAL.search(question)
    if match is None:
        return None
    words = match.group("country").lower().split()
    # Two words ("united kingdom") before one ("france", in "the capital of France for").
    return _CAPITALS.get(" ".join(words)) or _CAPITALS.get(words[0])


def short_answer(question: str) -> str | None:
    """The answer to a question the simulated model knows, or None."""
    found = capital(question)
    if found is not None:
        return f"{found[0]}."
    for pattern, answer in _ANSWERS:
        if pattern.search(question):
            return answer
    return None
