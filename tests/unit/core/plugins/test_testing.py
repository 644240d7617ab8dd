"""The plugin test helpers: RecordingAccumulator's assertions and collect()."""

from __future__ import annotations

import pytest
from marshmallow import Schema, fields

from unity_core.errors import PluginConfigError
from unity_core.plugins.sdk import Accumulator, MetricType, Plugin
from unity_core.plugins.testing import ANY, RecordingAccumulator, collect


class ContainersConfig(Schema):
    running = fields.Integer(load_default=2)


class Containers(Plugin):
    id = "containers"
    config_schema = ContainersConfig

    def collect_data(self, acc: Accumulator) -> None:
        for n in range(self.config["running"]):
            acc.add_gauge("container_cpu_percent", 10.0 * (n + 1), {"name": f"web{n}"})
        acc.add_counter("restarts", 3, unit="count")
        acc.error("inspect timed out", item="container db")


def recorded() -> RecordingAccumulator:
    return collect(Containers)


def test_assert_metric_finds_one_metric_by_name_tags_and_value() -> None:
    # Given a recording of two containers / When asserting on one of them
    acc = recorded()
    found = acc.assert_metric("container_cpu_percent", tags={"name": "web1"}, value=20.0)
    # Then that metric is returned, and predicates, types and units can be checked too
    assert found.tags == {"name": "web1"}
    acc.assert_metric("container_cpu_percent", {"name": "web0"}, value=lambda v: 0 < v < 15)
    acc.assert_metric("restarts", type=MetricType.COUNTER, unit="count", value=ANY)
    assert acc.names() == {"container_cpu_percent", "restarts"}


def test_assert_metric_failures_show_what_was_recorded() -> None:
    # Given a recording / When an assertion does not hold
    acc = recorded()
    with pytest.raises(AssertionError) as wrong_value:
        acc.assert_metric("container_cpu_percent", tags={"name": "web0"}, value=99)
    with pytest.raises(AssertionError) as ambiguous:
        acc.assert_metric("container_cpu_percent")
    # Then the message lists the recorded candidates, so the test output explains itself
    assert "found 0" in str(wrong_value.value)
    assert "container_cpu_percent {'name': 'web0'} = 10.0" in str(wrong_value.value)
    assert "found 2" in str(ambiguous.value)


def test_absence_and_errors_can_be_asserted() -> None:
    # Given a recording with one per-item error
    acc = recorded()
    # When / Then absence holds, and the error makes assert_no_errors fail with it
    acc.assert_no_metric("container_cpu_percent", {"name": "web7"})
    with pytest.raises(AssertionError, match="container db: inspect timed out"):
        acc.assert_no_errors()


def test_collect_validates_config_first() -> None:
    # Given a config the schema accepts, and one it rejects
    acc = collect(Containers, {"running": 1})
    # When / Then the accepted one shapes the run, the rejected one raises before running
    assert len(acc.find("container_cpu_percent")) == 1
    with pytest.raises(PluginConfigError, match=r"config\.running: Not a valid integer"):
        collect(Containers, {"running": "many"})
