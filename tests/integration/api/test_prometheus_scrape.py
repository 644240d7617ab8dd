"""A real Prometheus server scrapes `/metrics` of `unity api` (gunicorn) with a bearer token.

Skipped, naming the reason, when the `prometheus` binary is not installed (`apt install
prometheus`); it is not one of the services UNITY_REQUIRE_SERVICES insists on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.api.helpers import Api
from tests.integration.workers.faults import free_port
from tests.integration.workers.harness import ROOT, wait_for


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def unity_api(api: Api, tmp_path: Path) -> Iterator[str]:
    """`unity api` under gunicorn on this test's database and configuration."""
    assert api.settings.source is not None
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNITY_")}
    env["UNITY_CONFIG"] = str(api.settings.source)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with open(tmp_path / "api.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "unity_core", "api", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, "unity api")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def prometheus(unity_api: str, api: Api, tmp_path: Path) -> Iterator[str]:
    """A Prometheus server scraping unity_api every second with a read token."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (apt install prometheus)")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "unity",
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials": api.tokens["read"]},
                "static_configs": [{"targets": [unity_api]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with open(tmp_path / "prometheus.log", "wb") as log:
        server = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/-/ready"), 60, "prometheus to be ready")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_a_prometheus_server_scrapes_the_latest_values_and_unitys_counters(
    prometheus: str,
) -> None:
    # When Prometheus has scraped the API
    def scraped() -> Any:
        targets = get_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
        return targets and targets[0]["health"] == "up" and targets[0]

    target = wait_for(scraped, 60, "the unity target to be up")
    assert target["lastError"] == ""

    # Then the latest values and Unity's own counters are queryable, labels included
    def query(expression: str) -> list[Any]:
        found = get_json(f"{prometheus}/api/v1/query?query={expression}")
        result: list[Any] = found["data"]["result"]
        return result

    cpu = wait_for(lambda: query("unity_cpu_percent"), 30, "unity_cpu_percent in Prometheus")
    assert {r["metric"]["core"] for r in cpu} == {"0", "1"}
    assert {r["metric"]["plugin_id"] for r in cpu} == {"system"}
    assert query("unity_plugin_failures_total")
    assert query("unity_batch_write_seconds_bucket")
