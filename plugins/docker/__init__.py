"""The built-in `docker` plugin (entry point `unity.plugins`: docker)."""

from __future__ import annotations

from unity_plugins.docker.plugin import DockerPlugin

__all__ = ["DockerPlugin"]
