"""The built-in `dns` plugin (entry point `unity.plugins`: dns)."""

from __future__ import annotations

from unity_plugins.dns.plugin import DnsPlugin

__all__ = ["DnsPlugin"]
