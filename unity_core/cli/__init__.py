"""The `unity` command: a click group of core commands plus those other layers contribute.

`unity_workers` and `unity_api` add theirs (`worker`, `beat`, `flower`, `api`, …) through the
`unity.commands` entry-point group. They are loaded only when asked for, so importing this
module (or running a core command) never imports Celery or Flask.
"""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, entry_points

import click

from unity_core import __version__
from unity_core.cli.alerts import alerts
from unity_core.cli.collect import collect
from unity_core.cli.config import config
from unity_core.cli.db import db
from unity_core.cli.lifecycle import export, import_, retention, rollup
from unity_core.cli.plugins import plugins
from unity_core.cli.status import status
from unity_core.cli.tokens import tokens
from unity_core.cli.up import up


def _contributed() -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group="unity.commands")}


class UnityGroup(click.Group):
    """A group whose contributed commands are imported on first use, not at start-up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_contributed()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        point = _contributed().get(cmd_name)
        if point is None:
            return None
        loaded = point.load()
        return loaded if isinstance(loaded, click.Command) else None


@click.group(cls=UnityGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="UNITY_CONFIG",
    type=click.Path(dir_okay=False),
    help="YAML configuration file (default: $UNITY_CONFIG, else ./unity.yaml if present).",
)
@click.version_option(__version__, prog_name="unity")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Unity: collect what your homelab says, keep it in your database, serve it."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if config_path:
        # Children (`unity up`), Celery's config module and plugins that read the settings
        # themselves must all see the file this command was given.
        os.environ["UNITY_CONFIG"] = os.path.abspath(config_path)


for _command in (
    config,
    db,
    plugins,
    collect,
    status,
    up,
    tokens,
    alerts,
    export,
    import_,
    retention,
    rollup,
):
    main.add_command(_command)
