"""Collection: the plugin SDK, the registry of instances, and the runner that isolates runs.

Plugin authors need only the SDK names; `unity_core.plugins.testing` has their test helpers.
"""

from __future__ import annotations

# The SDK first: the registry and the runner import it.
from unity_core.plugins.sdk import (
    Accumulator,
    Collection,
    EmptyConfig,
    Metric,
    MetricSpec,
    MetricType,
    MetricValue,
    Plugin,
)

from unity_core.plugins.registry import (  # isort: skip
    Discovery,
    PluginInstance,
    SyncReport,
    add_instance,
    discover,
    get_instance,
    instantiate,
    list_instances,
    set_enabled,
    set_options,
    sync_registry,
    validate_config,
)
from unity_core.plugins.runner import CollectingAccumulator, run_plugin  # isort: skip

__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # SDK: what a plugin author imports
    "Plugin",
    "MetricSpec",
    "MetricType",
    "MetricValue",
    "Metric",
    "Accumulator",
    "Collection",
    "EmptyConfig",
    # registry
    "discover",
    "Discovery",
    "PluginInstance",
    "sync_registry",
    "SyncReport",
    "get_instance",
    "list_instances",
    "set_options",
    "set_enabled",
    "add_instance",
    "instantiate",
    "validate_config",
    # runner
    "run_plugin",
    "CollectingAccumulator",
]
