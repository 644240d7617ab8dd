"""Schema checks: unknown keys with a guess, wrong types, nonsense values and durations."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema

from tests.unit.core.config.conftest import WriteConfig
from unity_core.config import (
    ApiSettings,
    BrokerSettings,
    CacheSettings,
    CacheTTL,
    CollectionSettings,
    DatabaseSettings,
    RetentionSettings,
    TimeseriesSettings,
    format_duration,
    load_settings,
    parse_duration,
)
from unity_core.config import schema as config_schema
from unity_core.errors import ConfigError


def problems(write_config: WriteConfig, text: str) -> list[str]:
    """The problems loading `text` reports (without the file prefix)."""
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.source == str(path)
    return caught.value.problems


def test_unknown_key_names_file_path_and_suggestion(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a typo in a database key, in ./unity.yaml
    write_config("database:\n  pool_sise: 5\n")
    monkeypatch.chdir(tmp_path)
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings("unity.yaml", {})
    # Then the message names the file, the key path and the likely key
    assert (
        str(caught.value)
        == 'unity.yaml: database.pool_sise: unknown key — did you mean "pool_size"?'
    )


def test_unknown_top_level_key_gets_a_suggestion(write_config: WriteConfig) -> None:
    # Given a misspelt section
    # When it is loaded
    found = problems(write_config, "databse: {}\n")
    # Then the section name is suggested
    assert found == ['databse: unknown key — did you mean "database"?']


def test_unknown_key_without_a_close_match_lists_the_known_keys(write_config: WriteConfig) -> None:
    # Given a key that resembles nothing
    # When it is loaded
    found = problems(write_config, "api: {zzz: 1}\n")
    # Then the known keys are listed instead
    assert found == [
        "api.zzz: unknown key (known keys: bind, cors_origins, max_request_bytes, "
        "metrics_public, rate_limit, threads, workers)"
    ]


def test_unknown_plugin_framework_key_names_the_list_index(write_config: WriteConfig) -> None:
    # Given a plugin option written beside the framework keys instead of under config
    # When it is loaded
    found = problems(write_config, "plugins:\n  - id: a\n  - id: b\n    intervall: 30\n")
    # Then the path has the list index and the guess
    assert found == ['plugins[1].intervall: unknown key — did you mean "interval"?']


def test_plugin_config_is_left_for_the_plugin_to_validate(write_config: WriteConfig) -> None:
    # Given any keys under a plugin's config
    path = write_config("plugins:\n  - id: a\n    config: {urll: x, nested: {deep: [1, 2]}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then they pass through untouched
    assert settings.plugins[0]["config"] == {"urll": "x", "nested": {"deep": [1, 2]}}


def test_wrong_type_names_the_dotted_key_path(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a word where a number belongs
    write_config("collection:\n  batch_size: lots\n")
    monkeypatch.chdir(tmp_path)
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings("unity.yaml", {})
    # Then the message is file: path: what is wrong
    assert str(caught.value) == "unity.yaml: collection.batch_size: Not a valid integer."


def test_a_plugin_without_an_id_names_its_index(write_config: WriteConfig) -> None:
    # Given a plugin entry without an id
    # When it is loaded
    found = problems(write_config, "plugins:\n  - id: a\n  - plugin: http\n")
    # Then the path points at the entry
    assert found == ["plugins[1].id: Missing data for required field."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("database: 5\n", "database: expected a mapping of keys to values."),
        ("plugins: {id: a}\n", "plugins: Not a valid list."),
        ("plugins: [just-a-name]\n", "plugins[0]: expected a mapping of keys to values."),
        ("plugins: [{id: a, tags: [x]}]\n", "plugins[0].tags: Not a valid mapping type."),
    ],
)
def test_a_section_of_the_wrong_shape_is_an_error(
    write_config: WriteConfig, text: str, expected: str
) -> None:
    # Given a section, list or item of the wrong shape
    # When it is loaded
    # Then the path and the expected shape are named
    assert problems(write_config, text) == [expected]


def test_tags_must_map_strings_to_strings(write_config: WriteConfig) -> None:
    # Given a numeric tag value
    # When it is loaded
    found = problems(write_config, "plugins:\n  - id: a\n    tags: {site: rack1, rack: 1}\n")
    # Then the tag is named
    assert found == ["plugins[0].tags.rack: Not a valid string."]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("database: {pool_size: 0}", "database.pool_size"),
        ("database: {port: 0, type: postgresql}", "database.port"),
        ("collection: {batch_size: 0}", "collection.batch_size"),
        ("collection: {default_interval: 0}", "collection.default_interval"),
        ("collection: {default_interval: -5}", "collection.default_interval"),
        ("collection: {batch_timeout: 0}", "collection.batch_timeout"),
        ("collection: {max_concurrent: 0}", "collection.max_concurrent"),
        ("collection: {retry_backoff: 0.5}", "collection.retry_backoff"),
        ("api: {workers: 0}", "api.workers"),
        ("cache: {ttl: {status: 0}}", "cache.ttl.status"),
        ("plugins: [{id: a, interval: 0}]", "plugins[0].interval"),
        ("retention: {raw_metrics: 0}", "retention.raw_metrics"),
    ],
)
def test_zero_or_negative_where_nonsensical_is_an_error(
    write_config: WriteConfig, text: str, path: str
) -> None:
    # Given a count, size or interval that cannot work
    # When it is loaded
    found = problems(write_config, text + "\n")
    # Then that key is named
    assert len(found) == 1
    assert found[0].startswith(f"{path}: ")


def test_every_schema_problem_is_reported_at_once(write_config: WriteConfig) -> None:
    # Given three problems in three sections
    text = (
        "database: {pool_sise: 1}\ncollection: {batch_size: x}\nretention: {raw_metrics: 3 days}\n"
    )
    # When it is loaded
    found = problems(write_config, text)
    # Then all three are listed
    assert [problem.partition(":")[0] for problem in found] == [
        "database.pool_sise",
        "collection.batch_size",
        "retention.raw_metrics",
    ]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("15m", timedelta(minutes=15)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1y", timedelta(days=365)),
        ("3600", timedelta(hours=1)),
        (86400, timedelta(days=1)),
    ],
)
def test_retention_accepts_every_duration_form(
    write_config: WriteConfig, written: str | int, expected: timedelta
) -> None:
    # Given a retention period in one of the accepted forms
    path = write_config(f"retention: {{alert_history: {written}}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then it is that span of time
    assert settings.retention.alert_history == expected


@pytest.mark.parametrize("written", ["3 days", "1.5h", "30x", "true", "-1d", "''"])
def test_a_bad_duration_names_the_key_and_the_accepted_forms(
    write_config: WriteConfig, written: str
) -> None:
    # Given a duration Unity cannot read
    # When it is loaded
    found = problems(write_config, f"database: {{timeseries: {{compress_after: {written}}}}}\n")
    # Then the key is named and the accepted forms are shown
    assert found == [
        "database.timeseries.compress_after: Not a valid duration; use seconds, or a number "
        "followed by s, m, h, d, w or y (45s, 15m, 12h, 30d, 2w, 1y)."
    ]


def test_collection_timings_accept_duration_strings(write_config: WriteConfig) -> None:
    # Given collection timings written as durations
    path = write_config(
        "collection: {default_interval: 5m, collection_timeout: 45s, batch_timeout: 2s, "
        "retry_delay: 1m}\n"
    )
    # When it is loaded
    settings = load_settings(path, {})
    # Then they are numbers of seconds
    assert settings.collection.default_interval == 300
    assert settings.collection.collection_timeout == 45
    assert settings.collection.batch_timeout == 2
    assert settings.collection.retry_delay == 60


def test_a_fractional_interval_is_rejected(write_config: WriteConfig) -> None:
    # Given a fraction where whole seconds are expected
    # When it is loaded
    found = problems(write_config, "collection: {default_interval: 2.5}\n")
    # Then the key is named
    assert found[0].startswith("collection.default_interval: Not a valid number of seconds")


def test_interval_and_schedule_together_are_an_error(write_config: WriteConfig) -> None:
    # Given a plugin with both an interval and a schedule
    # When it is loaded
    found = problems(write_config, "plugins: [{id: a, interval: 30s, schedule: '*/5 * * * *'}]\n")
    # Then the schedule is named
    assert found == ["plugins[0].schedule: Use interval or schedule, not both."]


def test_an_unknown_time_zone_is_an_error(write_config: WriteConfig) -> None:
    # Given a plugin schedule in a time zone that does not exist
    # When it is loaded
    found = problems(
        write_config, "plugins: [{id: a, schedule: '0 * * * *', timezone: Mars/Base}]\n"
    )
    # Then the key is named
    assert found == ["plugins[0].timezone: Unknown time zone 'Mars/Base'."]


def test_a_plugin_id_must_be_usable_in_keys_and_queue_names(write_config: WriteConfig) -> None:
    # Given an id with a space and a colon
    # When it is loaded
    found = problems(write_config, "plugins: [{id: 'my nas:1'}]\n")
    # Then the id is rejected with the allowed characters
    assert found == ["plugins[0].id: Use letters, digits, '.', '_' and '-'."]


def test_cache_ttl_accepts_the_design_alias_latest_metrics(write_config: WriteConfig) -> None:
    # Given the design's ttl.latest_metrics
    path = write_config("cache: {ttl: {latest_metrics: 120, dashboard: 1m}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then it sets ttl.latest
    assert settings.cache.ttl.latest == 120
    assert settings.cache.ttl.dashboard == 60


def test_cache_ttl_latest_and_its_alias_together_are_an_error(write_config: WriteConfig) -> None:
    # Given both spellings
    # When it is loaded
    found = problems(write_config, "cache: {ttl: {latest: 1, latest_metrics: 2}}\n")
    # Then the alias is named
    assert found == ['cache.ttl.latest_metrics: the same setting as "latest"; keep one']


@pytest.mark.parametrize(
    ("span", "shown"),
    [
        (timedelta(days=30), "30d"),
        (timedelta(days=365), "1y"),
        (timedelta(days=5 * 365), "5y"),
        (timedelta(days=7), "7d"),
        (timedelta(hours=12), "12h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=61), "61s"),
        (timedelta(0), "0s"),
    ],
)
def test_durations_are_shown_in_the_shortest_exact_form(span: timedelta, shown: str) -> None:
    # Given a span of time
    # When it is formatted for `config show`
    # Then it reads like the file, and reads back to the same span
    assert format_duration(span) == shown
    assert parse_duration(shown) == span


def test_a_non_string_key_is_named_as_written(write_config: WriteConfig) -> None:
    # Given a numeric key inside a section
    # When it is loaded
    found = problems(write_config, "database: {1: 2}\n")
    # Then it is shown as a key, not as a list index
    assert found[0].startswith("database.1: unknown key")


@pytest.mark.parametrize(
    ("section_schema", "settings", "extra"),
    [
        (
            config_schema.DatabaseSchema,
            DatabaseSettings,
            {"type", "host", "port", "database", "username", "password", "path", "options"},
        ),
        (config_schema.TimeseriesSchema, TimeseriesSettings, {"retention_days"}),
        (config_schema.CacheSchema, CacheSettings, {"host", "port", "db", "username", "password"}),
        (config_schema.CacheTTLSchema, CacheTTL, {"latest_metrics"}),
        (config_schema.BrokerSchema, BrokerSettings, set()),
        (config_schema.CollectionSchema, CollectionSettings, set()),
        (config_schema.RetentionSchema, RetentionSettings, set()),
        (config_schema.ApiSchema, ApiSettings, set()),
    ],
)
def test_every_schema_key_reaches_a_settings_field(
    section_schema: type[Schema], settings: type[Any], extra: set[str]
) -> None:
    # Given a section's schema and the dataclass the loader fills from it
    # When their names are compared
    accepted = set(section_schema().fields)
    stored = {f.name for f in dataclasses.fields(settings)}
    # Then every accepted key is stored, or is one the loader turns into something else
    assert accepted - stored == extra


@pytest.mark.parametrize("written", ["inf", ".inf", "nan"])
def test_a_timeout_that_is_not_finite_is_an_error(write_config: WriteConfig, written: str) -> None:
    # Given an infinite or undefined pool timeout
    # When it is loaded
    found = problems(write_config, f"database: {{pool_timeout: {written}}}\n")
    # Then the key is named
    assert found[0].startswith("database.pool_timeout: ")
