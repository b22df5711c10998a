"""The cost guard: rolling hour and day token budgets per target, on a fake clock."""

from __future__ import annotations

import logging

import pytest

from exporter.budget import BUCKET, Budgets, Ledger
from exporter.config import Budget, ConfigError, Message, parse_config


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_020.0  # a whole number of buckets: bucket starts are easy to read

    def now(self) -> float:
        return self.t


def samples(budgets: Budgets) -> dict[tuple[str, ...], float]:
    return {(m.name, *s.labels.values()): s.value for m in budgets.collect() for s in m.samples}


def test_ledger_counts_the_window_and_frees_as_buckets_age_out() -> None:
    ledger, t = Ledger(), 1_000_020.0
    ledger.spend(60, t)
    ledger.spend(50, t + 600)  # ten minutes later, another bucket
    assert ledger.used(3600, t + 600) == 110
    assert ledger.free_at(3600, 200, t + 600) is None  # under the limit
    # At 100: the first bucket must leave the hour; it does when its minute is an hour old.
    assert ledger.free_at(3600, 100, t + 600) == t + BUCKET + 3600
    assert ledger.free_at(3600, 40, t + 600) == t + 600 + BUCKET + 3600  # both must go
    assert ledger.used(3600, t + BUCKET + 3600) == 50


def test_ledger_memory_is_bounded_by_the_day() -> None:
    ledger, t = Ledger(), 0.0
    for minute in range(3 * 1440):
        ledger.spend(1, t + minute * BUCKET)
    assert len(ledger.buckets) <= 1441


def test_a_spent_hour_budget_holds_the_target_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    budgets = Budgets(clock.now)
    budgets.configure({"paid": Budget(tokens_per_hour=100)})
    budgets.spend("paid", 70)
    assert budgets.blocked_until("paid", clock.t) is None
    budgets.spend("paid", 40)
    with caplog.at_level(logging.WARNING):
        until = budgets.blocked_until("paid", clock.t)
    assert until == clock.t + BUCKET + 3600
    assert "token budget spent" in caplog.text
    assert samples(budgets)[("chatcanary_budget_exhausted", "paid")] == 1
    assert samples(budgets)[("chatcanary_budget_used_tokens", "paid", "hour")] == 110
    assert samples(budgets)[("chatcanary_budget_limit_tokens", "paid", "hour")] == 100
    clock.t = until
    assert budgets.blocked_until("paid", clock.t) is None
    assert samples(budgets)[("chatcanary_budget_exhausted", "paid")] == 0


def test_the_day_budget_holds_longer_than_the_hour() -> None:
    clock = Clock()
    budgets = Budgets(clock.now)
    budgets.configure({"paid": Budget(tokens_per_hour=1000, tokens_per_day=150)})
    budgets.spend("paid", 100)
    clock.t += 7200  # two hours later: the hour is clear, the day is not
    budgets.spend("paid", 60)
    until = budgets.blocked_until("paid", clock.t)
    assert until == 1_000_020.0 + BUCKET + 86400


def test_targets_without_a_budget_are_never_held_nor_shown() -> None:
    clock = Clock()
    budgets = Budgets(clock.now)
    budgets.configure({"paid": Budget(tokens_per_day=10)})
    budgets.spend("free", 10**9)
    assert budgets.blocked_until("free", clock.t) is None
    assert all(labels[1] == "paid" for labels in samples(budgets))


def test_a_reload_keeps_spending_of_targets_that_stay() -> None:
    clock = Clock()
    budgets = Budgets(clock.now)
    budgets.configure({"a": Budget(tokens_per_hour=100), "b": Budget(tokens_per_hour=100)})
    budgets.spend("a", 100)
    budgets.spend("b", 100)
    budgets.configure({"a": Budget(tokens_per_hour=50)})  # b removed, a's limit lowered
    assert budgets.blocked_until("a", clock.t) is not None
    assert budgets.blocked_until("b", clock.t) is None
    budgets.configure({"a": Budget(tokens_per_hour=100), "b": Budget(tokens_per_hour=100)})
    assert budgets.blocked_until("b", clock.t) is None, "b's old spending was dropped"


BASE = """
targets:
  - {name: a, protocol: openai, base_url: "http://x/v1", model: m}
  - {name: b, protocol: openai, base_url: "http://x/v1", model: m, budget: {tokens_per_day: 5}}
canaries: [{name: c, prompt: hi}]
"""


def test_config_budgets_default_and_override() -> None:
    config = parse_config("defaults: {budget: {tokens_per_hour: 900}}\n" + BASE, "t.yaml")
    assert config.budgets() == {
        "a": Budget(tokens_per_hour=900),
        "b": Budget(tokens_per_day=5),
    }
    assert parse_config(BASE, "t.yaml").budgets() == {"b": Budget(tokens_per_day=5)}


def test_an_empty_budget_is_a_config_error_with_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("defaults:\n  budget: {}\n" + BASE, "t.yaml")
    (message,) = caught.value.messages
    assert message.startswith("t.yaml:2: defaults.budget")
    assert "tokens_per_hour, tokens_per_day or both" in message


@pytest.mark.parametrize("protocol", ["openai", "azure_openai", "anthropic", "ollama"])
def test_every_dialect_always_sends_a_token_cap(protocol: str) -> None:
    """The other half of the cost guard: no request goes out without `max_tokens`."""
    from exporter.protocols import anthropic, ollama, openai

    config = parse_config(
        f"targets: [{{name: t, protocol: {protocol}, base_url: 'http://x', model: m}}]\n"
        "canaries: [{name: c, prompt: hi}]\n",
        "t.yaml",
    )
    spec = config.plan()[("t", "c")]
    messages = [Message(role="user", content="hi")]
    body = {
        "openai": openai.request_body,
        "azure_openai": openai.request_body,
        "anthropic": anthropic.request_body,
        "ollama": ollama.request_body,
    }[protocol](spec, messages)
    cap = body["options"]["num_predict"] if protocol == "ollama" else body["max_tokens"]
    assert cap == 64  # the default, never absent
