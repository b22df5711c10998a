"""A comparison as one self-contained HTML page (`--format html`): the web pages' style
sheet inline, each distribution of the two targets side by side as inline SVG, and the
example answers where they differ. No script, nothing loaded from elsewhere; every text
from a target is escaped."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from html import escape

from exporter.compare.analyse import OVERALL, Comparison, Row, Scope, Verdict
from exporter.compare.render import MARKS, change, p_text, summary, value
from exporter.web.assets import CSS

EXTRA_CSS = """
.verdict { font-size: 15px; font-weight: 700; }
.badge.regression { color: var(--err); background: var(--err-bg); border-color: #f1b4b4; }
.badge.improvement { color: var(--ok); background: var(--ok-bg); border-color: #b7e0c3; }
.badge.no-difference { color: var(--idle); background: var(--idle-bg); border-color: #d5dbe2; }
.badge.cannot-tell, .badge.changed { color: var(--warn); background: var(--warn-bg);
  border-color: #f2cf99; }
.dists { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr));
  gap: 10px 16px; margin-top: 10px; }
svg.dist { display: block; width: 100%; height: auto; background: #fff;
  border: 1px solid var(--line); border-radius: 6px; }
svg.dist text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg.dist .base { fill: #7b8da3; }
svg.dist .cand { fill: var(--accent); }
svg.dist line.median { stroke: var(--ink); stroke-width: 2; }
svg.dist line.axis { stroke: var(--line); }
.answers { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; margin-top: 10px; }
"""

WIDTH, HEIGHT, LEFT, RIGHT = 420, 96, 78, 14


def html(comparison: Comparison, exit_code: int, comparison_id: str = "") -> str:
    c = comparison
    title = f"compare {c.baseline_target} → {c.candidate_target}: {MARKS[c.verdict].lower()}"
    when = datetime.datetime.fromtimestamp(c.finished_at, datetime.UTC)
    facts = [
        ("baseline", f"{c.baseline_target} ({c.baseline_model})"),
        ("candidate", f"{c.candidate_target} ({c.candidate_model})"),
        ("runs", f"{c.runs} per canary and target"),
        ("canaries", ", ".join(c.canaries)),
        ("finished", when.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("exit code", str(exit_code)),
    ]
    if comparison_id:
        facts.append(("comparison id", comparison_id))
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="verdict">verdict: {_badge(c.verdict)}</p>',
        '<div class="panel"><dl class="facts">',
        *(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts),
        "</dl></div>",
        '<pre class="config">' + escape("\n".join(summary(c))) + "</pre>",
    ]
    for scope in sorted(c.scopes, key=lambda s: s.name != OVERALL):  # overall first
        body += _scope(scope)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}{EXTRA_CSS}</style></head>"
        '<body><header class="top"><span class="brand">chatcanary <small>compare</small>'
        "</span></header><main>" + "\n".join(body) + "</main></body></html>\n"
    )


def _badge(verdict: Verdict) -> str:
    kind = str(verdict).replace(" ", "-")
    return f'<span class="badge {kind}">{escape(MARKS[verdict])}</span>'


def _scope(scope: Scope) -> list[str]:
    out = [f'<h2 id="scope-{escape(scope.name)}">{escape(scope.name)}</h2>']
    out.append(
        "<table><thead><tr><th>metric</th><th class=num>baseline</th>"
        "<th class=num>candidate</th><th class=num>change</th><th class=num>95% CI</th>"
        "<th class=num>p (Holm)</th><th class=num>n</th><th>test</th><th>verdict</th>"
        "</tr></thead><tbody>"
    )
    for row in scope.rows:
        d = row.diff
        interval = (
            "-" if d.ci_low is None else f"{change(row, d.ci_low)} … {change(row, d.ci_high)}"
        )
        out.append(
            f'<tr data-metric="{escape(row.metric)}" data-verdict="{escape(str(row.verdict))}">'
            f"<td class=mono>{escape(row.metric)}</td>"
            f"<td class=num>{value(row, d.baseline)}</td>"
            f"<td class=num>{value(row, d.candidate)}</td>"
            f"<td class=num>{change(row, d.effect)}</td>"
            f"<td class=num>{escape(interval)}</td>"
            f"<td class=num>{p_text(row.p_adjusted)}</td>"
            f"<td class=num>{d.n_baseline}/{d.n_candidate}</td>"
            f"<td class=muted>{escape(row.test)}</td>"
            f"<td>{_badge(row.verdict)}</td></tr>"
        )
    out.append("</tbody></table>")
    errors = sorted(set(scope.baseline.error_classes) | set(scope.candidate.error_classes))
    if errors:
        cells = ", ".join(
            f"{escape(e)} {scope.baseline.error_classes.get(e, 0)}/"
            f"{scope.candidate.error_classes.get(e, 0)}"
            for e in errors
        )
        out.append(f'<p class="muted">error classes (baseline/candidate): {cells}</p>')
    plots = [
        _plot(
            row,
            scope.baseline.samples.get(row.metric, ()),
            scope.candidate.samples.get(row.metric, ()),
        )
        for row in scope.rows
        if row.diff.kind == "distribution"
    ]
    if plots:
        out += ['<div class="dists">', *plots, "</div>"]
    if scope.name != OVERALL and scope.answers_differ:
        out += [
            '<div class="answers">',
            _answer("baseline answer", scope.baseline.example),
            _answer("candidate answer", scope.candidate.example),
            "</div>",
        ]
    return out


def _answer(who: str, text: str) -> str:
    shown = escape(text) if text else '<span class="muted">(no answer came back)</span>'
    return f'<div class="msg assistant"><div class="who">{who}</div><pre>{shown}</pre></div>'


def _plot(row: Row, base: Sequence[float], cand: Sequence[float]) -> str:
    """Every observation of both targets as dots on one axis, each side's median a bar."""
    values = [v for v in (*base, *cand) if math.isfinite(v)]
    seconds = row.metric.endswith("_seconds")
    scale = 1000.0 if seconds else 1.0
    unit = "ms" if seconds else ""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5 * (abs(low) or 1), high + 0.5 * (abs(high) or 1)
    span = WIDTH - LEFT - RIGHT

    def x(v: float) -> float:
        return LEFT + (v - low) / (high - low) * span

    parts = [
        f'<svg class="dist" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'data-metric="{escape(row.metric)}" aria-label="{escape(row.metric)}: baseline and '
        'candidate side by side">',
        f'<text x="{LEFT}" y="12">{escape(row.metric)} ({escape(change(row, row.diff.effect))})'
        "</text>",
    ]
    for i, (label, klass, sample) in enumerate(
        (("baseline", "base", base), ("candidate", "cand", cand))
    ):
        y = 34 + i * 28
        parts.append(f'<text x="4" y="{y + 4}">{label}</text>')
        parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        for j, v in enumerate(sample):
            if math.isfinite(v):
                dy = ((j * 7) % 11 - 5) * 1.2  # spread equal values a little, repeatably
                parts.append(
                    f'<circle class="{klass}" cx="{x(v):.1f}" cy="{y + dy:.1f}" r="2.6" '
                    'fill-opacity=".55"/>'
                )
        finite = sorted(v for v in sample if math.isfinite(v))
        if finite:
            mid = (
                finite[len(finite) // 2]
                if len(finite) % 2
                else (finite[len(finite) // 2 - 1] + finite[len(finite) // 2]) / 2
            )
            parts.append(
                f'<line class="median" x1="{x(mid):.1f}" x2="{x(mid):.1f}" '
                f'y1="{y - 9}" y2="{y + 9}"/>'
            )
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 4}">{low * scale:.4g}{unit}</text>')
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">'
        f"{high * scale:.4g}{unit}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
