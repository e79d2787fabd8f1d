"""Study specs for KerasTuner hypermodels: `model: {hypermodel: "package.module:function"}`
with the space the hypermodel declares."""

from __future__ import annotations

import re
from typing import Any

from hpsearch.tuner_space import discover_space, load_hypermodel
from search_spaces.spec import Objective

__all__ = [
    "TRAINED_BY_TUNER",
    "TUNER_DATA",
    "hypermodel_spec",
    "objective_of",
    "study_spec",
    "trained_by_tuner",
]

# What a ServiceOracle's study records when its script names neither: the data and the
# hypermodel live in the KerasTuner processes.
TUNER_DATA = "npz:keras-tuner-search-data"
TRAINED_BY_TUNER = "hpsearch.tuner_study:trained_by_tuner"
_DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
_OWN_FIELDS = frozenset({"name", "model", "space"})


def trained_by_tuner(hp: Any) -> Any:
    """The hypermodel of a study whose model exists only in KerasTuner scripts."""
    raise RuntimeError(
        "this study's trials are trained by KerasTuner processes (ServiceOracle) whose"
        " hypermodel was not named; a fleet worker cannot build it"
    )


def objective_of(objective: Any, direction: str | None = None) -> tuple[str, str]:
    """(metric, "maximize" | "minimize") from a name or a `kt.Objective`; the direction
    is inferred from the name as the controller does (`*loss` minimizes) when not given."""
    if isinstance(objective, list | tuple) or hasattr(objective, "objectives"):
        raise ValueError("hpsearch searches one objective here; pass a single metric")
    if hasattr(objective, "name") and hasattr(objective, "direction"):
        return str(objective.name), _DIRECTIONS[str(objective.direction)]
    metric = str(objective)
    if direction is not None:
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be max or min (or maximize, minimize): {direction!r}")
        return metric, _DIRECTIONS[direction]
    return metric, str(Objective(metric=metric).direction)


def study_spec(
    name: str,
    reference: str,
    dataset: str,
    space: dict[str, Any],
    *,
    objective: Any = "val_accuracy",
    direction: str | None = None,
    max_trials: int = 20,
    **fields: Any,
) -> dict[str, Any]:
    """A complete StudySpec (as a dict) for a hypermodel and its space."""
    clash = sorted(_OWN_FIELDS & set(fields))
    if clash:
        raise TypeError(f"{clash} are set from the hypermodel; they cannot be passed")
    metric, sense = objective_of(objective, direction)
    return {
        "name": name,
        "dataset": dataset,
        "objective": {"metric": metric, "direction": sense},
        "max_trials": max_trials,
        "model": {"hypermodel": reference},
        "space": space,
        **fields,
    }


def hypermodel_spec(
    reference: str,
    build_model: Any = None,
    dataset: str = "digits",
    objective: Any = "val_accuracy",
    max_trials: int = 20,
    **fields: Any,
) -> dict[str, Any]:
    """The StudySpec of a KerasTuner `build_model(hp)` that workers import as `reference`
    ("package.module:function"); the space is discovered by building it here. `build_model`
    may be left out: it is then imported from `reference`."""
    hypermodel = build_model if build_model is not None else load_hypermodel(reference)
    name = fields.pop("name", None) or default_study_name(reference)
    return study_spec(
        name, reference, dataset, discover_space(hypermodel),
        objective=objective, max_trials=max_trials, **fields,
    )  # fmt: skip


def default_study_name(reference: str) -> str:
    """A valid study name from a reference: pkg.models:build → pkg.models-build."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", reference).lstrip("._-")[:64] or "hypermodel"
