"""`unity up`: the whole system on this machine, as separate processes under one supervisor."""

from __future__ import annotations

import sys

import click
from sqlalchemy.engine import make_url

from unity_core.cli.context import get_settings
from unity_core.config import Settings
from unity_core.errors import StorageError
from unity_core.plugins.registry import discover, sync_registry
from unity_core.storage import make_engine, make_sessionmaker, migrate
from unity_core.supervisor import ProcessSpec, Supervisor


def _prepare(settings: Settings) -> str:
    """Migrate and sync the plugin registry before any child starts; returns the revision."""
    url = settings.database.url
    migrate.upgrade(url, "head", migrate.options_from(settings))
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            report = sync_registry(session, settings, discover(settings.collection.plugins_dir))
            session.commit()
        for problem in report.problems:
            click.echo(f"plugin registry: {problem}", err=True)
    finally:
        engine.dispose()
    return migrate.current_revision(url) or "none"


def process_specs(settings: Settings, *, loglevel: str, with_api: bool) -> list[ProcessSpec]:
    """The children of `unity up`, each started as `python -m unity_core <command>`."""
    unity = [sys.executable, "-m", "unity_core"]
    env = {"UNITY_DATA_DIR": str(settings.data_dir)}
    if settings.source:
        env["UNITY_CONFIG"] = str(settings.source)
    specs = [
        ProcessSpec("beat", [*unity, "beat", "--loglevel", loglevel], env),
        ProcessSpec("worker", [*unity, "worker", "--loglevel", loglevel], env),
    ]
    if with_api:
        specs.append(ProcessSpec("api", [*unity, "api"], env))
    return specs


@click.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--grace", default=60.0, show_default=True, help="Seconds to wait for a clean stop.")
@click.pass_context
def up(ctx: click.Context, loglevel: str, grace: float) -> None:
    """Run Unity here: migrate, then beat, the workers and (when installed) the API.

    With nothing configured this is the embedded default: SQLite and a broker that needs no
    server, both under UNITY_DATA_DIR. Ctrl-C or SIGTERM stops every process cleanly
    (workers finish their tasks and flush buffered batches).
    """
    settings = get_settings(ctx)
    try:
        revision = _prepare(settings)
    except StorageError as error:
        raise click.ClickException(str(error)) from None
    broker = settings.broker.url or f"embedded (files under {settings.data_dir / 'broker'})"
    click.echo(f"configuration: {settings.source or 'defaults (no file)'}")
    click.echo(f"data directory: {settings.data_dir}")
    url = make_url(settings.database.url).render_as_string(hide_password=True)
    click.echo(f"database: {url} (revision {revision})")
    click.echo(f"broker: {broker}")
    with_api = _installed("api")
    supervisor = Supervisor(
        process_specs(settings, loglevel=loglevel, with_api=with_api), grace=grace
    )
    code = supervisor.run()
    if code:
        ctx.exit(code)


def _installed(command: str) -> bool:
    from importlib.metadata import entry_points

    return any(point.name == command for point in entry_points(group="unity.commands"))


__all__ = ["process_specs", "up"]
