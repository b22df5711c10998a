"""Real traffic: what users' requests met through the proxies, beside what the canaries met.

The first row puts the two signals side by side (time to first token, refusal rate);
the second shows the traffic alone: outcomes, error classes, latency by route, tokens.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from exporter.dashboards.panels import (
    BAD_LOW,
    PROBE,
    base,
    label_variable,
    quantiles,
    query,
    rate,
    timeseries_panel,
)

UID = "chatcanary-traffic"
PROXY = 'proxy=~"$proxy"'
TRAFFIC = 'proxy=~"$proxy", model=~"$model"'
REQUESTS = "chatcanary_traffic_requests_total"


def variables() -> list[dashboard.QueryVariable]:
    canaries = "chatcanary_probes_total"
    return [
        label_variable("proxy", REQUESTS, "Proxy", "Proxies forwarding real traffic."),
        label_variable("model", REQUESTS, "Model", "Models the requests named.", PROXY),
        label_variable("target", canaries, "Target", "Canary targets to compare with."),
        label_variable(
            "canary", canaries, "Canary", "Canaries to compare with.", 'target=~"$target"'
        ),
    ]


def _ratio(numerator: str, denominator: str, selector: str, by: str) -> str:
    return (
        f"sum by ({by}) ({rate(numerator, selector)})\n/\n"
        f"sum by ({by}) ({rate(denominator, selector)})"
    )


def comparison(d: dashboard.Dashboard) -> dashboard.Dashboard:
    return (
        d.with_row(dashboard.Row("Real users vs canaries"))
        .with_panel(
            timeseries_panel(
                "Time to first token: real users vs canaries",
                "p50 and p95 of streamed real requests (by proxy) beside the canaries' "
                "(by target). Users slower than canaries: load, longer prompts, or a path "
                "the canaries miss.",
                "s",
                [
                    *quantiles(
                        "chatcanary_traffic_time_to_first_token_seconds",
                        TRAFFIC,
                        by="proxy",
                        name="users ",
                    )[:2],
                    *quantiles(
                        "chatcanary_time_to_first_token_seconds", PROBE, by="target", name="canary "
                    )[:2],
                ],
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Refusal rate: real users vs canaries",
                "Share of judged answers that were refusals. Real traffic has no expectation, "
                "so this is a rate, not over- or under-refusal; a jump with steady canaries "
                "points at what users ask, a jump in both at the service.",
                "percentunit",
                [
                    query(
                        _ratio(
                            "chatcanary_traffic_refusals_total",
                            "chatcanary_traffic_responses_total",
                            TRAFFIC,
                            "proxy",
                        ),
                        "users {{proxy}}",
                    ),
                    query(
                        _ratio(
                            "chatcanary_refusals_total",
                            "chatcanary_responses_total",
                            PROBE,
                            "target",
                        ),
                        "canary {{target}}",
                    ),
                ],
                width=12,
                limits=BAD_LOW,
            )
        )
    )


def traffic(d: dashboard.Dashboard) -> dashboard.Dashboard:
    return (
        d.with_row(dashboard.Row("Real traffic"))
        .with_panel(
            timeseries_panel(
                "Requests by outcome",
                "Requests forwarded per second: success, error (the upstream failed or its "
                "answer was broken) or cancelled (the client went away first).",
                "reqps",
                [query(f"sum by (outcome) ({rate(REQUESTS, TRAFFIC)})", "{{outcome}}")],
                stack=True,
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Errors by class",
                "Failed requests per second by error class (the canaries' classes).",
                "reqps",
                [
                    query(
                        "sum by (error_class) "
                        f"({rate('chatcanary_traffic_errors_total', TRAFFIC)})",
                        "{{error_class}}",
                    )
                ],
                stack=True,
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Request duration by route",
                "p50, p95, p99 from arrival at the proxy to the upstream's last byte.",
                "s",
                quantiles("chatcanary_traffic_request_duration_seconds", TRAFFIC, by="route"),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Inter-token latency",
                "p50, p95, p99 of the gaps between content chunks of streamed answers.",
                "s",
                quantiles("chatcanary_traffic_inter_token_latency_seconds", TRAFFIC, by="proxy"),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Tokens per second",
                "Input and output tokens of answered chat requests, as the upstream reported.",
                "short",
                [
                    query(
                        f"sum by (type) ({rate('chatcanary_traffic_tokens_total', TRAFFIC)})",
                        "{{type}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "In flight and observer failures",
                "Requests being forwarded now, and requests whose observing failed per "
                "second (their bytes were forwarded all the same).",
                "short",
                [
                    query(
                        f"sum by (proxy) (chatcanary_traffic_requests_in_flight{{{PROXY}}})",
                        "in flight {{proxy}}",
                    ),
                    query(
                        "sum by (proxy) "
                        f"({rate('chatcanary_traffic_observer_failures_total', PROXY)})",
                        "observer failures {{proxy}}",
                    ),
                ],
                width=8,
            )
        )
    )


def build() -> dashboard.Dashboard:
    d = base(
        UID,
        "chatcanary / Real traffic",
        "Real users' requests through the chatcanary proxies, measured with the canaries' "
        "decoders, beside the canaries' own signals.",
    )
    for variable in variables():
        d = d.with_variable(variable)
    return traffic(comparison(d))
