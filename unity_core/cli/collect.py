"""`unity collect ID`: one collection now, in this process or through the workers."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

import click

from unity_core.cache import make_cache
from unity_core.cli.context import get_settings
from unity_core.collection import after_commit, collect_once, persist_outcomes
from unity_core.collection.counters import SharedCounters
from unity_core.collection.outcome import Outcome
from unity_core.errors import PluginError, StorageError
from unity_core.plugins.registry import discover, get_instance, instantiate, sync_registry
from unity_core.storage import engine_for, make_sessionmaker
from unity_core.storage.migrate import check_at_head


def _send_to_workers(settings: Any, plugin_id: str) -> str:
    """Publish unity.collect through the workers' layer (it owns Celery), return the task id."""
    for point in entry_points(group="unity.dispatch"):
        if point.name == "collect":
            send = point.load()
            return str(send(plugin_id, settings))
    raise click.ClickException("no worker layer installed to send collections to (unity_workers)")


def _print(outcome: Outcome, *, as_json: bool) -> None:
    if as_json:
        for row in outcome.rows:
            click.echo(
                json.dumps(
                    {
                        "time": row.time.isoformat(),
                        "metric": row.metric_name,
                        "value": row.value,
                        "numeric_value": row.numeric_value,
                        "tags": row.tags,
                    },
                    default=str,
                )
            )
        return
    for row in outcome.rows:
        tags = ",".join(f"{k}={v}" for k, v in (row.tags or {}).items())
        shown = row.numeric_value if row.numeric_value is not None else json.dumps(row.value)
        click.echo(f"{row.metric_name:<32} {shown!s:<20} {tags}")
    for reject in outcome.rejects:
        click.echo(f"rejected {reject.metric_name}: {reject.reason}", err=True)
    for error in outcome.errors:
        click.echo(f"item error: {error}", err=True)


@click.command()
@click.argument("plugin_id")
@click.option("--dry-run", is_flag=True, help="Collect and print; store nothing.")
@click.option("--queue", "via_queue", is_flag=True, help="Send it to the workers instead.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON lines.")
@click.pass_context
def collect(
    ctx: click.Context, plugin_id: str, dry_run: bool, via_queue: bool, as_json: bool
) -> None:
    """Run one collection of PLUGIN_ID now and print what it stored.

    Runs in this process through the same pipeline and storage as the workers (no worker
    needed); --dry-run stores nothing; --queue hands it to the workers and prints the task id.
    """
    settings = get_settings(ctx)
    if via_queue:
        click.echo(
            f"sent unity.collect({plugin_id}) as task {_send_to_workers(settings, plugin_id)}"
        )
        return
    discovery = discover(settings.collection.plugins_dir)
    engine = engine_for(settings.database)
    cache = None
    try:
        check_at_head(engine)
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            sync_registry(session, settings, discovery)
            session.commit()
            instance = get_instance(session, plugin_id, settings)
        plugin = instantiate(instance, discovery)
        cache = make_cache(settings)
        outcome = collect_once(
            instance,
            plugin,
            datetime.now(UTC),
            worker_host=socket.gethostname(),
            settings=settings,
            # A dry run reads counters' previous samples (to show rates) but remembers nothing.
            counters=SharedCounters(cache, sessions, read_only=dry_run),
        )
        _print(outcome, as_json=as_json)
        if not outcome.ok:
            raise click.ClickException(f"collection failed: {outcome.error}")
        if dry_run:
            click.echo(f"dry run: {len(outcome.rows)} metrics, nothing stored", err=True)
            click.echo(f"summary: {outcome.summary}", err=True)
            return
        with sessions() as session:
            report = persist_outcomes(
                session, [outcome], pause_after=settings.collection.pause_after
            )
            session.commit()
        after_commit(cache, [outcome], report)
        click.echo(
            f"stored {report.rows_written} of {len(outcome.rows)} metrics of {plugin_id}", err=True
        )
        click.echo(f"summary: {outcome.summary}", err=True)
    except (PluginError, StorageError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        if cache is not None:
            cache.close()
        engine.dispose()
