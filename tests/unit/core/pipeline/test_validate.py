"""Validate: bad metrics are refused with a reason naming them; the rest of the run is kept."""

from __future__ import annotations

import math
from datetime import timedelta, timezone
from decimal import Decimal
from numbers import Real
from typing import Any

import pytest

from unity_core.pipeline import Rejection

from .helpers import NOW, SLOT, Dynamic, counter, gauge, run


def reasons(rejects: list[Rejection]) -> list[str]:
    return [r.reason for r in rejects]


def test_an_undeclared_metric_is_rejected_and_the_declared_ones_are_kept() -> None:
    # Given a run with two declared metrics and one the plugin never declared
    metrics = [gauge("temperature", 21.5), gauge("fan_rpm", 1200), gauge("cpu_percent", 3)]
    # When it goes through the pipeline
    result = run(metrics)
    # Then the undeclared one is refused by name and the other two become rows
    assert [r.metric_name for r in result.rows] == ["temperature", "cpu_percent"]
    assert result.rejects == [
        Rejection("fan_rpm", "fan_rpm: not a metric this plugin declares", 1200)
    ]


def test_a_plugin_with_dynamic_metrics_may_report_any_well_formed_name() -> None:
    # Given a dynamic plugin reporting names it did not declare
    metrics = [gauge("node_load1", 0.5), gauge("http.requests:total", 3)]
    # When processed
    result = run(metrics, plugin=Dynamic)
    # Then both are kept
    assert [r.metric_name for r in result.rows] == ["node_load1", "http.requests:total"]
    assert result.rejects == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (math.nan, "is not finite"),
        (math.inf, "is not finite"),
        (-math.inf, "is not finite"),
        (10**400, "too large for a float"),
        (None, "no value (None)"),
        ([1, 2], "unsupported value type list"),
        (object(), "unsupported value type object"),
        ("x" * 5000, "text value longer than 4096"),
    ],
)
def test_a_value_of_the_wrong_kind_is_rejected_with_the_problem(value: Any, problem: str) -> None:
    # Given a gauge reporting a value Unity cannot store as a reading
    # When processed
    result = run([gauge("temperature", value), gauge("cpu_percent", 50.0)])
    # Then it is rejected naming the metric and the problem, and the good metric stays
    [reason] = reasons(result.rejects)
    assert reason.startswith("temperature: ")
    assert problem in reason
    assert [r.metric_name for r in result.rows] == ["cpu_percent"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("temperature", -60, "below the minimum -50"),
        ("temperature", 151.0, "above the maximum 150"),
        ("cpu_percent", 100.5, "above the maximum 100"),
    ],
)
def test_a_value_outside_its_declared_range_is_rejected(
    name: str, value: float, problem: str
) -> None:
    # Given a declared range and a value outside it
    # When processed
    result = run([gauge(name, value)])
    # Then the reason names the bound
    assert result.rows == []
    assert problem in result.rejects[0].reason


def test_values_on_the_range_bounds_are_kept() -> None:
    # Given values exactly on the declared bounds
    result = run([gauge("cpu_percent", 0), gauge("cpu_percent", 100, tags={"cpu": "1"})])
    # Then both are kept
    assert [r.numeric_value for r in result.rows] == [0.0, 100.0]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (-1, "counter value -1 is negative"),
        (True, "a counter must be a number, not a bool"),
        ("12", "a counter must be a number, not text"),
        ({"rx": 1}, "a counter needs a non-negative numeric value"),
    ],
)
def test_a_counter_must_be_a_non_negative_number(value: Any, problem: str) -> None:
    # Given a declared counter reporting something that cannot be a running total
    # When processed
    result = run([counter("bytes_sent", value)])
    # Then it is rejected with the reason
    assert result.rows == []
    assert problem in result.rejects[0].reason


def test_the_declared_type_wins_over_the_reported_one() -> None:
    # Given a declared counter reported through add_gauge with a negative value
    result = run([gauge("bytes_sent", -5)])
    # Then it is judged as a counter
    assert "negative" in result.rejects[0].reason


@pytest.mark.parametrize(
    "name",
    ["", "has space", "semi;colon", "x" * 201, "naïve", 42],
)
def test_a_metric_name_that_is_not_an_identifier_is_rejected(name: Any) -> None:
    # Given a dynamic plugin (so only the name's shape is judged) reporting a bad name
    # When processed
    result = run([gauge(name, 1.0)], plugin=Dynamic)
    # Then it is rejected because of the name
    assert result.rows == []
    assert "is not 1-200 characters" in result.rejects[0].reason


def test_the_summary_metric_name_is_reserved() -> None:
    # Given a dynamic plugin that reports a metric called "collection"
    result = run([gauge("collection", 1.0)], plugin=Dynamic)
    # Then it is refused, since that name is the run's summary row
    assert "reserved" in result.rejects[0].reason


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ({"k" * 101: "v"}, "tag key"),
        ({"": "v"}, "tag key"),
        ({1: "v"}, "tag key"),
        ({"disk": "v" * 256}, "longer than 255"),
        ({"disk": ["sda"]}, "non-text value"),
        ({"disk": None}, "non-text value"),
        ("sda", "tags must be a mapping"),
    ],
)
def test_tags_must_be_short_strings(tags: Any, problem: str) -> None:
    # Given a metric with a malformed tag set
    result = run([gauge("temperature", 20.0, tags=tags)])
    # Then it is rejected naming the tag problem
    assert result.rows == []
    assert problem in result.rejects[0].reason


def test_numeric_tag_values_are_kept_as_text() -> None:
    # Given tags with a number and a flag as values
    result = run([gauge("temperature", 20.0, tags={"zone": 3, "fan": True})])
    # Then they are stored as strings
    assert result.rows[0].tags is not None
    assert {"zone": "3", "fan": "True"}.items() <= result.rows[0].tags.items()


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (SLOT.replace(tzinfo=None), "has no time zone"),
        (NOW + timedelta(minutes=6), "too far in the future"),
        (NOW - timedelta(days=8), "older than 7 days"),
        ("2026-11-28T12:00:00Z", "is not a datetime"),
    ],
)
def test_an_explicit_time_must_be_aware_and_plausible(when: Any, problem: str) -> None:
    # Given a metric carrying its own time
    result = run([gauge("temperature", 20.0, time=when)])
    # Then an implausible time is refused
    assert result.rows == []
    assert problem in result.rejects[0].reason


def test_an_explicit_time_within_the_window_is_kept() -> None:
    # Given times just inside both bounds
    inside = [
        gauge("temperature", 1.0, time=NOW + timedelta(minutes=4)),
        gauge("temperature", 2.0, time=NOW - timedelta(days=6), tags={"s": "old"}),
    ]
    # Then both are kept
    assert len(run(inside).rows) == 2


def test_something_that_is_not_a_metric_is_rejected_not_fatal() -> None:
    # Given a collection holding a dict and a string besides a real metric
    result = run([{"name": "temperature"}, "cpu", gauge("temperature", 20.0)])
    # Then the two impostors are rejected without a name and the metric is kept
    assert [r.metric_name for r in result.rows] == ["temperature"]
    assert [(r.metric_name, r.reason) for r in result.rejects] == [
        (None, "not a Metric but dict"),
        (None, "not a Metric but str"),
    ]


class Exploding:
    """A registered number whose conversion raises: a plugin bug the pipeline must survive."""

    def __float__(self) -> float:
        raise RuntimeError("boom")


Real.register(Exploding)


def test_a_value_that_raises_while_being_read_is_rejected_not_fatal() -> None:
    # Given a value whose float() raises
    value = Exploding()
    # When processed next to a good metric
    result = run([gauge("temperature", value), gauge("cpu_percent", 1.0)])
    # Then it is rejected with the error, and the good metric is kept
    assert [r.metric_name for r in result.rows] == ["cpu_percent"]
    assert "RuntimeError: boom" in result.rejects[0].reason


def test_texts_flags_decimals_and_mappings_are_accepted() -> None:
    # Given the other acceptable value kinds
    metrics = [
        gauge("state", "running"),
        gauge("up", True),
        gauge("temperature", Decimal("21.25")),
        gauge("containers", {"running": 12, "stopped": 3, "value": 12}),
    ]
    # When processed
    result = run(metrics)
    # Then all are kept with their numeric readings
    assert result.rejects == []
    assert [r.numeric_value for r in result.rows] == [None, 1.0, 21.25, 12.0]


def test_a_mapping_with_a_non_finite_number_inside_is_rejected() -> None:
    # Given a mapping value hiding a NaN (which no database's JSON accepts)
    result = run([gauge("containers", {"running": math.nan})])
    # Then it is rejected rather than failing the whole batch at write time
    assert "not finite JSON" in result.rejects[0].reason


def test_a_rejection_keeps_a_json_safe_copy_of_the_value() -> None:
    # Given rejected values that are not JSON scalars
    result = run([gauge("temperature", math.nan), gauge("temperature", [1, 2], tags={"a": "b"})])
    # Then the kept values are JSON-safe
    assert [r.value for r in result.rejects] == ["nan", "[1, 2]"]


def test_a_time_in_another_zone_is_judged_as_an_instant() -> None:
    # Given a time 4 minutes ahead of now written in UTC+02:00
    ahead = (NOW + timedelta(minutes=4)).astimezone(timezone(timedelta(hours=2)))
    # Then it is inside the window
    assert len(run([gauge("temperature", 1.0, time=ahead)]).rows) == 1
