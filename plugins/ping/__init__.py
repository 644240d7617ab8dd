"""The built-in `ping` plugin (entry point `unity.plugins`: ping)."""

from __future__ import annotations

from unity_plugins.ping.plugin import PingPlugin

__all__ = ["PingPlugin"]
