"""'Did you mean': exporter/suggest.py (the config's messages are in test_config.py's
bad cases)."""

from __future__ import annotations

import pytest

from exporter.checkspecs import CHECK_KINDS
from exporter.config import Config
from exporter.suggest import closest, keys_at


@pytest.mark.parametrize(
    ("word", "names", "meant"),
    [
        ("baseurl", ["base_url", "model"], "base_url"),
        ("baseURL", ["base_url", "model"], "base_url"),
        ("base-url", ["base_url", "model"], "base_url"),
        ("modle", ["base_url", "model"], "model"),
        ("contain", CHECK_KINDS, "contains"),
        ("alerting", ["targets", "canaries", "slos"], None),  # too far to be a typo
        ("model", ["model"], None),  # the name itself is no suggestion
    ],
)
def test_closest(word: str, names: list[str], meant: str | None) -> None:
    assert closest(word, names) == meant


def test_keys_at_follows_lists_optionals_and_a_checks_kind_tag() -> None:
    assert {"name", "protocol", "base_url", "api_key"} <= set(keys_at(Config, ["targets", 0]))
    assert set(keys_at(Config, ["defaults", "budget"])) == {"tokens_per_hour", "tokens_per_day"}
    # the tag names the variant; its aliases (`json`, `schema`) are what a file says
    assert set(keys_at(Config, ["canaries", 0, "checks", 0, "json"])) == {
        "name",
        "json",
        "schema",
        "allow_fences",
    }
    assert keys_at(Config, ["nowhere"]) == []
