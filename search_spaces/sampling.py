"""One random draw from a search space, with the standard library's `random` only.

Used by tests and benchmarks (the service samples through Optuna). A draw honours each range's
kind (int and float with `step` or `log`, categorical), always includes the constants, and
leaves out a range whose condition (`when`) does not hold for the values drawn before it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from search_spaces.params import CategoricalParam, FloatParam, IntParam
from search_spaces.space import Entry, Range, constants, is_active, ranges, sampling_order

__all__ = ["sample_params", "sample_value"]


def sample_params(space: Mapping[str, Entry], rng: random.Random) -> dict[str, Any]:
    """Constants, then each active range in `sampling_order`, drawn with `rng`."""
    values: dict[str, Any] = dict(constants(space))
    entries = ranges(space)
    for name in sampling_order(space):
        entry = entries[name]
        if is_active(entry, values):
            values[name] = sample_value(entry, rng)
    return values


def sample_value(entry: Range, rng: random.Random) -> Any:
    """One value of a single range."""
    if isinstance(entry, IntParam):
        return _sample_int(entry, rng)
    if isinstance(entry, FloatParam):
        return _sample_float(entry, rng)
    return _sample_choice(entry, rng)


def _sample_int(entry: IntParam, rng: random.Random) -> int:
    if entry.log:
        # As Optuna does: uniform in log space over [low - 0.5, high + 0.5], then rounded.
        low, high = math.log(entry.low - 0.5), math.log(entry.high + 0.5)
        value = round(math.exp(rng.uniform(low, high)))
        return min(max(value, entry.low), entry.high)
    return rng.randrange(entry.low, entry.high + 1, entry.step)


def _sample_float(entry: FloatParam, rng: random.Random) -> float:
    if entry.step is not None:
        count = round((entry.high - entry.low) / entry.step)
        value = entry.low + rng.randint(0, count) * entry.step
        # Round away the float noise of `low + i * step` at the step's precision.
        digits = max(0, 12 - math.floor(math.log10(abs(entry.step))))
        return float(min(max(round(value, digits), entry.low), entry.high))
    if entry.log:
        value = math.exp(rng.uniform(math.log(entry.low), math.log(entry.high)))
    else:
        value = rng.uniform(entry.low, entry.high)
    return float(min(max(value, entry.low), entry.high))


def _sample_choice(entry: CategoricalParam, rng: random.Random) -> Any:
    return rng.choice(entry.choices)
