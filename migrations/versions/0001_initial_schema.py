"""Initial schema: registry, samples, series catalog, rollups, alerts and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

One history for three dialects. PostgreSQL gets one of two layouts for plugin_metrics:
TimescaleDB hypertables and continuous aggregates when the extension is available (DDL
from unity_core.storage.timescale), otherwise native daily range partitions
(unity_core.storage.partitions). MariaDB and SQLite get plain tables and indexes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from unity_core.storage import partitions, timescale
from unity_core.storage.types import PortableJSON, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _layout() -> str:
    """'timescaledb', 'partitioned' (native PostgreSQL) or 'plain' (MariaDB, SQLite)."""
    if op.get_context().dialect.name != "postgresql":
        return "plain"
    options = context.config.attributes["unity_options"]
    if options.force_timescaledb:
        return "timescaledb"
    if context.is_offline_mode():
        return "partitioned"
    if options.timeseries.enabled and timescale.is_available(op.get_bind()):
        return "timescaledb"
    return "partitioned"


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def _rollup_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("bucket", UTCDateTime(), nullable=False),
        sa.Column("series_key", sa.String(32), nullable=False),
        sa.Column("plugin_id", sa.String(100), nullable=False),
        sa.Column("metric_name", sa.String(200), nullable=False),
        sa.Column("tags", PortableJSON, nullable=True),
        sa.Column("avg_value", sa.Double(), nullable=True),
        sa.Column("min_value", sa.Double(), nullable=True),
        sa.Column("max_value", sa.Double(), nullable=True),
        sa.Column("sum_value", sa.Double(), nullable=True),
        sa.Column("last_value", sa.Double(), nullable=True),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series_key", "bucket", name=op.f(f"pk_{name}")),
    )
    op.create_index(
        op.f(f"ix_{name}_plugin_id_metric_name_bucket"),
        name,
        ["plugin_id", "metric_name", "bucket"],
    )


def upgrade() -> None:
    layout = _layout()
    options = context.config.attributes["unity_options"]

    op.create_table(
        "plugins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", PortableJSON, nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugins")),
        sa.UniqueConstraint("plugin_id", name=op.f("uq_plugins_plugin_id")),
    )
    op.create_index(
        "ix_plugins_enabled",
        "plugins",
        ["enabled"],
        postgresql_where=sa.text("enabled = true"),
        sqlite_where=sa.text("enabled = 1"),
    )
    op.create_table(
        "plugin_status",
        sa.Column("plugin_id", sa.String(100), nullable=False),
        sa.Column("last_run", UTCDateTime(), nullable=True),
        sa.Column("last_success", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("health_status", sa.String(20), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plugin_id"],
            ["plugins.plugin_id"],
            name=op.f("fk_plugin_status_plugin_id_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("plugin_id", name=op.f("pk_plugin_status")),
    )
    op.create_table(
        "metric_series",
        sa.Column("series_key", sa.String(32), nullable=False),
        sa.Column("plugin_id", sa.String(100), nullable=False),
        sa.Column("metric_name", sa.String(200), nullable=False),
        sa.Column("tags", PortableJSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("series_key", name=op.f("pk_metric_series")),
    )
    op.create_index(
        "ix_metric_series_plugin_id_metric_name", "metric_series", ["plugin_id", "metric_name"]
    )
    if layout != "plain":
        op.create_index("ix_metric_series_tags", "metric_series", ["tags"], postgresql_using="gin")

    op.create_table(
        "plugin_metrics",
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("series_key", sa.String(32), nullable=False),
        sa.Column("plugin_id", sa.String(100), nullable=False),
        sa.Column("metric_name", sa.String(200), nullable=False),
        sa.Column("value", PortableJSON, nullable=False),
        sa.Column("numeric_value", sa.Double(), nullable=True),
        sa.Column("tags", PortableJSON, nullable=True),
        sa.PrimaryKeyConstraint("series_key", "time", name=op.f("pk_plugin_metrics")),
        postgresql_partition_by="RANGE (time)" if layout == "partitioned" else None,
    )
    op.create_index(
        "ix_plugin_metrics_plugin_id_metric_name_time",
        "plugin_metrics",
        ["plugin_id", "metric_name", "time"],
    )
    op.create_index("ix_plugin_metrics_metric_name", "plugin_metrics", ["metric_name"])
    if layout != "plain":
        # BRIN keeps time-range scans cheap at tiny cost. The design's GIN index on tags sits
        # on the series catalog (below): tag filters resolve to series there, and a GIN on
        # this hot table would cost every write a third of its speed for no query.
        op.create_index(
            "ix_plugin_metrics_time_brin", "plugin_metrics", ["time"], postgresql_using="brin"
        )

    if layout != "timescaledb":
        _rollup_table("plugin_metrics_hourly")
        _rollup_table("plugin_metrics_daily")

    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(100), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("condition", PortableJSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["plugin_id"],
            ["plugins.plugin_id"],
            name=op.f("fk_alerts_plugin_id_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_plugin_id"), "alerts", ["plugin_id"])
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("triggered", sa.Boolean(), nullable=False),
        sa.Column("value", PortableJSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_history_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", "time", name=op.f("pk_alert_history")),
    )
    op.create_index("ix_alert_history_alert_id_time", "alert_history", ["alert_id", "time"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )

    if layout == "timescaledb":
        for statement in timescale.hypertable_sql(options.timeseries, options.retention):
            op.execute(statement)
        for statement in timescale.continuous_aggregate_sql(options.retention):
            op.execute(statement)
    elif layout == "partitioned" and not context.is_offline_mode():
        partitions.create_ahead(op.get_bind(), options.partitions_ahead_days)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        if _layout() == "timescaledb" or _has_materialized_rollups():
            for statement in timescale.drop_sql():
                op.execute(statement)
    for table in ("api_tokens", "alert_history", "alerts"):
        op.drop_table(table)
    for table in ("plugin_metrics_daily", "plugin_metrics_hourly"):
        if _is_table(table):
            op.drop_table(table)
    # Dropping a partitioned parent drops its partitions with it.
    op.drop_table("plugin_metrics")
    op.drop_table("metric_series")
    op.drop_table("plugin_status")
    op.drop_index("ix_plugins_enabled", table_name="plugins")
    op.drop_table("plugins")


def _has_materialized_rollups() -> bool:
    if context.is_offline_mode():
        return False
    found = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_matviews WHERE matviewname = 'plugin_metrics_hourly'")
    )
    return found.first() is not None


def _is_table(name: str) -> bool:
    if context.is_offline_mode() or op.get_context().dialect.name != "postgresql":
        return True
    kind = (
        op.get_bind()
        .execute(sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:n)"), {"n": name})
        .scalar()
    )
    return kind in ("r", "p")
