"""The built-in `redis` plugin (entry point `unity.plugins`: redis)."""

from __future__ import annotations

from unity_plugins.redis.plugin import RedisPlugin

__all__ = ["RedisPlugin"]
