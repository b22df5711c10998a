"""The comparison's schedule, what it may spend and what its runs can detect."""

from __future__ import annotations

import pytest

from exporter.compare.plan import (
    ASSUMED_RATE,
    BASELINE,
    CANDIDATE,
    PlanError,
    detectability,
    dry_run_text,
    make_plan,
)
from exporter.config import Compare, Config, parse_config
from exporter.stats import detectable_rate_change

CONFIG = """
defaults: {max_tokens: 10}
targets:
  - {name: a, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: ma}
  - {name: b, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: mb}
  - {name: only, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: mo}
canaries:
  - {name: one, prompt: "12345678"}
  - name: two
    turns: [{user: "1234"}, {user: "12345678"}]
  - {name: elsewhere, prompt: hi, targets: [only]}
"""


def config() -> Config:
    return parse_config(CONFIG, "t.yaml")


def test_runs_are_interleaved_and_alternate_which_target_goes_first() -> None:
    plan = make_plan(config(), "a", "b", None, 2)
    assert plan.canaries == ("one", "two")  # `elsewhere` does not watch `a`
    order = [(s.round, s.spec.canary.name, s.side) for s in plan.slots]
    assert order == [
        (0, "one", BASELINE),
        (0, "one", CANDIDATE),
        (0, "two", CANDIDATE),
        (0, "two", BASELINE),
        (1, "one", CANDIDATE),
        (1, "one", BASELINE),
        (1, "two", BASELINE),
        (1, "two", CANDIDATE),
    ]
    assert {s.spec.target.name for s in plan.slots if s.side == CANDIDATE} == {"b"}


def test_requests_and_tokens_by_hand() -> None:
    plan = make_plan(config(), "a", "b", None, 3)
    # per round and target: `one` one request, `two` two
    assert plan.requests == 3 * 2 * 3
    # `one`: 8 characters = 2 tokens in, 10 out. `two`: turn 1 has 4 characters (1 token),
    # turn 2 carries turn 1, its answer (10 tokens = 40 characters) and 8 more: 52
    # characters = 13 tokens; 20 out.
    per_target_round = (2 + 1 + 13, 10 + 20)
    assert plan.tokens(BASELINE) == (3 * per_target_round[0], 3 * per_target_round[1])
    assert plan.tokens() == (6 * per_target_round[0], 6 * per_target_round[1])


@pytest.mark.parametrize(
    ("baseline", "candidate", "canaries", "runs", "message"),
    [
        ("a", "x", None, 5, "unknown target 'x'"),
        ("a", "a", None, 5, "name the same target"),
        ("a", "b", ["nope"], 5, "unknown canary 'nope'"),
        ("a", "b", None, 0, "--runs must be at least 1"),
    ],
)
def test_usage_errors(
    baseline: str, candidate: str, canaries: list[str] | None, runs: int, message: str
) -> None:
    with pytest.raises(PlanError, match=message):
        make_plan(config(), baseline, candidate, canaries, runs)


def test_a_named_canary_runs_even_where_it_does_not_watch() -> None:
    plan = make_plan(config(), "a", "b", ["elsewhere", "elsewhere"], 1)
    assert plan.canaries == ("elsewhere",) and len(plan.slots) == 2


def test_detectability_and_the_runs_it_takes() -> None:
    plan = make_plan(config(), "a", "b", None, 5)
    found = {d.metric: d for d in detectability(plan, Compare())}
    per_canary = found["error_rate (per canary)"]
    assert per_canary.n == 5 and found["error_rate (overall)"].n == 10
    assert per_canary.smallest == detectable_rate_change(5, ASSUMED_RATE)
    assert not per_canary.enough
    needed = per_canary.needed
    assert needed is not None
    # the fewest runs: that many detect 2pp, one fewer do not
    assert detectable_rate_change(needed, ASSUMED_RATE) <= 0.02
    assert detectable_rate_change(needed - 1, ASSUMED_RATE) > 0.02
    loose = {d.metric: d for d in detectability(plan, Compare(max_error_increase="90pp"))}
    assert loose["error_rate (overall)"].enough


def test_dry_run_text_warns_of_a_budget_too_small() -> None:
    plan = make_plan(config(), "a", "b", None, 5)
    text = dry_run_text(plan, Compare(), {"b": 100})
    assert "requests   30 " in text
    assert "b: up to" in text and "tokens_per_hour (100)" in text
    assert "a: up to" not in text
