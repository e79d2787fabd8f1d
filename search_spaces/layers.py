"""The layer language: parse a layer list once, then resolve it for given params.

A list holds three kinds of item:
- `{layer: Conv2D, filters: $filters, kernel_size: 3, when: ${batch_norm}}`: one layer from the
  allow-list in `layer_rules`; any argument may be a `$name` or `${expression}`;
- `{repeat: $conv_blocks, index: block, layers: [...]}`: the body `repeat` times, with the
  iteration number bound to `index`;
- `{residual: [...], shortcut: {l2: $l2, batch_norm: true}}`: the body added to its input,
  through a 1x1 projection when the body changes the shape.

Resolution turns items into `LayerNode` / `ResidualNode` values with every argument concrete
and checked; both the parameter counter and the Keras builder read those nodes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from search_spaces.errors import SpecError
from search_spaces.expressions import Expression, ExpressionError, parse_value
from search_spaces.layer_rules import LAYERS

__all__ = [
    "MAX_LAYERS",
    "MAX_REPEAT",
    "Item",
    "LayerNode",
    "Node",
    "ResidualNode",
    "names_read",
    "parse_layers",
    "resolve_layers",
]

MAX_LAYERS = 1000
MAX_REPEAT = 64
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHORTCUT_KEYS = ("l2", "batch_norm")


@dataclass(frozen=True)
class LayerItem:
    kind: str
    args: Mapping[str, object]
    when: object
    path: str


@dataclass(frozen=True)
class RepeatItem:
    count: object
    index: str | None
    body: tuple[Item, ...]
    when: object
    path: str


@dataclass(frozen=True)
class ResidualItem:
    body: tuple[Item, ...]
    shortcut: Mapping[str, object]
    when: object
    path: str


Item = LayerItem | RepeatItem | ResidualItem


@dataclass(frozen=True)
class LayerNode:
    """One concrete layer: a Keras class name from the allow-list and checked arguments."""

    kind: str
    args: Mapping[str, Any]
    path: str


@dataclass(frozen=True)
class ResidualNode:
    """`main(x) + shortcut(x)`; the shortcut projects (1x1 conv) when shapes differ."""

    main: tuple[Node, ...]
    shortcut_l2: float
    shortcut_batch_norm: bool
    path: str


Node = LayerNode | ResidualNode


def parse_layers(raw: object, path: str = "model") -> tuple[Item, ...]:
    """Parse a YAML/JSON layer list; SpecError names the item (`model[3].filters`)."""
    if not isinstance(raw, list) or not raw:
        raise SpecError(path, "expected a non-empty list of layers")
    return tuple(_parse_item(entry, f"{path}[{i}]") for i, entry in enumerate(raw))


def _parse_item(entry: object, path: str) -> Item:
    if not isinstance(entry, dict):
        raise SpecError(path, f"expected a mapping with layer, repeat or residual, got {entry!r}")
    when = _parse(entry.get("when"), f"{path}.when")
    if "layer" in entry:
        return _parse_layer(entry, when, path)
    if "repeat" in entry:
        return _parse_repeat(entry, when, path)
    if "residual" in entry:
        return _parse_residual(entry, when, path)
    raise SpecError(path, f"expected a key layer, repeat or residual, got {sorted(entry)}")


def _parse_layer(entry: dict[str, Any], when: object, path: str) -> LayerItem:
    kind = entry["layer"]
    if not isinstance(kind, str) or kind not in LAYERS:
        allowed = ", ".join(LAYERS)
        raise SpecError(f"{path}.layer", f"unknown layer {kind!r}; allowed: {allowed}")
    rules = LAYERS[kind]
    args: dict[str, object] = {}
    for name, value in entry.items():
        if name in ("layer", "when"):
            continue
        if name not in rules:
            takes = ", ".join(rules) or "no arguments"
            raise SpecError(f"{path}.{name}", f"{kind} has no argument {name!r} (it takes {takes})")
        args[name] = _parse(value, f"{path}.{name}")
        if not _has_expression(args[name]):
            _check_arg(kind, name, args[name], path)
    missing = [name for name, rule in rules.items() if rule.required and name not in args]
    if missing:
        raise SpecError(f"{path}.{missing[0]}", f"{kind} needs {missing[0]!r}")
    return LayerItem(kind, args, when, path)


def _parse_repeat(entry: dict[str, Any], when: object, path: str) -> RepeatItem:
    extra = set(entry) - {"repeat", "index", "layers", "when"}
    if extra:
        raise SpecError(f"{path}.{sorted(extra)[0]}", "repeat takes: repeat, index, layers, when")
    index = entry.get("index")
    if index is not None and (not isinstance(index, str) or not _IDENTIFIER.match(index)):
        raise SpecError(f"{path}.index", f"expected a name, got {index!r}")
    count = _parse(entry["repeat"], f"{path}.repeat")
    if not _has_expression(count):
        _check_count(count, path)
    body = parse_layers(entry.get("layers"), f"{path}.layers")
    return RepeatItem(count, index, body, when, path)


def _parse_residual(entry: dict[str, Any], when: object, path: str) -> ResidualItem:
    extra = set(entry) - {"residual", "shortcut", "when"}
    if extra:
        raise SpecError(f"{path}.{sorted(extra)[0]}", "residual takes: residual, shortcut, when")
    shortcut = entry.get("shortcut") or {}
    if not isinstance(shortcut, dict) or set(shortcut) - set(_SHORTCUT_KEYS):
        raise SpecError(f"{path}.shortcut", f"expected a mapping of {', '.join(_SHORTCUT_KEYS)}")
    parsed = {key: _parse(value, f"{path}.shortcut.{key}") for key, value in shortcut.items()}
    body = parse_layers(entry["residual"], f"{path}.residual")
    return ResidualItem(body, parsed, when, path)


def _parse(value: object, path: str) -> object:
    try:
        return parse_value(value)
    except ExpressionError as exc:
        raise SpecError(path, str(exc)) from None


def _has_expression(value: object) -> bool:
    if isinstance(value, Expression):
        return True
    if isinstance(value, tuple):
        return any(_has_expression(item) for item in value)
    if isinstance(value, dict):
        return any(_has_expression(item) for item in value.values())
    return False


def names_read(items: tuple[Item, ...], bound: frozenset[str] = frozenset()) -> set[str]:
    """Every name the items read, less the repeat indexes bound around them."""
    names: set[str] = set()
    for item in items:
        names |= _value_names(item.when)
        if isinstance(item, LayerItem):
            for value in item.args.values():
                names |= _value_names(value)
        elif isinstance(item, RepeatItem):
            names |= _value_names(item.count)
            inner = bound | {item.index} if item.index else bound
            names |= names_read(item.body, inner)
        else:
            for value in item.shortcut.values():
                names |= _value_names(value)
            names |= names_read(item.body, bound)
    return names - bound


def _value_names(value: object) -> set[str]:
    if isinstance(value, Expression):
        return set(value.names)
    if isinstance(value, tuple):
        return set().union(*(_value_names(item) for item in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_value_names(item) for item in value.values())) if value else set()
    return set()


def resolve_layers(items: tuple[Item, ...], values: Mapping[str, Any]) -> tuple[Node, ...]:
    """Concrete nodes for these values (params, `classes`); SpecError names the bad item."""
    budget = [MAX_LAYERS]
    return tuple(_resolve_items(items, dict(values), budget))


def _resolve_items(
    items: tuple[Item, ...], values: dict[str, Any], budget: list[int]
) -> list[Node]:
    nodes: list[Node] = []
    for item in items:
        if item.when is not None and not _evaluate(item.when, values, f"{item.path}.when"):
            continue
        if isinstance(item, LayerItem):
            nodes.append(_resolve_layer(item, values, budget))
        elif isinstance(item, RepeatItem):
            nodes.extend(_resolve_repeat(item, values, budget))
        else:
            nodes.append(_resolve_residual(item, values, budget))
    return nodes


def _resolve_layer(item: LayerItem, values: dict[str, Any], budget: list[int]) -> LayerNode:
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecError(item.path, f"the model has more than {MAX_LAYERS} layers")
    args = {
        name: _check_arg(
            item.kind, name, _evaluate(value, values, f"{item.path}.{name}"), item.path
        )
        for name, value in item.args.items()
    }
    if item.kind == "Pooling2D":
        kind = "MaxPooling2D" if args.pop("kind") == "max" else "AveragePooling2D"
        return LayerNode(kind, args, item.path)
    return LayerNode(item.kind, args, item.path)


def _resolve_repeat(item: RepeatItem, values: dict[str, Any], budget: list[int]) -> list[Node]:
    count = _check_count(_evaluate(item.count, values, f"{item.path}.repeat"), item.path)
    nodes: list[Node] = []
    for iteration in range(count):
        scope = {**values, item.index: iteration} if item.index else values
        nodes.extend(_resolve_items(item.body, scope, budget))
    return nodes


def _resolve_residual(
    item: ResidualItem, values: dict[str, Any], budget: list[int]
) -> ResidualNode:
    main = tuple(_resolve_items(item.body, values, budget))
    if not main:
        raise SpecError(f"{item.path}.residual", "the residual body resolved to no layers")
    l2 = _evaluate(item.shortcut.get("l2", 0.0), values, f"{item.path}.shortcut.l2")
    batch_norm = _evaluate(item.shortcut.get("batch_norm", False), values, item.path)
    if isinstance(l2, bool) or not isinstance(l2, int | float) or l2 < 0:
        raise SpecError(f"{item.path}.shortcut.l2", f"expected a non-negative number, got {l2!r}")
    return ResidualNode(main, float(l2), bool(batch_norm), item.path)


def _evaluate(value: object, values: Mapping[str, Any], path: str) -> Any:
    try:
        if isinstance(value, Expression):
            return value.evaluate(values)
        if isinstance(value, tuple):
            return tuple(_evaluate(item, values, path) for item in value)
        if isinstance(value, dict):
            return {key: _evaluate(item, values, path) for key, item in value.items()}
    except ExpressionError as exc:
        raise SpecError(path, str(exc)) from None
    return value


def _check_arg(kind: str, name: str, value: object, path: str) -> Any:
    try:
        return LAYERS[kind][name].check(value)
    except ValueError as exc:
        raise SpecError(f"{path}.{name}", f"{kind}.{name}: {exc}") from None


def _check_count(count: object, path: str) -> int:
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REPEAT:
        raise SpecError(f"{path}.repeat", f"expected an integer in 0..{MAX_REPEAT}, got {count!r}")
    return count
