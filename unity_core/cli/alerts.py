"""`unity alerts test CHANNEL`, and per-rule mutes: `unity alerts mute / unmute`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import click

from unity_core.cli.context import database_session, get_settings
from unity_core.config import parse_duration
from unity_core.errors import NotificationFailed
from unity_core.notify import mute as add_mute
from unity_core.notify import send_test, unmute
from unity_core.storage import get_alert

__all__ = ["alerts"]


@click.group()
def alerts() -> None:
    """Alert notifications: test a channel, mute a rule."""


@alerts.command("test")
@click.argument("channel")
@click.pass_context
def test(ctx: click.Context, channel: str) -> None:
    """Send a test message through CHANNEL (a name from notifications.channels) now."""
    settings = get_settings(ctx).notifications
    try:
        send_test(settings, channel)
    except NotificationFailed as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"sent a test notification through {channel}")


def _rule_id(value: str) -> uuid.UUID | None:
    if value == "all":
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a rule id (a UUID) or 'all'") from None


@alerts.command("mute")
@click.argument("rule")
@click.option("--for", "duration", required=True, help="How long, e.g. 30m, 2h, 1d.")
@click.option("--reason", default=None, help="Shown with the silence.")
@click.pass_context
def mute(ctx: click.Context, rule: str, duration: str, reason: str | None) -> None:
    """Hold back RULE's notifications (a rule id, or `all` for a maintenance window)."""
    try:
        span = parse_duration(duration)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--for") from None
    alert_id = _rule_id(rule)
    start = datetime.now(UTC)
    until = start + span
    with database_session(ctx) as session:
        if alert_id is not None:
            get_alert(session, alert_id)
        add_mute(session, alert_id=alert_id, start=start, until=until, reason=reason)
    click.echo(f"muted {rule} until {until.isoformat(timespec='seconds')}")


@alerts.command("unmute")
@click.argument("rule")
@click.pass_context
def unmute_command(ctx: click.Context, rule: str) -> None:
    """End RULE's active mutes now (`all` ends the global ones)."""
    with database_session(ctx) as session:
        ended = unmute(session, _rule_id(rule))
    click.echo(f"ended {ended} active mute(s) of {rule}")
