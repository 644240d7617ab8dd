"""Crash-loop guard: a collection whose worker process keeps dying is recorded, not re-run.

With `task_reject_on_worker_lost` a task whose pool process dies goes back to the queue, which
is right once (the process was OOM-killed, the host rebooted) and wrong forever: a plugin that
segfaults or calls os._exit() would take a pool process down every few seconds. Each
*redelivered* start of a task is counted, keyed by task id, in the broker's Redis (shared by
every host) or, on the embedded broker, in a file under the data directory; past the limit the
collection is recorded as failed instead of run. First deliveries — nearly all of them — cost
nothing: the counter is only touched for messages the broker flags as redelivered.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from unity_core.config import BrokerSettings

#: How long a task's count is kept: far longer than any redelivery chain takes.
COUNT_TTL_SECONDS = 24 * 3600
KEY_PREFIX = "unity:redeliveries:"


class StartCounter(Protocol):
    def count(self, task_id: str) -> int:
        """Record one more redelivered start of `task_id` and return how many there were."""


class RedisStartCounter:
    """Counts in the broker's Redis, so a task bouncing between hosts is counted once."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)

    def count(self, task_id: str) -> int:
        key = KEY_PREFIX + task_id
        pipe = self.client.pipeline()
        pipe.incr(key)
        pipe.expire(key, COUNT_TTL_SECONDS)
        started, _ = pipe.execute()
        return int(started)


class FileStartCounter:
    """Counts in <data_dir>/redeliveries: the embedded broker serves one host only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def count(self, task_id: str) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c for c in task_id if c.isalnum() or c == "-")[:64]
        # One byte appended per start: O_APPEND writes from several processes do not collide.
        fd = os.open(self.folder / safe, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)
        return (self.folder / safe).stat().st_size


def counter_for(broker: BrokerSettings, data_dir: Path) -> StartCounter:
    url = broker.redis_url
    return RedisStartCounter(url) if url else FileStartCounter(Path(data_dir) / "redeliveries")


def redelivered(request: Any) -> bool:
    """Whether the broker flagged this delivery as a repeat (Redis restore, requeue)."""
    info = getattr(request, "delivery_info", None) or {}
    return bool(info.get("redelivered"))
