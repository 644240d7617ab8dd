"""A plugin that never returns is stopped by its time limit and recorded as failing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.workers.conftest import Deployment, rows, wait_for

#: Sleeps (GIL released): the runner's own deadline (the instance's timeout) abandons it.
HANG = """
    import time

    from unity_core.plugins.sdk import MetricSpec, Plugin


    class Hang(Plugin):
        id = "hang"
        name = "Hang"
        metrics = (MetricSpec("never"),)

        def collect_data(self, acc):
            time.sleep(3600)
"""

#: Spins in C holding the GIL: neither the runner nor the soft limit can interrupt it, so
#: Celery's hard limit kills the pool process, and the main process records the failure.
SPIN = """
    from unity_core.plugins.sdk import MetricSpec, Plugin


    class Spin(Plugin):
        id = "spin"
        name = "Spin"
        metrics = (MetricSpec("never"),)

        def collect_data(self, acc):
            sum(range(10**15))
"""


def _status(url: str, plugin_id: str) -> tuple[str, str, int] | None:
    found = rows(
        url,
        "SELECT health_status, last_error, error_count FROM plugin_status WHERE plugin_id = :p",
        p=plugin_id,
    )
    return tuple(found[0]) if found and found[0][0] else None  # type: ignore[return-value]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_plugin_that_never_returns_is_stopped_by_its_time_limit(
    deployment: Deployment,
) -> None:
    # Given two plugins that never return, with a 1 s timeout and no retries
    deployment.add_plugin("hang", HANG)
    deployment.add_plugin("spin", SPIN)
    deployment.configure(
        plugins=[
            {"id": "hang", "timeout": 1, "retry_count": 0},
            {"id": "spin", "timeout": 1, "retry_count": 0},
        ]
    )
    deployment.sync_registry()
    deployment.start("persist", "collect")
    url = deployment.database_url
    slot = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)

    # When each is collected with the time limits the senders set (soft = timeout + 2 s,
    # hard = soft + 10 s: unity_workers.tasks.collect_options)
    for plugin_id in ("hang", "spin"):
        deployment.send_collect(plugin_id, slot, soft_time_limit=3, time_limit=13)

    # Then the sleeping one fails at its own 1 s deadline
    hang = wait_for(lambda: _status(url, "hang"), 15, "the hanging plugin's status")
    assert hang[0] == "failing"
    assert "time limit" in hang[1] and hang[2] == 1
    # And the spinning one is killed at the hard limit and recorded all the same
    spin = wait_for(lambda: _status(url, "spin"), 30, "the spinning plugin's status")
    assert spin[0] == "failing"
    assert "CollectionTimeout" in spin[1] and "13" in spin[1]
    # And nothing was stored for either, and no message is left behind
    stored = "SELECT count(*) FROM plugin_metrics WHERE plugin_id <> 'unity'"
    assert rows(url, stored)[0][0] == 0
    wait_for(deployment.drained, 15, "the broker to drain")
