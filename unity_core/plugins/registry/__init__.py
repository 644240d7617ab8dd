"""The plugin registry: discovering implementations and managing configured instances.

Discovery finds what is installed; the `plugins` table holds the instances (one default
per discovered plugin, plus the configuration file's entries and what `unity plugins add`
created); PluginInstance is the JSON-safe snapshot workers run.
"""

from __future__ import annotations

from unity_core.plugins.registry.discovery import (
    ENTRY_POINT_GROUP,
    Discovery,
    check_plugin_class,
    discover,
)
from unity_core.plugins.registry.edits import (
    add_instance,
    default_name,
    load_row,
    set_enabled,
    set_options,
)
from unity_core.plugins.registry.framework import FRAMEWORK_KEYS, check_changes, validate_cron
from unity_core.plugins.registry.instances import (
    PluginInstance,
    get_instance,
    instantiate,
    list_instances,
)
from unity_core.plugins.registry.options import (
    ConfigField,
    config_fields,
    parse_assignment,
    parse_value,
    validate_config,
)
from unity_core.plugins.registry.sync import (
    ENABLED_BY_DEFAULT,
    SyncReport,
    keys_from_file,
    sync_registry,
)

__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # discovery
    "discover",
    "Discovery",
    "check_plugin_class",
    "ENTRY_POINT_GROUP",
    # instances
    "PluginInstance",
    "get_instance",
    "list_instances",
    "instantiate",
    # changes
    "sync_registry",
    "SyncReport",
    "ENABLED_BY_DEFAULT",
    "keys_from_file",
    "set_options",
    "set_enabled",
    "add_instance",
    "load_row",
    "default_name",
    # options
    "FRAMEWORK_KEYS",
    "check_changes",
    "validate_cron",
    "ConfigField",
    "config_fields",
    "parse_assignment",
    "parse_value",
    "validate_config",
]
