"""Alert rules and their transition history: create, read, update, delete, record, list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from unity_core.errors import AlertNotFound
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Alert, AlertHistory

#: The fields update_alert may change; anything else is a caller bug.
UPDATABLE_FIELDS = frozenset({"name", "condition", "enabled", "severity", "plugin_id"})
#: The largest page list_history returns.
MAX_HISTORY_LIMIT = 1_000

#: A list_history cursor: the (time, id) of the last entry of the previous page.
HistoryCursor = tuple[datetime, uuid.UUID]


def create_alert(
    session: Session,
    *,
    name: str,
    condition: dict[str, Any],
    plugin_id: str | None = None,
    enabled: bool = True,
    severity: str = "warning",
) -> Alert:
    """Add a rule and flush it (so constraint errors surface here); never commits.

    An unknown plugin_id raises IntegrityViolation.
    """
    alert = Alert(
        name=name, condition=condition, plugin_id=plugin_id, enabled=enabled, severity=severity
    )
    with translate_errors(f"creating alert {name!r}"):
        session.add(alert)
        session.flush()
    return alert


def get_alert(session: Session, alert_id: uuid.UUID) -> Alert:
    """The rule with this id; raises AlertNotFound."""
    with translate_errors(f"reading alert {alert_id}"):
        alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(alert_id) from None
    return alert


def list_alerts(
    session: Session, *, plugin_id: str | None = None, enabled: bool | None = None
) -> list[Alert]:
    """Rules, optionally of one plugin and/or enabled state, oldest first (created_at, id)."""
    statement = select(Alert).order_by(Alert.created_at, Alert.id)
    if plugin_id is not None:
        statement = statement.where(Alert.plugin_id == plugin_id)
    if enabled is not None:
        statement = statement.where(Alert.enabled == enabled)
    with translate_errors("listing alerts"):
        return list(session.scalars(statement))


def update_alert(session: Session, alert_id: uuid.UUID, **changes: Any) -> Alert:
    """Change some of name, condition, enabled, severity, plugin_id; flushes, never commits.

    Raises ValueError naming any other field, AlertNotFound for an unknown id.
    """
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(UPDATABLE_FIELDS))
        raise ValueError(f"cannot update alert field(s) {', '.join(unknown)}; allowed: {allowed}")
    alert = get_alert(session, alert_id)
    with translate_errors(f"updating alert {alert_id}"):
        for field, value in changes.items():
            setattr(alert, field, value)
        session.flush()
    return alert


def delete_alert(session: Session, alert_id: uuid.UUID) -> None:
    """Delete a rule; the database deletes its history with it (ON DELETE CASCADE).

    Raises AlertNotFound for an unknown id; never commits.
    """
    with translate_errors(f"deleting alert {alert_id}"):
        result = session.execute(
            delete(Alert).where(Alert.id == alert_id).execution_options(synchronize_session="fetch")
        )
    if getattr(result, "rowcount", 0) == 0:
        raise AlertNotFound(alert_id)


def record_transition(
    session: Session,
    *,
    alert_id: uuid.UUID,
    time: datetime,
    triggered: bool,
    value: dict[str, Any] | None = None,
) -> AlertHistory:
    """Append one state change of a rule (triggered or resolved); flushes, never commits.

    `value` is the JSON context of the transition (e.g. current value and threshold).
    Raises ValueError for a naive time, AlertNotFound for an unknown rule.
    """
    _require_aware("time", time)
    get_alert(session, alert_id)
    entry = AlertHistory(alert_id=alert_id, time=time, triggered=triggered, value=value)
    with translate_errors(f"recording a transition of alert {alert_id}"):
        session.add(entry)
        session.flush()
    return entry


def list_history(
    session: Session,
    *,
    alert_id: uuid.UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    triggered: bool | None = None,
    limit: int = 100,
    before: HistoryCursor | None = None,
) -> list[AlertHistory]:
    """Transitions newest first, in the stable order (time DESC, id ASC); never commits.

    Ties on time are broken by id in the database's own UUID order (MariaDB's native UUID
    type sorts differently from PostgreSQL and SQLite), stable within one database.

    `start` is inclusive, `end` exclusive. For the next page pass the (time, id) of the
    last entry as `before`: the page continues strictly after it in the same order, so no
    entry is repeated or skipped even when several share a time.
    """
    _require_aware("start", start)
    _require_aware("end", end)
    if not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_HISTORY_LIMIT}, got {limit}")
    statement = select(AlertHistory).order_by(AlertHistory.time.desc(), AlertHistory.id)
    if alert_id is not None:
        statement = statement.where(AlertHistory.alert_id == alert_id)
    if start is not None:
        statement = statement.where(AlertHistory.time >= start)
    if end is not None:
        statement = statement.where(AlertHistory.time < end)
    if triggered is not None:
        statement = statement.where(AlertHistory.triggered == triggered)
    if before is not None:
        cursor_time, cursor_id = before
        _require_aware("before", cursor_time)
        statement = statement.where(
            or_(
                AlertHistory.time < cursor_time,
                and_(AlertHistory.time == cursor_time, AlertHistory.id > cursor_id),
            )
        )
    with translate_errors("listing alert history"):
        return list(session.scalars(statement.limit(limit)))


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (got naive {value.isoformat()})")
