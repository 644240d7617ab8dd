"""`unity worker`, `unity flower`, `unity dlq list/replay`, and send_collect for `--queue`.

Contributed to the `unity` command through the `unity.commands` entry-point group, so
unity_core never imports Celery. Each command exports the chosen configuration file as
UNITY_CONFIG before touching the Celery app, so celeryconfig (and every child process)
reads the same file as the command.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import click

from unity_core.cli.context import get_settings
from unity_core.config import Settings

LOCAL_ADDRESSES = frozenset({"127.0.0.1", "localhost", "::1"})


def _export_config(settings: Settings) -> None:
    """Make celeryconfig (imported lazily, here or in a child) load this same file."""
    if settings.source is not None:
        os.environ["UNITY_CONFIG"] = str(settings.source)


@click.command()
@click.option(
    "-Q",
    "--queues",
    default="default",
    show_default=True,
    help="Comma-separated queues; 'default' = collect,persist,maintenance (e.g. host.nas,default).",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    help="Collect processes [collection.max_concurrent].",
)
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("-n", "--name", default="unity", show_default=True, help="Node name prefix.")
@click.option(
    "--host",
    help="This host's name on samples, heartbeats and node names "
    "[collection.host, else the machine's name].",
)
@click.pass_context
def worker(
    ctx: click.Context,
    queues: str,
    concurrency: int | None,
    loglevel: str,
    name: str,
    host: str | None,
) -> None:
    """Run Celery workers: collect (prefetch 1) and, if `persist` is among the queues, a
    separate persist process whose prefetch covers one batch. Ctrl-C/SIGTERM stops both
    warmly: running collections finish and buffered batches are written."""
    from unity_workers.processes import expand_queues, run, worker_commands
    from unity_workers.resources import WORKER_HOST_VARIABLE

    settings = get_settings(ctx)
    _export_config(settings)
    host = host or settings.collection.host
    if host:
        os.environ[WORKER_HOST_VARIABLE] = host
    selected = expand_queues(queues)
    if not selected:
        raise click.UsageError("no queue given")
    commands = worker_commands(
        selected,
        concurrency=concurrency or settings.collection.max_concurrent,
        batch_size=settings.collection.batch_size,
        loglevel=loglevel,
        name=name,
        host=host or "%h",
    )
    sys.exit(run(commands))


@click.command()
@click.option("--address", help="Listen address (default: flower.address, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: flower.port, 5555).")
@click.pass_context
def flower(ctx: click.Context, address: str | None, port: int | None) -> None:
    """Flower on the Unity app, with basic auth from the config's `flower.user` /
    `flower.password` (or UNITY_FLOWER_USER / UNITY_FLOWER_PASSWORD[_FILE]). Without them it
    only binds to 127.0.0.1.

    The credentials reach Flower through its FLOWER_BASIC_AUTH variable, never the command
    line (which `ps` shows to every user)."""
    settings = get_settings(ctx)
    _export_config(settings)
    options = settings.flower
    address = address or options.address
    port = port or options.port
    env = dict(os.environ)
    env.pop("FLOWER_BASIC_AUTH", None)
    env.pop("FLOWER_UNAUTHENTICATED_API", None)
    if options.user and options.password:
        env["FLOWER_BASIC_AUTH"] = f"{options.user}:{options.password}"
    elif address not in LOCAL_ADDRESSES:
        raise click.ClickException(
            f"refusing to start Flower on {address} without credentials: Flower shows task "
            "arguments (plugin configs) and can stop workers. Set flower.user and "
            "flower.password in the config (or UNITY_FLOWER_USER / UNITY_FLOWER_PASSWORD), "
            "or use --address 127.0.0.1."
        )
    argv = [
        sys.executable, "-m", "celery", "-A", "unity_workers", "flower",
        f"--address={address}", f"--port={port}",
    ]  # fmt: skip
    os.execve(sys.executable, argv, env)  # noqa: S606 - a fixed argv, no shell


@click.group()
def dlq() -> None:
    """Outcomes that could not be persisted (dead letters), and sending them again."""


@dlq.command("list")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, oldest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def dlq_list(ctx: click.Context, limit: int | None, as_json: bool) -> None:
    """List dead letters: id, time, plugin, attempts, reason."""
    from unity_workers.dlq import dlq_for

    store = dlq_for(get_settings(ctx))
    entries = store.list(limit)
    for entry in entries:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": entry.id,
                        "time": entry.time.isoformat(),
                        "plugin_id": entry.plugin_id,
                        "attempts": entry.attempts,
                        "retryable": entry.retryable,
                        "reason": entry.reason,
                    }
                )
            )
        else:
            click.echo(
                f"{entry.id}  {entry.time:%Y-%m-%d %H:%M:%S}  {entry.plugin_id or '?'}  "
                f"attempts={entry.attempts}  {entry.reason}"
            )
    if not as_json:
        click.echo(f"{store.count()} dead letter(s)")


@dlq.command("replay")
@click.option(
    "--retryable-only", is_flag=True, help="Only those dead-lettered because the database was away."
)
@click.pass_context
def dlq_replay(ctx: click.Context, retryable_only: bool) -> None:
    """Send dead letters to the persist workers again (each removed once sent)."""
    settings = get_settings(ctx)
    _export_config(settings)
    from unity_workers.dlq import dlq_for
    from unity_workers.tasks import send_persist

    store = dlq_for(settings)
    sent = store.replay(send_persist, retryable_only=retryable_only)
    click.echo(f"replayed {sent} dead letter(s); {store.count()} left")


def send_collect(plugin_id: str, settings: Settings) -> str:
    """Queue one collection of `plugin_id` now (for `unity collect ID --queue`); the task id.

    Reads the instance from the registry (PluginNotFound if absent) and ships its snapshot,
    with its queue and time limits, so the worker does not read the database for it.
    """
    _export_config(settings)
    from unity_core.plugins.registry import get_instance
    from unity_core.storage import engine_for, make_sessionmaker
    from unity_workers.tasks import send_collect_task

    engine = engine_for(settings.database)
    try:
        with make_sessionmaker(engine)() as session:
            instance = get_instance(session, plugin_id, settings)
    finally:
        engine.dispose()
    result: Any = send_collect_task(instance, datetime.now(UTC))
    return str(result.id)
