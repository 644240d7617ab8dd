"""SIGKILL of a whole worker mid-task: the broker redelivers the task and rows land once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.workers.conftest import ROWS_PER_RUN, Deployment, scalar, wait_for

#: Writes a line to `marker` when a run starts, then works for `seconds`: a task to kill.
SLOW = """
    import time
    from pathlib import Path

    from marshmallow import Schema, fields

    from unity_core.plugins.sdk import MetricSpec, Plugin


    class Options(Schema):
        marker = fields.String(required=True)
        seconds = fields.Float(load_default=2.0)


    class Slow(Plugin):
        id = "slow"
        name = "Slow"
        config_schema = Options
        metrics = (MetricSpec("a"), MetricSpec("b"), MetricSpec("c"))

        def collect_data(self, acc):
            with open(self.config["marker"], "a") as marker:
                marker.write("started\\n")
            time.sleep(self.config["seconds"])
            for name in ("a", "b", "c"):
                acc.add_gauge(name, 1.0)
"""

#: The shortest the start-up check allows with collection_timeout 1 (hard limit 13 s).
VISIBILITY_TIMEOUT = 18


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_task_whose_worker_was_killed_is_redelivered_and_stored_once(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Given a plugin that takes 2 s, a short visibility timeout, and running workers
    marker = tmp_path / "runs.txt"
    deployment.add_plugin("slow", SLOW)
    deployment.configure(
        visibility_timeout=VISIBILITY_TIMEOUT,
        collection={"collection_timeout": 1},
        plugins=[{"id": "slow", "timeout": 3, "config": {"marker": str(marker), "seconds": 2}}],
    )
    deployment.sync_registry()
    _, collector = deployment.start("persist", "collect")
    url = deployment.database_url
    count = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'slow'"
    slot = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)

    # When the whole collect worker (main process and pool) is SIGKILLed mid-run
    deployment.send_collect("slow", slot)
    wait_for(lambda: marker.exists() and marker.read_text().count("started") == 1, 20, "a run")
    collector.kill()
    killed_at = time.monotonic()
    broker = deployment.redis()
    assert broker.hlen("unacked") == 1  # the message waits for the visibility timeout
    assert scalar(url, count) == 0
    deployment.start("collect")

    # Then the task runs again once the visibility timeout has passed
    wait_for(lambda: scalar(url, count) >= ROWS_PER_RUN, VISIBILITY_TIMEOUT + 30, "redelivery")
    assert time.monotonic() - killed_at >= VISIBILITY_TIMEOUT - 1
    assert marker.read_text().count("started") == 2
    # And its rows are stored exactly once
    wait_for(deployment.drained, 15, "the broker to drain")
    assert scalar(url, count) == ROWS_PER_RUN
    assert (
        scalar(
            url,
            # (the persist stage's own `unity` latency samples are not the plugin's rows)
            "SELECT count(*) FROM (SELECT DISTINCT series_key, time FROM plugin_metrics "
            "WHERE plugin_id <> 'unity') AS d",
        )
        == ROWS_PER_RUN
    )
    broker.close()
