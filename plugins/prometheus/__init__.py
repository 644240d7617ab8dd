"""The built-in `prometheus` plugin (entry point `unity.plugins`: prometheus)."""

from __future__ import annotations

from unity_plugins.prometheus.plugin import PrometheusPlugin

__all__ = ["PrometheusPlugin"]
