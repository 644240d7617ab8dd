"""`unity worker` and `unity flower` as users run them: real processes, real signals."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.workers.conftest import (
    ROOT,
    ROWS_PER_RUN,
    THREE_GAUGES,
    UNITY_SCRIPT,
    Deployment,
    free_port,
    run_unity,
    scalar,
    wait_for,
)
from unity_workers.processes import expand_queues

UNITY = UNITY_SCRIPT


def test_default_in_a_queue_list_stands_for_the_three_default_queues() -> None:
    assert expand_queues("host.nas,default") == ["host.nas", "collect", "persist", "maintenance"]
    assert expand_queues("persist") == ["persist"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_visibility_timeout_a_task_could_outlive_is_refused_at_start(
    deployment: Deployment,
) -> None:
    # Given a visibility timeout shorter than the hard limit plus the longest backoff
    deployment.configure(visibility_timeout=20, collection={"collection_timeout": 30})
    # When the Celery app reads its settings
    probe = "from unity_workers import app; print(app.conf.broker_url)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=deployment.env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    # Then it fails loudly, naming the settings to change
    assert result.returncode != 0
    assert "broker.visibility_timeout (20 s) must exceed the hard time limit (42 s" in result.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_flower_refuses_a_public_address_without_credentials(deployment: Deployment) -> None:
    # Given no Flower credentials
    deployment.configure()
    # When Flower is asked to listen on every interface
    result = run_unity(deployment, "flower", "--address", "0.0.0.0")  # noqa: S104 - refused
    # Then it refuses, saying what to set
    assert result.returncode != 0
    assert "flower.user" in result.stderr and "refusing" in result.stderr


def _status(url: str, auth: str | None = None) -> int:
    request = urllib.request.Request(url)  # noqa: S310 - an http://127.0.0.1 URL we built
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("given_in", ["environment", "config file"])
def test_flower_asks_for_the_configured_basic_auth(deployment: Deployment, given_in: str) -> None:
    # Given credentials in the environment or the config's flower section (they reach
    # Flower through its environment)
    port = free_port()
    env = deployment.env()
    if given_in == "environment":
        deployment.configure()
        env |= {"UNITY_FLOWER_USER": "ops", "UNITY_FLOWER_PASSWORD": "s3cret"}
    else:
        deployment.configure(extra={"flower": {"user": "ops", "password": "s3cret", "port": port}})
    flower = subprocess.Popen(
        # (the config-file variant takes its port from flower.port)
        [sys.executable, "-c", UNITY, "flower"]
        + (["--port", str(port)] if given_in == "environment" else []),
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/workers"
        # When a browser asks without, then with, the credentials
        wait_for(lambda: _status(url) != 0, 30, "Flower to listen")
        # Then only the right ones get in, and the password is not on the command line
        assert _status(url) == 401
        assert _status(url, "ops:wrong") == 401
        assert _status(url, "ops:s3cret") == 200
        cmdline = Path(f"/proc/{flower.pid}/cmdline").read_bytes()
        assert b"s3cret" not in cmdline
    finally:
        os.killpg(flower.pid, signal.SIGKILL)
        flower.wait(timeout=10)


def _flower_json(url: str, auth: str) -> object:
    request = urllib.request.Request(url)  # noqa: S310 - an http://127.0.0.1 URL we built
    request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_flower_switches_on_task_events_and_shows_collections(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Given workers started with Unity's defaults (task events off until someone watches)
    deployment.add_plugin("three", THREE_GAUGES)
    port = free_port()
    deployment.configure(
        plugins=[{"id": "three"}],
        extra={"flower": {"user": "ops", "password": "s3cret", "port": port}},
    )
    deployment.sync_registry()
    deployment.start("persist", "collect")
    flower = subprocess.Popen(
        [sys.executable, "-c", UNITY, "flower"], cwd=ROOT, env=deployment.env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/api"
        # When Flower has seen the collect worker and a collection is sent
        wait_for(
            lambda: any(
                "collect" in name for name in _flower_json(f"{base}/workers", "ops:s3cret") or {}
            ),
            60,
            "Flower to see the collect worker",
        )

        def collect_tasks() -> list[dict[str, object]]:
            tasks = _flower_json(f"{base}/tasks?taskname=unity.collect", "ops:s3cret") or {}
            assert isinstance(tasks, dict)
            return [t for t in tasks.values() if t.get("state") == "SUCCESS"]

        # (Flower enables events every 5 s; send until one lands after that)
        def sent_and_seen() -> bool:
            if not collect_tasks():
                deployment.send_collect("three", datetime.now(UTC))
                return False
            return True

        wait_for(sent_and_seen, 60, "Flower to show a finished unity.collect", interval=1.0)
        # Then the task Flower shows is Unity's collection, with its result
        shown = collect_tasks()[0]
        assert shown["name"] == "unity.collect" and "'ok': True" in str(shown["result"])
    finally:
        os.killpg(flower.pid, signal.SIGKILL)
        flower.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unity_worker_runs_collect_and_persist_processes_and_stops_both(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Given `unity worker` for a host queue plus the default ones
    deployment.configure()
    log = tmp_path / "unity-worker.log"
    with open(log, "wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-c", UNITY, "worker", "-Q", "host.nas,default", "-c", "1"],
            cwd=ROOT, env=deployment.env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        # When both processes are up
        def both_ready() -> bool:
            text = log.read_text(errors="replace")
            return "[collect] " in text and "[persist] " in text and text.count(" ready.") == 2

        wait_for(both_ready, 40, "the collect and persist workers")
        text = log.read_text(errors="replace")
        # Then the collect worker consumes the host queue, the persist one only persist
        assert "[collect]                 .> host.nas" in text
        assert "[persist]                 .> persist" in text
        children = subprocess.run(
            ["pgrep", "-P", str(supervisor.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 2

        # When the supervisor gets SIGTERM, both stop warmly and it exits cleanly
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
        assert log.read_text(errors="replace").count("Warm shutdown") == 2
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(timeout=10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_send_collect_queues_one_collection_that_a_worker_stores(deployment: Deployment) -> None:
    # Given running workers and a registered plugin
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(plugins=[{"id": "three"}])
    deployment.sync_registry()
    deployment.start("persist", "collect")
    # When `unity collect three --queue` calls send_collect (through its entry point)
    probe = (
        "from unity_core.config import load_settings\n"
        "from unity_workers.cli import send_collect\n"
        "print(send_collect('three', load_settings()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=deployment.env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    # Then it prints the task id, and a worker stores the collection
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 36
    count = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'"
    wait_for(lambda: scalar(deployment.database_url, count) == ROWS_PER_RUN, 20, "the rows")
