"""unity.retention's core on every database: expired data goes in bounded batches (or whole
partitions on PostgreSQL), never ahead of the rollups; a dry run removes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from tests.integration.lifecycle.helpers import DAY, HOUR, T0, add_alert_history, samples, write
from unity_core.config.settings import RetentionSettings
from unity_core.lifecycle import run_retention, run_rollups
from unity_core.storage import partitions, register_plugin
from unity_core.storage.engine import make_sessionmaker
from unity_core.storage.models import (
    PluginMetric,
    PluginMetricDaily,
    PluginMetricHourly,
)

NOW = T0 + 10 * DAY + 12 * HOUR
KEEP = RetentionSettings(
    raw_metrics=timedelta(days=4),
    hourly_aggregates=timedelta(days=7),
    daily_aggregates=timedelta(days=9),
    alert_history=timedelta(days=1),
)


def counts(engine: Engine, cutoff_raw: object = None) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            model.__tablename__: int(
                conn.execute(select(func.count()).select_from(model)).scalar_one()
            )
            for model in (PluginMetric, PluginMetricHourly, PluginMetricDaily)
        }


def oldest(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return {
            "raw": conn.execute(select(func.min(PluginMetric.time))).scalar(),
            "hourly": conn.execute(select(func.min(PluginMetricHourly.bucket))).scalar(),
            "daily": conn.execute(select(func.min(PluginMetricDaily.bucket))).scalar(),
        }


def test_retention_removes_expired_rows_after_their_rollups(engine: Engine) -> None:
    # Given ten days of samples, rolled up, and an alert's history over the same days
    write(engine, samples(T0, 10 * 24 * 6, timedelta(minutes=10)))
    run_rollups(engine, KEEP, now=NOW)
    with make_sessionmaker(engine)() as session:
        register_plugin(session, "system", "System")
        session.commit()
    add_alert_history(engine, "system", (T0 + i * 6 * HOUR for i in range(40)))
    before = counts(engine)
    # When a dry run, then a real run, apply 4 days raw / 7 days hourly / 9 days daily
    dry = run_retention(engine, KEEP, dry_run=True, now=NOW, batch_size=7)
    assert counts(engine) == before
    real = run_retention(engine, KEEP, now=NOW, batch_size=7)
    # Then the dry run announced exactly what the real run removed
    assert [t.rows for t in dry.tables] == [t.rows for t in real.tables]
    removed = {t.table: t.rows for t in real.tables}
    after = counts(engine)
    assert {k: before[k] - after[k] for k in before} == {k: removed[k] for k in before}
    # And what remains starts at the cutoffs (a whole day later on partitioned PostgreSQL)
    first = oldest(engine)
    raw_cutoff = NOW - KEEP.raw_metrics
    with engine.connect() as conn:
        partitioned = partitions.is_partitioned(conn)
    if partitioned:
        assert first["raw"] is not None and first["raw"] >= raw_cutoff.replace(hour=0)
        assert real.tables[0].partitions and real.tables[0].method == "drop partitions"
    else:
        assert first["raw"] is not None and first["raw"] >= raw_cutoff
    assert first["hourly"] == T0 + 3 * DAY + 12 * HOUR
    assert first["daily"] == T0 + 2 * DAY
    assert all(line for line in dry.lines())
    # And alert history older than a day went (transitions every 6 h until T0 + 9d 18h)
    assert removed["alert_history"] == 40 - 2


def test_raw_rows_wait_for_the_hourly_rollup(engine: Engine) -> None:
    # Given ten days of samples and no rollup run yet
    write(engine, samples(T0, 10 * 24 * 2, timedelta(minutes=30)))
    before = counts(engine)
    # When retention runs
    report = run_retention(engine, KEEP, now=NOW)
    # Then no raw row was removed, and the report says why
    assert counts(engine)["plugin_metrics"] == before["plugin_metrics"]
    assert "has not run yet" in report.lines()[0]
    # When the rollup has run only up to day 2, retention stops there
    run_rollups(engine, KEEP, now=T0 + 2 * DAY + 5 * HOUR)
    late = run_retention(engine, KEEP, now=NOW)
    assert late.tables[0].effective == T0 + 2 * DAY + 4 * HOUR
    assert "held back" in late.lines()[0]
    with engine.connect() as conn:
        first = conn.execute(select(func.min(PluginMetric.time))).scalar()
    assert first is not None and first >= T0 + 2 * DAY - (
        DAY if late.tables[0].partitions else timedelta(0)
    )
