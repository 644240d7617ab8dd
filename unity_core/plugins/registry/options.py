"""A plugin's own options (`config.KEY`): checked by its schema, described, parsed from text.

Pure functions, no database: parse `KEY=VALUE` text, validate a config mapping with the
plugin's marshmallow schema, and describe that schema for `plugins info`. Every problem
is reported at once, as `config.key: message` lines, with a "did you mean" hint.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from marshmallow import Schema, ValidationError, fields, missing

from unity_core.errors import PluginConfigError
from unity_core.plugins.registry.framework import Changes, hint
from unity_core.plugins.sdk import Plugin

__all__ = [
    "ConfigField",
    "apply_config",
    "check_config",
    "config_fields",
    "parse_assignment",
    "parse_value",
    "validate_config",
]

_TEXT_KEYS = {"name", "cron", "schedule", "timezone", "queue"}
_NULL_TEXT = {"", "~", "null", "none"}


@dataclass(frozen=True)
class ConfigField:
    """One option of a plugin's config schema, as `plugins info` shows it."""

    name: str
    type: str
    default: Any
    required: bool
    description: str


def parse_assignment(text: str) -> tuple[str, str]:
    """Split `KEY=VALUE` (the value may contain '='); ValueError without a key or '='."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{text!r}: expected KEY=VALUE")
    return key.strip(), value


def parse_value(key: str, text: str, plugin: type[Plugin] | None = None) -> Any:
    """The Python value of command-line text for `key`: YAML for numbers, flags and lists.

    Text-typed keys (name, queue, cron, timezone, tags.X and String fields of the plugin's
    schema) keep the text as typed, so `config.password=12345` stays a string. An empty
    value, `~` or `null` means None: remove the key, back to its default.
    """
    if text.strip().lower() in _NULL_TEXT:
        return None
    if key in _TEXT_KEYS or key.startswith("tags."):
        return text
    if key.startswith("config.") and plugin is not None:
        found = _schema_field(plugin.config_schema(), tuple(key.split(".")[1:]))
        if isinstance(found, fields.String):
            return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # not YAML: let validation say what is wrong with it


def apply_config(config: Mapping[str, Any] | None, updates: Changes) -> dict[str, Any]:
    """A copy of `config` with the config updates applied (None removes a key)."""
    result: dict[str, Any] = copy.deepcopy(dict(config or {}))
    for path, value in updates.config:
        node = result
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return result


def validate_config(
    plugin: type[Plugin], plugin_id: str, config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The config as the plugin's schema loads it (defaults filled), or PluginConfigError."""
    loaded, problems = check_config(plugin, config)
    if problems:
        raise PluginConfigError(plugin_id, problems)
    return loaded


def check_config(
    plugin: type[Plugin], config: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """The loaded config and no problems, or {} and `config.key: message` lines."""
    schema = plugin.config_schema()
    try:
        return dict(schema.load(dict(config or {}))), []
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"": error.messages}
        return {}, _flatten(schema, messages, ("config",))


def config_fields(plugin: type[Plugin]) -> list[ConfigField]:
    """Every option of the plugin's config schema (nested ones as `a.b`), in declared order."""
    return _describe(plugin.config_schema(), "")


def _describe(schema: Schema, prefix: str) -> list[ConfigField]:
    found: list[ConfigField] = []
    for name, item in schema.fields.items():
        key = f"{prefix}{item.data_key or name}"
        if isinstance(item, fields.Nested) and isinstance(item.schema, Schema):
            found.extend(_describe(item.schema, f"{key}."))
            continue
        default = item.load_default() if callable(item.load_default) else item.load_default
        found.append(
            ConfigField(
                name=key,
                type=type(item).__name__,
                default=None if default is missing else default,
                required=bool(item.required),
                description=str(item.metadata.get("description", "")),
            )
        )
    return found


def _schema_field(schema: Schema, path: tuple[str, ...]) -> fields.Field[Any] | None:
    node: Schema | None = schema
    found: fields.Field[Any] | None = None
    for part in path:
        if node is None:
            return None
        found = node.fields.get(part)
        nested = found.schema if isinstance(found, fields.Nested) else None
        node = nested if isinstance(nested, Schema) else None
    return found


def _flatten(
    schema: Schema | None, messages: Mapping[Any, Any], path: tuple[str, ...]
) -> list[str]:
    lines: list[str] = []
    for key, detail in messages.items():
        where = (*path, str(key)) if key != "" else path
        field_ = schema.fields.get(str(key)) if schema is not None else None
        if isinstance(detail, Mapping):
            nested = field_.schema if isinstance(field_, fields.Nested) else None
            lines.extend(_flatten(nested if isinstance(nested, Schema) else None, detail, where))
            continue
        for message in detail if isinstance(detail, list) else [detail]:
            text = str(message)
            if text == "Unknown field." and schema is not None:
                text = "unknown key" + hint(str(key), list(schema.fields))
            lines.append(f"{'.'.join(where)}: {text}")
    return lines
