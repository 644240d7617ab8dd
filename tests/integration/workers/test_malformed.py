"""A plugin that reports some bad metrics: the reasons are kept, the good rows are stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.workers.conftest import Deployment, metric_names_at, rows, wait_for

MESSY = """
    from unity_core.plugins.sdk import MetricSpec, Plugin


    class Messy(Plugin):
        id = "messy"
        name = "Messy"
        metrics = (MetricSpec("load", minimum=0, maximum=100), MetricSpec("ratio"))

        def collect_data(self, acc):
            acc.add_gauge("load", 50, {"cpu": "0"})
            acc.add_gauge("load", 150, {"cpu": "1"})   # above its declared maximum
            acc.add_gauge("ratio", float("nan"))       # not a finite number
            acc.add_gauge("surprise", 1)               # never declared
"""


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_bad_metrics_are_rejected_with_reasons_and_good_ones_stored(
    deployment: Deployment,
) -> None:
    # Given a plugin reporting one good and three bad metrics, and running workers
    deployment.add_plugin("messy", MESSY)
    deployment.configure(plugins=[{"id": "messy"}])
    deployment.sync_registry()
    deployment.start("persist", "collect")
    url = deployment.database_url
    slot = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)

    # When it is collected through the workers
    deployment.send_collect("messy", slot)

    # Then each bad metric is in metric_rejects with its reason
    query = "SELECT metric_name, reason FROM metric_rejects WHERE plugin_id = 'messy'"
    rejects = wait_for(
        lambda: rows(url, query) if len(rows(url, query)) >= 3 else None, 20, "rejects"
    )
    reasons = {name: reason for name, reason in rejects}
    assert sorted(reasons) == ["load", "ratio", "surprise"]
    assert all(reason.strip() for reason in reasons.values())
    # And the good metric and the run's summary are stored
    assert metric_names_at(url, "messy", slot) == ["collection", "load"]
    # And the status counts the rejects and names the first, without failing the plugin
    status = rows(
        url,
        "SELECT health_status, rejected_count, last_error FROM plugin_status "
        "WHERE plugin_id = 'messy'",
    )[0]
    assert status[0] == "degraded" and status[1] == 3
    assert "rejected" in status[2]
