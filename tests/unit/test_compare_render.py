"""The comparison as a table, JSON and a self-contained page."""

from __future__ import annotations

import json
import math

from exporter.compare import page, render
from exporter.compare.analyse import Comparison, Verdict, analyse
from exporter.compare.collect import Collected
from exporter.config import Compare
from tests.unit.test_compare_analyse import plan, run


def comparison() -> Comparison:
    base = [run("a", text="<script>alert(1)</script>") for _ in range(20)]
    cand = [run("b", ttft=0.5, text="fine") for _ in range(19)] + [run("b", error=True)]
    return analyse(
        plan(["ask"]),
        Collected(base, cand),
        Compare(),
        exact=False,
    )


def test_the_table_shows_each_metric_and_the_verdict() -> None:
    c = comparison()
    text = render.table(c)
    lines = text.splitlines()
    assert lines[0] == "compare a (ma) -> b (mb): 20 runs per canary and target"
    ttft = next(line for line in lines if line.strip().startswith("ttft_seconds"))
    # medians 100 ms and 500 ms: +400 %
    assert "100ms" in ttft and "500ms" in ttft and "+400%" in ttft and "REGRESSION" in ttft
    assert "error classes (baseline/candidate): http_5xx 0/1" in text
    assert "verdict: REGRESSION" in text
    assert "regression: ask ttft_seconds +400% (threshold +20%" in text


def test_json_is_strict_and_complete() -> None:
    c = comparison()
    document = json.loads(render.json_text(c, c.exit_code(), "abc"))  # no NaN allowed
    assert document["id"] == "abc" and document["exit_code"] == 1
    assert document["verdict"] == "regression"
    assert "ask/ttft_seconds" in document["regressions"]
    ask = document["scopes"][0]
    assert ask["candidate"]["error_classes"] == {"http_5xx": 1}
    assert ask["baseline"]["percentiles"]["ttft_seconds"]["p50"] == 0.1
    metric = next(m for m in ask["metrics"] if m["metric"] == "ttft_seconds")
    assert metric["effect_unit"] == "relative" and metric["effect"] == 4.0
    assert metric["test"] == "mann_whitney" and metric["verdict"] == "regression"
    assert render._number(math.nan) is None and render._number(math.inf) is None


def test_the_page_escapes_answers_and_loads_nothing() -> None:
    c = comparison()
    html = page.html(c, 1, "abc")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "src=" not in html and "href=" not in html and "@import" not in html
    assert html.count('<svg class="dist"') == 2 * 4  # ask and overall, four distributions
    assert 'data-verdict="regression"' in html
    assert c.verdict is Verdict.REGRESSION
