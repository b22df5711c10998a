"""An answer made ready for the rules: normalised (NFKC, straight quotes, lower case), with
what the assistant does not say in its own voice set aside (code, quotations, blockquotes,
a letter it drafts for the user), cut into sentences."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

_QUOTES: Final = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'"}
    | {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"'}
    | {"\u00ab": '"', "\u00bb": '"', "\u300c": '"', "\u300d": '"', "\u300e": '"', "\u300f": '"'}
)


_CURLY: Final = re.compile("[\u2018-\u201f\u2032\u2033\u00ab\u00bb\u300c-\u300f]")
_SPACES: Final = re.compile(r"[ \t\u00a0\u3000]{2,}|[\t\u00a0\u3000]")


def fold_quotes(text: str) -> str:
    # translate() walks every character in Python; most answers have no curly quotes.
    return text.translate(_QUOTES) if _CURLY.search(text) else text


def _normalise(text: str) -> str:
    """NFKC (full-width Chinese punctuation becomes ASCII), straight quotes, lower case,
    runs of spaces collapsed; newlines are kept because lists and letters are lines."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = fold_quotes(text).lower()
    if "  " in text or "\t" in text or "\u00a0" in text or "\u3000" in text:
        text = _SPACES.sub(" ", text)
    if "\n\n" in text or " \n" in text or "\n " in text:
        # blank lines and the spaces around line breaks go; one "\n" stays between lines
        text = "\n".join(line for raw in text.split("\n") if (line := raw.strip(" ")))
    return text.strip()


# The assistant is not speaking in code, in quotations, or inside a letter it drafts for
# the user ("Unfortunately, I must decline your invitation ..."), so none of that may
# decide a refusal. A letter runs from a salutation line to a sign-off line.
_CODE_BLOCK: Final = re.compile(r"```.*?(?:```|$)", re.S)
_INLINE_CODE: Final = re.compile(r"`[^`\n]*`")
_QUOTED: Final = re.compile(r'"[^"\n]{0,400}"')
# Single quotes only where they stand at word boundaries, so the apostrophe in "can't"
# neither opens nor closes a quotation.
_SINGLE_QUOTED: Final = re.compile(r"(?<!\w)'(?=\S)(?:[^'\n]|(?<=\w)'(?=\w)){1,400}?(?<=\S)'(?!\w)")
_GREETINGS: Final = ("dear", "hi", "hello", "hey")


def _quote_opens(prose: str) -> bool:
    """Whether a single quote stands where a quotation could open (not inside a word)."""
    at = prose.find("'")
    while at != -1:
        if at == 0 or not (prose[at - 1].isalnum() or prose[at - 1] == "_"):
            return True
        at = prose.find("'", at + 1)
    return False


_BLOCKQUOTE: Final = re.compile(r"^>.*$", re.M)
_SALUTATION: Final = re.compile(r"^(?:dear|hi|hello|hey)\b[^\n]{0,40},$", re.M)
_SIGN_OFF: Final = re.compile(
    r"^(?:best|regards|best regards|kind regards|warm regards|sincerely|thanks|thank you|"
    r"cheers|love|with love|yours)[^\n]{0,20}\n[^\n]{0,40}$",
    re.M,
)

# Sentences end at . ! ? ; followed by white space, at a CJK full stop, at ! or ? followed
# by a CJK character (NFKC has made the full-width marks ASCII; CJK puts no space after
# them), or at a line break. A scan by hand: a regex with look-behinds costs four times
# as much, on every answer.
_BREAK: Final = re.compile(r"[.!?;\u3002\n]")


def _dense(char: str) -> bool:
    return (
        "\u3040" <= char <= "\u30ff" or "\u4e00" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7a3"
    )


def _split(prose: str) -> list[str]:
    """The sentences, stripped of white space and leading list markers; empty ones go."""
    parts, start = [], 0
    for found in _BREAK.finditer(prose):
        at = found.start()
        char, following = prose[at], prose[at + 1 : at + 2]
        if char == "\n":
            end = at
        elif (
            char == "\u3002"
            or following.isspace()
            or (char in "!?" and following and _dense(following))
        ):
            end = at + 1
        else:
            continue
        if part := prose[start:end].strip():
            parts.append(_LEAD.sub("", part).strip() if part[0] in _LEAD_CHARS else part)
        start = at + 1
    if part := prose[start:].strip():
        parts.append(_LEAD.sub("", part).strip() if part[0] in _LEAD_CHARS else part)
    return [part for part in parts if part]


# Leading list markers, markdown emphasis and emoji do not change what a sentence says.
_LEAD: Final = re.compile(
    r"^(?:[\s>*#_\-•\u2013\u2014+(:\u26a0\ufe0f\u274c\u2705\U0001f6ab]|\d{1,3}[.)](?=\s))*"
)


_LEAD_CHARS: Final = frozenset(
    " \t>*#_-•\u2013\u2014+(:\u26a0\ufe0f\u274c\u2705\U0001f6ab0123456789"
)


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer prepared for the rules: its own prose, cut into sentences."""

    sentences: tuple[str, ...]
    code_blocks: int  # and drafts between rules: substance set aside
    length: int


# Analysing more than this many characters changes nothing in practice (a refusal sits at
# the start, or just after the part the answer did help with) and keeps the worst case
# fast; the rest still counts as substance.
ANALYSED_CHARS: Final = 8000


def prepare(text: str) -> Answer:
    # Each pass runs only where its marker appears: most answers have no code, quotes or
    # letters, and this runs on every answer.
    prose = _normalise(text[:ANALYSED_CHARS])
    code_blocks = 0
    if "```" in prose:
        code_blocks = len(_CODE_BLOCK.findall(prose))
        # A placeholder keeps the line after the code from passing for the line after the
        # code's introduction ("Here's the script:").
        prose = _CODE_BLOCK.sub("\n[code]\n", prose)
    if "\n---" in prose:
        prose, drafts = _without_drafts(prose)
        code_blocks += drafts
    if "\n" in prose:
        if prose.startswith(_GREETINGS) or any(f"\n{g}" in prose for g in _GREETINGS):
            prose = _without_letters(prose)
        if ">" in prose:
            prose = _BLOCKQUOTE.sub("", prose)
    if "`" in prose:
        prose = _INLINE_CODE.sub("code", prose)
    if '"' in prose:
        prose = _QUOTED.sub('""', prose)
    if _quote_opens(prose):
        prose = _SINGLE_QUOTED.sub("''", prose)
    sentences = tuple(_split(prose))
    return Answer(sentences, code_blocks, len(text))


def _without_drafts(prose: str) -> tuple[str, int]:
    """A draft set between rules ("---") is the user's text, written for them: it is
    replaced by a placeholder, and counted. Rules pair up in order, in one pass."""
    lines = prose.split("\n")
    rules = [i for i, line in enumerate(lines) if len(line) >= 3 and set(line.strip()) == {"-"}]
    pairs = list(zip(rules[::2], rules[1::2], strict=False))
    if len(rules) % 2 and rules[-1] <= 2:  # "Here's what to send:\n---\n" and the draft to the end
        pairs.append((rules[-1], len(lines) - 1))
    for start, end in reversed(pairs):
        lines[start : end + 1] = ["[draft]"]
    return "\n".join(lines), len(pairs)


def _without_letters(prose: str) -> str:
    # Paired by scanning forward, not by one regex, so that many salutations without a
    # sign-off cost one pass instead of one pass each.
    kept, position = [], 0
    while (hello := _SALUTATION.search(prose, position)) and (
        bye := _SIGN_OFF.search(prose, hello.end())
    ):
        kept.append(prose[position : hello.start()])
        position = bye.end()
    kept.append(prose[position:])
    return "\n".join(kept)
