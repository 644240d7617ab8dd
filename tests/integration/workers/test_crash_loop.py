"""A plugin that kills its pool process every time is recorded as failing, not re-run forever."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.workers.conftest import Deployment, rows, wait_for

#: Appends a line to `marker`, then ends its process the way a segfault would: at once.
CRASH = """
    import os

    from marshmallow import Schema, fields

    from unity_core.plugins.sdk import MetricSpec, Plugin


    class Options(Schema):
        marker = fields.String(required=True)


    class Crash(Plugin):
        id = "crash"
        name = "Crash"
        config_schema = Options
        metrics = (MetricSpec("never"),)

        def collect_data(self, acc):
            with open(self.config["marker"], "a") as marker:
                marker.write("started\\n")
            os._exit(70)
"""


def _status(url: str) -> tuple[str, str, int] | None:
    found = rows(
        url,
        "SELECT health_status, last_error, error_count FROM plugin_status "
        "WHERE plugin_id = 'crash'",
    )
    return tuple(found[0]) if found and found[0][1] else None  # type: ignore[return-value]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_collection_that_keeps_killing_its_process_stops_after_the_redelivery_limit(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Given a plugin that exits its process on every run, and running workers on Redis
    marker = tmp_path / "runs.txt"
    deployment.add_plugin("crash", CRASH)
    deployment.configure(
        plugins=[{"id": "crash", "retry_count": 0, "config": {"marker": str(marker)}}]
    )
    deployment.sync_registry()
    _, collector = deployment.start("persist", "collect")

    # When one collection is sent
    deployment.send_collect("crash", datetime(2026, 11, 28, 15, 0, tzinfo=UTC))

    # Then it is redelivered after each lost process up to the limit (3), then recorded
    status = wait_for(lambda: _status(deployment.database_url), 60, "the crash to be recorded")
    assert status[0] == "failing"
    assert "died 4 times" in status[1] and "limit 3" in status[1]
    assert marker.read_text().count("started") == 4
    wait_for(deployment.drained, 15, "the broker to drain")
    # And the worker is still alive and the message is gone (not looping in the background)
    assert collector.process.poll() is None
    assert marker.read_text().count("started") == 4
