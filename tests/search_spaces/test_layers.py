"""Tests for search_spaces/layers.py, layer_rules.py, shapes.py and templates.py."""

from __future__ import annotations

from typing import Any

import pytest

from search_spaces.errors import SpecError
from search_spaces.layers import (
    MAX_REPEAT,
    LayerNode,
    ResidualNode,
    names_read,
    parse_layers,
    resolve_layers,
)
from search_spaces.models import plan_model, resolve_model
from search_spaces.shapes import count_weights, infer_shapes, projection_strides
from search_spaces.templates import load_template, template_names

CONV_BLOCK: list[dict[str, Any]] = [
    {
        "repeat": "$blocks",
        "index": "block",
        "layers": [
            {"layer": "Conv2D", "filters": "${width * (block + 1)}", "kernel_size": 3},
            {"layer": "BatchNormalization", "when": "$batch_norm"},
        ],
    },
    {"layer": "Flatten"},
    {"layer": "Dense", "units": "$classes", "activation": "softmax"},
]


def resolve(raw: list[dict[str, Any]], **values: Any) -> tuple[Any, ...]:
    return resolve_layers(parse_layers(raw), values)


def test_repeat_binds_its_index() -> None:
    nodes = resolve(CONV_BLOCK, blocks=2, width=8, batch_norm=False, classes=10)
    assert [n.kind for n in nodes if isinstance(n, LayerNode)] == [
        "Conv2D", "Conv2D", "Flatten", "Dense",
    ]  # fmt: skip
    assert [n.args["filters"] for n in nodes[:2] if isinstance(n, LayerNode)] == [8, 16]


def test_when_leaves_a_layer_out() -> None:
    with_bn = resolve(CONV_BLOCK, blocks=1, width=8, batch_norm=True, classes=10)
    without = resolve(CONV_BLOCK, blocks=1, width=8, batch_norm=False, classes=10)
    assert len(with_bn) == len(without) + 1
    assert isinstance(with_bn[1], LayerNode) and with_bn[1].kind == "BatchNormalization"


def test_arguments_are_normalized() -> None:
    (conv,) = resolve([{"layer": "Conv2D", "filters": 4, "kernel_size": 3, "strides": [2, 1]}])
    assert isinstance(conv, LayerNode)
    assert conv.args["kernel_size"] == (3, 3)
    assert conv.args["strides"] == (2, 1)


def test_regularizer_of_zero_means_none() -> None:
    raw = [{"layer": "Dense", "units": 4, "kernel_regularizer": {"l2": "$l2"}}]
    (zero,) = resolve(raw, l2=0.0)
    (some,) = resolve(raw, l2=1e-4)
    assert isinstance(zero, LayerNode) and isinstance(some, LayerNode)
    assert zero.args["kernel_regularizer"] is None
    assert some.args["kernel_regularizer"] == {"l2": 1e-4}


def test_pooling2d_resolves_to_max_or_average() -> None:
    raw = [{"layer": "Pooling2D", "kind": "$pooling"}]
    assert [n.kind for n in resolve(raw, pooling="max")] == ["MaxPooling2D"]
    assert [n.kind for n in resolve(raw, pooling="avg")] == ["AveragePooling2D"]


def test_residual_carries_its_shortcut_settings() -> None:
    raw = [
        {
            "residual": [{"layer": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same"}],
            "shortcut": {"l2": "$l2", "batch_norm": True},
        }
    ]
    (node,) = resolve(raw, l2=1e-3)
    assert isinstance(node, ResidualNode)
    assert node.shortcut_l2 == 1e-3
    assert node.shortcut_batch_norm is True
    assert len(node.main) == 1


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ([{"layer": "Lambda", "function": "x"}], "model[0].layer"),
        ([{"layer": "Dense", "units": 4, "bias": True}], "model[0].bias"),
        ([{"layer": "Dense"}], "model[0].units"),
        ([{"layer": "Dense", "units": 0}], "model[0].units"),
        (
            [{"layer": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "full"}],
            "model[0].padding",
        ),
        ([{"layer": "Dense", "units": 4, "activation": "eval"}], "model[0].activation"),
        ([{"repeat": MAX_REPEAT + 1, "layers": [{"layer": "Flatten"}]}], "model[0].repeat"),
        (
            [{"repeat": 2, "index": "not a name", "layers": [{"layer": "Flatten"}]}],
            "model[0].index",
        ),
        ([{"residual": [{"layer": "Flatten"}], "skip": True}], "model[0].skip"),
        ([{"conv": 3}], "model[0]"),
        ([], "model"),
    ],
)
def test_bad_layer_list_is_refused_naming_the_item(raw: list[Any], path: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_layers(raw)
    assert caught.value.field == path


def test_bad_value_from_params_is_refused_at_resolution() -> None:
    items = parse_layers([{"layer": "Dropout", "rate": "$dropout"}])
    with pytest.raises(SpecError) as caught:
        resolve_layers(items, {"dropout": 1.5})
    assert caught.value.field == "model[0].rate"


def test_names_read_leaves_out_repeat_indexes() -> None:
    assert names_read(parse_layers(CONV_BLOCK)) == {"blocks", "width", "batch_norm", "classes"}


def test_infer_shapes_counts_conv_and_dense_weights() -> None:
    nodes = resolve(CONV_BLOCK, blocks=1, width=4, batch_norm=True, classes=10)
    shape = infer_shapes(nodes, (8, 8, 1), 10)
    conv = 3 * 3 * 1 * 4 + 4
    batch_norm = 4 * 4
    dense = 6 * 6 * 4 * 10 + 10
    assert shape.output_shape == (10,)
    assert shape.weights == conv + batch_norm + dense


def test_valid_padding_on_a_too_small_input_names_the_layer() -> None:
    nodes = resolve(CONV_BLOCK, blocks=3, width=4, batch_norm=False, classes=10)
    with pytest.raises(SpecError) as caught:
        count_weights(nodes, (5, 5, 1))
    assert caught.value.field == "model[0].layers[0]"
    assert "smaller than its window" in caught.value.message


def test_model_that_does_not_end_in_classes_is_refused() -> None:
    nodes = resolve(CONV_BLOCK, blocks=1, width=4, batch_norm=False, classes=7)
    with pytest.raises(SpecError, match="not 10 classes"):
        infer_shapes(nodes, (8, 8, 1), 10)


def test_residual_projection_adds_its_weights() -> None:
    raw = [
        {
            "residual": [
                {"layer": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"}
            ],
            "shortcut": {"batch_norm": True},
        }
    ]
    nodes = resolve(raw)
    body = 3 * 3 * 3 * 8 + 8
    projection = 3 * 8 + 4 * 8
    assert count_weights(nodes, (9, 9, 3)) == body + projection


def test_projection_strides_map_odd_sizes() -> None:
    assert projection_strides((9, 9, 3), (5, 5, 8), "x") == (2, 2)
    assert projection_strides((8, 8, 3), (8, 8, 8), "x") == (1, 1)
    with pytest.raises(SpecError):
        projection_strides((8, 8, 3), (7, 7, 8), "x")


def test_bundled_templates_are_cnn_mlp_and_resnet() -> None:
    assert template_names() == ["cnn", "mlp", "resnet"]


@pytest.mark.parametrize("name", ["cnn", "mlp", "resnet"])
def test_template_defaults_build_for_digits_and_cifar(name: str) -> None:
    template = load_template(name)
    plan = plan_model(name)
    assert plan.reads is not None
    assert set(template.space) <= plan.reads
    for shape in ((8, 8, 1), (32, 32, 3)):
        nodes = resolve_model(plan, {}, 10)
        assert infer_shapes(nodes, shape, 10).weights > 0


def test_resnet_defaults_have_four_stages_of_doubling_filters() -> None:
    nodes = resolve_model(plan_model("resnet"), {}, 10)
    residuals = [n for n in nodes if isinstance(n, ResidualNode)]
    filters = [
        first.args["filters"] for first in (r.main[0] for r in residuals[::2])
        if isinstance(first, LayerNode)
    ]  # fmt: skip
    assert filters == [64, 128, 256, 512]
    stem = next(n for n in nodes if isinstance(n, LayerNode) and n.kind == "Conv2D")
    assert stem.args["kernel_size"] == (7, 7)
    assert stem.args["strides"] == (2, 2)
