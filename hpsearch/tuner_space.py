"""KerasTuner hyperparameters as hpsearch search spaces, and back.

`discover_space(build_model)` runs a KerasTuner `build_model(hp)` the way KerasTuner's tuners
do (once, then once more per conditional scope that never became active) and maps every
hyperparameter it declared onto the space language: Int and Float ranges, Choice and Boolean
as categoricals, Fixed as a constant, `conditional_scope` as `when`. `hyperparameters_for`
goes the other way: a `HyperParameters` whose `hp.Int(...)` calls return one trial's values.

Imports keras_tuner: only users of the KerasTuner bridge import this module.
"""

from __future__ import annotations

import copy
import importlib
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import keras_tuner as kt
from keras_tuner.src.engine.conditions import Parent
from pydantic import TypeAdapter, ValidationError

from search_spaces.errors import SpecError
from search_spaces.params import SpaceEntry
from search_spaces.space import check_space

__all__ = [
    "HypermodelSpaceError",
    "declared_hyperparameters",
    "discover_space",
    "hyperparameters_for",
    "load_hypermodel",
    "same_space",
    "space_from_hyperparameters",
]

log = logging.getLogger(__name__)

MAX_BUILDS = 64
_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_space_adapter: TypeAdapter[dict[str, SpaceEntry]] = TypeAdapter(dict[str, SpaceEntry])


class HypermodelSpaceError(ValueError):
    """A hypermodel whose hyperparameters the space language cannot hold, or a reference
    that does not name an importable function."""


def load_hypermodel(reference: str) -> Callable[..., Any]:
    """The function (or `kt.HyperModel`) that "package.module:function" names."""
    if not _REFERENCE.match(reference):
        raise HypermodelSpaceError(f"expected 'package.module:function', got {reference!r}")
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HypermodelSpaceError(
            f"cannot import {module_name!r} for hypermodel {reference!r}: {exc}"
            " (install it, or put its folder on PYTHONPATH)"
        ) from exc
    found = getattr(module, attribute, None)
    if found is None:
        raise HypermodelSpaceError(f"module {module_name!r} has no {attribute!r} ({reference})")
    if not callable(found) and not isinstance(found, kt.HyperModel):
        raise HypermodelSpaceError(f"{reference} is a {type(found).__name__}, not a function")
    return found  # type: ignore[no-any-return]


def _builder(hypermodel: Any) -> Callable[[Any], Any]:
    return hypermodel.build if isinstance(hypermodel, kt.HyperModel) else hypermodel  # type: ignore[no-any-return]


def declared_hyperparameters(hypermodel: Any) -> Any:
    """Every hyperparameter `hypermodel` declares, as KerasTuner's BaseTuner collects them:
    build once, then build again with values that open each scope that stayed closed."""
    space = kt.HyperParameters()
    if isinstance(hypermodel, kt.HyperModel):
        hypermodel.declare_hyperparameters(space)
    build = _builder(hypermodel)
    hp = space.copy()
    once: list[Any] = []  # scopes (lists of conditions) active in some build
    never: list[Any] = []  # scopes not active in any build yet
    for _ in range(MAX_BUILDS):
        build(hp)
        space.merge([p for p in hp.space if not space._exists(p.name, p.conditions)])
        for scope in hp.active_scopes:
            if scope not in once:
                once.append(copy.deepcopy(scope))
            if scope in never:
                never.remove(scope)
        never += [copy.deepcopy(s) for s in hp.inactive_scopes if s not in once + never]
        if not never:
            return space
        hp = space.copy()
        for condition in never[0]:
            hp.values[condition.name] = condition.values[0]
        hp.ensure_active_values()
    raise HypermodelSpaceError(f"conditional scopes still closed after {MAX_BUILDS} builds")


def discover_space(build_model: Any) -> dict[str, Any]:
    """The space `build_model(hp)` declares, in the space language (`space:` of a StudySpec)."""
    return space_from_hyperparameters(declared_hyperparameters(build_model))


def space_from_hyperparameters(hyperparameters: Any) -> dict[str, Any]:
    """Map a KerasTuner `HyperParameters` space; HypermodelSpaceError names what cannot map."""
    params = list(hyperparameters.space)
    _check_names([p.name for p in params])
    space: dict[str, Any] = {}
    for param in params:
        entry = _entry(param)
        if isinstance(entry, dict) and param.conditions:
            entry["when"] = _when(param)
        space[param.name] = entry
    try:
        checked = _space_adapter.validate_python(space)
        check_space(checked)
    except (ValidationError, SpecError) as exc:
        raise HypermodelSpaceError(f"the hypermodel's space is not valid: {exc}") from None
    return space


def same_space(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Whether two spaces (as written, or as the controller stores them) are the same."""
    try:
        return _space_adapter.validate_python(first) == _space_adapter.validate_python(second)
    except ValidationError:
        return False


def _check_names(names: list[str]) -> None:
    bad = sorted({name for name in names if not _valid_name(name)})
    if bad:
        raise HypermodelSpaceError(
            f"hyperparameter names {bad} are not valid in an hpsearch space (letters, digits"
            " and _, not starting with a digit, at most 64 characters, no name_scope '/'):"
            " rename them in the hypermodel"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise HypermodelSpaceError(
            f"hyperparameters {repeated} are declared more than once under different"
            " conditions; give each declaration its own name"
        )


def _valid_name(name: str) -> bool:
    try:
        check_space({name: True})
    except SpecError:
        return False
    return True


def _when(param: Any) -> dict[str, list[Any]]:
    when: dict[str, list[Any]] = {}
    for condition in param.conditions:
        if not isinstance(condition, Parent):
            raise HypermodelSpaceError(f"{param.name}: unsupported condition {condition!r}")
        values = list(condition.values)
        if condition.name in when:
            values = [v for v in when[condition.name] if v in values]
        when[condition.name] = values
    return when


def _entry(param: Any) -> Any:
    if isinstance(param, kt.engine.hyperparameters.Fixed):
        return param.value
    if isinstance(param, kt.engine.hyperparameters.Boolean):
        return {"type": "categorical", "choices": [False, True]}
    if isinstance(param, kt.engine.hyperparameters.Choice):
        return {"type": "categorical", "choices": list(param.values)}
    if isinstance(param, kt.engine.hyperparameters.Int):
        return _int_entry(param, _sampling(param))
    if isinstance(param, kt.engine.hyperparameters.Float):
        return _float_entry(param, _sampling(param))
    raise HypermodelSpaceError(f"{param.name}: unsupported hyperparameter {param!r}")


def _sampling(param: Any) -> str:
    if param.sampling == "reverse_log":
        log.warning(
            "%s: sampling='reverse_log' has no equivalent; it is searched with log sampling"
            " (dense near the low end, not the high end)",
            param.name,
        )
        return "log"
    return str(param.sampling)


def _int_entry(param: Any, sampling: str) -> Any:
    low, high, step = int(param.min_value), int(param.max_value), param.step
    if sampling == "log" and step is not None and step > 1:
        return _geometric(param, low, high, step)
    if sampling == "log":
        return {"type": "int", "low": low, "high": high, "step": 1, "log": True}
    step = int(step or 1)
    top = low + (high - low) // step * step
    if top != high:
        log.info(
            "%s: Int(%d, %d, step=%d) never reaches %d; the range ends at %d",
            param.name, low, high, step, high, top,
        )  # fmt: skip
    if top == low:
        return low
    return {"type": "int", "low": low, "high": top, "step": step, "log": False}


def _float_entry(param: Any, sampling: str) -> Any:
    low, high, step = float(param.min_value), float(param.max_value), param.step
    if low == high:
        return low
    if sampling == "log" and step is not None:
        return _geometric(param, low, high, float(step))
    if sampling == "log" or step is None:
        return {"type": "float", "low": low, "high": high, "log": sampling == "log"}
    count = math.floor((high - low) / step + 1e-9)
    top = _tidy(low + count * step)
    if not math.isclose(top, high, rel_tol=1e-9, abs_tol=1e-12):
        log.info(
            "%s: Float(%g, %g, step=%g) never reaches %g; the range ends at %g",
            param.name, low, high, step, high, top,
        )  # fmt: skip
    if count == 0:
        return low
    return {"type": "float", "low": low, "high": top, "step": float(step), "log": False}


def _geometric(param: Any, low: float, high: float, step: float) -> dict[str, Any]:
    """KerasTuner's log sampling with a step multiplies by it: low, low*step, ... <= high."""
    values = [_tidy(v) for v in param.values]
    if isinstance(param, kt.engine.hyperparameters.Int):
        values = [int(v) for v in values]
    log.info(
        "%s: log sampling with step=%g from %g to %g becomes the choices %s",
        param.name, step, low, high, values,
    )  # fmt: skip
    return {"type": "categorical", "choices": values}


def _tidy(value: float) -> float:
    """Drop floating-point dust (0.1 + 0.2 → 0.3) so the space reads as written."""
    return float(f"{value:.12g}")


def hyperparameters_for(space: Mapping[str, Any], values: Mapping[str, Any]) -> Any:
    """A `kt.HyperParameters` holding `space` whose current values are `values`: in a
    hypermodel, `hp.Int(name, ...)` returns `values[name]` (None when inactive), as it does
    for KerasTuner's own trials."""
    hp = kt.HyperParameters()
    hp.values = dict(values)
    declared = [p for p in (_kt_param(name, entry) for name, entry in space.items()) if p]
    hp.merge(declared, overwrite=False)
    return hp


def _kt_param(name: str, entry: Any) -> Any:
    """The KerasTuner declaration of one space entry (None for a mix KerasTuner refuses)."""
    if not isinstance(entry, Mapping):
        return kt.engine.hyperparameters.Fixed(name, entry)
    conditions = [Parent(parent, list(v)) for parent, v in (entry.get("when") or {}).items()]
    kind, sampling = entry["type"], "log" if entry.get("log") else "linear"
    try:
        if kind == "categorical" and all(isinstance(c, bool) for c in entry["choices"]):
            return kt.engine.hyperparameters.Boolean(name, conditions=conditions)
        if kind == "categorical":
            return kt.engine.hyperparameters.Choice(
                name, list(entry["choices"]), conditions=conditions
            )
        step = entry.get("step")
        if kind == "int":
            step = None if sampling == "log" else step
            declare = kt.engine.hyperparameters.Int
        else:
            declare = kt.engine.hyperparameters.Float
        return declare(name, entry["low"], entry["high"], step=step, sampling=sampling,
                       conditions=conditions)  # fmt: skip
    except (TypeError, ValueError) as exc:
        log.debug("%s: no KerasTuner declaration (%s); its values still apply", name, exc)
        return None
