"""What a study's `model` names: a bundled template, an inline layer list, or a hypermodel.

`plan_model` turns the spec's value into a `ModelPlan`: the layers, the defaults of every
hyperparameter the model reads, and which names a space may set. `resolve_model` gives the
concrete nodes for one trial's params.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from search_spaces.errors import SpecError
from search_spaces.layers import Item, Node, names_read, parse_layers, resolve_layers
from search_spaces.params import Scalar
from search_spaces.templates import (
    BUILTIN_NAMES,
    TRAINING_DEFAULTS,
    TRAINING_OVERRIDES,
    load_template,
)

__all__ = ["ModelPlan", "full_params", "plan_model", "resolve_model"]

_HYPERMODEL = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class ModelPlan:
    kind: Literal["template", "inline", "hypermodel"]
    name: str
    defaults: Mapping[str, Scalar]
    layers: tuple[Item, ...]
    # Names a space may set; None for a hypermodel, which declares its own.
    reads: frozenset[str] | None
    # Names the layers read that have no default: the space must define them.
    required: frozenset[str] = frozenset()


def plan_model(model: object) -> ModelPlan:
    """Plan a spec's `model` value; SpecError names the bad part."""
    if isinstance(model, str):
        template = load_template(model)
        return ModelPlan("template", model, template.defaults, template.layers, template.reads)
    if isinstance(model, list):
        return _plan_inline(model, {}, "model")
    if isinstance(model, dict) and "hypermodel" in model:
        return _plan_hypermodel(model)
    if isinstance(model, dict) and "layers" in model:
        extra = set(model) - {"layers", "defaults"}
        if extra:
            raise SpecError(f"model.{sorted(extra)[0]}", "an inline model takes: layers, defaults")
        return _plan_inline(model["layers"], model.get("defaults") or {}, "model.layers")
    raise SpecError(
        "model",
        "expected a template name, a list of layers, {layers: [...]} or {hypermodel: 'module:fn'}",
    )


def _plan_inline(raw: object, defaults: object, path: str) -> ModelPlan:
    if not isinstance(defaults, dict) or not all(
        isinstance(v, bool | int | float | str) for v in defaults.values()
    ):
        raise SpecError("model.defaults", "expected a mapping of names to constants")
    layers = parse_layers(raw, path)
    read = names_read(layers) - set(BUILTIN_NAMES)
    merged = {**TRAINING_DEFAULTS, **defaults}
    reads = frozenset(read | set(merged) | set(TRAINING_OVERRIDES))
    required = frozenset(read - set(merged))
    return ModelPlan("inline", "inline", merged, layers, reads, required)


def _plan_hypermodel(model: dict[str, Any]) -> ModelPlan:
    if set(model) != {"hypermodel"}:
        extra = sorted(set(model) - {"hypermodel"})[0]
        raise SpecError(f"model.{extra}", "a hypermodel takes only: hypermodel")
    reference = model["hypermodel"]
    if not isinstance(reference, str) or not _HYPERMODEL.match(reference):
        raise SpecError(
            "model.hypermodel", f"expected 'package.module:function', got {reference!r}"
        )
    return ModelPlan("hypermodel", reference, dict(TRAINING_DEFAULTS), (), None)


def full_params(plan: ModelPlan, params: Mapping[str, Any]) -> dict[str, Any]:
    """The model's defaults overlaid with a trial's params."""
    return {**plan.defaults, **params}


def resolve_model(plan: ModelPlan, params: Mapping[str, Any], classes: int) -> tuple[Node, ...]:
    if plan.kind == "hypermodel":
        raise SpecError("model", "a hypermodel is built by its own function, not from layers")
    return resolve_layers(plan.layers, {**full_params(plan, params), "classes": classes})
