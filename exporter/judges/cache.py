"""A bounded cache of judge verdicts, least recently used out first.

Keyed by (judge, model, prompt-template version, rubric, conversation hash): a judge asked
the same question about the same conversation answers from here, so a deterministic
canary with an unchanged answer is not judged again. Only verdicts are kept, never errors.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Generic, TypeVar

Key = tuple[str, str, str, str, str]
V = TypeVar("V")


def conversation_hash(conversation: Sequence[tuple[str, str]]) -> str:
    """A hash of every (role, text) of the conversation, exactly as sent."""
    return hashlib.sha256(json.dumps(list(conversation)).encode()).hexdigest()


class Bounded(Generic[V]):
    """At most `size` entries (0: keeps nothing)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Key, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Key) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Key, value: V) -> None:
        if self.size <= 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def resize(self, size: int) -> None:
        self.size = size
        while len(self._items) > max(size, 0):
            self._items.popitem(last=False)
