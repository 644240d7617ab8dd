"""Celery settings computed from Unity's configuration: lowercase names only, read at import.

`unity_workers.celery` loads this module with `config_from_object`; it honours
UNITY_CONFIG (and every UNITY_* override) through `unity_core.config.load_settings()`.
Importing it reads the configuration and, for the embedded broker, creates its folders;
nothing else. Why each value is what it is: RELIABILITY.md §2.2 (at-least-once on Redis).

Settings that start with `unity_` are Unity's own, read by unity_workers:

- unity_batch_size / unity_batch_timeout: persist batching (collection.batch_size counts
  metric rows per database write; batch_timeout flushes a partial batch).
- unity_retry_backoff_max: the cap on every countdown Unity sets (collect retries, persist
  retries); kept under the visibility timeout, see the check at the bottom.
- unity_persist_max_attempts / unity_persist_retry_delay: persist retries while the database
  is unavailable, before the outcome moves to the dead-letter store.
- unity_outcome_stream: on a Redis broker, hand outcomes over on the stream unity:outcomes.
- unity_persist_writers: writer threads of the persist worker's stream reader (default: its -c).
- unity_time_limit_grace: seconds between a plugin's own deadline and the task's soft limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unity_core.config import load_settings
from unity_core.errors import ConfigError

_settings = load_settings()
_vt = int(_settings.broker.visibility_timeout)
_url = _settings.broker.url
if _url and _url.lower().startswith("valkey"):
    # kombu has no valkey:// transport; Valkey speaks the Redis protocol (RELIABILITY.md 1.13).
    _url = "redis" + _url[len("valkey") :]

# The embedded broker (no server): kombu's filesystem transport, a file per message.
_scheme = (_url or "filesystem").split(":", 1)[0]
unity_embedded_broker = _scheme == "filesystem"
unity_redis_broker = _scheme in ("redis", "rediss", "sentinel")

# "localhost" only silences kombu's "No hostname was supplied" warning; the transport ignores it.
broker_url = "filesystem://localhost//" if _url is None else _url
broker_transport_options: dict[str, Any] = {"visibility_timeout": _vt}
if unity_embedded_broker:
    _queue = Path(_settings.data_dir) / "broker" / "queue"
    _processed = _queue / "processed"
    _control = Path(_settings.data_dir) / "broker" / "control"
    for _folder in (_queue, _processed, _control):
        _folder.mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport, writing each message whole before a reader can see it.
    broker_transport = "unity_workers.embedded_broker:Transport"
    broker_transport_options.update(
        data_folder_in=str(_queue),
        data_folder_out=str(_queue),
        # store_processed: a consumer claims a message by renaming it into this folder,
        # which is atomic only on the same filesystem (the default, /tmp, may not be);
        # unity.maintenance prunes the folder.
        store_processed=True,
        processed_folder=str(_processed),
        control_folder=str(_control),
        polling_interval=0.2,
    )
elif unity_redis_broker:
    broker_transport_options.update(
        # kombu >= 5.7: re-queue unacked messages of a dead worker about every VT/10 s,
        # not every ~100 s, so recovery time is the visibility timeout, not more.
        unacked_restore_interval=max(1, min(30, _vt // 10)),
        unacked_restore_throttle=1,
        # Bound reads on half-open sockets (RELIABILITY.md 1.7).
        socket_timeout=30,
        socket_connect_timeout=10,
        socket_keepalive=True,
        health_check_interval=25,
        retry_on_timeout=True,
    )
    if _scheme == "sentinel":
        # kombu asks the Sentinels listed in the URL for this master (RELIABILITY.md 1.13).
        broker_transport_options["master_name"] = _settings.broker.sentinel_master
result_backend_transport_options: dict[str, Any] = {"visibility_timeout": _vt}
# Results are kept only for tasks sent with ignore_result=False (the API's ad-hoc collect,
# polled at GET /api/v1/tasks/{id}); everything else ignores them (task_ignore_result).
if unity_embedded_broker:
    _results = Path(_settings.data_dir) / "broker" / "results"
    _results.mkdir(parents=True, exist_ok=True)
    result_backend = f"file://{_results}"
elif unity_redis_broker:
    result_backend = broker_url
    if _scheme == "sentinel":
        result_backend_transport_options["master_name"] = _settings.broker.sentinel_master
result_expires = 86400
visibility_timeout = _vt
broker_connection_retry_on_startup = True
broker_connection_retry = True
broker_connection_max_retries = None

# JSON only: pickle would run code from anyone who can write to the broker.
task_serializer = "json"
result_serializer = "json"
event_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

# At-least-once: ack after the task, re-queue when the pool child dies, one reserved task
# per process (the persist worker raises its own prefetch on the command line).
task_acks_late = True
task_reject_on_worker_lost = True
task_acks_on_failure_or_timeout = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
worker_eta_task_limit = 1000
task_ignore_result = True
task_publish_retry = True
task_publish_retry_policy = {
    "max_retries": 10,
    "interval_start": 0,
    "interval_step": 1,
    "interval_max": 10,
}

# Task events (what Flower shows) are switched on by Flower itself: `unity flower` keeps them
# on in every worker it sees (Flower's enable_events, every 5 s), and they stay on until the
# worker restarts; `celery -A unity_workers control enable_events` does the same by hand.
# Off by default because publishing received/started/succeeded for every collection costs
# a worker's main process about a third of its CPU (bench/pipeline.py: K=10 collections/s
# 1.3x with them off) — paid only while someone watches. Plain Celery's default is off too.
worker_send_task_events = False
# "task-sent" would be published by every sender (beat, API, collect tasks sending persist)
# whether or not anyone listens; Flower shows a task from "received" on.
task_send_sent_event = False

enable_utc = True
timezone = "UTC"

# Default time limits for a collect task whose sender passed none (`celery call`); senders
# pass per-plugin limits from unity_workers.tasks.collect_options(instance).
unity_time_limit_grace = 2
# A collection whose pool process died this many times on redelivery is recorded as failed
# instead of run again (unity_workers/crashloop.py): a plugin that crashes its process must
# not take the worker down in a loop.
unity_max_redeliveries = 3
task_soft_time_limit = _settings.collection.collection_timeout + unity_time_limit_grace
task_time_limit = task_soft_time_limit + 10
# Pool processes are recycled to shed what plugins leak (memory, threads abandoned at their
# deadline): after this many tasks, or sooner once one holds this much memory (KiB). 500 tasks
# meant a fork every second per process at 450 collections/s (bench/pipeline.py: 15 % of the
# K=10 throughput); memory is the better signal of a leak.
worker_max_tasks_per_child = 10000
worker_max_memory_per_child = 262144

task_routes = {
    "unity.collect": {"queue": "collect"},
    "unity.persist": {"queue": "persist"},
    "unity.*": {"queue": "maintenance"},
}
task_default_queue = "collect"
worker_hijack_root_logger = False

beat_scheduler = "unity_workers.scheduler:UnityScheduler"
beat_max_loop_interval = 5

unity_batch_size = _settings.collection.batch_size
unity_batch_timeout = float(_settings.collection.batch_timeout)
unity_retry_backoff_max = min(300, _vt // 4)
unity_persist_max_attempts = 12
unity_persist_retry_delay = 2.0
# On a Redis broker, outcomes go from collect to persist on the stream unity:outcomes
# (unity_workers/outcome_stream.py) rather than as one Celery message each; False keeps the
# Celery-message path on Redis too (the only one on the embedded broker).
unity_outcome_stream = True
# Writer threads of the outcome stream's reader; None: as many as the persist worker's -c.
unity_persist_writers: int | None = None

# A countdown or a running task that outlives the visibility timeout is delivered again
# while it still waits or runs (celery#2599); refuse such a configuration at start-up.
if _vt <= task_time_limit + unity_retry_backoff_max:
    raise ConfigError(
        f"broker.visibility_timeout ({_vt} s) must exceed the hard time limit "
        f"({task_time_limit} s = collection.collection_timeout "
        f"{_settings.collection.collection_timeout} s + {unity_time_limit_grace} s grace + 10 s) "
        f"plus the longest retry backoff ({unity_retry_backoff_max} s = visibility_timeout / 4); "
        "raise broker.visibility_timeout or lower collection.collection_timeout",
        str(_settings.source) if _settings.source else "configuration",
    )
