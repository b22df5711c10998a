"""Which language an answer is written in, as far as the refusal rules need to know: the
ten they have phrasing for (en es fr de pt it ru ja ko zh), from the script and, for
Latin-script text, the commonest short words and a few letters only one of them uses.

Cheap on purpose (it runs on every answer): it reads the first 600 characters, and
answers "" when they give nothing to go on.
"""

from __future__ import annotations

import re
from typing import Final

LANGUAGES: Final = ("en", "es", "fr", "de", "pt", "it", "ru", "ja", "ko", "zh")

_SAMPLE: Final = 600
# Function words are so common that the first 300 characters hold plenty of them.
_WORDS_SAMPLE: Final = 300

_HANGUL: Final = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_KANA: Final = re.compile(r"[\u3040-\u30ff]")
_HAN: Final = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
_CYRILLIC: Final = re.compile(r"[\u0400-\u04ff]")
_NON_LATIN: Final = re.compile(r"[\u0400-\uffff]")  # beyond Latin, Greek and IPA
_LATIN: Final = re.compile(r"[a-zA-Z\u00c0-\u024f]")

# The commonest function words of each language; a word shared by several counts for each.
_COMMON: Final[dict[str, str]] = {
    "en": "the and is are you your that this with for not can have it's i'm don't what "
    "which would there their of to be",
    "es": "el la los las que de y en un una es por para con no lo puedo pero como más "
    "está este esta usted tu su al del muy",
    "fr": "le la les des est et un une je vous pas que qui pour dans ne ce cette avec sur "
    "au aux du mais peux suis votre c'est n'est",
    "de": "der die das und ist nicht ich sie ein eine zu mit den dem für auf kann es "
    "auch sich bitte aber oder wie leider",
    "pt": "o a os as que de e em um uma é não para com por mais você posso mas como isso "
    "do da dos das seu sua ao está",
    "it": "il lo la gli le che di e è un una non per con sono posso ma come questo questa "
    "del della dei ti mi si anche più ho hai sei nel nella alla degli perché però cosa puoi",
}
_WORDS: Final[dict[str, frozenset[str]]] = {
    language: frozenset(words.split()) for language, words in _COMMON.items()
}

# Letters that single a language out among the Latin-script ones.
_LETTERS: Final[dict[str, str]] = {
    "es": "ñ¿¡",
    "fr": "œùûëÿç",
    "de": "ßäöü",
    "pt": "ãõ",
    "it": "ìò",
}


_DIACRITICS: Final = re.compile("[áàâãäéèêëíìîïóòôõöúùûüñçœß]")
_ACCENTED: Final = re.compile("[" + "".join(_LETTERS.values()) + "]")


def _count(script: re.Pattern[str], text: str) -> int:
    return len(text) - len(script.sub("", text))


def language_of(text: str) -> str:
    """The ISO 639-1 code of the answer's language among LANGUAGES, or "" unknown."""
    sample = text[:_SAMPLE]
    if not sample.isascii() and _NON_LATIN.search(sample):
        # Scripts first: a Korean or Japanese answer quotes English terms, a Chinese one
        # numbers and product names.
        if _HANGUL.search(sample):
            return "ko"
        if _KANA.search(sample):
            return "ja"
        han, cyrillic = _HAN.search(sample), _CYRILLIC.search(sample)
        if han or cyrillic:
            # the opening decides: a Chinese answer may go on to draft an English email
            opening = sample[:_WORDS_SAMPLE]
            latin = _count(_LATIN, opening)
            if han and _count(_HAN, opening) * 2 >= latin:
                return "zh"
            if cyrillic and _count(_CYRILLIC, opening) * 2 >= latin:
                return "ru"
    lowered = sample[:_WORDS_SAMPLE].lower()
    if (
        " the " in lowered
        and (" and " in lowered or " you" in lowered or " is " in lowered)
        and not _DIACRITICS.search(lowered)
    ):
        return "en"  # no other language here writes these words, and without accents
    # Set intersections run in C: a word with punctuation attached is simply not counted.
    words = set(lowered.split())
    scores = {language: len(words & common) for language, common in _WORDS.items()}
    if not lowered.isascii() and _ACCENTED.search(lowered):
        for language, letters in _LETTERS.items():
            scores[language] += 2 * sum(lowered.count(letter) for letter in letters)
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] > 0 else ""
