"""The alerting files under alerts/, checked with the real tools: promtool lints and
unit-tests every rule file, every alert is labelled, annotated and has its runbook
section, amtool validates the Alertmanager example and its routes, and a real Alertmanager
started here inhibits a warning under a critical alert for the same target."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import binary, poll

ALERTS = Path(__file__).resolve().parents[2] / "alerts"
RUNBOOK = ALERTS / "RUNBOOK.md"
ALERTMANAGER = ALERTS / "alertmanager.yml"
RUNBOOK_URL = "https://github.com/chatcanary/chatcanary/blob/main/alerts/RUNBOOK.md#"
SEVERITIES = {"critical", "warning", "info"}
ALERT_NAME = re.compile(r"ChatCanary(?:[A-Z][a-z0-9]*|[A-Z]+(?=[A-Z][a-z]|$))+")
RECORD_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+")
ROUTES = {"critical": "pager", "warning": "ticket", "info": "log"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def find_rule_files() -> list[Path]:
    """Prometheus rule files: YAML in alerts/ with a top-level `groups:`."""
    found = []
    for path in sorted([*ALERTS.glob("*.yml"), *ALERTS.glob("*.yaml")]):
        doc = load(path)
        if isinstance(doc, dict) and "groups" in doc:
            found.append(path)
    return found


RULE_FILES = find_rule_files()
TEST_FILES = sorted((ALERTS / "tests").glob("*_test.yml"))


def alerts_of(path: Path) -> list[dict[str, Any]]:
    return [rule for group in load(path)["groups"] for rule in group["rules"] if "alert" in rule]


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lowercased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    return {github_anchor(m) for m in re.findall(r"^## (.+)$", text, flags=re.MULTILINE)}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def test_rule_and_test_files_are_found() -> None:
    names = {p.name for p in RULE_FILES}
    assert "operational.yml" in names
    assert "alertmanager.yml" not in names
    assert ALERTS / "tests" / "operational_test.yml" in TEST_FILES


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_lints_the_rule_file_without_warnings(path: Path) -> None:
    promtool = binary("promtool", "prometheus")
    done = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(path))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "SUCCESS" in done.stdout, output
    assert "warn" not in output.lower(), output


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(path: Path) -> None:
    promtool = binary("promtool", "prometheus")
    done = run(promtool, "test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    """For every alert of every rule file, some promtool test that loads the file expects
    it to fire (non-empty `exp_alerts`) and some expects it not to (empty)."""
    cases: dict[tuple[Path, str], set[bool]] = {}
    for test_file in TEST_FILES:
        doc = load(test_file)
        loaded = {(test_file.parent / f).resolve() for f in doc.get("rule_files", [])}
        for test in doc.get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                fires = bool(case.get("exp_alerts"))
                for rule_file in loaded:
                    cases.setdefault((rule_file, case["alertname"]), set()).add(fires)
    missing = [
        f"{path.name}: {rule['alert']} ({'fires' if fires else 'stays quiet'})"
        for path in RULE_FILES
        for rule in alerts_of(path)
        for fires in (True, False)
        if fires not in cases.get((path.resolve(), rule["alert"]), set())
    ]
    assert not missing, "alerts without a unit test that checks this:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_alerts_follow_the_conventions(path: Path) -> None:
    anchors = runbook_anchors()
    rules = [rule for group in load(path)["groups"] for rule in group["rules"]]
    assert rules, f"{path.name} has no rules"
    problems: list[str] = []
    for rule in rules:
        if "record" in rule:
            if not RECORD_NAME.fullmatch(rule["record"]):
                problems.append(f"recording rule {rule['record']}: not level:metric:operations")
            continue
        name = rule["alert"]
        labels = rule.get("labels") or {}
        notes = rule.get("annotations") or {}
        if not ALERT_NAME.fullmatch(name):
            problems.append(f"{name}: not a CamelCase name starting with ChatCanary")
        if labels.get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity {labels.get('severity')!r}")
        for key in ("summary", "description", "runbook_url"):
            if not str(notes.get(key, "")).strip():
                problems.append(f"{name}: no {key}")
        if "{{" in str(notes.get("summary", "")):
            problems.append(f"{name}: the summary should be static")
        if "{{" not in str(notes.get("description", "")):
            problems.append(f"{name}: the description should be templated")
        url = str(notes.get("runbook_url", ""))
        anchor = url.removeprefix(RUNBOOK_URL)
        if url != RUNBOOK_URL + name.lower():
            problems.append(f"{name}: runbook_url {url!r} is not {RUNBOOK_URL}{name.lower()}")
        if anchor not in anchors:
            problems.append(f"{name}: RUNBOOK.md has no '## ' heading with anchor #{anchor}")
    assert not problems, "\n".join(problems)


def test_github_anchor() -> None:
    assert github_anchor("ChatCanaryTargetDown") == "chatcanarytargetdown"
    assert github_anchor("Notes on the thresholds") == "notes-on-the-thresholds"
    assert github_anchor("Tools: for `every` alert!") == "tools-for-every-alert"


def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = binary("amtool", "prometheus-alertmanager")
    done = run(amtool, "check-config", str(ALERTMANAGER))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(("severity", "receiver"), ROUTES.items())
def test_severity_routes_to_its_receiver(severity: str, receiver: str) -> None:
    amtool = binary("amtool", "prometheus-alertmanager")
    done = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        f"--verify.receivers={receiver}",
        "alertname=ChatCanaryTargetDown",
        "target=chat",
        f"severity={severity}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receiver


def _request(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return json.loads(text) if text.strip().startswith(("[", "{")) else text


def test_alertmanager_inhibits_warnings_under_a_critical(
    alertmanager_factory: Any, tmp_path: Path
) -> None:
    address = alertmanager_factory(ALERTMANAGER.read_text(encoding="utf-8"))
    api = f"http://{address}/api/v2"

    def ready() -> bool:
        with urllib.request.urlopen(f"http://{address}/-/ready", timeout=2) as response:
            return bool(response.status == 200)

    try:
        poll("Alertmanager ready", ready)
    except AssertionError as exc:
        log = tmp_path / "alertmanager.log"
        raise AssertionError(f"{exc}\n{log.read_text() if log.exists() else ''}") from None

    now = datetime.now(UTC)

    def alert(**labels: str) -> dict[str, Any]:
        return {
            "labels": labels,
            "annotations": {"summary": "test"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
        }

    _request(
        f"{api}/alerts",
        [
            alert(alertname="ChatCanaryTargetDown", severity="critical", target="chat"),
            alert(
                alertname="ChatCanaryChecksFailing",
                severity="warning",
                target="chat",
                canary="math",
                check="contains",
            ),
            alert(alertname="ChatCanaryHighTTFT", severity="warning", target="other"),
            alert(alertname="ChatCanaryModelChanged", severity="info", target="chat"),
            alert(alertname="ChatCanaryExporterAbsent", severity="critical"),
            alert(
                alertname="ChatCanaryExporterDown",
                severity="warning",
                job="chatcanary",
                instance="a:9477",
            ),
        ],
    )

    def by_name() -> dict[str, dict[str, Any]]:
        return {a["labels"]["alertname"]: a for a in _request(f"{api}/alerts")}

    def settled(got: dict[str, dict[str, Any]]) -> bool:
        return len(got) == 6 and all(
            got[name]["status"]["state"] == "suppressed"
            for name in ("ChatCanaryChecksFailing", "ChatCanaryExporterDown")
        )

    got = poll("the warnings inhibited", by_name, settled)
    down = got["ChatCanaryTargetDown"]
    absent = got["ChatCanaryExporterAbsent"]
    checks = got["ChatCanaryChecksFailing"]["status"]
    assert checks["inhibitedBy"] == [down["fingerprint"]]
    assert checks["silencedBy"] == []
    assert got["ChatCanaryExporterDown"]["status"]["inhibitedBy"] == [absent["fingerprint"]]
    # not inhibited: the criticals, a warning on another target, and the info alert
    for name in (
        "ChatCanaryTargetDown",
        "ChatCanaryExporterAbsent",
        "ChatCanaryHighTTFT",
        "ChatCanaryModelChanged",
    ):
        status = got[name]["status"]
        assert status["state"] == "active", (name, status)
        assert status["inhibitedBy"] == [], (name, status)
    receivers = {name: [r["name"] for r in a["receivers"]] for name, a in got.items()}
    assert receivers["ChatCanaryTargetDown"] == ["pager"]
    assert receivers["ChatCanaryHighTTFT"] == ["ticket"]
    assert receivers["ChatCanaryModelChanged"] == ["log"]
