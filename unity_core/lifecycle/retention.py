"""Retention: remove what the `retention:` settings say is too old, never what rollups still need.

- TimescaleDB: the database's retention policies do the work; a run re-applies them from
  the current settings.
- PostgreSQL with native partitions: whole daily partitions of plugin_metrics whose day
  has expired are dropped (instant, no bloat). Rollup tables and alert history, which are
  not partitioned, are deleted in bounded batches.
- MariaDB and SQLite: bounded batches everywhere, one transaction per batch of at most
  `batch_size` rows of one series (primary-key range), so writers and readers are never
  held up for long.

Raw samples are kept until the hourly rollup is complete for them (before its watermark
and its oldest pending recomputation), and hourly rows until the daily rollup is: when
the rollup job lags, retention waits for it rather than lose data. `dry_run` reports the
same plan and counts without removing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, text

from unity_core.config.settings import RetentionSettings
from unity_core.lifecycle.rollup import oldest_stale, watermarks
from unity_core.storage import partitions
from unity_core.storage.engine import translate_errors
from unity_core.storage.timescale import has_continuous_aggregates, retention_policy_sql
from unity_core.storage.types import UTCDateTime, utcnow

DEFAULT_BATCH = 5_000


@dataclass(frozen=True)
class _Target:
    table: str
    time: str
    #: The column whose values split the table into primary-key ranges.
    key: str
    #: Where the distinct key values are listed (a small table).
    keys_from: str
    setting: str
    #: The rollup that must be complete before rows may go (None: no dependency).
    needs: str | None


_TARGETS = (
    _Target("plugin_metrics", "time", "series_key", "metric_series", "raw_metrics", "hourly"),
    _Target(
        "plugin_metrics_hourly",
        "bucket",
        "series_key",
        "metric_series",
        "hourly_aggregates",
        "daily",
    ),
    _Target(
        "plugin_metrics_daily", "bucket", "series_key", "metric_series", "daily_aggregates", None
    ),
    _Target("alert_history", "time", "alert_id", "alerts", "alert_history", None),
)


@dataclass
class TableRetention:
    """What retention does (or would do) to one table."""

    table: str
    keep: timedelta
    #: Rows older than this are expired by the settings.
    cutoff: datetime
    #: What is actually removed: the cutoff, held back to where rollups are complete.
    effective: datetime | None
    held_back: str | None = None
    rows: int = 0
    partitions: list[str] = field(default_factory=list)
    method: str = "batched delete"

    def describe(self, dry_run: bool) -> str:
        verb = "would remove" if dry_run else "removed"
        line = f"{self.table}: keep {_days(self.keep)}; "
        if self.method == "timescaledb policy":
            return line + "TimescaleDB retention policy applied"
        if self.effective is None:
            return line + f"nothing removed ({self.held_back})"
        line += f"{verb} {self.rows} row(s) before {self.effective.isoformat()}"
        if self.partitions:
            line += f" ({len(self.partitions)} partition(s): {', '.join(self.partitions)})"
        if self.held_back:
            line += f" [held back: {self.held_back}]"
        return line


@dataclass
class RetentionReport:
    dry_run: bool
    tables: list[TableRetention]

    def lines(self) -> list[str]:
        return [t.describe(self.dry_run) for t in self.tables]


def run_retention(
    engine: Engine,
    retention: RetentionSettings,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> RetentionReport:
    """Apply (or, with dry_run, only report) the retention settings; see the module doc."""
    now = now or utcnow()
    with translate_errors("applying retention"):
        with engine.connect() as connection:
            if has_continuous_aggregates(connection):
                return _timescale(engine, retention, now, dry_run)
            plans = [_plan(connection, target, retention, now) for target in _TARGETS]
            partitioned = partitions.is_partitioned(connection)
        report = RetentionReport(dry_run, [])
        for target, plan in zip(_TARGETS, plans, strict=True):
            if plan.effective is not None:
                if target.table == "plugin_metrics" and partitioned:
                    _partitions(engine, plan, dry_run)
                elif dry_run:
                    plan.rows = _count(engine, target, plan.effective)
                else:
                    plan.rows = _delete_batched(engine, target, plan.effective, batch_size)
            report.tables.append(plan)
    return report


def _plan(
    connection: Connection, target: _Target, retention: RetentionSettings, now: datetime
) -> TableRetention:
    keep: timedelta = getattr(retention, target.setting)
    cutoff = now - keep
    plan = TableRetention(target.table, keep, cutoff, cutoff)
    if target.needs is None:
        return plan
    complete = watermarks(connection).get(target.needs)
    pending = oldest_stale(connection, target.needs)
    if complete is None:
        plan.effective, plan.held_back = None, f"the {target.needs} rollup has not run yet"
        return plan
    limit = min(complete, pending) if pending is not None else complete
    if limit < cutoff:
        plan.effective = limit
        plan.held_back = f"the {target.needs} rollup is complete only until {limit.isoformat()}"
    return plan


def _partitions(engine: Engine, plan: TableRetention, dry_run: bool) -> None:
    """Drop whole daily partitions ending on or before the effective cutoff."""
    assert plan.effective is not None
    plan.method = "drop partitions"
    last_day = plan.effective.astimezone(UTC).date()
    with engine.begin() as connection:
        expired = [d for d in sorted(partitions.existing_days(connection)) if _ends_by(d, last_day)]
        names = [partitions.partition_name(d) for d in expired]
        for name in names:
            # Names come from the catalog and match plugin_metrics_pYYYYMMDD.
            plan.rows += int(connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())  # noqa: S608
        if not dry_run:
            partitions.drop_before(connection, last_day)
    plan.partitions = names


def _ends_by(day: date, cutoff_day: date) -> bool:
    return day + timedelta(days=1) <= cutoff_day


def _keys(connection: Connection, target: _Target) -> list[object]:
    column = "id" if target.keys_from == "alerts" else "series_key"
    return list(connection.execute(text(f"SELECT {column} FROM {target.keys_from}")).scalars())  # noqa: S608


def _count(engine: Engine, target: _Target, cutoff: datetime) -> int:
    """Rows older than cutoff, counted one primary-key range per key."""
    column = "id" if target.keys_from == "alerts" else "series_key"
    statement = text(
        f"SELECT count(*) FROM {target.table} WHERE {target.key} IN "  # noqa: S608 - constants
        f"(SELECT {column} FROM {target.keys_from}) AND {target.time} < :cutoff"
    ).bindparams(bindparam("cutoff", type_=UTCDateTime()))
    with engine.connect().execution_options(sqlite_deferred=True) as connection:
        return int(connection.execute(statement, {"cutoff": cutoff}).scalar_one())


def _delete_batched(engine: Engine, target: _Target, cutoff: datetime, batch_size: int) -> int:
    """Delete rows older than cutoff, at most batch_size rows of one key per transaction."""
    with engine.connect().execution_options(sqlite_deferred=True) as connection:
        keys = _keys(connection, target)
    nth = text(
        f"SELECT {target.time} FROM {target.table} WHERE {target.key} = :key "  # noqa: S608
        f"AND {target.time} < :cutoff ORDER BY {target.time} LIMIT 1 OFFSET :skip"
    ).bindparams(bindparam("cutoff", type_=UTCDateTime()))
    up_to = text(
        f"DELETE FROM {target.table} WHERE {target.key} = :key "  # noqa: S608
        f"AND {target.time} <= :last"
    )
    before = text(
        f"DELETE FROM {target.table} WHERE {target.key} = :key "  # noqa: S608
        f"AND {target.time} < :cutoff"
    ).bindparams(bindparam("cutoff", type_=UTCDateTime()))
    removed = 0
    for key in keys:
        for _ in _forever():
            with engine.begin() as connection:
                last = connection.execute(
                    nth, {"key": key, "cutoff": cutoff, "skip": batch_size - 1}
                ).scalar()
                if last is None:
                    removed += connection.execute(before, {"key": key, "cutoff": cutoff}).rowcount
                    break
                # `last` comes back in the driver's own representation; bound as is, it
                # compares exactly with the stored value.
                removed += connection.execute(up_to, {"key": key, "last": last}).rowcount
    return removed


def _forever() -> Iterator[None]:
    while True:
        yield None


def _timescale(
    engine: Engine, retention: RetentionSettings, now: datetime, dry_run: bool
) -> RetentionReport:
    tables = []
    for target in _TARGETS:
        keep: timedelta = getattr(retention, target.setting)
        tables.append(
            TableRetention(target.table, keep, now - keep, now - keep, method="timescaledb policy")
        )
    if not dry_run:
        with engine.begin() as connection:
            for statement in retention_policy_sql(retention):
                connection.execute(text(statement))
    return RetentionReport(dry_run, tables)


def _days(value: timedelta) -> str:
    return f"{value.days}d" if not value.seconds else str(value)
