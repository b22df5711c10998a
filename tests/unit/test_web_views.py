"""The views of exporter/web/views.py: plain data for the page and the API, and the
configuration as /config shows it."""

from __future__ import annotations

from typing import Any

from exporter.checkspecs import parse_duration
from exporter.config import parse_config
from exporter.errors import ErrorClass
from exporter.history import Spark
from exporter.result import CheckVerdict, Exchange, Outcome, ProbeResult, Verdict
from exporter.web import views

CONFIG = """
targets: [{name: t, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: m}]
canaries:
  - {name: c, system: "Be brief.", prompt: "hi", expect_refusal: true}
"""
SPEC = parse_config(CONFIG, "views.yaml").plan()[("t", "c")]


def result(n: int = 1, **fields: Any) -> ProbeResult:
    values: dict[str, Any] = {
        "run_id": f"r{n}",
        "target": "t",
        "canary": "c",
        "model": "m",
        "started_at": 100.0 + n,
        "outcome": Outcome.SUCCESS,
        "duration_seconds": 2.0,
    }
    values.update(fields)
    return ProbeResult(**values)


def test_a_row_is_pending_until_the_first_run() -> None:
    row = views.row(SPEC, None, [], now=0.0)
    assert row["state"] == "pending" and row["last"] is None and row["recent"] == []


def test_a_row_shows_the_last_run_and_the_recent_durations() -> None:
    failed = result(
        2,
        outcome=Outcome.CHECK_FAILED,
        turns=(Exchange(status=200, ttft_seconds=0.3, response_model="m-2024"),),
        checks=(CheckVerdict("refusal", False, "answered"), CheckVerdict("x", True, "ok")),
        refusal=Verdict(refused=False, detector="none", reason=""),
    )
    recent = [Spark("r1", 101.0, 2.0, Outcome.SUCCESS), Spark("r2", 102.0, 2.0, failed.outcome)]
    row = views.row(SPEC, failed, recent, now=110.0)
    assert row["state"] == "check_failed" and row["expect_refusal"] is True
    last = row["last"]
    assert last["run_id"] == "r2" and last["age_seconds"] == 6.0
    assert (last["checks_passed"], last["checks_total"], last["failed_checks"]) == (
        1,
        2,
        ["refusal"],
    )
    assert last["refused"] is False and last["response_model"] == "m-2024"
    assert row["recent"] == [
        {"run_id": "r1", "outcome": "success", "duration_seconds": 2.0},
        {"run_id": "r2", "outcome": "check_failed", "duration_seconds": 2.0},
    ]


def test_status_counts_the_failing() -> None:
    rows = [{"state": s} for s in ("success", "error", "check_failed", "pending", "error")]
    status = views.status(rows, ["t"])
    assert status["failing"] == 3
    assert status["counts"] == {"success": 1, "error": 2, "check_failed": 1, "pending": 1}


def test_a_run_in_full_links_its_trace_and_shows_the_preamble() -> None:
    run = views.run(
        result(trace_id="ab" * 16, turns=(Exchange(prompt="hi", text="no"),)),
        SPEC,
        "http://tempo.example/trace/{trace_id}?x=1",
    )
    assert run["trace_url"] == f"http://tempo.example/trace/{'ab' * 16}?x=1"
    assert run["preamble"] == [{"role": "system", "content": "Be brief."}]
    assert [(t["prompt"], t["answer"]) for t in run["turns"]] == [("hi", "no")]
    assert "answer" not in run


def test_a_run_without_a_trace_or_a_config_still_shows() -> None:
    run = views.run(result(error_class=ErrorClass.CONNECTION), None, "http://t/{trace_id}")
    assert run["trace_url"] is None and run["preamble"] == [] and run["turns"] == []


def test_a_run_and_its_brief_name_the_shard_that_ran_it() -> None:
    run = views.run(result(), SPEC, None, shard="2/3", content_kept=False)
    assert run["shard"] == "2/3" and run["content_kept"] is False
    assert views.brief(result(), "1/3")["shard"] == "1/3"
    assert views.brief(result())["shard"] == "0/1"  # an exporter that is not sharded


def test_durations_read_as_they_are_written() -> None:
    written = ["10s", "90s", "1m", "2h", "30d", "250ms", "350ms", "1500ms", "0.0005s"]
    for text in written:
        assert views.duration_text(parse_duration(text)) == text


SHOWN = """
defaults: {interval: 10s, timeout: 1m30s}
targets:
  - {protocol: azure_openai, name: az, base_url: "http://127.0.0.1:9", model: deployment,
     api_key: "sk-shown-0123456789"}
  - {protocol: anthropic, name: claude, base_url: "http://127.0.0.1:9", model: m,
     headers: {Authorization: "Bearer hdr-secret-0123456789"}}
  - {protocol: openai, name: plain, base_url: "http://127.0.0.1:9/v1", model: m, timeout: 5s}
canaries:
  - timeout: 250ms
    name: c
    prompt: "hi"
    checks: [{json: true}, {max_duration: 2s, name: quick}]
slos: [{sli: latency, name: fast, objective: 99, threshold: 1s}]
"""


def names_first(value: Any) -> bool:
    """Whether every object in the tree that has a name lists it first."""
    if isinstance(value, list):
        return all(names_first(v) for v in value)
    if isinstance(value, dict):
        ok = "name" not in value or next(iter(value)) == "name"
        return ok and all(names_first(v) for v in value.values())
    return True


def test_the_config_shows_durations_names_first_and_only_the_dialects_fields() -> None:
    shown = views.config(parse_config(SHOWN, "shown.yaml"))
    assert names_first(shown)
    assert shown["defaults"]["interval"] == "10s" and shown["defaults"]["timeout"] == "90s"
    assert shown["web"]["refresh"] == "10s" and shown["slos"][0]["period"] == "30d"
    az, claude, plain = shown["targets"]
    assert list(az)[:4] == ["name", "protocol", "base_url", "model"]
    assert az["api_version"] == "2024-10-21" and "anthropic_version" not in az
    assert claude["anthropic_version"] == "2023-06-01" and "api_version" not in claude
    assert "api_version" not in plain and "anthropic_version" not in plain
    assert plain["timeout"] == "5s" and "timeout" not in az  # unset stays unset
    assert az["api_key"] == "**********" and claude["headers"] == {"Authorization": "**********"}
    canary = shown["canaries"][0]
    assert list(canary)[:2] == ["name", "timeout"] and canary["timeout"] == "250ms"
    # the YAML's key `json`, not the model's `json_`
    assert canary["checks"] == [
        {"json": True, "allow_fences": False},
        {"name": "quick", "max_duration": "2s"},
    ]
    assert "sk-shown" not in str(shown) and "hdr-secret" not in str(shown)


def test_the_config_masks_the_userinfo_of_a_base_url() -> None:
    """Regression (issue 17): `http://user:password@host` showed in clear on /config."""
    text = CONFIG.replace("http://127.0.0.1:9/v1", "http://ops:hunter2-pass@127.0.0.1:9/v1")
    shown = views.config(parse_config(text, "userinfo.yaml"))
    assert shown["targets"][0]["base_url"] == "http://**********@127.0.0.1:9/v1"
    assert "hunter2" not in str(shown) and "ops:" not in str(shown)


def test_the_config_masks_the_userinfo_of_every_url() -> None:
    """The report's Prometheus, a proxy's upstream and the OTLP endpoint are URLs too."""
    text = (
        CONFIG
        + """
report: {every: 1d, dir: /tmp/r, prometheus: "http://prom:s3cret-prom@127.0.0.1:9090"}
proxies:
  - {name: front, protocol: openai, listen: "127.0.0.1:0",
     upstream: "http://up:s3cret-up@127.0.0.1:8000"}
"""
    )
    shown = views.config(parse_config(text, "urls.yaml"))
    assert shown["report"]["prometheus"] == "http://**********@127.0.0.1:9090"
    assert shown["proxies"][0]["upstream"] == "http://**********@127.0.0.1:8000"
    assert "s3cret" not in str(shown)
