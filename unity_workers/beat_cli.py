"""`unity beat`: Celery beat with Unity's database-backed, lease-guarded scheduler."""

from __future__ import annotations

import os

import click

from unity_core.cli.context import get_settings

__all__ = ["SCHEDULER", "beat"]

SCHEDULER = "unity_workers.scheduler:UnityScheduler"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@click.command("beat")
@click.option(
    "-l",
    "--loglevel",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Logging level.",
)
@click.option(
    "--max-interval",
    type=click.FloatRange(min=0.1, max=5),
    default=None,
    help="Most seconds between two scheduler ticks (default: 5, or a third of the lease ttl).",
)
@click.pass_context
def beat(ctx: click.Context, loglevel: str, max_interval: float | None) -> None:
    """Run the scheduler (same as `celery -A unity_workers beat -S <Unity's scheduler>`).

    Start one on each of two hosts for failover: one holds the lease and dispatches, the
    other stands by and takes over within the lease ttl if the first dies.
    """
    settings = get_settings(ctx)  # a bad file fails here, readably, before Celery starts
    if settings.source is not None:
        # The Celery app (celeryconfig) and the scheduler load the configuration themselves.
        os.environ["UNITY_CONFIG"] = str(settings.source)
    from unity_workers.celery import app  # after UNITY_CONFIG: the app reads it when used

    app.Beat(scheduler=SCHEDULER, loglevel=loglevel.upper(), max_interval=max_interval).run()
