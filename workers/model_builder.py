"""Keras models from the spec language: the only place in the project that builds layers.

`build_model` plans a spec's `model` (a template name, an inline layer list, or
`{layers, defaults}`), resolves it for one trial's params, checks the shapes without Keras
(`search_spaces.shapes`), then builds a functional model and compiles it. The weight count
of what it builds equals `search_spaces.shapes.count_weights` for the same nodes.

Backend-neutral: only Keras 3 APIs, so `KERAS_BACKEND=jax` works as well as TensorFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

from search_spaces.errors import SpecError
from search_spaces.layers import LayerNode, Node, ResidualNode
from search_spaces.models import ModelPlan, full_params, plan_model, resolve_model
from search_spaces.shapes import count_weights, infer_shapes, projection_strides
from search_spaces.spec import TrainingSpec

__all__ = ["ModelBuildError", "build_from_nodes", "build_model", "make_optimizer"]

logger = logging.getLogger(__name__)

MIXED = "mixed_float16"
LOSS = "sparse_categorical_crossentropy"

_LAYER_CLASSES: dict[str, Callable[..., Any]] = {
    "Conv2D": keras.layers.Conv2D,
    "MaxPooling2D": keras.layers.MaxPooling2D,
    "AveragePooling2D": keras.layers.AveragePooling2D,
    "GlobalAveragePooling2D": keras.layers.GlobalAveragePooling2D,
    "GlobalMaxPooling2D": keras.layers.GlobalMaxPooling2D,
    "BatchNormalization": keras.layers.BatchNormalization,
    "Dropout": keras.layers.Dropout,
    "SpatialDropout2D": keras.layers.SpatialDropout2D,
    "Flatten": keras.layers.Flatten,
    "Dense": keras.layers.Dense,
    "Activation": keras.layers.Activation,
    "Rescaling": keras.layers.Rescaling,
    "RandomFlip": keras.layers.RandomFlip,
    "RandomRotation": keras.layers.RandomRotation,
    "RandomZoom": keras.layers.RandomZoom,
    "RandomTranslation": keras.layers.RandomTranslation,
    "RandomContrast": keras.layers.RandomContrast,
}

_OPTIMIZERS: dict[str, Callable[..., Any]] = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "nadam": keras.optimizers.Nadam,
}
_WITH_MOMENTUM = ("sgd", "rmsprop")


class ModelBuildError(ValueError):
    """Params that do not make a model (a shape that cannot work, say); names the layer."""

    def __init__(self, message: str, layer: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer


def build_model(
    model: object,
    params: Mapping[str, Any],
    input_shape: Sequence[int],
    classes: int,
    *,
    training: TrainingSpec | None = None,
    compile: bool = True,
) -> keras.Model:
    """The Keras model a spec's `model` gives for `params`, compiled unless `compile=False`.

    A hypermodel (`{hypermodel: "package.module:function"}`) is built, and compiled, by its
    own function (`workers.hypermodels`, imported only then: it needs keras_tuner).
    """
    plan = _plan(model)
    if plan.kind == "hypermodel":
        from workers.hypermodels import build_hypermodel  # noqa: PLC0415

        return build_hypermodel(plan.name, params, input_shape=input_shape)
    try:
        nodes = resolve_model(plan, params, classes)
        infer_shapes(nodes, input_shape, classes)
    except SpecError as exc:
        raise ModelBuildError(str(exc), exc.field) from None
    mixed = training is not None and training.mixed_precision
    built = build_from_nodes(nodes, input_shape, mixed_precision=mixed, name=plan.name)
    if compile:
        _compile(built, make_optimizer(full_params(plan, params)), training)
    logger.debug("built %s model with %d weights", plan.name, built.count_params())
    return built


def _plan(model: object) -> ModelPlan:
    try:
        plan = model if isinstance(model, ModelPlan) else plan_model(model)
    except SpecError as exc:
        raise ModelBuildError(str(exc), exc.field) from None
    return plan


def build_from_nodes(
    nodes: Sequence[Node],
    input_shape: Sequence[int],
    *,
    mixed_precision: bool = False,
    name: str = "model",
) -> keras.Model:
    """A functional model applying `nodes` in order to `keras.Input(shape=input_shape)`.

    With `mixed_precision`, every layer computes in float16 (variables in float32) except
    the last Dense and anything after it, which stay float32 so the outputs are float32.
    """
    try:
        count_weights(nodes, input_shape)
    except SpecError as exc:
        raise ModelBuildError(str(exc), exc.field) from None
    inputs = keras.Input(shape=tuple(input_shape))
    outputs = inputs
    output_from = _output_layers_start(nodes)
    for index, node in enumerate(nodes):
        dtype = MIXED if mixed_precision and index < output_from else None
        outputs = _apply(node, outputs, dtype)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


def _output_layers_start(nodes: Sequence[Node]) -> int:
    """Index of the last top-level Dense (the classifier), or of the last node without one."""
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if isinstance(node, LayerNode) and node.kind == "Dense":
            return index
    return len(nodes) - 1


def _apply(node: Node, x: Any, dtype: str | None) -> Any:
    if isinstance(node, ResidualNode):
        return _apply_residual(node, x, dtype)
    layer = _make_layer(node, dtype)
    try:
        return layer(x)
    except (ValueError, TypeError) as exc:
        raise _layer_error(node, exc) from None


def _make_layer(node: LayerNode, dtype: str | None) -> Any:
    layer_class = _LAYER_CLASSES.get(node.kind)
    if layer_class is None:
        raise ModelBuildError(f"{node.path}: no Keras layer for {node.kind!r}", node.path)
    args = {name: _keras_value(name, value) for name, value in node.args.items()}
    if dtype is not None:
        args["dtype"] = dtype
    try:
        return layer_class(**args)
    except (ValueError, TypeError) as exc:
        raise _layer_error(node, exc) from None


def _keras_value(name: str, value: Any) -> Any:
    if name == "kernel_regularizer":
        return _regularizer(value)
    return value


def _regularizer(amounts: Mapping[str, float] | None) -> Any:
    """`{"l2": x}` → L2(x); `{"l1": a, "l2": b}` → L1L2(a, b); None → no regularizer."""
    if not amounts:
        return None
    if set(amounts) == {"l2"}:
        return keras.regularizers.L2(amounts["l2"])
    return keras.regularizers.L1L2(l1=amounts.get("l1", 0.0), l2=amounts.get("l2", 0.0))


def _layer_error(node: LayerNode, exc: Exception) -> ModelBuildError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelBuildError(f"{node.path} ({node.kind}): {reason}", node.path)


def _apply_residual(node: ResidualNode, x: Any, dtype: str | None) -> Any:
    main = x
    for child in node.main:
        main = _apply(child, main, dtype)
    shape, out = _spatial_shape(x), _spatial_shape(main)
    shortcut = x if shape == out else _projection(node, x, shape, out, dtype)
    return keras.layers.Add(dtype=dtype)([main, shortcut])


def _spatial_shape(tensor: Any) -> tuple[int, ...]:
    return tuple(int(size) for size in tensor.shape[1:])


def _projection(
    node: ResidualNode, x: Any, shape: tuple[int, ...], out: tuple[int, ...], dtype: str | None
) -> Any:
    """The shortcut's 1x1 convolution (and batch norm) mapping `shape` onto `out`."""
    try:
        strides = projection_strides(shape, out, node.path)
    except SpecError as exc:
        raise ModelBuildError(str(exc), exc.field) from None
    regularizer = keras.regularizers.L2(node.shortcut_l2) if node.shortcut_l2 > 0 else None
    shortcut = keras.layers.Conv2D(
        out[-1],
        1,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizer,
        dtype=dtype,
    )(x)
    if node.shortcut_batch_norm:
        shortcut = keras.layers.BatchNormalization(dtype=dtype)(shortcut)
    return shortcut


def make_optimizer(params: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    """The optimizer that `optimizer`, `learning_rate` and `momentum` (sgd, rmsprop) name."""
    name = params.get("optimizer", "adam")
    if name not in _OPTIMIZERS:
        known = ", ".join(_OPTIMIZERS)
        raise ModelBuildError(f"optimizer: unknown optimizer {name!r} ({known})", "optimizer")
    learning_rate = _number(params, "learning_rate", 1e-3)
    if learning_rate <= 0:
        raise ModelBuildError(f"learning_rate: must be positive, got {learning_rate}")
    options: dict[str, float] = {"learning_rate": learning_rate}
    if name in _WITH_MOMENTUM:
        momentum = _number(params, "momentum", 0.0)
        if not 0 <= momentum < 1:
            raise ModelBuildError(f"momentum: expected a number in [0, 1), got {momentum}")
        options["momentum"] = momentum
    return _OPTIMIZERS[name](**options)


def _number(params: Mapping[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelBuildError(f"{name}: expected a number, got {value!r}", name)
    return float(value)


def _compile(model: Any, optimizer: Any, training: TrainingSpec | None) -> None:
    options: dict[str, Any] = {}
    if training is not None:
        options = {
            "jit_compile": training.jit_compile,
            "steps_per_execution": training.steps_per_execution,
        }
        if training.mixed_precision:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy"], **options)
