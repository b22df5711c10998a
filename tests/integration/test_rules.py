"""The generated SLO rules with the real promtool, and the shipped file kept up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.integration.conftest import binary

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "exporter"]

ALL_KINDS = """
targets:
  - {name: a, protocol: openai, base_url: "http://127.0.0.1:1/v1", model: m}
  - {name: b, protocol: anthropic, base_url: "http://127.0.0.1:1", model: m}
canaries:
  - {name: c, prompt: hi}
  - {name: d, prompt: hi, targets: [a]}
slos:
  - {name: up, sli: availability, objective: 99.5}
  - {name: fast, sli: latency, threshold: 1.5s, objective: 99, targets: [a]}
  - {name: first, sli: latency, latency_of: ttft, threshold: 350ms, objective: 95}
  - {name: good, sli: quality, objective: 99, canaries: [d], period: 7d}
  - {name: polite, sli: refusal, objective: 98, min_events: 5}
"""


def chatcanary(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, cwd=ROOT)


def promtool_check(path: Path) -> None:
    lint = subprocess.run(
        [
            binary("promtool", "prometheus"),
            "check",
            "rules",
            "--lint=all",
            "--lint-fatal",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "SUCCESS" in lint.stdout and "WARNING" not in lint.stdout + lint.stderr


def test_the_shipped_slo_rules_are_up_to_date() -> None:
    generated = chatcanary("rules", "-c", "examples/demo.yaml")
    assert generated.returncode == 0, generated.stderr
    shipped = (ROOT / "alerts" / "slo.yml").read_text(encoding="utf-8")
    assert generated.stdout == shipped, (
        "alerts/slo.yml is stale: run `chatcanary rules -c examples/demo.yaml -o alerts/slo.yml`"
    )


def test_every_sli_kind_passes_promtool_lint(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(ALL_KINDS)
    for scale in ("1", "0.01"):
        out = tmp_path / f"rules-{scale}.yml"
        run = chatcanary("rules", "-c", str(config), "--time-scale", scale, "-o", str(out))
        assert run.returncode == 0, run.stderr
        promtool_check(out)
        groups = yaml.safe_load(out.read_text())["groups"]
        assert [g["name"] for g in groups] == [
            f"chatcanary-slo-{n}" for n in ("up", "fast", "first", "good", "polite")
        ]


def test_prometheus_operator_format_holds_the_same_rules(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(ALL_KINDS)
    plain = yaml.safe_load(chatcanary("rules", "-c", str(config)).stdout)
    run = chatcanary("rules", "-c", str(config), "--format", "prometheus-operator")
    assert run.returncode == 0, run.stderr
    wrapped = yaml.safe_load(run.stdout)
    assert wrapped["kind"] == "PrometheusRule"
    assert wrapped["spec"] == plain
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump(wrapped["spec"]))
    promtool_check(spec)


def test_check_and_rules_report_config_errors(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(ALL_KINDS.replace("threshold: 1.5s, ", ""))
    run = chatcanary("rules", "-c", str(config))
    assert run.returncode == 2
    assert "slos[1]: a latency SLO needs a threshold" in run.stderr
    check = chatcanary("check", "-c", str(config))
    assert check.returncode == 1
    assert "slos[1]: a latency SLO needs a threshold" in check.stderr
