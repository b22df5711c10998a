"""The judge metrics, on the exporter's registry. Labels are bounded: `judge` is a
configured name, `rubric` a built-in rubric's name or the check's configured label
(`refusal_judge` for the second opinion), `error_class` a closed set (the canaries' error
classes plus `garbage` and `budget`), never text from an answer."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class JudgeMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "chatcanary_judge_requests",
            "Questions sent to a judge model (cache hits and calls held by the budget are "
            "not counted).",
            ["judge", "rubric"],
            registry=registry,
        )
        self.errors = Counter(
            "chatcanary_judge_errors",
            "Judge verdicts that could not be had, by why (the check's status is unknown).",
            ["judge", "rubric", "error_class"],
            registry=registry,
        )
        self.cache_hits = Counter(
            "chatcanary_judge_cache_hits",
            "Judge verdicts answered from the cache instead of a call.",
            ["judge", "rubric"],
            registry=registry,
        )
        self.tokens = Counter(
            "chatcanary_judge_tokens",
            "Tokens judge calls spent, as reported (or counted).",
            ["judge", "rubric", "type"],
            registry=registry,
        )
        self.duration = Histogram(
            "chatcanary_judge_duration_seconds",
            "How long judge calls took, request start to last byte.",
            ["judge", "rubric"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.agreement = Counter(
            "chatcanary_judge_agreement",
            "Refusal verdicts where the judge model agreed or disagreed with the text classifier.",
            ["judge", "result"],
            registry=registry,
        )

    def judge_configured(self, judge: str) -> None:
        """Agreement series at 0 from the start, so a rate over them is defined."""
        for result in ("agree", "disagree"):
            self.agreement.labels(judge, result)
