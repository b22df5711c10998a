"""yamlsource: libyaml's parser, where it composes the config, builds the tree the Python
parser builds, and the Python parser still words the errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import yamlsource

ROOT = Path(__file__).resolve().parents[2]
FILES = [*ROOT.glob("examples/*.yaml"), *ROOT.glob("tests/unit/testdata/**/*.yaml")]
BROKEN = {"empty-file.yaml", "yaml-syntax-error.yaml"}  # no tree to compare
CONFIGS = sorted((p for p in FILES if p.name not in BROKEN), key=str)


def tree(node: yaml.Node | None) -> Any:
    """Everything the config reads from a node: kind, tag, value, where it starts."""
    if node is None:
        return None
    if isinstance(node, yaml.ScalarNode):
        value: Any = node.value
    elif isinstance(node, yaml.MappingNode):
        value = [(tree(k), tree(v)) for k, v in node.value]
    else:
        value = [tree(item) for item in node.value]
    mark = node.start_mark
    return type(node).__name__, node.tag, value, mark.line, mark.column


def test_pyyaml_here_has_libyaml() -> None:
    assert yamlsource._FAST_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_tree_is_the_python_parsers(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected = tree(yaml.compose(text, Loader=yaml.SafeLoader))
    assert tree(yamlsource._compose(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1, 2", "x:1: YAML syntax error: expected ',' or ']', but got '<stream end>'"),
        ("a: b: c", "x:1: YAML syntax error: mapping values are not allowed here"),
        ("a: \x07", "x: YAML error: unacceptable character #x0007: special characters are not"),
    ],
)
def test_errors_are_worded_by_the_python_parser(text: str, message: str) -> None:
    with pytest.raises(yamlsource.SourceError) as caught:
        yamlsource.load(text, "x")
    assert caught.value.messages[0].startswith(message)
