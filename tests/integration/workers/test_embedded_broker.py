"""With no broker configured, workers run on the filesystem transport under data_dir."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.workers.conftest import (
    ROWS_PER_RUN,
    THREE_GAUGES,
    Deployment,
    scalar,
    wait_for,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_collections_flow_through_the_embedded_broker_into_sqlite(
    deployment: Deployment,
) -> None:
    # Given the embedded default: SQLite and no broker server
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(plugins=[{"id": "three"}], embedded_broker=True)
    deployment.sync_registry()
    collect, persist = deployment.start("collect", "persist")

    # When a collection is dispatched
    deployment.send_collect("three", datetime(2026, 11, 28, 21, 0, tzinfo=UTC))

    # Then its rows are stored
    count = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'"
    wait_for(lambda: scalar(deployment.database_url, count) == ROWS_PER_RUN, 30, "the rows")
    # And each worker said once that this broker cannot redeliver after a crash
    for worker in (collect, persist):
        assert worker.tail(200).count("no redelivery") == 1
