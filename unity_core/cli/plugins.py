"""`unity plugins`: list, inspect, enable, disable, retime, reconfigure and add plugin instances.

Every command discovers the installed plugins, syncs the registry with them and the
configuration file, does its work and commits. Bad input (an unknown id, key or value)
exits with status 2 and names every problem; a database failure exits with 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from unity_core.cli.context import get_settings
from unity_core.config import Settings, format_duration
from unity_core.errors import PluginConfigError, PluginError, PluginNotFound, StorageError
from unity_core.plugins.registry import (
    Discovery,
    PluginInstance,
    add_instance,
    config_fields,
    discover,
    get_instance,
    keys_from_file,
    list_instances,
    load_row,
    parse_assignment,
    parse_value,
    set_enabled,
    set_options,
    sync_registry,
    validate_config,
)
from unity_core.presence import UNREACHABLE, unreachable_plugins
from unity_core.storage import engine_for, get_status, make_sessionmaker
from unity_core.storage.migrate import check_at_head
from unity_core.storage.models import PluginStatus

__all__ = ["plugins"]


class BadInput(click.ClickException):
    """A problem with what the user typed: exit status 2, like click's usage errors."""

    exit_code = 2


@dataclass
class _Registry:
    settings: Settings
    session: Session
    discovery: Discovery


@contextmanager
def _registry(ctx: click.Context) -> Iterator[_Registry]:
    """Discover, sync and commit, hand over a session; commit again on success.

    Plugin and storage errors become one-screen messages (status 2 for bad input, else 1).
    """
    settings = get_settings(ctx)
    discovery = discover(settings.collection.plugins_dir)
    for name, reason in sorted(discovery.errors.items()):
        click.echo(f"warning: plugin {name} skipped: {reason}", err=True)
    engine = engine_for(settings.database)
    try:
        check_at_head(engine)
        with make_sessionmaker(engine)() as session:
            report = sync_registry(session, settings, discovery)
            session.commit()  # the sync stands even if the command's own change is refused
            source = settings.source.name if settings.source else "the configuration"
            for plugin_id, problem in sorted(report.problems.items()):
                click.echo(f"warning: {source}: plugins entry {plugin_id}: {problem}", err=True)
            yield _Registry(settings, session, discovery)
            session.commit()
    except PluginNotFound as error:
        installed = ", ".join(sorted(discovery.classes)) or "none"
        raise BadInput(f"{error} (installed plugins: {installed})") from None
    except PluginConfigError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        raise BadInput(f"invalid options for {error.plugin_id}:\n{lines}") from None
    except PluginError as error:
        raise BadInput(str(error)) from None
    except StorageError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()


@click.group()
def plugins() -> None:
    """The plugin registry: one instance per installed plugin, plus the ones you add."""


@plugins.command(name="list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """Every instance: plugin, enabled, schedule, queue and health."""
    with _registry(ctx) as reg:
        statuses = {s.plugin_id: s for s in reg.session.scalars(select(PluginStatus))}
        unreachable = unreachable_plugins(reg.session)
        rows = [
            [
                i.plugin_id,
                i.plugin,
                "yes" if i.enabled else "no",
                _schedule(i),
                i.queue or "-",
                f"{UNREACHABLE} (no live worker on {unreachable[i.plugin_id]})"
                if i.plugin_id in unreachable
                else _health(statuses.get(i.plugin_id)),
            ]
            for i in list_instances(reg.session, reg.settings)
        ]
    _table(["ID", "PLUGIN", "ENABLED", "SCHEDULE", "QUEUE", "HEALTH"], rows)


@plugins.command()
@click.argument("plugin_id", metavar="ID")
@click.pass_context
def info(ctx: click.Context, plugin_id: str) -> None:
    """Implementation, options (with defaults), declared metrics and status of instance ID."""
    with _registry(ctx) as reg:
        instance = get_instance(reg.session, plugin_id, reg.settings)
        status = get_status(reg.session, plugin_id)
        cls = reg.discovery.classes.get(instance.plugin)
        click.echo(f"{instance.plugin_id}: {instance.name}")
        if cls is None:
            reason = reg.discovery.errors.get(instance.plugin, "not installed")
            click.echo(f"  implementation: {instance.plugin} — unavailable: {reason}")
        else:
            where = reg.discovery.sources.get(cls.id, "")
            click.echo(f"  implementation: {cls.id} {cls.version} ({where})")
            if cls.description:
                click.echo(f"  description:    {cls.description}")
        _options(instance)
        if cls is not None:
            _config(cls, instance)
            click.echo("\nMetrics:")
            _table(
                ["NAME", "UNIT", "TYPE", "TAGS"],
                [
                    [m.name, m.unit or "-", str(m.type), ", ".join(m.tags) or "-"]
                    for m in cls.metrics
                ],
                indent="  ",
            )
            if cls.dynamic_metrics:
                click.echo("  (and metrics named at run time)")
        _status(status)
        queue = unreachable_plugins(reg.session).get(plugin_id)
        if queue is not None:
            click.echo(f"  {'reachable:':22}no — no live worker consumes {queue}")


@plugins.command()
@click.argument("plugin_id", metavar="ID")
@click.pass_context
def enable(ctx: click.Context, plugin_id: str) -> None:
    """Enable instance ID; a paused one is un-paused (its failure count reset)."""
    with _registry(ctx) as reg:
        set_enabled(reg.session, plugin_id, True, discovery=reg.discovery)
        _warn_file(reg.settings, plugin_id, {"enabled": True})
    click.echo(f"{plugin_id}: enabled")


@plugins.command()
@click.argument("plugin_id", metavar="ID")
@click.pass_context
def disable(ctx: click.Context, plugin_id: str) -> None:
    """Disable instance ID: the scheduler stops dispatching it."""
    with _registry(ctx) as reg:
        set_enabled(reg.session, plugin_id, False)
        _warn_file(reg.settings, plugin_id, {"enabled": False})
    click.echo(f"{plugin_id}: disabled")


ASSIGNMENT_HELP = (
    "Keys: interval (60, 30s, 5m), cron (or schedule), timezone, timeout, retry_count, "
    "retry_delay, retry_backoff, queue, name, enabled, tags.NAME and config.KEY (as the "
    "plugin's `info` lists). Values are YAML (true, 5, [a, b]); an empty value resets the "
    "key to its default."
)


@plugins.command(name="set", epilog=ASSIGNMENT_HELP)
@click.argument("plugin_id", metavar="ID")
@click.argument("assignments", metavar="KEY=VALUE...", nargs=-1, required=True)
@click.pass_context
def set_(ctx: click.Context, plugin_id: str, assignments: Sequence[str]) -> None:
    """Change options of instance ID, validated against the plugin's schema."""
    with _registry(ctx) as reg:
        cls = reg.discovery.classes.get(load_row(reg.session, plugin_id).plugin)
        changes = _parse(assignments, cls)
        set_options(reg.session, plugin_id, reg.discovery, **changes)
        _warn_file(reg.settings, plugin_id, changes)
    shown = ", ".join(f"{k}={'(default)' if v is None else _show(v)}" for k, v in changes.items())
    click.echo(f"{plugin_id}: set {shown}")


@plugins.command(epilog=ASSIGNMENT_HELP)
@click.argument("plugin")
@click.argument("plugin_id", metavar="ID")
@click.argument("assignments", metavar="[KEY=VALUE]...", nargs=-1)
@click.pass_context
def add(ctx: click.Context, plugin: str, plugin_id: str, assignments: Sequence[str]) -> None:
    """Add instance ID of PLUGIN (enabled unless enabled=false is given)."""
    with _registry(ctx) as reg:
        changes = _parse(assignments, reg.discovery.classes.get(plugin))
        row = add_instance(reg.session, plugin, plugin_id, reg.discovery, **changes)
        state = "enabled" if row.enabled else "disabled"
    click.echo(f"{plugin_id}: added ({plugin}, {state})")


def _parse(assignments: Sequence[str], cls: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for text in assignments:
        try:
            key, raw = parse_assignment(text)
        except ValueError as error:
            raise BadInput(str(error)) from None
        changes[key] = parse_value(key, raw, cls)
    return changes


def _warn_file(settings: Settings, plugin_id: str, changes: dict[str, Any]) -> None:
    owned = keys_from_file(settings, plugin_id)
    entry = next((e for e in settings.plugins if e.get("id") == plugin_id), {})
    for key, value in changes.items():
        head = key.split(".")[0] if key.startswith(("tags.", "config.")) else key
        if head not in owned or (key == "enabled" and entry.get("enabled", True) == value):
            continue
        source = settings.source or "the configuration file"
        click.echo(
            f"warning: {source} sets {head} for {plugin_id}; at the next start the file's "
            f"value wins again: change it there to keep this",
            err=True,
        )


def _options(instance: PluginInstance) -> None:
    click.echo(f"  enabled:        {'yes' if instance.enabled else 'no'}")
    click.echo(f"  schedule:       {_schedule(instance)}")
    retries = (
        f"{instance.retry_count}, first after {_seconds(instance.retry_delay)}, "
        f"backoff x{instance.retry_backoff:g}"
    )
    click.echo(f"  timeout:        {_seconds(instance.timeout)}")
    click.echo(f"  retries:        {retries}")
    click.echo(f"  queue:          {instance.queue or '- (default)'}")
    tags = ", ".join(f"{k}={v}" for k, v in sorted(instance.tags.items()))
    click.echo(f"  tags:           {tags or '-'}")


def _config(cls: Any, instance: PluginInstance) -> None:
    click.echo("\nConfiguration (config.KEY):")
    try:
        effective: dict[str, Any] = validate_config(cls, instance.plugin_id, instance.config)
        problems: list[str] = []
    except PluginConfigError as error:
        effective, problems = dict(instance.config), error.problems
    rows = []
    for item in config_fields(cls):
        value = _dig(effective, item.name)
        default = "(required)" if item.required else _show(item.default)
        rows.append([item.name, item.type, default, _show(value), item.description])
    if rows:
        _table(["KEY", "TYPE", "DEFAULT", "CURRENT", "DESCRIPTION"], rows, indent="  ")
    else:
        click.echo("  (this plugin takes no options)")
    for problem in problems:
        click.echo(f"  invalid: {problem}")


def _status(status: PluginStatus | None) -> None:
    click.echo("\nStatus:")
    if status is None:
        click.echo("  never run")
        return
    when = {"last_run": status.last_run, "last_success": status.last_success}
    for label, moment in when.items():
        click.echo(f"  {label + ':':22}{moment.isoformat() if moment else '-'}")
    click.echo(f"  {'health:':22}{_health(status)}")
    click.echo(f"  {'errors (total):':22}{status.error_count}")
    click.echo(f"  {'rejected metrics:':22}{status.rejected_count}")
    if status.last_duration_ms is not None:
        click.echo(f"  {'last duration:':22}{status.last_duration_ms:.0f} ms")
    if status.worker_host:
        click.echo(f"  {'worker:':22}{status.worker_host}")
    if status.last_error:
        click.echo(f"  {'last error:':22}{status.last_error}")


def _schedule(instance: PluginInstance) -> str:
    if instance.cron:
        return f"cron {instance.cron} ({instance.timezone})"
    return f"every {format_duration(timedelta(seconds=instance.interval or 0))}"


def _health(status: PluginStatus | None) -> str:
    if status is None or status.health_status is None:
        return "-"
    failures = status.consecutive_failures or 0
    return status.health_status + (f" ({failures} failures in a row)" if failures else "")


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _dig(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _show(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _table(headers: list[str], rows: list[list[str]], *, indent: str = "") -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    for line in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)]
        click.echo((indent + "  ".join(cells)).rstrip())
