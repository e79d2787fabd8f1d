"""Shapes and weight counts of resolved layer nodes, computed without Keras.

`count_weights(nodes, input_shape)` equals Keras' `model.count_params()` for the model that
`workers/model_builder.py` builds from the same nodes (trainable and non-trainable weights,
batch-norm statistics included). A shape that cannot work (a kernel larger than its input
under `valid` padding, say) raises SpecError naming the layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from search_spaces.errors import SpecError
from search_spaces.layers import LayerNode, Node, ResidualNode

__all__ = ["ModelShape", "count_weights", "infer_shapes", "projection_strides"]

Shape = tuple[int, ...]

_IDENTITY = {
    "Activation", "Dropout", "Rescaling", "RandomFlip", "RandomRotation",
    "RandomZoom", "RandomTranslation", "RandomContrast",
}  # fmt: skip


@dataclass(frozen=True)
class ModelShape:
    output_shape: Shape
    weights: int


def infer_shapes(nodes: Sequence[Node], input_shape: Sequence[int], classes: int) -> ModelShape:
    """The output shape and weight count of nodes applied to `input_shape` (H, W, C).

    The builder appends nothing: the last layer must already produce `classes` outputs.
    """
    shape, weights = _walk(nodes, tuple(input_shape))
    if shape[-1] != classes or len(shape) != 1:
        shown = "x".join(map(str, shape))
        raise SpecError("model", f"the model ends with shape {shown}, not {classes} classes")
    return ModelShape(shape, weights)


def count_weights(nodes: Sequence[Node], input_shape: Sequence[int]) -> int:
    return _walk(nodes, tuple(input_shape))[1]


def _walk(nodes: Sequence[Node], shape: Shape) -> tuple[Shape, int]:
    total = 0
    for node in nodes:
        if isinstance(node, ResidualNode):
            shape, weights = _residual(node, shape)
        else:
            shape, weights = _layer(node, shape)
        total += weights
    return shape, total


def _layer(node: LayerNode, shape: Shape) -> tuple[Shape, int]:
    kind, args = node.kind, node.args
    if kind in _IDENTITY:
        return shape, 0
    if kind == "Conv2D":
        return _conv(node, _spatial(node, shape))
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return _pool(node, _spatial(node, shape)), 0
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return (_spatial(node, shape)[2],), 0
    if kind == "SpatialDropout2D":
        return _spatial(node, shape), 0
    if kind == "Flatten":
        return (math.prod(shape),), 0
    if kind == "BatchNormalization":
        return shape, 4 * shape[-1]
    if kind == "Dense":
        units = int(args["units"])
        bias = units if args.get("use_bias", True) else 0
        return (*shape[:-1], units), shape[-1] * units + bias
    raise SpecError(node.path, f"no shape rule for layer {kind}")


def _spatial(node: LayerNode, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise SpecError(node.path, f"{node.kind} needs an image input (H, W, C), got {shape}")
    return shape[0], shape[1], shape[2]


def _conv(node: LayerNode, shape: tuple[int, int, int]) -> tuple[Shape, int]:
    args = node.args
    kernel = args["kernel_size"]
    strides = args.get("strides", (1, 1))
    dilation = args.get("dilation_rate", (1, 1))
    if max(strides) > 1 and max(dilation) > 1:
        raise SpecError(node.path, "Conv2D cannot combine strides > 1 with dilation_rate > 1")
    padding = args.get("padding", "valid")
    height, width = (
        _extent(node, shape[i], (kernel[i] - 1) * dilation[i] + 1, strides[i], padding)
        for i in (0, 1)
    )
    filters = int(args["filters"])
    bias = filters if args.get("use_bias", True) else 0
    return (height, width, filters), kernel[0] * kernel[1] * shape[2] * filters + bias


def _pool(node: LayerNode, shape: tuple[int, int, int]) -> Shape:
    size = node.args.get("pool_size", (2, 2))
    strides = node.args.get("strides", size)
    padding = node.args.get("padding", "valid")
    height, width = (_extent(node, shape[i], size[i], strides[i], padding) for i in (0, 1))
    return height, width, shape[2]


def _extent(node: LayerNode, size: int, window: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    out = (size - window) // stride + 1
    if out <= 0:
        raise SpecError(
            node.path,
            f"{node.kind}: an input of {size} is smaller than its window of {window}"
            f" with padding 'valid'",
        )
    return out


def _residual(node: ResidualNode, shape: Shape) -> tuple[Shape, int]:
    out, weights = _walk(node.main, shape)
    if out == shape:
        return out, weights
    if len(shape) != 3 or len(out) != 3:
        raise SpecError(node.path, f"residual: the body changes {shape} to {out}; cannot add them")
    strides = projection_strides(shape, out, node.path)
    del strides  # the projection's weight count does not depend on its strides
    projection = shape[2] * out[2] + (4 * out[2] if node.shortcut_batch_norm else 0)
    return out, weights + projection


def projection_strides(shape: Shape, out: Shape, path: str) -> tuple[int, int]:
    """The strides of the 1x1 `same` projection that maps `shape` onto `out`'s height and width."""
    strides = []
    for size, target in zip(shape[:2], out[:2], strict=True):
        stride = max(1, size // target)
        if -(-size // stride) != target:
            stride += 1
        if -(-size // stride) != target:
            raise SpecError(path, f"residual: no strided 1x1 projection maps {shape} onto {out}")
        strides.append(stride)
    return strides[0], strides[1]
