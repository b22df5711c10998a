"""Exporter health: is chatcanary itself keeping up, reloading and exporting?"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from exporter.dashboards.panels import (
    BAD_COUNT,
    GREEN,
    RED,
    base,
    label_variable,
    mapping,
    quantiles,
    query,
    stat_panel,
    table_panel,
    thresholds,
    timeseries_panel,
)

UID = "chatcanary-exporter"
HERE = 'instance=~"$instance"'


def build() -> dashboard.Dashboard:
    d = base(
        UID,
        "chatcanary / Exporter health",
        "chatcanary itself: run rate, scheduling lag, reloads, export failures, resources.",
    ).with_variable(
        label_variable(
            "instance", "chatcanary_build_info", "Instance", "chatcanary processes scraped."
        )
    )
    return (
        d.with_row(dashboard.Row("Status"))
        .with_panel(
            stat_panel(
                "Scrape up",
                "Whether Prometheus reached the exporter at its last scrape.",
                "none",
                [query(f"min(up{{{HERE}}})", "up")],
                limits=thresholds((None, RED), (1, GREEN)),
                mappings=mapping({"1": ("UP", GREEN), "0": ("DOWN", RED)}),
            )
        )
        .with_panel(
            stat_panel(
                "Config reload",
                "Whether the last configuration reload succeeded (a failed one keeps the "
                "old config running).",
                "none",
                [query(f"min(chatcanary_config_last_reload_successful{{{HERE}}})", "reload")],
                limits=thresholds((None, RED), (1, GREEN)),
                mappings=mapping({"1": ("OK", GREEN), "0": ("FAILED", RED)}),
            )
        )
        .with_panel(
            stat_panel(
                "Since last good reload",
                "Time since the configuration was last loaded successfully.",
                "s",
                [
                    query(
                        "time() - max(chatcanary_config_last_reload_success_timestamp_seconds"
                        f"{{{HERE}}})",
                        "age",
                    )
                ],
            )
        )
        .with_panel(
            stat_panel(
                "Canaries and shards",
                "(target, canary) pairs on the schedule, summed over the instances; shards "
                "reporting against shards expected (fewer: a shard's canaries run nowhere).",
                "none",
                [
                    query(f"sum(chatcanary_canaries_configured{{{HERE}}})", "canaries"),
                    query(f"count(chatcanary_shard_info{{{HERE}}})", "shards up"),
                    query(f"max(chatcanary_shards{{{HERE}}})", "shards expected"),
                ],
            )
        )
        .with_panel(
            stat_panel(
                "Export failures (time range)",
                "Spans and metric batches the OTLP exporter dropped, plus sink failures.",
                "none",
                [
                    query(
                        "sum(increase(chatcanary_otel_export_failures_total"
                        f"{{{HERE}}}[$__range]))\n+\n"
                        f"sum(increase(chatcanary_sink_failures_total{{{HERE}}}[$__range]))",
                        "failures",
                        instant=True,
                    )
                ],
                limits=BAD_COUNT,
            )
        )
        .with_panel(
            table_panel(
                "Build",
                "chatcanary version per instance.",
                "none",
                [
                    query(
                        f"max by (instance, version) (chatcanary_build_info{{{HERE}}})",
                        fmt="table",
                        instant=True,
                    )
                ],
                width=4,
                height=4,
                hide=("Time", "Value"),
            )
        )
        .with_row(dashboard.Row("Scheduling"))
        .with_panel(
            timeseries_panel(
                "Runs per second",
                "Canary runs finished per second, by instance and outcome.",
                "reqps",
                [
                    query(
                        "sum by (instance, outcome) "
                        f"(rate(chatcanary_probes_total{{{HERE}}}[$__rate_interval]))",
                        "{{instance}} {{outcome}}",
                    )
                ],
                stack=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Scheduler lag",
                "How late runs start after their scheduled time: p50, p95, p99. Growing "
                "lag means the exporter cannot keep up (CPU, too many canaries).",
                "s",
                quantiles("chatcanary_scheduler_lag_seconds", HERE, by="instance"),
            )
        )
        .with_panel(
            timeseries_panel(
                "Runs in flight",
                "Canary runs in progress, by instance.",
                "none",
                [query(f"sum by (instance) (chatcanary_runs_in_flight{{{HERE}}})", "{{instance}}")],
            )
        )
        .with_row(dashboard.Row("Exporting and resources"))
        .with_panel(
            timeseries_panel(
                "Sink and OTLP export failures",
                "Per second: results a sink failed to record, and spans or metric "
                "batches the OTLP exporter dropped.",
                "reqps",
                [
                    query(
                        "sum by (instance, sink) "
                        f"(rate(chatcanary_sink_failures_total{{{HERE}}}[$__rate_interval]))",
                        "{{instance}} sink {{sink}}",
                    ),
                    query(
                        "sum by (instance, signal) (rate(chatcanary_otel_export_failures_total"
                        f"{{{HERE}}}[$__rate_interval]))",
                        "{{instance}} OTLP {{signal}}",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Resident memory",
                "Process resident set size.",
                "bytes",
                [
                    query(
                        f"process_resident_memory_bytes{{{HERE}}}\n"
                        f"and on (instance) chatcanary_build_info{{{HERE}}}",
                        "{{instance}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "CPU",
                "Process CPU use, in cores.",
                "percentunit",
                [
                    query(
                        f"rate(process_cpu_seconds_total{{{HERE}}}[$__rate_interval])\n"
                        f"and on (instance) chatcanary_build_info{{{HERE}}}",
                        "{{instance}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Open file descriptors",
                "Open file descriptors against the process limit: sockets leak here first.",
                "none",
                [
                    query(
                        f"process_open_fds{{{HERE}}}\n"
                        f"and on (instance) chatcanary_build_info{{{HERE}}}",
                        "{{instance}} open",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Scrape",
                "Samples per scrape (cardinality) and scrape duration of the exporter.",
                "short",
                [
                    query(f"scrape_samples_scraped{{{HERE}}}", "{{instance}} samples"),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Scrape duration",
                "How long Prometheus took to scrape the exporter.",
                "s",
                [query(f"scrape_duration_seconds{{{HERE}}}", "{{instance}}")],
            )
        )
    )
