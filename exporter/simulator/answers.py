"""The answer rule table: what a simulated model says to a conversation.

Rules are tried in order and the first that applies wins: recalling the user's name from
earlier turns, echoing ("Say hello"), a JSON reply (with the fields the prompt names in
quotes), arithmetic, a fact or how-to the model knows (:mod:`knowledge`), and otherwise a
deterministic filler answer. Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Final

from exporter.simulator.knowledge import capital, short_answer

Message = Mapping[str, Any]

_FILLER_WORDS: Final = (
    *("the", "canary", "sings", "a", "steady", "song", "while", "the", "simulated", "model"),
    *("streams", "plain", "words", "so", "that", "probes", "can", "measure", "every", "token"),
    *("as", "it", "arrives"),
)

_ASK_NAME: Final = re.compile(r"\bwhat(?:'s|\s+is)\s+my\s+name\b", re.IGNORECASE)
_TELL_NAME: Final = re.compile(r"\bmy\s+name\s+is\s+([^\W\d_][\w'-]*)", re.IGNORECASE)
_ECHO: Final = re.compile(
    r"^\s*(?:please\s+)?(?:say|repeat|echo)\b(?:\s+(?:exactly|verbatim|after\s+me))?"
    r"\s*[:,]?\s*(?P<rest>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_QUOTED: Final = re.compile(r"""^(?:"([^"]*)"|'([^']*)'|“([^”]*)”)""")
_ECHO_TAIL: Final = re.compile(
    r"[\s,]*(?:\b(?:and\s+nothing\s+else|nothing\s+else|only|exactly|verbatim))?[\s.!?]*$",
    re.IGNORECASE,
)
_JSON: Final = re.compile(r"\bjson\b", re.IGNORECASE)
# A quoted name in a JSON prompt is a field it asks for: `an object with "city" (string)`.
_FIELD: Final = re.compile(r"""["“](?P<name>[^\W\d][\w-]*)["”]""")
_OPERATOR_WORDS: Final = (
    (re.compile(r"\bplus\b", re.IGNORECASE), "+"),
    (re.compile(r"\bminus\b", re.IGNORECASE), "-"),
    (re.compile(r"\b(?:times|multiplied\s+by)\b", re.IGNORECASE), "*"),
    (re.compile(r"\bdivided\s+by\b", re.IGNORECASE), "/"),
    (re.compile(r"(?<=\d)\s*[x\u00d7]\s*(?=\d)"), "*"),  # "6 x 7" or the multiplication sign
    (re.compile(r"÷"), "/"),
)
_NUMBER: Final = r"\d+(?:\.\d+)?"
# At least two numbers joined by an operator, with optional parentheses and signs.
_EXPRESSION: Final = re.compile(
    rf"[(\-]*\s*{_NUMBER}\s*\)*(?:\s*[-+*/]\s*[(\-]*\s*{_NUMBER}\s*\)*)+"
)
_EXPRESSION_TOKEN: Final = re.compile(rf"{_NUMBER}|[-+*/()]")


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def count_words(messages: Sequence[Message]) -> int:
    """Prompt size in simulator tokens: whitespace-separated words of every message."""
    return sum(len(message_text(m.get("content")).split()) for m in messages)


def answer_for(messages: Sequence[Message], *, filler_tokens: int = 12) -> str:
    """The answer to the last user message of a conversation."""
    question = _last_user_text(messages)
    rules: tuple[Callable[[str, Sequence[Message]], str | None], ...] = (
        _recall_name,
        _echo,
        _json_reply,
        _arithmetic,
        _known,
    )
    for rule in rules:
        answer = rule(question, messages)
        if answer is not None:
            return answer
    return filler(filler_tokens)


def filler(tokens: int) -> str:
    """A deterministic answer of exactly ``tokens`` words."""
    return " ".join(itertools.islice(itertools.cycle(_FILLER_WORDS), tokens))


def _last_user_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def _recall_name(question: str, messages: Sequence[Message]) -> str | None:
    if not _ASK_NAME.search(question):
        return None
    names = [
        match.group(1)
        for message in messages
        if message.get("role") == "user"
        for match in _TELL_NAME.finditer(message_text(message.get("content")))
    ]
    # The most recent introduction wins, as it would in a real conversation.
    return f"Your name is {names[-1]}." if names else "I don't know your name yet."


def _echo(question: str, _messages: Sequence[Message]) -> str | None:
    match = _ECHO.match(question)
    if match is None:
        return None
    rest = match.group("rest").strip()
    quoted = _QUOTED.match(rest)
    if quoted is not None:
        text = next(group for group in quoted.groups() if group is not None)
    else:
        text = _ECHO_TAIL.sub("", rest)
    return text or None


def _json_reply(question: str, messages: Sequence[Message]) -> str | None:
    if not _JSON.search(question):
        return None
    answer = _arithmetic(question, messages)
    fields = list(dict.fromkeys(m.group("name") for m in _FIELD.finditer(question)))
    if fields:
        known = _facts(question, answer)
        return json.dumps({name: known.get(name.lower(), "unknown") for name in fields})
    reply: dict[str, Any] = {"status": "ok"}
    if answer is None:
        reply["message"] = "hello from the chatcanary simulator"
    else:
        reply["answer"] = json.loads(answer) if _is_number(answer) else answer
    return json.dumps(reply)


def _facts(question: str, answer: str | None) -> dict[str, Any]:
    """Values for the fields a JSON prompt may name, from what the question asks."""
    facts: dict[str, Any] = {}
    if answer is not None:
        value = json.loads(answer) if _is_number(answer) else answer
        facts.update(answer=value, result=value, value=value)
    found = capital(question)
    if found is not None:
        facts.update(city=found[0], capital=found[0], country=found[1])
    return facts


def _known(question: str, _messages: Sequence[Message]) -> str | None:
    return short_answer(question)


def _arithmetic(question: str, _messages: Sequence[Message]) -> str | None:
    text = question
    for pattern, operator in _OPERATOR_WORDS:
        text = pattern.sub(operator, text)
    for match in _EXPRESSION.finditer(text):
        try:
            value = _Parser(_EXPRESSION_TOKEN.findall(match.group())).parse()
        except ZeroDivisionError:
            return "Division by zero is undefined."
        except ValueError:
            continue
        return _format_number(value)
    return None


def _format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Parser:
    """Recursive-descent parser for + - * / and parentheses, in exact fractions.

    Hand-written rather than eval() so a prompt can never run code in the simulator.
    """

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self._pos = 0

    def parse(self) -> Fraction:
        value = self._sum()
        if self._pos != len(self._tokens):
            raise ValueError("trailing tokens")
        return value

    def _peek(self) -> str | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError("unexpected end of expression")
        self._pos += 1
        return token

    def _sum(self) -> Fraction:
        value = self._product()
        while self._peek() in ("+", "-"):
            if self._take() == "+":
                value += self._product()
            else:
                value -= self._product()
        return value

    def _product(self) -> Fraction:
        value = self._factor()
        while self._peek() in ("*", "/"):
            if self._take() == "*":
                value *= self._factor()
            else:
                value /= self._factor()
        return value

    def _factor(self) -> Fraction:
        token = self._take()
        if token == "-":
            return -self._factor()
        if token == "(":
            value = self._sum()
            if self._take() != ")":
                raise ValueError("unbalanced parentheses")
            return value
        if token in ("+", "*", "/", ")"):
            raise ValueError(f"unexpected {token!r}")
        return Fraction(token)
