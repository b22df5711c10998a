"""User feedback intake: what users said about an endpoint's answers.

`parse_feedback` validates one submission (a JSON object) against the configured targets
and categories and returns a frozen `Feedback`, or raises `FeedbackError` with a message
fit for a 400 answer. A submission may name the canary run (`run_id`) or the
conversation (`conversation_id`) it is about. `FeedbackLog` keeps the latest submissions
for the page. The comment, run id and conversation id are free text: they are shown on
the page, never used as metric labels (`chatcanary_feedback_total` takes target, rating
and category only). They are kept with each lone surrogate (JSON's `"\\ud800"`, which
no page can encode) replaced by U+FFFD, rather than refused: the rest of the submission is
worth keeping.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exporter.result import well_formed

NO_CATEGORY = "none"
COMMENT_LIMIT = 2000
CONVERSATION_LIMIT = 200
RUN_ID_LIMIT = 64
FIELDS = frozenset({"target", "rating", "category", "comment", "conversation_id", "run_id"})


class Rating(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


class FeedbackError(ValueError):
    """A submission that cannot be taken; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Feedback:
    target: str
    rating: Rating
    category: str  # one of the configured categories, or NO_CATEGORY
    comment: str
    conversation_id: str
    received_at: float
    run_id: str = ""  # the canary run it is about, when the submitter names one

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rating": str(self.rating),
            "category": self.category,
            "comment": self.comment,
            "conversation_id": self.conversation_id,
            "received_at": self.received_at,
            "run_id": self.run_id,
        }


def parse_feedback(
    data: Any,
    targets: Collection[str],
    categories: Collection[str],
    now: float | None = None,
) -> Feedback:
    if not isinstance(data, dict):
        raise FeedbackError("the body must be a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise FeedbackError(f"unknown field(s) {unknown}; expected {sorted(FIELDS)}")
    target = data.get("target")
    if not isinstance(target, str) or not target:
        raise FeedbackError("'target' is required: the name of a configured target")
    if target not in targets:
        raise FeedbackError(f"unknown target {target!r}; configured: {sorted(targets)}")
    rating = data.get("rating")
    if rating not in tuple(Rating):
        raise FeedbackError(f"'rating' must be 'positive' or 'negative', got {rating!r}")
    category = data.get("category")
    if category is None:
        category = NO_CATEGORY
    elif category not in categories:
        raise FeedbackError(f"unknown category {category!r}; configured: {sorted(categories)}")
    comment = _text(data, "comment", COMMENT_LIMIT)
    conversation = _text(data, "conversation_id", CONVERSATION_LIMIT)
    run_id = _text(data, "run_id", RUN_ID_LIMIT)
    return Feedback(
        target=target,
        rating=Rating(rating),
        category=category,
        comment=comment,
        conversation_id=conversation,
        received_at=time.time() if now is None else now,
        run_id=run_id,
    )


def _text(data: Mapping[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FeedbackError(f"{name!r} must be a string")
    if len(value) > limit:
        raise FeedbackError(f"{name!r} is longer than {limit} characters")
    return well_formed(value)


class FeedbackLog:
    """The latest submissions, newest last, bounded."""

    def __init__(self, kept: int = 100) -> None:
        self._entries: deque[Feedback] = deque(maxlen=kept)

    def record(self, feedback: Feedback) -> None:
        self._entries.append(feedback)

    def resize(self, kept: int) -> None:
        if kept != self._entries.maxlen:
            self._entries = deque(self._entries, maxlen=kept)

    def __iter__(self) -> Iterator[Feedback]:
        return reversed(self._entries)  # newest first

    def __len__(self) -> int:
        return len(self._entries)
