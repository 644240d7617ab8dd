"""TimescaleDB detection and the DDL Unity sends when the extension is available.

The statements are generated here, as plain strings, so tests can read exactly what a
TimescaleDB server would receive (the extension cannot be installed on CI machines).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, text

from unity_core.config.settings import RetentionSettings, TimeseriesSettings

ROLLUPS = (("plugin_metrics_hourly", "1 hour"), ("plugin_metrics_daily", "1 day"))


def is_available(connection: Connection) -> bool:
    """True when the server can CREATE EXTENSION timescaledb (pg_available_extensions)."""
    return _postgresql_finds(
        connection, "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    )


def _postgresql_finds(connection: Connection, query: str) -> bool:
    """True on PostgreSQL when the catalog `query` returns a row; False on other databases."""
    if connection.dialect.name != "postgresql":
        return False
    return connection.execute(text(query)).first() is not None


def interval(value: timedelta) -> str:
    """A PostgreSQL interval literal for a timedelta, in whole seconds."""
    return f"INTERVAL '{int(value.total_seconds())} seconds'"


def hypertable_sql(timeseries: TimeseriesSettings, retention: RetentionSettings) -> list[str]:
    """Turn the freshly created plain tables into hypertables with compression and retention.

    Both tables' primary keys include `time`, as TimescaleDB requires of unique keys.
    """
    chunk = interval(timeseries.chunk_interval)
    statements = [
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
        f"SELECT create_hypertable('plugin_metrics', 'time', chunk_time_interval => {chunk}, "
        "if_not_exists => TRUE, migrate_data => TRUE)",
        f"SELECT create_hypertable('alert_history', 'time', chunk_time_interval => {chunk}, "
        "if_not_exists => TRUE, migrate_data => TRUE)",
    ]
    if timeseries.compression:
        statements += [
            "ALTER TABLE plugin_metrics SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'series_key', "
            "timescaledb.compress_orderby = 'time DESC')",
            "SELECT add_compression_policy('plugin_metrics', "
            f"{interval(timeseries.compress_after)}, if_not_exists => TRUE)",
        ]
    statements += [
        f"SELECT add_retention_policy('plugin_metrics', {interval(retention.raw_metrics)}, "
        "if_not_exists => TRUE)",
        f"SELECT add_retention_policy('alert_history', {interval(retention.alert_history)}, "
        "if_not_exists => TRUE)",
    ]
    return statements


def continuous_aggregate_sql(retention: RetentionSettings) -> list[str]:
    """The hourly and daily rollups as continuous aggregates with refresh and retention policies.

    Column names match the plain rollup tables used on other databases, so queries are the
    same everywhere.
    """
    keep = {
        "plugin_metrics_hourly": retention.hourly_aggregates,
        "plugin_metrics_daily": retention.daily_aggregates,
    }
    statements = []
    for view, width in ROLLUPS:
        offset = "INTERVAL '3 hours'" if width == "1 hour" else "INTERVAL '3 days'"
        statements += [
            # Names and widths come from ROLLUPS above, never from input.
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} WITH (timescaledb.continuous) AS "  # noqa: S608
            f"SELECT time_bucket(INTERVAL '{width}', time) AS bucket, series_key, plugin_id, "
            "metric_name, tags, avg(numeric_value) AS avg_value, min(numeric_value) AS min_value, "
            "max(numeric_value) AS max_value, sum(numeric_value) AS sum_value, "
            "last(numeric_value, time) AS last_value, count(numeric_value) AS sample_count "
            "FROM plugin_metrics WHERE numeric_value IS NOT NULL "
            "GROUP BY bucket, series_key, plugin_id, metric_name, tags WITH NO DATA",
            f"SELECT add_continuous_aggregate_policy('{view}', start_offset => {offset}, "
            f"end_offset => INTERVAL '{width}', schedule_interval => INTERVAL '{width}', "
            "if_not_exists => TRUE)",
            f"SELECT add_retention_policy('{view}', {interval(keep[view])}, if_not_exists => TRUE)",
        ]
    return statements


def drop_sql() -> list[str]:
    """What downgrade sends: the continuous aggregates go before the tables they read."""
    return [f"DROP MATERIALIZED VIEW IF EXISTS {view}" for view, _ in reversed(ROLLUPS)]


def has_continuous_aggregates(connection: Connection) -> bool:
    """True when this database's rollups are TimescaleDB continuous aggregates (materialized
    views), i.e. it was migrated with the extension: rollups and retention are then jobs
    inside the database, and Unity's own rollup job and batched deletes stand aside."""
    return _postgresql_finds(
        connection, "SELECT 1 FROM pg_matviews WHERE matviewname = 'plugin_metrics_hourly'"
    )


def retention_policy_sql(retention: RetentionSettings) -> list[str]:
    """Re-apply the configured retention to TimescaleDB's policies (`unity.retention` sends
    these, so a changed `retention:` section takes effect without a migration)."""
    keep = {
        "plugin_metrics": retention.raw_metrics,
        "alert_history": retention.alert_history,
        "plugin_metrics_hourly": retention.hourly_aggregates,
        "plugin_metrics_daily": retention.daily_aggregates,
    }
    statements = []
    for relation, age in keep.items():
        statements += [
            f"SELECT remove_retention_policy('{relation}', if_exists => TRUE)",
            f"SELECT add_retention_policy('{relation}', {interval(age)}, if_not_exists => TRUE)",
        ]
    return statements
