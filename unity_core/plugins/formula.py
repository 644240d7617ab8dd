"""Formulas of derived metrics ("memory_used / memory_total * 100"): parsed once, evaluated safely.

A formula is arithmetic over metric names of the same run: numbers, names, + - * /,
parentheses, unary minus, and min(), max(), abs(). Nothing else parses, so a formula in a
plugin class can never run code. A name the run did not report, a division by zero or a
non-finite result means "no value this run", not an error: swap_percent on a machine
without swap is simply not stored.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {"min": min, "max": max, "abs": abs}


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its text, the metric names it reads, and its checked syntax tree."""

    text: str
    inputs: frozenset[str]
    tree: ast.expr

    def evaluate(self, values: Mapping[str, float]) -> float | None:
        """The formula over `values` (metric name -> number), or None when it has no value."""
        try:
            result = _evaluate(self.tree, values)
        except (KeyError, ZeroDivisionError, OverflowError):
            return None
        return result if math.isfinite(result) else None


@functools.cache
def parse_formula(text: str) -> Formula:
    """The Formula of `text`; ValueError saying what is not allowed (cached per text)."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as error:
        raise ValueError(f"formula {text!r} is not valid arithmetic: {error.msg}") from None
    inputs: set[str] = set()
    _check(tree, text, inputs)
    return Formula(text, frozenset(inputs), tree)


def _check(node: ast.AST, text: str, inputs: set[str]) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, text, inputs)
        _check(node.right, text, inputs)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand, text, inputs)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        pass
    elif isinstance(node, ast.Name):
        inputs.add(node.id)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and node.args
        and not node.keywords
    ):
        for arg in node.args:
            _check(arg, text, inputs)
    else:
        shown = ast.get_source_segment(text, node) or type(node).__name__
        raise ValueError(
            f"formula {text!r}: {shown!r} is not allowed (use numbers, metric names,"
            " + - * /, parentheses, min(), max() and abs())"
        )


def _evaluate(node: ast.expr, values: Mapping[str, float]) -> float:
    # Only the node types _check accepted can reach here.
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, values))
    if isinstance(node, ast.Constant):
        return float(cast(float, node.value))  # _check let only int and float through
    if isinstance(node, ast.Name):
        return float(values[node.id])
    call: Any = node
    return float(_FUNCTIONS[call.func.id](*(_evaluate(arg, values) for arg in call.args)))
