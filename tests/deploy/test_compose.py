"""deploy/compose.yaml, checked by parsing: no Docker engine is needed (or present in CI)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.cli_check import parse_unity

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml"
UNITY_SERVICES = ("migrate", "worker", "beat", "api", "flower")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return dict(document["services"])


def test_every_part_of_unity_has_a_service(services: dict[str, Any]) -> None:
    assert set(services) == {"broker", "cache", "db", *UNITY_SERVICES}


@pytest.mark.parametrize("name", UNITY_SERVICES)
def test_each_unity_service_runs_a_command_the_cli_accepts(
    services: dict[str, Any], name: str
) -> None:
    command = services[name]["command"]
    assert command[0] == "unity", command
    assert (
        parse_unity(command[1:])
        == {
            "migrate": ["db", "upgrade"],
            "worker": ["worker"],
            "beat": ["beat"],
            "api": ["api"],
            "flower": ["flower"],
        }[name]
    )


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    # The one-shot migration exits; the others wait for it to have succeeded
    for name, service in services.items():
        if name == "migrate":
            assert service["restart"] == "no"
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
    for name in ("worker", "beat", "api"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def _flags(command: list[str]) -> dict[str, str]:
    return dict(itertools.pairwise(command))


def test_the_broker_keeps_queued_work_and_the_cache_evicts(services: dict[str, Any]) -> None:
    broker = _flags(services["broker"]["command"])
    assert broker["--appendonly"] == "yes" and broker["--maxmemory-policy"] == "noeviction"
    cache = _flags(services["cache"]["command"])
    assert cache["--maxmemory-policy"] == "allkeys-lru" and cache["--maxmemory"]


def test_redis_needs_a_password_and_the_default_user_is_off(services: dict[str, Any]) -> None:
    for name in ("broker", "cache"):
        command = services[name]["command"]
        at = command.index("default")
        assert command[at - 1 : at + 2] == ["--user", "default", "off"], name
        assert any(part.startswith(">${") for part in command), name
    environment = services["worker"]["environment"]
    assert environment["UNITY_BROKER_URL"].startswith("redis://unity:${UNITY_BROKER_PASSWORD")


def test_the_database_is_the_official_timescaledb_image(services: dict[str, Any]) -> None:
    assert services["db"]["image"].startswith("timescale/timescaledb:")


def test_flower_has_credentials_and_stays_on_loopback(services: dict[str, Any]) -> None:
    flower = services["flower"]
    assert "UNITY_FLOWER_PASSWORD" in flower["environment"]
    assert flower["environment"]["UNITY_FLOWER_PASSWORD"].startswith("${UNITY_FLOWER_PASSWORD:?")
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"])
