""" "Did you mean ...?" for config errors: the keys a pydantic model accepts at a YAML path,
and the closest of some names to a mistyped one. Pure."""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag

# below this similarity a "suggestion" is a guess that misleads more than it helps
CUTOFF = 0.75


def closest(word: str, names: Iterable[str]) -> str | None:
    """The name `word` most likely meant: the same but for case, `_` and `-` (`baseURL`,
    `base-url`), else the most similar one above the cutoff."""
    names = [name for name in names if name != word]
    folded = _fold(word)
    for name in names:
        if _fold(name) == folded:
            return name
    near = difflib.get_close_matches(word.lower(), names, n=1, cutoff=CUTOFF)
    return near[0] if near else None


def _fold(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def keys_at(model: type[BaseModel], path: Sequence[int | str]) -> list[str]:
    """The keys (aliases where set) of the mapping at `path` below `model`, as pydantic
    locates it: list indexes, and the tag of a tagged union's variant (`contains`)."""
    kind: Any = model
    for element in path:
        kind = _step(kind, element)
        if kind is None:
            return []
    return [
        field.alias or name
        for member in _members(kind)
        if isinstance(member, type) and issubclass(member, BaseModel)
        for name, field in member.model_fields.items()
    ]


def _step(kind: Any, element: int | str) -> Any:
    """The type found under `element` of a value of type `kind`, or None."""
    kind = _bare(kind)
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        members = get_args(kind)
        tagged = [_bare(m) for m in members if _tag(m) == element]
        if tagged:  # the variant's tag, as pydantic puts it in the location
            return tagged[0]
        found = [step for m in members if (step := _step(m, element)) is not None]
        return found[0] if found else None
    if origin is list and isinstance(element, int):
        return get_args(kind)[0]
    if origin is dict and isinstance(element, str):
        return get_args(kind)[1]
    if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(element, str):
        for name, field in kind.model_fields.items():
            if element in (name, field.alias):
                return field.annotation
    return None


def _members(kind: Any) -> tuple[Any, ...]:
    kind = _bare(kind)
    if get_origin(kind) in (Union, types.UnionType):
        return tuple(_bare(member) for member in get_args(kind))
    return (kind,)


def _bare(kind: Any) -> Any:
    """`kind` without its Annotated metadata."""
    while get_origin(kind) is Annotated:
        kind = get_args(kind)[0]
    return kind


def _tag(kind: Any) -> str | None:
    if get_origin(kind) is Annotated:
        for meta in get_args(kind)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    return None
