"""The newest stored sample of given series before a moment: counters' previous values for Rates."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select, and_, select, true
from sqlalchemy.orm import Session, aliased

from unity_core.storage.engine import translate_errors
from unity_core.storage.models import MetricSeries, PluginMetric


def samples_before(
    session: Session, series_keys: Collection[str], before: datetime
) -> dict[str, tuple[datetime, float]]:
    """series_key -> (time, numeric_value) of each series' newest sample older than `before`.

    Series with no such sample (or a non-numeric one) are left out. Driven from the
    `metric_series` catalog, so the work is one primary-key probe (series_key, time) per
    series whatever the table's size, as in queries.latest. Never commits.
    """
    if not series_keys:
        return {}
    dialect = session.get_bind().dialect.name
    with translate_errors("reading counters' previous samples"):
        rows = session.execute(
            _statement(dialect, before).where(MetricSeries.series_key.in_(list(series_keys)))
        ).all()
    return {
        row.series_key: (row.time, float(row.numeric_value))
        for row in rows
        if row.numeric_value is not None
    }


_Previous = Select[str, datetime, float | None]


def _statement(dialect: str, before: datetime) -> _Previous:
    if dialect == "postgresql":
        newest = (
            select(PluginMetric.time, PluginMetric.numeric_value)
            .where(PluginMetric.series_key == MetricSeries.series_key, PluginMetric.time < before)
            .order_by(PluginMetric.time.desc())
            .limit(1)
            .lateral("newest")
        )
        return select(MetricSeries.series_key, newest.c.time, newest.c.numeric_value).join_from(
            MetricSeries, newest, true()
        )
    # MariaDB 10.11 has no LATERAL; ORDER BY … LIMIT 1 stops after one index entry.
    probe = aliased(PluginMetric, name="probe")
    newest_time = (
        select(probe.time)
        .where(probe.series_key == MetricSeries.series_key, probe.time < before)
        .order_by(probe.time.desc())
        .limit(1)
        .scalar_subquery()
    )
    statement: _Previous = select(
        MetricSeries.series_key, PluginMetric.time, PluginMetric.numeric_value
    ).join_from(
        MetricSeries,
        PluginMetric,
        and_(PluginMetric.series_key == MetricSeries.series_key, PluginMetric.time == newest_time),
    )
    return statement
