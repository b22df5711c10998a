"""A comparison as a terminal table and as JSON (the HTML page is `exporter.compare.page`).

Units as shown: rates in percent and their changes in percentage points (pp); medians in
milliseconds (times), tokens per second or tokens, their changes in percent of the
baseline's median.
"""

from __future__ import annotations

import json
import math
from typing import Any

from exporter.compare.analyse import Comparison, Row, Verdict

SCHEMA = 1  # of the JSON document; bumped when a field changes meaning

MARKS = {
    Verdict.REGRESSION: "REGRESSION",
    Verdict.IMPROVEMENT: "improvement",
    Verdict.NO_DIFFERENCE: "no difference",
    Verdict.CANNOT_TELL: "cannot tell",
    Verdict.CHANGED: "changed",
}


def value(row: Row, x: float | None) -> str:
    """A rate or a median as shown."""
    if x is None or math.isnan(x):
        return "-"
    if row.diff.kind == "rate":
        return f"{x * 100:.1f}%"
    if row.metric.endswith("_seconds"):
        return f"{x * 1000:.0f}ms"
    return f"{x:.1f}"


def change(row: Row, x: float | None) -> str:
    """An effect (or an end of its interval) as shown: pp for rates, % for medians."""
    if x is None or math.isnan(x):
        return "-"
    if math.isinf(x):
        return "+inf%" if x > 0 else "-inf%"
    if row.diff.kind == "rate":
        return f"{x * 100:+.1f}pp"
    return f"{x * 100:+.0f}%"


def p_text(p: float | None) -> str:
    return "-" if p is None else (f"{p:.2g}" if p >= 0.001 else "<0.001")


def table(comparison: Comparison) -> str:
    """A fixed-width table per scope, then the verdict and what it rests on."""
    c = comparison
    out = [
        f"compare {c.baseline_target} ({c.baseline_model}) -> "
        f"{c.candidate_target} ({c.candidate_model}): {c.runs} runs per canary and target",
    ]
    header = ["METRIC", "BASELINE", "CANDIDATE", "CHANGE", "95% CI", "P(HOLM)", "N", "VERDICT"]
    for scope in c.scopes:
        rows = [header]
        for row in scope.rows:
            d = row.diff
            interval = (
                "-" if d.ci_low is None else f"{change(row, d.ci_low)}..{change(row, d.ci_high)}"
            )
            rows.append(
                [
                    row.metric,
                    value(row, d.baseline),
                    value(row, d.candidate),
                    change(row, d.effect),
                    interval,
                    p_text(row.p_adjusted),
                    f"{d.n_baseline}/{d.n_candidate}",
                    MARKS[row.verdict],
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        out.append("")
        out.append(f"{scope.name}:")
        out += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        errors = _errors(scope.baseline.error_classes, scope.candidate.error_classes)
        if errors:
            out.append(f"  error classes (baseline/candidate): {errors}")
    out.append("")
    out += summary(c)
    return "\n".join(line.rstrip() for line in out)


def _errors(base: dict[str, int], cand: dict[str, int]) -> str:
    names = sorted(set(base) | set(cand))
    return ", ".join(f"{n} {base.get(n, 0)}/{cand.get(n, 0)}" for n in names)


def summary(c: Comparison) -> list[str]:
    """The verdict line and the metrics it rests on."""
    lines = [f"verdict: {MARKS[c.verdict]}"]
    for row in c.regressions:
        limit = row.threshold or 0.0
        limit = limit if row.higher_is_worse else -limit
        lines.append(
            f"  regression: {row.scope} {row.metric} {change(row, row.diff.effect)} "
            f"(threshold {change(row, limit)}, p {p_text(row.p_adjusted)})"
        )
    if c.inconclusive:
        scopes = sorted({r.scope for r in c.inconclusive})
        lines.append(
            f"  cannot tell: {len(c.inconclusive)} metrics ({', '.join(scopes)}): too few "
            "runs, or a change beyond its threshold that is not significant; more --runs "
            "(see --dry-run)"
        )
    for target, count in sorted(c.skipped.items()):
        lines.append(f"  skipped: {count} runs of {target} (its token budget was spent)")
    test = "SciPy, exact without ties" if c.exact else "exporter.stats, normal approximation"
    lines.append(
        f"  tests: Fisher's exact (rates), Mann-Whitney U ({test}) (distributions); "
        f"Holm-corrected over {len(c.rows)} tests, alpha {c.alpha:g}"
    )
    return lines


def _number(x: float | None) -> float | None:
    """JSON has no NaN or infinity: those are null."""
    return None if x is None or not math.isfinite(x) else x


def document(comparison: Comparison, exit_code: int, comparison_id: str = "") -> dict[str, Any]:
    """The JSON form (`--format json`)."""
    c = comparison

    def row_json(row: Row) -> dict[str, Any]:
        d = row.diff
        return {
            "metric": row.metric,
            "kind": d.kind,
            "baseline": _number(d.baseline),
            "candidate": _number(d.candidate),
            "effect": _number(d.effect),
            "effect_unit": "absolute" if d.kind == "rate" else "relative",
            "ci_low": _number(d.ci_low),
            "ci_high": _number(d.ci_high),
            "p_value": _number(d.p_value),
            "p_adjusted": _number(row.p_adjusted),
            "test": row.test,
            "n_baseline": d.n_baseline,
            "n_candidate": d.n_candidate,
            "enough": d.enough,
            "threshold": row.threshold,
            "higher_is_worse": row.higher_is_worse,
            "verdict": str(row.verdict),
        }

    def side_json(side: Any) -> dict[str, Any]:
        return {
            "runs": side.runs,
            "outcomes": side.outcomes,
            "error_classes": side.error_classes,
            "percentiles": {
                name: dict(zip(("p50", "p90", "p99"), map(_number, values), strict=True))
                for name, values in side.percentiles.items()
            },
            "example_answer": side.example,
        }

    return {
        "schema": SCHEMA,
        "id": comparison_id or None,
        "baseline": {"target": c.baseline_target, "model": c.baseline_model},
        "candidate": {"target": c.candidate_target, "model": c.candidate_model},
        "runs": c.runs,
        "canaries": list(c.canaries),
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "alpha": c.alpha,
        "mann_whitney": "scipy" if c.exact else "exporter.stats",
        "verdict": str(c.verdict),
        "exit_code": exit_code,
        "regressions": [f"{r.scope}/{r.metric}" for r in c.regressions],
        "inconclusive": [f"{r.scope}/{r.metric}" for r in c.inconclusive],
        "skipped": c.skipped,
        "scopes": [
            {
                "name": scope.name,
                "baseline": side_json(scope.baseline),
                "candidate": side_json(scope.candidate),
                "answers_differ": scope.answers_differ,
                "metrics": [row_json(r) for r in scope.rows],
            }
            for scope in c.scopes
        ],
    }


def json_text(comparison: Comparison, exit_code: int, comparison_id: str = "") -> str:
    return json.dumps(document(comparison, exit_code, comparison_id), indent=2, allow_nan=False)
