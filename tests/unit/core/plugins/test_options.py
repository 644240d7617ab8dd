"""Instance options: KEY=VALUE text, framework keys, and config checked by the plugin schema."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, fields

from unity_core.errors import PluginConfigError
from unity_core.plugins.registry import (
    config_fields,
    parse_assignment,
    parse_value,
    validate_config,
)
from unity_core.plugins.registry.framework import parse_changes
from unity_core.plugins.registry.options import apply_config
from unity_core.plugins.sdk import Accumulator, Plugin


class Limits(Schema):
    warn = fields.Integer(load_default=80)
    crit = fields.Integer(load_default=95)


class WebConfig(Schema):
    url = fields.String(required=True, metadata={"description": "Page to fetch."})
    password = fields.String(load_default=None, allow_none=True)
    expect_status = fields.Integer(load_default=200)
    follow = fields.Boolean(load_default=True)
    headers = fields.List(fields.String(), load_default=list)
    limits = fields.Nested(Limits, load_default=lambda: {"warn": 80, "crit": 95})


class Web(Plugin):
    id = "web"
    config_schema = WebConfig

    def collect_data(self, acc: Accumulator) -> None:
        acc.add_gauge("up", True)


def test_assignments_split_at_the_first_equals_sign() -> None:
    # Given / When / Then: the value keeps later '=' and spaces; a key is required
    assert parse_assignment("config.url=https://nas.lan/?a=b c") == (
        "config.url",
        "https://nas.lan/?a=b c",
    )
    assert parse_assignment("interval=") == ("interval", "")
    for bad in ("interval", "=5"):
        with pytest.raises(ValueError, match="expected KEY=VALUE"):
            parse_assignment(bad)


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("interval", "30", 30),
        ("interval", "5m", "5m"),
        ("enabled", "false", False),
        ("retry_backoff", "1.5", 1.5),
        ("queue", "123", "123"),
        ("name", "true", "true"),
        ("cron", "*/5 * * * *", "*/5 * * * *"),
        ("tags.rack", "42", "42"),
        ("config.expect_status", "204", 204),
        ("config.password", "12345", "12345"),
        ("config.headers", "[a, b]", ["a", "b"]),
        ("config.limits.warn", "70", 70),
        ("config.unknown", "yes", True),
        ("timeout", "", None),
        ("config.url", "null", None),
    ],
)
def test_values_are_yaml_except_where_the_key_is_text(key: str, text: str, expected: Any) -> None:
    # Given a typed value for a key / When parsed for the Web plugin / Then its type fits the key
    assert parse_value(key, text, Web) == expected


def test_framework_keys_are_checked_and_every_problem_reported() -> None:
    # Given several bad values and a misspelt key
    changes = {
        "intervall": 30,
        "timeout": 0,
        "retry_count": -1,
        "retry_backoff": 0.5,
        "timezone": "Mars/Olympus",
        "cron": "every day",
        "enabled": "sometimes",
        "tags.bad tag": "x",
    }
    # When they are parsed
    with pytest.raises(PluginConfigError) as error:
        parse_changes("web", changes)
    # Then each one is named, and the misspelling gets a suggestion
    problems = error.value.problems
    assert problems[0].startswith('intervall: unknown key — did you mean "interval"?')
    assert "timeout: must be more than 0" in problems
    assert "retry_count: expected a whole number, 0 or more" in problems
    assert "retry_backoff: must be at least 1 (1 = no backoff)" in problems
    assert "timezone: unknown time zone 'Mars/Olympus'" in problems
    assert any(p.startswith("cron: not a valid cron expression") for p in problems)
    assert "enabled: expected true or false" in problems
    assert any(p.startswith("tags.bad tag:") for p in problems)
    assert len(problems) == len(changes)


def test_framework_values_are_normalised_and_interval_and_cron_exclude_each_other() -> None:
    # Given durations, a tag value, and a schedule switch to cron
    changes = parse_changes(
        "web",
        {"interval": "2m", "retry_delay": "30s", "tags.ssd": True, "tags.old": None},
    )
    to_cron = parse_changes("web", {"schedule": "0 * * * *", "timeout": 2.5})
    # Then seconds are numbers, tags are text (None removes), and one timing clears the other
    assert changes.columns == {"interval_seconds": 120, "retry_delay": 30.0, "cron": None}
    assert changes.tags == {"ssd": "true", "old": None}
    assert to_cron.columns == {
        "cron": "0 * * * *",
        "timeout_seconds": 2.5,
        "interval_seconds": None,
    }
    with pytest.raises(PluginConfigError, match="use interval or cron, not both"):
        parse_changes("web", {"interval": 60, "cron": "* * * * *"})


def test_config_is_validated_by_the_plugins_schema_with_hints() -> None:
    # Given a config with a missing required key, a wrong type, a typo and a nested typo
    config = {"expect_status": "ok", "folow": False, "limits": {"wran": 1}}
    # When validated
    with pytest.raises(PluginConfigError) as error:
        validate_config(Web, "nas-web", config)
    # Then every problem is listed with its key path
    assert error.value.plugin_id == "nas-web"
    assert sorted(error.value.problems) == [
        "config.expect_status: Not a valid integer.",
        'config.folow: unknown key — did you mean "follow"?',
        'config.limits.wran: unknown key — did you mean "warn"?',
        "config.url: Missing data for required field.",
    ]


def test_a_valid_config_comes_back_with_defaults_filled() -> None:
    # Given only the required key / When validated / Then the defaults are filled in
    assert validate_config(Web, "web", {"url": "https://nas.lan/"}) == {
        "url": "https://nas.lan/",
        "password": None,
        "expect_status": 200,
        "follow": True,
        "headers": [],
        "limits": {"warn": 80, "crit": 95},
    }


def test_config_updates_merge_into_a_copy_and_none_removes_a_key() -> None:
    # Given a stored config and updates to a nested key, a new key and a removal
    stored = {"url": "https://a/", "expect_status": 204, "limits": {"warn": 50}}
    updates = parse_changes(
        "web",
        {"config.limits.crit": 99, "config.expect_status": None, "config.follow": False},
    )
    # When applied
    merged = apply_config(stored, updates)
    # Then the result has them all and the stored dict is untouched
    assert merged == {"url": "https://a/", "limits": {"warn": 50, "crit": 99}, "follow": False}
    assert stored["limits"] == {"warn": 50}


def test_config_fields_describe_the_schema_for_info() -> None:
    # Given the Web plugin / When its options are described
    described = {f.name: f for f in config_fields(Web)}
    # Then nested keys are dotted and defaults, requiredness and descriptions are shown
    assert list(described) == [
        "url",
        "password",
        "expect_status",
        "follow",
        "headers",
        "limits.warn",
        "limits.crit",
    ]
    assert described["url"].required and described["url"].description == "Page to fetch."
    assert (described["headers"].type, described["headers"].default) == ("List", [])
    assert described["limits.crit"].default == 95
