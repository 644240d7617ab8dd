"""`/api/v1/alerts`: alert rules (conditions validated by unity_core.alerts) and their history.

Evaluating rules is the workers' job; the API stores and serves them.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from unity_api.context import read_session, request_session
from unity_api.errors import fail
from unity_api.params import parse_time
from unity_api.schemas.alerts import (
    AlertCreateSchema,
    AlertListArgsSchema,
    AlertListSchema,
    AlertPatchSchema,
    AlertSchema,
    HistoryArgsSchema,
    HistorySchema,
)
from unity_core.alerts import parse_condition
from unity_core.errors import AlertConditionError
from unity_core.storage import (
    Alert,
    create_alert,
    delete_alert,
    get_alert,
    list_alerts,
    list_history,
    update_alert,
)
from unity_core.storage.models import Plugin as PluginRow

blp = Blueprint(
    "alerts",
    __name__,
    url_prefix="/api/v1/alerts",
    description="Alert rules (create, read, update, delete) and their history.",
)


@blp.route("")
class Alerts(MethodView):
    @blp.arguments(AlertListArgsSchema(), location="query")
    @blp.response(200, AlertListSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every rule, oldest first; optionally of one plugin or enabled state."""
        found = list_alerts(read_session(), **args)
        return {"alerts": [_view(a) for a in found]}

    @blp.arguments(AlertCreateSchema())
    @blp.response(201, AlertSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a rule; the condition is checked (metric, operator, threshold, window, for)."""
        session = request_session(write=True)
        condition = _checked(session, body["condition"])
        alert = create_alert(
            session,
            name=body["name"],
            condition=condition,
            plugin_id=condition["plugin"],
            enabled=body["enabled"],
            severity=body["severity"],
        )
        session.commit()
        return _view(alert)


@blp.route("/<uuid:alert_id>")
class AlertById(MethodView):
    @blp.response(200, AlertSchema)
    def get(self, alert_id: uuid.UUID) -> dict[str, Any]:
        """One rule."""
        return _view(get_alert(read_session(), alert_id))

    @blp.arguments(AlertPatchSchema())
    @blp.response(200, AlertSchema)
    def patch(self, body: dict[str, Any], alert_id: uuid.UUID) -> dict[str, Any]:
        """Change a rule's name, condition, enabled state or severity."""
        if not body:
            fail(422, "nothing to change: give at least one field")
        session = request_session(write=True)
        changes = dict(body)
        if "condition" in changes:
            changes["condition"] = _checked(session, changes["condition"])
            changes["plugin_id"] = changes["condition"]["plugin"]
        alert = update_alert(session, alert_id, **changes)
        session.commit()
        return _view(alert)

    @blp.response(204)
    def delete(self, alert_id: uuid.UUID) -> None:
        """Delete a rule and its history."""
        session = request_session(write=True)
        delete_alert(session, alert_id)
        session.commit()


@blp.route("/history")
class History(MethodView):
    @blp.arguments(HistoryArgsSchema(), location="query")
    @blp.response(200, HistorySchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Transitions (triggered / resolved), newest first, paged by `cursor`."""
        now = datetime.now(UTC)
        try:
            start = parse_time(args["from_"], "from", now) if args.get("from_") else None
            end = parse_time(args["to"], "to", now) if args.get("to") else None
            before = _decode(args["cursor"]) if args.get("cursor") else None
        except ValueError as error:
            fail(422, str(error))
        if start is not None and end is not None and end <= start:
            fail(422, "from must be before to")
        entries = list_history(
            read_session(),
            alert_id=args.get("alert_id"),
            start=start,
            end=end,
            triggered=args.get("triggered"),
            limit=args["limit"],
            before=before,
        )
        cursor = None
        if len(entries) == args["limit"]:
            cursor = _encode(entries[-1].time, entries[-1].id)
        return {
            "entries": [
                {
                    "id": e.id,
                    "alert_id": e.alert_id,
                    "time": e.time,
                    "triggered": e.triggered,
                    "value": e.value,
                }
                for e in entries
            ],
            "next_cursor": cursor,
        }


def _checked(session: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The condition in its canonical form; 422 for a bad condition or an unknown plugin."""
    condition = parse_condition(data)
    plugin = condition.selector.plugin
    known = session.scalar(select(PluginRow.id).where(PluginRow.plugin_id == plugin))
    if known is None:
        raise AlertConditionError(f"plugin: no plugin instance {plugin!r}")
    return condition.to_dict()


def _view(alert: Alert) -> dict[str, Any]:
    try:
        description = parse_condition(alert.condition).describe()
    except AlertConditionError as error:
        description = f"invalid condition: {error}"
    return {
        "id": alert.id,
        "name": alert.name,
        "plugin_id": alert.plugin_id,
        "condition": alert.condition,
        "description": description,
        "enabled": alert.enabled,
        "severity": alert.severity,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
    }


def _encode(time: datetime, entry_id: uuid.UUID) -> str:
    raw = f"{time.isoformat()}|{entry_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        when, _, entry = raw.partition("|")
        time = datetime.fromisoformat(when)
        if time.tzinfo is None:
            raise ValueError
        return time, uuid.UUID(entry)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("cursor: not a cursor this API returned") from None
