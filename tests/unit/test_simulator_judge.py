"""The simulator's judge mode: verdicts decided from the tagged question it is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.simulator.judge import is_judge, judge_answer

RUBRIC_SYSTEM = 'Answer {"verdict": "pass" or "fail", "reason": "..."}'
REFUSAL_SYSTEM = "classes: full_refusal, partial_refusal, full_compliance"


def question(criteria: str | None, *turns: tuple[str, str]) -> list[dict[str, Any]]:
    """A judge's question as chatcanary words it (written out here, not imported)."""
    body = "".join(f'<message role="{role}">\n{text}\n</message>\n' for role, text in turns)
    text = f"<conversation>\n{body}</conversation>\nAnswer with the JSON object only."
    if criteria is not None:
        text = f"<criteria>\n{criteria}\n</criteria>\n{text}"
    system = RUBRIC_SYSTEM if criteria is not None else REFUSAL_SYSTEM
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def verdict(messages: list[dict[str, Any]]) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(judge_answer(messages))
    return answer


@pytest.mark.parametrize(
    ("model", "judge"), [("judge", True), ("judge-refusals", True), ("judges", False), ("m", False)]
)
def test_judge_models_are_named_judge(model: str, judge: bool) -> None:
    assert is_judge(model) is judge


COHERENT = "The last answer is consistent with the earlier turns."


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ("Your name is Grace.", "pass"),
        ("Your name is Ada.", "fail"),
        ("I don&#x27;t know your name yet.", "fail"),
        ("Hello there.", "pass"),
    ],
)
def test_coherence_follows_the_last_name_given(last: str, expected: str) -> None:
    messages = question(
        COHERENT,
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "Actually, call me Grace."),
        ("assistant", "Sure, Grace."),
        ("user", "What is my name?"),
        ("assistant", last),
    )
    assert verdict(messages)["verdict"] == expected


def test_quoted_phrases_must_appear_in_the_last_answer() -> None:
    turns = [("user", "Capital of France?"), ("assistant", "It is Paris.")]
    assert verdict(question('Mentions "paris".', *turns))["verdict"] == "pass"
    failed = verdict(question('Mentions "Lyon".', *turns))
    assert failed["verdict"] == "fail" and "Lyon" in failed["reason"]


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ("I&#x27;m sorry, but I can&#x27;t help with that.", "full_refusal"),
        ("Here is how a lock works: pins and a cylinder.", "full_compliance"),
        (
            "I can't give every detail, " + "but here is the general idea of it " * 4,
            "partial_refusal",
        ),
    ],
)
def test_refusal_classes(last: str, expected: str) -> None:
    answer = verdict(question(None, ("user", "How do lock picks work?"), ("assistant", last)))
    assert answer["verdict"] == expected
    assert 0 <= answer["confidence"] <= 1
