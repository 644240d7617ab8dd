"""`unity config show`: the effective configuration, as Unity will use it, with secrets masked."""

from __future__ import annotations

import json

import click
import yaml

from unity_core.cli.context import get_settings
from unity_core.config import settings_as_dict


@click.group()
def config() -> None:
    """Inspect the configuration Unity would run with."""


@config.command()
@click.option(
    "--format",
    "output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Output format.",
)
@click.pass_context
def show(ctx: click.Context, output: str) -> None:
    """Print the file, defaults and UNITY_* variables merged, as the other commands see them.

    Passwords (in URLs too) and secret-looking keys are shown as ***, so the output can be
    pasted into a bug report.
    """
    settings = get_settings(ctx)
    tree = settings_as_dict(settings)
    source = str(settings.source) if settings.source else None
    if output == "json":
        # JSON has no comments, so the source becomes the first key.
        click.echo(json.dumps({"source": source, **tree}, indent=2, default=str))
        return
    click.echo(f"# source: {source or 'defaults (no file)'}")
    click.echo(yaml.safe_dump(tree, sort_keys=False, allow_unicode=True), nl=False)
