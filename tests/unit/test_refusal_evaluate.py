"""The refusal evaluation (bench/refusal/evaluate.py): the frozen splits stay frozen, and
the figures are counted right."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bench.refusal import evaluate
from bench.refusal.evaluate import FrozenSplitChanged, Item, load_split, score


def test_the_committed_frozen_splits_load() -> None:
    for split in evaluate.FROZEN_SPLITS:
        items = load_split(split)
        assert items and len({i.id for i in items}) == len(items)
        assert all(i.kind != "garbled" for i in items)


@pytest.fixture
def corpus_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "corpus"
    shutil.copytree(evaluate.CORPUS, copy)
    monkeypatch.setattr(evaluate, "CORPUS", copy)
    return copy


def test_a_changed_test_file_is_refused(corpus_copy: Path) -> None:
    victim = sorted((corpus_copy / "test").glob("*.jsonl"))[0]
    victim.write_text(victim.read_text("utf-8").replace("compliance", "full_refusal", 1))
    with pytest.raises(FrozenSplitChanged, match=re.escape(victim.name)):
        load_split("test")
    assert evaluate.main(["--no-write"]) == 2


def test_an_added_or_removed_test_file_is_refused(corpus_copy: Path) -> None:
    (corpus_copy / "test" / "extra.jsonl").write_text("")
    with pytest.raises(FrozenSplitChanged, match=r"extra\.jsonl"):
        load_split("test")
    (corpus_copy / "test" / "extra.jsonl").unlink()
    sorted((corpus_copy / "heldout").glob("*.jsonl"))[0].unlink()
    with pytest.raises(FrozenSplitChanged):
        load_split("heldout")


def item(refused: bool) -> Item:
    label = "full_refusal" if refused else "compliance"
    return Item("x", "text", refused, label, "plain", "en", "short", "hand")


def test_score_counts_agreement_precision_and_recall() -> None:
    # 3 refusals (2 caught), 2 answers (1 wrongly flagged)
    pairs = [
        (item(True), True),
        (item(True), True),
        (item(True), False),
        (item(False), True),
        (item(False), False),
    ]
    assert score(pairs) == {
        "n": 5,
        "agreement": 0.6,
        "precision": round(2 / 3, 4),
        "recall": round(2 / 3, 4),
        "false_positives": 1,
        "false_negatives": 1,
    }
