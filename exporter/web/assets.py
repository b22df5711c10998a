"""The page's stylesheet and its little script, served from /static/ (no build step)."""

from __future__ import annotations

CSS = """
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1c2024; --muted: #5f6b7a; --line: #e1e5ea;
  --head: #16202b; --accent: #2f6fdb;
  --ok: #17803d; --ok-bg: #e5f5ea; --err: #c2262e; --err-bg: #fde8e8;
  --warn: #a65c00; --warn-bg: #fff1dc; --idle: #5f6b7a; --idle-bg: #eceff3;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
body { margin: 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { background: var(--head); color: #dfe6ee; display: flex; align-items: center;
  gap: 20px; padding: 0 20px; height: 44px; }
header.top .brand { font-weight: 700; font-size: 15px; color: #fff; letter-spacing: .2px; }
header.top .brand small { font-weight: 400; color: #8fa1b3; margin-left: 6px; font-size: 12px; }
header.top nav { display: flex; gap: 4px; }
header.top nav a { color: #c5d0dc; padding: 6px 10px; border-radius: 4px; }
header.top nav a[aria-current="page"], header.top nav a:hover { background: #273444;
  color: #fff; text-decoration: none; }
header.top .spacer { flex: 1; }
header.top .refresh { color: #8fa1b3; font-size: 12px; display: flex; gap: 8px;
  align-items: center; }
header.top button { background: #273444; color: #dfe6ee; border: 1px solid #3a4a5c;
  border-radius: 4px; padding: 2px 8px; font: inherit; cursor: pointer; }
main { padding: 16px 20px 40px; max-width: 1600px; margin: 0 auto; }
h1 { font-size: 18px; margin: 4px 0 12px; font-weight: 600; }
h2 { font-size: 14px; margin: 24px 0 8px; font-weight: 600; color: #2b333c; }
.summary { display: flex; gap: 10px; flex-wrap: wrap; margin-bottom: 14px; }
.stat { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 14px; min-width: 118px; color: inherit; }
a.stat:hover { border-color: var(--accent); text-decoration: none; }
.stat[aria-current] { box-shadow: inset 0 -3px 0 var(--accent); }
.stat b { display: block; font-size: 22px; font-weight: 600; line-height: 1.2;
  font-variant-numeric: tabular-nums; }
.stat span { color: var(--muted); font-size: 12px; }
.stat.bad { border-color: #f1b4b4; background: var(--err-bg); }
.stat.bad b { color: var(--err); }
.stat.good b { color: var(--ok); }
form.filters { display: flex; gap: 14px; align-items: center; margin: 0 0 10px;
  color: var(--muted); flex-wrap: wrap; }
form.filters select, form.filters button { font: inherit; padding: 3px 6px;
  border: 1px solid #c9d1da; border-radius: 4px; background: #fff; color: var(--ink); }
table { border-collapse: collapse; width: 100%; background: var(--panel);
  border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: middle; white-space: nowrap; }
th { background: #f0f2f5; color: var(--muted); font-weight: 600; font-size: 11.5px;
  text-transform: uppercase; letter-spacing: .4px; }
tr:last-child td { border-bottom: 0; }
tbody tr:hover { background: #f8fafc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; overflow-wrap: anywhere; }
.mono { font-family: var(--mono); font-size: 12px; }
.muted { color: var(--muted); }
.badge { display: inline-block; min-width: 92px; text-align: center; padding: 1px 8px;
  border-radius: 3px; font-weight: 700; font-size: 11px; letter-spacing: .5px;
  border: 1px solid transparent; }
.badge.success { color: var(--ok); background: var(--ok-bg); border-color: #b7e0c3; }
.badge.error { color: var(--err); background: var(--err-bg); border-color: #f1b4b4; }
.badge.check_failed { color: var(--warn); background: var(--warn-bg); border-color: #f2cf99; }
.badge.pending { color: var(--idle); background: var(--idle-bg); border-color: #d5dbe2; }
.badge.positive { color: var(--ok); background: var(--ok-bg); min-width: 72px; }
.badge.negative { color: var(--err); background: var(--err-bg); min-width: 72px; }
.tag { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 11.5px;
  background: var(--idle-bg); color: #39434f; }
.tag.bad { background: var(--err-bg); color: var(--err); }
.tag.good { background: var(--ok-bg); color: var(--ok); }
.tag.warn { background: var(--warn-bg); color: var(--warn); }
.muted { color: var(--muted); }
/* "refused · should have answered" wraps rather than widen the grid */
td.refusal .tag { max-width: 10em; white-space: normal; }
svg.spark { display: block; }
svg.spark polyline { fill: none; stroke: #7b8da3; stroke-width: 1.3; }
svg.spark circle.bad { fill: var(--err); }
svg.spark circle.last { fill: var(--head); }
button.run { font: inherit; font-size: 12px; padding: 2px 8px; border-radius: 4px;
  border: 1px solid #c9d1da; background: #fff; cursor: pointer; color: var(--ink); }
button.run:hover { border-color: var(--accent); color: var(--accent); }
button.run[disabled] { opacity: .6; cursor: progress; }
.notice { background: var(--warn-bg); color: var(--warn); border: 1px solid #f2cf99;
  border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 12px 16px; margin-bottom: 14px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr));
  gap: 8px 24px; margin: 0; }
.facts div { min-width: 0; }
.facts dt { color: var(--muted); font-size: 11.5px; text-transform: uppercase;
  letter-spacing: .4px; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.exchange { display: flex; flex-direction: column; gap: 8px; }
.msg { border: 1px solid var(--line); border-left-width: 4px; border-radius: 4px;
  padding: 8px 12px; background: #fff; }
.msg .who { font-size: 11px; font-weight: 700; letter-spacing: .5px; color: var(--muted);
  text-transform: uppercase; margin-bottom: 3px; display: flex; gap: 10px; }
.msg pre { margin: 0; white-space: pre-wrap; word-break: break-word; font-family: var(--mono);
  font-size: 12.5px; }
.msg.system { border-left-color: #9aa8b8; background: #fafbfc; }
.msg.user { border-left-color: var(--accent); }
.msg.assistant { border-left-color: var(--ok); }
.msg.refusal { border-left-color: var(--warn); background: #fffaf2; }
.msg.failure { border-left-color: var(--err); background: #fff7f7; }
.waterfall { display: grid; grid-template-columns: 56px 1fr 390px; gap: 6px 12px;
  align-items: center; }
svg.wf-track { display: block; width: 100%; height: 18px; background: #f0f2f5;
  border-radius: 3px; }
.wf-numbers { font-size: 11.5px; }
.wf-connect { background: #9aa8b8; fill: #9aa8b8; }
.wf-wait { background: #8e6cc9; fill: #8e6cc9; }
.wf-first { background: #e39b3b; fill: #e39b3b; }
.wf-stream { background: #2f6fdb; fill: #2f6fdb; }
.wf-body { background: #2b9aa0; fill: #2b9aa0; }
.wf-failed { background: var(--err); fill: var(--err); }
.legend { display: flex; gap: 14px; color: var(--muted); font-size: 12px; margin-top: 8px;
  flex-wrap: wrap; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 5px; vertical-align: -1px; }
pre.detail { background: #1c2530; color: #e6edf3; padding: 10px 12px; border-radius: 4px;
  white-space: pre-wrap; word-break: break-word; font-size: 12px; margin: 6px 0 0; }
pre.config { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 12px 16px; font-size: 12px; overflow: auto; }
.empty { color: var(--muted); padding: 14px; text-align: center; }
.light { font-weight: 400; }
tr.current { background: #eef4ff; }
button.again { float: right; }
/* text from targets and users is isolated: a right-to-left override stays inside it */
bdi, pre, td.wrap, .facts dd { unicode-bidi: isolate; }
.toast { position: fixed; right: 20px; bottom: 20px; background: var(--head); color: #fff;
  padding: 8px 14px; border-radius: 6px; display: none; }
.grid-2 { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; }
@media (max-width: 1100px) { .grid-2 { grid-template-columns: 1fr; } }
/* the operator report on /insights (exporter/report/render.py) */
nav.since { display: flex; gap: 6px; margin-bottom: 12px; }
nav.since a { padding: 2px 8px; border: 1px solid var(--line); border-radius: 4px; }
nav.since a[aria-current] { background: var(--accent); color: #fff; }
.report h1 { font-size: 18px; }
.report h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.report table { width: auto; margin: 8px 0; }
.report svg.chart { display: block; max-width: 100%; height: auto; background: var(--panel);
  border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; }
.report .sev { font-weight: 600; padding: 1px 6px; border-radius: 3px; color: #fff; }
.report .sev.critical { background: var(--err); }
.report .sev.warning { background: var(--warn); }
.report .sev.info { background: var(--idle); }
.report .verdict.worse { color: var(--err); font-weight: 600; }
.report .verdict.better { color: var(--ok); }
.report figure { margin: 8px 0; }
.report figcaption { font-size: 12px; color: var(--muted); }
.report .nodata { color: var(--muted); font-style: italic; }
.report ol.findings li { margin: 6px 0; }
.report blockquote { margin: 4px 0; color: var(--muted); }
"""

JS = """
"use strict";
(function () {
  const live = document.getElementById("live");
  const stamp = document.getElementById("updated");
  const toggle = document.getElementById("pause");
  const every = Number(document.body.dataset.refresh || 0) * 1000;
  let paused = false;

  async function refresh() {
    if (paused || document.hidden || !live) return;
    try {
      const resp = await fetch(location.href, {headers: {"Accept": "text/html"}});
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = doc.getElementById("live");
      if (fresh) live.replaceChildren(...fresh.childNodes);
      if (stamp) stamp.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      if (stamp) stamp.textContent = "refresh failed: " + err.message;
    }
  }
  if (live && every > 0) setInterval(refresh, every);
  if (toggle) toggle.addEventListener("click", () => {
    paused = !paused;
    toggle.textContent = paused ? "resume" : "pause";
    toggle.setAttribute("aria-pressed", String(paused));
  });

  document.querySelectorAll("form.filters select").forEach((el) =>
    el.addEventListener("change", () => el.form.submit()));

  function toast(text) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.style.display = "block";
    setTimeout(() => { el.style.display = "none"; }, 4000);
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button.run");
    if (!button) return;
    const label = button.textContent;
    button.disabled = true;
    button.textContent = "running…";
    try {
      const root = document.body.dataset.root || "";
      const resp = await fetch(root + "api/v1/runs", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({target: button.dataset.target, canary: button.dataset.canary}),
      });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error || ("HTTP " + resp.status));
      location.href = root + "runs/" + body.run_id;
    } catch (err) {
      toast("run now failed: " + err.message);
      button.disabled = false;
      button.textContent = label;
    }
  });
})();
"""
