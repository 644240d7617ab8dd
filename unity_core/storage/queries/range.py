"""Range queries: raw samples, raw samples bucketed in SQL, or the hourly/daily rollups."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from unity_core.storage.engine import translate_errors
from unity_core.storage.models import (
    MetricSeries,
    PluginMetric,
    PluginMetricDaily,
    PluginMetricHourly,
    RollupWatermark,
)
from unity_core.storage.queries.plan import GRANULARITY, Plan, make_plan
from unity_core.storage.queries.results import (
    Aggregate,
    Point,
    RangeResult,
    Resolution,
    SeriesPoints,
)
from unity_core.storage.queries.sql import (
    EPOCH,
    bucket_start_epoch,
    from_epoch,
    tag_conditions,
)

_ROLLUPS: dict[Resolution, type[PluginMetricHourly] | type[PluginMetricDaily]] = {
    Resolution.HOURLY: PluginMetricHourly,
    Resolution.DAILY: PluginMetricDaily,
}
_ONE_MICROSECOND = timedelta(microseconds=1)
_UNKNOWN = object()


class _Row(NamedTuple):
    series_key: str
    time: datetime
    value: float | None
    data: dict[str, Any] | None


def range_query(
    session: Session,
    *,
    plugin_id: str,
    metric_name: str,
    start: datetime,
    end: datetime,
    resolution: Resolution | str = Resolution.AUTO,
    agg: Aggregate | str = Aggregate.AVG,
    bucket: timedelta | None = None,
    tags: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> RangeResult:
    """Points per series of one metric in [start, end); never commits.

    - raw, no bucket: the samples themselves; with a bucket, samples aggregated per bucket.
    - hourly/daily: the rollup rows whose bucket starts in [start, end), re-bucketed to
      `bucket` when it is wider (avg is recombined as sum / count, never an average of
      averages); buckets after the rollup's watermark (not rolled up yet) come from raw
      samples, bucketed the same way.
    - auto: raw up to RAW_MAX_SPAN, hourly up to HOURLY_MAX_SPAN, daily beyond, with a
      bucket giving no series more than MAX_POINTS_PER_SERIES points.

    Buckets are aligned on the Unix epoch in UTC; a point's time is its bucket's start.
    Aggregates ignore samples without a numeric value. `tags` keeps the series whose
    catalog tags include these key/value pairs. `limit` caps the number of points over all
    series, oldest first; a page never splits one instant (see RangeResult.next_start).
    Raises ValueError for naive times, end <= start, an unknown resolution or agg, or a
    bucket the resolution cannot produce.
    """
    plan = make_plan(start, end, resolution, agg, bucket)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    with translate_errors(f"range query for {plugin_id}/{metric_name}"):
        catalog = _catalog(session, plugin_id, metric_name, tags)
        keys = sorted(catalog) if tags else None
        rows: list[_Row] = []
        truncated, next_start = False, None
        if keys is None or keys:
            query = _Query(session, plan, plugin_id, metric_name, keys)
            rows = query.fetch(start, end, None if limit is None else limit + 1)
            if limit is not None and len(rows) > limit:
                rows, next_start = _cut(query, rows, limit, start, end)
                truncated = True
    return RangeResult(
        plugin_id=plugin_id,
        metric_name=metric_name,
        start=start,
        end=end,
        resolution=plan.resolution,
        bucket=plan.bucket,
        agg=plan.agg,
        series=_group(rows, catalog, plugin_id, metric_name),
        truncated=truncated,
        next_start=next_start,
    )


def _cut(
    query: _Query, rows: list[_Row], limit: int, start: datetime, end: datetime
) -> tuple[list[_Row], datetime | None]:
    """Drop the partly returned last instant so that `next_start` resumes exactly."""
    cut = rows[limit].time
    kept = [row for row in rows[:limit] if row.time < cut]
    if kept:
        return kept, cut
    # More series share the first instant than `limit` allows: return that instant whole.
    step = query.plan.bucket or _ONE_MICROSECOND
    resume = cut + step
    return query.fetch(max(cut, start), min(resume, end), None), resume if resume < end else None


def _catalog(
    session: Session, plugin_id: str, metric_name: str, tags: Mapping[str, Any] | None
) -> dict[str, dict[str, str]]:
    rows = session.execute(
        select(MetricSeries.series_key, MetricSeries.tags).where(
            MetricSeries.plugin_id == plugin_id,
            MetricSeries.metric_name == metric_name,
            *tag_conditions(tags, session.get_bind().dialect.name),
        )
    )
    return {row.series_key: dict(row.tags or {}) for row in rows}


def _group(
    rows: Sequence[_Row], catalog: Mapping[str, dict[str, str]], plugin_id: str, metric_name: str
) -> tuple[SeriesPoints, ...]:
    points: dict[str, list[Point]] = {}
    for row in rows:
        points.setdefault(row.series_key, []).append(Point(row.time, row.value, row.data))
    ordered = sorted(points, key=lambda key: (sorted(catalog.get(key, {}).items()), key))
    return tuple(
        SeriesPoints(key, plugin_id, metric_name, dict(catalog.get(key, {})), tuple(points[key]))
        for key in ordered
    )


class _Query:
    """Builds and runs the statement for one plan over any [start, end) window."""

    def __init__(
        self,
        session: Session,
        plan: Plan,
        plugin_id: str,
        metric_name: str,
        keys: list[str] | None,
    ) -> None:
        self.session = session
        self.plan = plan
        self.dialect = session.get_bind().dialect.name
        self.plugin_id = plugin_id
        self.metric_name = metric_name
        self.keys = keys
        self._watermark: object = _UNKNOWN

    def fetch(self, start: datetime, end: datetime, limit: int | None) -> list[_Row]:
        """Rows of [start, end), oldest first; at most `limit`.

        A rollup is complete only up to its watermark (the rollup job runs every few
        minutes, the daily one once a day): buckets from there on are computed from raw
        samples instead, so a chart's newest buckets are never missing. The split is
        floored to the plan's bucket so no bucket is made of two halves.
        """
        split = self._rollup_complete_until()
        if split is None or split >= end:
            return self._fetch(start, end, limit)
        head = self._fetch(start, split, limit) if split > start else []
        if limit is not None and len(head) >= limit:
            return head
        raw = Plan(Resolution.RAW, self.plan.bucket, self.plan.agg)
        tail = _Query(self.session, raw, self.plugin_id, self.metric_name, self.keys)
        return head + tail._fetch(
            max(start, split), end, None if limit is None else limit - len(head)
        )

    def _rollup_complete_until(self) -> datetime | None:
        """Where this plan's rollup stops being complete, floored to the plan's bucket;
        None for raw plans, and for a rollup with no watermark (never run here, or a
        TimescaleDB continuous aggregate): that rollup is read as it is."""
        if self.plan.resolution is Resolution.RAW or self.plan.bucket is None:
            return None
        if self._watermark is _UNKNOWN:
            self._watermark = self.session.execute(
                select(RollupWatermark.watermark).where(
                    RollupWatermark.name == self.plan.resolution.value
                )
            ).scalar()
        if not isinstance(self._watermark, datetime):
            return None
        return EPOCH + (self._watermark - EPOCH) // self.plan.bucket * self.plan.bucket

    def _fetch(self, start: datetime, end: datetime, limit: int | None) -> list[_Row]:
        statement = self._statement(start, end)
        if limit is not None:
            statement = statement.limit(limit)
        native = self.plan.resolution is not Resolution.RAW and self._is_native()
        rows = []
        for row in self.session.execute(statement):
            if self.plan.bucket is None:
                rows.append(_Row(row.series_key, row.at, row.value, row.data))
            else:
                time = row.at if native else from_epoch(row.at)
                rows.append(_Row(row.series_key, time, _float(row.value), None))
        return rows

    def _is_native(self) -> bool:
        return self.plan.bucket == GRANULARITY[self.plan.resolution]

    def _statement(self, start: datetime, end: datetime) -> Select[Any]:
        if self.plan.resolution is Resolution.RAW:
            pm = PluginMetric
            where = self._where(pm, pm.time, start, end)
            if self.plan.bucket is None:
                return (
                    select(pm.series_key, pm.time.label("at"), pm.numeric_value.label("value"))
                    .add_columns(pm.value.label("data"))
                    .where(*where)
                    .order_by(pm.time, pm.series_key)
                )
            where.append(pm.numeric_value.is_not(None))
            return self._bucketed(pm, pm.time, {"v": pm.numeric_value}, where)
        rollup = _ROLLUPS[self.plan.resolution]
        where = self._where(rollup, rollup.bucket, start, end)
        if self._is_native():
            value = getattr(rollup, _NATIVE_COLUMNS[self.plan.agg])
            return (
                select(rollup.series_key, rollup.bucket.label("at"), value.label("value"))
                .where(*where)
                .order_by(rollup.bucket, rollup.series_key)
            )
        source = {name: getattr(rollup, name) for name in _ROLLUP_SOURCES}
        return self._bucketed(rollup, rollup.bucket, source, where)

    def _where(
        self, table: _Table, time: InstrumentedAttribute[datetime], start: datetime, end: datetime
    ) -> list[ColumnElement[bool]]:
        where = [
            table.plugin_id == self.plugin_id,
            table.metric_name == self.metric_name,
            time >= start,
            time < end,
        ]
        if self.keys is not None:
            where.append(table.series_key.in_(self.keys))
        return where

    def _bucketed(
        self,
        table: _Table,
        time: InstrumentedAttribute[datetime],
        source: Mapping[str, InstrumentedAttribute[Any]],
        where: list[ColumnElement[bool]],
    ) -> Select[Any]:
        # Bucket in a subquery so GROUP BY names a column, not a second copy of an
        # expression with its own bound parameters (PostgreSQL rejects those as different).
        seconds = self.plan.bucket_seconds
        assert seconds is not None
        bucket = bucket_start_epoch(time, seconds, self.dialect).label("b")
        inner = (
            select(table.series_key, bucket, time.label("time"))
            .add_columns(*(column.label(name) for name, column in source.items()))
            .where(*where)
            .subquery("samples")
        )
        raw = self.plan.resolution is Resolution.RAW
        if self.plan.agg is Aggregate.LAST:
            # The value of the newest sample (or rollup row) in each bucket.
            ranked = select(
                inner.c.series_key,
                inner.c.b,
                inner.c["v" if raw else "last_value"].label("value"),
                func.row_number()
                .over(partition_by=(inner.c.series_key, inner.c.b), order_by=inner.c.time.desc())
                .label("rn"),
            ).subquery("ranked")
            return (
                select(ranked.c.series_key, ranked.c.b.label("at"), ranked.c.value)
                .where(ranked.c.rn == 1)
                .order_by(ranked.c.b, ranked.c.series_key)
            )
        aggregate = (_RAW_AGGREGATES if raw else _ROLLUP_AGGREGATES)[self.plan.agg]
        return (
            select(inner.c.series_key, inner.c.b.label("at"), aggregate(inner.c).label("value"))
            .group_by(inner.c.series_key, inner.c.b)
            .order_by(inner.c.b, inner.c.series_key)
        )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


_Table = type[PluginMetric] | type[PluginMetricHourly] | type[PluginMetricDaily]
_Columns = ReadOnlyColumnCollection[str, ColumnElement[Any]]

#: Allowlists: each Aggregate maps to SQL functions over known columns, nothing else
#: (LAST is a window query, built in _Query._bucketed).
_RAW_AGGREGATES: dict[Aggregate, Callable[[_Columns], ColumnElement[Any]]] = {
    Aggregate.AVG: lambda c: func.avg(c.v),
    Aggregate.MIN: lambda c: func.min(c.v),
    Aggregate.MAX: lambda c: func.max(c.v),
    Aggregate.SUM: lambda c: func.sum(c.v),
    Aggregate.COUNT: lambda c: func.count(c.v),
}
_ROLLUP_SOURCES = ("sum_value", "min_value", "max_value", "last_value", "sample_count")
_ROLLUP_AGGREGATES: dict[Aggregate, Callable[[_Columns], ColumnElement[Any]]] = {
    # Recombine averages from sums and counts: an average of averages would weight an
    # hour with 2 samples like one with 3,600.
    Aggregate.AVG: lambda c: func.sum(c.sum_value) / func.nullif(func.sum(c.sample_count), 0),
    Aggregate.MIN: lambda c: func.min(c.min_value),
    Aggregate.MAX: lambda c: func.max(c.max_value),
    Aggregate.SUM: lambda c: func.sum(c.sum_value),
    Aggregate.COUNT: lambda c: func.sum(c.sample_count),
}
_NATIVE_COLUMNS = {
    Aggregate.AVG: "avg_value",
    Aggregate.MIN: "min_value",
    Aggregate.MAX: "max_value",
    Aggregate.SUM: "sum_value",
    Aggregate.COUNT: "sample_count",
    Aggregate.LAST: "last_value",
}
