"""A space's ranges as Optuna distributions, and drawing one trial's params in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from search_spaces import CategoricalParam, FloatParam, IntParam, is_active, sampling_order
from search_spaces.space import Range, constants, ranges

__all__ = ["suggest_params", "to_distribution"]


def to_distribution(entry: Range) -> BaseDistribution:
    if isinstance(entry, IntParam):
        return IntDistribution(entry.low, entry.high, log=entry.log, step=entry.step)
    if isinstance(entry, FloatParam):
        return FloatDistribution(entry.low, entry.high, log=entry.log, step=entry.step)
    assert isinstance(entry, CategoricalParam)
    return CategoricalDistribution(entry.choices)


def suggest_params(trial: optuna.Trial, space: Mapping[str, Any]) -> dict[str, Any]:
    """Draw every active range in dependency order; constants pass through unchanged.

    A re-queued trial carries fixed params, which Optuna's suggest calls return as they are.
    """
    drawn: dict[str, Any] = dict(constants(space))
    entries = ranges(space)
    for name in sampling_order(space):
        entry = entries[name]
        if is_active(entry, drawn):
            drawn[name] = _suggest(trial, name, entry)
    return drawn


def _suggest(trial: optuna.Trial, name: str, entry: Range) -> Any:
    if isinstance(entry, IntParam):
        return trial.suggest_int(name, entry.low, entry.high, step=entry.step, log=entry.log)
    if isinstance(entry, FloatParam):
        return trial.suggest_float(name, entry.low, entry.high, step=entry.step, log=entry.log)
    return trial.suggest_categorical(name, entry.choices)
