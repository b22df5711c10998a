"""/probe's metrics and debug text: exporter/web/probe.py."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from exporter.config import parse_config
from exporter.errors import ErrorClass
from exporter.result import CheckVerdict, Exchange, Outcome, ProbeResult
from exporter.web.probe import debug_text, metrics_text

CONFIG = """
targets:
  - {name: t, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: m,
     api_key: sk-probe-secret-123, headers: {X-Api-Token: hdr-secret-456}}
canaries: [{name: c, prompt: hi, checks: [{contains: "42"}]}]
"""
SPEC = parse_config(CONFIG, "probe.yaml").plan()[("t", "c")]

FAILED = ProbeResult(
    run_id="r1",
    target="t",
    canary="c",
    model="m",
    started_at=100.0,
    outcome=Outcome.ERROR,
    duration_seconds=0.5,
    error_class=ErrorClass.HTTP_5XX,
    error_detail="HTTP 503: overloaded",
    turns=(
        Exchange(
            status=503,
            connect_seconds=0.001,
            headers_seconds=0.4,
            duration_seconds=0.5,
            error_class=ErrorClass.HTTP_5XX,
            error_detail="HTTP 503: overloaded",
        ),
    ),
)
PASSED = ProbeResult(
    run_id="r2",
    target="t",
    canary="c",
    model="m",
    started_at=100.0,
    outcome=Outcome.SUCCESS,
    duration_seconds=1.0,
    turns=(Exchange(status=200, ttft_seconds=0.2, duration_seconds=1.0, output_tokens=3),),
    checks=(CheckVerdict("contains", True, "found"),),
)


def test_a_failed_run_as_probe_metrics() -> None:
    text = metrics_text(FAILED, cached=True, now=110.5).decode()
    assert "probe_success 0.0" in text
    assert 'probe_error_info{error_class="http_5xx"} 1.0' in text
    assert "probe_http_status_code 503.0" in text
    assert "probe_cached 1.0" in text and "probe_result_age_seconds 10.0" in text
    assert "probe_time_to_first_token_seconds" not in text  # nothing measured, nothing shown


def test_a_passed_run_as_probe_metrics() -> None:
    text = metrics_text(PASSED, cached=False, now=101.0).decode()
    assert "probe_success 1.0" in text and "probe_cached 0.0" in text
    assert 'probe_check_success{check="contains"} 1.0' in text
    assert "probe_time_to_first_token_seconds 0.2" in text
    assert "probe_error_info" not in text


def test_probe_metrics_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (or put it on PATH)")
    for result in (FAILED, PASSED):
        checked = subprocess.run(
            [promtool, "check", "metrics"],
            input=metrics_text(result, cached=False),
            capture_output=True,
            check=False,
            timeout=30,
        )
        report = (checked.stdout + checked.stderr).decode()
        assert checked.returncode == 0 and report == "", report


def test_debug_text_has_the_log_the_metrics_and_the_config_without_secrets() -> None:
    text = debug_text(FAILED, cached=False, spec=SPEC)
    assert "run r1 of t/c (ran now)" in text
    assert "turn 1: headers after 400.0ms (HTTP 503)" in text
    assert "turn 1: error http_5xx: HTTP 503: overloaded" in text
    assert "outcome: error (http_5xx: HTTP 503: overloaded) after 500.0ms" in text
    assert "probe_success 0.0" in text
    assert "contains: '42'" in text
    assert "sk-probe-secret-123" not in text and "hdr-secret-456" not in text
    assert text.count("'**********'") == 2


def test_debug_text_masks_the_userinfo_of_the_base_url() -> None:
    """Regression (issue 17): `http://user:password@host` showed in clear."""
    text = CONFIG.replace("http://127.0.0.1:9/v1", "http://ops:hunter2-pass@127.0.0.1:9/v1")
    spec = parse_config(text, "probe.yaml").plan()[("t", "c")]
    shown = debug_text(FAILED, cached=False, spec=spec)
    assert "base_url: http://**********@127.0.0.1:9/v1" in shown
    assert "hunter2" not in shown and "ops:" not in shown
