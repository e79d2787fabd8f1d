"""Tests for search_spaces/sampling.py and the conditions of space.py (`is_active`)."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import pytest
from pydantic import TypeAdapter

from search_spaces.errors import SpecError
from search_spaces.loading import validate_spec
from search_spaces.models import resolve_model
from search_spaces.params import SpaceEntry
from search_spaces.sampling import sample_params
from search_spaces.space import Entry, check_space, is_active, ranges, sampling_order
from search_spaces.templates import load_template

space_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, SpaceEntry])
DRAWS = 400


def make_space(raw: dict[str, Any]) -> dict[str, Entry]:
    space: dict[str, Entry] = space_adapter.validate_python(raw)
    check_space(space)
    return space


def draws(raw: dict[str, Any], count: int = DRAWS, seed: int = 0) -> list[dict[str, Any]]:
    space = make_space(raw)
    rng = random.Random(seed)
    return [sample_params(space, rng) for _ in range(count)]


CONDITIONAL: dict[str, Any] = {
    "conv_blocks": {"type": "int", "low": 1, "high": 3},
    "block3_filters": {"type": "int", "low": 32, "high": 128, "when": {"conv_blocks": 3}},
    "regularize": {"type": "categorical", "choices": [False, True]},
    "l2": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True, "when": {"regularize": True}},
}


def test_int_step_draws_stay_on_the_grid() -> None:
    values = [
        d["filters"]
        for d in draws({"filters": {"type": "int", "low": 16, "high": 128, "step": 16}})
    ]
    assert set(values) == set(range(16, 129, 16))


def test_int_log_draws_cover_the_range_and_favour_small_values() -> None:
    values = [
        d["units"] for d in draws({"units": {"type": "int", "low": 1, "high": 1000, "log": True}})
    ]
    assert all(isinstance(v, int) and 1 <= v <= 1000 for v in values)
    assert min(values) == 1
    below_32 = sum(v < 32 for v in values)
    assert 0.35 < below_32 / len(values) < 0.65  # log-uniform: about half below sqrt(1000)


def test_float_draws_stay_in_the_range() -> None:
    values = [d["dropout"] for d in draws({"dropout": {"type": "float", "low": 0.1, "high": 0.5}})]
    assert all(isinstance(v, float) and 0.1 <= v <= 0.5 for v in values)
    assert max(values) - min(values) > 0.3


def test_float_log_draws_spread_over_decades() -> None:
    raw = {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}}
    decades = Counter(math.floor(math.log10(d["lr"])) for d in draws(raw))
    assert set(decades) == {-5, -4, -3, -2}
    assert min(decades.values()) > DRAWS // 8


def test_float_step_draws_are_exact_grid_values() -> None:
    values = {
        d["dropout"]
        for d in draws({"dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1}})
    }
    assert values == {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}


def test_categorical_draws_every_choice_with_its_type() -> None:
    raw = {"choice": {"type": "categorical", "choices": [1, "one", True, 1.5]}}
    values = [d["choice"] for d in draws(raw)]
    assert {(type(v), v) for v in values} == {(int, 1), (str, "one"), (bool, True), (float, 1.5)}


def test_constants_are_always_included() -> None:
    for params in draws({"padding": "valid", "filters": {"type": "int", "low": 1, "high": 4}}, 20):
        assert params["padding"] == "valid"


def test_same_seed_gives_the_same_draws() -> None:
    raw = load_template("resnet").space
    first = [sample_params(raw, random.Random(3)) for _ in range(3)]
    again = [sample_params(raw, random.Random(3)) for _ in range(3)]
    assert first == again


def test_block3_filters_is_drawn_only_when_conv_blocks_is_3() -> None:
    results = draws(CONDITIONAL)
    assert {d["conv_blocks"] for d in results} == {1, 2, 3}
    for params in results:
        assert ("block3_filters" in params) == (params["conv_blocks"] == 3)


def test_l2_is_drawn_only_when_regularize_is_true() -> None:
    results = draws(CONDITIONAL)
    assert any(d["regularize"] for d in results) and not all(d["regularize"] for d in results)
    for params in results:
        assert ("l2" in params) == (params["regularize"] is True)


def test_is_active_reads_the_condition() -> None:
    space = make_space(CONDITIONAL)
    block3 = ranges(space)["block3_filters"]
    assert is_active(block3, {"conv_blocks": 3})
    assert not is_active(block3, {"conv_blocks": 2})
    assert not is_active(block3, {})
    l2 = ranges(space)["l2"]
    assert is_active(l2, {"regularize": True})
    assert not is_active(l2, {"regularize": 1})  # 1 is not True in a condition
    assert is_active(ranges(space)["conv_blocks"], {})


def test_sampling_order_puts_a_condition_before_what_it_gates() -> None:
    order = sampling_order(make_space({**dict(reversed(CONDITIONAL.items()))}))
    assert order.index("conv_blocks") < order.index("block3_filters")
    assert order.index("regularize") < order.index("l2")


def test_condition_on_a_constant_that_holds_always_draws() -> None:
    raw = {
        "regularize": True,
        "l2": {"type": "float", "low": 1e-6, "high": 1e-3, "when": {"regularize": True}},
    }
    assert all("l2" in params for params in draws(raw, 20))


def test_condition_on_a_constant_that_never_holds_is_refused() -> None:
    raw = {
        "regularize": False,
        "l2": {"type": "float", "low": 1e-6, "high": 1e-3, "when": {"regularize": True}},
    }
    with pytest.raises(SpecError, match="never takes the value True"):
        make_space(raw)


def test_conditional_spec_draws_resolve_to_models() -> None:
    spec = validate_spec(
        {
            "name": "conditional",
            "dataset": "digits",
            "objective": {"metric": "val_accuracy"},
            "model": {
                "layers": [
                    {"layer": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same"},
                    {
                        "layer": "Conv2D",
                        "filters": "$block3_filters",
                        "kernel_size": 3,
                        "padding": "same",
                        "when": "${conv_blocks == 3}",
                    },
                    {"layer": "Flatten"},
                    {"layer": "Dense", "units": "$classes", "activation": "softmax"},
                ],
                "defaults": {"block3_filters": 16, "conv_blocks": 1},
            },
            "space": {
                "conv_blocks": CONDITIONAL["conv_blocks"],
                "block3_filters": CONDITIONAL["block3_filters"],
            },
        }
    )
    rng = random.Random(1)
    for _ in range(30):
        params = sample_params(spec.space, rng)
        convs = [
            n
            for n in resolve_model(spec.model_plan, params, 10)
            if getattr(n, "kind", "") == "Conv2D"
        ]
        assert len(convs) == (2 if params["conv_blocks"] == 3 else 1)


@pytest.mark.parametrize("name", ["cnn", "mlp", "resnet"])
def test_template_space_draws_are_values_of_their_ranges(name: str) -> None:
    space = load_template(name).space
    rng = random.Random(11)
    for _ in range(50):
        params = sample_params(space, rng)
        for param, entry in ranges(space).items():
            assert entry.contains(params[param]), (param, params[param])
