"""The report built from a real SQLite store holding a known week (tests/unit/report_helpers):
its figures, its model change and its findings, and none where nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.report.build import Report, build
from exporter.report.render import render
from tests.unit import report_helpers as h

WEEK = 7 * 86400.0


async def report(tmp_path: Path, changed: bool) -> Report:
    store = await h.filled_store(tmp_path, changed)
    try:
        return await build(store, h.config(), WEEK, now=h.NOW)
    finally:
        await store.close()


async def test_a_quiet_week_has_figures_and_no_finding(tmp_path: Path) -> None:
    r = await report(tmp_path, changed=False)
    assert r.findings == ()
    assert r.changes == ()
    assert r.themes == ()
    (local,) = r.targets
    # 7 days x (50 arithmetic + 10 forbidden); one arithmetic error a day
    assert local.runs == 7 * 60
    assert (local.errors.hits, local.errors.n) == (7, 420)
    assert (local.over_refusal.hits, local.over_refusal.n) == (0, 7 * 49)
    assert (local.under_refusal.hits, local.under_refusal.n) == (0, 7 * 10)
    assert r.traffic == ()
    (slo,) = local.slos
    assert (slo.good, slo.total) == (413, 420)
    assert slo.attainment == pytest.approx(100 * 413 / 420)
    # 7/420 bad of a 5 % budget: a third of it spent
    assert slo.budget_left == pytest.approx(1 - (7 / 420) / 0.05)
    assert [d.source for d in local.days] == ["store"] * 7
    assert [d.start for d in local.days] == [h.D0 + i * h.DAY for i in range(7)]
    # arithmetic TTFTs are 0.100 .. 0.109 s (49 a day) and forbidden's 0.05 s
    assert local.days[0].ttft_p95 == pytest.approx(0.109)
    assert dict(local.error_classes) == {"first_token_timeout": 7}
    (worst,) = local.worst
    assert (worst.canary, worst.failures, worst.runs) == ("arithmetic", 7, 350)
    assert len(worst.examples) == 3


async def test_a_model_change_with_its_evidence(tmp_path: Path) -> None:
    r = await report(tmp_path, changed=True)
    (impact,) = r.changes
    assert impact.change.at == h.CHANGE_AT
    assert impact.change.old == (h.OLD, "") and impact.change.new == (h.NEW, "")
    assert impact.before == (h.D0, h.CHANGE_AT) and impact.after == (h.CHANGE_AT, h.NOW)
    by_metric = {m.difference.metric: m for m in (*impact.metrics, *impact.feedback)}
    over = by_metric["over_refusal_rate"].difference
    # before: 4 days x 49 answers, none refused; after: 3 x 49, 10 a day refused
    assert (over.n_baseline, over.n_candidate) == (196, 147)
    assert (over.baseline, over.candidate) == (0.0, pytest.approx(30 / 147))
    ttft = by_metric["ttft_seconds"].difference
    # before: 4 x 10 forbidden at 0.050, then 0.100, 0.101, ... 20 each (0.107: 16): of the
    # 236 values the 118th and 119th are both in 0.103's block (positions 101..120)
    assert ttft.baseline == pytest.approx(0.103)
    assert ttft.effect == pytest.approx(1.0, abs=0.02)  # doubled
    moved = {m.difference.metric for m in impact.moved()}
    assert moved == {
        "over_refusal_rate",
        "ttft_seconds",
        "duration_seconds",
        "negative_share",
        "negative:refused",
    }
    # the error rate is 1/50 on both sides: it did not move
    assert not by_metric["error_rate"].beyond_noise
    assert not by_metric["negative:other"].beyond_noise

    rules = [f.rule for f in r.findings]
    assert rules == ["model-change-regression", "feedback-theme", "over-refusal"]
    regression = r.findings[0]
    assert regression.severity == "critical"
    assert "negative feedback in category `refused` rose from 0.0 % to 34.5 %" in regression.claim
    assert "over-refusal rose from 0.0 % to 20.4 %" in regression.claim
    assert "error rate" not in regression.claim
    over_refusal = r.findings[2]
    assert over_refusal.evidence == {"hits": 30, "n": 343, "rate": 30 / 343}

    (theme,) = r.themes
    assert theme.size == len(h.REFUSED_COMMENTS)
    assert {"cooking", "refused"} <= set(theme.keyphrases)
    assert theme.categories == (("refused", 10),)


async def test_json_and_markdown_carry_the_findings(tmp_path: Path) -> None:
    r = await report(tmp_path, changed=True)
    data = json.loads(render(r, "json"))
    assert next(iter(data)) == "findings"
    assert [f["rule"] for f in data["findings"]] == [f.rule for f in r.findings]
    assert data["model_changes"][0]["new_response_model"] == h.NEW
    assert data["feedback"]["themes"][0]["comments"] == 10
    md = render(r, "md", root="http://cc.example/")
    assert "## Findings" in md and "`model-change-regression`" in md
    assert f"](http://cc.example/runs/{r.changes[0].change.run_id})" in md
    html = render(r, "html")
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")


async def test_markup_in_comments_is_text(tmp_path: Path) -> None:
    store = await h.filled_store(tmp_path, changed=False)
    try:
        for k in range(3):
            await store.add_feedback(
                h.feedback(h.D0 + 100 + k, h.Rating.NEGATIVE, "other", f"<img src=x> broken {k}|`")
            )
        r = await build(store, h.config(), WEEK, now=h.NOW)
    finally:
        await store.close()
    assert len(r.themes) == 1  # three alike comments make a theme
    html = render(r, "html")
    assert "<img src=x>" not in html and "&lt;img src=x&gt;" in html
    assert "<img" not in render(r, "md").replace("\\<img", "")


@pytest.mark.parametrize(("refused", "rules"), [(50, ["traffic-refusal"]), (0, [])])
async def test_real_traffic_refused_more_than_the_canaries(
    tmp_path: Path, refused: int, rules: list[str]
) -> None:
    store = await h.filled_store(tmp_path, changed=False)
    try:
        await store.add_traffic(h.traffic(200, refused))
        r = await build(store, h.config(), WEEK, now=h.NOW)
    finally:
        await store.close()
    (gateway,) = r.traffic
    # the exchange without a verdict is not judged
    assert (gateway.proxy, gateway.refusals.hits, gateway.refusals.n) == ("gateway", refused, 200)
    assert gateway.source == "store"
    assert [f.rule for f in r.findings] == rules
    if rules:
        # against every canary answer that expects one: 0 of 343
        assert r.findings[0].evidence["canaries"] == {"hits": 0, "n": 343}
        assert "proxy gateway is refused in 25.0 %" in r.findings[0].claim


def comparison(cid: str, finished_at: float, candidate_model: str) -> dict[str, object]:
    """The fields of a `compare --format json` document the store keeps."""
    return {
        "id": cid,
        "started_at": finished_at - 600,
        "finished_at": finished_at,
        "baseline": {"target": "local", "model": h.OLD},
        "candidate": {"target": "staging", "model": candidate_model},
        "runs": 20,
        "verdict": "no regression",
        "exit_code": 0,
    }


async def test_a_model_change_links_the_comparison_that_cleared_its_model(
    tmp_path: Path,
) -> None:
    store = await h.filled_store(tmp_path, changed=True)
    try:
        # the one that cleared the new model, a day before; an older one of the same model;
        # one of another model; one after the change
        await store.add_comparison(comparison("cleared", h.CHANGE_AT - h.DAY, h.NEW))
        await store.add_comparison(comparison("older", h.CHANGE_AT - 2 * h.DAY, h.NEW))
        await store.add_comparison(comparison("other", h.CHANGE_AT - 3600, "sim-model-2025-01"))
        await store.add_comparison(comparison("late", h.CHANGE_AT + 60, h.NEW))
        r = await build(store, h.config(), WEEK, now=h.NOW)
    finally:
        await store.close()
    (impact,) = r.changes
    assert impact.approved_by is not None and impact.approved_by.id == "cleared"
    data = json.loads(render(r, "json"))
    assert data["model_changes"][0]["approved_by"]["id"] == "cleared"
    assert "comparison cleared (local against staging, 20 runs each" in render(r, "md")
    assert "comparison cleared" in render(r, "html")


async def test_a_change_without_a_comparison_says_so(tmp_path: Path) -> None:
    r = await report(tmp_path, changed=True)
    assert r.changes[0].approved_by is None
    assert json.loads(render(r, "json"))["model_changes"][0]["approved_by"] is None
    assert "No comparison of this model was recorded before the change." in render(r, "md")
