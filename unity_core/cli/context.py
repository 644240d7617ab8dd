"""The settings every command needs, loaded once per invocation, errors made readable."""

from __future__ import annotations

import click

from unity_core.config import Settings, load_settings
from unity_core.errors import ConfigError


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
