"""The system plugin collecting from this machine for real, through the test helpers and runner."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import psutil
import pytest
from unity_plugins.system import SystemPlugin, devices
from unity_plugins.system import plugin as system_module

from unity_core.plugins.registry import check_plugin_class, discover, validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import Collection, Metric, MetricType
from unity_core.plugins.testing import RecordingAccumulator, collect

HERE = Path(__file__).resolve().parent.parent
SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def acc() -> RecordingAccumulator:
    """One real collection with the default configuration."""
    return collect(SystemPlugin)


def test_every_declared_metric_is_collected_with_its_declared_unit_type_and_range(
    acc: RecordingAccumulator,
) -> None:
    # Given a real collection on this machine (which has a root file system and interfaces)
    # When comparing it with the declared metrics
    absent = () if _host_temperatures() else devices.TEMPERATURES.values()
    # Then every declared metric appears but what this host lacks, and nothing undeclared does,
    # each with its declared unit, type and tags, and a number within its declared range
    acc.assert_as_declared(SystemPlugin, absent=absent)
    acc.assert_no_errors()


def test_figures_agree_with_what_psutil_reads_directly(acc: RecordingAccumulator) -> None:
    # Given a real collection / When comparing it with psutil's own readings
    # Then memory, boot time and uptime are the same figures
    memory = psutil.virtual_memory()
    acc.assert_metric("memory_total", value=memory.total)
    acc.assert_metric("boot_time", value=psutil.boot_time())
    uptime = acc.assert_metric("uptime_seconds").value
    assert 0 < uptime < datetime.now(UTC).timestamp() - psutil.boot_time() + 60


def test_cpu_is_reported_overall_and_per_cpu(acc: RecordingAccumulator) -> None:
    # Given a real collection with percpu on (the default)
    cpus = psutil.cpu_count()
    assert cpus
    # When looking at cpu_percent / Then there is one untagged figure and one per CPU
    per_cpu = [m for m in acc.find("cpu_percent") if "cpu" in m.tags]
    assert sorted(m.tags["cpu"] for m in per_cpu) == sorted(str(n) for n in range(cpus))
    assert len([m for m in acc.find("cpu_percent") if not m.tags]) == 1
    for name in ("load1", "load5", "load15"):
        acc.assert_metric(name, unit="count")


def test_real_disks_are_reported_and_pseudo_file_systems_skipped(
    acc: RecordingAccumulator,
) -> None:
    # Given the machine's mounted partitions
    expected = {
        p.mountpoint
        for p in psutil.disk_partitions(all=False)
        if p.fstype not in system_module.PSEUDO_FILESYSTEMS
    }
    # When looking at the disks collected
    reported = {m.tags["mountpoint"]: m for m in acc.find("disk_percent")}
    # Then exactly those are there, with their fstype, and the root one among them
    assert set(reported) == expected
    assert "/" in reported
    assert all(m.tags["fstype"] not in system_module.PSEUDO_FILESYSTEMS for m in reported.values())
    total = acc.assert_metric("disk_total", {"mountpoint": "/"}).value
    used = acc.assert_metric("disk_used", {"mountpoint": "/"}).value
    assert 0 < used < total


def test_network_counters_are_per_interface(acc: RecordingAccumulator) -> None:
    # Given the machine's interfaces
    interfaces = set(psutil.net_io_counters(pernic=True))
    # When looking at the counters / Then each interface has all six, as counters
    for name in ("bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "errin", "errout"):
        found = acc.find(f"net_{name}")
        assert {m.tags["interface"] for m in found} == interfaces
        assert {m.type for m in found} == {MetricType.COUNTER}


def test_filters_and_percpu_shape_what_is_collected() -> None:
    # Given filters that keep only loopback and no disk, and percpu off
    config = {
        "percpu": False,
        "interfaces": {"include": ["l*"], "exclude": ["eth*"]},
        "mountpoints": {"exclude": ["*"]},
    }
    # When collecting
    acc = collect(SystemPlugin, config)
    # Then only what the filters let through is there
    assert {m.tags["interface"] for m in acc.find("net_bytes_sent")} == {"lo"}
    acc.assert_no_metric("disk_percent")
    assert [m.tags for m in acc.find("cpu_percent")] == [{}]


def test_cpu_is_measured_since_the_previous_run_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an instance that has run once in this process
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    first = SystemPlugin(validate_config(SystemPlugin, "cpu-probe", {}), instance_id="cpu-probe")
    run_plugin(first, SLOT, timeout=10)
    first_waits = list(waits)
    # (a minute passes: the sleep above was not real, so age the stored sample instead)
    sample = system_module._cpu_samples["cpu-probe"]
    system_module._cpu_samples["cpu-probe"] = sample._replace(at=sample.at - 60)
    # When it runs again
    second = SystemPlugin(validate_config(SystemPlugin, "cpu-probe", {}), instance_id="cpu-probe")
    collection = run_plugin(second, SLOT, timeout=10)
    # Then only the first run waited (for the short minimum window), the second did not
    assert len(first_waits) == 1 and 0 < first_waits[0] <= system_module.MIN_CPU_WINDOW
    assert waits == first_waits
    assert 0 <= collection.first("cpu_percent") <= 100


def test_a_fixed_cpu_interval_measures_over_that_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given cpu_interval set / When collecting
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    collect(SystemPlugin, {"cpu_interval": 0.5})
    # Then the run measured over exactly that window
    assert waits == [0.5]


def test_bad_options_are_refused_by_the_schema() -> None:
    # Given options of the wrong types / When validated / Then each is named
    with pytest.raises(Exception, match=r"config\.cpu_interval") as error:
        validate_config(SystemPlugin, "system", {"cpu_interval": 10, "percpu": "often"})
    assert "config.percpu: Not a valid boolean." in str(error.value)


def test_summary_is_one_human_sentence() -> None:
    # Given a collection with the headline figures
    metrics = [
        Metric("cpu_percent", 12.4),
        Metric("cpu_percent", 80.0, {"cpu": "1"}),
        Metric("memory_percent", 43.0),
        Metric("memory_total", 23.4 * 2**30),
        Metric("disk_percent", 61.2, {"mountpoint": "/"}),
        Metric("disk_percent", 90.5, {"mountpoint": "/srv"}),
        Metric("uptime_seconds", 3 * 86400 + 7200),
    ]
    collection = Collection("system", SLOT, metrics)
    # When summarised / Then it reads as the design's example, adding the fullest disk
    summary = SystemPlugin().summary(collection)
    assert summary == "CPU 12%, memory 43% of 23.4 GiB, disk / 61%, /srv 90%, up 3 days"
    assert SystemPlugin().summary(Collection("system", SLOT)) == "no system metrics collected"


def test_the_plugin_class_passes_discovery_checks() -> None:
    # Given / When checked as discovery does / Then nothing is wrong with it
    assert check_plugin_class(SystemPlugin) is None
    assert (SystemPlugin.id, SystemPlugin.name) == ("system", "System")


def test_system_is_installed_under_the_unity_plugins_entry_point() -> None:
    # Given the installed distribution (pyproject: [project.entry-points."unity.plugins"])
    # When discovering without a plugins_dir
    found = discover()
    # Then system comes from its entry point
    assert found.classes.get("system") is SystemPlugin, found.errors
    assert found.sources["system"] == "entry point system = unity_plugins.system:SystemPlugin"


def _host_temperatures() -> dict[str, Any]:
    read = getattr(psutil, "sensors_temperatures", None)
    return dict(read() or {}) if read is not None else {}


def test_disk_io_counters_are_per_device_and_skip_loop_and_ram_devices() -> None:
    # Given the kernel's per-device counters read just before and just after a collection
    before = psutil.disk_io_counters(perdisk=True, nowrap=True) or {}
    acc = collect(SystemPlugin)
    after = psutil.disk_io_counters(perdisk=True, nowrap=True) or {}
    real = {d for d in before if not d.startswith(("loop", "ram"))}
    assert real, "this machine has a block device (vda here)"
    # Then each real device has every counter, between the two readings, as a COUNTER
    for field_name, (name, unit) in devices.DISK_COUNTERS.items():
        found = {m.tags["device"]: m for m in acc.find(name)}
        assert set(found) == real, name
        for device, metric in found.items():
            low, high = getattr(before[device], field_name), getattr(after[device], field_name)
            assert low <= metric.value <= high, (device, metric)
            assert (metric.type, metric.unit) == (MetricType.COUNTER, unit)


def test_the_devices_filter_can_bring_back_loop_devices_or_drop_all() -> None:
    # Given the host's loop devices, if any
    loops = {d for d in psutil.disk_io_counters(perdisk=True) or {} if d.startswith("loop")}
    # When including them by pattern / Then exactly they are reported
    acc = collect(SystemPlugin, {"devices": {"include": ["loop*"]}})
    assert {m.tags["device"] for m in acc.find("disk_reads")} == loops
    # When excluding every device / Then no disk I/O is reported
    acc = collect(SystemPlugin, {"devices": {"exclude": ["*"]}})
    acc.assert_no_metric("disk_read_bytes")


def test_temperatures_are_reported_only_where_the_host_has_sensors() -> None:
    # Given this host's thermal sensors as psutil sees them (none in this virtual machine)
    sensors = _host_temperatures()
    # When collecting
    acc = collect(SystemPlugin)
    # Then there is one reading per sensor, and none (without any error) when there are none
    expected = {
        (chip, s.label or str(n)) for chip, found in sensors.items() for n, s in enumerate(found)
    }
    reported = {(m.tags["sensor"], m.tags["label"]) for m in acc.find("temperature_celsius")}
    assert reported == expected
    acc.assert_no_errors()


class _Sensor(NamedTuple):
    label: str
    current: float
    high: float | None
    critical: float | None


def test_temperatures_from_sensors_with_and_without_thresholds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a host with a CPU package sensor (thresholds set), an unlabelled ACPI zone and an
    # outdoor probe below zero
    chips = {
        "coretemp": [_Sensor("Package id 0", 61.0, 80.0, 100.0)],
        "acpitz": [_Sensor("", 27.8, None, None)],
        "outdoor": [_Sensor("north", -7.5, None, None)],
    }
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: chips, raising=False)
    # When collecting
    acc = collect(SystemPlugin)
    # Then each reading is tagged with its chip and label (its position when unlabelled)
    package = {"sensor": "coretemp", "label": "Package id 0"}
    acc.assert_metric("temperature_celsius", package, value=61.0, unit="celsius")
    acc.assert_metric("temperature_high_celsius", package, value=80.0)
    acc.assert_metric("temperature_critical_celsius", package, value=100.0)
    acc.assert_metric("temperature_celsius", {"sensor": "acpitz", "label": "0"}, value=27.8)
    acc.assert_no_metric("temperature_high_celsius", {"sensor": "acpitz"})
    # And a reading below zero is within the declared range
    spec = SystemPlugin.spec("temperature_celsius")
    assert spec is not None and spec.minimum is not None
    assert acc.assert_metric("temperature_celsius", {"sensor": "outdoor"}).value >= spec.minimum
    # And the summary names the hottest sensor
    summary = SystemPlugin().summary(Collection("system", SLOT, acc.metrics))
    assert "hottest Package id 0 61°C" in summary
    # And switching them off drops them
    collect(SystemPlugin, {"temperatures": False}).assert_no_metric("temperature_celsius")


def test_a_platform_without_temperature_support_reports_none_and_no_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given psutil without sensors_temperatures (as on macOS and Windows)
    monkeypatch.delattr(psutil, "sensors_temperatures", raising=False)
    # When collecting / Then no temperature and no error
    acc = collect(SystemPlugin)
    acc.assert_no_metric("temperature_celsius")
    acc.assert_no_errors()
