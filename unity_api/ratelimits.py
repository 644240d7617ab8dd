"""Rate-limit counts kept in Redis, sent there in small batches instead of once per request.

flask-limiter's Redis storage costs one round trip per request: a fifth of a cached request's
time (bench/api.py). This storage counts hits in the process and adds them to the shared
Redis counter every SYNC_EVERY hits or MAX_STALE seconds, whichever comes first, so limits
hold across gunicorn workers and API hosts while Redis sees a small fraction of the traffic.
The price is precision: a client may exceed its limit by up to SYNC_EVERY - 1 requests per
API process, and a window that just reset in Redis may be seen as full for up to MAX_STALE.
For a homelab API's per-token limits (hundreds per minute) neither matters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from limits.storage import RedisStorage

SCHEME_PREFIX = "unity+"
#: Hits counted in the process before they are added to Redis.
SYNC_EVERY = 16
#: Seconds after which the next hit refreshes the shared count whatever the local tally.
MAX_STALE = 0.25
#: Local windows kept at most (keys are per token or client address).
MAX_KEYS = 10_000


@dataclass
class _Window:
    shared: int
    unsynced: int
    synced_at: float


class BatchedRedisStorage(RedisStorage):
    """`unity+redis://…` (and rediss, redis+unix): RedisStorage with batched increments."""

    STORAGE_SCHEME = [SCHEME_PREFIX + scheme for scheme in ("redis", "rediss", "redis+unix")]

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(key)
            if (
                window is not None
                and window.unsynced + amount < SYNC_EVERY
                and now - window.synced_at < MAX_STALE
            ):
                window.unsynced += amount
                return window.shared + window.unsynced
            pending = amount + (window.unsynced if window is not None else 0)
            # Claimed here, so a concurrent request does not send the same hits again.
            if window is not None:
                window.unsynced = 0
        shared = int(super().incr(key, expiry, amount=pending))
        with self._lock:
            if len(self._windows) >= MAX_KEYS:
                self._windows.clear()
            self._windows[key] = _Window(shared=shared, unsynced=0, synced_at=now)
        return shared

    def reset(self) -> int | None:
        with self._lock:
            self._windows.clear()
        return super().reset()

    def clear(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)
        super().clear(key)
