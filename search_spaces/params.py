"""Hyperparameter declarations: `int`, `float`, `categorical` ranges and plain constants.

A space entry is either a range (a discriminated union on `type`) or a constant scalar.
Each range may carry a condition (`when`): it is active only while other params take
given values.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)

__all__ = [
    "MAX_CHOICES",
    "CategoricalParam",
    "Constant",
    "FloatParam",
    "IntParam",
    "ParamSpec",
    "Scalar",
    "SpaceEntry",
]

MAX_CHOICES = 256

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
Condition = dict[str, list[Scalar]]


def _as_condition(value: object) -> object:
    """Accept `when: {flag: true}` as shorthand for `when: {flag: [true]}`."""
    if isinstance(value, dict):
        return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
    return value


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    when: Condition | None = Field(
        default=None,
        description="Active only while each named param takes one of the listed values.",
    )

    _check_when = field_validator("when", mode="before")(_as_condition)

    @field_validator("when")
    @classmethod
    def _when_not_empty(cls, value: Condition | None) -> Condition | None:
        if value is not None:
            if not value:
                raise ValueError("when: names no param")
            for name, choices in value.items():
                if not choices:
                    raise ValueError(f"when.{name}: lists no value")
        return value


class IntParam(_Param):
    """An integer range; `log` samples uniformly in log space, `step` quantizes."""

    type: Literal["int"]
    low: StrictInt
    high: StrictInt
    step: StrictInt = 1
    log: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> IntParam:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.step < 1:
            raise ValueError(f"step ({self.step}) must be at least 1")
        if self.log and self.low <= 0:
            raise ValueError(f"log needs low > 0 (got low={self.low})")
        if self.log and self.step != 1:
            raise ValueError(f"log and step={self.step} cannot be combined (log needs step 1)")
        if (self.high - self.low) % self.step:
            raise ValueError(
                f"step ({self.step}) does not fit the range {self.low}..{self.high}:"
                f" high - low must be a multiple of step"
            )
        return self

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def contains(self, value: object) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )


class FloatParam(_Param):
    """A float range; `log` samples in log space; `step` makes it discrete."""

    type: Literal["float"]
    low: StrictFloat | StrictInt
    high: StrictFloat | StrictInt
    step: StrictFloat | StrictInt | None = None
    log: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> FloatParam:
        for label, number in (("low", self.low), ("high", self.high), ("step", self.step)):
            if number is not None and not math.isfinite(number):
                raise ValueError(f"{label} must be a finite number (got {number})")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log needs low > 0 (got low={self.low})")
        if self.step is not None:
            self._check_step(self.step)
        return self

    def _check_step(self, step: float) -> None:
        if step <= 0:
            raise ValueError(f"step ({step}) must be positive")
        if self.log:
            raise ValueError(f"log and step={step} cannot be combined")
        ratio = (self.high - self.low) / step
        if abs(ratio - round(ratio)) > 1e-8 * max(1.0, abs(ratio)):
            raise ValueError(
                f"step ({step}) does not fit the range {self.low}..{self.high}:"
                f" high - low must be a multiple of step"
            )

    def values(self) -> list[float]:
        """The grid of a stepped range; a continuous one has no finite grid."""
        if self.step is None:
            raise ValueError("a float range without step has no finite set of values")
        count = round((self.high - self.low) / self.step)
        return [float(self.low + i * self.step) for i in range(count + 1)]

    def contains(self, value: object) -> bool:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )


class CategoricalParam(_Param):
    """A choice among numbers, strings or booleans."""

    type: Literal["categorical"]
    choices: list[Scalar] = Field(min_length=1, max_length=MAX_CHOICES)

    @field_validator("choices")
    @classmethod
    def _unique(cls, choices: list[Scalar]) -> list[Scalar]:
        seen: list[tuple[type, Scalar]] = []
        for choice in choices:
            key = (type(choice), choice)
            if key in seen:
                raise ValueError(f"choice {choice!r} is listed twice")
            seen.append(key)
            if isinstance(choice, float) and not math.isfinite(choice):
                raise ValueError(f"choice {choice!r} is not a finite number")
        return choices

    def values(self) -> list[Scalar]:
        return list(self.choices)

    def contains(self, value: object) -> bool:
        return any(type(value) is type(c) and value == c for c in self.choices)


RANGE_TAG = "~range"
CONSTANT_TAG = "~constant"


def _range_type(value: object) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        return kind if kind in ("int", "float", "categorical") else None
    return getattr(value, "type", None)


def _entry_kind(value: object) -> str:
    return RANGE_TAG if isinstance(value, dict | _Param) else CONSTANT_TAG


def _constant(value: object) -> Scalar:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"constant {value!r} is not a finite number")
        return value
    raise ValueError(
        f"expected a range (a mapping with type: int, float or categorical) or a constant"
        f" number, string or boolean, got {value!r}"
    )


ParamSpec = Annotated[
    Annotated[IntParam, Tag("int")]
    | Annotated[FloatParam, Tag("float")]
    | Annotated[CategoricalParam, Tag("categorical")],
    Discriminator(
        _range_type,
        custom_error_type="param_type",
        custom_error_message="a range needs type: int, float or categorical",
    ),
]
Constant = Annotated[Scalar, PlainValidator(_constant)]
SpaceEntry = Annotated[
    Annotated[ParamSpec, Tag(RANGE_TAG)] | Annotated[Constant, Tag(CONSTANT_TAG)],
    Discriminator(_entry_kind),
]
