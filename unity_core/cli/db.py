"""`unity db`: apply, undo and inspect the schema migrations on the configured database."""

from __future__ import annotations

from dataclasses import replace

import click
from sqlalchemy.engine import make_url

from unity_core.cli.context import get_settings
from unity_core.errors import StorageError
from unity_core.storage import migrate


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@click.group()
def db() -> None:
    """Schema migrations (Alembic) for PostgreSQL, MariaDB/MySQL and SQLite."""


@db.command()
@click.argument("revision", default="head")
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of running it.")
@click.option(
    "--timescaledb",
    is_flag=True,
    help="With --sql on PostgreSQL: render the TimescaleDB path even if this server lacks it.",
)
@click.pass_context
def upgrade(ctx: click.Context, revision: str, as_sql: bool, timescaledb: bool) -> None:
    """Migrate the database up to REVISION (default: head)."""
    settings = get_settings(ctx)
    options = migrate.options_from(settings)
    if as_sql:
        if timescaledb:
            options = replace(options, force_timescaledb=True)
        click.echo(migrate.offline_sql(settings.database.url, revision, options), nl=False)
        return
    try:
        migrate.upgrade(settings.database.url, revision, options)
        current = migrate.current_revision(settings.database.url)
    except StorageError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{_safe(settings.database.url)} is at revision {current}")


@db.command()
@click.argument("revision")
@click.pass_context
def downgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes every Unity table)."""
    settings = get_settings(ctx)
    try:
        migrate.downgrade(settings.database.url, revision, migrate.options_from(settings))
        current = migrate.current_revision(settings.database.url)
    except StorageError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{_safe(settings.database.url)} is at revision {current or 'base (empty)'}")


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Show the database's revision and this Unity's head; exit 1 when they differ."""
    settings = get_settings(ctx)
    try:
        revision = migrate.current_revision(settings.database.url)
    except StorageError as error:
        raise click.ClickException(str(error)) from None
    head = migrate.head_revision()
    state = "up to date" if revision == head else "needs `unity db upgrade`"
    click.echo(f"database: {_safe(settings.database.url)}")
    click.echo(f"current:  {revision or 'base (empty)'}")
    click.echo(f"head:     {head} ({state})")
    if revision != head:
        ctx.exit(1)
