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
    BigInteger,
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
    #: Every stored outcome of the plugin, successful or not: a monotonic counter (/metrics).
    run_count: Mapped[int] = mapped_column(BigInteger, default=0)
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
    #: The host whose worker collected the sample; deliberately not a tag (not in the key).
    worker_host: Mapped[str | None] = mapped_column(String(255))

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


# ── Scale-out (issue 8): worker presence ─────────────────────────────────────────────────


class WorkerHeartbeat(Base):
    """One Celery worker node's last announcement: where it runs, what it consumes.

    Each `unity worker` node upserts its row every few seconds; a row whose heartbeat is
    older than the staleness threshold is a silent worker. Kept in the database (not in
    Celery's events) so `unity status`, the API and the `unity` plugin read it without
    Celery, whichever broker is in use.
    """

    __tablename__ = "worker_heartbeats"

    #: Celery node name, e.g. "unity-collect@nas".
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    queues: Mapped[list[str]] = mapped_column(PortableJSON)
    concurrency: Mapped[int] = mapped_column(Integer)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    last_heartbeat: Mapped[datetime]

    def __repr__(self) -> str:
        return f"WorkerHeartbeat(name={self.name!r}, host={self.host!r})"


# --- Alerts and notifications (issue 7) -------------------------------------------------


class AlertState(Base):
    """Where one rule stands for one tag set: ok, pending, firing or resolved.

    `state_key` is the series key of the tag set ("" for whole-plugin rules); `since` is
    when the current state began (pending → firing waits for the rule's `for` from it).
    """

    __tablename__ = "alert_states"
    __table_args__ = (PrimaryKeyConstraint("alert_id", "state_key"),)

    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    state_key: Mapped[str] = mapped_column(String(32))
    tags: Mapped[dict[str, Any] | None]
    state: Mapped[str] = mapped_column(String(10))
    since: Mapped[datetime]
    value: Mapped[float | None]
    evaluated_at: Mapped[datetime]
    #: The last notification sent for this firing (drives the repeat interval).
    notified_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"AlertState({self.alert_id!r}, {self.state_key!r}, {self.state!r})"


class Notification(Base):
    """The outbox: one message to one channel, kept until sent, with its attempts.

    `status` is pending → sending → sent; a failed attempt returns it to pending with
    `attempts` and `last_error` updated, so a channel that is down delays a message but
    never loses it.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_channel_status", "channel", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    channel: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The notification whose message carried this one (grouping), or its own id.
    sent_with: Mapped[uuid.UUID | None]
    sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"Notification({self.channel!r}, {self.status!r}, attempts={self.attempts})"


class AlertSilence(Base):
    """A mute: no notifications for one rule (every rule when alert_id is NULL) in [start, end)."""

    __tablename__ = "alert_silences"
    __table_args__ = (Index("ix_alert_silences_ends_at", "ends_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[CreatedAt]

    def __repr__(self) -> str:
        return f"AlertSilence({self.alert_id!r}, {self.starts_at!r} to {self.ends_at!r})"


# ── Data lifecycle (issue 6): rollup watermarks and buckets to recompute ─────────────────


class RollupWatermark(Base):
    """How far one rollup table is complete: every bucket before `watermark` is rolled up.

    One row per rollup ('hourly', 'daily'), created by the migration so the rollup job can
    lock it (`SELECT … FOR UPDATE`): that lock is what makes two concurrent runs safe.
    """

    __tablename__ = "rollup_watermarks"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    watermark: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"RollupWatermark({self.name!r}, {self.watermark!r})"


class RollupStale(Base):
    """A closed bucket that received samples after it closed, so its rollup must be redone.

    Written by a database trigger on `plugin_metrics` (see unity_core/lifecycle/triggers.py)
    for hourly buckets, and by the hourly job for the daily buckets it changed.
    """

    __tablename__ = "rollup_stale"
    __table_args__ = (PrimaryKeyConstraint("rollup", "bucket"),)

    rollup: Mapped[str] = mapped_column(String(16))
    bucket: Mapped[datetime]

    def __repr__(self) -> str:
        return f"RollupStale({self.rollup!r}, {self.bucket.isoformat()})"
