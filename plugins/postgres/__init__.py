"""The built-in `postgres` plugin (entry point `unity.plugins`: postgres)."""

from __future__ import annotations

from unity_plugins.postgres.plugin import PostgresPlugin

__all__ = ["PostgresPlugin"]
