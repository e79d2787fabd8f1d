"""KerasTuner hypermodels built on a worker (`workers.hypermodels`)."""

from __future__ import annotations

from typing import Any

import keras
import pytest

from workers.hypermodels import build_hypermodel
from workers.model_builder import ModelBuildError, build_model

pytestmark = pytest.mark.keras

TUTORIAL = "tests.support.fashion_hypermodel:build_model"
PARAMS = {
    "conv_1_filter": 48,
    "conv_1_kernel": 5,
    "conv_2_filter": 32,
    "conv_2_kernel": 3,
    "dense_1_units": 64,
    "learning_rate": 0.01,
}


def first_conv(model: keras.Model) -> Any:
    return next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


def test_the_model_is_built_with_the_trials_params_and_compiled_by_the_function() -> None:
    model = build_hypermodel(TUTORIAL, PARAMS)
    conv = first_conv(model)
    assert conv.filters == 48 and conv.kernel_size == (5, 5)
    assert model.get_layer(index=3).units == 64
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert model.compiled and model.loss == "sparse_categorical_crossentropy"


def test_build_model_delegates_a_hypermodel_plan() -> None:
    params = {**PARAMS, "conv_1_filter": 112, "learning_rate": 0.001}
    model = build_model({"hypermodel": TUTORIAL}, params, (8, 8, 1), 10)
    assert first_conv(model).filters == 112
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)


def test_an_unimportable_reference_is_a_build_error_naming_it() -> None:
    with pytest.raises(ModelBuildError, match=r"cannot import 'nowhere\.models'.*nowhere"):
        build_hypermodel("nowhere.models:build_model", PARAMS)


def test_a_missing_function_is_a_build_error_naming_it() -> None:
    with pytest.raises(ModelBuildError, match=r"has no 'build_it'"):
        build_hypermodel("tests.support.fashion_hypermodel:build_it", PARAMS)


def test_a_model_for_other_inputs_is_refused_before_training() -> None:
    with pytest.raises(ModelBuildError, match=r"inputs of shape \(8, 8, 1\).*\(28, 28, 1\)"):
        build_model({"hypermodel": TUTORIAL}, PARAMS, (28, 28, 1), 10)


def test_an_error_inside_the_function_is_a_build_error() -> None:
    with pytest.raises(ModelBuildError, match=r"raised ValueError"):
        build_hypermodel(TUTORIAL, {**PARAMS, "conv_1_filter": -3})
