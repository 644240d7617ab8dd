"""The built-in `unity` plugin (entry point `unity.plugins`: unity): Unity monitoring itself."""

from __future__ import annotations

from unity_plugins.unity.plugin import UnityPlugin

__all__ = ["UnityPlugin"]
