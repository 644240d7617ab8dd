"""The built-in `tcp` plugin (entry point `unity.plugins`: tcp)."""

from __future__ import annotations

from unity_plugins.tcp.plugin import TcpPlugin

__all__ = ["TcpPlugin"]
