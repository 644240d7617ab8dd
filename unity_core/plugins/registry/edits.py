"""Changing the registry: set options, enable/disable, add an instance. Never commits.

Every change is validated before anything is written: framework keys by their rules,
`config.*` by the plugin's own schema, so a stored instance always passes instantiate().
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from unity_core.errors import PluginConfigError, PluginNotFound
from unity_core.plugins.registry.discovery import PLUGIN_ID, Discovery
from unity_core.plugins.registry.framework import Changes, check_changes, default_columns
from unity_core.plugins.registry.options import apply_config, check_config, validate_config
from unity_core.plugins.sdk import Plugin
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Plugin as PluginRow
from unity_core.storage.models import PluginStatus

__all__ = [
    "add_instance",
    "default_name",
    "insert_absent",
    "load_row",
    "set_enabled",
    "set_options",
]

#: The health a plugin gets after `pause_after` failures in a row; enabling clears it.
PAUSED = "paused"


def load_row(session: Session, plugin_id: str) -> PluginRow:
    """The `plugins` row `plugin_id` as stored now, or PluginNotFound."""
    with translate_errors(f"reading plugin {plugin_id!r}"):
        query = select(PluginRow).where(PluginRow.plugin_id == plugin_id)
        row = session.scalars(query.execution_options(populate_existing=True)).first()
    if row is None:
        raise PluginNotFound(plugin_id)
    return row


def default_name(plugin: type[Plugin], plugin_id: str) -> str:
    """The display name of an instance nobody named: the plugin's, plus the id if it differs."""
    return plugin.name if plugin_id == plugin.id else f"{plugin.name} ({plugin_id})"


def set_options(
    session: Session, plugin_id: str, discovery: Discovery, **changes: Any
) -> PluginRow:
    """Apply `changes` (framework keys, `tags.NAME`, `config.KEY`) to `plugin_id`, validated.

    None means "back to the default": the collection default for framework keys, the
    plugin's default for a config key, removal for a tag. Raises PluginNotFound or
    PluginConfigError (listing every problem) before anything changes.
    """
    row = load_row(session, plugin_id)
    parsed, problems = check_changes(changes)
    config = dict(row.config or {})
    if parsed.config or parsed.columns.get("enabled") is True:
        cls = discovery.get(row.plugin or plugin_id, instance_id=plugin_id)
        config = apply_config(row.config, parsed)
        problems += check_config(cls, config)[1]
    if problems:
        raise PluginConfigError(plugin_id, problems)
    name = _fallback_name(discovery, row)
    with translate_errors(f"updating plugin {plugin_id!r}"):
        _apply(row, parsed, config, name)
        if parsed.columns.get("enabled") is True:
            _clear_pause(session, plugin_id)
        session.flush()
    return row


def set_enabled(
    session: Session, plugin_id: str, enabled: bool, *, discovery: Discovery | None = None
) -> PluginRow:
    """Enable or disable `plugin_id`. Enabling also un-pauses it.

    Enabling resets `consecutive_failures` to 0 and a `paused` health to unknown (None), so
    the scheduler runs it at its normal interval again. With `discovery`, enabling first
    checks that the implementation exists and the stored config passes its schema.
    """
    row = load_row(session, plugin_id)
    if enabled and discovery is not None:
        cls = discovery.get(row.plugin or plugin_id, instance_id=plugin_id)
        validate_config(cls, plugin_id, row.config)
    with translate_errors(f"updating plugin {plugin_id!r}"):
        row.enabled = enabled
        if enabled:
            _clear_pause(session, plugin_id)
        session.flush()
    return row


def add_instance(
    session: Session, plugin: str, plugin_id: str, discovery: Discovery, **changes: Any
) -> PluginRow:
    """A new instance `plugin_id` of the implementation `plugin`, enabled unless told otherwise.

    `changes` are as for set_options; the resulting config must pass the plugin's schema
    (required options included). PluginConfigError when the id is taken or invalid.
    """
    if not PLUGIN_ID.match(plugin_id):
        raise PluginConfigError(plugin_id, "id: use letters, digits, '.', '_' and '-'")
    cls = discovery.get(plugin, instance_id=plugin_id)
    with translate_errors(f"reading plugin {plugin_id!r}"):
        taken = session.scalar(select(PluginRow.id).where(PluginRow.plugin_id == plugin_id))
    if taken is not None:
        raise PluginConfigError(
            plugin_id, "an instance with this id already exists (change it with `set`)"
        )
    parsed, problems = check_changes(changes)
    config = apply_config({}, parsed)
    problems += check_config(cls, config)[1]
    if problems:
        raise PluginConfigError(plugin_id, problems)
    row = PluginRow(
        plugin_id=plugin_id,
        plugin=plugin,
        enabled=True,
        config={},
        tags={},
        **default_columns(cls.defaults)[0],
    )
    with translate_errors(f"adding plugin {plugin_id!r}"):
        _apply(row, parsed, config, default_name(cls, plugin_id))
        session.add(row)
        session.flush()
    return row


def insert_absent(session: Session, values: dict[str, Any]) -> None:
    """INSERT a `plugins` row unless its plugin_id exists (safe when two processes race)."""
    table = PluginRow.__table__
    assert isinstance(table, Table)
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(values)
        session.execute(pg.on_conflict_do_nothing(index_elements=["plugin_id"]))
    elif dialect == "sqlite":
        lite = sqlite.insert(table).values(values)
        session.execute(lite.on_conflict_do_nothing(index_elements=["plugin_id"]))
    elif dialect in ("mysql", "mariadb"):
        my = mysql.insert(table).values(values)
        session.execute(my.on_duplicate_key_update(plugin_id=my.inserted.plugin_id))
    else:
        raise ValueError(f"no insert-if-absent for database dialect {dialect!r}")


def _apply(row: PluginRow, parsed: Changes, config: dict[str, Any], name: str) -> None:
    for column, value in parsed.columns.items():
        if column == "name":
            value = value or name
        setattr(row, column, value)
    if row.name is None:
        row.name = name
    if parsed.tags:
        tags = dict(row.tags or {})
        for tag, value in parsed.tags.items():
            if value is None:
                tags.pop(tag, None)
            else:
                tags[tag] = value
        row.tags = tags  # a new dict: JSON columns do not track in-place changes
    if config != (row.config or {}):
        row.config = config


def _fallback_name(discovery: Discovery, row: PluginRow) -> str:
    cls = discovery.classes.get(row.plugin or row.plugin_id)
    return default_name(cls, row.plugin_id) if cls is not None else row.plugin_id


def _clear_pause(session: Session, plugin_id: str) -> None:
    status = session.get(PluginStatus, plugin_id, populate_existing=True)
    if status is None:
        return
    status.consecutive_failures = 0
    if status.health_status == PAUSED:
        status.health_status = None
