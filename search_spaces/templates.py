"""Bundled model templates: YAML files in `search_spaces/templates/`.

A template names every hyperparameter it reads with its default (`defaults`), ships a default
search space (`space`) over some of them, and lists its layers in the layer language. A study
may range or fix any hyperparameter the template reads, or the training ones below.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from search_spaces.errors import SpecError, describe_errors
from search_spaces.layers import Item, names_read, parse_layers
from search_spaces.params import Scalar, SpaceEntry
from search_spaces.space import Entry, check_space

__all__ = [
    "OPTIMIZERS",
    "TRAINING_DEFAULTS",
    "Template",
    "load_template",
    "template_names",
]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam")

# Read by the trainer for every model; a template may change their defaults.
TRAINING_DEFAULTS: dict[str, Scalar] = {
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "momentum": 0.0,
}
# Read by the trainer when present; the study's training section gives the default.
TRAINING_OVERRIDES = ("batch_size",)
BUILTIN_NAMES = ("classes",)

_space_adapter: TypeAdapter[dict[str, SpaceEntry]] = TypeAdapter(dict[str, SpaceEntry])


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    defaults: Mapping[str, Scalar]
    space: Mapping[str, Entry]
    layers: tuple[Item, ...]

    @property
    def reads(self) -> frozenset[str]:
        return frozenset(self.defaults) | frozenset(TRAINING_OVERRIDES)


def template_names() -> list[str]:
    folder = resources.files("search_spaces") / "templates"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


@functools.cache
def load_template(name: str) -> Template:
    """The bundled template `name`; SpecError at `model` when there is none."""
    if name not in template_names():
        known = ", ".join(template_names())
        raise SpecError("model", f"unknown template {name!r} (bundled: {known})")
    text = (resources.files("search_spaces") / "templates" / f"{name}.yaml").read_text()
    return _parse_template(name, yaml.safe_load(text))


def _parse_template(name: str, raw: dict[str, Any]) -> Template:
    path = f"template {name}"
    defaults = {**TRAINING_DEFAULTS, **raw.get("defaults", {})}
    try:
        space = _space_adapter.validate_python(raw.get("space", {}))
    except ValidationError as exc:
        raise SpecError(f"{path}.space", str(describe_errors(exc))) from None
    check_space(space, f"{path}.space")
    layers = parse_layers(raw["layers"], f"{path}.layers")
    unknown = names_read(layers) - set(defaults) - set(BUILTIN_NAMES)
    if unknown:
        raise SpecError(f"{path}.layers", f"reads {sorted(unknown)} without defaults")
    stray = set(space) - set(defaults) - set(TRAINING_OVERRIDES)
    if stray:
        raise SpecError(f"{path}.space", f"ranges {sorted(stray)} without defaults")
    return Template(name, str(raw.get("description", "")).strip(), defaults, space, layers)
