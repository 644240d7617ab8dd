"""The docker plugin against recorded Engine API 1.43 responses, and against a real engine if any.

The recorded engine (recorded_engine.py) serves the JSON files in engine_api_1.43/ on a unix
socket, so the plugin runs its real code path: the docker SDK, HTTP over a unix socket, the
parallel per-container calls. Expected figures are worked out here from those same files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from click.testing import CliRunner
from unity_plugins.docker import DockerPlugin
from unity_plugins.docker.plugin import DEFAULT_SOCKET, EngineUnreachable
from unity_plugins.docker.stats import cpu_percent, memory, network_totals
from unity_plugins.docker.tests.recorded_engine import (
    RECORDINGS,
    RecordedEngine,
    recorded_engine,
)

from unity_core.cli import main
from unity_core.plugins.sdk import Collection, MetricType
from unity_core.plugins.testing import RecordingAccumulator, collect

CONTAINERS: list[dict[str, Any]] = json.loads((RECORDINGS / "containers.json").read_text())


def _recorded(folder: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDINGS / folder / f"{name}.json").read_text())
    return loaded


@pytest.fixture
def engine() -> Iterator[RecordedEngine]:
    """The recorded engine on a fresh unix socket (short path: sockets allow ~100 bytes)."""
    folder = tempfile.mkdtemp(prefix="unity-docker-")
    try:
        with recorded_engine(Path(folder) / "docker.sock") as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def acc(engine: RecordedEngine) -> RecordingAccumulator:
    return collect(DockerPlugin, {"base_url": engine.url})


def test_containers_are_counted_by_state_as_the_engine_lists_them(
    acc: RecordingAccumulator,
) -> None:
    # Given the recorded container list / When counting states the way `docker ps` does
    states = Counter(c["State"] for c in CONTAINERS)
    # Then each count matches, with exited, created and dead counted as stopped
    acc.assert_metric("containers_running", value=states["running"], unit="count")
    acc.assert_metric(
        "containers_stopped", value=states["exited"] + states["created"] + states["dead"]
    )
    acc.assert_metric("containers_restarting", value=states["restarting"])
    acc.assert_metric("containers_paused", value=states["paused"])
    images = json.loads((RECORDINGS / "images.json").read_text())
    acc.assert_metric("images_total", value=len(images))
    # And every listed container has its state, tagged with its name and image
    for container in CONTAINERS:
        tags = {"container": container["Names"][0][1:], "image": container["Image"]}
        acc.assert_metric("container_state", tags, value=container["State"], unit="text")


def test_running_containers_report_cpu_memory_and_network_as_docker_stats_shows_them(
    acc: RecordingAccumulator,
) -> None:
    # Given the recorded stats of the running container "db" (cgroup v2, 4 CPUs, two networks)
    raw = _recorded("stats", "db")
    cpu, before = raw["cpu_stats"], raw["precpu_stats"]
    # When computing what `docker stats` prints from it
    cpu_delta = cpu["cpu_usage"]["total_usage"] - before["cpu_usage"]["total_usage"]
    system_delta = cpu["system_cpu_usage"] - before["system_cpu_usage"]
    expected_cpu = round(cpu_delta / system_delta * cpu["online_cpus"] * 100, 2)
    mem = raw["memory_stats"]
    used = mem["usage"] - mem["stats"]["inactive_file"]
    # Then the plugin reports the same figures, with the declared types and units
    tags = {"container": "db", "image": "postgres:16"}
    acc.assert_metric("container_cpu_percent", tags, value=expected_cpu, unit="percent")
    acc.assert_metric("container_memory_usage", tags, value=used, unit="bytes")
    acc.assert_metric("container_memory_limit", tags, value=mem["limit"])
    acc.assert_metric("container_memory_percent", tags, value=round(used / mem["limit"] * 100, 2))
    # And network counters add up every interface, as raw totals (the pipeline makes rates)
    rx = sum(n["rx_bytes"] for n in raw["networks"].values())
    tx = sum(n["tx_bytes"] for n in raw["networks"].values())
    acc.assert_metric("container_net_rx_bytes", tags, value=rx, type=MetricType.COUNTER)
    acc.assert_metric("container_net_tx_bytes", tags, value=tx, type=MetricType.COUNTER)
    # And containers that are not running report no usage
    acc.assert_no_metric("container_cpu_percent", {"container": "backup"})
    acc.assert_no_metric("container_memory_usage", {"container": "jellyfin"})


def test_health_and_restarts_come_from_inspecting_each_container(
    acc: RecordingAccumulator,
) -> None:
    # Given the recorded inspect answers / When looking at health and restart counts
    healths = {}
    for file in sorted((RECORDINGS / "inspect").glob("*.json")):
        details = json.loads(file.read_text())
        name = details["Name"][1:]
        acc.assert_metric("container_restarts", {"container": name}, value=details["RestartCount"])
        health = details["State"].get("Health")
        if health:
            healths[name] = health["Status"]
            acc.assert_metric("container_health", {"container": name}, value=health["Status"])
        else:
            # Then containers without a health check report no health at all
            acc.assert_no_metric("container_health", {"container": name})
    unhealthy = list(healths.values()).count("unhealthy")
    acc.assert_metric("containers_unhealthy", value=unhealthy)
    assert unhealthy >= 1 and "healthy" in healths.values()


def test_a_container_removed_while_being_read_is_an_item_error_and_the_rest_is_collected(
    acc: RecordingAccumulator,
) -> None:
    # Given "cron" is listed as running but gone when inspected (no inspect recording)
    assert not (RECORDINGS / "inspect" / "cron.json").exists()
    # Then exactly that container is reported as an error of the run
    assert len(acc.errors) == 1 and "container cron" in acc.errors[0], acc.errors
    assert "gone" in acc.errors[0]
    # And it still counts as listed, while the other containers have their figures
    acc.assert_metric("container_state", {"container": "cron"}, value="running")
    acc.assert_no_metric("container_restarts", {"container": "cron"})
    acc.assert_metric("container_cpu_percent", {"container": "web"})


def test_the_overview_object_and_summary_read_like_the_designs_example(
    engine: RecordedEngine, acc: RecordingAccumulator
) -> None:
    # Given one collection
    overview = acc.assert_metric("container_stats", unit="json").value
    used = sum(m.value for m in acc.find("container_memory_usage"))
    cpu = sum(m.value for m in acc.find("container_cpu_percent"))
    # Then container_stats carries the design's keys, consistent with the detailed metrics
    assert overview == {
        "containers_running": acc.assert_metric("containers_running").value,
        "containers_stopped": acc.assert_metric("containers_stopped").value,
        "images_total": acc.assert_metric("images_total").value,
        "memory_used_gb": round(used / 2**30, 2),
        "cpu_percent": round(cpu, 2),
    }
    # And the summary is the sentence the AI formats carry
    plugin = DockerPlugin({"base_url": engine.url})
    collection = Collection("docker", slot_time=None, metrics=acc.metrics)  # type: ignore[arg-type]
    states = Counter(c["State"] for c in CONTAINERS)
    assert plugin.summary(collection) == (
        f"{states['running']} containers running, {states['exited'] + states['created']} stopped,"
        f" {states['restarting']} restarting, {states['paused']} paused, 1 unhealthy"
    )


def test_include_and_exclude_pick_containers_by_name(engine: RecordedEngine) -> None:
    # Given a filter keeping web and db, then dropping db
    acc = collect(
        DockerPlugin, {"base_url": engine.url, "include": ["web", "d*"], "exclude": ["db"]}
    )
    # Then only web is reported and counted
    assert {m.tags["container"] for m in acc.find("container_state")} == {"web"}
    acc.assert_metric("containers_running", value=1)
    # And nothing was asked of the engine about the containers left out
    asked = {path.split("/")[3] for _, path in engine.requests if path.count("/") == 4}
    web = next(c["Id"] for c in CONTAINERS if c["Names"] == ["/web"])
    assert asked == {web}


def test_usage_off_skips_the_slow_per_container_calls(engine: RecordedEngine) -> None:
    # Given usage: false / When collecting
    acc = collect(DockerPlugin, {"base_url": engine.url, "usage": False})
    # Then no stats endpoint was called and no usage reported, but states still are
    assert not [path for _, path in engine.requests if "/stats" in path]
    assert not acc.find("container_cpu_percent")
    acc.assert_metric("containers_running")


def test_an_engine_that_does_not_answer_fails_the_run_naming_the_address_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no engine at the configured socket
    missing = f"unix://{tmp_path}/no-engine.sock"
    # When collecting / Then the run fails with an error that says where and what to set
    with pytest.raises(EngineUnreachable, match="cannot reach the Docker engine at unix://"):
        collect(DockerPlugin, {"base_url": missing})
    # And without base_url, DOCKER_HOST decides, then the standard socket
    monkeypatch.setenv("DOCKER_HOST", missing)
    assert DockerPlugin({}).base_url() == missing
    monkeypatch.delenv("DOCKER_HOST")
    assert DockerPlugin({}).base_url() == DEFAULT_SOCKET
    with pytest.raises(EngineUnreachable, match=r"config\.base_url / DOCKER_HOST"):
        collect(DockerPlugin, {"base_url": missing})


def test_stats_on_a_cgroup_v1_host_drop_the_page_cache_and_count_per_cpu_usage() -> None:
    # Given a sample shaped as cgroup v1 engines send it (no online_cpus, total_inactive_file)
    sample = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 3_000_000, "percpu_usage": [2_000_000, 1_000_000]},
            "system_cpu_usage": 20_000_000,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000}, "system_cpu_usage": 10_000_000},
        "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"total_inactive_file": 200}},
    }
    # Then CPU counts the per-CPU list as the CPUs, and memory leaves the cache out
    assert cpu_percent(sample) == 2_000_000 / 10_000_000 * 2 * 100
    assert memory(sample) == (800, 4000)
    assert network_totals(sample) is None  # network_mode: host has no networks of its own
    # And a first sample with nothing to compare against gives no CPU figure, not 0
    assert cpu_percent({"cpu_stats": sample["cpu_stats"], "precpu_stats": {}}) is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unity_collect_dry_run_works_against_the_recorded_engine(
    engine: RecordedEngine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given Unity configured on a database, and DOCKER_HOST pointing at the recorded engine
    for name in [name for name in os.environ if name.startswith("UNITY_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "unity.yaml"
    config.write_text(f"database:\n  url: {database_url}\n", encoding="utf-8")
    monkeypatch.setenv("DOCKER_HOST", engine.url)
    # When running `unity collect docker --dry-run`
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "docker", "--dry-run"])
    # Then the pipeline accepted every metric and the summary is printed
    assert result.exit_code == 0, result.output
    assert "container_cpu_percent" in result.stdout
    assert "rejected" not in result.stderr, result.stderr
    assert "summary: 4 containers running, 2 stopped" in result.stderr


def test_a_real_engine_is_read_when_this_machine_has_one() -> None:
    # Given the standard socket answers (skipped, with the reason, where no engine runs)
    try:
        client = docker.APIClient(base_url=DEFAULT_SOCKET, timeout=5)
        expected = len(client.containers(all=True))
        client.close()
    except docker.errors.DockerException as error:
        pytest.skip(f"no Docker engine at {DEFAULT_SOCKET}: {error}")
    # When collecting with the defaults / Then every container the engine lists is reported
    acc = collect(DockerPlugin, {"base_url": DEFAULT_SOCKET})
    assert len(acc.find("container_state")) == expected
    acc.assert_metric("images_total")
