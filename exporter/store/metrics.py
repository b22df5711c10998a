"""The store's own metrics, on the exporter's private registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

WRITE_RESULTS = ("written", "dropped", "failed")
DELETED_KINDS = ("runs", "failed_runs", "summaries", "feedback", "model_changes", "traffic")


class StoreMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.writes = Counter(
            "chatcanary_store_writes",
            "Runs for the store: written, dropped (queue full) or failed (rejected).",
            ["result"],
            registry=registry,
        )
        for result in WRITE_RESULTS:
            self.writes.labels(result)
        self.queue = Gauge(
            "chatcanary_store_queue_length",
            "Runs waiting to be written to the store.",
            registry=registry,
        )
        self.up = Gauge(
            "chatcanary_store_up",
            "Whether the store is open and its last write succeeded.",
            registry=registry,
        )
        self.deleted = Counter(
            "chatcanary_store_deleted",
            "Records deleted by retention and the size cap, by kind.",
            ["kind"],
            registry=registry,
        )
        for kind in DELETED_KINDS:
            self.deleted.labels(kind)
        self.feedback = Counter(
            "chatcanary_store_feedback_writes",
            "Feedback submissions: committed, or refused (503) because the store could not.",
            ["result"],
            registry=registry,
        )
        for result in ("committed", "refused"):
            self.feedback.labels(result)
