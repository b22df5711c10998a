"""The configuration: typed, validated, frozen. Pure apart from reading files.

`load_config(path)` returns a `Config` or raises `ConfigError` whose messages each name
the file, the line and the YAML path. `Config.plan()` resolves defaults into one `RunSpec`
per (target, canary): the scheduler's unit of work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from exporter import yamlsource

# --- scalar types -----------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """`30s`, `1m30s`, `250ms`, `2h`, or a plain number of seconds (also as a string,
    as `${VAR}` interpolation gives)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number with ms, s, m, h or d, not a boolean")
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {value!r}: use a number with ms, s, m, h or d")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]


class Protocol(StrEnum):
    """The wire dialects chatcanary speaks (anthropic, ollama, azure_openai: next)."""

    OPENAI = "openai"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- checks -----------------------------------------------------------------------------


class CheckBase(Strict):
    kind: ClassVar[str]
    name: Name | None = None

    @property
    def label(self) -> str:
        return self.name or self.kind


class TextCheck(CheckBase):
    ignore_case: bool = False


class Contains(TextCheck):
    contains: str = Field(min_length=1)
    kind: ClassVar[str] = "contains"


class NotContains(TextCheck):
    not_contains: str = Field(min_length=1)
    kind: ClassVar[str] = "not_contains"


class Regex(TextCheck):
    regex: str
    kind: ClassVar[str] = "regex"

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class MaxDuration(CheckBase):
    max_duration: Duration
    kind: ClassVar[str] = "max_duration"


class MaxTTFT(CheckBase):
    max_ttft: Duration
    kind: ClassVar[str] = "max_ttft"


CHECK_KINDS = ("contains", "not_contains", "regex", "max_duration", "max_ttft")


def _check_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        kinds = [k for k in CHECK_KINDS if k in value]
        return kinds[0] if len(kinds) == 1 else None
    return getattr(value, "kind", None)


Check = Annotated[
    Annotated[Contains, Tag("contains")]
    | Annotated[NotContains, Tag("not_contains")]
    | Annotated[Regex, Tag("regex")]
    | Annotated[MaxDuration, Tag("max_duration")]
    | Annotated[MaxTTFT, Tag("max_ttft")],
    Discriminator(
        _check_kind,
        custom_error_type="check_kind",
        custom_error_message="a check needs exactly one of: " + ", ".join(CHECK_KINDS),
    ),
]


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


class Defaults(Overridable):
    interval: Duration = 60.0
    timeout: Duration = 30.0
    connect_timeout: Duration = 5.0
    max_tokens: int = Field(default=64, gt=0)
    stream: bool = True
    jitter: float = Field(default=0.1, ge=0, le=1)
    concurrency: int = Field(default=4, gt=0, le=1000)
    max_response_bytes: int = Field(default=1 << 20, gt=0)


class Target(Overridable):
    name: Name
    protocol: Protocol
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    model: str = Field(min_length=1, max_length=200)
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    concurrency: int | None = Field(default=None, gt=0, le=1000)

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


class Message(Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class Canary(Overridable):
    name: Name
    prompt: str | None = None
    system: str | None = None
    messages: list[Message] | None = None
    checks: list[Check] = Field(default_factory=list)
    targets: list[Name] | None = None
    expect_refusal: bool = False

    @model_validator(mode="after")
    def _conversation(self) -> Canary:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("set exactly one of prompt or messages")
        if self.messages is not None:
            if not self.messages or self.messages[-1].role != "user":
                raise ValueError("messages must end with a user message")
            if self.system is not None:
                raise ValueError("system goes with prompt; put it in messages instead")
        labels = [c.label for c in self.checks]
        doubles = sorted({label for label in labels if labels.count(label) > 1})
        if doubles:
            raise ValueError(f"checks need distinct names (give each a name:): {doubles}")
        return self

    def conversation(self) -> tuple[Message, ...]:
        if self.messages is not None:
            return tuple(self.messages)
        system = () if self.system is None else (Message(role="system", content=self.system),)
        return (*system, Message(role="user", content=self.prompt or ""))


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


class Config(Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    targets: list[Target] = Field(min_length=1)
    canaries: list[Canary] = Field(min_length=1)
    metrics: Metrics = Field(default_factory=Metrics)

    @model_validator(mode="after")
    def _names(self) -> Config:
        _unique("target", [t.name for t in self.targets])
        _unique("canary", [c.name for c in self.canaries])
        known = {t.name for t in self.targets}
        for canary in self.canaries:
            unknown = sorted(set(canary.targets or ()) - known)
            if unknown:
                raise ValueError(f"canary {canary.name!r} names unknown targets {unknown}")
        return self

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
        """Configured buckets plus every latency threshold the checks use, so that a
        `le` bucket exists for each of them."""
        checks = [c for canary in self.canaries for c in canary.checks]
        durations = {c.max_duration for c in checks if isinstance(c, MaxDuration)}
        ttfts = {c.max_ttft for c in checks if isinstance(c, MaxTTFT)}
        return Metrics(
            duration_buckets=(*self.metrics.duration_buckets, *durations),
            ttft_buckets=(*self.metrics.ttft_buckets, *ttfts),
            inter_token_buckets=self.metrics.inter_token_buckets,
        )


def _unique(what: str, names: list[str]) -> None:
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise ValueError(f"{what} names must be unique: {doubles}")


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
            temperature=pick("temperature"),
            seed=pick("seed"),
            stream=pick("stream"),
            jitter=defaults.jitter,
            max_response_bytes=defaults.max_response_bytes,
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
    try:
        source = yamlsource.load(text, name, environ)
    except yamlsource.SourceError as exc:
        raise ConfigError(exc.messages) from None
    if not isinstance(source.data, dict):
        raise ConfigError([f"{name}: the config must be a mapping with targets and canaries"])
    try:
        return Config.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError([_describe(source, e) for e in exc.errors()]) from None


def _describe(source: yamlsource.Source, error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "string_pattern_mismatch" and error["loc"][-1] == "base_url":
        message = "base_url must start with http:// or https:// and a host"
    elif error["type"] == "string_pattern_mismatch":
        message = "names use letters, digits and _ . : / - (at most 64, starting alnum)"
    return f"{source.where(error['loc'])}: {message}"
