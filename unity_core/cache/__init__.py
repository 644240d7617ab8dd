"""The optional cache in front of the database: one Cache protocol, a factory, three backends."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from unity_core.cache.base import (
    DASHBOARD_KEY,
    TextCache,
    latest_entry,
    latest_key,
    merge_latest,
    status_key,
)
from unity_core.cache.memory import MemoryCache
from unity_core.cache.null import NullCache
from unity_core.config.settings import Settings

if TYPE_CHECKING:
    from unity_core.cache.redis import RedisCache

log = logging.getLogger("unity.cache")


@runtime_checkable
class Cache(Protocol):
    """What Unity asks of a cache. No method raises: an unreachable cache reads as misses.

    `get_latest(plugin_id)` maps series_key -> {metric_name, time, value, numeric_value,
    tags} (the newest sample of each series); `get_status(plugin_id)` is the plugin_status
    row as JSON. `record_write` is called after a committed write (see after_commit).
    """

    def get_json(self, key: str) -> Any: ...

    def get_text(self, key: str) -> str | None: ...

    def set_json(self, key: str, value: Any, ttl: int | None) -> None: ...

    def delete(self, *keys: str) -> None: ...

    def get_latest(self, plugin_id: str) -> dict[str, Any] | None: ...

    def get_status(self, plugin_id: str) -> dict[str, Any] | None: ...

    def record_write(
        self,
        latest: Mapping[str, Mapping[str, dict[str, Any]]],
        statuses: Mapping[str, dict[str, Any] | None],
    ) -> None: ...

    def close(self) -> None: ...


def make_cache(settings: Settings) -> Cache:
    """RedisCache for a configured Redis/Valkey cache, else NullCache. Does not connect."""
    config = settings.cache
    if not config.enabled or config.type == "none" or not config.url:
        return NullCache()
    try:
        from unity_core.cache.redis import RedisCache
    except ImportError:
        log.warning(
            "cache configured but the 'redis' package is not installed (pip install redis); "
            "running without a cache"
        )
        return NullCache()
    return RedisCache(config.url, config.ttl)


def __getattr__(name: str) -> Any:
    # RedisCache is imported on use so unity_core loads without the redis package.
    if name == "RedisCache":
        from unity_core.cache.redis import RedisCache

        return RedisCache
    raise AttributeError(name)


__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # contract and factory
    "Cache",
    "make_cache",
    # backends
    "RedisCache",
    "MemoryCache",
    "NullCache",
    "TextCache",
    # keys and stored shapes
    "DASHBOARD_KEY",
    "latest_key",
    "status_key",
    "latest_entry",
    "merge_latest",
]
