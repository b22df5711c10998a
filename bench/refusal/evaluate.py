"""How far the refusal classifier agrees with people: `detect_refusal` beside the XSTest
prefix baseline on the labelled corpus (corpus/dev, corpus/test), per language, kind,
style and source. Run: `make eval-refusal` or `python -m bench.refusal.evaluate`.

The test split (corpus/test/*.jsonl) was written and labelled by people who had not read
the rules, and committed with its sha256 (corpus/test.sha256) before the rules were
changed; this script refuses to score a test file whose hash differs, and never prints a
test item, only figures. Tune on the dev split: `--errors dev` lists what it gets wrong.
`answers.jsonl` is the older set written by the rules' own authors, shown apart: its
figure is optimistic by construction.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.refusal import detect_refusal, prefix_refusal

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
# Frozen: written and labelled by people who had not read the rules, hashed, never tuned
# on. "test" was committed before the rules changed; "heldout" (real completions of a
# model served here) after they had begun to, unread by the rules' author.
FROZEN_SPLITS = ("test", "heldout")
AUTHORED = HERE / "answers.jsonl"
RESULTS = HERE / "results.json"
DOC = HERE.parents[1] / "docs" / "REFUSAL.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
LABELS = ("full_refusal", "partial_refusal", "compliance")


class FrozenSplitChanged(Exception):
    """The test split is not byte for byte what was frozen."""


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    refused: bool  # full or partial refusal
    label: str
    kind: str
    language: str
    style: str
    source: str


def load_file(path: Path) -> list[Item]:
    items = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if raw["kind"] == "garbled":  # neither declines nor attempts: not scored (GUIDE.md)
            continue
        if raw["label"] not in LABELS:
            raise ValueError(f"{path}:{number}: unknown label {raw['label']!r}")
        items.append(
            Item(
                id=raw["id"],
                text=raw["text"],
                refused=raw["label"] != "compliance",
                label=raw["label"],
                kind=raw["kind"],
                language=raw["language"],
                style=raw["style"],
                source=raw["source"].split(":")[0],
            )
        )
    return items


def frozen_hashes(split: str) -> dict[str, str]:
    hashes = {}
    for line in (CORPUS / f"{split}.sha256").read_text("utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            hashes[name.strip()] = digest
    return hashes


def load_split(split: str) -> list[Item]:
    """Every item of a split; a frozen split only if every file is as frozen."""
    files = sorted((CORPUS / split).glob("*.jsonl"))
    if split in FROZEN_SPLITS:
        expected = frozen_hashes(split)
        found = {f"{split}/{f.name}": hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        if found != expected:
            changed = sorted(
                name
                for name in expected.keys() | found.keys()
                if expected.get(name) != found.get(name)
            )
            raise FrozenSplitChanged(
                f"the frozen {split} split differs from {split}.sha256: {', '.join(changed)}"
            )
    return [item for f in files for item in load_file(f)]


def load_authored() -> list[Item]:
    items = []
    for line in AUTHORED.read_text("utf-8").splitlines():
        raw = json.loads(line)
        label = "full_refusal" if raw["refused"] else "compliance"
        items.append(
            Item(
                raw["id"], raw["text"], raw["refused"], label, raw["category"], "en", "long", "hand"
            )
        )
    return items


DETECTORS: dict[str, Callable[[str], bool]] = {
    "detect_refusal": lambda text: detect_refusal(text).refused,
    "prefix_refusal": prefix_refusal,
}


def score(items: Iterable[tuple[Item, bool]]) -> dict[str, Any]:
    """Agreement, precision and recall of `refused`, with the confusion counts."""
    tp = fp = fn = tn = 0
    for item, predicted in items:
        tp += predicted and item.refused
        fp += predicted and not item.refused
        fn += not predicted and item.refused
        tn += not predicted and not item.refused
    n = tp + fp + fn + tn
    return {
        "n": n,
        "agreement": round((tp + tn) / n, 4) if n else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "false_positives": fp,
        "false_negatives": fn,
    }


def breakdown(items: list[Item], predictions: dict[str, list[bool]]) -> dict[str, Any]:
    """Scores overall and by language, kind, style and source, for every detector."""
    axes: dict[str, Callable[[Item], str]] = {
        "all": lambda _: "all",
        "language": lambda i: i.language,
        "kind": lambda i: f"{'refusal' if i.refused else 'compliance'}/{i.kind}",
        "style": lambda i: i.style,
        "source": lambda i: i.source,
        "label": lambda i: i.label,
    }
    out: dict[str, Any] = {}
    for axis, key in axes.items():
        groups: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault(key(item), []).append(index)
        out[axis] = {
            group: {
                name: score((items[i], predicted[i]) for i in indices)
                for name, predicted in predictions.items()
            }
            for group, indices in sorted(groups.items())
        }
    return out


def short_ordinary_flagged(items: list[Item], predicted: list[bool]) -> dict[str, int]:
    """The short-answer target: how many ordinary short answers were called refusals."""
    ordinary = [
        p for i, p in zip(items, predicted, strict=True) if i.style == "short" and not i.refused
    ]
    return {"ordinary_short_answers": len(ordinary), "flagged": sum(ordinary)}


def answers_per_second(texts: list[str], seconds: float = 2.0) -> dict[str, float]:
    """Throughput of `detect_refusal` on one core over answers of about 500 characters."""
    sized = [t[:500] for t in texts if len(t) >= 400] or texts
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for text in sized:
            detect_refusal(text)
        done += len(sized)
    return {
        "answers_per_second": round(done / elapsed),
        "mean_chars": round(sum(map(len, sized)) / len(sized)),
    }


def evaluate(items: list[Item]) -> dict[str, Any]:
    predictions = {name: [predict(i.text) for i in items] for name, predict in DETECTORS.items()}
    return {
        "scores": breakdown(items, predictions),
        "short_ordinary": {
            name: short_ordinary_flagged(items, p) for name, p in predictions.items()
        },
    }


def table(results: dict[str, Any], axis: str) -> str:
    names = list(DETECTORS)
    head = " | ".join(f"`{n}` agree | P | R" for n in names)
    lines = [f"| {axis} | n | {head} |", "|---|---:|" + "---:|---:|---:|" * len(names)]
    for group, by_name in results["scores"][axis].items():
        cells = []
        for name in names:
            s = by_name[name]
            cells.append(" | ".join(_pct(s[k]) for k in ("agreement", "precision", "recall")))
        lines.append(f"| {group} | {by_name[names[0]]['n']} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def report(split: str, results: dict[str, Any]) -> str:
    parts = [f"## {split}"]
    for axis in ("all", "label", "language", "style", "source", "kind"):
        parts.append(table(results, axis))
    flagged = results["short_ordinary"]["detect_refusal"]
    parts.append(
        f"Ordinary short answers called refusals by `detect_refusal`: {flagged['flagged']} "
        f"of {flagged['ordinary_short_answers']}."
    )
    return "\n\n".join(parts)


def print_errors(items: list[Item]) -> None:
    for item in items:
        verdict = detect_refusal(item.text)
        if verdict.refused != item.refused:
            print(f"{item.id} [{item.language} {item.label}/{item.kind}] got {verdict}")
            print("   ", item.text[:400].replace("\n", " | "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--errors", choices=("dev", "authored"), help="list what the classifier gets wrong"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write results.json")
    args = parser.parse_args(argv)
    if args.errors:
        print_errors(load_split("dev") if args.errors == "dev" else load_authored())
        return 0
    try:
        splits = {split: load_split(split) for split in (*FROZEN_SPLITS, "dev")}
    except FrozenSplitChanged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    splits["authored"] = load_authored()
    results = {split: evaluate(items) for split, items in splits.items()}
    texts = [i.text for i in splits["dev"] + splits["test"]]
    speed = answers_per_second(texts)
    print("\n\n".join(report(split, r) for split, r in results.items()))
    print(
        f"\n`detect_refusal` throughput: {speed['answers_per_second']:,} answers/s on one core "
        f"(answers of {speed['mean_chars']} characters on average)"
    )
    if not args.no_write:
        RESULTS.write_text(
            json.dumps({"splits": results, "speed": speed}, indent=1) + "\n", encoding="utf-8"
        )
        write_doc(results)
    return 0


def summary(results: dict[str, Any]) -> str:
    """The headline table of docs/REFUSAL.md: every split, both detectors."""
    lines = [
        "| split | n | `detect_refusal` agreement | precision | recall | ordinary short answers "
        "flagged | prefix baseline agreement |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for split, r in results.items():
        ours, base = (
            r["scores"]["all"]["all"]["detect_refusal"],
            r["scores"]["all"]["all"]["prefix_refusal"],
        )
        short = r["short_ordinary"]["detect_refusal"]
        lines.append(
            f"| {split} | {ours['n']} | **{_pct(ours['agreement'])}** | "
            f"{_pct(ours['precision'])} | {_pct(ours['recall'])} | "
            f"{short['flagged']} of {short['ordinary_short_answers']} | "
            f"{_pct(base['agreement'])} |"
        )
    return "\n".join(lines)


def write_doc(results: dict[str, Any]) -> None:
    """Put the figures between the markers of docs/REFUSAL.md, so the page never drifts
    from the last run."""
    text = DOC.read_text("utf-8")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    body = [
        "Written by `make eval-refusal` from its last run.",
        summary(results),
        "### Test split, by language, kind and style",
        *(table(results["test"], axis) for axis in ("language", "kind", "style", "label")),
    ]
    DOC.write_text(f"{before}{START}\n" + "\n\n".join(body) + f"\n{END}{after}", "utf-8")


if __name__ == "__main__":
    sys.exit(main())
