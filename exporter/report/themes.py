"""Recurring themes in negative feedback comments: clusters of similar comments, each
named by its keyphrases.

Comments are normalised (lower case, words only, stop words dropped, a light suffix
strip so "refused" and "refuses" meet), compared pairwise with rapidfuzz's
`token_set_ratio`, and grouped in one pass, oldest first: a comment joins the theme whose
members it resembles most on average when that mean similarity is at least `SIMILAR`,
else it starts a new one. Themes of at least `MIN_COMMENTS` comments are reported; a
theme's keyphrases are the words and word pairs found in most of its comments.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from exporter.store.rows import StoredFeedback

SIMILAR = 55.0  # token_set_ratio, 0..100
MIN_COMMENTS = 3
MAX_COMMENTS = 2000  # the newest negative comments considered
EXAMPLES = 3
KEYPHRASES = 3

STOP = frozenset(
    """a about after again all also am an and any are as at be been before being but by can
    could did do does doing for from had has have having he her here hers him his how i if in
    into is it its just me more most my no not now of on once only or other our out over own
    same she should so some such than that the their them then there these they this those
    through to too under until up very was we were what when where which while who why will
    with would you your yours today still really get got it's i'm don't didn't doesn't""".split()  # noqa: SIM905 - a word list reads better as text
)
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


@dataclass(frozen=True, slots=True)
class Theme:
    keyphrases: tuple[str, ...]
    size: int
    categories: tuple[tuple[str, int], ...]  # most frequent first
    examples: tuple[StoredFeedback, ...]  # newest first


def stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(comment: str, surface: dict[str, Counter[str]] | None = None) -> list[str]:
    """The comment's stemmed content words; `surface` counts the words each stem stood for."""
    out = []
    for word in WORD.findall(comment.lower()):
        if word in STOP or len(word) < 2:
            continue
        stemmed = stem(word)
        if surface is not None:
            surface.setdefault(stemmed, Counter())[word] += 1
        out.append(stemmed)
    return out


def themes(feedback: Sequence[StoredFeedback]) -> list[Theme]:
    """Themes of the negative comments, largest first."""
    negative = [f for f in feedback if f.feedback.rating == "negative" and f.feedback.comment]
    negative = sorted(negative, key=lambda f: f.feedback.received_at)[-MAX_COMMENTS:]
    surface: dict[str, Counter[str]] = {}
    texts = [" ".join(words(f.feedback.comment, surface)) for f in negative]
    kept = [i for i, t in enumerate(texts) if t]
    if not kept:
        return []
    from rapidfuzz import fuzz  # only when there is feedback to group
    from rapidfuzz.process import cdist

    similarity = cdist(
        [texts[i] for i in kept], [texts[i] for i in kept], scorer=fuzz.token_set_ratio
    )
    groups: list[list[int]] = []  # positions in `kept`
    for i in range(len(kept)):
        best, best_score = None, SIMILAR
        for g, members in enumerate(groups):
            score = sum(float(similarity[i][j]) for j in members) / len(members)
            if score >= best_score:
                best, best_score = g, score
        if best is None:
            groups.append([i])
        else:
            groups[best].append(i)
    out = []
    for members in groups:
        if len(members) < MIN_COMMENTS:
            continue
        chosen = [negative[kept[i]] for i in members]
        out.append(
            Theme(
                keyphrases=_keyphrases([texts[kept[i]] for i in members], surface),
                size=len(chosen),
                categories=tuple(Counter(f.feedback.category for f in chosen).most_common()),
                examples=tuple(sorted(chosen, key=lambda f: -f.feedback.received_at)[:EXAMPLES]),
            )
        )
    out.sort(key=lambda t: (-t.size, t.keyphrases))
    return out


def _keyphrases(texts: Sequence[str], surface: dict[str, Counter[str]]) -> tuple[str, ...]:
    """The words and adjacent pairs in most of the texts (each text counted once), each
    stem shown as the word it most often stood for."""
    counts: Counter[str] = Counter()
    for text in texts:
        tokens = text.split()
        grams = set(tokens) | {f"{a} {b}" for a, b in itertools.pairwise(tokens)}
        counts.update(grams)
    # a pair found as often as its words says more than either word alone
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], -kv[0].count(" "), kv[0]))
    chosen: list[str] = []
    for phrase, count in ranked:
        if count < 2 or len(chosen) == KEYPHRASES:
            break
        if any(set(phrase.split()) <= set(c.split()) for c in chosen):
            continue
        chosen.append(phrase)
    return tuple(" ".join(surface[w].most_common(1)[0][0] for w in c.split()) for c in chosen)
