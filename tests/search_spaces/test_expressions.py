"""Tests for search_spaces/expressions.py: `$name`, `${...}`, and what they may not do."""

from __future__ import annotations

import pytest

from search_spaces.expressions import (
    MAX_LENGTH,
    MAX_MAGNITUDE,
    Expression,
    ExpressionError,
    is_expression,
    parse_value,
)


def test_reference_reads_one_name() -> None:
    expression = parse_value("$filters")
    assert isinstance(expression, Expression)
    assert expression.names == frozenset({"filters"})
    assert expression.evaluate({"filters": 48}) == 48


def test_expression_doubles_filters_per_block() -> None:
    expression = parse_value("${filters * 2 ** block}")
    assert isinstance(expression, Expression)
    assert expression.names == frozenset({"filters", "block"})
    assert [expression.evaluate({"filters": 32, "block": b}) for b in range(3)] == [32, 64, 128]


def test_conditional_expression_and_allowed_functions() -> None:
    expression = Expression.parse("min(dropout + step * stage, 0.9) if stage > 0 else dropout")
    assert expression.evaluate({"dropout": 0.5, "step": 0.3, "stage": 2}) == 0.9
    assert expression.evaluate({"dropout": 0.5, "step": 0.3, "stage": 0}) == 0.5


def test_function_names_are_not_reported_as_params() -> None:
    expression = Expression.parse("max(1, int(units * decay))")
    assert expression.names == frozenset({"units", "decay"})


def test_literals_pass_through_and_nest() -> None:
    assert parse_value(3) == 3
    assert parse_value("same") == "same"
    parsed = parse_value({"l2": "$l2"})
    assert isinstance(parsed, dict)
    assert isinstance(parsed["l2"], Expression)
    assert parse_value([1, 2]) == (1, 2)


def test_is_expression_spots_dollar_strings() -> None:
    assert is_expression("$x")
    assert not is_expression("x")
    assert not is_expression(3)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("filters.__class__", "Attribute"),
        ("filters.bit_length()", "calls something other than"),
        ("open('/etc/passwd')", "calls something other than"),
        ("__import__('os')", "calls something other than"),
        ("[x for x in range(10)]", "ListComp"),
        ("{x: 1 for x in (1, 2)}", "DictComp"),
        ("sum(x for x in (1, 2))", "calls something other than"),
        ("(lambda: 1)()", "calls something other than"),
        ("lambda: 1", "Lambda"),
        ("values[0]", "Subscript"),
        ("(y := 3)", "NamedExpr"),
        ("f'{filters}'", "JoinedStr"),
        ("max(1, key=abs)", "keyword arguments"),
    ],
)
def test_expression_refuses_what_is_not_allowed(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=reason):
        Expression.parse(source)


def test_huge_power_is_refused_when_evaluated() -> None:
    expression = Expression.parse("2 ** exponent")
    assert expression.evaluate({"exponent": 10}) == 1024
    with pytest.raises(ExpressionError, match="too large"):
        expression.evaluate({"exponent": 10_000})


def test_nested_powers_cannot_build_a_huge_number() -> None:
    with pytest.raises(ExpressionError):
        Expression.parse("9 ** 9 ** 9").evaluate({})


def test_result_beyond_the_magnitude_cap_is_refused() -> None:
    expression = Expression.parse("units * 1000")
    with pytest.raises(ExpressionError, match="beyond"):
        expression.evaluate({"units": MAX_MAGNITUDE})


def test_long_expression_is_refused() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        Expression.parse("1 + " * MAX_LENGTH + "1")


def test_unknown_name_is_reported() -> None:
    with pytest.raises(ExpressionError, match="unknown value 'width'"):
        Expression.parse("width * 2").evaluate({})


def test_division_by_zero_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="failed"):
        Expression.parse("units / zero").evaluate({"units": 1, "zero": 0})


def test_syntax_error_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="does not parse"):
        Expression.parse("filters *")


def test_dollar_string_that_is_no_expression_is_refused() -> None:
    with pytest.raises(ExpressionError, match="neither"):
        parse_value("$not a name")
