"""Recent raw samples of one metric, for windowed figures (write-latency histogram, run counts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from unity_core.storage.engine import translate_errors
from unity_core.storage.models import PluginMetric
from unity_core.storage.queries.sql import require_aware

#: recent_values never returns more than this many values (newest first are kept).
MAX_RECENT_VALUES = 100_000


def recent_values(
    session: Session, plugin_id: str, metric_name: str, since: datetime
) -> list[float]:
    """The numeric values of `plugin_id`/`metric_name` sampled at or after `since`; never commits.

    Uses the (plugin_id, metric_name, time) index; at most MAX_RECENT_VALUES values.
    """
    require_aware("since", since)
    statement = (
        select(PluginMetric.numeric_value)
        .where(
            PluginMetric.plugin_id == plugin_id,
            PluginMetric.metric_name == metric_name,
            PluginMetric.time >= since,
            PluginMetric.numeric_value.is_not(None),
        )
        .order_by(PluginMetric.time.desc())
        .limit(MAX_RECENT_VALUES)
    )
    with translate_errors(f"reading recent {plugin_id}/{metric_name}"):
        return [float(v) for v in session.scalars(statement) if v is not None]


def count_since(session: Session, plugin_id: str, metric_name: str, since: datetime) -> int:
    """How many samples `plugin_id`/`metric_name` has at or after `since`; never commits.

    One range of the (plugin_id, metric_name, time) index.
    """
    require_aware("since", since)
    statement = select(func.count()).where(
        PluginMetric.plugin_id == plugin_id,
        PluginMetric.metric_name == metric_name,
        PluginMetric.time >= since,
    )
    with translate_errors(f"counting recent {plugin_id}/{metric_name}"):
        return int(session.scalar(statement) or 0)
