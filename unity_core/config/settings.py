"""The immutable settings object every part of Unity receives; built only by the loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from unity_core.config import defaults


@dataclass(frozen=True)
class TimeseriesSettings:
    """TimescaleDB options, used only when the extension is available on PostgreSQL."""

    enabled: bool = defaults.TIMESERIES_ENABLED
    compression: bool = defaults.TIMESERIES_COMPRESSION
    compress_after: timedelta = defaults.TIMESERIES_COMPRESS_AFTER
    chunk_interval: timedelta = defaults.TIMESERIES_CHUNK_INTERVAL


@dataclass(frozen=True)
class DatabaseSettings:
    """Where samples live; `url` is always a complete SQLAlchemy URL after loading."""

    url: str
    pool_size: int = defaults.POOL_SIZE
    max_overflow: int = defaults.MAX_OVERFLOW
    pool_timeout: float = defaults.POOL_TIMEOUT
    pool_recycle: int = defaults.POOL_RECYCLE
    connect_timeout: int = defaults.CONNECT_TIMEOUT
    partitions_ahead_days: int = defaults.PARTITIONS_AHEAD_DAYS
    timeseries: TimeseriesSettings = field(default_factory=TimeseriesSettings)


@dataclass(frozen=True)
class CacheTTL:
    latest: int = defaults.CACHE_TTL_LATEST
    dashboard: int = defaults.CACHE_TTL_DASHBOARD
    status: int = defaults.CACHE_TTL_STATUS
    query: int = defaults.CACHE_TTL_QUERY


@dataclass(frozen=True)
class CacheSettings:
    """The optional Redis/Valkey cache; `url` is None when the cache is off."""

    enabled: bool = False
    type: str = defaults.CACHE_TYPE
    url: str | None = None
    ttl: CacheTTL = field(default_factory=CacheTTL)


@dataclass(frozen=True)
class BrokerSettings:
    """The Celery broker; None means the embedded, serverless default under data_dir."""

    url: str | None = defaults.BROKER_URL
    visibility_timeout: int = defaults.BROKER_VISIBILITY_TIMEOUT
    #: The Sentinel master name; required with sentinel:// URLs.
    sentinel_master: str | None = None

    @property
    def redis_url(self) -> str | None:
        """The URL when the broker is one Redis server Unity can talk to directly (redis://,
        rediss://; the loader already turned valkey:// into those), else None: the embedded
        broker, Sentinel, SQLAlchemy."""
        url = self.url
        return url if url is not None and url.startswith(("redis://", "rediss://")) else None


@dataclass(frozen=True)
class CollectionSettings:
    default_interval: int = defaults.DEFAULT_INTERVAL
    batch_size: int = defaults.BATCH_SIZE
    batch_timeout: float = defaults.BATCH_TIMEOUT
    retry_count: int = defaults.RETRY_COUNT
    retry_delay: int = defaults.RETRY_DELAY
    retry_backoff: float = defaults.RETRY_BACKOFF
    max_concurrent: int = defaults.MAX_CONCURRENT
    collection_timeout: int = defaults.COLLECTION_TIMEOUT
    pause_after: int = defaults.PAUSE_AFTER
    #: A folder of extra plugins (one sub-folder per plugin) besides the installed ones.
    plugins_dir: Path | None = None
    #: Tags every metric gets; `host` defaults to this machine's name at collection time.
    host: str | None = None
    environment: str = defaults.ENVIRONMENT
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetentionSettings:
    raw_metrics: timedelta = defaults.RETENTION_RAW_METRICS
    hourly_aggregates: timedelta = defaults.RETENTION_HOURLY_AGGREGATES
    daily_aggregates: timedelta = defaults.RETENTION_DAILY_AGGREGATES
    alert_history: timedelta = defaults.RETENTION_ALERT_HISTORY


@dataclass(frozen=True)
class ApiSettings:
    bind: str = defaults.API_BIND
    workers: int = defaults.API_WORKERS
    threads: int = defaults.API_THREADS
    rate_limit: str = defaults.API_RATE_LIMIT
    max_request_bytes: int = defaults.API_MAX_REQUEST_BYTES
    metrics_public: bool = defaults.API_METRICS_PUBLIC
    #: Origins allowed by CORS; empty means CORS is off.
    cors_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlowerSettings:
    """`unity flower`: where it listens and its basic-auth credentials (both or neither)."""

    address: str = defaults.FLOWER_ADDRESS
    port: int = defaults.FLOWER_PORT
    user: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class NotificationSettings:
    """Alert notifications: channels (validated dicts, `name` and `type` first) and timing."""

    channels: tuple[dict[str, Any], ...] = ()
    repeat_interval: int = defaults.NOTIFY_REPEAT_INTERVAL
    group_wait: float = defaults.NOTIFY_GROUP_WAIT
    evaluate_interval: int = defaults.ALERTS_EVALUATE_INTERVAL
    #: Windows without notifications: {name, start, end, timezone} as written in the file.
    maintenance: tuple[dict[str, Any], ...] = ()

    def channel(self, name: str) -> dict[str, Any] | None:
        """The channel called `name`, or None."""
        return next((c for c in self.channels if c["name"] == name), None)


@dataclass(frozen=True)
class Settings:
    """Everything Unity reads from its configuration file and UNITY_* variables."""

    data_dir: Path
    database: DatabaseSettings
    source: Path | None = None
    cache: CacheSettings = field(default_factory=CacheSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    collection: CollectionSettings = field(default_factory=CollectionSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    flower: FlowerSettings = field(default_factory=FlowerSettings)
    plugins: tuple[dict[str, Any], ...] = ()
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
