"""The settings every command needs, loaded once per invocation, errors made readable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from unity_core.config import Settings, load_settings
from unity_core.errors import ConfigError, StorageError


def get_settings(ctx: click.Context) -> Settings:
    """Load (once per invocation) the configuration named by --config / UNITY_CONFIG.

    A ConfigError becomes a one-screen message and exit status 2, never a traceback.
    """
    root = ctx.find_root()
    root.ensure_object(dict)
    cached = root.obj.get("settings")
    if isinstance(cached, Settings):
        return cached
    try:
        settings = load_settings(root.obj.get("config_path"))
    except ConfigError as error:
        raise click.ClickException(f"configuration error:\n{error}") from None
    root.obj["settings"] = settings
    return settings


class BadInput(click.ClickException):
    """What the user typed cannot be used: exit status 2, like click's own usage errors."""

    exit_code = 2


@contextmanager
def database_session(
    ctx: click.Context, bad_input: tuple[type[Exception], ...] = ()
) -> Iterator[Session]:
    """A session on the configured, migrated database, committed when the command succeeds.

    Storage errors become a one-line message (exit 1) and `bad_input` errors one with exit
    status 2; the engine is disposed either way.
    """
    from unity_core.storage import engine_for, make_sessionmaker
    from unity_core.storage.migrate import check_at_head

    engine = engine_for(get_settings(ctx).database)
    try:
        check_at_head(engine)
        with make_sessionmaker(engine)() as session:
            yield session
            session.commit()
    except StorageError as error:
        raise click.ClickException(str(error)) from None
    except bad_input as error:
        raise BadInput(str(error)) from None
    finally:
        engine.dispose()
