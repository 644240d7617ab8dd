"""Alembic driven from code: upgrade, downgrade, current revision and the head check.

`unity db …`, the test fixtures and `unity up` all come through here, so the migration
environment gets its URL and options one way only: the Config's attributes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from unity_core.config.settings import RetentionSettings, Settings, TimeseriesSettings
from unity_core.errors import SchemaOutOfDate, StorageError
from unity_core.storage.engine import make_engine, translate_errors


@dataclass(frozen=True)
class MigrationOptions:
    """What the migrations need beyond a connection: TimescaleDB and retention choices."""

    timeseries: TimeseriesSettings = field(default_factory=TimeseriesSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    partitions_ahead_days: int = 3
    #: Render the TimescaleDB path even where the extension is absent (offline SQL only).
    force_timescaledb: bool = False


def alembic_config(options: MigrationOptions | None = None, **attributes: Any) -> Config:
    """A programmatic Alembic Config pointing at the shipped `unity_migrations` scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("unity_migrations")))
    cfg.attributes["unity_options"] = options or MigrationOptions()
    cfg.attributes.update(attributes)
    return cfg


def _with_engine(url: str | Engine) -> tuple[Engine, bool]:
    if isinstance(url, Engine):
        return url, False
    return make_engine(url), True


def upgrade(
    url: str | Engine, revision: str = "head", options: MigrationOptions | None = None
) -> None:
    """Migrate up to `revision`, in one transaction where the dialect has transactional DDL."""
    _run(url, options, lambda cfg: command.upgrade(cfg, revision), f"upgrade to {revision}")


def downgrade(url: str | Engine, revision: str, options: MigrationOptions | None = None) -> None:
    """Migrate down to `revision` ('base' removes every Unity table)."""
    _run(url, options, lambda cfg: command.downgrade(cfg, revision), f"downgrade to {revision}")


def _run(url: str | Engine, options: MigrationOptions | None, action: Any, what: str) -> None:
    engine, owned = _with_engine(url)
    try:
        with translate_errors(f"migration ({what})"), engine.begin() as connection:
            action(alembic_config(options, connection=connection))
    finally:
        if owned:
            engine.dispose()


def offline_sql(
    dialect_url: str, revision: str = "head", options: MigrationOptions | None = None
) -> str:
    """The SQL an upgrade would send, rendered without a database (Alembic's --sql mode)."""
    buffer = io.StringIO()
    cfg = alembic_config(options, offline_url=dialect_url)
    cfg.output_buffer = buffer
    command.upgrade(cfg, revision, sql=True)
    return buffer.getvalue()


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if head is None:
        raise StorageError("no migration head found in unity_migrations")
    return head


def current_revision(url: str | Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine, owned = _with_engine(url)
    try:
        with translate_errors("reading the schema revision"), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def check_at_head(url: str | Engine) -> None:
    """Raise SchemaOutOfDate unless the database is at this version's head (readiness checks)."""
    current, head = current_revision(url), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'nothing (empty database)'}, this Unity needs "
            f"{head}: run `unity db upgrade`"
        )


def options_from(settings: Settings) -> MigrationOptions:
    """Migration options taken from the loaded configuration."""
    return MigrationOptions(
        timeseries=settings.database.timeseries,
        retention=settings.retention,
        partitions_ahead_days=settings.database.partitions_ahead_days,
    )
