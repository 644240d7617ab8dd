"""The plugin test helpers: RecordingAccumulator's assertions and collect()."""

from __future__ import annotations

import pytest
from marshmallow import Schema, fields

from unity_core.errors import PluginConfigError
from unity_core.plugins.sdk import Accumulator, MetricSpec, MetricType, Plugin
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


class Disks(Plugin):
    id = "disks"
    metrics = (
        MetricSpec.non_negative("disk_percent", "percent", MetricType.GAUGE, "used", "mount"),
        MetricSpec.non_negative("disk_reads", "ops", MetricType.COUNTER, "reads", "device"),
        MetricSpec.non_negative("raid_degraded", "boolean", MetricType.GAUGE, "1 when degraded"),
        MetricSpec("disk_free_percent", "percent", derive="100 - disk_percent"),
    )

    def collect_data(self, acc: Accumulator) -> None:
        acc.add_gauge("disk_percent", 42.5, {"mount": "/"}, unit="percent")
        acc.add_counter("disk_reads", 1200, {"device": "sda"}, unit="ops")


def test_assert_as_declared_passes_when_recorded_metrics_match_their_specs() -> None:
    # Given a run that reports its metrics as declared, on a host without RAID
    acc = collect(Disks)
    # When / Then it holds with the missing one named absent (the derived one is never reported)
    acc.assert_as_declared(Disks, absent={"raid_degraded"})
    # And without naming it absent, the missing metric is what the failure says
    with pytest.raises(AssertionError, match="raid_degraded: declared, not recorded"):
        acc.assert_as_declared(Disks)


def test_assert_as_declared_lists_every_way_a_metric_differs_from_its_spec() -> None:
    # Given a recording that breaks each rule once
    acc = RecordingAccumulator()
    acc.add_gauge("disk_percent", 140.0, {"mount": "/", "host": "nas"}, unit="percent")
    acc.add_gauge("disk_reads", 5, {"device": "sda"}, unit="ops")
    acc.add_gauge("raid_degraded", True, unit="boolean")
    acc.add_gauge("disk_temperature", 38, unit="celsius")
    # When comparing it with the declaration
    with pytest.raises(AssertionError) as failed:
        acc.assert_as_declared(Disks)
    # Then one message lists them all: range, tags, type, a bool for a number, undeclared
    message = str(failed.value)
    assert "value 140.0 is above the maximum 100" in message
    assert "tags ['host'] not declared" in message
    assert "disk_reads {'device': 'sda'}: gauge, 'ops'; declared counter, 'ops'" in message
    assert "raid_degraded {}: value True is not a number" in message
    assert "disk_temperature: recorded, not declared" in message
    # And a metric expected absent that is recorded anyway fails too
    with pytest.raises(AssertionError, match="disk_reads: recorded, though expected absent"):
        collect(Disks).assert_as_declared(Disks, absent={"raid_degraded", "disk_reads"})


def test_non_negative_specs_take_the_ceiling_of_their_unit_unless_given_one() -> None:
    # Given specs declared with the convenience / When / Then 0 is the floor, and the ceiling
    # is 100 for percent, 1 for boolean, none for other units, or the one passed
    assert (Disks.metrics[0].minimum, Disks.metrics[0].maximum) == (0, 100)
    assert Disks.metrics[1].maximum is None and Disks.metrics[2].maximum == 1
    assert Disks.metrics[1].tags == ("device",) and Disks.metrics[1].type == MetricType.COUNTER
    spec = MetricSpec.non_negative("load", "count", MetricType.GAUGE, "load", maximum=64)
    assert (spec.minimum, spec.maximum) == (0, 64)
