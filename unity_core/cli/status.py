"""`unity status`: is every part reachable, and how is each plugin doing."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from unity_core.cli.context import get_settings
from unity_core.status import (
    extra_probes,
    probe_broker,
    probe_cache,
    probe_database,
    read_plugin_health,
)


def _age(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = int((datetime.now(UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


@click.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Database, broker, cache and workers reachable, and every plugin's health.

    Exits 1 when the database or the broker is unreachable.
    """
    settings = get_settings(ctx)
    probes = [probe_database(settings), probe_broker(settings), probe_cache(settings)]
    probes += extra_probes(settings)
    for probe in probes:
        mark = "ok  " if probe.ok else "DOWN"
        click.echo(f"{mark} {probe.name:<9} {probe.detail}")
        for warning in probe.warnings:
            click.echo(f"     {'':<9} warning: {warning}")
    click.echo()
    health = read_plugin_health(settings)
    if isinstance(health, str):
        click.echo(health)
    else:
        click.echo(f"{'plugin':<24} {'health':<10} {'last success':<14} failures  last error")
        for plugin in health:
            error = (plugin.last_error or "").splitlines()[0][:60] if plugin.last_error else ""
            click.echo(
                f"{plugin.plugin_id:<24} {plugin.health:<10} {_age(plugin.last_success):<14} "
                f"{plugin.consecutive_failures:<9} {error}"
            )
    essential = {p.name: p.ok for p in probes if p.name in ("database", "broker")}
    if not all(essential.values()):
        ctx.exit(1)
