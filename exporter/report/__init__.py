"""The operator report: what the canaries saw, what changed with each model update, what
users said, and the findings an operator should act on.

    from exporter.report.build import build
    from exporter.report.render import render

    report = await build(store, config, since=7 * 86400, prometheus="http://prom:9090")
    text = render(report, "html")      # or "md", "json"

Read side only: the store (and Prometheus's HTTP API when given) in, a `Report` out.
Modules: build (`Report` and `build`), gather (the store's rows), prom (Prometheus),
summary (per-target figures), changes (before/after each model change, with
exporter.stats), themes (negative feedback comments), findings (the rules), charts and
render (HTML, Markdown, JSON), schedule (the scheduled report: `run` starts it, and it
imports the rest only when a report is due). This file imports nothing, so `run` loads
only the schedule.
"""
