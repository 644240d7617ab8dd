"""The `unity` command: a click group of core commands plus those other layers contribute.

`unity_workers` and `unity_api` add theirs (`worker`, `beat`, `flower`, `api`) through the
`unity.commands` entry-point group, so unity_core never imports Celery or Flask.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from unity_core import __version__
from unity_core.cli.config import config
from unity_core.cli.db import db
from unity_core.cli.up import up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


main.add_command(config)
main.add_command(db)
main.add_command(up)

for _ep in entry_points(group="unity.commands"):
    main.add_command(_ep.load(), _ep.name)
