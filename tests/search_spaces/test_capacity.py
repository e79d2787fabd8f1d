"""Tests for search_spaces/capacity.py: the largest model a space can produce, and the cap."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from search_spaces.capacity import ENUMERATION_LIMIT, check_model_size, largest_model
from search_spaces.errors import SpecError
from search_spaces.loading import validate_spec
from search_spaces.models import plan_model, resolve_model
from search_spaces.sampling import sample_params
from search_spaces.shapes import count_weights
from search_spaces.templates import load_template

CIFAR = (32, 32, 3)


def cnn_space(**changes: Any) -> dict[str, Any]:
    spec = validate_spec(
        {
            "name": "capacity",
            "dataset": "cifar10",
            "objective": {"metric": "val_accuracy"},
            "model": "cnn",
            "space": {
                "conv_blocks": {"type": "int", "low": 1, "high": 3},
                "filters": {"type": "int", "low": 16, "high": 128, "step": 16},
                "kernel_size": {"type": "categorical", "choices": [3, 5]},
                "dense_units": {"type": "int", "low": 32, "high": 512, "log": True},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5},
                **changes,
            },
        }
    )
    return dict(spec.space)


def test_capacity_check_refuses_a_space_above_the_cap_at_space() -> None:
    space = cnn_space()
    plan = plan_model("cnn")
    largest = largest_model(plan, space, CIFAR, 10)
    with pytest.raises(SpecError) as caught:
        check_model_size(plan, space, CIFAR, 10, cap=1_000_000)
    error = caught.value
    assert error.as_detail()["loc"] == ["space"]
    assert f"{largest.weights:,} weights" in error.message
    named = dict(re.findall(r"(\w+)=(\w+)", error.message))
    assert named["filters"] == "128"
    assert named["dense_units"] == "512"
    assert named["kernel_size"] == "5"
    assert named["conv_blocks"] == str(largest.params["conv_blocks"])


def test_capacity_check_passes_a_space_below_the_cap() -> None:
    largest = check_model_size(plan_model("cnn"), cnn_space(), CIFAR, 10, cap=10**9)
    assert largest.weights > 1_000_000


def test_largest_model_is_not_beaten_by_random_draws() -> None:
    space = cnn_space()
    plan = plan_model("cnn")
    largest = largest_model(plan, space, CIFAR, 10)
    rng = random.Random(7)
    for _ in range(50):
        params = sample_params(space, rng)
        assert count_weights(resolve_model(plan, params, 10), CIFAR) <= largest.weights


def test_largest_model_counts_its_own_params_exactly() -> None:
    plan = plan_model("cnn")
    largest = largest_model(plan, cnn_space(), CIFAR, 10)
    assert count_weights(resolve_model(plan, largest.params, 10), CIFAR) == largest.weights


def test_large_space_is_climbed_and_still_finds_the_largest_model() -> None:
    space = cnn_space(
        filters={"type": "categorical", "choices": list(range(8, 168, 8))},
        dense_units={"type": "categorical", "choices": list(range(32, 672, 32))},
        strides={"type": "categorical", "choices": [1, 2]},
        padding={"type": "categorical", "choices": ["same", "valid"]},
    )
    grid = 20 * 20 * 2 * 2 * 2 * 2
    assert grid > ENUMERATION_LIMIT
    largest = largest_model(plan_model("cnn"), space, CIFAR, 10)
    assert largest.params["filters"] == 160
    assert largest.params["dense_units"] == 640
    assert largest.params["kernel_size"] == 5
    assert largest.params["strides"] == 1
    assert largest.params["padding"] == "same"


def test_template_default_space_finds_the_full_resnet() -> None:
    plan = plan_model("resnet")
    largest = largest_model(plan, load_template("resnet").space, CIFAR, 10)
    assert largest.params["filters"] == 64
    assert largest.params["stages"] == 4
    assert largest.params["blocks_per_stage"] == 2


def test_space_where_no_model_builds_is_refused() -> None:
    space = cnn_space(padding="valid", kernel_size=5, conv_blocks=3)
    with pytest.raises(SpecError, match="no model in this space builds") as caught:
        largest_model(plan_model("cnn"), space, (8, 8, 1), 10)
    assert caught.value.field == "space"
