"""Registry entries as workers see them: PluginInstance, with the collection defaults applied.

A PluginInstance is a plain, JSON-safe snapshot of one `plugins` row, so the scheduler can
ship it in a task's arguments and a worker can run it without touching the database.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from unity_core.config import CollectionSettings, Settings
from unity_core.errors import PluginNotFound
from unity_core.plugins.registry.discovery import Discovery
from unity_core.plugins.registry.options import validate_config
from unity_core.plugins.sdk import Plugin
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Plugin as PluginRow

__all__ = ["DEFAULT_TIMEZONE", "PluginInstance", "get_instance", "instantiate", "list_instances"]

#: The zone a cron expression is read in when the instance names none.
DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class PluginInstance:
    """One configured plugin instance with every framework default resolved.

    `interval` is None exactly when `cron` is set. `config` holds the instance's own options
    as stored (what the user set, JSON); instantiate() validates it and fills the plugin's
    defaults.
    """

    plugin_id: str
    plugin: str
    name: str
    enabled: bool
    config: dict[str, Any]
    interval: int | None
    cron: str | None
    timezone: str
    timeout: float
    retry_count: int
    retry_delay: float
    retry_backoff: float
    queue: str | None
    tags: dict[str, str]

    @classmethod
    def from_row(cls, row: PluginRow, collection: CollectionSettings) -> PluginInstance:
        """The instance a `plugins` row describes; NULL columns take the collection defaults."""
        cron = row.cron or None
        return cls(
            plugin_id=row.plugin_id,
            plugin=row.plugin or row.plugin_id,
            name=row.name or row.plugin_id,
            enabled=bool(row.enabled),
            config=copy.deepcopy(dict(row.config or {})),
            interval=None if cron else int(row.interval_seconds or collection.default_interval),
            cron=cron,
            timezone=row.timezone or DEFAULT_TIMEZONE,
            timeout=float(_given(row.timeout_seconds, collection.collection_timeout)),
            retry_count=int(_given(row.retry_count, collection.retry_count)),
            retry_delay=float(_given(row.retry_delay, collection.retry_delay)),
            retry_backoff=float(_given(row.retry_backoff, collection.retry_backoff)),
            queue=row.queue or None,
            tags={str(k): str(v) for k, v in (row.tags or {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (only str, numbers, bools, None, lists and dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PluginInstance:
        """The instance to_dict() described; ValueError names missing or unknown keys."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise ValueError(f"not a plugin instance: missing {missing}, unknown {unknown}")
        interval = data["interval"]
        return cls(
            plugin_id=str(data["plugin_id"]),
            plugin=str(data["plugin"]),
            name=str(data["name"]),
            enabled=bool(data["enabled"]),
            config=copy.deepcopy(dict(data["config"] or {})),
            interval=None if interval is None else int(interval),
            cron=data["cron"],
            timezone=str(data["timezone"]),
            timeout=float(data["timeout"]),
            retry_count=int(data["retry_count"]),
            retry_delay=float(data["retry_delay"]),
            retry_backoff=float(data["retry_backoff"]),
            queue=data["queue"],
            tags={str(k): str(v) for k, v in (data["tags"] or {}).items()},
        )


def get_instance(session: Session, plugin_id: str, settings: Settings) -> PluginInstance:
    """The registry entry `plugin_id`, or PluginNotFound. Never commits."""
    with translate_errors(f"reading plugin {plugin_id!r}"):
        row = session.scalars(select(PluginRow).where(PluginRow.plugin_id == plugin_id)).first()
    if row is None:
        raise PluginNotFound(plugin_id)
    return PluginInstance.from_row(row, settings.collection)


def list_instances(
    session: Session, settings: Settings, *, enabled: bool | None = None
) -> list[PluginInstance]:
    """Every registry entry ordered by id (only enabled or disabled ones if asked)."""
    query = select(PluginRow).order_by(PluginRow.plugin_id)
    if enabled is not None:
        query = query.where(PluginRow.enabled == enabled)
    with translate_errors("listing plugins"):
        rows = session.scalars(query).all()
    return [PluginInstance.from_row(row, settings.collection) for row in rows]


def instantiate(instance: PluginInstance, discovery: Discovery) -> Plugin:
    """A ready-to-run plugin object for `instance`, its config validated and defaults filled.

    Raises PluginNotFound when the implementation is missing or broken, PluginConfigError
    when the config does not pass the plugin's schema.
    """
    cls = discovery.get(instance.plugin, instance_id=instance.plugin_id)
    config = validate_config(cls, instance.plugin_id, instance.config)
    return cls(config, instance_id=instance.plugin_id)


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value
