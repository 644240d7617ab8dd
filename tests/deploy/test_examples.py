"""deploy/examples/: every example loads with Unity's loader and its plugins pass their schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from unity_core.config import load_settings
from unity_core.plugins.registry import discover, sync_registry
from unity_core.storage import make_engine, make_sessionmaker
from unity_core.storage.migrate import upgrade

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
SECRETS = {"UNITY_DB_PASSWORD": "d", "UNITY_BROKER_PASSWORD": "b", "UNITY_CACHE_PASSWORD": "c"}
HOSTS = {"single-box.yaml": "minipc", "nas-worker.yaml": "nas", "raspberry-pi-worker.yaml": "pi"}


def test_there_is_an_example_per_host() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(HOSTS)


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('examples') / 'registry.db'}"
    upgrade(url)
    return url


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_each_example_loads_and_its_plugins_register(name: str, registry_url: str) -> None:
    # Given the example with its secrets in the environment, as systemd or compose give them
    settings = load_settings(EXAMPLES / name, environ=SECRETS)
    assert settings.collection.host == HOSTS[name]
    assert settings.broker.url and settings.broker.url.startswith(("redis://", "rediss://"))
    # When its plugins are applied to a registry
    engine = make_engine(registry_url)
    try:
        with make_sessionmaker(engine)() as session:
            report = sync_registry(session, settings, discover(None))
            session.commit()
    finally:
        engine.dispose()
    # Then every entry passed its plugin's schema
    assert not report.problems, report.problems


def test_worker_hosts_pin_their_own_plugins_to_their_queue() -> None:
    for name in ("nas-worker.yaml", "raspberry-pi-worker.yaml"):
        settings = load_settings(EXAMPLES / name, environ=SECRETS)
        host = settings.collection.host
        assert {entry["queue"] for entry in settings.plugins} == {f"host.{host}"}, name
    nas = load_settings(EXAMPLES / "nas-worker.yaml", environ=SECRETS)
    assert {e["plugin"] for e in nas.plugins if e["queue"] == "host.nas"} >= {"docker"}


def test_hosts_reaching_the_broker_over_the_network_check_its_certificate() -> None:
    for name in ("nas-worker.yaml", "raspberry-pi-worker.yaml"):
        url = load_settings(EXAMPLES / name, environ=SECRETS).broker.url
        assert url is not None and url.startswith("rediss://"), name
        assert "ssl_cert_reqs=required" in url and "ssl_ca_certs=" in url, name


def test_unpinned_plugins_name_the_host_they_describe() -> None:
    # An unpinned instance runs on whichever worker is free: without its own `host` tag its
    # series would follow the collecting worker's collection.host (README "Scaling out").
    for name in sorted(HOSTS):
        settings = load_settings(EXAMPLES / name, environ=SECRETS)
        for entry in settings.plugins:
            if not str(entry.get("queue") or "").startswith("host."):
                assert "host" in (entry.get("tags") or {}), (name, entry["id"])
