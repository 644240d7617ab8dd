"""The built-in `http` plugin (entry point `unity.plugins`: http)."""

from __future__ import annotations

from unity_plugins.http.plugin import HttpPlugin

__all__ = ["HttpPlugin"]
