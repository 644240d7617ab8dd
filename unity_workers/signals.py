"""Worker lifecycle hooks: per-process resources after fork, flush on stop, broker warnings.

- worker_init: plugins are discovered once, before the pool forks (broken ones reported).
- worker_process_init: a prefork child drops the connection pools it inherited; its own
  engine, cache and DLQ client are opened lazily on first use (resources.py).
- worker_process_shutdown: the child closes them.
- consumer step FlushOnStop (batching.py): buffered persist messages are written on stop.
- worker step StreamPersist (stream_persist.py): persist workers on Redis read the
  outcome stream.
- worker_ready: say clearly when the broker would lose queued work — a Redis without AOF
  or with an evicting maxmemory-policy, or the embedded filesystem broker (no redelivery
  after a crash).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_ready

from unity_workers import resources
from unity_workers.batching import FlushOnStop
from unity_workers.celery import app
from unity_workers.stream_persist import StreamPersist

logger = logging.getLogger("unity.workers")

app.steps["consumer"].add(FlushOnStop)
app.steps["worker"].add(StreamPersist)


@worker_init.connect
def _before_fork(**_: Any) -> None:
    # Discover plugins once in the main process; the pool children inherit the classes.
    try:
        found = resources.discovery()
    except Exception:
        logger.exception("plugin discovery failed")
        return
    for name, reason in sorted(getattr(found, "errors", {}).items()):
        logger.warning("plugin %s skipped: %s", name, reason)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    resources.reset()


@worker_process_shutdown.connect
def _before_exit(**_: Any) -> None:
    resources.close()


@worker_ready.connect
def _check_broker(**_: Any) -> None:
    for warning in broker_warnings(app.conf):
        logger.warning(warning)


def broker_warnings(conf: Any) -> list[str]:
    """What about the broker could lose queued work, one sentence each (empty: nothing)."""
    if conf.unity_embedded_broker:
        return [
            "broker: the embedded filesystem broker keeps queued messages on disk, but a "
            "message a worker has taken is lost if that worker crashes (kill -9, power loss): "
            "there is no redelivery. Use a Redis broker with AOF for production."
        ]
    if not conf.unity_redis_broker or str(conf.broker_url).startswith("sentinel"):
        return []
    return redis_durability_warnings(str(conf.broker_url))


def redis_durability_warnings(url: str) -> list[str]:
    """Warnings for a Redis that loses data on restart (no AOF) or under memory pressure."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        appendonly = _config_get(client, "appendonly")
        policy = _config_get(client, "maxmemory-policy")
    except redis.exceptions.ResponseError as error:
        # ACL users usually may not run CONFIG; that is good practice, not a fault.
        return [
            f"broker: cannot check Redis persistence (CONFIG GET refused: {error}); make sure "
            "the broker runs with appendonly yes and maxmemory-policy noeviction"
        ]
    except redis.exceptions.RedisError as error:
        return [f"broker: cannot check Redis persistence: {error}"]
    finally:
        client.close()
    warnings = []
    if appendonly != "yes":
        warnings.append(
            "broker: Redis runs without AOF (appendonly no): a Redis restart loses every "
            "queued and unacknowledged message; set appendonly yes, appendfsync everysec"
        )
    if policy is not None and policy != "noeviction":
        warnings.append(
            f"broker: Redis maxmemory-policy is {policy}: under memory pressure it may evict "
            "queued messages and kombu's bindings; set maxmemory-policy noeviction"
        )
    return warnings


def _config_get(client: Any, name: str) -> str | None:
    value = client.config_get(name).get(name)
    if isinstance(value, bytes):
        value = value.decode()
    return None if value is None else str(value)
