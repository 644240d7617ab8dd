"""Every configuration default in one place, so the loader, the dataclasses and the docs agree."""

from __future__ import annotations

from datetime import timedelta

# The file read when neither --config nor $UNITY_CONFIG names one, if it exists.
CONFIG_FILE_NAME = "unity.yaml"

# The embedded default: every file Unity writes lives under data_dir, SQLite included.
DATA_DIR = "./data"
SQLITE_FILE_NAME = "unity.db"

# Database, host form.
DATABASE_TYPE = "sqlite"
DATABASE_NAME = "unity"
DATABASE_HOST = "localhost"
DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}

# Database pool; the values SQLAlchemy users usually tune first.
POOL_SIZE = 10
MAX_OVERFLOW = 20
POOL_TIMEOUT = 30.0
POOL_RECYCLE = 1800  # seconds; below MySQL's and most firewalls' idle cut-off
CONNECT_TIMEOUT = 10
PARTITIONS_AHEAD_DAYS = 3

# TimescaleDB (PostgreSQL only).
TIMESERIES_ENABLED = True
TIMESERIES_COMPRESSION = True
TIMESERIES_COMPRESS_AFTER = timedelta(days=7)
TIMESERIES_CHUNK_INTERVAL = timedelta(days=1)

# Cache (off unless configured): the design's TTLs, in seconds.
CACHE_TYPE = "none"
CACHE_HOST = "localhost"
CACHE_PORT = 6379
CACHE_DB = 0
CACHE_TTL_LATEST = 300
CACHE_TTL_DASHBOARD = 60
CACHE_TTL_STATUS = 30
CACHE_TTL_QUERY = 60

# Broker: None means the embedded, serverless transport under data_dir.
BROKER_URL: str | None = None
# Longer than the longest task, or Redis redelivers it while it still runs (RELIABILITY.md 1.4).
BROKER_VISIBILITY_TIMEOUT = 900

# Collection.
DEFAULT_INTERVAL = 60
BATCH_SIZE = 100
BATCH_TIMEOUT = 5.0
RETRY_COUNT = 3
RETRY_DELAY = 10
RETRY_BACKOFF = 2.0
MAX_CONCURRENT = 10
COLLECTION_TIMEOUT = 30
PAUSE_AFTER = 10

# Retention.
RETENTION_RAW_METRICS = timedelta(days=30)
RETENTION_HOURLY_AGGREGATES = timedelta(days=365)
RETENTION_DAILY_AGGREGATES = timedelta(days=5 * 365)
RETENTION_ALERT_HISTORY = timedelta(days=90)

# Flower (`unity flower`): loopback only unless credentials are set.
FLOWER_ADDRESS = "127.0.0.1"
FLOWER_PORT = 5555

# API.
API_BIND = "127.0.0.1:8080"
API_WORKERS = 2
API_THREADS = 1
#: Requests per token (or client address without one); flask-limiter syntax.
API_RATE_LIMIT = "600/minute"
#: Largest request body accepted, in bytes (413 beyond).
API_MAX_REQUEST_BYTES = 1_048_576
#: /metrics without a token (for Prometheus servers that cannot send one).
API_METRICS_PUBLIC = False

# Alerts and notifications (issue 7).
#: How often beat evaluates every rule (writes also trigger rules on their metrics).
ALERTS_EVALUATE_INTERVAL = 30
#: A still-firing alert is notified again after this many seconds.
NOTIFY_REPEAT_INTERVAL = 4 * 3600
#: Seconds a notification waits so that alerts of the same burst share one message.
NOTIFY_GROUP_WAIT = 0.5

# Plugin instances: framework keys filled in when a plugins[] entry leaves them out.
PLUGIN_ENABLED = True

#: The `environment` tag every metric carries unless configured otherwise.
ENVIRONMENT = "homelab"
