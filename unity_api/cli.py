"""`unity api`: the REST API under gunicorn (the Flask dev server only with --debug).

Contributed to the `unity` command through the `unity.commands` entry-point group. Each
gunicorn worker builds its own app (and so its own database pool) after the fork.
"""

from __future__ import annotations

import os
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from unity_core.cli.context import get_settings
from unity_core.config import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from unity_api.app import create_app

        return create_app(self.settings)


def gunicorn_options(
    settings: Settings, bind: str, workers: int, threads: int, access_log: bool
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": [bind],
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "proc_name": "unity-api",
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        # Requests above this are refused before Flask sees them (Flask enforces the body).
        "limit_request_line": 8190,
        "errorlog": "-",
        "loglevel": "info",
    }
    if access_log:
        options["accesslog"] = "-"
    return options


@click.command()
@click.option("--bind", "-b", help="HOST:PORT (or unix:PATH) [api.bind].")
@click.option("--workers", "-w", type=click.IntRange(min=1), help="Processes [api.workers].")
@click.option("--threads", type=click.IntRange(min=1), help="Threads per process [api.threads].")
@click.option("--access-log", is_flag=True, help="Log every request to stderr.")
@click.option(
    "--debug", is_flag=True, help="Flask's development server with reloader; never in production."
)
@click.pass_context
def api(
    ctx: click.Context,
    bind: str | None,
    workers: int | None,
    threads: int | None,
    access_log: bool,
    debug: bool,
) -> None:
    """Serve the REST API (OpenAPI at /api/openapi.json, browsable at /api/docs)."""
    settings = get_settings(ctx)
    if settings.source is not None:
        # celeryconfig (ad-hoc collection) must read the same file as this command.
        os.environ["UNITY_CONFIG"] = str(settings.source)
    address = bind or settings.api.bind
    if debug:
        from unity_api.app import create_app

        host, _, port = address.rpartition(":")
        create_app(settings).run(host=host or "127.0.0.1", port=int(port), debug=True)
        return
    options = gunicorn_options(
        settings,
        address,
        workers or settings.api.workers,
        threads or settings.api.threads,
        access_log,
    )
    _Gunicorn(settings, options).run()
