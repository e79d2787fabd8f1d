"""Small, safe expressions for templates: `$filters`, `${filters * 2 ** block}`.

Parsed with `ast` and evaluated over an allow-list of node types: arithmetic, comparisons,
boolean logic, conditional expressions and a few functions. Nothing else runs.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Expression", "ExpressionError", "is_expression", "parse_value"]

MAX_LENGTH = 200
MAX_MAGNITUDE = 10**12
_REFERENCE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_EXPRESSION = re.compile(r"^\$\{(.*)\}$", re.DOTALL)

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "int": int,
    "float": float,
    "round": round,
    "abs": abs,
}


class ExpressionError(ValueError):
    """An expression that does not parse, names an unknown value, or fails to evaluate."""


@dataclass(frozen=True)
class Expression:
    """A parsed `$name` or `${...}`: its source text and the names it reads."""

    source: str
    tree: ast.Expression = field(compare=False, repr=False)
    names: frozenset[str]

    @classmethod
    def parse(cls, source: str) -> Expression:
        if len(source) > MAX_LENGTH:
            raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"expression {source!r} does not parse: {exc.msg}") from None
        names = frozenset(_check_nodes(tree, source))
        return cls(source, tree, names)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        missing = sorted(self.names - values.keys())
        if missing:
            raise ExpressionError(f"expression {self.source!r} names unknown value {missing[0]!r}")
        try:
            result = _evaluate(self.tree.body, values)
        except ExpressionError:
            raise
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise ExpressionError(f"expression {self.source!r} failed: {exc}") from None
        return _bounded(result, self.source)


def is_expression(value: object) -> bool:
    return isinstance(value, str) and value.startswith("$")


def parse_value(value: object) -> object:
    """A template value: `$name` and `${...}` become Expressions; anything else stays literal."""
    if isinstance(value, str):
        reference = _REFERENCE.match(value)
        if reference:
            return Expression.parse(reference.group(1))
        expression = _EXPRESSION.match(value)
        if expression:
            return Expression.parse(expression.group(1).strip())
        if value.startswith("$"):
            raise ExpressionError(f"{value!r} is neither $name nor ${{expression}}")
    if isinstance(value, list):
        return tuple(parse_value(item) for item in value)
    if isinstance(value, dict):
        return {key: parse_value(item) for key, item in value.items()}
    return value


def _check_nodes(tree: ast.AST, source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                raise ExpressionError(f"expression {source!r} assigns")
            names.add(node.id)
        elif isinstance(node, ast.Call):
            _check_call(node, source)
        elif not isinstance(node, _ALLOWED_NODES):
            kind = type(node).__name__
            raise ExpressionError(f"expression {source!r} uses {kind}, which is not allowed")
        elif isinstance(node, ast.Constant) and not isinstance(
            node.value, bool | int | float | str | type(None)
        ):
            raise ExpressionError(f"expression {source!r} has a constant of a disallowed type")
    return names - _FUNCTIONS.keys()


def _check_call(node: ast.Call, source: str) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
        raise ExpressionError(
            f"expression {source!r} calls something other than {', '.join(_FUNCTIONS)}"
        )
    if node.keywords:
        raise ExpressionError(f"expression {source!r} passes keyword arguments")


_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.List,
    ast.Tuple,
    ast.And,
    ast.Or,
    *_BINARY,
    *_UNARY,
    *_COMPARE,
)


def _evaluate(node: ast.expr, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        return _binary(node, values)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, values))
    if isinstance(node, ast.BoolOp):
        return _boolean(node, values)
    if isinstance(node, ast.Compare):
        return _compare(node, values)
    if isinstance(node, ast.IfExp):
        branch = node.body if _evaluate(node.test, values) else node.orelse
        return _evaluate(branch, values)
    if isinstance(node, ast.List | ast.Tuple):
        return tuple(_evaluate(item, values) for item in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _FUNCTIONS[node.func.id](*(_evaluate(arg, values) for arg in node.args))
    raise ExpressionError(f"cannot evaluate {type(node).__name__}")


def _binary(node: ast.BinOp, values: Mapping[str, Any]) -> Any:
    left = _evaluate(node.left, values)
    right = _evaluate(node.right, values)
    if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > MAX_MAGNITUDE):
        raise ExpressionError(f"power {left} ** {right} is too large")
    return _bounded(_BINARY[type(node.op)](left, right), "")


def _boolean(node: ast.BoolOp, values: Mapping[str, Any]) -> Any:
    result: Any = isinstance(node.op, ast.And)
    for operand in node.values:
        result = _evaluate(operand, values)
        if isinstance(node.op, ast.And) and not result:
            return result
        if isinstance(node.op, ast.Or) and result:
            return result
    return result


def _compare(node: ast.Compare, values: Mapping[str, Any]) -> bool:
    left = _evaluate(node.left, values)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _evaluate(comparator, values)
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True


def _bounded(value: Any, source: str) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ExpressionError(f"expression {source!r} gave {value}")
        if abs(value) > MAX_MAGNITUDE:
            raise ExpressionError(f"expression {source!r} gave {value}, beyond {MAX_MAGNITUDE}")
    return value
