"""PluginInstance: defaults from the collection settings, a JSON round trip, and instantiate()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.core.plugins.folders import PROBE, write_plugin
from unity_core.config import CollectionSettings
from unity_core.errors import PluginConfigError, PluginNotFound
from unity_core.plugins.registry import Discovery, PluginInstance, discover, instantiate
from unity_core.storage.models import Plugin as PluginRow

COLLECTION = CollectionSettings(
    default_interval=45, collection_timeout=20, retry_count=4, retry_delay=7, retry_backoff=3.0
)


def bare_row(**columns: object) -> PluginRow:
    values: dict[str, object] = {"plugin_id": "nas-web", "plugin": "probe", "name": "NAS web"}
    values.update(columns)
    return PluginRow(**values)


def test_unset_framework_options_take_the_collection_defaults() -> None:
    # Given a row that sets nothing but its identity
    row = bare_row(enabled=True, config=None, tags=None)
    # When it becomes an instance
    instance = PluginInstance.from_row(row, COLLECTION)
    # Then every framework option is the collection default
    assert instance == PluginInstance(
        plugin_id="nas-web",
        plugin="probe",
        name="NAS web",
        enabled=True,
        config={},
        interval=45,
        cron=None,
        timezone="UTC",
        timeout=20.0,
        retry_count=4,
        retry_delay=7.0,
        retry_backoff=3.0,
        queue=None,
        tags={},
    )


def test_set_options_win_and_a_cron_schedule_has_no_interval() -> None:
    # Given a row with its own options, zero retries included, and a cron schedule
    row = bare_row(
        enabled=False,
        config={"url": "https://nas.lan/"},
        interval_seconds=300,
        cron="*/10 * * * *",
        timezone="Europe/Paris",
        timeout_seconds=2.5,
        retry_count=0,
        retry_delay=0.0,
        retry_backoff=1.0,
        queue="host.nas",
        tags={"site": "rack1"},
    )
    # When it becomes an instance
    instance = PluginInstance.from_row(row, COLLECTION)
    # Then the row's values are kept (0 is not "unset") and cron wins over the interval
    assert (instance.interval, instance.cron, instance.timezone) == (
        None,
        "*/10 * * * *",
        "Europe/Paris",
    )
    assert (instance.timeout, instance.retry_count, instance.retry_delay) == (2.5, 0, 0.0)
    assert (instance.queue, instance.tags) == ("host.nas", {"site": "rack1"})


def test_an_instance_survives_a_json_round_trip() -> None:
    # Given an instance with nested config
    row = bare_row(enabled=True, config={"url": "u", "limits": {"warn": [1, 2]}}, tags={"a": "b"})
    instance = PluginInstance.from_row(row, COLLECTION)
    # When shipped as JSON and read back (as beat → worker does)
    shipped = json.loads(json.dumps(instance.to_dict()))
    # Then it is the same instance
    assert PluginInstance.from_dict(shipped) == instance


def test_from_dict_rejects_what_is_not_an_instance() -> None:
    # Given a dict with a key missing and an unknown one
    data = PluginInstance.from_row(bare_row(), COLLECTION).to_dict()
    del data["timeout"]
    data["colour"] = "blue"
    # When / Then it is refused, naming both
    with pytest.raises(ValueError, match=r"missing \['timeout'\], unknown \['colour'\]"):
        PluginInstance.from_dict(data)


def test_instantiate_validates_config_and_fills_defaults(tmp_path: Path) -> None:
    # Given the probe plugin discovered from a folder
    write_plugin(tmp_path, "probe", PROBE)
    found = discover(tmp_path)
    row = bare_row(config={"url": "https://nas.lan/"})
    # When the instance is instantiated
    plugin = instantiate(PluginInstance.from_row(row, COLLECTION), found)
    # Then it is a ready plugin for this instance id, with its defaults filled
    assert plugin.instance_id == "nas-web"
    assert plugin.config == {"url": "https://nas.lan/", "expect_status": 200, "verbose": False}
    # And a config the schema rejects, or a missing implementation, is refused
    bad = PluginInstance.from_row(bare_row(config={"expect_status": 200}), COLLECTION)
    with pytest.raises(PluginConfigError, match=r"config\.url: Missing data for required field"):
        instantiate(bad, found)
    with pytest.raises(PluginNotFound, match="nas-web: plugin 'probe' is not installed"):
        instantiate(PluginInstance.from_row(row, COLLECTION), Discovery())
