"""The largest model a space can produce, estimated from the spec alone (no Keras).

The controller refuses a study whose largest model exceeds a cap before anything is built.
Only params that change the weight count matter (repeat counts, `when` clauses, filters,
units, kernel sizes, strides, padding); each is tried at its extremes (every choice for a
categorical). Small grids are enumerated; larger ones are climbed one param at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from search_spaces.errors import SpecError
from search_spaces.expressions import Expression
from search_spaces.layers import Item, LayerItem, RepeatItem
from search_spaces.models import ModelPlan, resolve_model
from search_spaces.params import CategoricalParam
from search_spaces.shapes import infer_shapes
from search_spaces.space import Range, ranges

__all__ = ["Largest", "check_model_size", "largest_model"]

DEFAULT_CAP = 50_000_000
ENUMERATION_LIMIT = 4096
_SHAPE_ARGS = {"filters", "kernel_size", "strides", "padding", "dilation_rate", "units"}
_SHAPE_ARGS |= {"pool_size", "use_bias"}


@dataclass(frozen=True)
class Largest:
    weights: int
    params: Mapping[str, Any]


def check_model_size(
    plan: ModelPlan,
    space: Mapping[str, Any],
    input_shape: tuple[int, ...],
    classes: int,
    cap: int = DEFAULT_CAP,
) -> Largest:
    """Raise SpecError at `space` when the largest model is above `cap` weights."""
    largest = largest_model(plan, space, input_shape, classes)
    if largest.weights > cap:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(largest.params.items()))
        raise SpecError(
            "space",
            f"the largest model in this space has {largest.weights:,} weights ({shown}),"
            f" above the cap of {cap:,}",
        )
    return largest


def largest_model(
    plan: ModelPlan, space: Mapping[str, Any], input_shape: tuple[int, ...], classes: int
) -> Largest:
    fixed = {k: v for k, v in space.items() if not isinstance(v, Range)}
    relevant = _shape_names(plan.layers)
    options = {name: _extremes(entry) for name, entry in ranges(space).items() if name in relevant}
    base = {**fixed, **{name: _low(entry) for name, entry in ranges(space).items()}}
    grid_size = 1
    for values in options.values():
        grid_size *= len(values)
    if grid_size <= ENUMERATION_LIMIT:
        candidates: Iterator[dict[str, Any]] = (
            {**base, **dict(zip(options, combo, strict=True))}
            for combo in itertools.product(*options.values())
        )
        return _best(plan, candidates, input_shape, classes)
    return _climb(plan, base, options, input_shape, classes)


def _best(
    plan: ModelPlan,
    candidates: Iterator[dict[str, Any]],
    input_shape: tuple[int, ...],
    classes: int,
) -> Largest:
    best: Largest | None = None
    first_error: SpecError | None = None
    for params in candidates:
        try:
            weights = infer_shapes(
                resolve_model(plan, params, classes), input_shape, classes
            ).weights
        except SpecError as exc:
            first_error = first_error or exc
            continue
        if best is None or weights > best.weights:
            best = Largest(weights, params)
    if best is None:
        shape = "x".join(map(str, input_shape))
        reason = f": {first_error}" if first_error else ""
        raise SpecError("space", f"no model in this space builds for input {shape}{reason}")
    return best


def _climb(
    plan: ModelPlan,
    base: dict[str, Any],
    options: dict[str, list[Any]],
    input_shape: tuple[int, ...],
    classes: int,
) -> Largest:
    current = _best(plan, iter([base]), input_shape, classes)
    for _ in range(3):
        improved = False
        for name, values in options.items():
            trials = ({**current.params, name: value} for value in values)
            step = _best(plan, trials, input_shape, classes)
            if step.weights > current.weights:
                current, improved = step, True
        if not improved:
            break
    return current


def _extremes(entry: Range) -> list[Any]:
    if isinstance(entry, CategoricalParam):
        return list(entry.choices)
    return [entry.low, entry.high]


def _low(entry: Range) -> Any:
    return entry.choices[0] if isinstance(entry, CategoricalParam) else entry.low


def _shape_names(items: tuple[Item, ...]) -> set[str]:
    names: set[str] = set()
    for item in items:
        names |= _names(item.when)
        if isinstance(item, LayerItem):
            for arg, value in item.args.items():
                if arg in _SHAPE_ARGS:
                    names |= _names(value)
        elif isinstance(item, RepeatItem):
            names |= _names(item.count) | _shape_names(item.body)
        else:
            names |= _names(item.shortcut.get("batch_norm")) | _shape_names(item.body)
    return names


def _names(value: object) -> set[str]:
    if isinstance(value, Expression):
        return set(value.names)
    if isinstance(value, tuple):
        return set().union(*(_names(v) for v in value)) if value else set()
    return set()
