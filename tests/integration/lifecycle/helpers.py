"""Shared by the lifecycle tests: writing samples through the real write path, and reading
rollups back to compare them with the same aggregates computed from raw rows."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from unity_core.storage import range_query, write_batch
from unity_core.storage.batch import MetricRow
from unity_core.storage.engine import make_sessionmaker
from unity_core.storage.models import Alert, AlertHistory

#: Long past, so the triggers treat every sample as late (its hour closed long ago).
T0 = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
AGGREGATES = ("avg", "min", "max", "sum", "count", "last")
HOSTS = ("nas", "pi", "router")


def samples(start: datetime, count: int, step: timedelta, seed: int = 0) -> list[MetricRow]:
    """Irregular samples of three series; every 13th has no numeric value."""
    rows = []
    for i in range(count):
        host = HOSTS[i % len(HOSTS)]
        at = start + step * i + timedelta(seconds=(i * 7 + seed) % 11)
        number = None if i % 13 == 5 else round(math.sin(i + seed) * 40 + 50 + (i % 5), 6)
        rows.append(
            MetricRow(
                time=at,
                plugin_id="system",
                metric_name="cpu_percent",
                value={"value": number, "unit": "percent"},
                numeric_value=number,
                tags={"host": host},
            )
        )
    return rows


def write(engine: Engine, rows: Iterable[MetricRow]) -> int:
    """Store rows through write_batch (catalog, dedup and the late-sample trigger included)."""
    with make_sessionmaker(engine)() as session:
        written = write_batch(session, list(rows))
        session.commit()
    return written


def series_points(engine: Engine, **query: Any) -> dict[str, list[tuple[datetime, Any]]]:
    """range_query's points per host."""
    with make_sessionmaker(engine)() as session:
        result = range_query(session, plugin_id="system", metric_name="cpu_percent", **query)
    return {s.tags["host"]: [(p.time, p.value) for p in s.points] for s in result.series}


def assert_rollup_equals_raw(
    engine: Engine,
    resolution: str,
    width: timedelta,
    start: datetime,
    end: datetime,
    bucket: timedelta | None = None,
) -> int:
    """Every aggregate read from the rollup (in `bucket`s, default its own width) equals the
    same aggregate bucketed from raw rows (within 1e-9 relative); returns the points compared."""
    compared = 0
    width = bucket or width
    for agg in AGGREGATES:
        raw = series_points(engine, start=start, end=end, resolution="raw", bucket=width, agg=agg)
        rolled = series_points(
            engine, start=start, end=end, resolution=resolution, agg=agg, bucket=bucket
        )
        assert raw.keys() == rolled.keys(), agg
        for host, points in raw.items():
            assert [t for t, _ in points] == [t for t, _ in rolled[host]], (agg, host)
            for (_, a), (_, b) in zip(points, rolled[host], strict=True):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (agg, host, a, b)
                compared += 1
    return compared


def add_alert_history(engine: Engine, plugin_id: str, times: Iterable[datetime]) -> uuid.UUID:
    """One alert rule on `plugin_id` (which must be registered) with a transition at each time."""
    alert_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            insert(Alert),
            [
                {
                    "id": alert_id,
                    "plugin_id": plugin_id,
                    "name": f"cpu high {alert_id.hex[:6]}",
                    "condition": {"metric": "cpu_percent", "op": ">", "value": 90},
                    "enabled": True,
                    "severity": "critical",
                    "created_at": T0,
                    "updated_at": T0,
                }
            ],
        )
        rows = [
            {
                "id": uuid.uuid4(),
                "time": at,
                "alert_id": alert_id,
                "triggered": i % 2 == 0,
                "value": {"value": 91.5 + i},
            }
            for i, at in enumerate(times)
        ]
        conn.execute(insert(AlertHistory), rows)
    return alert_id
