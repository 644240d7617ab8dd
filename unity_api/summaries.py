"""The status overview and the dashboard summary, and how they are cached.

Both live in one cache entry, the design's `unity:dashboard:summary`, as
`{"status": {"at": epoch, "text": …}, "dashboard": {"at": epoch, "text": …}}` (the
responses as JSON text, so a hit is returned without re-encoding): the workers
delete that key after every committed write, so new data invalidates both, and each part
is trusted for its own TTL (status 30 s, dashboard 60 s by default).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from unity_api.jsonresponse import iso
from unity_core.cache import DASHBOARD_KEY, Cache
from unity_core.config.settings import CacheTTL
from unity_core.status import PluginHealth, plugin_health
from unity_core.storage import latest
from unity_core.storage.models import MetricSeries
from unity_core.storage.queries.firing import firing_alerts

#: Most key figures the dashboard carries.
MAX_FIGURES = 100


def cached_part(cache: Cache, part: str, ttl: int) -> str | None:
    """The part's JSON text if it is younger than `ttl` seconds."""
    entry = cache.get_json(DASHBOARD_KEY)
    if not isinstance(entry, dict):
        return None
    found = entry.get(part)
    if isinstance(found, dict) and time.time() - float(found.get("at", 0)) < ttl:
        text = found.get("text")
        return text if isinstance(text, str) else None
    return None


def store_part(cache: Cache, ttl: CacheTTL, part: str, text: str) -> None:
    """Keep one part (as JSON text, handed back as is) beside the other's current value."""
    entry = cache.get_json(DASHBOARD_KEY)
    entry = entry if isinstance(entry, dict) else {}
    entry[part] = {"at": time.time(), "text": text}
    cache.set_json(DASHBOARD_KEY, entry, max(ttl.status, ttl.dashboard))


def _counts(health: list[PluginHealth]) -> dict[str, Any]:
    return {
        "total": len(health),
        "enabled": sum(1 for h in health if h.enabled),
        "by_health": dict(sorted(Counter(h.health for h in health).items())),
    }


def status_summary(session: Session) -> dict[str, Any]:
    health = plugin_health(session)
    return {
        "generated_at": iso(datetime.now(UTC)),
        "counts": _counts(health),
        "plugins": [
            {
                "plugin_id": h.plugin_id,
                "enabled": h.enabled,
                "health": h.health,
                "last_success": iso(h.last_success),
                "consecutive_failures": h.consecutive_failures,
                "last_error": h.last_error,
            }
            for h in health
        ],
    }


def dashboard_summary(session: Session) -> dict[str, Any]:
    health = plugin_health(session)
    samples = latest(session)
    figures: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for sample in samples:
        key = (sample.plugin_id, sample.metric_name)
        if key in seen or len(figures) >= MAX_FIGURES:
            continue
        seen.add(key)
        figures.append(
            {
                "plugin_id": sample.plugin_id,
                "metric_name": sample.metric_name,
                "tags": dict(sample.tags),
                "time": iso(sample.time),
                "value": sample.numeric_value,
            }
        )
    newest = max((s.time for s in samples), default=None)
    series = session.scalar(select(func.count()).select_from(MetricSeries)) or 0
    return {
        "generated_at": iso(datetime.now(UTC)),
        "counts": _counts(health),
        "series": int(series),
        "newest_sample_at": iso(newest),
        "key_figures": figures,
        "firing_alerts": [
            {
                "id": str(a.id),
                "name": a.name,
                "severity": a.severity,
                "plugin_id": a.plugin_id,
                "since": iso(a.since),
            }
            for a in firing_alerts(session)
        ],
    }
