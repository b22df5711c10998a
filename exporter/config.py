"""The configuration: typed, validated, frozen. Pure apart from reading files.

`load_config(path)` returns a `Config` or raises `ConfigError` whose messages each name
the file, the line and the YAML path. `Config.plan()` resolves defaults into one `RunSpec`
per (target, canary): the scheduler's unit of work.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ByteSize,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from exporter import patterns, yamlsource
from exporter.checkspecs import (
    Check,
    Duration,
    MaxDuration,
    MaxTTFT,
    Name,
    Rubric,
    Strict,
    kind_hint,
    matching,
)


class Protocol(StrEnum):
    """The wire dialects chatcanary speaks."""

    OPENAI = "openai"
    AZURE_OPENAI = "azure_openai"
    ANTHROPIC = "anthropic"
    OLLAMA = "ollama"


# --- the file's sections ----------------------------------------------------------------


class Overridable(Strict):
    """Settings a target or a canary may override; None means inherit."""

    interval: Duration | None = None
    timeout: Duration | None = None
    connect_timeout: Duration | None = None
    first_token_timeout: Duration | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    seed: int | None = None
    stream: bool | None = None


class Budget(Strict):
    """A token budget (input + output, as reported) over rolling windows; when one is
    spent, the target's canaries pause until it frees up (the cost guard)."""

    tokens_per_hour: int | None = Field(default=None, gt=0)
    tokens_per_day: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some(self) -> Budget:
        if self.tokens_per_hour is None and self.tokens_per_day is None:
            raise ValueError("set tokens_per_hour, tokens_per_day or both")
        return self


class RefusalJudge(Strict):
    """A judge model's second opinion on the text classifier's refusal verdict: asked when
    the classifier's confidence is below `min_confidence` (`when: uncertain`) or on every
    answer (`when: always`); never over a structured refusal signal."""

    judge: Name | None = None  # may be left out when exactly one judge is configured
    when: Literal["uncertain", "always"] = "uncertain"
    min_confidence: float = Field(default=0.8, ge=0, le=1)


# What a judge that errs, times out or answers garbage does to its check's verdict.
OnJudgeError = Literal["pass", "fail", "unknown"]


class Defaults(Overridable):
    interval: Duration = 60.0
    timeout: Duration = 30.0
    connect_timeout: Duration = 5.0
    max_tokens: int = Field(default=64, gt=0)
    stream: bool = True
    jitter: float = Field(default=0.1, ge=0, le=1)
    concurrency: int = Field(default=4, gt=0, le=1000)
    max_response_bytes: int = Field(default=1 << 20, gt=0)
    budget: Budget | None = None  # per target; a target's own `budget` replaces it
    refusal_judge: RefusalJudge | None = None  # a canary's own replaces it
    on_judge_error: OnJudgeError = "unknown"


def _date_text(value: Any) -> Any:
    """YAML reads an unquoted 2023-06-01 as a date; versions are strings."""
    return value.isoformat() if isinstance(value, datetime.date) else value


DateString = Annotated[str, BeforeValidator(_date_text), Field(min_length=1)]
URL = Annotated[
    str, matching(r"https?://[^\s/]+", "must start with http:// or https:// and a host")
]


class Target(Overridable):
    name: Name
    protocol: Protocol
    base_url: URL
    model: str = Field(min_length=1, max_length=200)
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    # secret-typed: an Authorization header must not show when the config is printed
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    concurrency: int | None = Field(default=None, gt=0, le=1000)
    # azure_openai: the `api-version` query parameter; `model` is the deployment name
    api_version: DateString = "2024-10-21"
    # anthropic: the `anthropic-version` header
    anthropic_version: DateString = "2023-06-01"
    budget: Budget | None = None  # the cost guard; else `defaults.budget`
    # follow HTTP redirects (at most 5); off, a redirect is an error that names the target
    follow_redirects: bool = False

    def header_values(self) -> dict[str, str]:
        return {name: value.get_secret_value() for name, value in self.headers.items()}

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        # `api_key: ${OPENAI_API_KEY:-}` with the variable unset: the key is optional,
        # and an empty one would be sent as a bare `Bearer ` header
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @model_validator(mode="after")
    def _read_key_file(self) -> Target:
        if self.api_key_file is None:
            return self
        if self.api_key is not None:
            raise ValueError("set api_key or api_key_file, not both")
        try:
            key = self.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read api_key_file: {exc.strerror}") from None
        object.__setattr__(self, "api_key", SecretStr(key))
        return self


class Judge(Target):
    """A model that judges answers (`rubric` checks, `refusal_judge`). Defined like a
    target, but never probed: its calls are made by the runs that need a verdict, count
    in its own `budget`, and are cached (`cache_size` verdicts)."""

    timeout: Duration = 30.0  # one judge call
    max_tokens: int = Field(default=256, gt=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    stream: bool = False
    concurrency: int = Field(default=2, gt=0, le=1000)
    cache_size: int = Field(default=1000, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _not_probed(self) -> Judge:
        if self.interval is not None:
            raise ValueError("a judge is never probed: interval does not apply")
        return self


class Message(Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class Turn(Strict):
    """One user message of a conversation; the model's real answers fill the history."""

    user: str = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list)


RESERVED_CHECK = "refusal"  # the verdict on expect_refusal, added to every run


class Canary(Overridable):
    name: Name
    prompt: str | None = None
    system: str | None = None
    messages: list[Message] | None = Field(default=None, min_length=1)
    turns: list[Turn] | None = Field(default=None, min_length=1, max_length=20)
    checks: list[Check] = Field(default_factory=list)
    targets: list[Name] | None = None
    # True: must be refused; False: must be answered; None (unset): a refusal the text
    # classifier reads is measured and shown but never fails the run (structured refusal
    # signals still do). See `exporter.checks.expectation`.
    expect_refusal: bool | None = None
    deterministic: bool = False
    refusal_judge: RefusalJudge | None = None  # else `defaults.refusal_judge`
    on_judge_error: OnJudgeError | None = None  # else `defaults.on_judge_error`

    @model_validator(mode="after")
    def _conversation(self) -> Canary:
        given = [k for k in ("prompt", "messages", "turns") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of prompt, messages or turns")
        if self.messages is not None:
            if self.messages[-1].role != "user":
                raise ValueError("messages must end with a user message")
            if self.system is not None:
                raise ValueError("system goes with prompt or turns; put it in messages instead")
        labels = [label for label, _ in self.labelled_checks()]
        doubles = sorted({label for label in labels if labels.count(label) > 1})
        if doubles:
            raise ValueError(f"checks need distinct names (give each a name:): {doubles}")
        if RESERVED_CHECK in labels:
            raise ValueError(f"the check name {RESERVED_CHECK!r} is reserved for expect_refusal")
        return self

    def preamble(self) -> tuple[Message, ...]:
        """The fixed messages sent before the first turn."""
        if self.messages is not None:
            return tuple(self.messages[:-1])
        return () if self.system is None else (Message(role="system", content=self.system),)

    def user_turns(self) -> tuple[str, ...]:
        if self.turns is not None:
            return tuple(t.user for t in self.turns)
        if self.messages is not None:
            return (self.messages[-1].content,)
        return (self.prompt or "",)

    def labelled_checks(self) -> list[tuple[str, tuple[int | None, Check]]]:
        """Every check with its label and the turn (0-based) it judges; None: the whole
        conversation. Turn checks are named `{kind}_turn{n}` unless given a name."""
        out: list[tuple[str, tuple[int | None, Check]]] = []
        for i, turn in enumerate(self.turns or ()):
            out += [(c.name or f"{c.kind}_turn{i + 1}", (i, c)) for c in turn.checks]
        out += [(c.name or c.kind, (None, c)) for c in self.checks]
        return out


_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0)
_ITL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LAG_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0)

Buckets = Annotated[tuple[float, ...], Field(min_length=1)]


class Metrics(Strict):
    duration_buckets: Buckets = _DURATION_BUCKETS
    ttft_buckets: Buckets = _TTFT_BUCKETS
    inter_token_buckets: Buckets = _ITL_BUCKETS

    @field_validator("duration_buckets", "ttft_buckets", "inter_token_buckets")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= 0 for b in value):
            raise ValueError("bucket bounds must be positive")
        return tuple(sorted(set(value)))


def le_label(bound: float) -> str:
    """A bucket bound as the `le` label shows it (`2.0`, `0.25`, `+Inf`)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _re2(pattern: str) -> str:
    patterns.compile(pattern)  # as the OTel sink compiles it: linear in the text
    return pattern


RE2Pattern = Annotated[str, AfterValidator(_re2)]


class OpenTelemetry(Strict):
    """Traces (and optionally GenAI metrics) over OTLP. The standard OTEL_* variables
    apply where a key is not set; with no `traces:` key, traces are on exactly when
    OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set."""

    traces: bool | None = None
    metrics: bool = False
    endpoint: URL | None = None
    protocol: Literal["http/protobuf", "grpc"] | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    service_name: str | None = None
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    capture_content: bool = False
    redact_patterns: list[RE2Pattern] = Field(default_factory=list)
    max_content_chars: int = Field(default=2048, gt=0)
    metrics_interval: Duration = 60.0


class SLO(Strict):
    """A service-level objective over canary runs, per target; or, with `source: traffic`,
    over the real requests a proxy forwarded, per proxy."""

    name: Name
    sli: Literal["availability", "latency", "quality", "refusal"]
    source: Literal["canaries", "traffic"] = "canaries"
    proxies: list[Name] | None = None  # traffic only: these proxies (default all)
    objective: float = Field(gt=0, lt=100, description="percent of good runs")
    period: Duration = 30 * 86400.0
    threshold: Duration | None = None  # latency only: a run is good at or under it
    latency_of: Literal["request", "ttft"] = "request"
    targets: list[Name] | None = None
    canaries: list[Name] | None = None
    min_events: int = Field(default=3, ge=1)  # bad runs in the long window before alerting

    @model_validator(mode="after")
    def _threshold(self) -> SLO:
        if (self.sli == "latency") != (self.threshold is not None):
            raise ValueError("a latency SLO needs a threshold, and only a latency SLO takes one")
        if self.source == "traffic":
            if self.sli == "quality":
                raise ValueError("real traffic has no checks: a quality SLO needs canaries")
            if self.targets or self.canaries:
                raise ValueError("a traffic SLO selects proxies, not targets or canaries")
        elif self.proxies:
            raise ValueError("proxies go with source: traffic")
        return self

    def selects(self, target: str, canary: str) -> bool:
        """Whether the SLO judges this pair's runs. An empty filter selects every pair, as
        the generated rules' label selector does."""
        return (not self.targets or target in self.targets) and (
            not self.canaries or canary in self.canaries
        )


class Web(Strict):
    """The operator page and its APIs: how much history to keep, how `/probe` reuses
    results, what feedback to accept and how fast state-changing requests may come."""

    history_size: int = Field(default=50, ge=1, le=10_000)  # recent runs per canary
    failures_kept: int = Field(default=10, ge=0, le=10_000)  # failures kept after aging out
    history_text_chars: int = Field(default=4096, ge=64)  # answer text kept per turn
    probe_cache: Duration = 15.0  # /probe reuses a result finished this recently
    run_now_per_minute: int = Field(default=6, ge=1, le=10_000)
    feedback_categories: list[Name] = Field(
        default_factory=lambda: ["incorrect", "refused", "harmful", "slow", "other"],
        max_length=50,
    )
    feedback_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    feedback_max_bytes: int = Field(default=8192, ge=256, le=1 << 20)
    feedback_kept: int = Field(default=100, ge=1, le=10_000)  # listed on the page
    refresh: Duration = 10.0  # the page reloads its data this often
    # e.g. http://tempo:3200/trace/{trace_id}; the run page links the trace id with it
    trace_url: str | None = None
    # the web port against slow or many clients: a request's headers (and a body) must
    # arrive within header_timeout; past max_connections the longest idle one is closed
    header_timeout: Duration = 15.0
    max_connections: int = Field(default=256, ge=2, le=100_000)

    @field_validator("feedback_categories")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("feedback categories must be distinct")
        if "none" in value:
            raise ValueError("the category 'none' is reserved for feedback without one")
        return value

    @field_validator("trace_url")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://\S*\{trace_id\}", value):
            raise ValueError("trace_url must be an http(s) URL containing {trace_id}")
        return value


def _network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IPv4 or IPv6 network (`10.0.0.0/8`, `fd00::/8`), host bits unset; what pydantic's
    IPvAnyNetwork takes, without importing pydantic.networks (a tenth of `check`'s time)."""
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    try:
        return ipaddress.ip_network(value if isinstance(value, str | int) else "")
    except ValueError:
        raise ValueError("value is not a valid IPv4 or IPv6 network") from None


Network = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network,
    PlainValidator(_network),
    PlainSerializer(str, return_type=str),
]


class Security(Strict):
    """Where targets may be reached (an SSRF guard for shared or generated configs)."""

    # every address a target resolves to (and every redirect) must be in one of these
    allowed_networks: list[Network] | None = None


class Retention(Strict):
    """How long the store keeps each kind of record. Exchange content goes first; the
    summary row of every run stays longer, so rates over weeks stay right."""

    runs: Duration = 7 * 86400.0  # the exchange content of successful runs
    failed_runs: Duration = 30 * 86400.0  # the exchange content of failed runs
    summaries: Duration = 90 * 86400.0  # one row per run (and the model changes)
    feedback: Duration = 365 * 86400.0
    traffic: Duration = 7 * 86400.0  # exchanges a proxy captured (`capture: true`)

    @model_validator(mode="after")
    def _order(self) -> Retention:
        if self.summaries < max(self.runs, self.failed_runs):
            raise ValueError("summaries must be kept at least as long as runs and failed_runs")
        return self


STORE_URL_HELP = "sqlite:///PATH, postgresql://USER@HOST:PORT/DB or memory"


class Store(Strict):
    """The durable store of runs, feedback and model changes (exporter.store). Unset, `run`
    keeps a SQLite file in its data directory."""

    url: SecretStr | None = None  # may carry a password: never shown
    password_file: Path | None = None  # PostgreSQL: the password, read at start
    retention: Retention = Field(default_factory=Retention)
    max_size: ByteSize | None = ByteSize(1 << 30)  # SQLite: content then summaries go first
    queue: int = Field(default=10_000, ge=1, le=1_000_000)  # runs waiting to be written
    batch: int = Field(default=500, ge=1, le=100_000)  # runs per transaction

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        if text != "memory" and not re.match(r"^(sqlite|postgres|postgresql)(\+\w+)?://", text):
            raise ValueError(f"store url must be {STORE_URL_HELP}")
        if text.startswith("sqlite") and not text.partition("://")[2].lstrip("/"):
            raise ValueError("a sqlite store url needs a file path: sqlite:///PATH")
        try:
            urlsplit(text).port  # noqa: B018 - parsing it is the check
        except ValueError:
            raise ValueError("store url has a port that is not a number from 0 to 65535") from None
        return value

    @model_validator(mode="after")
    def _password(self) -> Store:
        if self.password_file is None:
            return self
        if self.url is None or not self.url.get_secret_value().startswith("postgres"):
            raise ValueError("password_file goes with a postgresql:// url")
        try:
            self.password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read password_file: {exc.strerror}") from None
        return self


class ReportSchedule(Strict):
    """The operator report (exporter.report): written every `every` into `dir` (HTML and
    JSON) and summarised to `webhook` (Slack-compatible JSON), on one replica only. /insights
    shows the same report live over `since`."""

    every: Duration | None = None  # unset: no scheduled report
    since: Duration = 7 * 86400.0  # the window each report covers
    dir: Path | None = None
    webhook: SecretStr | None = None  # a Slack incoming-webhook URL carries its token
    webhook_file: Path | None = None  # or read it from this file
    prometheus: str | None = None  # e.g. http://prometheus:9090, for days the store lacks
    web_url: str | None = None  # the exporter's page, for links in written reports

    @field_validator("webhook", "prometheus", "web_url")
    @classmethod
    def _http(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is not None and not re.match(r"^https?://[^/\s]", text):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _where(self) -> ReportSchedule:
        if self.webhook is not None and self.webhook_file is not None:
            raise ValueError("give webhook or webhook_file, not both")
        if self.webhook_file is not None:
            try:
                self.webhook_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read webhook_file: {exc.strerror}") from None
        if self.every is not None and self.dir is None and not self.posts:
            raise ValueError("a scheduled report needs dir, webhook or webhook_file")
        return self

    @property
    def posts(self) -> bool:
        return self.webhook is not None or self.webhook_file is not None

    def webhook_url(self) -> str | None:
        if self.webhook_file is not None:
            return self.webhook_file.read_text(encoding="utf-8").strip()
        return None if self.webhook is None else self.webhook.get_secret_value()


def parse_listen(value: str, default_host: str) -> tuple[str, int]:
    """The forms `--listen` takes: HOST:PORT, [IPv6]:PORT, and Prometheus's habits :PORT
    (every interface, as Go reads it) and PORT alone (on `default_host`)."""
    host, colon, port = value.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"want HOST:PORT, :PORT or PORT, got {value!r}")
    return (host if colon else default_host).strip("[]"), int(port)


def _listen(value: str) -> str:
    parse_listen(value, "127.0.0.1")
    return value


HeaderName = Annotated[
    str, matching(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z", "must be an HTTP header name")
]


class ListenerTLS(Strict):
    """A certificate for the proxy's own listener (PEM files)."""

    cert_file: Path
    key_file: Path


class Proxy(Strict):
    """A pass-through proxy in front of one chat service (exporter.proxy): it forwards
    every request byte for byte to `upstream` and measures the chat requests on the side."""

    name: Name
    protocol: Protocol
    listen: Annotated[str, AfterValidator(_listen)]
    upstream: URL  # the only place it forwards to, never a host from the request
    upstream_ca_file: Path | None = None  # extra CAs for an https:// upstream
    tls: ListenerTLS | None = None  # serve https on `listen`
    idle_timeout: Duration | None = None  # unset: no limit beyond the client's own
    sample_ratio: float = Field(default=1.0, ge=0, le=1)  # answers the refusal verdict reads
    max_models: int = Field(default=20, ge=1, le=1000)  # `model` values per proxy, then other
    tenant_header: HeaderName | None = None  # the only source of the `tenant` label
    max_tenants: int = Field(default=20, ge=1, le=1000)
    capture: bool = False  # keep sampled exchanges (redacted) in the store
    capture_ratio: float = Field(default=1.0, ge=0, le=1)
    conversation_header: HeaderName | None = None  # else one is generated and returned
    redact_patterns: list[RE2Pattern] = Field(default_factory=list)
    max_capture_chars: int = Field(default=8192, ge=64, le=1 << 20)
    max_observed_bytes: ByteSize = ByteSize(8 << 20)  # past it the observer stops reading
    propagate_trace: bool = False  # send a W3C traceparent upstream

    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen, "127.0.0.1")


def _share(unit: str, example: str, ceiling: float | None) -> Callable[[Any], Any]:
    """A threshold written with its unit (`20%`, `2pp`) as a fraction (0.2, 0.02)."""

    def parse(value: Any) -> Any:
        text = str(value).strip() if isinstance(value, str | int | float) else None
        if isinstance(value, bool) or text is None or not text.endswith(unit):
            raise ValueError(f"write it with its unit, e.g. {example}")
        try:
            number = float(text.removesuffix(unit))
        except ValueError:
            raise ValueError(f"write it with its unit, e.g. {example}") from None
        if not number >= 0 or (ceiling is not None and number > ceiling):
            top = "" if ceiling is None else f" to {ceiling:g}{unit}"
            raise ValueError(f"must be from 0{top}")
        return round(number / 100, 9)

    return parse


# A relative change of a median (`20%`: candidate/baseline - 1), and a change of a rate in
# percentage points (`2pp`: 0.02, absolute).
Percent = Annotated[float, BeforeValidator(_share("%", "20%", None))]
Points = Annotated[float, BeforeValidator(_share("pp", "2pp", 100))]


class Compare(Strict):
    """`chatcanary compare`: how many runs by default, and how much worse the candidate
    may be before a significant difference counts as a regression."""

    runs: int = Field(default=5, ge=1, le=10_000)  # per canary and target; --runs overrides
    alpha: float = Field(default=0.05, gt=0, lt=1)  # after the Holm correction
    max_success_drop: Points = 0.05
    max_error_increase: Points = 0.02
    max_check_failure_increase: Points = 0.05
    max_refusal_increase: Points = 0.02  # over-refusal: canaries that must be answered
    max_under_refusal_increase: Points = 0.02  # canaries that must be refused, answered
    max_ttft_increase: Percent = 0.2
    max_duration_increase: Percent = 0.2
    max_tokens_per_second_drop: Percent = 0.2
    max_tokens_increase: Percent = 0.5  # output tokens per answer
    max_answer_drift: Points | None = None  # unset: drift is shown, never a regression


class Config(Strict):
    include: list[str] = Field(default_factory=list)
    opentelemetry: OpenTelemetry = Field(default_factory=OpenTelemetry)
    defaults: Defaults = Field(default_factory=Defaults)
    # empty lists are valid beside proxies: a proxy-only config measures real traffic
    targets: list[Target]
    canaries: list[Canary]
    proxies: list[Proxy] = Field(default_factory=list)
    judges: list[Judge] = Field(default_factory=list)
    metrics: Metrics = Field(default_factory=Metrics)
    slos: list[SLO] = Field(default_factory=list)
    web: Web = Field(default_factory=Web)
    security: Security = Field(default_factory=Security)
    store: Store = Field(default_factory=Store)
    compare: Compare = Field(default_factory=Compare)
    report: ReportSchedule = Field(default_factory=ReportSchedule)

    @model_validator(mode="after")
    def _names(self, info: ValidationInfo) -> Config:
        if not (info.context or {}).get("located"):
            problems = cross_check(self)
            if problems:
                raise ValueError(problems[0][1])
        return self

    def names(self) -> set[str]:
        """The names feedback and the page may give: the targets' and the proxies'."""
        return {t.name for t in self.targets} | {p.name for p in self.proxies}

    def budgets(self) -> dict[str, Budget]:
        """Each target's token budget, for the targets that have one, and each judge's
        own (a judge does not take `defaults.budget`)."""
        chosen = {t.name: t.budget or self.defaults.budget for t in self.targets}
        chosen.update({j.name: j.budget for j in self.judges})
        return {name: budget for name, budget in chosen.items() if budget is not None}

    def plan(self) -> dict[tuple[str, str], RunSpec]:
        """Every (target, canary) pair to run, with defaults resolved."""
        plans: dict[tuple[str, str], RunSpec] = {}
        for target in self.targets:
            for canary in self.canaries:
                if canary.targets is None or target.name in canary.targets:
                    spec = RunSpec.resolve(self.defaults, target, canary)
                    plans[spec.key] = spec
        return plans

    def buckets(self) -> Metrics:
        """The configured buckets plus every latency threshold of the config: the bounds
        of histograms that serve every pair at once (the OTLP instruments)."""
        checks = [check for canary in self.canaries for check in _checks(canary)]
        return self._with(_thresholds(checks, self.slos))

    def series_buckets(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Metrics]:
        """The bounds of each (target, canary) pair's histograms: the configured buckets,
        the latency thresholds of the canary's own checks, and the threshold of every SLO
        that selects the pair, so that each has its `le` bucket. A threshold elsewhere in
        the config leaves the pair's bounds, and so its histograms, alone."""
        checks = {canary.name: _checks(canary) for canary in self.canaries}
        shared: dict[Thresholds, Metrics] = {}  # one object for the many pairs alike
        out: dict[tuple[str, str], Metrics] = {}
        for target, canary in keys:
            slos = [slo for slo in self.slos if slo.selects(target, canary)]
            wanted = _thresholds(checks.get(canary, []), slos)
            if wanted not in shared:
                shared[wanted] = self._with(wanted)
            out[target, canary] = shared[wanted]
        return out

    def _with(self, thresholds: Thresholds) -> Metrics:
        durations, ttfts = thresholds
        return Metrics(
            duration_buckets=(*self.metrics.duration_buckets, *durations),
            ttft_buckets=(*self.metrics.ttft_buckets, *ttfts),
            inter_token_buckets=self.metrics.inter_token_buckets,
        )


Thresholds = tuple[frozenset[float], frozenset[float]]  # request duration, time to first token


def _checks(canary: Canary) -> list[Check]:
    return [check for _, (_, check) in canary.labelled_checks()]


def _thresholds(checks: Sequence[Check], slos: Iterable[SLO]) -> Thresholds:
    """The latency bounds these checks and SLOs judge runs by."""
    durations = {c.max_duration for c in checks if isinstance(c, MaxDuration)}
    ttfts = {c.max_ttft for c in checks if isinstance(c, MaxTTFT)}
    for slo in slos:
        if slo.threshold is not None:
            (ttfts if slo.latency_of == "ttft" else durations).add(slo.threshold)
    return frozenset(durations), frozenset(ttfts)


def cross_check(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Rules across items, as (location, message): unique names, known target names."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if not config.proxies:
        for section in ("targets", "canaries"):
            if not getattr(config, section):
                problems.append(((section,), "is empty: give at least one, or proxies to run"))
    sections: dict[str, list[str]] = {
        "targets": [t.name for t in config.targets],
        "canaries": [c.name for c in config.canaries],
        "slos": [s.name for s in config.slos],
    }
    for section, names in sections.items():
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append(((section, i, "name"), f"duplicate name {name!r}"))
    # targets and proxies share one name space: feedback and the page name either
    taken = set(sections["targets"])
    listens: set[tuple[str, int]] = set()
    for i, proxy in enumerate(config.proxies):
        if proxy.name in taken:
            problems.append(((("proxies", i, "name")), f"duplicate name {proxy.name!r}"))
        taken.add(proxy.name)
        if proxy.address() in listens:
            problems.append(((("proxies", i, "listen")), f"address {proxy.listen!r} taken"))
        listens.add(proxy.address())
    known = {t.name for t in config.targets}
    for i, canary in enumerate(config.canaries):
        for j, name in enumerate(canary.targets or ()):
            if name not in known:
                problems.append(((("canaries", i, "targets", j)), f"unknown target {name!r}"))
    problems += _judge_names(config)
    named = {
        "target": known,
        "canary": {c.name for c in config.canaries},
        "proxy": {p.name for p in config.proxies},
    }
    for i, slo in enumerate(config.slos):
        for field, what in (("targets", "target"), ("canaries", "canary"), ("proxies", "proxy")):
            valid = named[what]
            for j, name in enumerate(getattr(slo, field) or ()):
                if name not in valid:
                    problems.append((("slos", i, field, j), f"unknown {what} {name!r}"))
    return problems


def _judge_names(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Judges are named apart from targets (they share the cost guard's names) and proxies
    (one name space for all three), and every rubric check and refusal_judge names a
    configured judge, or leaves it out when exactly one is configured."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    judges = [j.name for j in config.judges]
    targets = {t.name for t in config.targets}
    proxies = {p.name for p in config.proxies}
    for i, name in enumerate(judges):
        if name in judges[:i]:
            problems.append((("judges", i, "name"), f"duplicate name {name!r}"))
        elif name in targets:
            problems.append((("judges", i, "name"), f"{name!r} is a target's name too"))
        elif name in proxies:
            problems.append((("judges", i, "name"), f"{name!r} is a proxy's name too"))

    def wanted(loc: tuple[str | int, ...], name: str | None, what: str) -> None:
        if name is not None and name not in judges:
            known = ", ".join(judges) or "none is configured"
            problems.append(((*loc, "judge"), f"unknown judge {name!r} (judges: {known})"))
        elif name is None and not judges:
            problems.append((loc, f"{what} needs a judge, and none is configured (judges:)"))
        elif name is None and len(judges) > 1:
            known = ", ".join(judges)
            problems.append((loc, f"{what} must name its judge: several are configured ({known})"))

    if config.defaults.refusal_judge is not None:
        wanted(("defaults", "refusal_judge"), config.defaults.refusal_judge.judge, "refusal_judge")
    for i, canary in enumerate(config.canaries):
        if canary.refusal_judge is not None:
            wanted(("canaries", i, "refusal_judge"), canary.refusal_judge.judge, "refusal_judge")
        located: list[tuple[tuple[str | int, ...], Check]] = [
            (("canaries", i, "checks", j), c) for j, c in enumerate(canary.checks)
        ]
        for t, turn in enumerate(canary.turns or ()):
            located += [
                (("canaries", i, "turns", t, "checks", j), c) for j, c in enumerate(turn.checks)
            ]
        for loc, check in located:
            if isinstance(check, Rubric):
                wanted(loc, check.judge, "a rubric check")
    return problems


DETERMINISTIC_SEED = 1


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One (target, canary) pair with every setting resolved."""

    target: Target
    canary: Canary
    interval: float
    timeout: float
    connect_timeout: float
    first_token_timeout: float
    max_tokens: int
    temperature: float | None
    seed: int | None
    stream: bool
    jitter: float
    max_response_bytes: int
    refusal_judge: RefusalJudge | None = None
    on_judge_error: OnJudgeError = "unknown"

    @property
    def key(self) -> tuple[str, str]:
        return (self.target.name, self.canary.name)

    @classmethod
    def resolve(cls, defaults: Defaults, target: Target, canary: Canary) -> RunSpec:
        def pick(field: str) -> Any:
            for layer in (canary, target):
                value = getattr(layer, field)
                if value is not None:
                    return value
            return getattr(defaults, field)

        timeout = pick("timeout")
        first_token = pick("first_token_timeout")
        return cls(
            target=target,
            canary=canary,
            interval=pick("interval"),
            timeout=timeout,
            connect_timeout=min(pick("connect_timeout"), timeout),
            first_token_timeout=timeout if first_token is None else min(first_token, timeout),
            max_tokens=pick("max_tokens"),
            # a deterministic canary asks for repeatable answers unless told otherwise
            temperature=0.0
            if canary.deterministic and pick("temperature") is None
            else pick("temperature"),
            seed=DETERMINISTIC_SEED
            if canary.deterministic and pick("seed") is None
            else pick("seed"),
            stream=pick("stream"),
            jitter=defaults.jitter,
            max_response_bytes=defaults.max_response_bytes,
            refusal_judge=canary.refusal_judge or defaults.refusal_judge,
            on_judge_error=canary.on_judge_error or defaults.on_judge_error,
        )


# --- loading ----------------------------------------------------------------------------


class ConfigError(Exception):
    """A config that cannot be used; `messages` holds one line per problem."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror}"]) from None
    return parse_config(text, str(path), environ)


def parse_config(text: str, name: str, environ: Mapping[str, str] | None = None) -> Config:
    source = _source(text, name, environ)
    if not isinstance(source.data, dict):
        raise ConfigError([f"{name}: the config must be a mapping with targets and canaries"])
    data = dict(source.data)
    own = data.get("canaries") or []
    packs = _included(source, data.get("include"), Path(name).parent, environ)
    if not isinstance(own, list):
        packs = []  # Config validation reports the file's canaries; the packs can wait
    origins = Origins(source, len(own), packs)
    if packs:
        data["canaries"] = [*own, *(c for pack in packs for c in pack.data["canaries"])]
    try:
        config = Config.model_validate(data, context={"located": True})
    except ValidationError as exc:
        raise ConfigError([describe(origins.where, e, Config) for e in exc.errors()]) from None
    problems = cross_check(config)
    if problems:
        raise ConfigError([f"{origins.where(loc)}: {message}" for loc, message in problems])
    return config


Location = Sequence[int | str]


@dataclass(frozen=True)
class Origins:
    """Where each value came from: the file, except the canaries of included packs, which
    follow the file's own canaries and are located in their pack."""

    source: yamlsource.Source
    own: int  # the file's own canaries
    packs: list[yamlsource.Source]

    def where(self, loc: Location) -> str:
        if len(loc) > 1 and loc[0] == "canaries" and isinstance(loc[1], int):
            index = loc[1] - self.own
            for pack in self.packs:
                count = len(pack.data["canaries"])
                if 0 <= index < count:
                    return pack.where(("canaries", index, *loc[2:]))
                index -= count
        return self.source.where(loc)


BUILTIN = "builtin:"


class Pack(Strict):
    """An included file: canaries only."""

    canaries: list[Canary] = Field(min_length=1)


def _source(text: str, name: str, environ: Mapping[str, str] | None) -> yamlsource.Source:
    try:
        return yamlsource.load(text, name, environ)
    except yamlsource.SourceError as exc:
        raise ConfigError(exc.messages) from None


def _included(
    source: yamlsource.Source, includes: Any, base: Path, environ: Mapping[str, str] | None
) -> list[yamlsource.Source]:
    """Each included pack, read and validated on its own."""
    if not isinstance(includes, list):
        return []  # not a list: Config validation reports it
    packs: list[yamlsource.Source] = []
    for i, entry in enumerate(includes):
        if not isinstance(entry, str):
            continue
        try:
            if entry.startswith(BUILTIN):
                pack = entry.removeprefix(BUILTIN)
                text = resources.files("exporter").joinpath(f"data/packs/{pack}.yaml")
                name, body = entry, text.read_text(encoding="utf-8")
            else:
                path = base / entry
                name, body = str(path), path.read_text(encoding="utf-8")
        except OSError:
            known = ", ".join(BUILTIN + p for p in builtin_packs())
            hint = f" (built-in packs: {known})" if entry.startswith(BUILTIN) else ""
            raise ConfigError(
                [f"{source.where(('include', i))}: cannot read {entry!r}{hint}"]
            ) from None
        pack_source = _source(body, name, environ)
        try:
            Pack.model_validate(pack_source.data)
        except ValidationError as exc:
            messages = [describe(pack_source.where, e, Pack) for e in exc.errors()]
            raise ConfigError(messages) from None
        packs.append(pack_source)
    return packs


def builtin_packs() -> list[str]:
    folder = resources.files("exporter").joinpath("data/packs")
    names = (p.name for p in folder.iterdir())
    return sorted(n.removesuffix(".yaml") for n in names if n.endswith(".yaml"))


def describe(
    where: Callable[[Location], str], error: ErrorDetails, model: type[BaseModel] | None = None
) -> str:
    """A validation error as `file:line: path: message`; `where` locates its path. Given
    the validated `model`, an unknown key or check kind says which one was likely meant."""
    message = error["msg"].removeprefix("Value error, ")
    *parent, key = error["loc"] or ("",)
    if error["type"] == "extra_forbidden":
        message = "unknown key"
        if model is not None and isinstance(key, str):
            from exporter import suggest  # only for an error: difflib stays out of `run`

            near = suggest.closest(key, suggest.keys_at(model, parent))
            message += "" if near is None else f"; did you mean {near}?"
    elif error["type"] == "check_kind" and (hint := kind_hint(error["input"])) is not None:
        message = f"{hint} {message[:1].upper()}{message[1:]}"
    return f"{where(error['loc'])}: {message}"
