"""The study spec: what a user submits (YAML or JSON) to start a search.

Every model forbids extra fields, so a misspelt key is an error naming it, not silence.
Cross-field checks (the space against the model, conditions, the sampler against the space)
raise SpecError, whose dotted field path `describe_errors` turns into the error's location.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from search_spaces.datasets import DatasetRef, parse_dataset_ref
from search_spaces.errors import SpecError
from search_spaces.models import ModelPlan, plan_model
from search_spaces.params import CategoricalParam, FloatParam, IntParam, Scalar, SpaceEntry
from search_spaces.space import check_space, ranges
from search_spaces.templates import OPTIMIZERS

__all__ = [
    "MAX_TRIALS",
    "PRUNERS",
    "SAMPLERS",
    "Objective",
    "PrunerSpec",
    "RetrainSpec",
    "SamplerSpec",
    "SplitSpec",
    "StudySpec",
    "TrainingSpec",
]

SAMPLERS = ("random", "grid", "tpe", "cmaes", "gp", "qmc", "nsga2")
PRUNERS = ("none", "median", "asha", "hyperband")
MAX_TRIALS = 100_000
MAX_GRID = 100_000
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_METRIC = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_MINIMIZED = re.compile(r"(loss|error|mse|mae|n_params|seconds)", re.IGNORECASE)
Options = dict[str, bool | int | float | str | list[bool | int | float | str] | None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Objective(_Strict):
    metric: str = Field(pattern=_METRIC, description="A metric the worker reports.")
    direction: Literal["maximize", "minimize"] | None = Field(
        default=None, description="Inferred from the name when left out (`*loss` minimizes)."
    )
    use: Literal["best", "last"] = Field(
        default="best", description="The trial's value: its best epoch or its last."
    )

    @model_validator(mode="after")
    def _infer_direction(self) -> Objective:
        if self.direction is None:
            inferred = "minimize" if _MINIMIZED.search(self.metric) else "maximize"
            object.__setattr__(self, "direction", inferred)
        return self


def _named(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class SamplerSpec(_Strict):
    name: Literal["random", "grid", "tpe", "cmaes", "gp", "qmc", "nsga2"] = "tpe"
    seed: int | None = None
    options: Options = Field(default_factory=dict)


class PrunerSpec(_Strict):
    name: Literal["none", "median", "asha", "hyperband"] = "median"
    options: Options = Field(default_factory=dict)


class TrainingSpec(_Strict):
    epochs: int = Field(default=10, ge=1, le=10_000)
    batch_size: int = Field(default=32, ge=1, le=65_536)
    mixed_precision: bool = False
    jit_compile: bool = False
    steps_per_execution: int = Field(default=1, ge=1, le=10_000)
    shuffle: bool = True


class RetrainSpec(_Strict):
    epochs: int | None = Field(
        default=None, ge=1, le=10_000, description="Default: the trial's best epoch, scaled."
    )
    seeds: int = Field(default=1, ge=1, le=10)


class SplitSpec(_Strict):
    val: float = Field(default=0.15, gt=0, le=0.5)
    test: float = Field(default=0.15, gt=0, le=0.5)
    seed: int = 0


class StudySpec(_Strict):
    name: str = Field(pattern=_NAME, description="Unique per owner.")
    description: str | None = Field(default=None, max_length=2000)
    dataset: str = Field(max_length=1024)
    objective: Objective | Annotated[list[Objective], Field(min_length=1, max_length=4)]
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    max_trials: int = Field(default=20, ge=1, le=MAX_TRIALS)
    max_parallel: int = Field(default=4, ge=1, le=1024)
    priority: int = Field(default=0, ge=-1000, le=1000)
    fleet: bool = Field(
        default=True,
        description="Offer its trials to the fleet; false: only to tuners that claim it by id.",
    )
    seed: int | None = None
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    model: str | list[Any] | dict[str, Any] = "cnn"
    space: dict[str, SpaceEntry] = Field(default_factory=dict)
    retrain: RetrainSpec | None = None
    split: SplitSpec = Field(default_factory=SplitSpec)
    input_shape: tuple[int, int, int] | None = None
    classes: int | None = Field(default=None, ge=2, le=100_000)

    _sampler_named = field_validator("sampler", "pruner", mode="before")(_named)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        parse_dataset_ref(value)
        return value

    @field_validator("input_shape")
    @classmethod
    def _shape(cls, value: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        if value is not None and not all(1 <= d <= 8192 for d in value):
            raise ValueError(f"each dimension must be in 1..8192, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _check_across_fields(self) -> StudySpec:
        check_space(self.space)
        _check_against_model(self.space, self.model_plan)
        if self.model_plan.kind != "hypermodel":  # a hypermodel reads its params itself
            _check_training_values(self.space)
        _check_objectives(self.objectives, self.pruner)
        if self.sampler.name == "grid":
            _check_grid(self.space)
        return self

    @property
    def objectives(self) -> list[Objective]:
        return self.objective if isinstance(self.objective, list) else [self.objective]

    @property
    def directions(self) -> list[str]:
        return [str(o.direction) for o in self.objectives]

    @property
    def dataset_ref(self) -> DatasetRef:
        return parse_dataset_ref(self.dataset)

    @property
    def trial_budget(self) -> int:
        """max_trials, or fewer when a grid has fewer points."""
        if self.sampler.name == "grid":
            return min(self.max_trials, grid_size(self.space))
        return self.max_trials

    @cached_property
    def model_plan(self) -> ModelPlan:
        return plan_model(self.model)

    def known_shape(self) -> tuple[tuple[int, int, int], int] | None:
        """Input shape and class count, from the spec or a builtin dataset's facts."""
        builtin = self.dataset_ref.builtin
        shape = self.input_shape or (builtin.input_shape if builtin else None)
        classes = self.classes or (builtin.classes if builtin else None)
        return (shape, classes) if shape and classes else None


def _check_against_model(space: dict[str, Any], plan: ModelPlan) -> None:
    if plan.reads is not None:
        for name in space:
            if name not in plan.reads:
                known = ", ".join(sorted(plan.reads))
                raise SpecError(
                    f"space.{name}",
                    f"the {plan.name} model has no hyperparameter {name!r} (it reads: {known})",
                )
    missing = sorted(plan.required - set(space))
    if missing:
        raise SpecError("space", f"the model reads ${missing[0]}, which the space does not define")


def _values_of(entry: Any) -> list[Scalar] | None:
    if isinstance(entry, CategoricalParam):
        return list(entry.choices)
    if isinstance(entry, IntParam | FloatParam):
        return None
    return [entry]


def _check_training_values(space: dict[str, Any]) -> None:
    optimizer = _values_of(space.get("optimizer", "adam"))
    if optimizer is None:
        raise SpecError("space.optimizer", f"expected a categorical or a constant of {OPTIMIZERS}")
    for value in optimizer:
        if value not in OPTIMIZERS:
            raise SpecError(
                "space.optimizer", f"unknown optimizer {value!r} ({', '.join(OPTIMIZERS)})"
            )
    batch = space.get("batch_size")
    if batch is not None:
        values = _values_of(batch) or [batch.low, batch.high]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise SpecError("space.batch_size", f"expected positive integers, got {values}")
    for name in ("learning_rate", "momentum"):
        entry = space.get(name)
        for value in (_values_of(entry) if entry is not None else None) or []:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise SpecError(f"space.{name}", f"expected a non-negative number, got {value!r}")


def _check_objectives(objectives: list[Objective], pruner: PrunerSpec) -> None:
    metrics = [o.metric for o in objectives]
    if len(set(metrics)) != len(metrics):
        raise SpecError("objective", f"a metric is listed twice: {metrics}")
    if len(objectives) > 1 and pruner.name != "none":
        raise SpecError(
            "pruner", f"pruner {pruner.name!r} needs a single objective; use pruner: none"
        )


def grid_size(space: dict[str, Any]) -> int:
    """How many points the grid over a space's ranges has (constants add none)."""
    size = 1
    for entry in ranges(space).values():
        size *= len(entry.values())
    return size


def _check_grid(space: dict[str, Any]) -> None:
    for name, entry in ranges(space).items():
        if isinstance(entry, FloatParam) and entry.step is None:
            raise SpecError(f"space.{name}", "the grid sampler needs a step on every float range")
        if entry.when:
            raise SpecError(f"space.{name}.when", "the grid sampler does not support conditions")
    size = grid_size(space)
    if size > MAX_GRID:
        raise SpecError("space", f"the grid has {size} points; at most {MAX_GRID}")
