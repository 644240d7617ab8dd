"""A plugin collected through real worker processes lands in each of the three databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.workers.conftest import (
    ROWS_PER_RUN,
    THREE_GAUGES,
    Deployment,
    metric_names_at,
    rows,
    scalar,
    wait_for,
)


def test_collections_through_workers_are_stored_once_per_slot(deployment: Deployment) -> None:
    # Given the "three" plugin registered and a collect and a persist worker running
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(plugins=[{"id": "three", "interval": 60}])
    deployment.sync_registry()
    deployment.start("persist", "collect")
    url = deployment.database_url
    base = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    slots = [base + timedelta(minutes=n) for n in range(3)]

    # When beat-style dispatches (snapshot + slot) arrive, one slot twice (a doubled
    # dispatch), and one ad-hoc `celery call`-style task loads the instance from the DB
    for slot in [*slots, slots[0]]:
        deployment.send_collect("three", slot)
    deployment.send_collect("three", snapshot=False)

    # Then every slot's rows are stored exactly once, the ad-hoc run's too
    expected = ROWS_PER_RUN * (len(slots) + 1)
    count = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'"
    wait_for(lambda: scalar(url, count) >= expected, 30, f"{expected} rows")
    wait_for(deployment.drained, 15, "the broker to drain")
    assert scalar(url, count) == expected
    distinct = "SELECT count(DISTINCT series_key) FROM plugin_metrics WHERE plugin_id = 'three'"
    assert scalar(url, distinct) == ROWS_PER_RUN
    for slot in slots:
        assert metric_names_at(url, "three", slot) == ["a", "b", "c", "collection"]
    # And the persist stage recorded how long its batches took, as `unity` self-metrics
    latency = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'unity' AND metric_name = "
    assert scalar(url, latency + "'batch_write_ms'") >= 1
    assert scalar(url, latency + "'batch_rows'") >= 1
    # And the plugin's status says it is healthy and where it ran
    status = rows(
        url,
        "SELECT health_status, last_success, worker_host, error_count FROM plugin_status "
        "WHERE plugin_id = 'three'",
    )
    assert len(status) == 1
    health, last_success, worker_host, errors = status[0]
    assert (health, errors) == ("ok", 0)
    assert last_success is not None and worker_host
