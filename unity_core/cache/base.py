"""The cache's keys, its stored shapes, and the logic shared by every backend that stores text."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from unity_core.config.settings import CacheTTL
from unity_core.errors import CacheUnavailable
from unity_core.storage.batch import MetricRow

log = logging.getLogger("unity.cache")

#: The design's keys (docs: "Cache Keys Pattern").
DASHBOARD_KEY = "unity:dashboard:summary"
#: Series kept per plugin under its latest key; the oldest go first beyond this.
MAX_LATEST_SERIES = 5000

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def latest_key(plugin_id: str) -> str:
    return f"unity:plugin:{plugin_id}:latest"


def status_key(plugin_id: str) -> str:
    return f"unity:plugin:{plugin_id}:status"


def latest_entry(row: MetricRow) -> dict[str, Any]:
    """A row as the latest key stores it. Times are fixed-width UTC ISO strings, so they sort."""
    return {
        "metric_name": row.metric_name,
        "time": row.time.isoformat(timespec="microseconds"),
        "value": row.value,
        "numeric_value": row.numeric_value,
        "tags": row.tags,
    }


def merge_latest(
    stored: Mapping[str, Any] | None, fresh: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """`stored` updated with the `fresh` entries (series_key -> entry) that are not older."""
    merged: dict[str, dict[str, Any]] = {}
    if stored:
        merged.update((k, v) for k, v in stored.items() if isinstance(v, dict))
    for series, entry in fresh.items():
        old = merged.get(series)
        if old is None or str(old.get("time", "")) <= entry["time"]:
            merged[series] = entry
    if len(merged) > MAX_LATEST_SERIES:
        newest = sorted(merged.items(), key=lambda kv: str(kv[1].get("time", "")), reverse=True)
        merged = dict(newest[:MAX_LATEST_SERIES])
    return merged


def loads(text: str | bytes | None) -> Any:
    """Parsed JSON, or None for a miss or for text that is not JSON (treated as a miss)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        log.debug("ignoring a cache value that is not JSON")
        return None


class TextCache:
    """The Cache contract over two primitives a backend provides: read many keys, write many.

    The primitives raise CacheUnavailable when the backend cannot be reached; every public
    method turns that into a miss or a no-op, so callers never see a cache error.
    """

    def __init__(self, ttl: CacheTTL | None = None) -> None:
        self.ttl = ttl or CacheTTL()

    # Primitives -----------------------------------------------------------------------

    def _get_many(self, keys: Sequence[str]) -> list[str | None]:
        raise NotImplementedError

    def _write(self, sets: Sequence[tuple[str, str, int | None]], deletes: Sequence[str]) -> None:
        """Set each (key, text, ttl seconds or None for no expiry), then delete `deletes`."""
        raise NotImplementedError

    # The contract ---------------------------------------------------------------------

    def get_json(self, key: str) -> Any:
        try:
            return loads(self._get_many([key])[0])
        except CacheUnavailable:
            return None

    def get_text(self, key: str) -> str | None:
        """The stored text itself (None on a miss or an outage): for callers that can tell
        an unchanged value by its text and skip parsing it."""
        try:
            return self._get_many([key])[0]
        except CacheUnavailable:
            return None

    def set_json(self, key: str, value: Any, ttl: int | None) -> None:
        try:
            self._write([(key, _encoder.encode(value), ttl)], [])
        except CacheUnavailable:
            pass

    def delete(self, *keys: str) -> None:
        if keys:
            try:
                self._write([], keys)
            except CacheUnavailable:
                pass

    def get_latest(self, plugin_id: str) -> dict[str, Any] | None:
        found = self.get_json(latest_key(plugin_id))
        return found if isinstance(found, dict) else None

    def get_status(self, plugin_id: str) -> dict[str, Any] | None:
        found = self.get_json(status_key(plugin_id))
        return found if isinstance(found, dict) else None

    def record_write(
        self,
        latest: Mapping[str, Mapping[str, dict[str, Any]]],
        statuses: Mapping[str, dict[str, Any] | None],
    ) -> None:
        """After a committed write: merge the newest samples, set (or drop, for None) statuses,
        and invalidate the dashboard summary. Two round trips whatever the number of plugins."""
        try:
            keys = [latest_key(plugin_id) for plugin_id in latest]
            stored = self._get_many(keys) if keys else []
            sets: list[tuple[str, str, int | None]] = []
            for key, fresh, text in zip(keys, latest.values(), stored, strict=True):
                merged = merge_latest(loads(text), fresh)
                sets.append((key, _encoder.encode(merged), self.ttl.latest))
            deletes = [DASHBOARD_KEY]
            for plugin_id, status in statuses.items():
                if status is None:
                    deletes.append(status_key(plugin_id))
                else:
                    sets.append((status_key(plugin_id), _encoder.encode(status), self.ttl.status))
            self._write(sets, deletes)
        except CacheUnavailable:
            pass

    def close(self) -> None:
        """Release connections; the cache stays usable (it reconnects on demand)."""
