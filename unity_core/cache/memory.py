"""MemoryCache: the in-process twin of RedisCache, with the same contract and TTLs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from unity_core.cache.base import TextCache
from unity_core.config.settings import CacheTTL


class MemoryCache(TextCache):
    """A dict of JSON texts with expiry times; for tests, dry runs and single-process use.

    Values are stored as text, so callers get copies, exactly as from Redis. `clock`
    (seconds, monotonic) is injectable so tests can expire keys without sleeping.
    """

    def __init__(
        self, ttl: CacheTTL | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(ttl)
        self._clock = clock
        self._data: dict[str, tuple[float | None, str]] = {}
        self._lock = threading.Lock()

    def _get_many(self, keys: Sequence[str]) -> list[str | None]:
        now = self._clock()
        found: list[str | None] = []
        with self._lock:
            for key in keys:
                entry = self._data.get(key)
                if entry is not None and entry[0] is not None and entry[0] <= now:
                    del self._data[key]
                    entry = None
                found.append(None if entry is None else entry[1])
        return found

    def _write(self, sets: Sequence[tuple[str, str, int | None]], deletes: Sequence[str]) -> None:
        now = self._clock()
        with self._lock:
            for key, text, ttl in sets:
                self._data[key] = (now + ttl if ttl else None, text)
            for key in deletes:
                self._data.pop(key, None)

    def ttl_left(self, key: str) -> float | None:
        """Seconds until `key` expires; None if it is absent or never expires."""
        entry = self._data.get(key)
        if entry is None or entry[0] is None:
            return None
        return entry[0] - self._clock()
