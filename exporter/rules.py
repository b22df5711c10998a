"""Prometheus rules for the config's SLOs: recording rules and multi-window, multi-burn-rate
alerts (Google SRE Workbook, "Alerting on SLOs"). Pure: config in, rule groups out.

Per SLO and target:
- `slo:chatcanary_sli_error:ratio_rate{5m,30m,1h,2h,6h,1d,3d,period}` — the SLI's error ratio;
- `slo:chatcanary_objective:ratio`, `slo:chatcanary_period:seconds` (the nominal period, for
  dashboards), `slo:chatcanary_error_budget:remaining` (over the period) and
  `slo:chatcanary_burn_rate:rate1h`;
- `ChatCanaryErrorBudgetBurn`: critical at 14.4x over 1h & 5m (for 2m) and 6x over 6h & 30m
  (for 15m); warning at 3x over 1d & 2h (for 1h) and 1x over 3d & 6h (for 3h). Long and
  short window must both burn, and the long window must hold at least `min_events` bad
  runs: a canary fleet runs rarely, and two failures in an hour must not page.

`time_scale` shrinks every window and `for:` (tests run a day's alerting in seconds); rule
names keep the nominal windows.

The hand-written operational alerts and the runbook every alert links to ship in the
package (`data/alerts/`); `runbook_url` is the runbook's address, with the alert's anchor.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from exporter.config import SLO, Config, Metrics, le_label

WINDOWS: tuple[tuple[str, int], ...] = (
    ("5m", 300),
    ("30m", 1800),
    ("1h", 3600),
    ("2h", 7200),
    ("6h", 21600),
    ("1d", 86400),
    ("3d", 259200),
)
# Where the shipped rules link; `chatcanary rules --runbook-url` points them elsewhere.
RUNBOOK = "https://github.com/chatcanary/chatcanary/blob/main/alerts/RUNBOOK.md"


@dataclass(frozen=True)
class Burn:
    long: str
    short: str
    factor: float
    wait: int  # the alert's `for:`, seconds
    severity: str


BURNS = (
    Burn("1h", "5m", 14.4, 120, "critical"),
    Burn("6h", "30m", 6.0, 900, "critical"),
    Burn("1d", "2h", 3.0, 3600, "warning"),
    Burn("3d", "6h", 1.0, 10800, "warning"),
)


# What `chatcanary rules` suggests to a config without SLOs; valid as written (a test
# appends it to a config and generates its rules).
STARTER_SLOS = """\
slos:
  - name: availability       # runs that got an answer (not an error)
    sli: availability
    objective: 99.5          # percent, over `period` (default 30d)
  - name: latency            # answered runs that took at most `threshold`
    sli: latency
    threshold: 5s
    objective: 95
  - name: quality            # answered runs that passed their checks
    sli: quality
    objective: 99
"""


class RuleError(ValueError):
    """The config's SLOs cannot be turned into rules."""


def duration(seconds: float) -> str:
    """A Prometheus duration: the largest unit that divides evenly (`90s`, `2m`, `3d`)."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise RuleError(f"window of {seconds}s is too short for Prometheus")
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _selector(slo: SLO, *matchers: str) -> str:
    parts = list(matchers)
    if slo.proxies:
        parts.append(f'proxy=~"{"|".join(slo.proxies)}"')
    if slo.targets:
        parts.append(f'target=~"{"|".join(slo.targets)}"')
    if slo.canaries:
        parts.append(f'canary=~"{"|".join(slo.canaries)}"')
    return "{" + ", ".join(parts) + "}" if parts else ""


def _increase(metric: str, selector: str, window: str, by: str = "target") -> str:
    return f"sum by ({by}) (increase({metric}{selector}[{window}]))"


def by(slo: SLO) -> str:
    """What an SLO is judged per: a target's canary runs, or a proxy's real requests."""
    return "proxy" if slo.source == "traffic" else "target"


@dataclass(frozen=True)
class SLI:
    """An SLI as two counters' expressions over a window: bad runs and all runs."""

    slo: SLO
    buckets: Metrics

    def total(self, window: str) -> str:
        s = self.slo
        if s.source == "traffic":
            return self._traffic_total(window)
        if s.sli == "availability":
            return _increase("chatcanary_probes_total", _selector(s), window)
        if s.sli == "quality":
            return _increase("chatcanary_probes_total", _selector(s, 'outcome!="error"'), window)
        if s.sli == "refusal":
            selector = _selector(s, 'expected="answer"')
            return _increase("chatcanary_responses_total", selector, window)
        return _increase(f"{self._histogram()}_count", self._answered(), window)

    def bad(self, window: str) -> str:
        s = self.slo
        if s.source == "traffic":
            return self._traffic_bad(window)
        if s.sli == "availability":
            return _increase("chatcanary_probes_total", _selector(s, 'outcome="error"'), window)
        if s.sli == "quality":
            selector = _selector(s, 'outcome="check_failed"')
            return _increase("chatcanary_probes_total", selector, window)
        if s.sli == "refusal":
            selector = _selector(s, 'expected="answer"')
            return _increase("chatcanary_refusals_total", selector, window)
        good = _increase(f"{self._histogram()}_bucket", self._answered(self._le()), window)
        return f"({self.total(window)} - {good})"

    def _traffic_total(self, window: str) -> str:
        """Real requests: a client that went away judged nothing; refusals count chat
        answers judged (there is no expectation: every refusal is bad)."""
        s = self.slo
        if s.sli == "availability":
            selector = _selector(s, 'outcome!="cancelled"')
            return _increase("chatcanary_traffic_requests_total", selector, window, "proxy")
        if s.sli == "refusal":
            selector = _selector(s, 'route="chat"')
            return _increase("chatcanary_traffic_responses_total", selector, window, "proxy")
        return _increase(f"{self._histogram()}_count", self._answered(), window, "proxy")

    def _traffic_bad(self, window: str) -> str:
        s = self.slo
        if s.sli == "availability":
            selector = _selector(s, 'outcome="error"')
            return _increase("chatcanary_traffic_requests_total", selector, window, "proxy")
        if s.sli == "refusal":
            selector = _selector(s, 'route="chat"')
            return _increase("chatcanary_traffic_refusals_total", selector, window, "proxy")
        good = _increase(f"{self._histogram()}_bucket", self._answered(self._le()), window, "proxy")
        return f"({self._traffic_total(window)} - {good})"

    def _histogram(self) -> str:
        if self.slo.source == "traffic":
            if self.slo.latency_of == "ttft":
                return "chatcanary_traffic_time_to_first_token_seconds"
            return "chatcanary_traffic_request_duration_seconds"
        if self.slo.latency_of == "ttft":
            return "chatcanary_time_to_first_token_seconds"
        return "chatcanary_request_duration_seconds"

    def _answered(self, *matchers: str) -> str:
        # Errored runs count against availability, not latency; TTFT has no outcome label.
        if self.slo.latency_of == "ttft":
            return _selector(self.slo, *matchers)
        if self.slo.source == "traffic":  # real chat answers only, not the model list
            return _selector(self.slo, 'route="chat"', 'outcome="success"', *matchers)
        return _selector(self.slo, 'outcome!="error"', *matchers)

    def _le(self) -> str:
        threshold = self.slo.threshold
        assert threshold is not None
        bounds = (
            self.buckets.ttft_buckets
            if self.slo.latency_of == "ttft"
            else self.buckets.duration_buckets
        )
        if threshold not in bounds:
            raise RuleError(
                f"SLO {self.slo.name!r}: threshold {threshold:g}s is not a bucket boundary of "
                f"the {self._histogram()} histogram (buckets: {', '.join(map(str, bounds))}); "
                "add it to metrics buckets"
            )
        return f'le="{le_label(threshold)}"'


def slo_group(
    slo: SLO, buckets: Metrics, time_scale: float = 1.0, runbook: str = RUNBOOK
) -> dict[str, Any]:
    sli = SLI(slo, buckets)
    budget = 1 - slo.objective / 100
    labels = {"slo": slo.name, "sli": slo.sli}
    ratio = "slo:chatcanary_sli_error:ratio_rate"
    # The period's ratio is named `ratio_rateperiod`, whatever its length: one name for the
    # budget rule and the dashboards, and no clash with a window when the period is 1d.
    windows = [*WINDOWS, ("period", slo.period)]
    rules: list[dict[str, Any]] = []
    for name, seconds in windows:
        window = duration(seconds * time_scale)
        rules.append(
            {
                "record": f"{ratio}{name}",
                "expr": f"{sli.bad(window)}\n/\n{sli.total(window)}",
                "labels": dict(labels),
            }
        )
    here = f'{{slo="{slo.name}"}}'
    rules += [
        {
            "record": "slo:chatcanary_objective:ratio",
            "expr": f"vector({slo.objective / 100:g})",
            "labels": labels,
        },
        {
            "record": "slo:chatcanary_period:seconds",
            "expr": f"vector({slo.period:.15g})",
            "labels": labels,
        },
        {
            "record": "slo:chatcanary_error_budget:remaining",
            "expr": f"1 - {ratio}period{here} / {budget:g}",
            "labels": labels,
        },
        {
            "record": "slo:chatcanary_burn_rate:rate1h",
            "expr": f"{ratio}1h{here} / {budget:g}",
            "labels": labels,
        },
    ]
    for burn in BURNS:
        limit = burn.factor * budget
        long_window = duration(_seconds(burn.long) * time_scale)
        rules.append(
            {
                "alert": "ChatCanaryErrorBudgetBurn",
                "expr": (
                    f"{ratio}{burn.long}{here} > {limit:g}\n"
                    f"and {ratio}{burn.short}{here} > {limit:g}\n"
                    f"and on ({by(slo)}) {sli.bad(long_window)} >= {slo.min_events}"
                ),
                "for": duration(burn.wait * time_scale),
                "labels": {
                    **labels,
                    "severity": burn.severity,
                    "long_window": burn.long,
                    "short_window": burn.short,
                },
                "annotations": {
                    "summary": "A chatcanary SLO is burning its error budget too fast.",
                    "description": (
                        f"{by(slo).capitalize()} {{{{ $labels.{by(slo)} }}}} misses the "
                        f"{slo.name} SLO ({slo.sli}, objective {slo.objective:g}%): "
                        f"{{{{ $value | humanizePercentage }}}} of "
                        f"{'requests' if slo.source == 'traffic' else 'runs'} were bad over "
                        f"{burn.long}, {burn.factor:g}x the budget rate ({limit:.3%}). "
                        f"At this rate the {duration(slo.period)} budget lasts "
                        f"{_exhaustion(slo.period, burn.factor)}."
                    ),
                    "runbook_url": f"{runbook}#chatcanaryerrorbudgetburn",
                },
            }
        )
    return {"name": f"chatcanary-slo-{slo.name}", "rules": rules}


def _seconds(window: str) -> int:
    return dict(WINDOWS)[window]


def _exhaustion(period: float, factor: float) -> str:
    hours = period / factor / 3600
    return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


def generate(config: Config, time_scale: float = 1.0, runbook: str = RUNBOOK) -> dict[str, Any]:
    """The rule file for the config's SLOs (`{"groups": [...]}`)."""
    if time_scale <= 0:
        raise RuleError("time scale must be positive")
    buckets = config.buckets()
    return {"groups": [slo_group(slo, buckets, time_scale, runbook) for slo in config.slos]}


def check_runbook(url: str) -> None:
    if not url.startswith(("http://", "https://")) or "#" in url or " " in url:
        raise RuleError(
            f"runbook URL {url!r}: give the page's http(s) address without a #fragment "
            "(each alert adds its own)"
        )


SHIPPED = "data/alerts"  # in the package: operational.yml and RUNBOOK.md


def _shipped(name: str) -> str:
    return resources.files("exporter").joinpath(f"{SHIPPED}/{name}").read_text("utf-8")


def operational(runbook: str = RUNBOOK) -> str:
    """The hand-written operational alerts (a rule file, comments kept), linking to the
    runbook at `runbook`."""
    return _shipped("operational.yml").replace(f"{RUNBOOK}#", f"{runbook}#")


def runbook_text() -> str:
    """The runbook (Markdown): a section per alert, its anchor the alert's name."""
    return _shipped("RUNBOOK.md")


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people: no anchors, multi-line expressions as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100)


def prometheus_rule(rules: dict[str, Any], name: str = "chatcanary-slos") -> dict[str, Any]:
    """The same groups as a prometheus-operator PrometheusRule."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "chatcanary"}},
        "spec": rules,
    }
