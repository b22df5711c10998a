"""JSON text to Python values and back: orjson's speed with the standard library's answers.

Response bodies and stream chunks are decoded here (a streamed answer is a JSON object per
token). orjson parses about four times faster than `json`, but answers differently at the
edges: it rejects what `json` accepts (NaN, Infinity, numbers beyond a float's range, lone
surrogates such as `"\\ud800"`) and turns an integer beyond 64 bits into a float. So a text
orjson rejects, or one with an integer literal of 19 digits or more, goes to `json`:
every text decodes to the same value, or fails the same way, as `json.loads` alone
(tests/unit/test_jsontext.py checks it, on any text).

The other way, `dumps` writes what `json.dumps` would read back the same (orjson writes
about ten times faster; the store's writer encodes every run's exchange with it): a value
orjson will not take (an integer beyond 64 bits, a lone surrogate, a key that is not a
string) goes to `json`. Where the two differ on purpose: a NaN or an infinity, which JSON
has no literal for (PostgreSQL's JSON type refuses `json`'s `NaN`), is written as null.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

# every ASCII digit as "0", so that a run of 19 digits is one substring search away
_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG = b"0" * 19
# what may come before a number literal in JSON; "-" is looked past
_BEFORE_NUMBER = frozenset(b"[:, \t\r\n")


def loads(text: str) -> Any:
    """`json.loads(text)`, faster; raises what `json.loads` raises."""
    if not _long_integer(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dumps(value: Any) -> str:
    """Compact JSON text of `value`, no spaces (orjson writes non-ASCII as is)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _dumps(_finite(value))


def _finite(value: Any) -> Any:
    """The value with every NaN and infinity as None, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


# ASCII only: a lone surrogate, escaped, stays valid UTF-8 for the database
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _long_integer(text: str) -> bool:
    """Whether a number literal in `text` may have 19 digits or more (one beyond 64 bits
    among them). A run of digits inside a string (an id) that follows a letter is not."""
    digits = text.encode("utf-8", "surrogatepass").translate(_ZEROS)
    start = digits.find(_LONG)
    while start != -1:
        before = start - 1
        if before >= 0 and digits[before] == ord("-"):
            before -= 1
        if before < 0 or digits[before] in _BEFORE_NUMBER:
            return True
        end = start + len(_LONG)
        while end < len(digits) and digits[end] == ord("0"):
            end += 1
        start = digits.find(_LONG, end)
    return False
