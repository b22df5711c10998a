"""Feedback intake: exporter/feedback.py — validation messages and the bounded log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.feedback import (
    COMMENT_LIMIT,
    NO_CATEGORY,
    Feedback,
    FeedbackError,
    FeedbackLog,
    Rating,
    parse_feedback,
)

TARGETS = {"primary", "backup"}
CATEGORIES = ["incorrect", "slow"]


def parse(data: Any) -> Feedback:
    return parse_feedback(data, TARGETS, CATEGORIES, now=5.0)


def test_a_full_submission() -> None:
    feedback = parse(
        {
            "target": "primary",
            "rating": "negative",
            "category": "slow",
            "comment": "took ages",
            "conversation_id": "conv-1",
        }
    )
    assert feedback == Feedback("primary", Rating.NEGATIVE, "slow", "took ages", "conv-1", 5.0)
    assert feedback.as_dict()["rating"] == "negative"


def test_category_and_texts_are_optional() -> None:
    feedback = parse({"target": "backup", "rating": "positive"})
    assert (feedback.category, feedback.comment, feedback.conversation_id) == (NO_CATEGORY, "", "")


def test_lone_surrogates_are_kept_as_replacement_characters() -> None:
    """Regression (issue 17): `"\\ud800"` as a conversation id was taken, then every page
    that showed it answered 500."""
    raw = '{"target": "primary", "rating": "negative", "comment": "bad \\udcff answer",'
    feedback = parse(json.loads(raw + ' "conversation_id": "\\ud800"}'))
    assert (feedback.comment, feedback.conversation_id) == ("bad \ufffd answer", "\ufffd")
    json.dumps(feedback.as_dict(), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "the body must be a JSON object"),
        ({"rating": "positive"}, "'target' is required"),
        ({"target": "nope", "rating": "positive"}, "unknown target 'nope'"),
        ({"target": "primary"}, "'rating' must be 'positive' or 'negative', got None"),
        ({"target": "primary", "rating": "meh"}, "'rating' must be 'positive' or 'negative'"),
        ({"target": "primary", "rating": "positive", "category": "rude"}, "unknown category"),
        ({"target": "primary", "rating": "positive", "comment": 3}, "'comment' must be a string"),
        (
            {"target": "primary", "rating": "positive", "comment": "x" * (COMMENT_LIMIT + 1)},
            "'comment' is longer than 2000 characters",
        ),
        ({"target": "primary", "rating": "positive", "score": 5}, "unknown field(s) ['score']"),
    ],
)
def test_bad_submissions_say_what_to_fix(data: Any, message: str) -> None:
    with pytest.raises(FeedbackError) as caught:
        parse(data)
    assert message in str(caught.value)


def test_the_log_keeps_the_newest_first_and_is_bounded() -> None:
    log = FeedbackLog(kept=2)
    for n in range(3):
        log.record(Feedback("primary", Rating.POSITIVE, NO_CATEGORY, f"c{n}", "", float(n)))
    assert [f.comment for f in log] == ["c2", "c1"]
    log.resize(1)
    assert [f.comment for f in log] == ["c2"]
    assert len(log) == 1
