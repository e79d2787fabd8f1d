"""KerasTuner hypermodels → hpsearch spaces (`hpsearch.keras_tuner`), and back."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hpsearch import Client
from hpsearch.keras_tuner import (
    HypermodelSpaceError,
    discover_space,
    hypermodel_spec,
    hyperparameters_for,
    same_space,
)
from tests.support.fashion_hypermodel import build_model as tutorial

TUTORIAL = "tests.support.fashion_hypermodel:build_model"
TUTORIAL_SPACE = {
    "conv_1_filter": {"type": "int", "low": 32, "high": 128, "step": 16, "log": False},
    "conv_1_kernel": {"type": "categorical", "choices": [3, 5]},
    "conv_2_filter": {"type": "int", "low": 32, "high": 64, "step": 16, "log": False},
    "conv_2_kernel": {"type": "categorical", "choices": [3, 5]},
    "dense_1_units": {"type": "int", "low": 32, "high": 128, "step": 16, "log": False},
    "learning_rate": {"type": "categorical", "choices": [0.01, 0.001]},
}


def model_choice(hp: Any) -> None:
    """Two branches, each with its own hyperparameters under a conditional scope."""
    kind = hp.Choice("kind", ["mlp", "cnn"])
    with hp.conditional_scope("kind", ["mlp"]):
        if kind == "mlp":
            hp.Int("units", 16, 64, step=16)
    with hp.conditional_scope("kind", ["cnn"]):
        if kind == "cnn":
            hp.Int("filters", 8, 32, step=8)
            with hp.conditional_scope("filters", [16, 24]):
                hp.Boolean("batch_norm")


CONDITIONAL_SPACE = {
    "kind": {"type": "categorical", "choices": ["mlp", "cnn"]},
    "units": {
        "type": "int", "low": 16, "high": 64, "step": 16, "log": False,
        "when": {"kind": ["mlp"]},
    },
    "filters": {
        "type": "int", "low": 8, "high": 32, "step": 8, "log": False,
        "when": {"kind": ["cnn"]},
    },
    "batch_norm": {
        "type": "categorical", "choices": [False, True],
        "when": {"kind": ["cnn"], "filters": [16, 24]},
    },
}  # fmt: skip


@pytest.mark.keras
def test_discovers_the_tutorial_space() -> None:
    assert discover_space(tutorial) == TUTORIAL_SPACE


@pytest.mark.keras
def test_hypermodel_spec_is_a_complete_study_spec() -> None:
    spec = hypermodel_spec(TUTORIAL, tutorial, "digits", max_trials=5, name="fashion")
    assert spec == {
        "name": "fashion",
        "dataset": "digits",
        "objective": {"metric": "val_accuracy", "direction": "maximize"},
        "max_trials": 5,
        "model": {"hypermodel": TUTORIAL},
        "space": TUTORIAL_SPACE,
    }


def test_boolean_becomes_a_choice_of_false_and_true() -> None:
    assert discover_space(lambda hp: hp.Boolean("shuffle")) == {
        "shuffle": {"type": "categorical", "choices": [False, True]}
    }


def test_fixed_becomes_a_constant() -> None:
    def build(hp: Any) -> None:
        hp.Fixed("activation", "relu")
        hp.Fixed("layers", 3)

    assert discover_space(build) == {"activation": "relu", "layers": 3}


def test_log_sampling_maps_to_log_ranges_or_to_the_values_a_log_step_gives() -> None:
    def build(hp: Any) -> None:
        hp.Int("units", 8, 512, sampling="log")
        hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        hp.Int("batch_size", 2, 32, step=2, sampling="log")
        hp.Float("decay", 1e-3, 10.0, step=10, sampling="log")

    assert discover_space(build) == {
        "units": {"type": "int", "low": 8, "high": 512, "step": 1, "log": True},
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "batch_size": {"type": "categorical", "choices": [2, 4, 8, 16, 32]},
        "decay": {"type": "categorical", "choices": [0.001, 0.01, 0.1, 1.0, 10.0]},
    }


def test_reverse_log_is_searched_as_log_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hpsearch.tuner_space"):
        space = discover_space(lambda hp: hp.Float("momentum", 0.5, 0.99, sampling="reverse_log"))
    assert space == {"momentum": {"type": "float", "low": 0.5, "high": 0.99, "log": True}}
    assert "reverse_log" in caplog.text and "momentum" in caplog.text


def test_a_step_that_overshoots_ends_the_range_at_the_last_value_kerastuner_reaches(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def build(hp: Any) -> None:
        hp.Int("layers", 6, 13, step=3)
        hp.Float("dropout", 0.0, 0.5, step=0.2)
        hp.Int("depth", 1, 4)

    with caplog.at_level(logging.INFO, logger="hpsearch.tuner_space"):
        space = discover_space(build)
    assert space == {
        "layers": {"type": "int", "low": 6, "high": 12, "step": 3, "log": False},
        "dropout": {"type": "float", "low": 0.0, "high": 0.4, "step": 0.2, "log": False},
        "depth": {"type": "int", "low": 1, "high": 4, "step": 1, "log": False},
    }
    assert "layers" in caplog.text and "ends at 12" in caplog.text
    assert "dropout" in caplog.text


def test_conditional_scopes_become_when_even_those_the_first_build_leaves_closed() -> None:
    assert discover_space(model_choice) == CONDITIONAL_SPACE


def test_names_the_space_refuses_are_named_in_the_error() -> None:
    def build(hp: Any) -> None:
        hp.Int("conv-1", 8, 16)
        with hp.name_scope("block"):
            hp.Int("units", 8, 16)
        hp.Int("fine_name", 8, 16)

    with pytest.raises(HypermodelSpaceError) as raised:
        discover_space(build)
    message = str(raised.value)
    assert "'block/units'" in message and "'conv-1'" in message
    assert "fine_name" not in message


def test_one_name_under_two_conditions_is_refused() -> None:
    def build(hp: Any) -> None:
        kind = hp.Choice("kind", ["a", "b"])
        for branch in ("a", "b"):
            with hp.conditional_scope("kind", [branch]):
                if kind == branch:
                    hp.Int("units", 8, 16)

    with pytest.raises(HypermodelSpaceError, match=r"\['units'\].*more than once"):
        discover_space(build)


def test_hyperparameters_for_a_trial_answer_each_declaration_with_its_value() -> None:
    params = {"kind": "cnn", "filters": 24, "batch_norm": True}
    seen: dict[str, Any] = {}

    def record(hp: Any) -> None:
        seen["kind"] = hp.Choice("kind", ["mlp", "cnn"])
        with hp.conditional_scope("kind", ["mlp"]):
            seen["units"] = hp.Int("units", 16, 64, step=16)
        with hp.conditional_scope("kind", ["cnn"]):
            seen["filters"] = hp.Int("filters", 8, 32, step=8)
            with hp.conditional_scope("filters", [16, 24]):
                seen["batch_norm"] = hp.Boolean("batch_norm")

    hp = hyperparameters_for(CONDITIONAL_SPACE, params)
    record(hp)
    assert seen == {**params, "units": None}
    assert hp.values == params
    assert {p.name for p in hp.space} == set(CONDITIONAL_SPACE)


@pytest.mark.keras
@pytest.mark.parametrize("build", [tutorial, model_choice], ids=["tutorial", "conditional"])
def test_a_discovered_space_is_accepted_by_the_controller(client: Client, build: Any) -> None:
    spec = hypermodel_spec("mypackage.models:build", build, "digits", name="from-kt")
    study = client.create_study(spec)
    assert same_space(study.spec["space"], spec["space"])
    assert not same_space(study.spec["space"], {**spec["space"], "extra": 1})
    assert study.spec["model"] == {"hypermodel": "mypackage.models:build"}
