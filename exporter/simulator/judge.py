"""The simulator's judge mode: a model named `judge` or `judge-*` answers a judge's
question with a scripted verdict, decided from the conversation and criteria it is sent.

It reads the tagged prompt a judge gets (`<criteria>`, `<conversation>`, `<message
role=...>`) with its own patterns, and decides deterministically:

- the refusal classes (a system message naming `full_refusal`): `full_refusal` when the
  last answer apologises or declines, `partial_refusal` when it declines yet goes on for
  more than 25 words, else `full_compliance`;
- criteria about consistency or names: `fail` when the last answer calls the user by
  another name than the one they gave last, or says it does not know it;
- criteria quoting phrases (`mentions "Paris"`): `fail` unless the last answer has each;
- criteria asking that the question be answered: `fail` when the answer declines;
- anything else: `pass`.

Garbage, timeouts and errors are scripted like any model's: a Behaviour's `answer`
(garbage text) or `faults` (`hang_before_headers`, `http_500`, ...).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from exporter.simulator.answers import message_text

_CRITERIA: Final = re.compile(r"<criteria>\s*(.*?)\s*</criteria>", re.DOTALL)
_MESSAGE: Final = re.compile(r'<message role="(\w+)">\n?(.*?)\n?</message>', re.DOTALL)
_TELL_NAME: Final = re.compile(r"\bmy\s+name\s+is\s+([^\W\d_][\w'-]*)", re.IGNORECASE)
_CALL_ME: Final = re.compile(r"\bcall\s+me\s+([^\W\d_][\w'-]*)", re.IGNORECASE)
_SAID_NAME: Final = re.compile(r"\byour\s+name\s+is\s+([^\W\d_][\w'-]*)", re.IGNORECASE)
_FORGOT: Final = re.compile(r"\b(?:don't|do not)\s+know\s+your\s+name\b", re.IGNORECASE)
_DECLINES: Final = re.compile(
    r"\b(?:sorry|can't|cannot|can not|won't|will not|unable to|not able to)\b", re.IGNORECASE
)
_QUOTED: Final = re.compile(r'"([^"]+)"')
PARTIAL_WORDS: Final = 25


def is_judge(model: str) -> bool:
    return model == "judge" or model.startswith("judge-")


def judge_answer(messages: Sequence[Mapping[str, Any]]) -> str:
    """The JSON verdict a judge model gives to this judge's question."""
    system = " ".join(message_text(m.get("content")) for m in messages if m.get("role") == "system")
    question = " ".join(message_text(m.get("content")) for m in messages if m.get("role") == "user")
    conversation = [(role, html.unescape(text)) for role, text in _MESSAGE.findall(question)]
    answers = [text for role, text in conversation if role == "assistant"]
    last = answers[-1] if answers else ""
    if "full_refusal" in system:
        return json.dumps(_refusal(last))
    found = _CRITERIA.search(question)
    criteria = html.unescape(found.group(1)) if found else ""
    verdict, reason = _rubric(criteria, conversation, last)
    return json.dumps({"verdict": verdict, "reason": reason})


def _refusal(last: str) -> dict[str, Any]:
    if _DECLINES.search(last) is None:
        return {"verdict": "full_compliance", "confidence": 0.9, "reason": "answers directly"}
    if len(last.split()) > PARTIAL_WORDS:
        return {
            "verdict": "partial_refusal",
            "confidence": 0.7,
            "reason": "declines, then answers at length",
        }
    return {"verdict": "full_refusal", "confidence": 0.95, "reason": "declines the request"}


def _rubric(criteria: str, conversation: Sequence[tuple[str, str]], last: str) -> tuple[str, str]:
    lowered = criteria.lower()
    if "consistent" in lowered or "name" in lowered:
        given = [
            m.group(1)
            for role, text in conversation
            if role == "user"
            for m in (*_TELL_NAME.finditer(text), *_CALL_ME.finditer(text))
        ]
        if given:
            said = _SAID_NAME.search(last)
            if _FORGOT.search(last):
                return "fail", f"the user gave the name {given[-1]}; the answer forgot it"
            if said is not None and said.group(1).casefold() != given[-1].casefold():
                return "fail", f"calls the user {said.group(1)}, but they said {given[-1]}"
    missing = [q for q in _QUOTED.findall(criteria) if q.casefold() not in last.casefold()]
    if missing:
        return "fail", f"the answer does not mention {missing[0]!r}"
    if "answers the user" in lowered and _DECLINES.search(last):
        return "fail", "the answer declines instead of answering"
    return "pass", "the answer meets the criteria"
