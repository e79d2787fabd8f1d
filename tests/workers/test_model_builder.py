"""Tests for workers/model_builder.py: Keras models from templates and inline layer lists."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import pytest

from search_spaces.layer_rules import ACTIVATIONS
from search_spaces.models import plan_model, resolve_model
from search_spaces.sampling import sample_params
from search_spaces.shapes import count_weights
from search_spaces.spec import TrainingSpec
from search_spaces.templates import load_template, template_names
from workers.model_builder import ModelBuildError, build_from_nodes, build_model, make_optimizer

pytestmark = pytest.mark.keras

DRAWS = 20
CLASSES = 10
SHAPES = [(8, 8, 1), (32, 32, 3)]

INLINE: dict[str, Any] = {
    "layers": [
        {"layer": "Rescaling", "scale": "$scale"},
        {
            "repeat": "$blocks",
            "index": "block",
            "layers": [
                {
                    "layer": "Conv2D",
                    "filters": "${width * 2 ** block}",
                    "kernel_size": "$kernel",
                    "padding": "same",
                    "activation": "$activation",
                    "kernel_regularizer": {"l1": "$l1", "l2": "$l2"},
                }
            ],
        },
        {
            "residual": [
                {
                    "layer": "Conv2D",
                    "filters": "$residual_filters",
                    "kernel_size": 3,
                    "strides": 2,
                    "padding": "same",
                },
                {"layer": "BatchNormalization"},
            ],
            "shortcut": {"l2": "$l2", "batch_norm": True},
        },
        {"layer": "GlobalAveragePooling2D"},
        {"layer": "Dense", "units": "$classes", "activation": "softmax"},
    ],
    "defaults": {
        "scale": 1.0,
        "blocks": 1,
        "width": 4,
        "kernel": 3,
        "activation": "relu",
        "l1": 0.0,
        "l2": 0.0,
        "residual_filters": 8,
    },
}
INLINE_PARAMS = {
    "scale": 0.5,
    "blocks": 2,
    "width": 6,
    "kernel": 5,
    "activation": "gelu",
    "l1": 1e-5,
    "l2": 2e-4,
    "residual_filters": 16,
}


@pytest.fixture(autouse=True)
def _fresh_keras_session() -> Iterator[None]:
    yield
    keras.backend.clear_session()


def layers_of(model: Any, kind: type) -> list[Any]:
    return [layer for layer in model.layers if type(layer) is kind]


@pytest.mark.parametrize("shape", SHAPES, ids=["8x8x1", "32x32x3"])
@pytest.mark.parametrize("name", ["cnn", "mlp", "resnet"])
def test_template_draws_build_with_the_estimated_weight_count(
    name: str, shape: tuple[int, int, int]
) -> None:
    plan = plan_model(name)
    space = load_template(name).space
    rng = random.Random(f"{name}-{shape}")
    for _ in range(DRAWS):
        params = sample_params(space, rng)
        model = build_model(plan, params, shape, CLASSES, compile=name != "resnet")
        estimate = count_weights(resolve_model(plan, params, CLASSES), shape)
        assert model.count_params() == pytest.approx(estimate, rel=0.01)
        assert model.count_params() == estimate, params
        assert tuple(model.output.shape) == (None, CLASSES)
        keras.backend.clear_session()


def test_every_template_is_covered() -> None:
    assert set(template_names()) == {"cnn", "mlp", "resnet"}


def test_inline_model_layers_carry_the_param_values() -> None:
    model = build_model(INLINE, INLINE_PARAMS, (8, 8, 3), CLASSES, compile=False)
    rescaling = layers_of(model, keras.layers.Rescaling)[0]
    assert rescaling.get_config()["scale"] == 0.5
    conv, second, residual_conv, _projection = layers_of(model, keras.layers.Conv2D)
    assert [conv.filters, second.filters] == [6, 12]
    assert conv.kernel_size == (5, 5)
    assert conv.get_config()["activation"] == "gelu"
    assert isinstance(conv.kernel_regularizer, keras.regularizers.L1L2)
    assert conv.kernel_regularizer.l1 == pytest.approx(1e-5)
    assert conv.kernel_regularizer.l2 == pytest.approx(2e-4)
    assert residual_conv.filters == 16
    assert residual_conv.strides == (2, 2)
    assert len(layers_of(model, keras.layers.Add)) == 1
    nodes = resolve_model(plan_model(INLINE), INLINE_PARAMS, CLASSES)
    assert model.count_params() == count_weights(nodes, (8, 8, 3))


def test_projection_shortcut_is_a_strided_1x1_conv_with_batch_norm() -> None:
    model = build_model(INLINE, INLINE_PARAMS, (8, 8, 3), CLASSES, compile=False)
    projection = layers_of(model, keras.layers.Conv2D)[-1]
    assert projection.kernel_size == (1, 1)
    assert projection.strides == (2, 2)
    assert projection.filters == 16
    assert projection.padding == "same"
    assert projection.use_bias is False
    assert isinstance(projection.kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(projection.kernel_regularizer, keras.regularizers.L2)
    assert projection.kernel_regularizer.l2 == pytest.approx(2e-4)
    assert len(layers_of(model, keras.layers.BatchNormalization)) == 2


def test_identity_shortcut_adds_no_projection() -> None:
    same_shape = {**INLINE_PARAMS, "blocks": 1, "width": 16}
    layers = [
        INLINE["layers"][1],
        {
            "residual": [{"layer": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same"}],
            "shortcut": {"l2": 0.0},
        },
        *INLINE["layers"][3:],
    ]
    model = build_model({**INLINE, "layers": layers}, same_shape, (8, 8, 3), CLASSES)
    assert len(layers_of(model, keras.layers.Conv2D)) == 2
    assert len(layers_of(model, keras.layers.Add)) == 1


def test_l2_regularizer_alone_is_an_l2_and_zero_is_none() -> None:
    model = build_model("cnn", {"l2": 1e-4}, (8, 8, 1), CLASSES, compile=False)
    conv = layers_of(model, keras.layers.Conv2D)[0]
    assert isinstance(conv.kernel_regularizer, keras.regularizers.L2)
    keras.backend.clear_session()
    plain = build_model("cnn", {"l2": 0.0}, (8, 8, 1), CLASSES, compile=False)
    assert layers_of(plain, keras.layers.Conv2D)[0].kernel_regularizer is None


def test_cnn_first_conv_has_the_given_filters_and_kernel_size() -> None:
    params = {"filters": 48, "kernel_size": 5, "conv_blocks": 2}
    model = build_model("cnn", params, (32, 32, 3), CLASSES, compile=False)
    first, *rest = layers_of(model, keras.layers.Conv2D)
    assert first.filters == 48
    assert first.kernel_size == (5, 5)
    assert [conv.filters for conv in rest] == [48, 96, 96]


def test_resnet_has_a_strided_7x7_stem_and_four_doubling_stages() -> None:
    model = build_model("resnet", {"filters": 16}, (32, 32, 3), CLASSES, compile=False)
    convs = layers_of(model, keras.layers.Conv2D)
    assert (convs[0].kernel_size, convs[0].strides) == ((7, 7), (2, 2))
    stage_filters = sorted({conv.filters for conv in convs[1:]})
    assert stage_filters == [16, 32, 64, 128]
    assert len(layers_of(model, keras.layers.RandomFlip)) == 1
    assert len(layers_of(model, keras.layers.Add)) == 8


def test_shape_that_cannot_work_names_the_layer() -> None:
    params = {"padding": "valid", "kernel_size": 5, "conv_blocks": 3}
    with pytest.raises(ModelBuildError) as caught:
        build_model("cnn", params, (8, 8, 1), CLASSES)
    message = str(caught.value)
    assert "template cnn.layers[3].layers[3]: Conv2D" in message
    assert "an input of 4 is smaller than its window of 5" in message
    assert caught.value.layer == "template cnn.layers[3].layers[3]"


def test_model_that_does_not_end_in_the_classes_is_refused() -> None:
    layers = [{"layer": "Flatten"}, {"layer": "Dense", "units": 3}]
    with pytest.raises(ModelBuildError, match="not 10 classes"):
        build_model(layers, {}, (8, 8, 1), CLASSES)


def test_unknown_template_is_a_build_error() -> None:
    with pytest.raises(ModelBuildError, match="unknown template 'vgg'"):
        build_model("vgg", {}, (8, 8, 1), CLASSES)


def test_hypermodel_is_left_to_its_own_builder() -> None:
    with pytest.raises(ModelBuildError, match=r"cannot import 'mypackage\.models'"):
        build_model({"hypermodel": "mypackage.models:build"}, {}, (8, 8, 1), CLASSES)


def test_bad_param_value_is_a_build_error_naming_the_argument() -> None:
    with pytest.raises(ModelBuildError, match=r"rate"):
        build_model("cnn", {"dropout": 1.5}, (8, 8, 1), CLASSES)


def test_keras_refusal_names_the_layer() -> None:
    layers = [
        {"layer": "RandomContrast", "factor": [0.5, -0.5]},
        {"layer": "Flatten"},
        {"layer": "Dense", "units": "$classes"},
    ]
    with pytest.raises(ModelBuildError, match=r"model\[0\] \(RandomContrast\)"):
        build_model(layers, {}, (8, 8, 1), CLASSES)


def test_every_allowed_layer_builds_with_the_estimated_weight_count() -> None:
    layers = [
        {"layer": "Rescaling", "scale": 0.5, "offset": -1},
        {"layer": "RandomFlip", "mode": "horizontal_and_vertical"},
        {"layer": "RandomRotation", "factor": [-0.1, 0.2]},
        {"layer": "RandomZoom", "height_factor": 0.1, "width_factor": [-0.2, 0.1]},
        {"layer": "RandomTranslation", "height_factor": 0.1, "width_factor": 0.1},
        {"layer": "RandomContrast", "factor": 0.2},
        {"layer": "Conv2D", "filters": 4, "kernel_size": [3, 1], "dilation_rate": 2},
        {"layer": "BatchNormalization", "momentum": 0.9, "epsilon": 1e-3},
        {"layer": "SpatialDropout2D", "rate": 0.1},
        {"layer": "AveragePooling2D", "pool_size": 2, "strides": 1, "padding": "same"},
        {"layer": "MaxPooling2D", "pool_size": 3, "strides": 2},
        {"layer": "GlobalMaxPooling2D"},
        *({"layer": "Activation", "activation": name} for name in ACTIVATIONS),
        {"layer": "Dense", "units": 5, "use_bias": False, "kernel_initializer": "orthogonal"},
        {"layer": "Dropout", "rate": 0.2},
        {"layer": "Dense", "units": "$classes", "activation": "softmax"},
    ]
    nodes = resolve_model(plan_model(layers), {}, CLASSES)
    model = build_from_nodes(nodes, (16, 12, 3), name="every_layer")
    assert model.name == "every_layer"
    assert model.count_params() == count_weights(nodes, (16, 12, 3))
    built = [
        layer.get_config()["activation"] for layer in layers_of(model, keras.layers.Activation)
    ]
    aliases = {"swish": "silu"}  # Keras records swish under its other name
    assert built == [aliases.get(name, name) for name in ACTIVATIONS]


def test_mixed_precision_keeps_the_last_dense_in_float32() -> None:
    training = TrainingSpec(mixed_precision=True)
    model = build_model("mlp", {"hidden_layers": 2}, (8, 8, 1), CLASSES, training=training)
    *hidden, last = layers_of(model, keras.layers.Dense)
    assert [layer.dtype_policy.name for layer in hidden] == ["mixed_float16"] * 2
    assert last.dtype_policy.name == "float32"
    assert model.output.dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.config.dtype_policy().name == "float32"


def test_training_settings_reach_compile() -> None:
    training = TrainingSpec(jit_compile=False, steps_per_execution=4)
    model = build_model("mlp", {}, (8, 8, 1), CLASSES, training=training)
    assert model.jit_compile is False
    assert model.steps_per_execution == 4


def test_make_optimizer_gives_sgd_with_momentum() -> None:
    optimizer = make_optimizer({"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9})
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == pytest.approx(0.9)
    assert float(optimizer.learning_rate) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("adam", keras.optimizers.Adam),
        ("adamw", keras.optimizers.AdamW),
        ("rmsprop", keras.optimizers.RMSprop),
        ("nadam", keras.optimizers.Nadam),
    ],
)
def test_make_optimizer_maps_each_name(name: str, kind: type) -> None:
    optimizer = make_optimizer({"optimizer": name, "learning_rate": 0.01, "momentum": 0.5})
    assert type(optimizer) is kind


def test_make_optimizer_refuses_an_unknown_name() -> None:
    with pytest.raises(ModelBuildError, match="unknown optimizer 'lbfgs'"):
        make_optimizer({"optimizer": "lbfgs"})


def test_compiled_model_trains_one_step_with_accuracy() -> None:
    params = {"filters": 8, "dense_units": 16, "conv_blocks": 1, "optimizer": "sgd"}
    model = build_model("cnn", params, (8, 8, 1), CLASSES, training=TrainingSpec())
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    data = np.random.default_rng(0)
    images = data.random((16, 8, 8, 1), dtype=np.float32)
    labels = data.integers(0, CLASSES, size=16)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert np.isfinite(history.history["loss"][0])
    assert 0.0 <= history.history["accuracy"][0] <= 1.0
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)]
    assert any(changed)
