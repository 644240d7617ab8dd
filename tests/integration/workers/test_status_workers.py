"""`unity status` names the workers that answer and the queues they consume."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.workers.harness import Deployment


# Which database holds the registry does not matter here; one is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_status_lists_each_running_worker_with_its_queues(deployment: Deployment) -> None:
    # Given a collect and a persist worker running against the deployment's broker
    deployment.configure()
    deployment.start("persist", "collect")
    # When `unity status` runs with the same configuration
    shown = subprocess.run(
        [sys.executable, "-m", "unity_core", "status"],
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then both workers are listed with their queues, and the database and broker are up
    assert "-collect@" in shown.stdout and "queues collect, maintenance" in shown.stdout, (
        shown.stdout
    )
    assert "-persist@" in shown.stdout and "queues persist" in shown.stdout, shown.stdout
    assert "ok   database" in shown.stdout and "ok   broker" in shown.stdout
    assert shown.returncode == 0, shown.stderr
