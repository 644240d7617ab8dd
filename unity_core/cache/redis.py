"""RedisCache: the design's cache keys on Redis or Valkey, failing soft when it is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from unity_core.cache.base import TextCache, log
from unity_core.config.display import mask_url
from unity_core.config.settings import CacheTTL
from unity_core.errors import CacheUnavailable

T = TypeVar("T")

#: Short enough that a dead cache never stalls a write noticeably.
SOCKET_TIMEOUT = 0.5
#: After a failure the cache is skipped (all misses, no network) for this long.
RETRY_AFTER = 5.0


class RedisCache(TextCache):
    """The Cache contract on one Redis/Valkey server.

    Any Redis error becomes CacheUnavailable inside and a miss or no-op outside. The first
    failure of an outage is logged as a warning (once), and for `retry_after` seconds
    the server is not tried at all, so an outage costs callers nothing; recovery is
    logged too. No client-side retries: one attempt with short socket timeouts.
    """

    def __init__(
        self,
        url: str,
        ttl: CacheTTL | None = None,
        *,
        socket_timeout: float = SOCKET_TIMEOUT,
        retry_after: float = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl)
        self.url = url
        self._retry_after = retry_after
        self._clock = clock
        self._down_until = 0.0
        self._outage = False
        self._lock = threading.Lock()
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def _get_many(self, keys: Sequence[str]) -> list[str | None]:
        found: Any = self._guard(lambda: self._client.mget(list(keys)))
        return list(found)

    def _write(self, sets: Sequence[tuple[str, str, int | None]], deletes: Sequence[str]) -> None:
        def write() -> None:
            pipe = self._client.pipeline(transaction=False)
            for key, text, ttl in sets:
                pipe.set(key, text, ex=ttl if ttl and ttl > 0 else None)
            if deletes:
                pipe.delete(*deletes)
            pipe.execute()

        self._guard(write)

    def _guard(self, call: Callable[[], T]) -> T:
        if self._down_until and self._clock() < self._down_until:
            raise CacheUnavailable(f"cache at {mask_url(self.url)} is marked down")
        try:
            result = call()
        except redis.RedisError as error:
            with self._lock:
                self._down_until = self._clock() + self._retry_after
                first = not self._outage
                self._outage = True
            if first:
                log.warning(
                    "cache at %s unavailable (%s: %s); carrying on without it",
                    mask_url(self.url),
                    type(error).__name__,
                    error,
                )
            raise CacheUnavailable(str(error)) from error
        if self._outage:
            with self._lock:
                recovered, self._outage, self._down_until = self._outage, False, 0.0
            if recovered:
                log.warning("cache at %s is reachable again", mask_url(self.url))
        return result

    def close(self) -> None:
        self._client.close()
