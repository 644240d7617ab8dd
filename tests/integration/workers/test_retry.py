"""A failing plugin run is retried for the same slot; the slot is stored once when it works."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.workers.conftest import Deployment, metric_names_at, rows, wait_for

#: Fails its first two runs (counted in a file), then reports one gauge.
FLAKY = """
    from pathlib import Path

    from marshmallow import Schema, fields

    from unity_core.plugins.sdk import MetricSpec, Plugin


    class Options(Schema):
        counter = fields.String(required=True)


    class Flaky(Plugin):
        id = "flaky"
        name = "Flaky"
        config_schema = Options
        metrics = (MetricSpec("up"),)

        def collect_data(self, acc):
            counter = Path(self.config["counter"])
            runs = int(counter.read_text() or 0) + 1 if counter.exists() else 1
            counter.write_text(str(runs))
            if runs <= 2:
                raise ConnectionError(f"run {runs}: device not answering")
            acc.add_gauge("up", 1)
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_run_is_retried_for_the_same_slot_until_it_succeeds(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Given a plugin that fails twice, allowed 2 immediate retries
    counter = tmp_path / "runs"
    deployment.add_plugin("flaky", FLAKY)
    deployment.configure(
        plugins=[
            {
                "id": "flaky",
                "retry_count": 2,
                "retry_delay": 0,
                "retry_backoff": 1,
                "config": {"counter": str(counter)},
            }
        ]
    )
    deployment.sync_registry()
    deployment.start("persist", "collect")
    slot = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)

    # When it is collected once
    deployment.send_collect("flaky", slot)

    # Then the third run's rows are stored at the dispatched slot, and the status is ok
    url = deployment.database_url
    wait_for(lambda: metric_names_at(url, "flaky", slot) == ["collection", "up"], 20, "rows")
    assert counter.read_text() == "3"
    wait_for(deployment.drained, 15, "every message to be acknowledged")
    status = rows(
        url, "SELECT health_status, error_count FROM plugin_status WHERE plugin_id = 'flaky'"
    )
    assert tuple(status[0]) == ("ok", 0)
