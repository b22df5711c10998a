"""The report as JSON (for machines: `findings: [...]` first), Markdown and HTML.

HTML comes two ways: `document` (a self-contained file: inline SVG charts and an inline
`<style>`, printable) and `body` (the same sections for the web app's /insights, which
wraps them in its layout and stylesheet: no inline style or script there). Links to runs
are relative to the web app's root given as `root`; without one (a file written by
`chatcanary report` without `--web-url`) run ids are shown as text.
"""

from __future__ import annotations

import json
import time
from html import escape
from typing import Any

from exporter.report import charts
from exporter.report.build import Report
from exporter.report.changes import ChangeImpact, Moved
from exporter.report.findings import Finding, identity, name, show
from exporter.report.prom import DAY
from exporter.report.summary import NONE, Ratio, TargetSummary, day_ranges
from exporter.report.themes import Theme

FORMATS = ("html", "md", "json")
DASH = "\u2013"  # shown where a value is missing, and between two times


def clock(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def date(at: float) -> str:
    return time.strftime("%m-%d", time.gmtime(at))


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f} %"


def ratio(r: Ratio | None) -> str:
    if r is None or not r.n:
        return DASH
    return f"{r.hits / r.n * 100:.1f} % ({r.hits}/{r.n})"


def ms(seconds: float | None) -> str:
    return DASH if seconds is None else f"{seconds * 1000:.0f} ms"


def render(report: Report, fmt: str, root: str | None = None) -> str:
    if fmt == "json":
        return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return markdown(report, root)
    return document(report, root)


# --- JSON ---------------------------------------------------------------------------------


def as_dict(report: Report) -> dict[str, Any]:
    return {
        "findings": [_finding(f) for f in report.findings],
        "window": {"start": report.start, "end": report.end},
        "generated_at": report.generated_at,
        "version": report.version,
        "notices": list(report.notices),
        "targets": [_target(t) for t in report.targets],
        "traffic": [
            {"proxy": t.proxy, "refusal_rate": _r(t.refusals), "source": t.source}
            for t in report.traffic
        ],
        "model_changes": [_change(c) for c in report.changes],
        "feedback": {
            "total": len(report.feedback),
            "negative": sum(f.feedback.rating == "negative" for f in report.feedback),
            "themes": [_theme(t) for t in report.themes],
        },
    }


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity,
        "impact": round(f.impact, 4),
        "target": f.target,
        "claim": f.claim,
        "evidence": f.evidence,
        "links": list(f.links),
    }


def _r(r: Ratio | None) -> dict[str, Any] | None:
    return None if r is None else {"hits": r.hits, "n": r.n, "rate": r.rate}


def _target(t: TargetSummary) -> dict[str, Any]:
    return {
        "target": t.target,
        "runs": t.runs,
        "error_rate": _r(t.errors),
        "check_failure_rate": _r(t.check_failures),
        "over_refusal_rate": _r(t.over_refusal),
        "under_refusal_rate": _r(t.under_refusal),
        "ttft_p50_seconds": t.ttft_p50,
        "ttft_p95_seconds": t.ttft_p95,
        "duration_p95_seconds": t.duration_p95,
        "error_classes": dict(t.error_classes),
        "slos": [
            {
                "name": s.name,
                "sli": s.sli,
                "objective": s.objective,
                "good": s.good,
                "total": s.total,
                "attainment": s.attainment,
                "budget_left": s.budget_left,
                "note": s.note,
            }
            for s in t.slos
        ],
        "days": [
            {
                "start": d.start,
                "source": d.source,
                "runs": d.runs,
                "error_rate": d.error_rate,
                "over_refusal_rate": d.over_refusal,
                "ttft_p50_seconds": d.ttft_p50,
                "ttft_p95_seconds": d.ttft_p95,
                "duration_p95_seconds": d.duration_p95,
            }
            for d in t.days
        ],
        "worst_canaries": [
            {
                "canary": c.canary,
                "runs": c.runs,
                "failures": c.failures,
                "failure_rate": c.failure_rate,
                "example_runs": list(c.examples),
            }
            for c in t.worst
        ],
    }


def _moved(m: Moved) -> dict[str, Any]:
    d = m.difference
    return {
        "metric": d.metric,
        "kind": d.kind,
        "baseline": d.baseline,
        "candidate": d.candidate,
        "effect": d.effect,
        "ci_low": d.ci_low,
        "ci_high": d.ci_high,
        "p_value": d.p_value,
        "p_adjusted": m.p_adjusted,
        "n_baseline": d.n_baseline,
        "n_candidate": d.n_candidate,
        "enough": d.enough,
        "beyond_noise": m.beyond_noise,
    }


def _change(c: ChangeImpact) -> dict[str, Any]:
    return {
        **c.change.as_dict(),
        "before": list(c.before),
        "after": list(c.after),
        "metrics": [_moved(m) for m in c.metrics],
        "feedback": [_moved(m) for m in c.feedback],
        "approved_by": None if c.approved_by is None else c.approved_by.as_dict(),
    }


def approved(c: ChangeImpact) -> str:
    """Which `chatcanary compare` cleared the new model, in words."""
    a = c.approved_by
    if a is None:
        return "No comparison of this model was recorded before the change."
    return (
        f"Compared before the change: comparison {a.id} ({a.baseline[0]} against "
        f"{a.candidate[0]}, {a.runs} runs each, finished {clock(a.finished_at)}): {a.verdict}."
    )


def _theme(t: Theme) -> dict[str, Any]:
    return {
        "keyphrases": list(t.keyphrases),
        "comments": t.size,
        "categories": dict(t.categories),
        "examples": [f.as_dict() for f in t.examples],
    }


# --- Markdown -----------------------------------------------------------------------------


def _md(text: str) -> str:
    """Text from outside in a Markdown table cell or line: no markup, no line breaks."""
    out = " ".join(text.split())
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def _md_link(run_id: str, root: str | None) -> str:
    return f"[{_md(run_id)}]({root}runs/{run_id})" if root is not None else f"`{run_id}`"


def markdown(report: Report, root: str | None = None) -> str:
    lines = [
        f"# chatcanary report: {clock(report.start)} {DASH} {clock(report.end)}",
        "",
        f"Generated {clock(report.generated_at)} by chatcanary {report.version}.",
        "",
    ]
    lines += [f"> {_md(n)}" for n in report.notices]
    lines += ["## Findings", ""]
    if not report.findings:
        lines.append("Nothing to report: no rule fired.")
    for i, f in enumerate(report.findings, 1):
        links = " ".join(_md_link(link.partition("/")[2], root) for link in f.links)
        lines.append(f"{i}. **{f.severity}** `{f.rule}`: {_md(f.claim)} {links}".rstrip())
    for t in report.targets:
        lines += ["", f"## Target {_md(t.target)}", ""]
        lines += [
            "| runs | errors | check failures | over-refusal | under-refusal | "
            "TTFT p50 | TTFT p95 |",
            "|---|---|---|---|---|---|---|",
            f"| {t.runs} | {ratio(t.errors)} | {ratio(t.check_failures)} | "
            f"{ratio(t.over_refusal)} | {ratio(t.under_refusal)} | "
            f"{ms(t.ttft_p50)} | {ms(t.ttft_p95)} |",
        ]
        if t.slos:
            lines += ["", "| SLO | objective | attained | budget left |", "|---|---|---|---|"]
            for s in t.slos:
                attained = DASH if s.attainment is None else f"{s.attainment:.2f} %"
                lines.append(
                    f"| {_md(s.name)} ({s.sli}) | {s.objective:g} % | {attained} | "
                    f"{pct(s.budget_left)} |"
                )
        lines += ["", "| day | source | runs | errors | over-refusal | TTFT p95 |"]
        lines.append("|---|---|---|---|---|---|")
        for d in t.days:
            source = "no data" if d.source == NONE else d.source
            lines.append(
                f"| {date(d.start)} | {source} | {d.runs} | {pct(d.error_rate)} | "
                f"{pct(d.over_refusal)} | {ms(d.ttft_p95)} |"
            )
        if t.error_classes:
            classes = ", ".join(f"{_md(c)} {n}" for c, n in t.error_classes)
            lines += ["", f"Error classes: {classes}."]
        if t.worst:
            lines += ["", "| canary | failed | examples |", "|---|---|---|"]
            for row in t.worst:
                examples = " ".join(_md_link(r, root) for r in row.examples)
                lines.append(f"| {_md(row.canary)} | {row.failures}/{row.runs} | {examples} |")
    if report.traffic:
        lines += ["", "## Real traffic", "", "| proxy | refused | source |", "|---|---|---|"]
        lines += [f"| {_md(t.proxy)} | {ratio(t.refusals)} | {t.source} |" for t in report.traffic]
    lines += ["", "## Model changes", ""]
    if not report.changes:
        lines += ["No model change in the window.", ""]
    for c in report.changes:
        ch = c.change
        lines += [
            f"### {_md(ch.target)}: {_md(identity(ch.old))} → {_md(identity(ch.new))} "
            f"at {clock(ch.at)}",
            "",
            _md(approved(c)),
            "",
            "| metric | before | after | change | 95 % interval | p (Holm) | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [_md_row(m) for m in (*c.metrics, *c.feedback)]
        lines.append("")
    lines += ["## Feedback", ""]
    negative = sum(f.feedback.rating == "negative" for f in report.feedback)
    lines.append(f"{len(report.feedback)} submissions, {negative} negative.")
    for theme in report.themes:
        lines += ["", f"### “{_md(', '.join(theme.keyphrases))}” ({theme.size} comments)", ""]
        for example in theme.examples:
            said = example.feedback
            link = f" ({_md_link(said.run_id, root)})" if said.run_id else ""
            lines.append(f"- {_md(said.comment)}{link}")
    return "\n".join(lines) + "\n"


def verdict(m: Moved) -> str:
    if not m.difference.enough:
        return "cannot tell (too few)"
    if not m.beyond_noise:
        return "within noise"
    return "worse" if m.worse else "better"


def _effect(m: Moved) -> str:
    d = m.difference
    if d.kind == "rate":
        return f"{d.effect * 100:+.1f} pp"
    return f"{d.effect * 100:+.0f} %"


def _interval(m: Moved) -> str:
    d = m.difference
    if d.ci_low is None or d.ci_high is None:
        return DASH
    scale, unit = (100, " pp") if d.kind == "rate" else (100, " %")
    return f"{d.ci_low * scale:+.1f} … {d.ci_high * scale:+.1f}{unit}"


def _p(m: Moved) -> str:
    return DASH if m.p_adjusted is None else f"{m.p_adjusted:.2g}"


def _md_row(m: Moved) -> str:
    d = m.difference
    return (
        f"| {_md(name(d.metric))} | {show(d, d.baseline)} | {show(d, d.candidate)} | "
        f"{_effect(m)} | {_interval(m)} | {_p(m)} | {verdict(m)} |"
    )


# --- HTML ---------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,sans-serif;color:#222;margin:0 auto;max-width:1000px;padding:16px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;margin-top:28px}
h3{font-size:15px}
""" + "\n".join(
    [
        "table{border-collapse:collapse;margin:8px 0}",
        "th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}",
        "th{background:#f5f5f5}",
        ".sev{font-weight:600;padding:1px 6px;border-radius:3px;color:#fff}",
        ".sev.critical{background:#c0392b}.sev.warning{background:#d68910}",
        ".sev.info{background:#5d6d7e}",
        ".verdict.worse{color:#c0392b;font-weight:600}.verdict.better{color:#1e8449}",
        ".nodata{color:#888;font-style:italic}.notice{background:#fdf2e9;padding:6px 10px}",
        "ol.findings li{margin:6px 0}blockquote{margin:4px 0;color:#444}",
        "figure{margin:8px 0}figcaption{font-size:12px;color:#555}",
        "@media print{body{max-width:none}h2{break-after:avoid}"
        "svg.chart,table{break-inside:avoid}a{color:inherit}}",
    ]
)


def _e(value: Any) -> str:
    return escape(str(value))


def _u(value: Any) -> str:
    """Text from outside (names, comments), escaped and isolated."""
    return f"<bdi>{escape(str(value))}</bdi>"


def _run_link(run_id: str, root: str | None) -> str:
    if root is None:
        return f"<code>{_u(run_id)}</code>"
    return f'<a href="{escape(root)}runs/{escape(run_id)}"><code>{_u(run_id)}</code></a>'


def document(report: Report, root: str | None = None) -> str:
    """A self-contained, printable HTML file."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chatcanary report {date(report.start)} {DASH} {date(report.end)}</title>
<style>{CSS}</style>
</head><body class="report">
{body(report, root)}
</body></html>
"""


def body(report: Report, root: str | None = None) -> str:
    parts = [
        f"<h1>chatcanary report</h1><p>{clock(report.start)} {DASH} {clock(report.end)} · "
        f"generated {clock(report.generated_at)} by chatcanary {_e(report.version)}</p>"
    ]
    parts += [f'<p class="notice" role="status">{_e(n)}</p>' for n in report.notices]
    parts.append('<section id="findings"><h2>Findings</h2>')
    if not report.findings:
        parts.append("<p>Nothing to report: no rule fired.</p>")
    else:
        parts.append('<ol class="findings">')
        for f in report.findings:
            links = " ".join(_run_link(link.partition("/")[2], root) for link in f.links)
            parts.append(
                f'<li data-rule="{_e(f.rule)}"><span class="sev {_e(f.severity)}">'
                f"{_e(f.severity)}</span> <code>{_e(f.rule)}</code> {_u(f.claim.replace('`', ''))} "
                f"{links}</li>"
            )
        parts.append("</ol>")
    parts.append("</section>")
    for t in report.targets:
        parts.append(_target_html(report, t, root))
    parts.append(_traffic_html(report))
    parts.append(_changes_html(report))
    parts.append(_feedback_html(report, root))
    return "\n".join(parts)


def _target_html(report: Report, t: TargetSummary, root: str | None) -> str:
    markers = [
        (c.change.at, f"model change: {identity(c.change.old)} → {identity(c.change.new)}")
        for c in report.changes
        if c.change.target == t.target
    ]
    x_range = (t.days[0].start, t.days[-1].start + DAY) if t.days else (report.start, report.end)
    ttft = charts.line(
        f"{t.target}: TTFT p95 by day",
        [(d.start, d.ttft_p95) for d in t.days],
        x_range,
        lambda v: f"{v * 1000:.0f} ms",
        date,
        markers,
        DAY,
    )
    errors = charts.line(
        f"{t.target}: error rate by day",
        [(d.start, d.error_rate) for d in t.days],
        x_range,
        lambda v: f"{v * 100:.0f} %",
        date,
        markers,
        DAY,
    )
    rows = [
        f'<section class="target" id="target-{_e(t.target)}" data-target="{_e(t.target)}">'
        f"<h2>Target {_u(t.target)}</h2>",
        "<table><tr><th>runs</th><th>errors</th><th>check failures</th><th>over-refusal</th>"
        "<th>under-refusal</th><th>TTFT p50</th><th>TTFT p95</th></tr>",
        f"<tr><td>{t.runs}</td><td>{ratio(t.errors)}</td><td>{ratio(t.check_failures)}</td>"
        f"<td>{ratio(t.over_refusal)}</td><td>{ratio(t.under_refusal)}</td>"
        f"<td>{ms(t.ttft_p50)}</td><td>{ms(t.ttft_p95)}</td>"
        "</tr></table>",
    ]
    if t.slos:
        rows.append(
            "<table><tr><th>SLO</th><th>objective</th><th>attained</th><th>budget left</th></tr>"
        )
        for s in t.slos:
            attained = DASH if s.attainment is None else f"{s.attainment:.2f} %"
            rows.append(
                f"<tr><td>{_u(s.name)} ({_e(s.sli)})</td><td>{s.objective:g} %</td>"
                f"<td>{attained}</td><td>{pct(s.budget_left)}</td></tr>"
            )
        rows.append("</table>")
    rows += [
        "<h3>Latency and errors</h3>",
        f"<figure><figcaption>TTFT p95 by day</figcaption>{ttft}</figure>",
        f"<figure><figcaption>Error rate by day</figcaption>{errors}</figure>",
    ]
    missing = [d for d in t.days if d.source == NONE]
    if missing:
        days = day_ranges([d.start for d in missing])
        rows.append(
            f'<p class="nodata">No data for {days}: neither the store nor Prometheus covers it.</p>'
        )
    prom_days = [d for d in t.days if d.source == "prometheus"]
    if prom_days:
        rows.append(
            f"<p>From Prometheus (the store has no runs then): "
            f"{', '.join(date(d.start) for d in prom_days)}.</p>"
        )
    if t.error_classes:
        classes = ", ".join(f"{_u(c)} {n}" for c, n in t.error_classes)
        rows.append(f"<p>Error classes: {classes}.</p>")
    if t.worst:
        rows.append(
            "<h3>Worst canaries</h3><table><tr><th>canary</th><th>failed</th>"
            "<th>example runs</th></tr>"
        )
        for c in t.worst:
            examples = " ".join(_run_link(r, root) for r in c.examples)
            rows.append(
                f"<tr><td>{_u(c.canary)}</td><td>{c.failures}/{c.runs} "
                f"({c.failure_rate * 100:.0f} %)</td><td>{examples}</td></tr>"
            )
        rows.append("</table>")
    rows.append("</section>")
    return "\n".join(rows)


def _traffic_html(report: Report) -> str:
    if not report.traffic:
        return ""
    rows = "".join(
        f'<tr data-proxy="{_e(t.proxy)}"><td>{_u(t.proxy)}</td><td>{ratio(t.refusals)}</td>'
        f"<td>{_e(t.source)}</td></tr>"
        for t in report.traffic
    )
    return (
        '<section id="traffic"><h2>Real traffic</h2><p>Answers the refusal verdict read, '
        "through each proxy.</p><table><tr><th>proxy</th><th>refused</th><th>source</th></tr>"
        f"{rows}</table></section>"
    )


def _changes_html(report: Report) -> str:
    parts = ['<section id="changes"><h2>Model changes</h2>']
    if not report.changes:
        parts.append("<p>No model change in the window.</p>")
    for c in report.changes:
        ch = c.change
        parts.append(
            f"<h3>{_u(ch.target)}: {_u(identity(ch.old))} → {_u(identity(ch.new))} "
            f"at {clock(ch.at)}</h3>"
            f"<p>Before: {clock(c.before[0])} {DASH} {clock(c.before[1])}; after: "
            f"{clock(c.after[0])} {DASH} {clock(c.after[1])}.</p>"
            f'<p class="approval">{_u(approved(c))}</p>'
            "<table><tr><th>metric</th><th>before</th><th>after</th><th>change</th>"
            "<th>95 % interval</th><th>p (Holm)</th><th>verdict</th></tr>"
        )
        for m in (*c.metrics, *c.feedback):
            d = m.difference
            v = verdict(m)
            parts.append(
                f'<tr data-metric="{_e(d.metric)}"><td>{_e(name(d.metric))}</td>'
                f"<td>{show(d, d.baseline)}</td><td>{show(d, d.candidate)}</td>"
                f"<td>{_effect(m)}</td><td>{_interval(m)}</td><td>{_p(m)}</td>"
                f'<td class="verdict {_e(v.split()[0])}">{_e(v)}</td></tr>'
            )
        parts.append("</table>")
    parts.append("</section>")
    return "\n".join(parts)


def _feedback_html(report: Report, root: str | None) -> str:
    fb = report.feedback
    negative = [f for f in fb if f.feedback.rating == "negative"]
    parts = [
        '<section id="feedback"><h2>Feedback</h2>',
        f"<p>{len(fb)} submissions, {len(negative)} negative.</p>",
    ]
    cells: dict[tuple[str, str], int] = {}
    totals: dict[str, int] = {}
    for f in fb:
        totals[f.feedback.target] = totals.get(f.feedback.target, 0) + 1
    for f in negative:
        key = (f.feedback.target, f.feedback.category)
        cells[key] = cells.get(key, 0) + 1
    if cells:
        parts.append(
            "<table><tr><th>target</th><th>category</th><th>negative</th>"
            "<th>share of the target's feedback</th></tr>"
        )
        for (target, category), n in sorted(cells.items()):
            parts.append(
                f"<tr><td>{_u(target)}</td><td>{_u(category)}</td><td>{n}</td>"
                f"<td>{n / totals[target] * 100:.1f} %</td></tr>"
            )
        parts.append("</table>")
    for theme in report.themes:
        parts.append(
            f'<h3 class="theme">“{_u(", ".join(theme.keyphrases))}” ({theme.size} comments)</h3>'
            "<ul>"
        )
        for f in theme.examples:
            link = f" {_run_link(f.feedback.run_id, root)}" if f.feedback.run_id else ""
            parts.append(f"<li><blockquote>{_u(f.feedback.comment)}</blockquote>{link}</li>")
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)
