"""The built-in `exec` plugin (entry point `unity.plugins`: exec)."""

from __future__ import annotations

from unity_plugins.exec.plugin import ExecPlugin

__all__ = ["ExecPlugin"]
