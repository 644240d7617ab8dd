"""Making the `plugins` table match what is installed and what the configuration file says.

sync_registry() runs at the start of every command, worker and beat; it is idempotent and
safe when several processes run it at once. It never disables or deletes anything the file
does not mention, and a file entry that is wrong is reported, not half-applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from unity_core.config import Settings
from unity_core.errors import PluginConfigError, PluginError
from unity_core.plugins.registry.discovery import Discovery
from unity_core.plugins.registry.edits import default_name, insert_absent
from unity_core.plugins.registry.framework import default_columns, validate_cron
from unity_core.plugins.registry.options import validate_config
from unity_core.plugins.sdk import Plugin
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Plugin as PluginRow

__all__ = ["ENABLED_BY_DEFAULT", "SyncReport", "keys_from_file", "sync_registry"]

#: Plugins whose default instance starts enabled: those that need no configuration.
ENABLED_BY_DEFAULT = frozenset({"system", "unity"})

# Framework keys of a plugins[] entry -> the column each sets.
_COLUMNS = {
    "name": "name",
    "timezone": "timezone",
    "timeout": "timeout_seconds",
    "retry_count": "retry_count",
    "retry_delay": "retry_delay",
    "retry_backoff": "retry_backoff",
    "queue": "queue",
}


@dataclass
class SyncReport:
    """What a sync did: instances created, instances changed, file entries it could not apply."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    #: plugin_id -> why its `plugins:` entry in the configuration file was skipped.
    problems: dict[str, str] = field(default_factory=dict)


def sync_registry(session: Session, settings: Settings, discovery: Discovery) -> SyncReport:
    """Create a default instance per discovered plugin; apply the file's `plugins:` entries.

    A default instance has the plugin's own id, empty config and is enabled only for
    ENABLED_BY_DEFAULT. A file entry creates or updates its instance, and the file wins for
    the keys it sets (`enabled` always, since the loader defaults it; `tags` and `config`
    when non-empty). Never commits.
    """
    report = SyncReport()
    with translate_errors("synchronising the plugin registry"):
        existing = set(session.scalars(select(PluginRow.plugin_id)))
        for plugin_id, cls in discovery.classes.items():
            if plugin_id in existing:
                continue
            insert_absent(session, _new_row(plugin_id, plugin_id, cls.name, cls))
            existing.add(plugin_id)
            report.created.append(plugin_id)
        for entry in settings.plugins:
            _apply_entry(session, entry, discovery, existing, report)
        session.flush()
    return report


def keys_from_file(settings: Settings, plugin_id: str) -> frozenset[str]:
    """The `set` keys the file fixes for `plugin_id` (a CLI change to them lasts one sync)."""
    entry = next((e for e in settings.plugins if e.get("id") == plugin_id), None)
    if entry is None:
        return frozenset()
    keys = {"enabled", "plugin"} | {k for k in _COLUMNS if entry.get(k) is not None}
    if "interval" in entry or "schedule" in entry:
        keys |= {"interval", "cron", "schedule"}
    if entry.get("tags"):
        keys.add("tags")
    if entry.get("config"):
        keys.add("config")
    return frozenset(keys)


def _new_row(plugin_id: str, plugin: str, name: str, cls: type[Plugin]) -> dict[str, Any]:
    # The plugin's suggested timing becomes the instance's own (discovery validated it), so
    # `unity plugins info` shows what will run and a later `set` changes it like any other.
    return {
        **default_columns(cls.defaults)[0],
        "plugin_id": plugin_id,
        "plugin": plugin,
        "name": name,
        "enabled": plugin_id in ENABLED_BY_DEFAULT,
        "config": {},
        "tags": {},
    }


def _apply_entry(
    session: Session,
    entry: Mapping[str, Any],
    discovery: Discovery,
    existing: set[str],
    report: SyncReport,
) -> None:
    plugin_id = str(entry["id"])
    implementation = str(entry.get("plugin") or plugin_id)
    query = select(PluginRow).where(PluginRow.plugin_id == plugin_id)
    row = session.scalars(query.execution_options(populate_existing=True)).first()
    try:
        cls = discovery.get(implementation, instance_id=plugin_id)
        wanted = _wanted(entry, cls, plugin_id, row)
    except PluginError as error:
        report.problems[plugin_id] = str(error)
        return
    if row is None:
        insert_absent(
            session, _new_row(plugin_id, implementation, default_name(cls, plugin_id), cls)
        )
        row = session.scalars(query.execution_options(populate_existing=True)).first()
        if row is None:  # another process created it first and our snapshot predates it
            report.problems[plugin_id] = "created by another process meanwhile; applied next sync"
            return
        existing.add(plugin_id)
        report.created.append(plugin_id)
    changed = False
    for column, value in wanted.items():
        if getattr(row, column) != value:
            setattr(row, column, value)
            changed = True
    if changed and plugin_id not in report.created:
        report.updated.append(plugin_id)


def _wanted(
    entry: Mapping[str, Any], cls: type[Plugin], plugin_id: str, row: PluginRow | None
) -> dict[str, Any]:
    """The column values the entry sets, validated; PluginError when they cannot be used."""
    wanted: dict[str, Any] = {"plugin": cls.id, "enabled": bool(entry.get("enabled", True))}
    for key, column in _COLUMNS.items():
        if entry.get(key) is not None:
            wanted[column] = entry[key]
    if entry.get("interval") is not None:
        wanted["interval_seconds"], wanted["cron"] = int(entry["interval"]), None
    elif entry.get("schedule") is not None:
        problem = validate_cron(str(entry["schedule"]))
        if problem:
            raise PluginConfigError(plugin_id, f"schedule: {problem}")
        wanted["cron"], wanted["interval_seconds"] = str(entry["schedule"]), None
    if entry.get("tags"):
        wanted["tags"] = {str(k): str(v) for k, v in entry["tags"].items()}
    config = dict(entry.get("config") or {})
    if config:
        wanted["config"] = config
    elif row is not None and row.plugin == cls.id:
        config = dict(row.config or {})
    # An enabled instance must be runnable; a disabled one only needs a valid given config.
    if "config" in wanted or wanted["enabled"]:
        validate_config(cls, plugin_id, config)
    return wanted
