"""The configuration of answer checks: one pydantic model per kind, told apart by the
kind's key (`- contains: "42"`). Judging them is `exporter.checks`' job."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from exporter import patterns
from exporter.judges.prompts import BUILTIN_RUBRIC, BUILTIN_RUBRICS


def matching(pattern: str, rule: str) -> AfterValidator:
    """A string constraint whose error states `rule`: pydantic's own message for a pattern
    shows the regular expression, which tells a reader little."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.match(value) is None:
            raise ValueError(rule)
        return value

    return AfterValidator(check)


Name = Annotated[
    str,
    matching(
        r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}\Z",
        "names use letters, digits and _ . : / - (at most 64, starting alnum)",
    ),
]


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
    # rounded: 350ms must be 0.35, not 0.35000000000000003 (it may become an `le` label)
    return round(sum(float(number) * _UNITS[unit] for number, unit in parts), 9)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckBase(Strict):
    kind: ClassVar[str]
    name: Name | None = None


class TextCheck(CheckBase):
    ignore_case: bool = False


class Contains(TextCheck):
    kind: ClassVar[str] = "contains"
    contains: str = Field(min_length=1)


class NotContains(TextCheck):
    kind: ClassVar[str] = "not_contains"
    not_contains: str = Field(min_length=1)


class ContainsAny(TextCheck):
    kind: ClassVar[str] = "contains_any"
    contains_any: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class ContainsAll(TextCheck):
    kind: ClassVar[str] = "contains_all"
    contains_all: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class Regex(TextCheck):
    kind: ClassVar[str] = "regex"
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        patterns.compile(value)  # RE2: linear in the answer, whatever the pattern
        return value


class Equals(CheckBase):
    """Equal after folding case and collapsing white space."""

    kind: ClassVar[str] = "equals"
    equals: str


class Number(CheckBase):
    """The first number in the answer, within `tolerance` of `number`."""

    kind: ClassVar[str] = "number"
    number: float = Field(allow_inf_nan=False)
    tolerance: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class Json(CheckBase):
    """The answer is JSON (optionally inside one ``` fence) and fits `schema` if given."""

    kind: ClassVar[str] = "json"
    json_: bool = Field(alias="json")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    allow_fences: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("json_")
    @classmethod
    def _true(cls, value: bool) -> bool:
        if not value:
            raise ValueError("write `json: true`; remove the check to allow any text")
        return value

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            import jsonschema  # only for a config with a schema: it is slow to import

            try:
                jsonschema.Draft202012Validator.check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"invalid JSON Schema: {exc.message}") from None
        return value


class LengthBounds(Strict):
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=0)
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some(self) -> LengthBounds:
        if all(
            v is None for v in (self.min_chars, self.max_chars, self.min_tokens, self.max_tokens)
        ):
            raise ValueError("give at least one of min_chars, max_chars, min_tokens, max_tokens")
        return self


class Length(CheckBase):
    kind: ClassVar[str] = "length"
    length: LengthBounds


class Similarity(CheckBase):
    """Fuzzy similarity (0..1) to a reference answer, after folding case and space."""

    kind: ClassVar[str] = "similarity"
    similarity: str = Field(min_length=1)
    min_ratio: float = Field(default=0.8, ge=0, le=1)


class MaxDuration(CheckBase):
    kind: ClassVar[str] = "max_duration"
    max_duration: Duration


class MaxTTFT(CheckBase):
    kind: ClassVar[str] = "max_ttft"
    max_ttft: Duration


class MinTokensPerSecond(CheckBase):
    kind: ClassVar[str] = "min_tokens_per_second"
    min_tokens_per_second: float = Field(gt=0, allow_inf_nan=False)


class Rubric(CheckBase):
    """Criteria a judge model decides on, over the whole conversation up to the checked
    turn: free text, or a built-in rubric by name (`builtin:coherent`). Judged after the
    pure checks, by `exporter.judges`; `judge` may be left out when one judge is set."""

    kind: ClassVar[str] = "rubric"
    rubric: str = Field(min_length=1, max_length=4000)
    judge: Name | None = None

    @field_validator("rubric")
    @classmethod
    def _known_builtin(cls, value: str) -> str:
        if value.startswith(BUILTIN_RUBRIC):
            name = value.removeprefix(BUILTIN_RUBRIC)
            if name not in BUILTIN_RUBRICS:
                known = ", ".join(BUILTIN_RUBRIC + n for n in BUILTIN_RUBRICS)
                raise ValueError(f"unknown built-in rubric {value!r}; known: {known}")
        return value

    @property
    def builtin(self) -> str | None:
        """The built-in rubric's name (`coherent`), None for free-text criteria."""
        if self.rubric.startswith(BUILTIN_RUBRIC):
            return self.rubric.removeprefix(BUILTIN_RUBRIC)
        return None


class Refused(CheckBase):
    kind: ClassVar[str] = "refused"
    refused: bool


class NotRefused(CheckBase):
    kind: ClassVar[str] = "not_refused"
    not_refused: bool


CHECK_MODELS: tuple[type[CheckBase], ...] = (
    Contains,
    NotContains,
    ContainsAny,
    ContainsAll,
    Regex,
    Equals,
    Number,
    Json,
    Length,
    Similarity,
    MaxDuration,
    MaxTTFT,
    MinTokensPerSecond,
    Refused,
    NotRefused,
    Rubric,
)
CHECK_KINDS = tuple(model.kind for model in CHECK_MODELS)


def kind_hint(value: Any) -> str | None:
    """For a check with no kind: the kind a key of it likely meant (`contain`)."""
    if not isinstance(value, Mapping) or any(k in value for k in CHECK_KINDS):
        return None
    from exporter import suggest  # only for an error: difflib stays out of `run`

    for key in value:
        if isinstance(key, str) and (kind := suggest.closest(key, CHECK_KINDS)) is not None:
            return f"unknown check kind {key!r}; did you mean {kind}?"
    return None


def _check_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        kinds = [k for k in CHECK_KINDS if k in value]
        return kinds[0] if len(kinds) == 1 else None
    kind: str | None = getattr(value, "kind", None)
    return kind


Check = Annotated[
    Annotated[Contains, Tag("contains")]
    | Annotated[NotContains, Tag("not_contains")]
    | Annotated[ContainsAny, Tag("contains_any")]
    | Annotated[ContainsAll, Tag("contains_all")]
    | Annotated[Regex, Tag("regex")]
    | Annotated[Equals, Tag("equals")]
    | Annotated[Number, Tag("number")]
    | Annotated[Json, Tag("json")]
    | Annotated[Length, Tag("length")]
    | Annotated[Similarity, Tag("similarity")]
    | Annotated[MaxDuration, Tag("max_duration")]
    | Annotated[MaxTTFT, Tag("max_ttft")]
    | Annotated[MinTokensPerSecond, Tag("min_tokens_per_second")]
    | Annotated[Refused, Tag("refused")]
    | Annotated[NotRefused, Tag("not_refused")]
    | Annotated[Rubric, Tag("rubric")],
    Discriminator(
        _check_kind,
        custom_error_type="check_kind",
        custom_error_message="a check needs exactly one of: " + ", ".join(CHECK_KINDS),
    ),
]
