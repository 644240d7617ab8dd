"""Alert rules: conditions, evaluation with state and history, and the analysis of a firing."""

from __future__ import annotations

from unity_core.alerts.analysis import AlertAnalysis, analyse, explain
from unity_core.alerts.conditions import (
    Aggregation,
    Condition,
    Kind,
    MetricSelector,
    Operator,
    Severity,
    parse_condition,
)
from unity_core.alerts.evaluate import (
    Event,
    Notice,
    Outcome,
    State,
    enabled_rules,
    evaluate,
    next_state,
    rules_touching,
    watched_metrics,
)
from unity_core.errors import AlertConditionError

__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # conditions
    "parse_condition",
    "Condition",
    "MetricSelector",
    "Kind",
    "Aggregation",
    "Operator",
    "Severity",
    "AlertConditionError",
    # evaluation
    "evaluate",
    "next_state",
    "enabled_rules",
    "rules_touching",
    "watched_metrics",
    "State",
    "Event",
    "Notice",
    "Outcome",
    # analysis
    "analyse",
    "explain",
    "AlertAnalysis",
]
