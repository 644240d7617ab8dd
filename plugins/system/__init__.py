"""The built-in `system` plugin (entry point `unity.plugins`: system)."""

from __future__ import annotations

from unity_plugins.system.plugin import SystemPlugin

__all__ = ["SystemPlugin"]
