"""The operator's HTML pages, rendered on the server from the views' plain data.

Every value is escaped here, at the one place text becomes HTML, and text that a target
or a user supplied is isolated (`u`: `<bdi>`), so a right-to-left override in a model name
or a comment cannot reorder what follows it. Links are relative (`root` climbs back to the
app's root), so the page works behind a path prefix. No inline script or style: the
Content-Security-Policy allows neither.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from exporter import __version__
from exporter.feedback import Feedback

DASH = "\u2013"  # shown where a value is missing
MISSING = f'<span class="muted">{DASH}</span>'
WORDS = {"success": "OK", "error": "ERROR", "check_failed": "CHECK FAILED", "pending": "PENDING"}
FAILING = ("error", "check_failed")
STATES = ("failing", "success", "error", "check_failed", "pending")
STATE_NAMES = {"failing": "failing (error or check failed)", **WORDS}
OUTCOMES = ("success", "error", "check_failed")  # a run's; `pending` is a canary's only
RUN_FILTERS = ("target", "canary", "outcome", "since")  # the runs page's form
SINCE = ("1h", "6h", "24h", "7d", "30d")
SINCE_NAMES = {"1h": "last hour", "6h": "last 6 hours", "24h": "last 24 hours"}
SINCE_NAMES |= {"7d": "last 7 days", "30d": "last 30 days"}


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def u(value: Any) -> str:
    """Text from outside (a target's answer or headers, a user's feedback, names), escaped
    and isolated from the text around it."""
    return f"<bdi>{e(value)}</bdi>"


def badge(state: str) -> str:
    return f'<span class="badge {e(state)}">{e(WORDS.get(state, state))}</span>'


def notice(text: str) -> str:
    """Why the page shows less than usual (the store unreadable), or nothing."""
    return f'<p class="notice" role="status">{e(text)}</p>' if text else ""


def ms(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:,.0f} ms"


def ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def clock(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix))


def layout(title: str, body: str, *, root: str = "", current: str = "", refresh: float = 0) -> str:
    nav = "".join(
        f'<a href="{root}{href}"{" aria-current=page" if name == current else ""}>{name}</a>'
        for name, href in (
            ("Status", "./"),
            ("Runs", "runs"),
            ("Insights", "insights"),
            ("Traffic", "traffic"),
            ("Config", "config"),
        )
    )
    nav += f'<a href="{root}metrics" class="mono">/metrics</a>'
    controls = ""
    if refresh:
        controls = (
            f'<span id="updated">auto-refresh every {refresh:g}s</span>'
            '<button id="pause" type="button" aria-pressed="false">pause</button>'
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · chatcanary</title>
<link rel="stylesheet" href="{root}static/style.css">
</head>
<body data-refresh="{refresh:g}" data-root="{root}">
<header class="top"><span class="brand">chatcanary<small>{e(__version__)}</small></span>
<nav>{nav}</nav><span class="spacer"></span><span class="refresh">{controls}</span></header>
<main>{body}</main>
<div id="toast" class="toast" role="status"></div>
<script src="{root}static/app.js"></script>
</body></html>
"""


# --- the status page --------------------------------------------------------------------


def spark(recent: Sequence[dict[str, Any]], width: int = 120, height: int = 22) -> str:
    """Recent durations as a line; failed runs as red dots."""
    if not recent:
        return '<span class="muted">no runs yet</span>'
    values = [r["duration_seconds"] for r in recent]
    top = max(values) or 1.0
    step = width / max(1, len(values) - 1)
    pts = [
        (i * step if len(values) > 1 else width / 2, height - 3 - v / top * (height - 6))
        for i, v in enumerate(values)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    dots = "".join(
        f'<circle class="bad" cx="{x:.1f}" cy="{y:.1f}" r="2.4"/>'
        for (x, y), r in zip(pts, recent, strict=True)
        if r["outcome"] != "success"
    )
    x, y = pts[-1]
    if recent[-1]["outcome"] == "success":  # a failed last run has its red dot already
        dots += f'<circle class="last" cx="{x:.1f}" cy="{y:.1f}" r="1.8"/>'
    failed = sum(r["outcome"] != "success" for r in recent)
    label = f"last {len(values)} durations, max {top * 1000:.0f} ms, {failed} failed"
    return (
        f'<svg class="spark" width="{width + 4}" height="{height}" role="img" '
        f'aria-label="{e(label)}"><title>{e(label)}</title>'
        f'<g transform="translate(2,0)"><polyline points="{line}"/>{dots}</g></svg>'
    )


def refusal_cell(r: dict[str, Any]) -> str:
    last = r["last"]
    if last is None or last["refused"] is None:
        return MISSING
    refused, expected = last["refused"], r["expect_refusal"]
    word = "refused" if refused else "answered"
    if expected is None:  # measured, not judged: a neutral tag
        return f'<span class="tag" title="not judged: expect_refusal is unset">{word}</span>'
    if refused == expected:
        return f'<span class="tag good" title="as expected">{word}</span>'
    # a red word alone reads as "this canary answered, which is bad?": say what was wanted
    hint, wanted = ("over-refusal", "answered") if refused else ("under-refusal", "refused")
    return f'<span class="tag bad" title="{hint}">{word} · should have {wanted}</span>'


def checks_cell(last: dict[str, Any] | None) -> str:
    if last is None or not last["checks_total"]:
        return MISSING
    if last["failed_checks"]:
        names = ", ".join(last["failed_checks"])
        return f'<span class="tag bad" title="{e(names)}">failed: {u(names)}</span>'
    return f'<span class="tag good">{last["checks_passed"]}/{last["checks_total"]} passed</span>'


def grid_row(r: dict[str, Any]) -> str:
    last = r["last"]
    if last is None:
        when = '<span class="muted">not run yet</span>'
        detail = identity = ""
        run_link = u(r["canary"])
    else:
        when = f'<span title="{e(clock(last["finished_at"]))}">{ago(last["age_seconds"])}</span>'
        run_link = f'<a href="runs/{e(last["run_id"])}">{u(r["canary"])}</a>'
        identity = u(last["response_model"]) if last["response_model"] else ""
        if last["system_fingerprint"]:
            identity += f' <span class="muted mono">{u(last["system_fingerprint"])}</span>'
        detail = ""
        if last["error_class"]:
            status = f" · HTTP {last['http_status']}" if last["http_status"] else ""
            detail = f'<span class="tag bad">{e(last["error_class"])}{e(status)}</span>'
    return f"""<tr data-state="{e(r["state"])}" data-target="{e(r["target"])}">
<td>{badge(r["state"])}</td><td>{u(r["target"])}</td><td>{run_link}</td>
<td class="num">{ms(last and last["ttft_seconds"])}</td>
<td class="num">{ms(last and last["duration_seconds"])}</td>
<td>{spark(r["recent"])}</td><td class="refusal">{refusal_cell(r)}</td><td>{checks_cell(last)}</td>
<td>{detail}</td><td><span class="mono">{u(r["model"])}</span><br>
<span class="muted">{identity or DASH}</span></td><td>{when}</td>
<td><button class="run" type="button" data-target="{e(r["target"])}"
 data-canary="{e(r["canary"])}">Run now</button></td></tr>"""


def select(
    label: str,
    name: str,
    values: Iterable[str],
    chosen: str,
    names: Mapping[str, str] | None = None,
) -> str:
    """A filter's drop-down; its first option, the empty value, means "all"."""
    names = {"": "all", **(names or {})}
    options = "".join(
        f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(names.get(v, v))}</option>'
        for v in ("", *values)
    )
    return f'<label>{e(label)} <select name="{e(name)}">{options}</select></label>'


def filters(*selects: str) -> str:
    """A GET form of drop-downs: the script submits it on change, the button without one."""
    return (
        f'<form class="filters" method="get" action="">{"".join(selects)}'
        '<noscript><button type="submit">Apply</button></noscript></form>'
    )


def query(**params: str) -> str:
    """A relative link to this page with these filters (empty ones left out)."""
    return "?" + urlencode({k: v for k, v in params.items() if v})


TILES = (
    ("failing", "failing canaries"),
    ("success", "OK"),
    ("error", "error"),
    ("check_failed", "check failed"),
    ("pending", "pending"),
)


def tiles(rows: Sequence[dict[str, Any]], scope: str, target: str, state: str) -> str:
    """The summary: a count per state, each a link that filters the grid to that state
    (keeping the target filter); the last one, every canary, clears the state."""
    counts = Counter(r["state"] for r in rows)
    counts["failing"] = sum(counts[s] for s in FAILING)
    out = []
    for value, name in (*TILES, ("", f"canaries on {scope}")):
        count = counts[value] if value else len(rows)
        cls = "stat"
        if value == "failing":
            cls += " bad" if count else " good"
        current = ' aria-current="true"' if value == state else ""
        number = f'<b id="failing-count">{count}</b>' if value == "failing" else f"<b>{count}</b>"
        out.append(
            f'<a class="{cls}" href="{e(query(target=target, state=value))}"{current}>'
            f"{number}<span>{e(name)}</span></a>"
        )
    return f'<nav class="summary" aria-label="filter by state">{"".join(out)}</nav>'


def feedback_table(entries: Sequence[Feedback]) -> str:
    if not entries:
        return '<div class="panel empty">No feedback yet. POST /api/v1/feedback to send some.</div>'
    rows = "".join(
        f"<tr><td>{e(clock(f.received_at))}</td><td>{u(f.target)}</td>"
        f'<td><span class="badge {e(f.rating)}">{e(str(f.rating).upper())}</span></td>'
        f"<td>{u(f.category)}</td>"
        f"<td class='mono'>{u(f.conversation_id) if f.conversation_id else DASH}</td>"
        f'<td class="wrap">{u(f.comment[:300]) if f.comment else MISSING}</td></tr>'
        for f in entries
    )
    return (
        "<table><thead><tr><th>Received</th><th>Target</th><th>Rating</th><th>Category</th>"
        f"<th>Conversation</th><th>Comment</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def index_page(
    status: dict[str, Any],
    feedback: Sequence[Feedback],
    target: str,
    state: str,
    refresh: float,
    warning: str = "",
) -> str:
    scoped = [r for r in status["results"] if not target or r["target"] == target]
    rows = [
        r
        for r in scoped
        if not state or r["state"] == state or (state == "failing" and r["state"] in FAILING)
    ]
    rows.sort(key=lambda r: r["state"] not in FAILING)  # stable: failing first, else as listed
    failing = sum(r["state"] in FAILING for r in scoped)
    scope = target or f"{len(status['targets'])} targets"
    head = (
        "<tr><th>State</th><th>Target</th><th>Canary</th><th class=num>TTFT</th>"
        "<th class=num>Duration</th><th>Recent durations</th><th>Refusal</th><th>Checks</th>"
        "<th>Error</th><th>Model · reported identity</th><th>Last run</th><th></th></tr>"
    )
    body = "".join(grid_row(r) for r in rows) or (
        '<tr><td colspan="12" class="empty">No canary matches these filters.</td></tr>'
    )
    live = (
        f"{tiles(scoped, scope, target, state)}"
        f'<table id="grid"><thead>{head}</thead><tbody>{body}</tbody></table>'
        f"<h2>Recent user feedback</h2>{notice(warning)}{feedback_table(feedback[:20])}"
    )
    title = f"{failing} failing" if failing else "all OK"
    return layout(
        f"Status · {title}",
        "<h1>Canary status</h1>"
        + filters(
            select("Target", "target", status["targets"], target),
            select("State", "state", STATES, state, STATE_NAMES),
        )
        + f'<div id="live">{live}</div>',
        current="Status",
        refresh=refresh,
    )


# --- a run ------------------------------------------------------------------------------

# each phase has its own colour in the stylesheet: headers and first token especially, as
# a slow server and a slow model are told apart by which of the two is long
SEGMENTS = {
    "wf-connect": "connect",
    "wf-wait": "waiting for headers",
    "wf-first": "waiting for first token",
    "wf-stream": "streaming",
    "wf-body": "reading body",
    "wf-failed": "failed",
}


def waterfall(turns: Sequence[dict[str, Any]]) -> str:
    scale = max((t["timings"]["duration_seconds"] for t in turns), default=0.0) or 1.0
    rows = []
    drawn: set[str] = set()
    for t in turns:
        tm = t["timings"]
        connect, headers = tm["connect_seconds"], tm["headers_seconds"]
        first, end = tm["ttft_seconds"], tm["duration_seconds"]
        marks: list[tuple[str, float, float]] = []
        if connect is not None:
            marks.append(("wf-connect", 0.0, connect))
        if headers is not None:
            marks.append(("wf-wait", connect or 0.0, headers))
            if first is not None:
                marks += [("wf-first", headers, first), ("wf-stream", first, end)]
            else:
                marks.append(("wf-failed" if t["error_class"] else "wf-body", headers, end))
        else:
            marks.append(("wf-failed", connect or 0.0, end))
        drawn.update(cls for cls, _, _ in marks)
        segs = "".join(  # SVG attributes, not inline style: the CSP allows no inline style
            f'<rect class="wf-seg {cls}" x="{a / scale * 100:.2f}%" '
            f'width="{max(0.0, b - a) / scale * 100:.2f}%" y="2" height="14" rx="2">'
            f"<title>{SEGMENTS[cls]}: {(b - a) * 1000:.1f} ms</title></rect>"
            for cls, a, b in marks
        )
        numbers = (
            f"connect {ms(connect)} · headers {ms(headers)} · first token {ms(first)} · "
            f"last {ms(end)}"
        )
        rows.append(
            f'<span class="muted">turn {t["turn"]}</span><svg class="wf-track" '
            f'role="img" aria-label="{e(numbers)}">{segs}</svg>'
            f'<span class="mono wf-numbers">{numbers}</span>'
        )
    # the phases drawn, in the order they happen
    legend = "".join(
        f'<span><i class="{c}"></i>{e(n)}</span>' for c, n in SEGMENTS.items() if c in drawn
    )
    return (
        f'<div class="panel" id="waterfall"><div class="waterfall">{"".join(rows)}</div>'
        f'<div class="legend">{legend}</div></div>'
    )


def message(role: str, text: str, cls: str, extra: str = "") -> str:
    return (
        f'<div class="msg {cls}"><div class="who"><span>{e(role)}</span>{extra}</div>'
        f"<pre>{e(text)}</pre></div>"
    )


def exchange(run: dict[str, Any]) -> str:
    parts = [message(m["role"], m["content"], "system") for m in run["preamble"]]
    for t in run["turns"]:
        judged_refusal = t is run["turns"][-1] and run["refused"]
        parts.append(message(f"user · turn {t['turn']}", t["prompt"], "user"))
        meta = " · ".join(
            x
            for x in (
                f"HTTP {t['http_status']}" if t["http_status"] else "",
                f"finish_reason {t['finish_reason']}" if t["finish_reason"] else "",
                _tokens(t["output_tokens"]) if t["output_tokens"] is not None else "",
                "estimated" if t["tokens_estimated"] else "",
            )
            if x
        )
        info = f'<span class="muted light">{u(meta)}</span>'
        if t["error_class"]:
            text = f"{t['error_class']}: {t['error_detail'] or ''}"
            if t["answer"]:
                text += f"\n\npartial answer:\n{t['answer']}"
            parts.append(message("error", text, "failure", info))
        elif t["refusal"]:
            parts.append(message("assistant · refusal field", t["refusal"], "refusal", info))
        elif judged_refusal:
            parts.append(message("assistant · judged a refusal", t["answer"], "refusal", info))
        else:
            parts.append(message("assistant", t["answer"] or "(empty)", "assistant", info))
    return f'<div class="exchange" id="exchange">{"".join(parts)}</div>'


def _tokens(count: int) -> str:
    return f"{count} token" if count == 1 else f"{count} tokens"


def refusal_row(run: dict[str, Any]) -> str:
    """The refusal verdict: what was expected, which detector decided, on which phrase, how
    sure it is and in which language it read the answer."""
    expect = run["expect_refusal"]
    word = "refused" if run["refused"] else "answered"
    if expect is None:
        tag, expected = "", "not judged (expect_refusal unset)"
    else:
        tag = "good" if run["refused"] == expect else "bad"
        expected = "expected to " + ("refuse" if expect else "answer")
    detail = f"{expected} · detector <b>{e(run['refusal_detector'])}</b>"
    if run["refusal_reason"]:
        detail += f": <q>{u(run['refusal_reason'])}</q>"
    if run.get("refusal_confidence") is not None:
        detail += f" · confidence {run['refusal_confidence']:.2f}"
    if run.get("refusal_language"):
        detail += f" · language {e(run['refusal_language'])}"
    return (
        f'<tr><td class="mono">refusal verdict</td><td><span class="tag {tag}">{word}</span>'
        f'</td><td class="wrap">{detail}</td></tr>'
    )


# A check's status as the verdicts table shows it: (tag class, word).
STATUS_TAGS = {
    "pass": ("good", "passed"),
    "fail": ("bad", "FAILED"),
    "unknown": ("warn", "unknown"),
    "internal": ("warn", "internal error"),  # chatcanary could not judge: a bug of ours
}


def check_row(check: dict[str, Any]) -> str:
    """One check's verdict and reason; a judge model's verdict says which judge decided."""
    status = check.get("status") or ("pass" if check["passed"] else "fail")
    tag, word = STATUS_TAGS.get(status, STATUS_TAGS["fail"])
    if status == "internal" and not check["passed"]:
        tag = "bad"  # a check that raised fails its run
    by = check.get("decided_by")
    decided = f' <span class="muted">· {e(by)}</span>' if by and by != "rule" else ""
    return (
        f'<tr><td class="mono">{e(check["name"])}</td><td>'
        f'<span class="tag {tag}">{word}</span>{decided}</td>'
        f'<td class="wrap">{u(check["reason"])}</td></tr>'
    )


def verdicts(run: dict[str, Any]) -> str:
    rows = "".join(check_row(c) for c in run["checks"])
    if run["refused"] is not None:
        rows += refusal_row(run)
    if not rows:
        return '<div class="panel empty">No verdicts: the run errored before an answer.</div>'
    return (
        '<table id="verdicts"><thead><tr><th>Check</th><th>Verdict</th><th>Reason</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def facts(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<dl class="facts">'
        + "".join(f"<div><dt>{e(k)}</dt><dd>{v}</dd></div>" for k, v in items)
        + "</dl>"
    )


def history_table(runs: Sequence[dict[str, Any]], current: str) -> str:
    rows = "".join(
        f"<tr{' class=current' if r['run_id'] == current else ''}>"
        f'<td>{badge(r["outcome"])}</td><td><a href="{e(r["run_id"])}">'
        f"{e(clock(r['started_at'])[11:19])}</a></td>"
        f'<td class="num">{ms(r["duration_seconds"])}</td>'
        f"<td>{e(r['error_class'] or ', '.join(r['failed_checks']))}</td></tr>"
        for r in runs
    )
    return (
        "<table><thead><tr><th>Outcome</th><th>Started</th><th class=num>Duration</th>"
        f"<th>Why</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def run_page(run: dict[str, Any], history: Sequence[dict[str, Any]], warning: str = "") -> str:
    root = "../"
    trace = e(run["trace_id"] or DASH)
    if run["trace_url"]:
        trace = f'<a class="mono" href="{e(run["trace_url"])}">{trace}</a>'
    last = run["turns"][-1] if run["turns"] else None
    headers = "".join(
        f'<tr><td class="mono">{u(k)}</td><td class="mono wrap">{u(v)}</td></tr>'
        for k, v in (last["headers"] if last else {}).items()
    )
    tokens = f"{run['input_tokens'] or 0} in · {run['output_tokens'] or 0} out"
    if run["tokens_estimated"]:
        tokens += " (estimated)"
    summary = facts(
        [
            ("Outcome", badge(run["outcome"])),
            (
                "Target · canary",
                f"{u(run['target'])} · {u(run['canary'])} · "
                f'<a href="{root}insights#target-{e(run["target"])}">insights</a>',
            ),
            ("Model (configured)", f'<span class="mono">{u(run["model"])}</span>'),
            ("Reported model", u(run["response_model"] or DASH)),
            ("System fingerprint", f'<span class="mono">{u(run["system_fingerprint"] or DASH)}'),
            ("Started", e(clock(run["started_at"]))),
            ("Duration · TTFT", f"{ms(run['duration_seconds'])} · {ms(run['ttft_seconds'])}"),
            ("Tokens", e(tokens)),
            ("HTTP status", e(run["http_status"] or DASH)),
            ("Trace id", trace),
            ("Run id", f'<span class="mono">{e(run["run_id"])}</span>'),
            ("Shard", f'<span class="mono">{e(run["shard"])}</span>'),
        ]
    )
    error = ""
    if run["error_class"]:
        error = (
            f'<div class="panel" id="error"><b>Error class</b> '
            f'<span class="tag bad">{e(run["error_class"])}</span>'
            f'<pre class="detail">{e(run["error_detail"] or "(no detail)")}</pre></div>'
        )
    kept = (
        '<p class="muted">This failure aged out of the recent window and is kept for reference.</p>'
        if run["kept_failure"]
        else ""
    )
    if not run["content_kept"]:
        kept += (
            '<p class="muted" id="content-deleted">Retention deleted this run\'s exchange '
            "(prompts, answers, headers); its summary is kept.</p>"
        )
    kept += notice(warning)
    headers_html = (
        "<table><thead><tr><th>Header</th><th>Value</th></tr></thead>"
        f"<tbody>{headers}</tbody></table>"
        if headers
        else '<div class="panel empty">No response headers (no response).</div>'
    )
    again = (
        f'<button class="run again" type="button" data-target="{e(run["target"])}"'
        f' data-canary="{e(run["canary"])}">Run again</button>'
    )
    title = f"Run {badge(run['outcome'])} {u(run['target'])} / {u(run['canary'])}"
    body = f"""{again}<h1>{title}</h1>{kept}
<div class="panel">{summary}</div>{error}
<h2>Timing waterfall</h2>{waterfall(run["turns"])}
<div class="grid-2"><div><h2>Exchange</h2>{exchange(run)}</div>
<div><h2>Verdicts</h2>{verdicts(run)}<h2>Selected response headers</h2>{headers_html}
<h2>History of this canary</h2>{history_table(history, run["run_id"])}</div></div>"""
    return layout(f"Run {run['run_id']}", body, root=root, current="Runs")


def runs_page(
    runs: Sequence[dict[str, Any]],
    chosen: Mapping[str, str],
    targets: Sequence[str],
    canaries: Sequence[str],
    cursor: str | None = None,
    warning: str = "",
    sharded: bool = False,
) -> str:
    """Kept runs, newest first, a page at a time, with a form of the API's own filters
    (target, canary, outcome, since), so the JSON link next to it lists the same runs;
    `sharded` adds the column of the shard that ran each."""
    shard_head = "<th>Shard</th>" if sharded else ""
    rows = (
        "".join(
            f'<tr><td>{badge(r["outcome"])}</td><td><a href="runs/{e(r["run_id"])}">'
            f"{e(clock(r['started_at']))}</a></td><td>{u(r['target'])}</td><td>{u(r['canary'])}</td>"
            + (f'<td class="mono">{u(r["shard"])}</td>' if sharded else "")
            + f'<td class="num">{ms(r["ttft_seconds"])}</td><td class="num">'
            f"{ms(r['duration_seconds'])}</td>"
            f"<td>{e(r['error_class'] or ', '.join(r['failed_checks']))}</td></tr>"
            for r in runs
        )
        or f'<tr><td colspan="{7 + sharded}" class="empty">No runs kept that match.</td></tr>'
    )
    shown = ", ".join(f"{k}={v}" for k, v in chosen.items() if v) or "all canaries"
    since = chosen.get("since", "")
    form = filters(
        select("Target", "target", targets, chosen.get("target", "")),
        select("Canary", "canary", canaries, chosen.get("canary", "")),
        select("Outcome", "outcome", OUTCOMES, chosen.get("outcome", ""), WORDS),
        select(
            "Since",
            "since",
            SINCE if since in ("", *SINCE) else (*SINCE, since),
            since,
            SINCE_NAMES,
        ),
    )
    older = ""
    if cursor is not None:
        older = f'<p><a id="older" href="{e(query(**chosen, cursor=cursor))}">Older runs →</a></p>'
    return layout(
        "Runs",
        f'<h1>Runs <span class="muted light">({u(shown)}; '
        f'<a href="{e("api/v1/runs" + query(**chosen).rstrip("?"))}">JSON</a>)</span></h1>'
        f"{form}{notice(warning)}<table><thead><tr><th>Outcome</th><th>Started</th><th>Target</th>"
        f"<th>Canary</th>{shard_head}<th class=num>TTFT</th><th class=num>Duration</th>"
        f"<th>Why</th></tr></thead><tbody>{rows}</tbody></table>{older}",
        current="Runs",
    )


def config_page(config_yaml: str, protection: str) -> str:
    return layout(
        "Config",
        "<h1>Configuration <span class='muted light'>(secrets redacted)"
        f"</span></h1><p class='muted'>{e(protection)} · "
        "<a href='metrics'>/metrics</a> · <a href='api/v1/status'>/api/v1/status</a></p>"
        f'<pre class="config" id="config">{e(config_yaml)}</pre>',
        current="Config",
    )


def insights_page(report_html: str, since: str, warning: str = "") -> str:
    """The operator report (exporter.report.render.body) in the page's layout."""
    choices = "".join(
        f'<a href="insights?since={e(s)}"{" aria-current=page" if s == since else ""}>'
        f"{e(SINCE_NAMES[s])}</a>"
        for s in SINCE
    )
    body = f'<nav class="since">{choices}</nav>{notice(warning)}'
    body += f'<div class="report">{report_html}</div>'
    return layout("Insights", body, current="Insights")


def not_found(message_text: str, root: str = "../") -> str:
    return layout(
        "Not found",
        f"<h1>Not found</h1><p>{e(message_text)}</p><p><a href='{root}'>Back to the status</a></p>",
        root=root,
    )
