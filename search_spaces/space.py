"""A search space: named entries, each a range or a constant; checks across entries.

Within one entry pydantic checks the bounds (params.py); here: names, caps, and conditions
(a `when` naming an unknown param, itself, a cycle, or a value its param cannot take).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from search_spaces.errors import SpecError
from search_spaces.params import CategoricalParam, FloatParam, IntParam, Scalar

__all__ = [
    "MAX_PARAMS",
    "Range",
    "check_space",
    "constants",
    "is_active",
    "ranges",
    "sampling_order",
]

MAX_PARAMS = 64
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

Range = IntParam | FloatParam | CategoricalParam
Entry = Range | Scalar


def ranges(space: Mapping[str, Entry]) -> dict[str, Range]:
    return {name: entry for name, entry in space.items() if isinstance(entry, Range)}


def constants(space: Mapping[str, Entry]) -> dict[str, Scalar]:
    return {name: entry for name, entry in space.items() if not isinstance(entry, Range)}


def check_space(space: Mapping[str, Entry], path: str = "space") -> None:
    """Raise SpecError on a bad name, too many params, or a condition that cannot hold."""
    if len(space) > MAX_PARAMS:
        raise SpecError(path, f"{len(space)} params; at most {MAX_PARAMS} are allowed")
    for name in space:
        if not _NAME.match(name):
            raise SpecError(f"{path}.{name}", f"{name!r} is not a valid param name")
    for name, entry in ranges(space).items():
        for other, values in (entry.when or {}).items():
            _check_condition(space, name, other, values, f"{path}.{name}.when.{other}")
    sampling_order(space, path)


def _check_condition(
    space: Mapping[str, Entry], name: str, other: str, values: list[Scalar], path: str
) -> None:
    if other == name:
        raise SpecError(path, f"{name!r} cannot depend on itself")
    if other not in space:
        raise SpecError(path, f"condition names unknown param {other!r}")
    target = space[other]
    for value in values:
        possible = (
            target.contains(value)
            if isinstance(target, Range)
            else type(value) is type(target) and value == target
        )
        if not possible:
            raise SpecError(path, f"{other!r} never takes the value {value!r}")


def sampling_order(space: Mapping[str, Entry], path: str = "space") -> list[str]:
    """Range names with every condition's param before the params it gates."""
    pending = ranges(space)
    done: list[str] = []
    placed: set[str] = set(constants(space))
    while pending:
        ready = [n for n, e in pending.items() if set(e.when or {}) <= placed]
        if not ready:
            raise SpecError(f"{path}.{sorted(pending)[0]}", "conditions form a cycle")
        for name in ready:
            done.append(name)
            placed.add(name)
            del pending[name]
    return done


def is_active(entry: Range, values: Mapping[str, Any]) -> bool:
    """Whether a range's condition holds for the values drawn so far (absent means inactive)."""
    for other, allowed in (entry.when or {}).items():
        if other not in values:
            return False
        value = values[other]
        if not any(type(value) is type(choice) and value == choice for choice in allowed):
            return False
    return True
