"""data_format: unity — Unity metric JSON: one object per metric, as a list or JSON lines.

    {"name": "backup_age", "value": 3600, "unit": "seconds", "tags": {"job": "nightly"}}

Keys: name (or metric_name), value (number, bool, text or an object), and optionally type
(gauge/counter), unit, tags (object of strings) and time (or timestamp: ISO 8601 or Unix
seconds). The whole output may be one object, a list of objects, {"metrics": [...]}, or
one object per line. The design's envelope keys (plugin_id, plugin_name, summary,
metadata) are accepted and ignored, so its Metric JSON examples parse as they are.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from unity_plugins.exec.parsers.result import Parsed, ParseError

from unity_core.plugins.sdk import Metric, MetricType

__all__ = ["parse"]

_KEYS = {"name", "metric_name", "value", "type", "unit", "tags", "time", "timestamp"}
_IGNORED = {"plugin_id", "plugin_name", "summary", "metadata"}


def parse(text: str) -> Parsed:
    """Every metric object in `text`; ParseError when it is not JSON (nor JSON lines)."""
    parsed = Parsed()
    for number, item in enumerate(_items(text), start=1):
        try:
            parsed.metrics.append(_metric(item))
        except ValueError as error:
            parsed.errors.append(f"metric {number}: {error}")
    return parsed


def _items(text: str) -> list[Any]:
    stripped = text.strip()
    if not stripped:
        return []
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as whole:
        # Not one document: try one JSON value per line.
        try:
            return [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise ParseError(f"not JSON: {whole}") from None
    if isinstance(document, dict) and isinstance(document.get("metrics"), list):
        return list(document["metrics"])
    return document if isinstance(document, list) else [document]


def _metric(item: Any) -> Metric:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object, got {json.dumps(item)[:80]}")
    unknown = sorted(set(item) - _KEYS - _IGNORED)
    if unknown:
        raise ValueError(f"unknown keys {unknown}; known: {sorted(_KEYS)}")
    name = item.get("name", item.get("metric_name"))
    if not isinstance(name, str) or not name:
        raise ValueError("no `name`")
    if "value" not in item:
        raise ValueError(f"{name}: no `value`")
    kind = item.get("type", "gauge")
    if kind not in ("gauge", "counter"):
        raise ValueError(f"{name}: type {kind!r} is neither gauge nor counter")
    tags = item.get("tags") or {}
    if not isinstance(tags, dict):
        raise ValueError(f"{name}: tags must be an object")
    unit = item.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise ValueError(f"{name}: unit must be text")
    when = _time(name, item.get("time", item.get("timestamp")))
    return Metric(
        name, item["value"], {str(k): str(v) for k, v in tags.items()}, when, MetricType(kind), unit
    )


def _time(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: time {value!r} is neither ISO 8601 nor Unix seconds")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: time {value!r} is not ISO 8601") from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    raise ValueError(f"{name}: time {value!r} is neither ISO 8601 nor Unix seconds")
