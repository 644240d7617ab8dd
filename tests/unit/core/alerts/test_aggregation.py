"""Window aggregation (last/avg/min/max/rate, change in % or absolute) and the trend fit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from unity_core.alerts.conditions import parse_condition
from unity_core.alerts.readings import aggregate
from unity_core.alerts.trend import Trend, classify, slope_per_second

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def points(*values: float, step: float = 10.0) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(seconds=step * i), v) for i, v in enumerate(values)]


def rule(**extra: object) -> object:
    return parse_condition({"plugin": "p", "metric": "m", "operator": ">", "threshold": 1, **extra})


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("last", 4.0), ("avg", 2.5), ("min", 1.0), ("max", 4.0)],
)
def test_threshold_aggregations(aggregation: str, expected: float) -> None:
    assert aggregate(rule(aggregation=aggregation), points(1, 3, 2, 4)) == expected  # type: ignore[arg-type]


def test_rate_is_the_per_second_increase_counting_a_reset_from_zero() -> None:
    # 100 → 200 (+100), reset to 50 (+50), → 150 (+100): 250 over 30 s.
    value = aggregate(rule(aggregation="rate"), points(100, 200, 50, 150))  # type: ignore[arg-type]
    assert value == pytest.approx(250 / 30)


def test_rate_needs_two_samples() -> None:
    assert aggregate(rule(aggregation="rate"), points(5)) is None  # type: ignore[arg-type]


def test_change_rate_in_percent_and_absolute() -> None:
    percent = parse_condition(
        {"kind": "change_rate", "plugin": "p", "metric": "m", "operator": ">", "threshold": 50}
    )
    absolute = parse_condition(
        {"kind": "change_rate", "plugin": "p", "metric": "m", "operator": ">", "threshold": 5,
         "unit": "absolute"}
    )  # fmt: skip
    assert aggregate(percent, points(40, 50, 60)) == pytest.approx(50.0)
    assert aggregate(absolute, points(40, 50, 60)) == pytest.approx(20.0)


def test_no_points_aggregate_to_none() -> None:
    assert aggregate(rule(), []) is None  # type: ignore[arg-type]


def test_the_least_squares_slope_of_a_line_is_exact() -> None:
    assert slope_per_second(points(0, 10, 20, 30)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("values", "trend"),
    [
        ((40, 50, 60, 70), Trend.INCREASING),
        ((70, 60, 50, 40), Trend.DECREASING),
        ((1000, 1001, 1000, 1001), Trend.STABLE),
        ((5,), Trend.STABLE),
    ],
)
def test_the_trend_is_judged_against_the_values_scale(
    values: tuple[float, ...], trend: Trend
) -> None:
    assert classify(points(*values)) is trend
