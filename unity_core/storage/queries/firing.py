"""Alert rules that are firing now: enabled rules whose newest transition is `triggered`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Alert, AlertHistory


@dataclass(frozen=True)
class FiringAlert:
    """A rule that is firing, since when, and the context recorded when it fired."""

    id: uuid.UUID
    name: str
    severity: str
    plugin_id: str | None
    since: datetime
    value: dict[str, Any] | None


def firing_alerts(session: Session) -> list[FiringAlert]:
    """Enabled rules whose newest history entry is a trigger, most recent first; never commits."""
    newest = (
        select(AlertHistory.alert_id, func.max(AlertHistory.time).label("time"))
        .group_by(AlertHistory.alert_id)
        .subquery("newest")
    )
    statement = (
        select(Alert, AlertHistory)
        .join(newest, newest.c.alert_id == Alert.id)
        .join(
            AlertHistory,
            (AlertHistory.alert_id == newest.c.alert_id) & (AlertHistory.time == newest.c.time),
        )
        .where(Alert.enabled.is_(True), AlertHistory.triggered.is_(True))
        .order_by(AlertHistory.time.desc(), Alert.name)
    )
    with translate_errors("reading firing alerts"):
        rows = session.execute(statement).all()
    seen: set[uuid.UUID] = set()
    found = []
    for alert, entry in rows:
        if alert.id in seen:  # two transitions at the same instant: report the rule once
            continue
        seen.add(alert.id)
        found.append(
            FiringAlert(
                alert.id, alert.name, alert.severity, alert.plugin_id, entry.time, entry.value
            )
        )
    return found
