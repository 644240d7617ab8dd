"""NullCache: the cache when it is disabled, or the fallback when it cannot be built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class NullCache:
    """Every read misses and every write does nothing; nothing raises."""

    def get_json(self, key: str) -> Any:
        return None

    def get_text(self, key: str) -> str | None:
        return None

    def set_json(self, key: str, value: Any, ttl: int | None) -> None:
        return None

    def delete(self, *keys: str) -> None:
        return None

    def get_latest(self, plugin_id: str) -> dict[str, Any] | None:
        return None

    def get_status(self, plugin_id: str) -> dict[str, Any] | None:
        return None

    def record_write(
        self,
        latest: Mapping[str, Mapping[str, dict[str, Any]]],
        statuses: Mapping[str, dict[str, Any] | None],
    ) -> None:
        return None

    def close(self) -> None:
        return None
