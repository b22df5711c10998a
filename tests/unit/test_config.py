"""The configuration: exporter/config.py and the line-aware YAML loading in yamlsource.py."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from exporter.checkspecs import Contains, MaxDuration, MaxTTFT, Regex, parse_duration
from exporter.config import (
    _DURATION_BUCKETS,
    _TTFT_BUCKETS,
    Config,
    ConfigError,
    Message,
    Protocol,
    load_config,
    parse_config,
)
from exporter.protocols.openai import openai_request

TESTDATA = Path(__file__).parent / "testdata"
BAD = sorted((TESTDATA / "bad").glob("*.yaml"))
DEMO = Path(__file__).parents[2] / "examples" / "demo.yaml"

# Variables the bad configs may use; everything else is unset.
BAD_ENV = {"CHATCANARY_TEST_HOST": "127.0.0.1"}

MINIMAL = """\
defaults:
  interval: 60s
  timeout: 30s
  max_tokens: 64
targets:
  - name: local
    protocol: openai
    base_url: http://127.0.0.1:8000/v1
    model: gpt-4o-mini
    api_key: ${OPENAI_API_KEY}
    stream: true
canaries:
  - name: arithmetic
    interval: 30s
    timeout: 10s
    messages:
      - {role: user, content: "What is 17+25? Answer with the number only."}
    checks:
      - contains: "42"
"""


def config(text: str, environ: dict[str, str] | None = None) -> Config:
    return parse_config(
        textwrap.dedent(text), "test.yaml", environ={} if environ is None else environ
    )


def errors(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config(text, environ)
    return info.value.messages


def conversation(body: str) -> str:
    """A valid config whose one canary is `body` (without a prompt)."""
    return one_target(canary=body).replace("    prompt: hi\n", "", 1)


def one_target(extra: str = "", canary: str = "") -> str:
    """A valid config with room for extra target keys and extra canary keys."""
    return (
        "targets:\n"
        "  - name: t\n"
        "    protocol: openai\n"
        "    base_url: http://127.0.0.1:8000/v1\n"
        "    model: m\n" + textwrap.indent(textwrap.dedent(extra), "    ") + "canaries:\n"
        "  - name: c\n"
        "    prompt: hi\n" + textwrap.indent(textwrap.dedent(canary), "    ")
    )


# --- bad configs: exact messages ---------------------------------------------------------


def test_there_are_enough_bad_cases() -> None:
    assert len(BAD) >= 12
    for path in BAD:
        assert path.with_suffix(".expected").is_file(), f"{path.name} has no .expected"


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(TESTDATA)  # a case's includes are read relative to its name
    name = path.relative_to(TESTDATA).as_posix()
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as info:
        parse_config(path.read_text(encoding="utf-8"), name, environ=BAD_ENV)
    assert info.value.messages == expected
    assert str(info.value) == "\n".join(expected)


def test_load_config_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.messages == [f"{missing}: cannot read config: No such file or directory"]


def test_load_config_uses_the_path_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "chatcanary.yaml"
    path.write_text(one_target(extra="protocol_version: 2\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.messages == [f"{path}:6: targets[0].protocol_version: unknown key"]


# --- good configs ------------------------------------------------------------------------


def test_minimal_config_from_the_design_doc() -> None:
    cfg = config(MINIMAL, {"OPENAI_API_KEY": "sk-test-123"})
    (target,) = cfg.targets
    assert target.protocol is Protocol.OPENAI
    assert target.base_url == "http://127.0.0.1:8000/v1"
    assert target.api_key is not None
    assert target.api_key.get_secret_value() == "sk-test-123"
    (canary,) = cfg.canaries
    assert canary.preamble() == ()
    assert canary.user_turns() == ("What is 17+25? Answer with the number only.",)
    assert canary.checks == [Contains(contains="42")]

    plan = cfg.plan()
    assert list(plan) == [("local", "arithmetic")]
    spec = plan["local", "arithmetic"]
    assert (spec.interval, spec.timeout, spec.connect_timeout) == (30.0, 10.0, 5.0)
    assert (spec.first_token_timeout, spec.max_tokens, spec.stream) == (10.0, 64, True)


def test_minimal_config_without_its_api_key_variable() -> None:
    assert errors(MINIMAL) == ["test.yaml:10: environment variable OPENAI_API_KEY is not set"]


@pytest.mark.parametrize(
    ("environ", "base_url"),
    [
        ({}, "http://127.0.0.1:8000/v1"),
        ({"CHATCANARY_SIMULATOR_URL": "http://127.0.0.1:49152"}, "http://127.0.0.1:49152/v1"),
    ],
    ids=["simulator-url-unset", "simulator-url-set"],
)
def test_demo_config_is_valid(environ: dict[str, str], base_url: str) -> None:
    assert DEMO.resolve().parts[-3:] == ("exporter", "data", "demo.yaml")
    cfg = load_config(DEMO, environ=environ)
    assert len(cfg.targets) >= 2
    assert {t.base_url for t in cfg.targets} == {base_url}
    plan = cfg.plan()
    targets = {t.name for t in cfg.targets}
    for canary in cfg.canaries:
        runs_on = {t for t, c in plan if c == canary.name}
        assert runs_on == (targets if canary.targets is None else set(canary.targets))


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1.5s", 1.5),
        ("1h2m3s", 3723.0),
        (" 45s ", 45.0),
        (45, 45),
        (2.5, 2.5),
    ],
    ids=str,
)
def test_parse_duration(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["30x", "", "s", "30S", "1 m", "-1s", "1m-30s", "30s!", "ms30", "1e3s"],
    ids=repr,
)
def test_parse_duration_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("yaml_value", "seconds"),
    [("250ms", 0.25), ("1m30s", 90.0), ("2h", 7200.0), ("45", 45.0), ("0.5", 0.5)],
    ids=["250ms", "1m30s", "2h", "plain-int", "plain-float"],
)
def test_durations_in_a_config(yaml_value: str, seconds: float) -> None:
    cfg = config(f"defaults:\n  interval: {yaml_value}\n" + one_target())
    assert cfg.defaults.interval == pytest.approx(seconds)
    assert cfg.plan()["t", "c"].interval == pytest.approx(seconds)


def test_duration_from_an_environment_variable() -> None:
    # Interpolation makes every value a string: `30` from the environment is "30".
    text = "defaults:\n  interval: ${INTERVAL:-30}\n  timeout: ${TIMEOUT}\n" + one_target()
    cfg = config(text, {"TIMEOUT": "12"})
    assert cfg.defaults.interval == 30.0
    assert cfg.defaults.timeout == 12.0


def test_quoted_plain_number_duration() -> None:
    cfg = config("defaults:\n  timeout: '20'\n" + one_target())
    assert cfg.defaults.timeout == 20.0


def test_boolean_is_not_a_duration() -> None:
    messages = errors("defaults:\n  interval: true\n" + one_target())
    assert len(messages) == 1
    assert messages[0].startswith("test.yaml:2: defaults.interval: ")


# --- environment variables ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "environ", "expected"),
    [
        ("${MODEL}", {"MODEL": "gpt-4o"}, "gpt-4o"),
        ("${MODEL:-fallback}", {}, "fallback"),
        ("${MODEL:-fallback}", {"MODEL": "gpt-4o"}, "gpt-4o"),
        ("prefix-${MODEL}-${SIZE:-mini}", {"MODEL": "gpt"}, "prefix-gpt-mini"),
        ("cost$$5", {}, "cost$5"),
        ("$${MODEL}", {"MODEL": "gpt-4o"}, "${MODEL}"),
        ("${MODEL}", {"MODEL": "${OTHER}", "OTHER": "no"}, "${OTHER}"),
        ("a$b", {}, "a$b"),
    ],
    ids=[
        "set",
        "default-when-unset",
        "set-beats-default",
        "several-in-one-value",
        "dollar-dollar",
        "escaped-reference",
        "no-recursive-expansion",
        "lone-dollar",
    ],
)
def test_interpolation(model: str, environ: dict[str, str], expected: str) -> None:
    text = one_target().replace("model: m", f'model: "{model}"')
    assert config(text, environ).targets[0].model == expected


def test_default_used_when_variable_is_empty() -> None:
    # `${VAR:-default}` means "unset or empty" in POSIX shells and docker compose.
    text = one_target().replace("model: m", "model: ${MODEL:-fallback}")
    assert config(text, {"MODEL": ""}).targets[0].model == "fallback"


def test_every_unset_variable_is_reported() -> None:
    text = one_target(extra="api_key: ${KEY}\nheaders: {X-Org: '${ORG}'}\n")
    assert errors(text) == [
        "test.yaml:6: environment variable KEY is not set",
        "test.yaml:7: environment variable ORG is not set",
    ]


def test_environment_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATCANARY_TEST_MODEL", "from-os-environ")
    text = one_target().replace("model: m", "model: ${CHATCANARY_TEST_MODEL}")
    cfg = parse_config(text, "test.yaml")
    assert cfg.targets[0].model == "from-os-environ"


# --- api keys ----------------------------------------------------------------------------


def test_api_key_file_is_read_and_stripped(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("  sk-from-file-987\n\n", encoding="utf-8")
    cfg = config(one_target(extra=f"api_key_file: {key_file}\n"))
    target = cfg.targets[0]
    assert target.api_key is not None
    assert target.api_key.get_secret_value() == "sk-from-file-987"
    assert target.api_key_file == key_file


@pytest.mark.parametrize("environ", [{}, {"OPENAI_API_KEY": ""}], ids=["unset", "empty"])
def test_an_empty_api_key_is_no_key(environ: dict[str, str]) -> None:
    """`${OPENAI_API_KEY:-}` makes the key optional: no key, and no bare `Bearer `."""
    cfg = config(one_target(extra="api_key: ${OPENAI_API_KEY:-}\n"), environ)
    (spec,) = cfg.plan().values()
    assert spec.target.api_key is None
    assert "authorization" not in openai_request(spec, [Message(role="user", content="hi")]).headers


def test_an_empty_api_key_gives_way_to_api_key_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("sk-from-file\n", encoding="utf-8")
    extra = f"api_key: ${{OPENAI_API_KEY:-}}\napi_key_file: {tmp_path / 'key'}\n"
    (target,) = config(one_target(extra=extra)).targets
    assert target.api_key is not None
    assert target.api_key.get_secret_value() == "sk-from-file"


def test_the_minimal_config_with_an_optional_key_needs_no_variable() -> None:
    optional = MINIMAL.replace("${OPENAI_API_KEY}", "${OPENAI_API_KEY:-}")
    assert optional != MINIMAL
    assert config(optional).targets[0].api_key is None


@pytest.mark.parametrize("source", ["inline", "file"])
def test_api_key_is_not_revealed(tmp_path: Path, source: str) -> None:
    secret = "sk-very-secret-4f9a"
    if source == "inline":
        extra = "api_key: ${KEY}\n"
    else:
        (tmp_path / "key").write_text(secret, encoding="utf-8")
        extra = f"api_key_file: {tmp_path / 'key'}\n"
    cfg = config(one_target(extra=extra), {"KEY": secret})
    target = cfg.targets[0]
    assert target.api_key is not None
    assert target.api_key.get_secret_value() == secret
    spec = cfg.plan()["t", "c"]
    for text in (repr(cfg), str(cfg), repr(target), str(target), repr(spec)):
        assert secret not in text
    assert secret not in cfg.model_dump_json()
    assert "**********" in repr(target)


# --- resolving the plan ------------------------------------------------------------------

PRECEDENCE = """\
defaults:
  interval: 60s
  timeout: 30s
  max_tokens: 64
  stream: true
  jitter: 0.2
  max_response_bytes: 2048
targets:
  - name: a
    protocol: openai
    base_url: http://a.example/v1
    model: ma
    timeout: 20s
    max_tokens: 128
    temperature: 0.5
    stream: false
  - name: b
    protocol: openai
    base_url: http://b.example/v1
    model: mb
canaries:
  - name: c1
    prompt: one
    timeout: 10s
    seed: 7
    stream: true
  - name: c2
    prompt: two
    interval: 15s
    targets: [a]
  - name: c3
    prompt: three
    stream: false
    max_tokens: 16
    targets: [b]
"""


def test_plan_resolves_canary_over_target_over_defaults() -> None:
    plan = config(PRECEDENCE).plan()
    assert sorted(plan) == [("a", "c1"), ("a", "c2"), ("b", "c1"), ("b", "c3")]
    summary = {
        key: (s.interval, s.timeout, s.max_tokens, s.temperature, s.seed, s.stream)
        for key, s in plan.items()
    }
    assert summary == {
        ("a", "c1"): (60.0, 10.0, 128, 0.5, 7, True),
        ("a", "c2"): (15.0, 20.0, 128, 0.5, None, False),
        ("b", "c1"): (60.0, 10.0, 64, None, 7, True),
        ("b", "c3"): (60.0, 30.0, 16, None, None, False),
    }
    for (target, canary), spec in plan.items():
        assert spec.key == (target, canary)
        assert (spec.target.name, spec.canary.name) == (target, canary)
        assert (spec.jitter, spec.max_response_bytes) == (0.2, 2048)


def test_plan_honours_canary_targets() -> None:
    cfg = config(PRECEDENCE)
    assert {c for t, c in cfg.plan() if t == "a"} == {"c1", "c2"}
    assert {c for t, c in cfg.plan() if t == "b"} == {"c1", "c3"}


@pytest.mark.parametrize(
    ("canary", "connect", "first_token"),
    [
        ("timeout: 10s\n", 10.0, 10.0),
        ("timeout: 18s\n", 15.0, 18.0),
        ("timeout: 60s\n", 15.0, 20.0),
        ("timeout: 60s\nfirst_token_timeout: 3s\nconnect_timeout: 1s\n", 1.0, 3.0),
    ],
    ids=["both-capped", "first-token-capped", "neither-capped", "canary-overrides"],
)
def test_timeouts_are_capped_at_timeout(canary: str, connect: float, first_token: float) -> None:
    extra = "first_token_timeout: 20s\nconnect_timeout: 15s\n"
    spec = config(one_target(extra=extra, canary=canary)).plan()["t", "c"]
    assert (spec.connect_timeout, spec.first_token_timeout) == (connect, first_token)


def test_first_token_timeout_defaults_to_timeout() -> None:
    spec = config("defaults:\n  timeout: 7s\n" + one_target()).plan()["t", "c"]
    assert spec.first_token_timeout == 7.0
    assert spec.connect_timeout == 5.0


def test_default_connect_timeout_is_capped_by_a_short_timeout() -> None:
    spec = config(one_target(canary="timeout: 2s\n")).plan()["t", "c"]
    assert (spec.timeout, spec.connect_timeout, spec.first_token_timeout) == (2.0, 2.0, 2.0)


# --- buckets -----------------------------------------------------------------------------

BUCKETS = """\
metrics:
  duration_buckets: [5, 1, 0.5, 1]
targets:
  - name: t
    protocol: openai
    base_url: http://127.0.0.1:8000/v1
    model: m
canaries:
  - name: c1
    prompt: hi
    checks:
      - max_duration: 1500ms
      - max_ttft: 300ms
  - name: c2
    prompt: hi
    checks:
      - max_duration: 750ms
      - name: also
        max_duration: 1s
      - max_ttft: 1s
      - contains: "x"
"""


def test_configured_buckets_are_sorted_and_unique() -> None:
    assert config(BUCKETS).metrics.duration_buckets == (0.5, 1.0, 5.0)


def test_buckets_include_every_latency_threshold() -> None:
    cfg = config(BUCKETS)
    buckets = cfg.buckets()
    assert buckets.duration_buckets == (0.5, 0.75, 1.0, 1.5, 5.0)
    assert buckets.ttft_buckets == tuple(sorted({*_TTFT_BUCKETS, 0.3}))
    assert buckets.ttft_buckets.count(1.0) == 1
    assert buckets.inter_token_buckets == cfg.metrics.inter_token_buckets


def test_buckets_without_latency_checks_are_the_defaults() -> None:
    buckets = config(one_target(canary="checks:\n  - contains: x\n")).buckets()
    assert buckets.duration_buckets == _DURATION_BUCKETS
    assert buckets.ttft_buckets == _TTFT_BUCKETS


SERIES = """\
metrics:
  duration_buckets: [1, 5]
  ttft_buckets: [0.5]
targets:
  - {name: t1, protocol: openai, base_url: "http://127.0.0.1:8000/v1", model: m}
  - {name: t2, protocol: openai, base_url: "http://127.0.0.1:8001/v1", model: m}
canaries:
  - name: c1
    prompt: hi
    checks:
      - max_duration: 1500ms
  - name: c2
    turns:
      - user: hi
        checks:
          - max_ttft: 300ms
slos:
  - {name: fast-t2, sli: latency, objective: 99, threshold: 2500ms, targets: [t2]}
  - {name: snappy-c1, sli: latency, objective: 99, threshold: 700ms, latency_of: ttft,
     canaries: [c1]}
  - {name: up, sli: availability, objective: 99}
"""


def test_each_pair_has_its_checks_and_its_slos_thresholds_as_buckets() -> None:
    """Regression: every canary's thresholds went into every histogram."""
    cfg = config(SERIES)
    got = cfg.series_buckets(cfg.plan())
    assert {key: (b.duration_buckets, b.ttft_buckets) for key, b in got.items()} == {
        ("t1", "c1"): ((1.0, 1.5, 5.0), (0.5, 0.7)),
        ("t2", "c1"): ((1.0, 1.5, 2.5, 5.0), (0.5, 0.7)),
        ("t1", "c2"): ((1.0, 5.0), (0.3, 0.5)),
        ("t2", "c2"): ((1.0, 2.5, 5.0), (0.3, 0.5)),
    }
    assert {b.inter_token_buckets for b in got.values()} == {cfg.metrics.inter_token_buckets}


def test_a_threshold_changed_on_one_canary_leaves_the_others_bounds_alone() -> None:
    before = config(SERIES)
    after = config(SERIES.replace("max_ttft: 300ms", "max_ttft: 400ms"))
    old, new = before.series_buckets(before.plan()), after.series_buckets(after.plan())
    assert [key for key in old if old[key] != new[key]] == [("t1", "c2"), ("t2", "c2")]
    assert new["t1", "c2"].ttft_buckets == (0.4, 0.5)


def test_non_positive_bucket_is_rejected() -> None:
    text = "metrics:\n  ttft_buckets: [0.1, 0]\n" + one_target()
    assert errors(text) == ["test.yaml:2: metrics.ttft_buckets: bucket bounds must be positive"]


# --- checks and conversations ------------------------------------------------------------


def test_checks_parse_to_their_types() -> None:
    canary = """\
    checks:
      - contains: "42"
      - regex: "^4"
        ignore_case: true
        name: starts
      - max_duration: 2s
      - max_ttft: 500ms
    """
    checks = config(one_target(canary=canary)).canaries[0].checks
    assert checks == [
        Contains(contains="42"),
        Regex(regex="^4", ignore_case=True, name="starts"),
        MaxDuration(max_duration=2.0),
        MaxTTFT(max_ttft=0.5),
    ]
    labels = [label for label, _ in config(one_target(canary=canary)).canaries[0].labelled_checks()]
    assert labels == ["contains", "starts", "max_duration", "max_ttft"]


def test_prompt_with_system_makes_a_conversation() -> None:
    canary = config(one_target(canary="system: be brief\n")).canaries[0]
    assert canary.preamble() == (Message(role="system", content="be brief"),)
    assert canary.user_turns() == ("hi",)


def test_messages_keep_their_history_and_end_with_the_user_turn() -> None:
    messages = """\
    messages:
      - {role: system, content: be brief}
      - {role: user, content: "2+2?"}
      - {role: assistant, content: "4"}
      - {role: user, content: "and 3+3?"}
    """
    canary = config(conversation(messages)).canaries[0]
    assert [m.role for m in canary.preamble()] == ["system", "user", "assistant"]
    assert canary.user_turns() == ("and 3+3?",)


def test_turns_make_a_conversation_with_turn_named_checks() -> None:
    turns = """\
    system: be brief
    turns:
      - user: "My name is Ada."
      - user: "What is my name?"
        checks: [{contains: Ada}, {regex: "^Your", name: polite}]
    checks: [{max_duration: 5s}]
    """
    canary = config(conversation(turns)).canaries[0]
    assert canary.preamble() == (Message(role="system", content="be brief"),)
    assert canary.user_turns() == ("My name is Ada.", "What is my name?")
    labelled = [(label, turn) for label, (turn, _) in canary.labelled_checks()]
    assert labelled == [("contains_turn2", 1), ("polite", 1), ("max_duration", None)]


def test_deterministic_canary_asks_for_repeatable_answers() -> None:
    spec = next(iter(config(one_target(canary="deterministic: true\n")).plan().values()))
    assert (spec.temperature, spec.seed) == (0.0, 1)
    chosen = config(one_target(canary="deterministic: true\ntemperature: 0.3\nseed: 7\n"))
    spec = next(iter(chosen.plan().values()))
    assert (spec.temperature, spec.seed) == (0.3, 7)


# --- frozen ------------------------------------------------------------------------------


def test_config_models_are_frozen() -> None:
    cfg = config(PRECEDENCE)
    with pytest.raises(ValidationError, match="frozen"):
        cfg.defaults = cfg.defaults
    with pytest.raises(ValidationError, match="frozen"):
        cfg.defaults.interval = 1.0
    with pytest.raises(ValidationError, match="frozen"):
        cfg.targets[0].model = "other"
    with pytest.raises(ValidationError, match="frozen"):
        cfg.canaries[0].prompt = "other"
    with pytest.raises(ValidationError, match="frozen"):
        cfg.metrics.duration_buckets = (1.0,)
    check = config(BUCKETS).canaries[0].checks[0]
    with pytest.raises(ValidationError, match="frozen"):
        check.name = "renamed"
    spec = cfg.plan()["a", "c1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.timeout = 1.0  # type: ignore[misc]
    assert cfg.targets[0].model == "ma"
    assert spec.timeout == 10.0


def test_header_values_are_secret_when_the_config_is_printed() -> None:
    cfg = config(one_target(extra="headers: {Authorization: Bearer sk-hidden-42}\n"))
    (target,) = cfg.targets
    assert "sk-hidden-42" not in repr(cfg) and "sk-hidden-42" not in str(cfg)
    assert target.header_values() == {"Authorization": "Bearer sk-hidden-42"}


# --- include -------------------------------------------------------------------------------

PACKS = TESTDATA / "packs"


def with_include(entries: str) -> str:
    return f"include: {entries}\n" + one_target()


def test_builtin_core_pack_adds_its_canaries_after_the_files_own() -> None:
    cfg = config(with_include("[builtin:core]"))
    names = [c.name for c in cfg.canaries]
    assert names[0] == "c"
    assert {"core-arithmetic", "core-json", "core-memory", "core-harmful-weapon"} <= set(names)
    by_name = {c.name: c for c in cfg.canaries}
    assert by_name["core-arithmetic"].deterministic
    assert by_name["core-harmful-weapon"].expect_refusal
    assert len(by_name["core-memory"].user_turns()) == 2
    assert len(cfg.plan()) == len(names)


def test_a_file_include_is_read_relative_to_the_config() -> None:
    text = with_include("[packs/extra.yaml]")
    cfg = parse_config(text, str(TESTDATA / "main.yaml"))
    assert [c.name for c in cfg.canaries] == ["c", "extra-echo"]


def test_an_error_in_an_included_file_names_that_file_and_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_include("[packs/broken.yaml]"), str(TESTDATA / "main.yaml"))
    assert info.value.messages == [
        f"{PACKS / 'broken.yaml'}:6: canaries[0].checks[0].colour: unknown key"
    ]


def test_an_unknown_builtin_pack_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_include("[builtin:nope]"), "main.yaml")
    assert info.value.messages == [
        "main.yaml:1: include[0]: cannot read 'builtin:nope' (built-in packs: builtin:core)"
    ]


def test_an_included_canary_clashing_with_the_files_own_is_an_error() -> None:
    text = with_include("[packs/extra.yaml]").replace("name: c\n", "name: extra-echo\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, str(TESTDATA / "main.yaml"))
    assert info.value.messages == [
        f"{PACKS / 'extra.yaml'}:2: canaries[0].name: duplicate name 'extra-echo'"
    ]


# --- judges ------------------------------------------------------------------------------

JUDGED = """
defaults:
  refusal_judge: {judge: a, min_confidence: 0.6}
  on_judge_error: fail
targets:
  - {name: t, protocol: openai, base_url: "http://127.0.0.1:8000/v1", model: m,
     budget: {tokens_per_hour: 100}}
judges:
  - {name: a, protocol: openai, base_url: "http://127.0.0.1:8000/v1", model: judge}
  - {name: b, protocol: anthropic, base_url: "http://127.0.0.1:8000", model: judge,
     budget: {tokens_per_day: 5000}}
canaries:
  - name: inherits
    prompt: hi
    checks: [{rubric: builtin:on_topic, judge: b}]
  - name: own
    prompt: hi
    refusal_judge: {judge: b, when: always}
    on_judge_error: pass
"""


def test_judges_resolve_like_the_other_settings_and_have_their_budgets() -> None:
    loaded = config(JUDGED)
    plan = loaded.plan()
    inherits, own = plan["t", "inherits"], plan["t", "own"]
    assert inherits.refusal_judge is not None and inherits.refusal_judge.judge == "a"
    assert (inherits.refusal_judge.when, inherits.refusal_judge.min_confidence) == (
        "uncertain",
        0.6,
    )
    assert inherits.on_judge_error == "fail"
    assert own.refusal_judge is not None
    assert (own.refusal_judge.judge, own.refusal_judge.when) == ("b", "always")
    assert own.on_judge_error == "pass"
    judge = loaded.judges[0]
    assert (judge.timeout, judge.max_tokens, judge.temperature, judge.stream) == (
        30.0,
        256,
        0.0,
        False,
    )
    assert set(loaded.budgets()) == {"t", "b"}, "a judge takes its own budget only"


def test_several_judges_must_be_named() -> None:
    text = JUDGED.replace("{rubric: builtin:on_topic, judge: b}", "{rubric: builtin:on_topic}")
    assert errors(text) == [
        "test.yaml:15: canaries[0].checks[0]: a rubric check must name its judge: "
        "several are configured (a, b)"
    ]


# --- proxies -------------------------------------------------------------------------------


def test_a_proxy_only_config_is_valid() -> None:
    config = parse_config(
        "targets: []\ncanaries: []\nproxies:\n"
        "  - {name: vllm, protocol: openai, listen: ':8080', upstream: 'http://vllm:8000'}\n",
        "proxy.yaml",
    )
    (proxy,) = config.proxies
    assert proxy.address() == ("", 8080)  # Prometheus's habit: every interface
    assert (proxy.capture, proxy.propagate_trace, proxy.sample_ratio) == (False, False, 1.0)
    assert config.names() == {"vllm"}
    assert config.plan() == {}


def test_no_targets_and_no_proxies_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("targets: []\ncanaries: []\n", "empty.yaml")
    assert info.value.messages == [
        "empty.yaml:1: targets: is empty: give at least one, or proxies to run",
        "empty.yaml:2: canaries: is empty: give at least one, or proxies to run",
    ]


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ("{name: q, sli: quality, objective: 99, source: traffic}", "a quality SLO needs canaries"),
        (
            "{name: a, sli: availability, objective: 99, source: traffic, targets: [t]}",
            "selects proxies",
        ),
        (
            "{name: a, sli: availability, objective: 99, proxies: [p]}",
            "proxies go with source: traffic",
        ),
    ],
)
def test_traffic_slos_are_checked(slo: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(one_target() + f"slos:\n  - {slo}\n", "slo.yaml")
    assert message in str(info.value)


def test_targets_judges_and_proxies_share_one_name_space() -> None:
    text = (
        "targets: []\ncanaries: []\n"
        "proxies:\n  - {name: gate, protocol: openai, listen: ':8080', upstream: 'http://u:8000'}\n"
        "judges:\n  - {name: gate, protocol: openai, base_url: 'http://j:8000/v1', model: judge}\n"
    )
    assert errors(text) == ["test.yaml:6: judges[0].name: 'gate' is a proxy's name too"]
