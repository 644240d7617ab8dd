"""The SQL the lifecycle sends where it cannot run here (TimescaleDB) or is worth reading."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from unity_core.config.settings import RetentionSettings
from unity_core.lifecycle import triggers
from unity_core.lifecycle.rollup import _runs, floor_to
from unity_core.lifecycle.rollup_sql import DAILY, HOURLY, recompute_statement
from unity_core.storage import migrate, timescale

HOUR = timedelta(hours=1)


def test_timescale_retention_policies_follow_the_settings() -> None:
    # Given retention settings that differ from the defaults
    keep = RetentionSettings(
        raw_metrics=timedelta(days=7),
        hourly_aggregates=timedelta(days=30),
        daily_aggregates=timedelta(days=400),
        alert_history=timedelta(days=2),
    )
    # When the statements re-applying them are rendered
    sql = timescale.retention_policy_sql(keep)
    # Then each relation's policy is replaced with its configured interval
    add = "SELECT add_retention_policy('{}', INTERVAL '{} seconds', if_not_exists => TRUE)"
    assert add.format("plugin_metrics", 604800) in sql
    assert add.format("plugin_metrics_daily", 34560000) in sql
    removal = "SELECT remove_retention_policy('alert_history', if_exists => TRUE)"
    assert sql.index(removal) < sql.index(add.format("alert_history", 172800))


def test_continuous_aggregates_refresh_late_data_and_match_the_rollup_columns() -> None:
    # When the continuous aggregate DDL is rendered
    sql = " ".join(timescale.continuous_aggregate_sql(RetentionSettings()))
    # Then both rollups are materialized with the plain tables' columns and refresh policies
    for column in (
        "avg_value",
        "min_value",
        "max_value",
        "sum_value",
        "last_value",
        "sample_count",
    ):
        assert f" AS {column}" in sql
    policy = "add_continuous_aggregate_policy('{}', start_offset => INTERVAL '{}'"
    assert policy.format("plugin_metrics_hourly", "3 hours") in sql
    assert policy.format("plugin_metrics_daily", "3 days") in sql


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_late_sample_triggers_mark_closed_hours_only(dialect: str) -> None:
    # When the trigger DDL is rendered for each dialect
    sql = "\n".join(triggers.create_sql(dialect))
    # Then it marks hourly buckets of samples older than the current hour, locking the mark
    assert "rollup_stale" in sql and "'hourly'" in sql
    clock = {"postgresql": "clock_timestamp()", "mysql": "UTC_TIMESTAMP()", "sqlite": "'now'"}
    assert clock[dialect] in sql
    lock = {"postgresql": "DO UPDATE", "mysql": "ON DUPLICATE KEY UPDATE", "sqlite": "OR IGNORE"}
    assert lock[dialect] in sql
    assert triggers.TRIGGER in "\n".join(triggers.drop_sql(dialect))


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_recompute_statements_upsert_by_series_and_bucket(dialect: str) -> None:
    for spec in (HOURLY, DAILY):
        sql = str(recompute_statement(dialect, spec))
        assert sql.startswith(f"INSERT INTO {spec.table} ")
        assert (
            "ON DUPLICATE KEY UPDATE" if dialect == "mysql" else "ON CONFLICT (series_key, bucket)"
        ) in sql
        assert f"FROM {spec.source}" in sql and ":lo" in sql and ":hi" in sql


def test_buckets_are_epoch_aligned_utc_and_contiguous_ones_merge() -> None:
    t = datetime(2025, 3, 10, 10, 59, 59, 999999, tzinfo=UTC)
    assert floor_to(t, HOUR) == datetime(2025, 3, 10, 10, tzinfo=UTC)
    assert floor_to(t, timedelta(days=1)) == datetime(2025, 3, 10, tzinfo=UTC)
    b = datetime(2025, 3, 10, tzinfo=UTC)
    runs = list(_runs([b + 3 * HOUR, b, b + HOUR, b + 7 * HOUR], HOUR))
    assert runs == [(b, b + 2 * HOUR), (b + 3 * HOUR, b + 4 * HOUR), (b + 7 * HOUR, b + 8 * HOUR)]


def test_the_migration_installs_the_trigger_except_on_timescaledb() -> None:
    # When migration 0003 is rendered offline for PostgreSQL, MariaDB and TimescaleDB
    options = migrate.MigrationOptions()
    native = migrate.offline_sql("postgresql+psycopg://u@h/db", "head", options)
    mariadb = migrate.offline_sql("mysql+pymysql://u@h/db", "head", options)
    timescaledb = migrate.offline_sql(
        "postgresql+psycopg://u@h/db", "head", replace(options, force_timescaledb=True)
    )
    # Then the late-sample trigger comes with the watermark rows, but not on TimescaleDB
    for sql in (native, mariadb):
        assert f"CREATE TRIGGER {triggers.TRIGGER}" in sql
        assert "INSERT INTO rollup_watermarks" in sql
    assert triggers.TRIGGER not in timescaledb
    assert "CREATE MATERIALIZED VIEW IF NOT EXISTS plugin_metrics_hourly" in timescaledb
