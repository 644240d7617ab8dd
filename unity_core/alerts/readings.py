"""What a condition sees now: one Reading per tag set, read through the storage layer.

Evaluation and analysis both start here, so the value a notification shows is the value
the state machine judged.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from unity_core.alerts.conditions import Aggregation, ChangeUnit, Condition, Kind
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import PluginStatus
from unity_core.storage.queries import Point, Resolution, latest, range_query

#: The state key of a reading that is not about one series (plugin health, plugin silence).
WHOLE_PLUGIN = ""
#: Samples written "now" by a clock slightly ahead must still count as in the window.
_CLOCK_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class Reading:
    """One tag set's current view: `breached` None means "not enough data to judge".

    `value` is the aggregated number for numeric kinds, the seconds since the last sample
    for no_data, None for plugin_health; `points` are the window's raw (time, value) pairs.
    """

    key: str
    tags: dict[str, str]
    value: float | None
    breached: bool | None
    cleared: bool | None
    points: tuple[tuple[datetime, float], ...] = ()
    detail: dict[str, object] = field(default_factory=dict)


def read(
    session: Session, condition: Condition, now: datetime, *, since: datetime
) -> list[Reading]:
    """The condition's readings at `now`, one per tag set; never commits.

    `since` is when the rule began watching (its creation): a no_data rule that has never
    seen a sample counts its silence from then, not from the beginning of time.
    """
    if condition.kind is Kind.PLUGIN_HEALTH:
        return [_health(session, condition)]
    if condition.kind is Kind.NO_DATA:
        return _silence(session, condition, now, since)
    return _numeric(session, condition, now)


def window_points(
    session: Session, condition: Condition, now: datetime, window: timedelta
) -> dict[str, tuple[dict[str, str], list[tuple[datetime, float]]]]:
    """Raw numeric points per series key in [now - window, now], with each series' tags."""
    selector = condition.selector
    assert selector.metric is not None
    result = range_query(
        session,
        plugin_id=selector.plugin,
        metric_name=selector.metric,
        start=now - window,
        end=now + _CLOCK_SLACK,
        resolution=Resolution.RAW,
        tags=selector.tags or None,
    )
    return {series.series_key: (series.tags, _numbers(series.points)) for series in result.series}


def aggregate(condition: Condition, points: Sequence[tuple[datetime, float]]) -> float | None:
    """The window's points reduced as the condition says; None for too few points."""
    values = [value for _, value in points]
    if not values:
        return None
    if condition.kind is Kind.CHANGE_RATE:
        return _change(condition, values)
    agg = condition.aggregation
    if agg is Aggregation.LAST:
        return values[-1]
    if agg is Aggregation.AVG:
        return sum(values) / len(values)
    if agg is Aggregation.MIN:
        return min(values)
    if agg is Aggregation.MAX:
        return max(values)
    return _rate(points)


def _numeric(session: Session, condition: Condition, now: datetime) -> list[Reading]:
    readings = []
    for key, (tags, points) in window_points(session, condition, now, condition.window).items():
        value = aggregate(condition, points)
        judged = value is not None
        readings.append(
            Reading(
                key=key,
                tags=tags,
                value=value,
                breached=condition.breached(value) if value is not None else None,
                cleared=condition.cleared(value) if judged and value is not None else None,
                points=tuple(points),
            )
        )
    return readings


def _silence(
    session: Session, condition: Condition, now: datetime, since: datetime
) -> list[Reading]:
    assert condition.no_data_after is not None
    selector = condition.selector
    samples = latest(
        session,
        plugin_id=selector.plugin,
        metric_name=selector.metric,
        tags=selector.tags or None,
    )
    limit = condition.no_data_after.total_seconds()
    if selector.metric is None or not samples:
        # Whole plugin (or nothing ever seen): one reading from the newest sample of all.
        newest = max((s.time for s in samples), default=since)
        silent = (now - max(newest, since)).total_seconds()
        return [_silence_reading(WHOLE_PLUGIN, {}, silent, limit, newest if samples else None)]
    return [
        _silence_reading(
            s.series_key, s.tags, (now - max(s.time, since)).total_seconds(), limit, s.time
        )
        for s in samples
    ]


def _silence_reading(
    key: str, tags: dict[str, str], silent: float, limit: float, last: datetime | None
) -> Reading:
    return Reading(
        key=key,
        tags=tags,
        value=round(silent, 3),
        breached=silent >= limit,
        cleared=silent < limit,
        detail={"last_sample": last.isoformat() if last else None, "limit_seconds": limit},
    )


def _health(session: Session, condition: Condition) -> Reading:
    with translate_errors(f"reading the health of {condition.selector.plugin}"):
        status = session.execute(
            select(
                PluginStatus.health_status,
                PluginStatus.consecutive_failures,
                PluginStatus.last_error,
            ).where(PluginStatus.plugin_id == condition.selector.plugin)
        ).first()
    health = status.health_status if status else None
    bad = health in condition.health_states
    detail: dict[str, object] = {"health": health}
    if status is not None:
        detail["consecutive_failures"] = status.consecutive_failures
        detail["last_error"] = status.last_error
    return Reading(
        key=WHOLE_PLUGIN, tags={}, value=None, breached=bad, cleared=not bad, detail=detail
    )


def _numbers(points: Sequence[Point]) -> list[tuple[datetime, float]]:
    return [(p.time, p.value) for p in points if p.value is not None]


def _change(condition: Condition, values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    first, last = values[0], values[-1]
    if condition.unit is ChangeUnit.ABSOLUTE:
        return last - first
    if first == 0:
        return None if last == 0 else float("inf") if last > 0 else float("-inf")
    return (last - first) / abs(first) * 100.0


def _rate(points: Sequence[tuple[datetime, float]]) -> float | None:
    if len(points) < 2:
        return None
    increase = 0.0
    for (_, before), (_, after) in itertools.pairwise(points):
        # A drop is a counter reset: the counter restarted from zero and rose to `after`.
        increase += after - before if after >= before else after
    seconds = (points[-1][0] - points[0][0]).total_seconds()
    return increase / seconds if seconds > 0 else None
