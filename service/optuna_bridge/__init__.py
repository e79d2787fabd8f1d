"""Everything that speaks Optuna: distributions, samplers and pruners by name, studies."""

from __future__ import annotations

from service.optuna_bridge.distributions import suggest_params, to_distribution
from service.optuna_bridge.strategies import check_strategies, make_pruner, make_sampler
from service.optuna_bridge.studies import AskedTrial, OptunaStudies

__all__ = [
    "AskedTrial",
    "OptunaStudies",
    "check_strategies",
    "make_pruner",
    "make_sampler",
    "suggest_params",
    "to_distribution",
]
