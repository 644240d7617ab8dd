"""The plugin registry on each database: sync, options, enabling, adding; validated, uncommitted."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import pytest
from marshmallow import Schema, fields
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from unity_plugins.system import SystemPlugin

from unity_core.config import Settings, load_settings
from unity_core.errors import PluginConfigError, PluginNotFound
from unity_core.plugins.registry import (
    Discovery,
    add_instance,
    get_instance,
    list_instances,
    set_enabled,
    set_options,
    sync_registry,
)
from unity_core.plugins.sdk import Accumulator, Plugin
from unity_core.storage import make_sessionmaker, upsert_status
from unity_core.storage.models import Plugin as PluginRow
from unity_core.storage.models import PluginStatus


class ProbeConfig(Schema):
    url = fields.String(required=True)
    expect_status = fields.Integer(load_default=200)


class ProbePlugin(Plugin):
    id = "probe"
    name = "Probe"
    config_schema = ProbeConfig

    def collect_data(self, acc: Accumulator) -> None:
        acc.add_gauge("status", self.config["expect_status"])


DISCOVERY = Discovery(classes={"system": SystemPlugin, "probe": ProbePlugin})


def settings_with(tmp_path: Path, database_url: str, plugins_yaml: str = "") -> Settings:
    """Settings as the loader builds them from a file with this `plugins:` section."""
    path = tmp_path / "unity.yaml"
    text = f"database:\n  url: {database_url}\n" + textwrap.dedent(plugins_yaml)
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


def row_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PluginRow)) or 0


def test_sync_creates_one_default_instance_per_plugin_and_enables_only_system(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given an empty registry and two discovered plugins
    settings = settings_with(tmp_path, database_url)
    # When the registry is synced and committed
    with make_sessionmaker(engine)() as session:
        report = sync_registry(session, settings, DISCOVERY)
        session.commit()
    # Then each plugin has an instance named after it; only system is enabled
    with make_sessionmaker(engine)() as session:
        instances = {i.plugin_id: i for i in list_instances(session, settings)}
    assert sorted(report.created) == ["probe", "system"]
    assert (instances["system"].enabled, instances["probe"].enabled) == (True, False)
    assert instances["system"].name == "System"
    assert instances["system"].interval == settings.collection.default_interval


def test_sync_is_idempotent_and_keeps_changes_made_since(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given a synced registry where system was retimed afterwards
    settings = settings_with(tmp_path, database_url)
    with make_sessionmaker(engine)() as session:
        sync_registry(session, settings, DISCOVERY)
        set_options(session, "system", DISCOVERY, interval="5m", **{"config.percpu": False})
        session.commit()
    # When it is synced again
    with make_sessionmaker(engine)() as session:
        report = sync_registry(session, settings, DISCOVERY)
        session.commit()
        system = get_instance(session, "system", settings)
        # Then nothing was created or changed, and the retiming stayed
        assert (report.created, report.updated, report.problems) == ([], [], {})
        assert row_count(session) == 2
    assert (system.interval, system.config) == (300, {"percpu": False})


def test_file_entries_create_and_update_instances_and_the_file_wins(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given a registry where system was disabled and probe given a queue by hand
    plain = settings_with(tmp_path, database_url)
    with make_sessionmaker(engine)() as session:
        sync_registry(session, plain, DISCOVERY)
        set_enabled(session, "system", False)
        set_options(session, "probe", DISCOVERY, queue="by-hand")
        session.commit()
    # When a file lists system with a schedule, and a second probe instance
    settings = settings_with(
        tmp_path,
        database_url,
        """
        plugins:
          - id: system
            schedule: "*/5 * * * *"
            timezone: Europe/Paris
            tags: {rack: r1}
          - id: nas-web
            plugin: probe
            interval: 30s
            timeout: 5
            queue: host.nas
            config: {url: "https://nas.lan/"}
        """,
    )
    with make_sessionmaker(engine)() as session:
        report = sync_registry(session, settings, DISCOVERY)
        session.commit()
        system = get_instance(session, "system", settings)
        web = get_instance(session, "nas-web", settings)
        probe = get_instance(session, "probe", settings)
    # Then the file's keys won (enabled included) and the new instance exists
    assert (report.created, report.updated) == (["nas-web"], ["system"])
    assert (system.enabled, system.cron, system.interval) == (True, "*/5 * * * *", None)
    assert (system.timezone, system.tags) == ("Europe/Paris", {"rack": "r1"})
    assert (web.plugin, web.enabled, web.interval, web.timeout) == ("probe", True, 30, 5.0)
    assert (web.queue, web.config, web.name) == (
        "host.nas",
        {"url": "https://nas.lan/"},
        "Probe (nas-web)",
    )
    # And what the file does not mention was left alone
    assert (probe.queue, probe.enabled) == ("by-hand", False)


def test_a_file_entry_that_cannot_be_used_is_reported_and_not_applied(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given file entries for a missing implementation, a bad config, and an enabled probe
    # without its required url
    settings = settings_with(
        tmp_path,
        database_url,
        """
        plugins:
          - id: pihole
          - id: web-bad
            plugin: probe
            config: {url: "https://x/", expect_status: lots}
          - id: probe
        """,
    )
    # When synced
    with make_sessionmaker(engine)() as session:
        report = sync_registry(session, settings, DISCOVERY)
        session.commit()
        ids = set(session.scalars(select(PluginRow.plugin_id)))
        probe = get_instance(session, "probe", settings)
    # Then each is reported with its reason and none was written
    assert report.problems == {
        "pihole": "pihole: plugin 'pihole' is not installed",
        "web-bad": "web-bad: config.expect_status: Not a valid integer.",
        "probe": "probe: config.url: Missing data for required field.",
    }
    assert ids == {"system", "probe"}
    assert probe.enabled is False


def test_set_options_validates_everything_before_changing_anything(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given a synced registry
    settings = settings_with(tmp_path, database_url)
    with make_sessionmaker(engine)() as session:
        sync_registry(session, settings, DISCOVERY)
        session.commit()
    # When a change mixes good keys with a bad framework value and a bad config key
    with make_sessionmaker(engine)() as session:
        with pytest.raises(PluginConfigError) as error:
            set_options(
                session,
                "system",
                DISCOVERY,
                queue="fast",
                retry_count=-2,
                **{"config.percpux": True},
            )
        session.commit()
        system = get_instance(session, "system", settings)
    # Then both problems are reported and nothing changed
    assert error.value.problems == [
        "retry_count: expected a whole number, 0 or more",
        'config.percpux: unknown key — did you mean "percpu"?',
    ]
    assert system.queue is None


def test_set_options_stores_framework_keys_tags_and_config(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given a synced registry with probe configured
    settings = settings_with(tmp_path, database_url)
    with make_sessionmaker(engine)() as session:
        sync_registry(session, settings, DISCOVERY)
        set_options(
            session, "probe", DISCOVERY, **{"config.url": "https://a/", "tags.site": "home"}
        )
        session.commit()
    # When more options change, some back to their defaults
    with make_sessionmaker(engine)() as session:
        set_options(
            session,
            "probe",
            DISCOVERY,
            cron="0 3 * * *",
            timeout=2.5,
            retry_backoff=1,
            name="Front door",
            **{"config.expect_status": 204, "tags.site": None, "tags.zone": "dmz"},
        )
        session.commit()
    # Then a fresh read sees them all
    with make_sessionmaker(engine)() as session:
        probe = get_instance(session, "probe", settings)
    assert (probe.cron, probe.interval, probe.timeout) == ("0 3 * * *", None, 2.5)
    assert (probe.retry_backoff, probe.name, probe.tags) == (1.0, "Front door", {"zone": "dmz"})
    assert probe.config == {"url": "https://a/", "expect_status": 204}


def test_enabling_a_paused_plugin_clears_the_pause_and_its_failures(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given system paused after a run of failures
    settings = settings_with(tmp_path, database_url)
    with make_sessionmaker(engine)() as session:
        sync_registry(session, settings, DISCOVERY)
        upsert_status(session, "system", health_status="paused", error_count=12)
        session.flush()
        session.get_one(PluginStatus, "system").consecutive_failures = 12
        session.commit()
    # When it is enabled
    with make_sessionmaker(engine)() as session:
        set_enabled(session, "system", True, discovery=DISCOVERY)
        session.commit()
    # Then it runs normally again: no pause, no failure streak, history kept
    with make_sessionmaker(engine)() as session:
        status = session.get_one(PluginStatus, "system")
        assert (status.health_status, status.consecutive_failures) == (None, 0)
        assert status.error_count == 12


def test_enabling_refuses_an_instance_whose_config_is_incomplete(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given probe's default instance, which has no url yet
    settings = settings_with(tmp_path, database_url)
    with make_sessionmaker(engine)() as session:
        sync_registry(session, settings, DISCOVERY)
        session.commit()
        # When enabling it / Then the missing option is named and it stays disabled
        with pytest.raises(PluginConfigError, match=r"config\.url: Missing data"):
            set_enabled(session, "probe", True, discovery=DISCOVERY)
        with pytest.raises(PluginConfigError, match=r"config\.url: Missing data"):
            set_options(session, "probe", DISCOVERY, enabled=True)
        session.rollback()
        assert get_instance(session, "probe", settings).enabled is False


def test_add_instance_creates_a_validated_enabled_instance(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given a synced registry
    settings = settings_with(tmp_path, database_url)
    with make_sessionmaker(engine)() as session:
        sync_registry(session, settings, DISCOVERY)
        # When a second probe instance is added with its options
        add_instance(
            session, "probe", "router", DISCOVERY, interval=15, **{"config.url": "http://10.0.0.1/"}
        )
        session.commit()
        router = get_instance(session, "router", settings)
        # Then it is enabled, named, timed and configured
        assert (router.plugin, router.enabled, router.interval) == ("probe", True, 15)
        assert (router.name, router.config) == ("Probe (router)", {"url": "http://10.0.0.1/"})
        # And a taken id, a bad id, a missing implementation or config are refused
        with pytest.raises(PluginConfigError, match="already exists"):
            add_instance(session, "probe", "router", DISCOVERY, **{"config.url": "x"})
        with pytest.raises(PluginConfigError, match="id: use letters"):
            add_instance(session, "probe", "my router", DISCOVERY, **{"config.url": "x"})
        with pytest.raises(PluginNotFound, match="plugin 'http' is not installed"):
            add_instance(session, "http", "web", DISCOVERY)
        with pytest.raises(PluginConfigError, match=r"config\.url: Missing data"):
            add_instance(session, "probe", "web", DISCOVERY)
        assert row_count(session) == 3


def test_an_unknown_id_is_plugin_not_found(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given an empty registry / When reading or changing a missing id / Then PluginNotFound
    settings = settings_with(tmp_path, database_url)
    with make_sessionmaker(engine)() as session:
        with pytest.raises(PluginNotFound, match="nope: no such plugin"):
            get_instance(session, "nope", settings)
        with pytest.raises(PluginNotFound):
            set_enabled(session, "nope", True)
        with pytest.raises(PluginNotFound):
            set_options(session, "nope", DISCOVERY, queue="q")


def test_two_processes_syncing_at_once_create_each_instance_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given a first sync whose transaction is still open
    settings = settings_with(
        tmp_path, database_url, "plugins:\n  - id: web\n    plugin: probe\n    config: {url: u}\n"
    )
    first = make_sessionmaker(engine)()
    sync_registry(first, settings, DISCOVERY)
    # When a second sync starts meanwhile (it waits for the first one's locks)
    outcome: dict[str, object] = {}

    def second_sync() -> None:
        with make_sessionmaker(engine)() as session:
            try:
                outcome["report"] = sync_registry(session, settings, DISCOVERY)
                session.commit()
            except Exception as error:  # reported to the test thread below
                outcome["error"] = error

    racer = threading.Thread(target=second_sync)
    racer.start()
    racer.join(0.3)  # give it time to reach the locks (it may also finish, on no database)
    first.commit()
    first.close()
    racer.join(30)
    # Then neither failed and each instance exists once
    assert not racer.is_alive()
    assert "error" not in outcome, outcome.get("error")
    with make_sessionmaker(engine)() as session:
        assert sorted(session.scalars(select(PluginRow.plugin_id))) == ["probe", "system", "web"]


class SlowApiPlugin(Plugin):
    """Suggests its own timing: a slow API polled every 5 minutes with a long deadline."""

    id = "slowapi"
    defaults = {"interval": 300, "timeout": 30, "retry_count": 1}

    def collect_data(self, acc: Accumulator) -> None:
        acc.add_gauge("up", 1)


def test_a_plugins_own_defaults_override_the_collection_defaults_for_new_instances(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given a plugin that suggests its interval, timeout and retries
    settings = settings_with(tmp_path, database_url)
    discovery = Discovery(classes={"slowapi": SlowApiPlugin})
    # When its default instance is created by a sync, and another is added with its own interval
    with make_sessionmaker(engine)() as session:
        sync_registry(session, settings, discovery)
        add_instance(session, "slowapi", "slowapi-2", discovery, interval="60")
        session.commit()
    # Then both take the plugin's suggestions, the added one keeps its own interval, and
    # what the plugin leaves out comes from the collection defaults
    with make_sessionmaker(engine)() as session:
        first = get_instance(session, "slowapi", settings)
        second = get_instance(session, "slowapi-2", settings)
    assert (first.interval, first.timeout, first.retry_count) == (300, 30.0, 1)
    assert (second.interval, second.timeout, second.retry_count) == (60, 30.0, 1)
    assert first.retry_delay == settings.collection.retry_delay
