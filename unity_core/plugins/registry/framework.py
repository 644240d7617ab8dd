"""Framework options of an instance (interval, cron, timeout, retries, queue, tags…): their rules.

The scheduler and the workers read these from the `plugins` row; the plugin never sees
them. check_changes() reports every problem at once, with a "did you mean" hint.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from unity_core.config.schema import parse_duration
from unity_core.errors import PluginConfigError

__all__ = [
    "FRAMEWORK_KEYS",
    "PLUGIN_DEFAULT_KEYS",
    "Changes",
    "check_changes",
    "default_columns",
    "hint",
    "parse_changes",
    "validate_cron",
]

#: Keys `set`/`add` accept besides `tags.<name>` and `config.<key>`; `schedule` = `cron`.
FRAMEWORK_KEYS = (
    "name",
    "enabled",
    "interval",
    "cron",
    "schedule",
    "timezone",
    "timeout",
    "retry_count",
    "retry_delay",
    "retry_backoff",
    "queue",
)


@dataclass
class Changes:
    """Validated changes: model columns (None = back to the collection default), tags, config."""

    columns: dict[str, Any] = field(default_factory=dict)
    #: Tag name -> new value, or None to remove the tag.
    tags: dict[str, str | None] = field(default_factory=dict)
    #: Key path inside config -> new value, or None to remove the key (back to its default).
    config: list[tuple[tuple[str, ...], Any]] = field(default_factory=list)


def parse_changes(plugin_id: str, changes: Mapping[str, Any]) -> Changes:
    """Check framework keys and split the rest; PluginConfigError lists every problem."""
    result, problems = check_changes(changes)
    if problems:
        raise PluginConfigError(plugin_id, problems)
    return result


def check_changes(changes: Mapping[str, Any]) -> tuple[Changes, list[str]]:
    """The changes that passed and `key: message` for each that did not (nothing raised)."""
    result, problems = Changes(), []
    for key, value in changes.items():
        try:
            if key.startswith("tags."):
                result.tags[_tag_name(key)] = None if value is None else _tag_value(value)
            elif key.startswith("config."):
                path = tuple(key.split(".")[1:])
                if not all(path):
                    raise ValueError("expected config.KEY (or config.KEY.SUBKEY)")
                result.config.append((path, value))
            elif key in _FRAMEWORK:
                column, check = _FRAMEWORK[key]
                if value is None and column == "enabled":
                    raise ValueError("expected true or false")
                result.columns[column] = None if value is None else check(value)
            else:
                raise ValueError(_unknown(key))
        except ValueError as error:
            problems.append(f"{key}: {error}")
    if result.columns.get("interval_seconds") and result.columns.get("cron"):
        problems.append("interval: use interval or cron, not both")
    # An interval and a cron expression exclude each other: setting one clears the other.
    if result.columns.get("interval_seconds") is not None:
        result.columns["cron"] = None
    elif result.columns.get("cron") is not None:
        result.columns["interval_seconds"] = None
    return result, problems


#: What a plugin class may suggest in `Plugin.defaults` (timing only: never enabled, queue…).
PLUGIN_DEFAULT_KEYS = frozenset(
    {"interval", "schedule", "cron", "timezone", "timeout", "retry_count", "retry_delay",
     "retry_backoff"}
)  # fmt: skip


def default_columns(defaults: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The `plugins` columns a plugin's `defaults` stand for, and what is wrong with them."""
    unknown = sorted(set(defaults) - PLUGIN_DEFAULT_KEYS)
    problems = [f"{key}: not a default a plugin may set" for key in unknown]
    parsed, invalid = check_changes({k: v for k, v in defaults.items() if k not in unknown})
    return parsed.columns, problems + invalid


def validate_cron(expression: str) -> str | None:
    """Why `expression` is not a usable 5-field cron expression, or None when it is."""
    try:
        from cronsim import CronSim, CronSimError
    except ImportError:  # cronsim is the scheduler's; without it check only the shape
        if len(expression.split()) != 5:
            return "a cron expression has 5 fields: minute hour day month weekday"
        return None
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as error:
        return f"not a valid cron expression ({error})"
    return None


def hint(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f' — did you mean "{close[0]}"?' if close else ""


def _unknown(key: str) -> str:
    known = [*FRAMEWORK_KEYS, "tags.", "config."]
    return (
        "unknown key"
        + hint(key, known)
        + " (keys: "
        + ", ".join(FRAMEWORK_KEYS)
        + ", tags.NAME, config.KEY)"
    )


def _tag_name(key: str) -> str:
    name = key[len("tags.") :]
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", name):
        raise ValueError("tag names use letters, digits, '_', '.' and '-'")
    return name


def _tag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError("a tag value is a single word or number")


def _text(limit: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("expected non-empty text")
        if len(value) > limit:
            raise ValueError(f"at most {limit} characters")
        return value.strip()

    return check


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _seconds(minimum: float, *, whole: bool, inclusive: bool = True) -> Callable[[Any], Any]:
    def check(value: Any) -> int | float:
        if isinstance(value, float) and math.isfinite(value) and not whole:
            number: float = value
        else:
            try:
                number = parse_duration(value).total_seconds()
            except ValueError as error:
                raise ValueError(str(error).rstrip(".")) from None
        if number < minimum or (not inclusive and number == minimum):
            raise ValueError(f"must be {'at least' if inclusive else 'more than'} {minimum:g}")
        return int(number) if whole else float(number)

    return check


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a whole number, 0 or more")
    return value


def _backoff(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("expected a number, 1 or more")
    if value < 1:
        raise ValueError("must be at least 1 (1 = no backoff)")
    return float(value)


def _cron(value: Any) -> str:
    text = _text(100)(value)
    problem = validate_cron(text)
    if problem:
        raise ValueError(problem)
    return text


def _timezone(value: Any) -> str:
    text = _text(64)(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {text!r}") from None
    return text


_FRAMEWORK: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "name": ("name", _text(200)),
    "enabled": ("enabled", _flag),
    "interval": ("interval_seconds", _seconds(0, whole=True, inclusive=False)),
    "cron": ("cron", _cron),
    "schedule": ("cron", _cron),
    "timezone": ("timezone", _timezone),
    "timeout": ("timeout_seconds", _seconds(0, whole=False, inclusive=False)),
    "retry_count": ("retry_count", _count),
    "retry_delay": ("retry_delay", _seconds(0, whole=False)),
    "retry_backoff": ("retry_backoff", _backoff),
    "queue": ("queue", _text(100)),
}
