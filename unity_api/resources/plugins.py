"""`/api/v1/plugins`: the registry with health; PATCH reconfigures; POST …/collect runs one now."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from unity_api.context import api_context, cache, read_session, request_session, settings
from unity_api.dispatch import send_collect
from unity_api.errors import fail
from unity_api.schemas.plugins import (
    PluginListSchema,
    PluginPatchSchema,
    PluginSchema,
    TaskCreatedSchema,
)
from unity_core.config import mask_secrets
from unity_core.plugins.registry import PluginInstance, get_instance, list_instances, set_options
from unity_core.storage.models import PluginStatus
from unity_core.tokens import Scope

blp = Blueprint(
    "plugins",
    __name__,
    url_prefix="/api/v1/plugins",
    description="The plugin registry: list, inspect, enable, retime, reconfigure, collect now.",
)


@blp.route("")
class Plugins(MethodView):
    @blp.response(200, PluginListSchema)
    def get(self) -> dict[str, Any]:
        """Every plugin instance with its health."""
        session = read_session()
        instances = list_instances(session, settings())
        rows = {s.plugin_id: s for s in session.scalars(select(PluginStatus))}
        return {"plugins": [_view(i, _status_of_row(rows.get(i.plugin_id))) for i in instances]}


@blp.route("/<string:plugin_id>")
class PluginById(MethodView):
    @blp.response(200, PluginSchema)
    def get(self, plugin_id: str) -> dict[str, Any]:
        """One plugin instance; its health from the cache when fresh, else the database."""
        instance = get_instance(read_session(), plugin_id, settings())
        return _view(instance, _status(plugin_id))

    @blp.arguments(PluginPatchSchema())
    @blp.response(200, PluginSchema)
    def patch(self, body: dict[str, Any], plugin_id: str) -> dict[str, Any]:
        """Enable/disable, retime, reconfigure: validated by the plugin's schema, all or nothing.

        The scheduler reads the registry on every tick (≤ 5 s), so changes apply then.
        """
        changes = _changes(body)
        if not changes:
            fail(422, "nothing to change: give at least one field")
        _require_admin_for(body)
        session = request_session(write=True)
        set_options(session, plugin_id, api_context().discovery, **changes)
        session.commit()
        cache().delete(f"unity:plugin:{plugin_id}:status")
        return _view(get_instance(session, plugin_id, settings()), _status(plugin_id))


@blp.route("/<string:plugin_id>/collect")
class Collect(MethodView):
    @blp.response(202, TaskCreatedSchema)
    def post(self, plugin_id: str) -> dict[str, Any]:
        """Queue one collection now (`unity.collect`); poll `/api/v1/tasks/{task_id}`."""
        instance = get_instance(read_session(), plugin_id, settings())  # 404 before sending
        task_id = send_collect(instance, settings())
        return {"task_id": task_id, "plugin_id": plugin_id, "state": "PENDING"}


#: PATCH fields that decide what a worker executes or where: `config` can name a command
#: (exec), a URL with credentials or a socket; `queue` moves a plugin onto another host.
ADMIN_FIELDS = frozenset({"config", "queue"})


def _require_admin_for(body: dict[str, Any]) -> None:
    """403 unless an admin token asks to change ADMIN_FIELDS (write covers the rest)."""
    sensitive = sorted(ADMIN_FIELDS & set(body))
    token = getattr(g, "unity_token", None)
    if sensitive and (token is None or not token.scope.allows(Scope.ADMIN)):
        scope = token.scope.value if token is not None else "none"
        fail(
            403,
            f"changing {', '.join(sensitive)} needs admin scope (this token has {scope}): "
            "a plugin's config can name commands and credentials the workers will use",
        )


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "tags":
            changes.update({f"tags.{name}": v for name, v in value.items()})
        elif key == "config":
            changes.update({f"config.{name}": v for name, v in value.items()})
        else:
            changes[key] = value
    return changes


def _status(plugin_id: str) -> dict[str, Any]:
    cached = cache().get_status(plugin_id)
    if cached is not None:
        return _status_of_json(cached)
    row = read_session().get(PluginStatus, plugin_id)
    return _status_of_row(row)


def _status_of_json(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "health": data.get("health_status") or "unknown",
        "last_run": data.get("last_run"),
        "last_success": data.get("last_success"),
        "last_error": data.get("last_error"),
        "consecutive_failures": int(data.get("consecutive_failures") or 0),
        "error_count": int(data.get("error_count") or 0),
        "rejected_count": int(data.get("rejected_count") or 0),
        "last_duration_ms": data.get("last_duration_ms"),
    }


def _status_of_row(row: PluginStatus | None) -> dict[str, Any]:
    if row is None:
        return _status_of_json({})
    return {
        "health": row.health_status or "unknown",
        "last_run": row.last_run,
        "last_success": row.last_success,
        "last_error": row.last_error,
        "consecutive_failures": row.consecutive_failures or 0,
        "error_count": row.error_count or 0,
        "rejected_count": row.rejected_count or 0,
        "last_duration_ms": row.last_duration_ms,
    }


def _view(instance: PluginInstance, status: dict[str, Any]) -> dict[str, Any]:
    if not instance.enabled:
        status = {**status, "health": "disabled"}
    return {
        "plugin_id": instance.plugin_id,
        "plugin": instance.plugin,
        "name": instance.name,
        "enabled": instance.enabled,
        "interval": instance.interval,
        "cron": instance.cron,
        "timezone": instance.timezone,
        "timeout": instance.timeout,
        "retry_count": instance.retry_count,
        "retry_delay": instance.retry_delay,
        "retry_backoff": instance.retry_backoff,
        "queue": instance.queue,
        "tags": dict(instance.tags),
        "config": mask_secrets(instance.config),
        "status": status,
    }
