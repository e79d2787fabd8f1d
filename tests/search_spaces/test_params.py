"""Tests for search_spaces/params.py: int, float and categorical ranges, constants, `when`."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from search_spaces.loading import SpecInvalid, validate_spec
from search_spaces.params import MAX_CHOICES, CategoricalParam, FloatParam, IntParam, SpaceEntry

entry_adapter: TypeAdapter[Any] = TypeAdapter(SpaceEntry)


def spec_with(**space: Any) -> dict[str, Any]:
    return {
        "name": "params",
        "dataset": "digits",
        "objective": {"metric": "val_accuracy"},
        "model": "cnn",
        "space": space,
    }


def refusal(**space: Any) -> dict[str, Any]:
    """The first error detail of a spec whose space is `space`."""
    with pytest.raises(SpecInvalid) as caught:
        validate_spec(spec_with(**space))
    return caught.value.details[0]


def test_int_range_needs_low_below_high() -> None:
    detail = refusal(filters={"type": "int", "low": 64, "high": 16})
    assert detail["loc"] == ["space", "filters"]
    assert "must be below high" in detail["msg"]


def test_log_range_needs_a_positive_low() -> None:
    detail = refusal(dense_units={"type": "int", "low": 0, "high": 64, "log": True})
    assert detail["loc"] == ["space", "dense_units"]
    assert "low > 0" in detail["msg"]


def test_float_log_range_needs_a_positive_low() -> None:
    detail = refusal(l2={"type": "float", "low": -1e-3, "high": 1e-3, "log": True})
    assert detail["loc"] == ["space", "l2"]


def test_int_log_cannot_be_combined_with_a_step() -> None:
    detail = refusal(filters={"type": "int", "low": 16, "high": 128, "step": 16, "log": True})
    assert "cannot be combined" in detail["msg"]


def test_int_step_must_fit_the_range() -> None:
    detail = refusal(filters={"type": "int", "low": 16, "high": 120, "step": 16})
    assert detail["loc"] == ["space", "filters"]
    assert "multiple of step" in detail["msg"]


def test_float_step_must_fit_the_range() -> None:
    detail = refusal(dropout={"type": "float", "low": 0.0, "high": 0.5, "step": 0.3})
    assert detail["loc"] == ["space", "dropout"]
    assert "does not fit" in detail["msg"]


def test_float_step_that_fits_despite_float_noise_is_accepted() -> None:
    param = FloatParam(type="float", low=0.0, high=0.3, step=0.1)
    assert param.values() == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_float_bounds_must_be_finite() -> None:
    with pytest.raises(ValidationError, match="finite"):
        FloatParam(type="float", low=0.0, high=float("inf"))


def test_int_range_refuses_float_bounds() -> None:
    detail = refusal(filters={"type": "int", "low": 16.5, "high": 64})
    assert detail["loc"][:3] == ["space", "filters", "low"]


def test_categorical_refuses_a_duplicate_choice() -> None:
    detail = refusal(pooling={"type": "categorical", "choices": ["max", "avg", "max"]})
    assert detail["loc"] == ["space", "pooling", "choices"]
    assert "listed twice" in detail["msg"]


def test_categorical_keeps_true_and_1_apart() -> None:
    param = CategoricalParam(type="categorical", choices=[1, True])
    assert param.contains(True)
    assert param.contains(1)
    assert not param.contains(1.0)


def test_categorical_refuses_more_than_256_choices() -> None:
    detail = refusal(filters={"type": "categorical", "choices": list(range(MAX_CHOICES + 1))})
    assert detail["loc"] == ["space", "filters", "choices"]


def test_categorical_needs_at_least_one_choice() -> None:
    detail = refusal(pooling={"type": "categorical", "choices": []})
    assert detail["loc"] == ["space", "pooling", "choices"]


def test_unknown_range_type_is_refused_at_the_param() -> None:
    detail = refusal(filters={"type": "integer", "low": 1, "high": 2})
    assert detail["loc"] == ["space", "filters"]
    assert "int, float or categorical" in detail["msg"]


def test_a_constant_must_be_a_scalar() -> None:
    detail = refusal(filters=[16, 32])
    assert detail["loc"][:2] == ["space", "filters"]


def test_constants_are_kept_as_given() -> None:
    assert entry_adapter.validate_python(32) == 32
    assert entry_adapter.validate_python("same") == "same"
    assert entry_adapter.validate_python(True) is True


def test_int_values_follow_the_step() -> None:
    param = IntParam(type="int", low=16, high=64, step=16)
    assert param.values() == [16, 32, 48, 64]
    assert param.contains(48)
    assert not param.contains(40)
    assert not param.contains(True)


def test_continuous_float_has_no_grid() -> None:
    with pytest.raises(ValueError, match="no finite set"):
        FloatParam(type="float", low=0.0, high=1.0).values()


def test_when_shorthand_becomes_a_list() -> None:
    param = entry_adapter.validate_python(
        {"type": "float", "low": 1e-6, "high": 1e-3, "log": True, "when": {"regularize": True}}
    )
    assert param.when == {"regularize": [True]}


def test_when_must_list_a_value() -> None:
    with pytest.raises(ValidationError, match="lists no value"):
        entry_adapter.validate_python({"type": "int", "low": 1, "high": 3, "when": {"a": []}})


def test_ranges_are_frozen() -> None:
    param = IntParam(type="int", low=1, high=3)
    with pytest.raises(ValidationError, match="frozen"):
        param.low = 2  # type: ignore[misc]
