"""The allow-list of layers an inline model or template may use, and each argument's check.

Only these layers and arguments exist in the language: no Lambda, no custom objects, no code.
A check takes a resolved value and returns it normalized, or raises ValueError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ACTIVATIONS", "INITIALIZERS", "LAYERS", "ArgRule"]

ACTIVATIONS = (
    "relu", "elu", "gelu", "selu", "silu", "swish", "tanh", "sigmoid",
    "softmax", "softplus", "leaky_relu", "relu6", "mish", "linear",
)  # fmt: skip
INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform", "orthogonal", "zeros", "ones",
)  # fmt: skip
MAX_FILTERS = 8192
MAX_UNITS = 1_000_000


@dataclass(frozen=True)
class ArgRule:
    check: Callable[[Any], Any]
    required: bool = False


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"expected an integer in {low}..{high}, got {value!r}")
        return value

    return check


def _pair(low: int, high: int) -> Callable[[Any], tuple[int, int]]:
    single = _int_in(low, high)

    def check(value: Any) -> tuple[int, int]:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError(f"expected one integer or two, got {value!r}")
            return single(value[0]), single(value[1])
        number = single(value)
        return number, number

    return check


def _one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"expected a number in [0, 1), got {value!r}")
    return float(value)


def _nonnegative(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        raise ValueError(f"expected a non-negative number, got {value!r}")
    return float(value)


def _factor(value: Any) -> float | tuple[float, float]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"expected a number or a pair, got {value!r}")
        return _signed_fraction(value[0]), _signed_fraction(value[1])
    return _fraction(value)


def _signed_fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1 < value < 1:
        raise ValueError(f"expected a number in (-1, 1), got {value!r}")
    return float(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _regularizer(value: Any) -> dict[str, float] | None:
    """`{l2: 1e-4}`, `{l1: ..., l2: ...}`; zero or null means none."""
    if value is None or value == 0:
        return None
    if not isinstance(value, dict) or not value or set(value) - {"l1", "l2"}:
        raise ValueError(f"expected a mapping with l1 and/or l2, got {value!r}")
    amounts = {key: _nonnegative(amount) for key, amount in value.items()}
    return {k: v for k, v in amounts.items() if v > 0} or None


def _scalar_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


_activation = _one_of(*ACTIVATIONS)
_initializer = _one_of(*INITIALIZERS)
_padding = _one_of("same", "valid")
_size = _pair(1, 64)

_CONV = {
    "filters": ArgRule(_int_in(1, MAX_FILTERS), required=True),
    "kernel_size": ArgRule(_size, required=True),
    "strides": ArgRule(_size),
    "padding": ArgRule(_padding),
    "dilation_rate": ArgRule(_size),
    "activation": ArgRule(_activation),
    "use_bias": ArgRule(_boolean),
    "kernel_initializer": ArgRule(_initializer),
    "kernel_regularizer": ArgRule(_regularizer),
}
_POOL = {"pool_size": ArgRule(_size), "strides": ArgRule(_size), "padding": ArgRule(_padding)}
_RATE = {"rate": ArgRule(_fraction, required=True)}

LAYERS: dict[str, dict[str, ArgRule]] = {
    "Conv2D": _CONV,
    "MaxPooling2D": _POOL,
    "AveragePooling2D": _POOL,
    "Pooling2D": {**_POOL, "kind": ArgRule(_one_of("max", "avg"), required=True)},
    "GlobalAveragePooling2D": {},
    "GlobalMaxPooling2D": {},
    "BatchNormalization": {"momentum": ArgRule(_fraction), "epsilon": ArgRule(_nonnegative)},
    "Dropout": _RATE,
    "SpatialDropout2D": _RATE,
    "Flatten": {},
    "Dense": {
        "units": ArgRule(_int_in(1, MAX_UNITS), required=True),
        "activation": ArgRule(_activation),
        "use_bias": ArgRule(_boolean),
        "kernel_initializer": ArgRule(_initializer),
        "kernel_regularizer": ArgRule(_regularizer),
    },
    "Activation": {"activation": ArgRule(_activation, required=True)},
    "Rescaling": {
        "scale": ArgRule(_scalar_number, required=True),
        "offset": ArgRule(_scalar_number),
    },
    "RandomFlip": {"mode": ArgRule(_one_of("horizontal", "vertical", "horizontal_and_vertical"))},
    "RandomRotation": {"factor": ArgRule(_factor, required=True)},
    "RandomZoom": {
        "height_factor": ArgRule(_factor, required=True),
        "width_factor": ArgRule(_factor),
    },
    "RandomTranslation": {
        "height_factor": ArgRule(_factor, required=True),
        "width_factor": ArgRule(_factor, required=True),
    },
    "RandomContrast": {"factor": ArgRule(_factor, required=True)},
}
