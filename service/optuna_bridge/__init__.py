"""Everything that speaks Optuna: distributions, samplers and pruners by name, studies."""

from __future__ import annotations

from service.optuna_bridge.distributions import suggest_params, to_distribution
from service.optuna_bridge.records import read_system_attrs, record_intermediate
from service.optuna_bridge.strategies import check_strategies, make_pruner, make_sampler
from service.optuna_bridge.studies import AskedTrial, OptunaStudies, PruneQuestion, SpecData

__all__ = [
    "AskedTrial",
    "OptunaStudies",
    "PruneQuestion",
    "SpecData",
    "check_strategies",
    "make_pruner",
    "make_sampler",
    "read_system_attrs",
    "record_intermediate",
    "suggest_params",
    "to_distribution",
]
