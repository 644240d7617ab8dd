"""`unity rollup run`, `unity retention run [--dry-run]`, `unity export`, `unity import`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from sqlalchemy import Engine

from unity_core.cli.context import get_settings
from unity_core.config.schema import parse_duration
from unity_core.errors import UnityError
from unity_core.lifecycle import run_retention, run_rollups
from unity_core.lifecycle.transfer import FORMATS, ExportFilter, export_data, import_data
from unity_core.storage import engine_for


def _when(value: str | None, option: str) -> datetime | None:
    """ISO 8601 (a time without zone is UTC) or a duration ago, like 7d or 12h."""
    if value is None:
        return None
    try:
        return datetime.now(UTC) - parse_duration(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an ISO 8601 time nor a duration like 7d", param_hint=option
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@contextmanager
def _database(ctx: click.Context, failure_note: str = "") -> Iterator[Engine]:
    """The configured database's engine, disposed afterwards; Unity's errors (and file
    errors) become a one-line message and exit status 1, never a traceback."""
    engine = engine_for(get_settings(ctx).database)
    try:
        yield engine
    except (UnityError, OSError) as error:
        raise click.ClickException(f"{error}{failure_note}") from None
    finally:
        engine.dispose()


@click.group()
def rollup() -> None:
    """Hourly and daily rollups (beat runs `unity.rollup` every few minutes)."""


@rollup.command("run")
@click.pass_context
def rollup_run(ctx: click.Context) -> None:
    """Roll up every closed bucket now, recomputing buckets that received late samples."""
    with _database(ctx) as engine:
        reports = run_rollups(engine, get_settings(ctx).retention)
    for report in reports:
        click.echo(report.describe())


@click.group()
def retention() -> None:
    """Apply the `retention:` settings (beat runs `unity.retention` hourly)."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.pass_context
def retention_run(ctx: click.Context, dry_run: bool) -> None:
    """Remove expired samples, rollups and alert history now (never ahead of the rollups)."""
    with _database(ctx) as engine:
        report = run_retention(engine, get_settings(ctx).retention, dry_run=dry_run)
    if dry_run:
        click.echo("dry run: nothing was removed")
    for line in report.lines():
        click.echo(line)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--from", "start", help="Oldest time to include: ISO 8601, or a duration ago (7d).")
@click.option("--to", "end", help="Time to stop before: ISO 8601, or a duration ago.")
@click.option("--plugin", "plugins", multiple=True, help="Only this plugin id (repeatable).")
@click.pass_context
def export(
    ctx: click.Context,
    fmt: str,
    output: str,
    start: str | None,
    end: str | None,
    plugins: tuple[str, ...],
) -> None:
    """Write plugins, status, alerts, history, samples and rollups to a json/jsonl file."""
    filters = ExportFilter(_when(start, "--from"), _when(end, "--to"), plugins)
    with _database(ctx) as engine:
        report = export_data(engine, output, fmt, filters)
    for name, count in report.counts.items():
        click.echo(f"{name:<24} {count:>12,}")
    click.echo(f"{report.rows:,} rows written to {output}")


@click.command("import")
@click.option("--input", "source", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--batch-size", default=2_000, show_default=True, help="Rows per transaction.")
@click.pass_context
def import_(ctx: click.Context, source: str, batch_size: int) -> None:
    """Load an export file into the configured database; importing twice changes nothing."""
    with _database(ctx, "\nrows before that point were imported") as engine:
        report = import_data(engine, source, batch_size=batch_size)
    click.echo(f"{'table':<24} {'in file':>12} {'new':>12}")
    for name, count in report.read.items():
        new = report.written.get(name)
        shown = "skipped" if name in report.skipped_tables else "-" if new is None else f"{new:,}"
        click.echo(f"{name:<24} {count:>12,} {shown:>12}")
    click.echo(f"imported {source}")
