"""The design's alert analysis: current value, threshold, baseline, trend, related metrics, advice.

Computed when a rule fires (and kept with the history row) and on demand for
`GET /api/v1/ai/alerts/{id}/analysis`. It explains one rule at one instant, reading the
tag set that is furthest past the threshold when several are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from unity_core.alerts.conditions import Condition, Kind, Operator, parse_condition
from unity_core.alerts.readings import Reading, read
from unity_core.alerts.trend import Trend, classify
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Alert, PluginMetric
from unity_core.storage.queries import latest
from unity_core.storage.types import utcnow

#: How far back the historical baseline looks (before the rule's window).
BASELINE_SPAN = timedelta(days=7)
#: At most this many related metrics are listed.
MAX_RELATED = 10


@dataclass(frozen=True)
class AlertAnalysis:
    """One rule explained at `analysed_at`; to_dict() is the design's Alert Analysis Format."""

    alert_id: str
    alert: str
    severity: str
    analysed_at: datetime
    condition: str
    firing: bool
    current_value: float | None
    threshold: float | None
    baseline: float | None
    trend: Trend
    tags: dict[str, str] = field(default_factory=dict)
    related_metrics: list[dict[str, Any]] = field(default_factory=list)
    suggestion: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, shaped as the design's alert analysis (context + suggestion)."""
        return {
            "alert": self.alert,
            "alert_id": self.alert_id,
            "severity": self.severity,
            "triggered_at": self.analysed_at.isoformat(),
            "condition": self.condition,
            "firing": self.firing,
            "tags": dict(self.tags),
            "context": {
                "current_value": _json_number(self.current_value),
                "threshold": self.threshold,
                "historical_baseline": _json_number(self.baseline),
                "recent_trend": self.trend.value,
                "related_metrics": list(self.related_metrics),
            },
            "suggestion": self.suggestion,
        }


def analyse(session: Session, alert: Alert, *, now: datetime | None = None) -> AlertAnalysis:
    """Explain `alert` as of `now` (default: the current time); reads only, never commits.

    Raises AlertConditionError when the stored condition is invalid.
    """
    now = now or utcnow()
    condition = parse_condition(alert.condition)
    readings = read(session, condition, now, since=alert.created_at or now)
    return explain(session, alert, condition, _worst(condition, readings), now)


def explain(
    session: Session,
    alert: Alert,
    condition: Condition,
    reading: Reading | None,
    now: datetime,
) -> AlertAnalysis:
    """The analysis of one tag set's reading (what evaluation keeps with a firing)."""
    baseline = _baseline(session, condition, reading, now) if condition.is_numeric else None
    trend = classify(reading.points) if reading else Trend.STABLE
    severity = (condition.severity.value if condition.severity else None) or alert.severity
    firing = bool(reading and reading.breached)
    return AlertAnalysis(
        alert_id=str(alert.id),
        alert=alert.name,
        severity=severity,
        analysed_at=now,
        condition=condition.describe(),
        firing=firing,
        current_value=reading.value if reading else None,
        threshold=_threshold(condition),
        baseline=baseline,
        trend=trend,
        tags=dict(reading.tags) if reading else {},
        related_metrics=_related(session, condition, reading),
        suggestion=_suggest(alert.name, condition, reading, baseline, trend, firing),
    )


def _threshold(condition: Condition) -> float | None:
    if condition.kind is Kind.NO_DATA:
        assert condition.no_data_after is not None
        return condition.no_data_after.total_seconds()
    return condition.threshold


def _worst(condition: Condition, readings: list[Reading]) -> Reading | None:
    """The reading furthest past (or closest to) the threshold; breached ones first."""
    if not readings:
        return None

    def distance(reading: Reading) -> float:
        if reading.value is None:
            return float("-inf")
        if condition.threshold is None or condition.operator is None:
            return reading.value
        gap = reading.value - condition.threshold
        return -gap if condition.operator in (Operator.LT, Operator.LE) else abs(gap)

    return max(readings, key=lambda r: (bool(r.breached), distance(r)))


def _baseline(
    session: Session, condition: Condition, reading: Reading | None, now: datetime
) -> float | None:
    """The mean of the series over the week before the window: what "normal" looks like."""
    selector = condition.selector
    statement = select(func.avg(PluginMetric.numeric_value)).where(
        PluginMetric.plugin_id == selector.plugin,
        PluginMetric.metric_name == selector.metric,
        PluginMetric.time >= now - condition.window - BASELINE_SPAN,
        PluginMetric.time < now - condition.window,
    )
    if reading is not None:
        statement = statement.where(PluginMetric.series_key == reading.key)
    with translate_errors(f"reading the baseline of {selector.plugin}/{selector.metric}"):
        value = session.execute(statement).scalar()
    return None if value is None else float(value)


def _related(
    session: Session, condition: Condition, reading: Reading | None
) -> list[dict[str, Any]]:
    """Latest values of the plugin's other metrics on the same tag set (host, container…)."""
    tags = reading.tags if reading and reading.tags else dict(condition.selector.tags)
    samples = latest(session, plugin_id=condition.selector.plugin, tags=tags or None)
    related = [
        {
            "metric": s.metric_name,
            "value": s.numeric_value,
            "tags": s.tags,
            "time": s.time.isoformat(),
        }
        for s in samples
        if s.metric_name != condition.selector.metric and s.numeric_value is not None
    ]
    return related[:MAX_RELATED]


def _suggest(
    name: str,
    condition: Condition,
    reading: Reading | None,
    baseline: float | None,
    trend: Trend,
    firing: bool,
) -> str:
    plugin = condition.selector.plugin
    if condition.kind is Kind.PLUGIN_HEALTH:
        health = reading.detail.get("health") if reading else None
        if not firing:
            return f"Plugin {plugin} is healthy ({health or 'no runs yet'}); nothing to do."
        error = reading.detail.get("last_error") if reading else None
        hint = f" Its last error was: {error}." if error else ""
        return (
            f"Plugin {plugin} is {health}.{hint} Check that what it monitors is reachable and "
            f"its configuration is right; `unity plugins test {plugin}` runs it once."
        )
    if condition.kind is Kind.NO_DATA:
        if not firing:
            return f"{plugin} is reporting; nothing to do."
        return (
            f"Nothing has arrived from {plugin} for {reading.value if reading else '?'} s. "
            "Check that its host is up, that a worker serves its queue (`unity status`) and "
            "that the plugin is enabled."
        )
    if reading is None or reading.value is None:
        return f"No recent numeric samples of {condition.selector.metric}; nothing to judge yet."
    metric = condition.selector.metric
    compared = ""
    if baseline is not None and baseline != 0:
        ratio = reading.value / baseline
        compared = f" It is {ratio:.1f}x its usual level ({baseline:.4g} over the past week)."
    direction = {
        Trend.INCREASING: " and still rising — act before it gets worse",
        Trend.DECREASING: " but falling — it may recover on its own",
        Trend.STABLE: " and steady",
    }[trend]
    if not firing:
        return f"{metric} is {reading.value:.4g}, within the rule '{name}'{direction}.{compared}"
    return (
        f"{metric} on {plugin} is {reading.value:.4g} ({condition.describe()}){direction}."
        f"{compared} Look at what changed on this host around the time it began; the related "
        "metrics below show the rest of its state."
    )


def _json_number(value: float | None) -> float | None:
    """JSON has no infinity: an infinite change (from zero) is reported as None."""
    if value is None or value in (float("inf"), float("-inf")):
        return None
    return value
