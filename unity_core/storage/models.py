"""The design's tables as typed SQLAlchemy models, portable across the three databases.

The migration history in `migrations/` is the source of truth for DDL (it adds the
dialect-specific parts: partitioning, hypertables, GIN and partial indexes); these models
mirror it so queries are typed and `alembic check` can prove the two agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import (
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from unity_core.storage.types import PortableJSON, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PluginId = Annotated[str, mapped_column(String(100))]
SeriesKey = Annotated[str, mapped_column(String(32))]
MetricName = Annotated[str, mapped_column(String(200))]
CreatedAt = Annotated[datetime, mapped_column(default=utcnow)]
UpdatedAt = Annotated[datetime, mapped_column(default=utcnow, onupdate=utcnow)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dict[str, Any]: PortableJSON,
        datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        float: Double(),
    }


class Plugin(Base):
    """A registered plugin instance; `plugin_id` is the id users and tasks refer to."""

    __tablename__ = "plugins"
    __table_args__ = (
        Index(
            "ix_plugins_enabled",
            "enabled",
            postgresql_where=text("enabled = true"),
            sqlite_where=text("enabled = 1"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    plugin_id: Mapped[PluginId] = mapped_column(unique=True)
    #: Entry-point name of the implementation; several instances may share one.
    plugin: Mapped[str] = mapped_column(String(100), default="")
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Options for the plugin itself, validated by its config schema.
    config: Mapped[dict[str, Any] | None]
    # Framework options; NULL means "the collection defaults".
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str | None] = mapped_column(String(64))
    timeout_seconds: Mapped[float | None]
    retry_count: Mapped[int | None] = mapped_column(Integer)
    retry_delay: Mapped[float | None]
    retry_backoff: Mapped[float | None]
    queue: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[dict[str, Any] | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    def __repr__(self) -> str:
        return f"Plugin(plugin_id={self.plugin_id!r}, enabled={self.enabled!r})"


class PluginStatus(Base):
    """The last known health of one plugin instance, one row per plugin, upserted."""

    __tablename__ = "plugin_status"

    plugin_id: Mapped[PluginId] = mapped_column(
        ForeignKey("plugins.plugin_id", ondelete="CASCADE"), primary_key=True
    )
    last_run: Mapped[datetime | None]
    last_success: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    health_status: Mapped[str | None] = mapped_column(String(20))
    #: Failures since the last success; drives adaptive backoff and pausing.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    last_duration_ms: Mapped[float | None]
    worker_host: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[UpdatedAt]

    def __repr__(self) -> str:
        return f"PluginStatus(plugin_id={self.plugin_id!r}, health={self.health_status!r})"


class ScheduleState(Base):
    """The scheduler's memory per plugin: the last slot dispatched and when the next is due.

    Kept in the database so a standby beat that takes over knows what was already sent.
    """

    __tablename__ = "schedule_state"

    plugin_id: Mapped[PluginId] = mapped_column(
        ForeignKey("plugins.plugin_id", ondelete="CASCADE"), primary_key=True
    )
    last_slot: Mapped[datetime | None]
    next_due: Mapped[datetime | None]
    updated_at: Mapped[UpdatedAt]

    def __repr__(self) -> str:
        return f"ScheduleState(plugin_id={self.plugin_id!r}, next_due={self.next_due!r})"


class SchedulerLock(Base):
    """A named lease with an expiry: only its owner may act while it is unexpired."""

    __tablename__ = "scheduler_locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"SchedulerLock(name={self.name!r}, owner={self.owner!r})"


class MetricReject(Base):
    """A metric the pipeline refused, with the reason, so users can see what a plugin got wrong."""

    __tablename__ = "metric_rejects"
    __table_args__ = (Index("ix_metric_rejects_plugin_id_time", "plugin_id", "time"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    time: Mapped[datetime]
    plugin_id: Mapped[PluginId]
    metric_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    value: Mapped[dict[str, Any] | None]

    def __repr__(self) -> str:
        return f"MetricReject({self.plugin_id!r}, {self.metric_name!r}, {self.reason!r})"


class MetricSeries(Base):
    """The series catalog: one row per (plugin, metric, tag set), keyed by its hash.

    Lets "latest of every series" be one index probe per series instead of a scan, and
    gives the dedup key of `plugin_metrics` a readable meaning.
    """

    __tablename__ = "metric_series"
    __table_args__ = (Index("ix_metric_series_plugin_id_metric_name", "plugin_id", "metric_name"),)

    series_key: Mapped[SeriesKey] = mapped_column(primary_key=True)
    plugin_id: Mapped[PluginId]
    metric_name: Mapped[MetricName]
    tags: Mapped[dict[str, Any] | None]
    created_at: Mapped[CreatedAt]

    def __repr__(self) -> str:
        return f"MetricSeries({self.plugin_id!r}, {self.metric_name!r}, {self.tags!r})"


class PluginMetric(Base):
    """One sample. The primary key (series_key, time) makes redelivered batches no-ops.

    There is deliberately no foreign key to `plugins` on this hot, append-only table: it
    would cost a lookup per row; the series catalog carries that reference instead.
    """

    __tablename__ = "plugin_metrics"
    __table_args__ = (
        PrimaryKeyConstraint("series_key", "time"),
        Index("ix_plugin_metrics_plugin_id_metric_name_time", "plugin_id", "metric_name", "time"),
        Index("ix_plugin_metrics_metric_name", "metric_name"),
    )

    time: Mapped[datetime]
    series_key: Mapped[SeriesKey]
    plugin_id: Mapped[PluginId]
    metric_name: Mapped[MetricName]
    value: Mapped[dict[str, Any]]
    numeric_value: Mapped[float | None]
    tags: Mapped[dict[str, Any] | None]

    def __repr__(self) -> str:
        return f"PluginMetric({self.plugin_id!r}, {self.metric_name!r}, {self.time.isoformat()})"


class _Rollup:
    """Columns shared by the hourly and daily rollups of `numeric_value`."""

    bucket: Mapped[datetime]
    series_key: Mapped[SeriesKey]
    plugin_id: Mapped[PluginId]
    metric_name: Mapped[MetricName]
    tags: Mapped[dict[str, Any] | None]
    avg_value: Mapped[float | None]
    min_value: Mapped[float | None]
    max_value: Mapped[float | None]
    sum_value: Mapped[float | None]
    last_value: Mapped[float | None]
    sample_count: Mapped[int] = mapped_column(Integer)


class PluginMetricHourly(_Rollup, Base):
    __tablename__ = "plugin_metrics_hourly"
    __table_args__ = (
        PrimaryKeyConstraint("series_key", "bucket"),
        Index(
            "ix_plugin_metrics_hourly_plugin_id_metric_name_bucket",
            "plugin_id",
            "metric_name",
            "bucket",
        ),
    )


class PluginMetricDaily(_Rollup, Base):
    __tablename__ = "plugin_metrics_daily"
    __table_args__ = (
        PrimaryKeyConstraint("series_key", "bucket"),
        Index(
            "ix_plugin_metrics_daily_plugin_id_metric_name_bucket",
            "plugin_id",
            "metric_name",
            "bucket",
        ),
    )


class Alert(Base):
    """An alert rule; `condition` is validated by the alerts layer before it gets here."""

    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    plugin_id: Mapped[str | None] = mapped_column(
        String(100), ForeignKey("plugins.plugin_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    condition: Mapped[dict[str, Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    def __repr__(self) -> str:
        return f"Alert(name={self.name!r}, enabled={self.enabled!r})"


class AlertHistory(Base):
    """One alert state transition. The key includes `time` so it can be a hypertable."""

    __tablename__ = "alert_history"
    __table_args__ = (
        PrimaryKeyConstraint("id", "time"),
        Index("ix_alert_history_alert_id_time", "alert_id", "time"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    time: Mapped[datetime]
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    triggered: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[dict[str, Any] | None]

    def __repr__(self) -> str:
        return f"AlertHistory(alert_id={self.alert_id!r}, triggered={self.triggered!r})"


class ApiToken(Base):
    """An API bearer token; only the SHA-256 of its secret is ever stored."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[CreatedAt]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"ApiToken(name={self.name!r}, scope={self.scope!r})"
