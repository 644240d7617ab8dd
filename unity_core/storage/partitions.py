"""Daily range partitions of plugin_metrics on PostgreSQL without TimescaleDB.

Partitions are created ahead by `unity.maintenance` (and by the migration), and on demand
by the writer for any day it meets that has none, so a sample is never rejected for lack
of a partition. There is no DEFAULT partition on purpose: rows parked there would block
creating the real partition for their day later.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

PARENT = "plugin_metrics"
PREFIX = "plugin_metrics_p"
#: pg_advisory_xact_lock key serialising partition DDL between concurrent writers.
_LOCK_KEY = 0x756E697479  # "unity"


def is_partitioned(connection: Connection) -> bool:
    """True when plugin_metrics is a natively partitioned PostgreSQL table."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:name)"), {"name": PARENT}
    ).scalar()
    return kind == "p"


def partition_name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def existing_days(connection: Connection) -> set[date]:
    """Days that already have a partition, read from the catalog."""
    names = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": PARENT},
    ).scalars()
    days: set[date] = set()
    for name in names:
        if name.startswith(PREFIX) and len(name) == len(PREFIX) + 8:
            days.add(datetime.strptime(name[len(PREFIX) :], "%Y%m%d").replace(tzinfo=UTC).date())
    return days


def ensure_partitions(connection: Connection, days: Iterable[date]) -> list[str]:
    """Create the missing daily partitions for `days`; returns the names created.

    Idempotent and safe when several writers race: DDL runs under a transaction-scoped
    advisory lock and re-checks the catalog after taking it. Runs in the caller's
    transaction (never commits). A no-op on anything but a partitioned PostgreSQL table.
    """
    wanted = set(days)
    if not wanted or not is_partitioned(connection):
        return []
    missing = wanted - existing_days(connection)
    if not missing:
        return []
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    missing -= existing_days(connection)
    created = []
    for day in sorted(missing):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        # Identifiers cannot be bound parameters; the name is built from a date only.
        connection.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        created.append(partition_name(day))
    return created


def create_ahead(connection: Connection, days_ahead: int, today: date | None = None) -> list[str]:
    """Partitions from yesterday to `days_ahead` days after today (the maintenance job)."""
    today = today or datetime.now(UTC).date()
    return ensure_partitions(
        connection, (today + timedelta(days=n) for n in range(-1, days_ahead + 1))
    )


def drop_before(connection: Connection, cutoff: date) -> list[str]:
    """Drop whole partitions whose day ends on or before `cutoff` (retention); returns names."""
    if not is_partitioned(connection):
        return []
    dropped = []
    for day in sorted(existing_days(connection)):
        if day + timedelta(days=1) <= cutoff:
            connection.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))
            dropped.append(partition_name(day))
    return dropped
