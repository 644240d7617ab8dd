"""The storage layer's public surface: engines, writes, reads and alert rules.

Every function takes a Session and never commits; the caller owns the unit of work.
"""

from __future__ import annotations

from unity_core.errors import AlertNotFound
from unity_core.storage.alerts import (
    HistoryCursor,
    create_alert,
    delete_alert,
    get_alert,
    list_alerts,
    list_history,
    record_transition,
    update_alert,
)
from unity_core.storage.batch import MetricRow
from unity_core.storage.engine import (
    engine_for,
    make_engine,
    make_sessionmaker,
    translate_errors,
)
from unity_core.storage.models import Alert, AlertHistory
from unity_core.storage.queries import (
    Aggregate,
    Point,
    RangeResult,
    Resolution,
    Sample,
    SeriesPoints,
    latest,
    range_query,
)
from unity_core.storage.write import (
    ensure_plugin,
    get_status,
    register_plugin,
    upsert_status,
    write_batch,
)

__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # engine
    "engine_for",
    "make_engine",
    "make_sessionmaker",
    "translate_errors",
    # writes
    "write_batch",
    "ensure_plugin",
    "register_plugin",
    "upsert_status",
    "get_status",
    "MetricRow",
    # queries
    "latest",
    "range_query",
    "Aggregate",
    "Point",
    "RangeResult",
    "Resolution",
    "Sample",
    "SeriesPoints",
    # alerts
    "create_alert",
    "get_alert",
    "list_alerts",
    "update_alert",
    "delete_alert",
    "record_transition",
    "list_history",
    "Alert",
    "AlertHistory",
    "AlertNotFound",
    "HistoryCursor",
]
