"""SQLite writer: executemany INSERT … ON CONFLICT DO NOTHING for samples and series.

The engine already opens every transaction with BEGIN IMMEDIATE under WAL and a busy
timeout, so concurrent writer processes queue for the single write lock. Times go
through the column type's own bind processor so rows written here compare equal (the
dedup key is text on SQLite) to rows written through the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from unity_core.storage.batch import METRIC_COLUMNS, MetricRow, encode_rows
from unity_core.storage.models import MetricSeries, PluginMetric
from unity_core.storage.types import utcnow

_COLUMNS = ", ".join(f'"{name}"' for name in METRIC_COLUMNS)
_INSERT_METRICS = (
    f"INSERT INTO plugin_metrics ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
    'ON CONFLICT ("series_key", "time") DO NOTHING'
)
_INSERT_SERIES = (
    "INSERT INTO metric_series (series_key, plugin_id, metric_name, tags, created_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (series_key) DO NOTHING"
)


def write(session: Session, rows: Sequence[MetricRow], catalog: Sequence[MetricRow]) -> int:
    """Insert prepared rows (checked, unique, sorted) and their series; return rows inserted.

    Idempotent: conflicting rows are skipped and not counted (the count is SQLite's
    changes() summed over the executemany). Never commits. Raises ValueError (before any
    SQL) for an unserialisable value, and SQLAlchemy DBAPIError subclasses on failure.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect
    # dialect_impl: the SQLite DATETIME processor renders the same text (with .ffffff) that
    # SQLAlchemy binds in queries; the generic one hands sqlite3 a datetime it formats itself.
    time_of = PluginMetric.__table__.c.time.type.dialect_impl(dialect).bind_processor(dialect)
    created_of = MetricSeries.__table__.c.created_at.type.dialect_impl(dialect).bind_processor(
        dialect
    )
    if time_of is None or created_of is None:  # UTCDateTime always has one; keep mypy honest
        raise RuntimeError("UTCDateTime has no bind processor on SQLite")
    metrics = encode_rows(rows, time_of)
    now = created_of(utcnow())
    tags_of = {m[1]: m[6] for m in metrics}  # serialise each series' tags once
    series = [
        (s.series_key, s.plugin_id, s.metric_name, tags_of[s.series_key], now) for s in catalog
    ]
    connection = session.connection()  # BEGIN IMMEDIATE: the write lock, only once encoded
    if series:
        connection.exec_driver_sql(_INSERT_SERIES, series)
    result = connection.exec_driver_sql(_INSERT_METRICS, metrics)
    return int(result.rowcount)
