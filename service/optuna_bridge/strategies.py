"""Samplers and pruners by name, with their options checked against Optuna's signatures."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from search_spaces import SpecError, StudySpec
from search_spaces.space import ranges
from search_spaces.spec import PrunerSpec, SamplerSpec
from service.optuna_bridge.percentile import KeptMedianPruner
from service.optuna_bridge.tpe import KeptTPESampler

__all__ = ["check_strategies", "make_pruner", "make_sampler"]

_SAMPLERS: dict[str, type[BaseSampler]] = {
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "tpe": KeptTPESampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}
_PRUNERS: dict[str, Callable[..., BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": KeptMedianPruner,
    "asha": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}
# Options we set ourselves; the user's options override them.
_SAMPLER_DEFAULTS: dict[str, dict[str, Any]] = {
    "tpe": {"constant_liar": True, "multivariate": True},
}
_RESERVED = {"seed", "search_space", "sampler", "independent_sampler"}


def make_sampler(spec: StudySpec) -> BaseSampler:
    sampler = spec.sampler
    options = {**_SAMPLER_DEFAULTS.get(sampler.name, {}), **sampler.options}
    cls = _SAMPLERS[sampler.name]
    seed = sampler.seed if sampler.seed is not None else spec.seed
    if sampler.name == "grid":
        grid = {name: entry.values() for name, entry in ranges(spec.space).items()}
        return optuna.samplers.GridSampler(grid, seed=seed, **options)
    if sampler.name == "tpe" and any(entry.when for entry in ranges(spec.space).values()):
        options.setdefault("group", True)
    return cls(seed=seed, **options)  # type: ignore[call-arg]


def make_pruner(spec: StudySpec) -> BasePruner:
    pruner = spec.pruner
    options = {**_pruner_defaults(pruner, spec), **pruner.options}
    return _PRUNERS[pruner.name](**options)


def _pruner_defaults(pruner: PrunerSpec, spec: StudySpec) -> dict[str, Any]:
    if pruner.name == "hyperband":
        return {"min_resource": 1, "max_resource": spec.training.epochs, "reduction_factor": 3}
    if pruner.name == "asha":
        return {"min_resource": 1, "reduction_factor": 3}
    if pruner.name == "median":
        return {"n_startup_trials": 4, "n_warmup_steps": 1}
    return {}


def check_strategies(spec: StudySpec) -> None:
    """Build the sampler and pruner once; SpecError names the option Optuna refused."""
    _check_options("sampler", spec.sampler, _SAMPLERS[spec.sampler.name])
    _check_options("pruner", spec.pruner, _PRUNERS[spec.pruner.name])
    for field, build in (("sampler", make_sampler), ("pruner", make_pruner)):
        try:
            build(spec)
        except ImportError as exc:
            raise SpecError(
                f"{field}.name", f"needs a package this controller lacks: {exc}"
            ) from None
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{field}.options", str(exc)) from None


def _check_options(field: str, spec: SamplerSpec | PrunerSpec, target: Callable[..., Any]) -> None:
    accepted = set(inspect.signature(target).parameters) - _RESERVED - {"self"}
    for option in spec.options:
        if option not in accepted:
            known = ", ".join(sorted(accepted)) or "none"
            raise SpecError(
                f"{field}.options.{option}",
                f"{spec.name} takes no option {option!r} (it takes: {known})",
            )
