"""The SQL that (re)computes rollup rows for a time range, one upsert statement per dialect.

hourly ← raw samples: avg/min/max/sum/count of `numeric_value` and the value of the newest
sample, per series and UTC hour. daily ← hourly rows: min of mins, max of maxes, sums of
sums and counts, avg = sum / count (never an average of averages), last = the newest
hour's last. Both read the series catalog for plugin_id, metric_name and tags, so the
heavy scan groups by (series_key, bucket) only.

The statements upsert (recomputing only ever adds samples to a bucket, so rows are
replaced, never removed). PostgreSQL: date_bin and `array_agg(… ORDER BY time DESC)[1]` in
one GROUP BY pass over the time-pruned partitions. MariaDB/SQLite: a window function picks
the newest value, and `series_key IN (catalog)` lets the (series_key, time) primary key
serve the time range (neither has an index leading with time). Table names come from the
constants below, never from input.
"""

# ruff: noqa: S608 - every name and interval in this SQL is a module constant, never input

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import TextClause, bindparam, text

from unity_core.storage.types import UTCDateTime

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

_COLUMNS = (
    "bucket, series_key, plugin_id, metric_name, tags, "
    "avg_value, min_value, max_value, sum_value, last_value, sample_count"
)
_UPDATED = ("avg_value", "min_value", "max_value", "sum_value", "last_value", "sample_count")
_PG_EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"


@dataclass(frozen=True)
class RollupSpec:
    """One rollup table: what it is called, what it reads and how wide its buckets are."""

    name: str
    table: str
    source: str
    width: timedelta
    #: Buckets recomputed per transaction while catching up.
    chunk: int


HOURLY = RollupSpec("hourly", "plugin_metrics_hourly", "plugin_metrics", HOUR, chunk=24)
DAILY = RollupSpec("daily", "plugin_metrics_daily", "plugin_metrics_hourly", DAY, chunk=31)
SPECS = (HOURLY, DAILY)


def bucket_expression(dialect: str, column: str, width: timedelta) -> str:
    """SQL for the start of the UTC `width` bucket holding `column`, in the column's own type."""
    if dialect == "postgresql":
        interval = "1 hour" if width == HOUR else "1 day"
        return f"date_bin(INTERVAL '{interval}', {column}, {_PG_EPOCH})"
    if dialect in ("mysql", "mariadb"):
        pattern = "%Y-%m-%d %H:00:00" if width == HOUR else "%Y-%m-%d 00:00:00"
        return f"CAST(DATE_FORMAT({column}, '{pattern}') AS DATETIME(6))"
    if dialect == "sqlite":
        pattern = "%Y-%m-%d %H:00:00" if width == HOUR else "%Y-%m-%d 00:00:00"
        return f"(strftime('{pattern}', {column}) || '.000000')"
    raise ValueError(f"unsupported dialect {dialect!r}")


def recompute_statement(dialect: str, spec: RollupSpec) -> TextClause:
    """Upsert the rollup rows of every bucket in [:lo, :hi) from the source table."""
    select = _select(dialect, spec)
    insert = f"INSERT INTO {spec.table} ({_COLUMNS}) {select}"
    if dialect == "postgresql":
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED)
        sql = f"{insert} ON CONFLICT (series_key, bucket) DO UPDATE SET {sets}"
    elif dialect in ("mysql", "mariadb"):
        sets = ", ".join(f"{c} = VALUES({c})" for c in _UPDATED)
        sql = f"{insert} ON DUPLICATE KEY UPDATE {sets}"
    else:
        sets = ", ".join(f"{c} = excluded.{c}" for c in _UPDATED)
        # "WHERE true" keeps SQLite from reading ON CONFLICT as the join's ON clause.
        sql = f"{insert} WHERE true ON CONFLICT (series_key, bucket) DO UPDATE SET {sets}"
    return text(sql).bindparams(
        bindparam("lo", type_=UTCDateTime()), bindparam("hi", type_=UTCDateTime())
    )


def _select(dialect: str, spec: RollupSpec) -> str:
    raw = spec is HOURLY
    time = "time" if raw else "bucket"
    bucket = bucket_expression(dialect, time, spec.width)
    # (average, min source, max source, sum source, count, last source, row filter)
    if raw:
        average, low, high, total, count, last = (
            "avg(numeric_value)",
            "numeric_value",
            "numeric_value",
            "numeric_value",
            "count(numeric_value)",
            "numeric_value",
        )
        keep, carried = "numeric_value IS NOT NULL", "numeric_value"
    else:
        average, low, high, total, count, last = (
            "sum(sum_value) / sum(sample_count)",
            "min_value",
            "max_value",
            "sum_value",
            "sum(sample_count)",
            "last_value",
        )
        keep = "sample_count > 0"
        carried = "sum_value, min_value, max_value, last_value, sample_count"
    where = f"{time} >= :lo AND {time} < :hi AND {keep}"
    if dialect == "postgresql":
        inner = (
            f"SELECT series_key, {bucket} AS b, {average} AS avg_v, min({low}) AS min_v, "
            f"max({high}) AS max_v, sum({total}) AS sum_v, "
            f"(array_agg({last} ORDER BY {time} DESC))[1] AS last_v, {count} AS n "
            f"FROM {spec.source} WHERE {where} GROUP BY series_key, b"
        )
    else:
        ranked = (
            f"SELECT series_key, {bucket} AS b, {carried}, "
            f"row_number() OVER (PARTITION BY series_key, {bucket} ORDER BY {time} DESC) AS rn "
            f"FROM {spec.source} WHERE series_key IN (SELECT series_key FROM metric_series) "
            f"AND {where}"
        )
        inner = (
            f"SELECT series_key, b, {average} AS avg_v, min({low}) AS min_v, "
            f"max({high}) AS max_v, sum({total}) AS sum_v, "
            f"max(CASE WHEN rn = 1 THEN {last} END) AS last_v, {count} AS n "
            f"FROM ({ranked}) ranked GROUP BY series_key, b"
        )
    return (
        "SELECT a.b, a.series_key, s.plugin_id, s.metric_name, s.tags, "
        "a.avg_v, a.min_v, a.max_v, a.sum_v, a.last_v, a.n "
        f"FROM ({inner}) a JOIN metric_series s ON s.series_key = a.series_key"
    )
