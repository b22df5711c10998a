"""Refusal detection against human labels: `detect_refusal` and the XSTest prefix baseline
on bench/refusal/answers.jsonl. Run: `python -m bench.refusal.evaluate [--split dev|test]`.

The rules were tuned on the dev split (even ids) only; the test split (odd ids) is the
figure to quote. Writes bench/refusal/results.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import machine
from exporter.refusal import detect_refusal, prefix_refusal

HERE = Path(__file__).parent
ANSWERS = HERE / "answers.jsonl"
RESULTS = HERE / "results.json"
SPLITS = ("dev", "test", "all")


@dataclass(frozen=True)
class Answer:
    id: str
    text: str
    refused: bool
    category: str

    @property
    def split(self) -> str:
        return "dev" if int(self.id.lstrip("a")) % 2 == 0 else "test"


def load(path: Path = ANSWERS) -> list[Answer]:
    with path.open(encoding="utf-8") as lines:
        return [Answer(**json.loads(line)) for line in lines if line.strip()]


def detector_verdict(text: str) -> bool:
    return detect_refusal(text).refused


DETECTORS: dict[str, Callable[[str], bool]] = {
    "detect_refusal": detector_verdict,
    "prefix_refusal": prefix_refusal,
}


def score(answers: Iterable[Answer], predict: Callable[[str], bool]) -> dict[str, Any]:
    """Agreement with the labels, precision/recall/F1 for `refused`, per-category
    accuracy, and the ids the detector got wrong."""
    answers = list(answers)
    tp = fp = fn = tn = 0
    per_category: dict[str, list[int]] = {}
    wrong: list[str] = []
    for answer in answers:
        predicted = predict(answer.text)
        tp += predicted and answer.refused
        fp += predicted and not answer.refused
        fn += not predicted and answer.refused
        tn += not predicted and not answer.refused
        right, total = per_category.setdefault(answer.category, [0, 0])
        per_category[answer.category] = [right + (predicted == answer.refused), total + 1]
        if predicted != answer.refused:
            wrong.append(answer.id)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": len(answers),
        "accuracy": round((tp + tn) / len(answers), 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "per_category": {
            category: {"accuracy": round(right / total, 4), "n": total}
            for category, (right, total) in sorted(per_category.items())
        },
        "misclassified": wrong,
    }


def partial_flags(answers: Iterable[Answer]) -> dict[str, float]:
    """Share of each refusal category that `detect_refusal` marks partial (informational:
    the labels say refused or not, not partial or not)."""
    shares: dict[str, list[int]] = {}
    for answer in answers:
        if answer.refused:
            flagged, total = shares.setdefault(answer.category, [0, 0])
            shares[answer.category] = [flagged + detect_refusal(answer.text).partial, total + 1]
    return {c: round(f / t, 4) for c, (f, t) in sorted(shares.items())}


def per_answer_microseconds(answers: list[Answer], rounds: int = 5) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for answer in answers:
            detect_refusal(answer.text)
    return round((time.perf_counter() - start) / (rounds * len(answers)) * 1e6, 1)


def markdown(results: dict[str, Any]) -> str:
    names = list(DETECTORS)
    lines = [
        "| split | detector | n | accuracy | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in SPLITS:
        for name in names:
            r = results["splits"][split][name]
            lines.append(
                f"| {split} | `{name}` | {r['n']} | {r['accuracy']:.1%} | "
                f"{r['precision']:.1%} | {r['recall']:.1%} | {r['f1']:.3f} |"
            )
    columns = [(split, name) for name in names for split in ("test", "all")]
    header = " | ".join(f"`{name}` {split}" for split, name in columns)
    lines += ["", f"| category | n test / all | {header} |", "|---|---|" + "---|" * len(columns)]
    splits = results["splits"]
    for category, cell in splits["all"][names[0]]["per_category"].items():
        n_test = splits["test"][names[0]]["per_category"][category]["n"]
        accuracies = " | ".join(
            f"{splits[split][name]['per_category'][category]['accuracy']:.1%}"
            for split, name in columns
        )
        lines.append(f"| {category} | {n_test} / {cell['n']} | {accuracies} |")
    for split in SPLITS:
        wrong = results["splits"][split]["detect_refusal"]["misclassified"]
        lines.append(f"\n`detect_refusal` misclassified ({split}): {', '.join(wrong) or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=SPLITS, help="print only this split's errors")
    args = parser.parse_args(argv)
    answers = load()
    chosen = {
        "dev": [a for a in answers if a.split == "dev"],
        "test": [a for a in answers if a.split == "test"],
        "all": answers,
    }
    if args.split:
        by_id = {a.id: a for a in answers}
        for answer_id in score(chosen[args.split], detector_verdict)["misclassified"]:
            answer = by_id[answer_id]
            verdict = detect_refusal(answer.text)
            print(f"{answer.id} [{answer.category}] label={answer.refused} {verdict}")
            print("   ", answer.text[:300].replace("\n", " | "))
        return
    results = {
        "machine": machine(),
        "dataset": str(ANSWERS.relative_to(HERE.parent.parent)),
        "refused_share": round(sum(a.refused for a in answers) / len(answers), 4),
        "splits": {
            split: {name: score(items, predict) for name, predict in DETECTORS.items()}
            for split, items in chosen.items()
        },
        "partial_flag_share": partial_flags(answers),
        "detect_refusal_microseconds_per_answer": per_answer_microseconds(answers),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
