"""Counter rates through real worker processes: the previous sample survives between them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.workers.conftest import Deployment, rows, scalar, wait_for

#: A plugin reporting one counter read from the file its config names.
METER = """
    from marshmallow import Schema, fields

    from unity_core.plugins.sdk import MetricSpec, MetricType, Plugin


    class Config(Schema):
        path = fields.String(required=True)


    class Meter(Plugin):
        id = "meter"
        config_schema = Config
        metrics = (MetricSpec("rx_bytes", unit="bytes", type=MetricType.COUNTER),)

        def collect_data(self, acc):
            with open(self.config["path"]) as file:
                acc.add_counter("rx_bytes", int(file.read()))
"""


@pytest.mark.parametrize("cache", ["none", "redis"])
def test_each_collection_after_the_first_stores_the_counters_rate(
    deployment: Deployment, cache: str
) -> None:
    # Given a counter plugin, two collect worker processes and a persist worker, with no
    # cache (previous samples come from the database) or a Redis cache
    reading = deployment.tmp / "rx_bytes"
    deployment.add_plugin("meter", METER)
    extra = {"cache": {"type": "redis", "url": deployment.broker_url.rsplit("/", 1)[0] + "/3"}}
    deployment.configure(
        plugins=[{"id": "meter", "interval": 60, "config": {"path": str(reading)}}],
        extra=extra if cache == "redis" else None,
    )
    deployment.sync_registry()
    deployment.start("persist", "collect")
    url = deployment.database_url
    base = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    stored = (
        "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'meter' AND metric_name = 'rx_bytes'"
    )

    # When three slots a minute apart are collected, the counter going 6000, 12000, 600
    for step, total in enumerate((6_000, 12_000, 600)):
        reading.write_text(str(total))
        deployment.send_collect("meter", base + timedelta(minutes=step))
        wait_for(lambda n=step + 1: scalar(url, stored) >= n, 30, f"{step + 1} samples")
    wait_for(deployment.drained, 15, "the broker to drain")

    # Then the second slot has a rate of 100 bytes/s, and the reset at the third none
    found = rows(
        url,
        "SELECT time, numeric_value FROM plugin_metrics "
        "WHERE plugin_id = 'meter' AND metric_name = 'rx_bytes_rate'",
    )
    assert [(_utc(when), value) for when, value in found] == [(base + timedelta(minutes=1), 100.0)]


def _utc(moment: datetime | str) -> datetime:
    """A stored time as aware UTC (SQLite hands raw SQL results back as text)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
