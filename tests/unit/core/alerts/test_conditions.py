"""parse_condition: every kind, its defaults, the canonical form, and errors naming keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from unity_core.alerts.conditions import (
    Aggregation,
    ChangeUnit,
    Kind,
    Operator,
    Severity,
    parse_condition,
)
from unity_core.errors import AlertConditionError, ConfigError

CPU_HIGH = {
    "plugin": "system",
    "metric": "cpu_percent",
    "tags": {"host": "nas"},
    "aggregation": "avg",
    "window": "5m",
    "operator": ">",
    "threshold": 80,
    "for": "2m",
    "hysteresis": 5,
    "severity": "critical",
}


def test_a_threshold_condition_reads_every_key() -> None:
    condition = parse_condition(CPU_HIGH)
    assert condition.kind is Kind.THRESHOLD
    assert (condition.selector.plugin, condition.selector.metric) == ("system", "cpu_percent")
    assert dict(condition.selector.tags) == {"host": "nas"}
    assert condition.aggregation is Aggregation.AVG
    assert condition.window == timedelta(minutes=5)
    assert (condition.operator, condition.threshold) == (Operator.GT, 80.0)
    assert condition.for_ == timedelta(minutes=2)
    assert (condition.hysteresis, condition.severity) == (5.0, Severity.CRITICAL)


def test_a_minimal_threshold_gets_the_documented_defaults() -> None:
    condition = parse_condition({"plugin": "p", "metric": "m", "operator": "<", "threshold": 1})
    assert condition.aggregation is Aggregation.LAST
    assert condition.window == timedelta(minutes=5)
    assert condition.for_ == timedelta(0)
    assert condition.hysteresis == 0.0
    assert condition.severity is None


@pytest.mark.parametrize(
    "data",
    [
        CPU_HIGH,
        {"kind": "no_data", "plugin": "nas", "minutes": 10},
        {"kind": "no_data", "plugin": "nas", "metric": "up", "tags": {"host": "a"}, "minutes": 2},
        {"kind": "plugin_health", "plugin": "nas", "states": ["paused"]},
        {"kind": "change_rate", "plugin": "p", "metric": "m", "operator": ">", "threshold": 50},
        {"kind": "change_rate", "plugin": "p", "metric": "m", "operator": "<", "threshold": -5,
         "unit": "absolute", "window": "1h"},
    ],
)  # fmt: skip
def test_the_canonical_form_parses_back_to_the_same_condition(data: dict[str, Any]) -> None:
    condition = parse_condition(data)
    assert parse_condition(condition.to_dict()) == condition


def test_kinds_other_than_threshold_have_their_own_fields() -> None:
    silent = parse_condition({"kind": "no_data", "plugin": "nas", "minutes": 10})
    assert silent.no_data_after == timedelta(minutes=10)
    health = parse_condition({"kind": "plugin_health", "plugin": "nas"})
    assert health.health_states == frozenset({"paused", "failing"})
    change = parse_condition(
        {"kind": "change_rate", "plugin": "p", "metric": "m", "operator": ">", "threshold": 50}
    )
    assert (change.unit, change.window) == (ChangeUnit.PERCENT, timedelta(minutes=15))


def test_every_problem_is_reported_at_once_naming_its_key() -> None:
    bad = {"metrc": "x", "operator": "~", "threshold": "high", "window": "0s", "severity": "meh"}
    with pytest.raises(AlertConditionError) as caught:
        parse_condition(bad)
    problems = caught.value.problems
    assert any(p.startswith("plugin: required") for p in problems)
    assert any(p.startswith("metrc: unknown key") and "metric" in p for p in problems)
    assert any(p.startswith("metric: required") for p in problems)
    assert any(p.startswith("operator: must be one of") for p in problems)
    assert any(p.startswith("threshold: must be a finite number") for p in problems)
    assert any(p.startswith("window: must be greater than 0") for p in problems)
    assert any(p.startswith("severity: must be one of") for p in problems)
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "must be a JSON object"),
        ({"kind": "cron", "plugin": "p"}, "kind: must be one of"),
        ({"kind": "no_data", "plugin": "p"}, "minutes: required"),
        ({"kind": "no_data", "plugin": "p", "minutes": -1}, "minutes: must be greater than 0"),
        ({"kind": "no_data", "plugin": "p", "minutes": 1, "threshold": 3}, "threshold: unknown"),
        ({"kind": "plugin_health", "plugin": "p", "states": ["sad"]}, "states: must be"),
        ({"plugin": "p", "metric": "m", "operator": ">", "threshold": True}, "threshold: must"),
        ({"plugin": "p", "metric": "m", "operator": ">", "threshold": 1, "window": "30d"},
         "window: must be at most 7d"),
        ({"plugin": "p", "metric": "m", "operator": ">", "threshold": 1, "hysteresis": -1},
         "hysteresis: must be 0 or more"),
        ({"plugin": "p", "metric": "m", "operator": ">", "threshold": 1, "tags": ["a"]},
         "tags: must be an object"),
    ],
)  # fmt: skip
def test_invalid_conditions_are_refused_with_the_reason(data: Any, problem: str) -> None:
    with pytest.raises(AlertConditionError, match=problem):
        parse_condition(data)


def test_hysteresis_widens_the_way_back_not_the_way_in() -> None:
    above = parse_condition({**CPU_HIGH, "hysteresis": 5})
    assert above.breached(80.5) and not above.breached(80)
    assert not above.cleared(78) and above.cleared(75)
    below = parse_condition({"plugin": "p", "metric": "m", "operator": "<", "threshold": 10,
                             "hysteresis": 2})  # fmt: skip
    assert below.breached(9) and not below.cleared(11) and below.cleared(12)


def test_describe_is_one_plain_sentence() -> None:
    assert (
        parse_condition(CPU_HIGH).describe() == "avg of system/cpu_percent {host=nas} over 5m > 80"
    )
    silent = parse_condition({"kind": "no_data", "plugin": "nas", "minutes": 10})
    assert silent.describe() == "no data from nas/any metric for 10m"
