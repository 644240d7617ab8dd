"""Derive: metrics a plugin declares with a formula or a function, computed per tag group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import pytest

from unity_core.pipeline import PipelineResult
from unity_core.plugins.formula import parse_formula
from unity_core.plugins.sdk import Accumulator, MetricSpec, Plugin

from .helpers import gauge, run


class Memory(Plugin):
    """Reports used/total per pool; declares a formula, a chained formula and a function."""

    id = "memory"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("used", unit="bytes", tags=("pool",)),
        MetricSpec("total", unit="bytes", tags=("pool",)),
        MetricSpec("percent", unit="%", maximum=100, derive="used / total * 100"),
        MetricSpec("free_percent", unit="percent", derive="100 - percent"),
        MetricSpec("free", unit="bytes", derive=lambda v: v["total"] - v["used"]),
    )

    def collect_data(self, acc: Accumulator) -> None:
        raise AssertionError("built directly")


def values(result: PipelineResult, name: str) -> dict[str, float | None]:
    return {
        (row.tags or {}).get("pool", ""): row.numeric_value
        for row in result.rows
        if row.metric_name == name
    }


def test_a_formula_is_computed_for_each_tag_group_that_has_its_inputs() -> None:
    # Given used/total for two pools, and a used without a total for a third
    result = run(
        [
            gauge("used", 25.0, tags={"pool": "a"}),
            gauge("total", 200.0, tags={"pool": "a"}),
            gauge("used", 3.0, tags={"pool": "b"}),
            gauge("total", 4.0, tags={"pool": "b"}),
            gauge("used", 1.0, tags={"pool": "c"}),
        ],
        plugin=Memory,
    )
    # Then percent is derived per pool with its tags, and not where an input is missing
    assert values(result, "percent") == {"a": 12.5, "b": 75.0}
    # And a later formula may use an earlier derived metric; functions work the same way
    assert values(result, "free_percent") == {"a": 87.5, "b": 25.0}
    assert values(result, "free") == {"a": 175.0, "b": 1.0}
    # And the derived rows carry the declared type and standard unit
    row = next(r for r in result.rows if r.metric_name == "percent")
    assert row.value == {"value": 12.5, "type": "gauge", "unit": "percent"}
    assert result.rejects == []


def test_division_by_zero_adds_nothing_and_rejects_nothing() -> None:
    # Given a pool whose total is 0 (swap on a machine without swap)
    result = run([gauge("used", 0.0), gauge("total", 0.0)], plugin=Memory)
    # Then neither percent nor its dependants exist, and the run is not degraded
    assert values(result, "percent") == {}
    assert values(result, "free_percent") == {}
    assert values(result, "free") == {"": 0.0}
    assert result.rejects == []


def test_a_value_the_plugin_reported_itself_is_kept() -> None:
    result = run([gauge("used", 1.0), gauge("total", 4.0), gauge("percent", 30.0)], plugin=Memory)
    assert values(result, "percent") == {"": 30.0}


def test_a_derived_value_outside_the_declared_range_is_rejected_with_the_reason() -> None:
    # Given used > total (a plugin bug): percent would be 150, above the declared maximum 100
    result = run([gauge("used", 6.0), gauge("total", 4.0)], plugin=Memory)
    # Then percent is rejected, naming why, and the other metrics are kept
    assert values(result, "percent") == {}
    assert [(r.metric_name, r.reason) for r in result.rejects] == [
        ("percent", "percent: derived value 150 is above 100")
    ]
    assert values(result, "free") == {"": -2.0}


def test_a_derive_function_that_raises_is_contained_as_a_reject() -> None:
    # Given a plugin whose derive function has a bug
    def broken(values: Mapping[str, float]) -> float:
        raise RuntimeError("oops")

    class Buggy(Memory):
        id = "buggy"
        metrics = (MetricSpec("used"), MetricSpec("ratio", derive=broken))

    # When it runs / Then the derived metric is rejected with the error; the rest is stored
    result = run([gauge("used", 1.0)], plugin=Buggy)
    assert [r.metric_name for r in result.rows] == ["used"]
    assert [r.reason for r in result.rejects] == ["ratio: derive failed: RuntimeError: oops"]


@pytest.mark.parametrize(
    "formula",
    ["__import__('os')", "used.real", "used if total else 0", "used ** 2", "open('x')", "used +"],
)
def test_a_formula_that_is_not_plain_arithmetic_fails_when_the_class_is_defined(
    formula: str,
) -> None:
    with pytest.raises(ValueError, match="metric 'bad': formula"):
        MetricSpec("bad", derive=formula)


def test_formulas_know_their_inputs_and_support_min_max_abs() -> None:
    formula = parse_formula("max(a, b) - abs(-c) / 2")
    assert formula.inputs == {"a", "b", "c"}
    assert formula.evaluate({"a": 1.0, "b": 5.0, "c": 4.0}) == 3.0
    assert formula.evaluate({"a": 1.0}) is None
