"""Incremental hourly and daily rollups, with late data recomputed and concurrent runs safe.

Each rollup has a watermark (`rollup_watermarks`): every bucket before it is complete. A
run advances it over the buckets that have closed (ended more than ROLLUP_SETTLE ago, by
the database's clock), a chunk of buckets per transaction, and recomputes the closed
buckets that received samples after closing (`rollup_stale`, marked by the trigger in
triggers.py). Nothing before the watermark is ever re-scanned unless marked.

Concurrency: every transaction starts by locking its watermark row (`SELECT … FOR
UPDATE`; SQLite's BEGIN IMMEDIATE does the same), so a second run waits, then finds the
work done. Marks are read FOR UPDATE too, which waits for writers still inserting into a
marked bucket (see triggers.py). MariaDB runs these transactions at READ COMMITTED so each
statement sees what committed before it, as PostgreSQL does by default.

Hourly buckets come from raw samples, daily ones from the hourly rows up to the hourly
watermark; recomputing an hour marks its day for the daily rollup. Marks for buckets
older than the source's retention are dropped, not recomputed: the raw data that made the
rollup is gone, and recomputing from what remains would shrink a correct rollup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, delete, select, text, update
from sqlalchemy.dialects import mysql, postgresql, sqlite

from unity_core.config.settings import RetentionSettings
from unity_core.lifecycle.rollup_sql import DAILY, HOURLY, SPECS, RollupSpec, recompute_statement
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import RollupStale, RollupWatermark
from unity_core.storage.timescale import has_continuous_aggregates
from unity_core.storage.types import UTCDateTime, utcnow

#: A bucket is rolled up this long after it ends; a write that reads the clock before the
#: end and commits more than this after it is the one case a mark could miss.
ROLLUP_SETTLE = timedelta(minutes=1)
#: Marks handled per transaction.
STALE_BATCH = 500

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class RollupReport:
    """What one run did to one rollup table."""

    name: str
    watermark_before: datetime | None = None
    watermark: datetime | None = None
    #: Closed buckets rolled up for the first time (the watermark's advance).
    buckets: int = 0
    #: Buckets before the watermark recomputed because late samples arrived.
    recomputed: int = 0
    #: Marks dropped because the source data of their bucket has expired.
    discarded: int = 0
    #: True on TimescaleDB: continuous aggregates do this inside the database.
    in_database: bool = False

    def describe(self) -> str:
        if self.in_database:
            return f"{self.name}: continuous aggregate, refreshed by TimescaleDB"
        until = self.watermark.isoformat() if self.watermark else "nothing to roll up yet"
        text_ = f"{self.name}: complete until {until}; {self.buckets} new bucket(s)"
        text_ += f", {self.recomputed} recomputed for late data"
        if self.discarded:
            text_ += f", {self.discarded} expired mark(s) dropped"
        return text_


def floor_to(moment: datetime, width: timedelta) -> datetime:
    """The start of the epoch-aligned UTC bucket of `width` holding `moment`."""
    return _EPOCH + (moment - _EPOCH) // width * width


def run_rollups(
    engine: Engine, retention: RetentionSettings | None = None, *, now: datetime | None = None
) -> list[RollupReport]:
    """Bring the hourly, then the daily rollup up to date; safe to call from several places.

    `now` replaces the database clock (tests). `retention` decides which late marks are too
    old to act on (default: the configured defaults).
    """
    retention = retention or RetentionSettings()
    with engine.connect() as connection:
        if has_continuous_aggregates(connection):
            return [RollupReport(spec.name, in_database=True) for spec in SPECS]
    horizons = {HOURLY.name: retention.raw_metrics, DAILY.name: retention.hourly_aggregates}
    return [_roll(engine, spec, horizons[spec.name], now) for spec in SPECS]


def watermarks(connection: Connection) -> dict[str, datetime | None]:
    """Each rollup's watermark (None: never run)."""
    rows = connection.execute(select(RollupWatermark.name, RollupWatermark.watermark))
    return {name: mark for name, mark in rows}


def oldest_stale(connection: Connection, rollup: str) -> datetime | None:
    """The oldest bucket of `rollup` waiting to be recomputed, if any."""
    value = connection.execute(
        select(RollupStale.bucket)
        .where(RollupStale.rollup == rollup)
        .order_by(RollupStale.bucket)
        .limit(1)
    ).scalar()
    return value if isinstance(value, datetime) else None


def _roll(engine: Engine, spec: RollupSpec, keep: timedelta, now: datetime | None) -> RollupReport:
    report = RollupReport(spec.name)
    first = True
    while True:
        with translate_errors(f"rolling up {spec.table}"), _locked(engine) as connection:
            done = _step(connection, spec, keep, now, report, first)
        first = False
        if done:
            return report


def _step(
    connection: Connection,
    spec: RollupSpec,
    keep: timedelta,
    now: datetime | None,
    report: RollupReport,
    first: bool,
) -> bool:
    """One transaction: lock, advance at most one chunk, redo up to STALE_BATCH marks."""
    watermark = _lock_watermark(connection, spec.name)
    if first:
        report.watermark_before = watermark
    now = now or _database_now(connection)
    closed_end = _closed_end(connection, spec, now)
    if closed_end is None:
        report.watermark = watermark
        return True
    if watermark is None:
        watermark = _initial_watermark(connection, spec) or closed_end
        watermark = min(watermark, closed_end)
    high = min(closed_end, watermark + spec.chunk * spec.width) if watermark < closed_end else None
    limit = high or watermark
    marks = list(
        connection.execute(
            select(RollupStale.bucket)
            .where(RollupStale.rollup == spec.name, RollupStale.bucket < limit)
            .order_by(RollupStale.bucket)
            .limit(STALE_BATCH)
            .with_for_update()
        ).scalars()
    )
    horizon = floor_to(now - keep, spec.width)
    late = [b for b in marks if b < watermark]
    expired = [b for b in late if b < horizon]
    redo = [b for b in late if b >= horizon]
    statement = recompute_statement(connection.dialect.name, spec)
    for low, up in _runs(redo, spec.width):
        connection.execute(statement, {"lo": low, "hi": up})
    if high is not None:
        connection.execute(statement, {"lo": watermark, "hi": high})
        report.buckets += (high - watermark) // spec.width
        watermark = high
    if marks:
        connection.execute(
            delete(RollupStale).where(
                RollupStale.rollup == spec.name,
                RollupStale.bucket.in_(bindparam("buckets", marks, expanding=True)),
            )
        )
    if spec is HOURLY and redo:
        mark_stale(connection, DAILY.name, {floor_to(b, DAILY.width) for b in redo})
    connection.execute(
        update(RollupWatermark)
        .where(RollupWatermark.name == spec.name)
        .values(watermark=watermark, updated_at=utcnow())
    )
    report.recomputed += len(redo)
    report.discarded += len(expired)
    report.watermark = watermark
    return watermark >= closed_end and len(marks) < STALE_BATCH


def _lock_watermark(connection: Connection, name: str) -> datetime | None:
    """Lock the rollup's watermark row (creating it if someone emptied the table)."""
    locking = (
        select(RollupWatermark.watermark).where(RollupWatermark.name == name).with_for_update()
    )
    row = connection.execute(locking).first()
    if row is None:
        _insert_ignoring_duplicates(connection, RollupWatermark, [{"name": name}])
        row = connection.execute(locking).one()
    return row.watermark if isinstance(row.watermark, datetime) else None


def _insert_ignoring_duplicates(
    connection: Connection, table: type[RollupWatermark], rows: list[dict[str, object]]
) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    elif dialect in ("mysql", "mariadb"):
        my = mysql.insert(table)
        connection.execute(my.on_duplicate_key_update(name=my.inserted.name), rows)
    else:
        connection.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)


def mark_stale(connection: Connection, rollup: str, buckets: set[datetime]) -> None:
    """Mark buckets of `rollup` for recomputation, locking each mark row like the trigger."""
    if not buckets:
        return
    rows = [{"rollup": rollup, "bucket": b} for b in sorted(buckets)]
    dialect = connection.dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(RollupStale)
        connection.execute(
            pg.on_conflict_do_update(
                index_elements=["rollup", "bucket"], set_={"bucket": pg.excluded.bucket}
            ),
            rows,
        )
    elif dialect in ("mysql", "mariadb"):
        my = mysql.insert(RollupStale)
        connection.execute(my.on_duplicate_key_update(bucket=my.inserted.bucket), rows)
    else:
        connection.execute(sqlite.insert(RollupStale).on_conflict_do_nothing(), rows)


def _runs(buckets: Sequence[datetime], width: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """Contiguous buckets merged into [start, end) ranges, so a long gap costs one statement."""
    start: datetime | None = None
    end: datetime | None = None
    for bucket in sorted(buckets):
        if end is not None and bucket == end:
            end = bucket + width
            continue
        if start is not None and end is not None:
            yield start, end
        start, end = bucket, bucket + width
    if start is not None and end is not None:
        yield start, end


def _closed_end(connection: Connection, spec: RollupSpec, now: datetime) -> datetime | None:
    """The end of the last bucket this run may roll up (None: its source has nothing yet)."""
    end = floor_to(now - ROLLUP_SETTLE, spec.width)
    if spec is DAILY:
        hourly = watermarks(connection).get(HOURLY.name)
        if hourly is None:
            return None
        end = min(end, floor_to(hourly, DAILY.width))
    return end


def _initial_watermark(connection: Connection, spec: RollupSpec) -> datetime | None:
    """The start of the oldest bucket with source data: one primary-key probe per series."""
    time = "time" if spec is HOURLY else "bucket"
    oldest = connection.execute(
        text(
            f"SELECT min((SELECT min(p.{time}) FROM {spec.source} p "  # noqa: S608 - constants
            "WHERE p.series_key = s.series_key)) FROM metric_series s"
        )
    ).scalar()
    if oldest is None:
        return None
    value = UTCDateTime().process_result_value(_as_datetime(oldest), connection.dialect)
    return None if value is None else floor_to(value, spec.width)


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _database_now(connection: Connection) -> datetime:
    """The database's clock (the one the trigger reads), as aware UTC."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        value = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
    elif dialect in ("mysql", "mariadb"):
        value = connection.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
    else:
        return utcnow()
    moment = _as_datetime(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextlib.contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        if connection.dialect.name in ("mysql", "mariadb"):
            connection.execution_options(isolation_level="READ COMMITTED")
        with connection.begin():
            yield connection
