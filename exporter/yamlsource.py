"""YAML loading that remembers where every value came from.

The node tree from `yaml.compose` keeps line numbers; we interpolate `${VAR}` on it,
construct plain data, and keep the tree to turn a validation error's location
(`("targets", 0, "protocol")`) back into a line of the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it: it builds the same node tree, marks
# included, several times faster than the Python parser, which words the syntax errors.
_FAST_LOADER: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SourceError(Exception):
    """Errors found while reading the file, each already formatted with its line."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class Source:
    name: str
    data: Any
    root: yaml.Node | None

    def locate(self, loc: Sequence[int | str]) -> tuple[str, int | None]:
        """The dotted path and the 1-based line of a pydantic error location.

        A union tag (`checks.0.contains.ignorecase`, where `contains` names the variant)
        is recognised by lookahead: the next element lives beside it, not under it.
        Elements the tree does not have (a missing key's name) stay in the path but do
        not move the line.
        """
        node = self.root
        line = None if node is None else node.start_mark.line + 1
        parts: list[str] = []
        for i, element in enumerate(loc):
            if element == "[key]":
                continue  # pydantic's mark of an error in a mapping's key, named just before
            found = _child(node, element)
            following = loc[i + 1] if i + 1 < len(loc) else None
            if (
                found is not None
                and following is not None
                and _child(found[1], following) is None
                and _child(node, following) is not None
            ):
                continue  # a tag: the next element is a sibling key
            parts.append(f"[{element}]" if isinstance(element, int) else f".{element}")
            if found is not None:
                marker, node = found
                line = marker.start_mark.line + 1
        return "".join(parts).lstrip("."), line

    def where(self, loc: Sequence[int | str]) -> str:
        path, line = self.locate(loc)
        prefix = self.name if line is None else f"{self.name}:{line}"
        return f"{prefix}: {path}" if path else prefix


def _child(node: yaml.Node | None, element: int | str) -> tuple[yaml.Node, yaml.Node] | None:
    """The node under `element` and the node whose line an error there is shown on:
    a mapping value's key (where a reader looks), a sequence item itself."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(element):
                return key, value
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(element, int)
        and 0 <= element < len(node.value)
    ):
        item: yaml.Node = node.value[element]
        return item, item
    return None


def load(text: str, name: str, environ: Mapping[str, str] | None = None) -> Source:
    """Parse YAML text, interpolate `${VAR}` / `${VAR:-default}` (`$$` is a literal `$`)."""
    env = os.environ if environ is None else environ
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark else name
        raise SourceError([f"{where}: YAML syntax error: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise SourceError([f"{name}: YAML error: {exc}"]) from None
    if root is None:
        return Source(name, {}, None)
    errors: list[str] = []
    _prepare(root, env, name, errors)
    if errors:
        raise SourceError(errors)
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{name}:{mark.line + 1}" if mark else name
        raise SourceError([f"{where}: YAML error: {exc.problem}"]) from None
    finally:
        loader.dispose()
    return Source(name, data, root)


def _compose(text: str) -> yaml.Node | None:
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except (yaml.YAMLError, ValueError):  # ValueError: text libyaml cannot encode
            pass  # the Python parser says what is wrong, in the words it always has
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _prepare(node: yaml.Node, env: Mapping[str, str], name: str, errors: list[str]) -> None:
    """Interpolate environment variables and reject duplicate keys, in place."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "tag:yaml.org,2002:str" and "$" in node.value:
            node.value = _interpolate(node.value, env, f"{name}:{line}", errors)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _prepare(item, env, name, errors)
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    errors.append(f"{name}:{key.start_mark.line + 1}: duplicate key {key.value!r}")
                seen.add(key.value)
            _prepare(value, env, name, errors)


def _interpolate(value: str, env: Mapping[str, str], where: str, errors: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        var, default = match.group(1), match.group(2)
        value = env.get(var)
        if default is not None and not value:
            return default  # as in the shell, `:-` also replaces an empty value
        if value is not None:
            return value
        errors.append(f"{where}: environment variable {var} is not set")
        return ""

    return _VAR.sub(replace, value)
