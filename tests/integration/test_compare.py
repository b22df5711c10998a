"""`chatcanary compare` as a pipeline runs it: a real subprocess against the simulator, with
two scripted models. The effects are scripted large (every run refused, every answer
broken, 4x the time to first token) and the runs enough (20 per side, the statistics'
minimum for rates), so each verdict is certain, not likely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.simulator import Behaviour
from exporter.simulator.scenarios import HARMFUL
from tests.integration.chromium import Chromium
from tests.integration.conftest import Sim, binary
from tests.integration.test_cli import chatcanary, write

RUNS = "20"
CONFIG = """
defaults: {{timeout: 10s}}
targets:
  - {{name: current, protocol: openai, base_url: "{url}/v1", model: base}}
  - {{name: next, protocol: openai, base_url: "{url}/v1", model: cand}}
canaries:
  - name: capital
    prompt: "Reply in JSON: an object with \\"city\\" (string) for the capital of France."
    expect_refusal: false
    deterministic: true
    checks:
      - json: true
        schema: {{type: object, required: [city]}}
store: {{url: "sqlite:///{db}"}}
"""
# token pacing slow enough that the loop's jitter (a millisecond) is noise in tokens/s
BASE = Behaviour(ttft=0.1, token_interval=0.03, refusal_pattern=HARMFUL)


def config(sim: Sim, tmp_path: Path) -> str:
    return write(tmp_path, CONFIG.format(url=sim.url, db=tmp_path / "store.db"))


async def compare(path: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = await chatcanary(
        "compare", "-c", path, "--baseline", "current", "--candidate", "next",
        "--concurrency", "8", "--format", "json", *extra, timeout=120,
    )  # fmt: skip
    assert code in (0, 1), err
    return code, json.loads(out), err


def verdicts(document: dict[str, Any], scope: str = "capital") -> dict[str, str]:
    found = next(s for s in document["scopes"] if s["name"] == scope)
    return {m["metric"]: m["verdict"] for m in found["metrics"]}


async def test_the_same_behaviour_is_no_regression(simulator: Sim, tmp_path: Path) -> None:
    for model in ("base", "cand"):
        simulator.sim.set_behaviour(model, BASE)
    code, document, err = await compare(config(simulator, tmp_path), "--runs", RUNS)
    assert code == 0, err
    assert document["verdict"] == "no difference"
    assert document["regressions"] == [] and document["inconclusive"] == []
    rates = verdicts(document)
    for metric in ("success_rate", "error_rate", "over_refusal_rate", "answer_drift"):
        assert rates[metric] == "no difference"
    assert rates["check_failure_rate:json"] == "no difference"
    capital = next(s for s in document["scopes"] if s["name"] == "capital")
    assert capital["baseline"]["runs"] == capital["candidate"]["runs"] == 20
    assert capital["answers_differ"] is False


@pytest.mark.parametrize(
    ("candidate", "metric", "effect"),
    [
        (Behaviour(ttft=0.4, refusal_pattern=HARMFUL), "ttft_seconds", 3.0),
        (Behaviour(ttft=0.1, refusal_pattern="(?i)capital"), "over_refusal_rate", 1.0),
        (Behaviour(ttft=0.1, answer="The city is Paris."), "check_failure_rate:json", 1.0),
        (Behaviour(ttft=0.1, faults={"http_500": 1.0}), "error_rate", 1.0),
    ],
    ids=["slower-ttft", "more-refusals", "broken-json", "more-errors"],
)
async def test_a_worse_candidate_is_a_regression_of_the_right_metric(
    simulator: Sim, tmp_path: Path, candidate: Behaviour, metric: str, effect: float
) -> None:
    simulator.sim.set_behaviour("base", BASE)
    simulator.sim.set_behaviour("cand", candidate)
    code, document, err = await compare(config(simulator, tmp_path), "--runs", RUNS)
    assert code == 1
    assert document["verdict"] == "regression" and document["exit_code"] == 1
    assert f"capital/{metric}" in document["regressions"]
    assert f"overall/{metric}" in document["regressions"]
    row = next(
        m for s in document["scopes"] if s["name"] == "capital" for m in s["metrics"]
        if m["metric"] == metric
    )  # fmt: skip
    # rates: every run, so the whole effect; 4x the scripted time to first token is at
    # most +300 %, less by what connection and a loaded loop add to both sides alike: on a
    # busy machine that is tens of milliseconds, so only "far beyond the 20 % threshold"
    # is certain
    floor = 1.0 if metric == "ttft_seconds" else effect * 0.8
    assert floor <= row["effect"] <= effect + 1e-9
    assert row["p_adjusted"] < 0.05
    assert f"regression: capital {metric}" in err


async def test_too_few_runs_cannot_tell_and_only_fail_when_asked(
    simulator: Sim, tmp_path: Path
) -> None:
    simulator.sim.set_behaviour("base", BASE)
    simulator.sim.set_behaviour("cand", Behaviour(ttft=0.4, refusal_pattern=HARMFUL))
    path = config(simulator, tmp_path)
    code, document, err = await compare(path, "--runs", "3")
    assert code == 0
    assert document["verdict"] == "cannot tell"
    assert verdicts(document)["ttft_seconds"] == "cannot tell"
    assert "capital/ttft_seconds" in document["inconclusive"]
    assert "warning: cannot tell" in err
    code, document, err = await compare(path, "--runs", "3", "--fail-on-inconclusive")
    assert code == 1 and document["exit_code"] == 1
    assert document["regressions"] == []


async def test_the_comparison_is_recorded_in_the_store(simulator: Sim, tmp_path: Path) -> None:
    from exporter.config import load_config
    from exporter.store import Store, locate

    for model in ("base", "cand"):
        simulator.sim.set_behaviour(model, BASE)
    path = config(simulator, tmp_path)
    _, document, _ = await compare(path, "--runs", "2")
    settings = load_config(path).store
    store = Store(locate(settings, tmp_path), settings)
    await store.open(background=False, maintain=False)
    try:
        kept = await store.comparisons(target="next")
    finally:
        await store.close(0)
    assert [c.id for c in kept] == [document["id"]]
    assert kept[0].baseline == ("current", "base") and kept[0].candidate == ("next", "cand")
    assert kept[0].verdict == document["verdict"] and kept[0].summary == document


async def test_dry_run_spends_nothing_and_says_what_runs_can_detect(
    simulator: Sim, tmp_path: Path
) -> None:
    code, out, err = await chatcanary(
        "compare", "-c", config(simulator, tmp_path), "--baseline", "current",
        "--candidate", "next", "--runs", "5", "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    # 5 runs x 2 targets x 1 one-turn canary; answers of max_tokens (64) each
    assert "requests   10 " in out
    assert "640 output at max_tokens" in out
    assert "error_rate (per canary)" in out and "no; needs about" in out
    assert simulator.sim.received("base") == [] and simulator.sim.received("cand") == []
    assert not (tmp_path / "store.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "current", "--candidate", "nowhere"], "unknown target 'nowhere'"),
        (["--baseline", "current", "--candidate", "current"], "name the same target"),
        (["--baseline", "current", "--candidate", "next", "--canary", "x"], "unknown canary 'x'"),
        (["--baseline", "current", "--candidate", "next", "--runs", "0"], "must be at least 1"),
    ],
)
async def test_usage_errors_exit_2(
    simulator: Sim, tmp_path: Path, args: list[str], message: str
) -> None:
    code, out, err = await chatcanary("compare", "-c", config(simulator, tmp_path), *args)
    assert code == 2 and message in err and out == ""


async def test_a_bad_threshold_names_its_line_and_exits_2(simulator: Sim, tmp_path: Path) -> None:
    path = Path(config(simulator, tmp_path))
    path.write_text(path.read_text() + "compare:\n  max_ttft_increase: 2pp\n")
    code, _, err = await chatcanary(
        "compare", "-c", str(path), "--baseline", "current", "--candidate", "next"
    )
    assert code == 2
    assert err.strip() == (
        f"{path}:16: compare.max_ttft_increase: write it with its unit, e.g. 20%"
    )


async def test_the_html_page_shows_both_distributions_in_chromium(
    simulator: Sim, tmp_path: Path
) -> None:
    simulator.sim.set_behaviour("base", BASE)
    simulator.sim.set_behaviour("cand", Behaviour(ttft=0.4, answer="<b>not json</b> & more"))
    page = tmp_path / "compare.html"
    code, _, err = await chatcanary(
        "compare", "-c", config(simulator, tmp_path), "--baseline", "current",
        "--candidate", "next", "--runs", "12", "--concurrency", "8", "--format", "html",
        "-o", str(page), timeout=120,
    )  # fmt: skip
    assert code == 1, err
    browser = Chromium(binary("chromium", "chromium"), tmp_path / "profile")
    await browser.start()
    try:
        await browser.goto(page.as_uri())
        title = await browser.evaluate("document.querySelector('h1').textContent")
        assert title == "compare current → next: regression"
        plots = await browser.evaluate(
            "[...document.querySelectorAll('#scope-capital ~ .dists svg.dist')]"
            ".map(s => [s.dataset.metric, s.querySelectorAll('circle.base').length,"
            " s.querySelectorAll('circle.cand').length, s.getBoundingClientRect().width])"
        )
        ttft = next(p for p in plots if p[0] == "ttft_seconds")
        assert ttft[1] == 12 and ttft[2] == 12 and ttft[3] > 300  # drawn, side by side
        answers = await browser.evaluate(
            "[...document.querySelectorAll('.answers pre')].map(p => p.textContent)"
        )
        assert answers == ['{"city": "Paris"}', "<b>not json</b> & more"]  # escaped, not markup
        assert await browser.evaluate("document.querySelectorAll('.answers b').length") == 0
        regressed = await browser.evaluate(
            "[...document.querySelectorAll('tr[data-verdict=regression]')]"
            ".map(r => r.dataset.metric)"
        )
        assert "ttft_seconds" in regressed
        # self-contained: nothing loaded from anywhere
        assert await browser.evaluate("performance.getEntriesByType('resource').length") == 0
        await browser.screenshot(tmp_path / "compare.png")
    finally:
        await browser.stop()


async def test_the_cost_guard_stops_runs_of_a_target_over_its_budget(
    simulator: Sim, tmp_path: Path
) -> None:
    for model in ("base", "cand"):
        simulator.sim.set_behaviour(model, BASE)
    path = Path(config(simulator, tmp_path))
    text = path.read_text().replace("model: cand}", "model: cand, budget: {tokens_per_hour: 1}}")
    path.write_text(text)
    code, document, _ = await compare(str(path), "--runs", "4", "--concurrency", "1")
    assert code == 0
    # the first run spends more than one token; every later run of `next` waits in vain
    assert document["skipped"] == {"next": 3}
    assert len(simulator.sim.received("cand")) == 1
