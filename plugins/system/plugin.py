"""The `system` plugin: CPU, load, memory, swap, disks, disk I/O, network, temperatures, uptime."""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

import psutil
from marshmallow import Schema, fields, validate
from unity_plugins.system.devices import report_disk_io, report_temperatures

from unity_core.plugins.filters import NameFilter, with_filter
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

#: File systems that hold no user data (kernel views, memory, images), never reported.
PSEUDO_FILESYSTEMS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
        "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc",
        "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tmpfs", "tracefs",
    }
)  # fmt: skip
#: The shortest CPU window worth reporting; the first run in a process waits this long.
MIN_CPU_WINDOW = 0.1
#: A previous CPU sample older than this is stale: measure a fresh short window instead.
MAX_CPU_WINDOW = 900.0

GAUGE, COUNTER = MetricType.GAUGE, MetricType.COUNTER


#: A metric that cannot go below 0; a percent one stops at 100, a boolean one at 1.
_spec = MetricSpec.non_negative


def _temperature(name: str, description: str) -> MetricSpec:
    # Not bounded below by 0 like the rest: an outdoor or freezer sensor reads below zero.
    return MetricSpec(name, "celsius", GAUGE, description, _SENSOR, minimum=-273.15)


_DISK = ("mountpoint", "fstype")
_NET = ("interface",)
_DEVICE = ("device",)
_SENSOR = ("sensor", "label")

METRICS = (
    _spec("cpu_percent", "percent", GAUGE, "CPU busy; overall, and per CPU tagged cpu", "cpu"),
    _spec("load1", "count", GAUGE, "1-minute load average"),
    _spec("load5", "count", GAUGE, "5-minute load average"),
    _spec("load15", "count", GAUGE, "15-minute load average"),
    _spec("memory_total", "bytes", GAUGE, "physical memory"),
    _spec("memory_used", "bytes", GAUGE, "memory in use"),
    _spec("memory_available", "bytes", GAUGE, "memory available without swapping"),
    _spec("memory_percent", "percent", GAUGE, "memory in use, of total"),
    _spec("swap_total", "bytes", GAUGE, "swap space"),
    _spec("swap_used", "bytes", GAUGE, "swap in use"),
    _spec("swap_percent", "percent", GAUGE, "swap in use, of total"),
    _spec("disk_total", "bytes", GAUGE, "file system size", *_DISK),
    _spec("disk_used", "bytes", GAUGE, "file system space used", *_DISK),
    _spec("disk_free", "bytes", GAUGE, "file system space free", *_DISK),
    _spec("disk_percent", "percent", GAUGE, "file system space used, of total", *_DISK),
    _spec("disk_read_bytes", "bytes", COUNTER, "bytes read since boot", *_DEVICE),
    _spec("disk_write_bytes", "bytes", COUNTER, "bytes written since boot", *_DEVICE),
    _spec("disk_reads", "ops", COUNTER, "reads completed since boot", *_DEVICE),
    _spec("disk_writes", "ops", COUNTER, "writes completed since boot", *_DEVICE),
    _spec("disk_read_time", "ms", COUNTER, "time spent reading since boot", *_DEVICE),
    _spec("disk_write_time", "ms", COUNTER, "time spent writing since boot", *_DEVICE),
    _spec("disk_busy_time", "ms", COUNTER, "time the device was busy (Linux, FreeBSD)", *_DEVICE),
    _spec("net_bytes_sent", "bytes", COUNTER, "bytes sent since boot", *_NET),
    _spec("net_bytes_recv", "bytes", COUNTER, "bytes received since boot", *_NET),
    _spec("net_packets_sent", "packets", COUNTER, "packets sent since boot", *_NET),
    _spec("net_packets_recv", "packets", COUNTER, "packets received since boot", *_NET),
    _spec("net_errin", "count", COUNTER, "receive errors since boot", *_NET),
    _spec("net_errout", "count", COUNTER, "send errors since boot", *_NET),
    _temperature("temperature_celsius", "a thermal sensor's reading"),
    _temperature("temperature_high_celsius", "the sensor's high threshold, when it has one"),
    _temperature("temperature_critical_celsius", "its critical threshold, when it has one"),
    _spec("uptime_seconds", "seconds", GAUGE, "time since boot"),
    _spec("boot_time", "seconds", GAUGE, "when the machine booted, Unix time"),
)
#: psutil's per-interface counter -> (metric name, unit).
_NET_COUNTERS = {
    "bytes_sent": ("net_bytes_sent", "bytes"),
    "bytes_recv": ("net_bytes_recv", "bytes"),
    "packets_sent": ("net_packets_sent", "packets"),
    "packets_recv": ("net_packets_recv", "packets"),
    "errin": ("net_errin", "count"),
    "errout": ("net_errout", "count"),
}


FilterSchema = with_filter(
    Schema,
    "FilterSchema",
    include="Only these (shell patterns: /mnt/*, eth*); empty = all.",
    exclude="Never these.",
)


class SystemConfig(Schema):
    percpu = fields.Boolean(
        load_default=True, metadata={"description": "Also report cpu_percent per CPU."}
    )
    cpu_interval = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=5),
        metadata={"description": "Seconds to measure CPU over; 0 = since the previous run."},
    )
    mountpoints = fields.Nested(FilterSchema, load_default=lambda: {"include": [], "exclude": []})
    interfaces = fields.Nested(FilterSchema, load_default=lambda: {"include": [], "exclude": []})
    devices = fields.Nested(FilterSchema, load_default=lambda: {"include": [], "exclude": []})
    temperatures = fields.Boolean(
        load_default=True,
        metadata={"description": "Report thermal sensors, where the host has them."},
    )


class _CpuSample(NamedTuple):
    at: float
    total: tuple[float, float]
    per_cpu: list[tuple[float, float]]


# The previous CPU sample of each instance in this process. psutil.cpu_percent(None) keeps
# one global sample instead, which any other caller in the process would disturb.
_cpu_lock = threading.Lock()
_cpu_samples: dict[str, _CpuSample] = {}


class SystemPlugin(Plugin):
    """This machine's vital signs. Needs no configuration; enabled by default."""

    id = "system"
    name = "System"
    version = "1.0.0"
    description = (
        "CPU, load, memory, swap, disk usage and I/O, network counters, temperatures and uptime "
        "(psutil)."
    )
    config_schema = SystemConfig
    metrics = METRICS

    def setup(self) -> None:
        # Prime the CPU counters once per process, so later runs measure since the last one.
        if self.config.get("cpu_interval", 0.0) == 0:
            with _cpu_lock:
                previous = _cpu_samples.get(self.instance_id)
                if previous is None or time.monotonic() - previous.at > MAX_CPU_WINDOW:
                    _cpu_samples[self.instance_id] = _sample_cpu()

    def collect_data(self, acc: Accumulator) -> None:
        self._cpu(acc)
        self._memory(acc)
        self._disks(acc)
        report_disk_io(acc, NameFilter.from_config(self.config.get("devices")))
        self._network(acc)
        if self.config.get("temperatures", True):
            report_temperatures(acc)
        boot = psutil.boot_time()
        acc.add_gauge("uptime_seconds", round(time.time() - boot, 3), unit="seconds")
        acc.add_gauge("boot_time", boot, unit="seconds")

    def summary(self, collection: Collection) -> str:
        parts = []
        cpu = _untagged(collection, "cpu_percent")
        if cpu is not None:
            parts.append(f"CPU {cpu:.0f}%")
        memory, total = (
            _untagged(collection, "memory_percent"),
            _untagged(collection, "memory_total"),
        )
        if memory is not None:
            parts.append(f"memory {memory:.0f}%" + (f" of {_gib(total)}" if total else ""))
        disks = {
            m.tags.get("mountpoint", "?"): m.value
            for m in collection.metrics
            if m.name == "disk_percent" and isinstance(m.value, int | float)
        }
        if disks:
            shown = "/" if "/" in disks else max(disks, key=lambda k: disks[k])
            parts.append(f"disk {shown} {disks[shown]:.0f}%")
            fullest = max(disks, key=lambda k: disks[k])
            if fullest != shown and disks[fullest] > disks[shown]:
                parts.append(f"{fullest} {disks[fullest]:.0f}%")
        hottest = max(
            (m for m in collection.metrics if m.name == "temperature_celsius"),
            key=lambda m: m.value if isinstance(m.value, int | float) else float("-inf"),
            default=None,
        )
        if hottest is not None and isinstance(hottest.value, int | float):
            sensor = hottest.tags.get("label") or hottest.tags.get("sensor", "?")
            parts.append(f"hottest {sensor} {hottest.value:.0f}°C")
        uptime = _untagged(collection, "uptime_seconds")
        if uptime is not None:
            parts.append(f"up {_span(uptime)}")
        return ", ".join(parts) or "no system metrics collected"

    def _cpu(self, acc: Accumulator) -> None:
        window = float(self.config.get("cpu_interval", 0.0))
        with _cpu_lock:
            before = _cpu_samples.get(self.instance_id)
        if window > 0 or before is None:
            before = _sample_cpu()
            time.sleep(window or MIN_CPU_WINDOW)
        elif (waited := time.monotonic() - before.at) < MIN_CPU_WINDOW:
            time.sleep(MIN_CPU_WINDOW - waited)  # first run in this process: primed in setup()
        after = _sample_cpu()
        with _cpu_lock:
            _cpu_samples[self.instance_id] = after
        acc.add_gauge("cpu_percent", _busy(before.total, after.total), unit="percent")
        if self.config.get("percpu", True):
            for n, (old, new) in enumerate(zip(before.per_cpu, after.per_cpu, strict=False)):
                acc.add_gauge("cpu_percent", _busy(old, new), {"cpu": str(n)}, unit="percent")
        try:
            for name, value in zip(("load1", "load5", "load15"), psutil.getloadavg(), strict=True):
                acc.add_gauge(name, round(value, 3), unit="count")
        except (OSError, AttributeError) as error:
            acc.error(error, item="load")

    def _memory(self, acc: Accumulator) -> None:
        memory = psutil.virtual_memory()
        acc.add_gauge("memory_total", memory.total, unit="bytes")
        acc.add_gauge("memory_used", memory.used, unit="bytes")
        acc.add_gauge("memory_available", memory.available, unit="bytes")
        acc.add_gauge("memory_percent", memory.percent, unit="percent")
        swap = psutil.swap_memory()
        acc.add_gauge("swap_total", swap.total, unit="bytes")
        acc.add_gauge("swap_used", swap.used, unit="bytes")
        acc.add_gauge("swap_percent", swap.percent, unit="percent")

    def _disks(self, acc: Accumulator) -> None:
        wanted = NameFilter.from_config(self.config.get("mountpoints"))
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=False):
            mount = part.mountpoint
            if part.fstype in PSEUDO_FILESYSTEMS or mount in seen:
                continue
            if not wanted.admits(mount):
                continue
            seen.add(mount)
            try:
                usage = psutil.disk_usage(mount)
            except OSError as error:  # unmounted meanwhile, or not readable by this user
                acc.error(error, item=f"disk {mount}")
                continue
            tags = {"mountpoint": mount, "fstype": part.fstype}
            acc.add_gauge("disk_total", usage.total, tags, unit="bytes")
            acc.add_gauge("disk_used", usage.used, tags, unit="bytes")
            acc.add_gauge("disk_free", usage.free, tags, unit="bytes")
            acc.add_gauge("disk_percent", usage.percent, tags, unit="percent")

    def _network(self, acc: Accumulator) -> None:
        wanted = NameFilter.from_config(self.config.get("interfaces"))
        for interface, counters in sorted(psutil.net_io_counters(pernic=True).items()):
            if not wanted.admits(interface):
                continue
            tags = {"interface": interface}
            for field_name, (metric, unit) in _NET_COUNTERS.items():
                acc.add_counter(metric, getattr(counters, field_name), tags, unit=unit)


def _sample_cpu() -> _CpuSample:
    return _CpuSample(
        time.monotonic(),
        _busy_total(psutil.cpu_times()),
        [_busy_total(t) for t in psutil.cpu_times(percpu=True)],
    )


def _busy_total(times: Any) -> tuple[float, float]:
    """(busy, total) seconds, computed as psutil.cpu_percent does on each platform."""
    total = sum(times)
    # On Linux guest time is already counted in user/nice: do not count it twice.
    total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def _busy(before: tuple[float, float], after: tuple[float, float]) -> float:
    busy, total = after[0] - before[0], after[1] - before[1]
    if total <= 0:
        return 0.0
    return round(min(100.0, max(0.0, busy / total * 100)), 2)


def _untagged(collection: Collection, name: str) -> float | None:
    for metric in collection.metrics:
        if metric.name == name and not metric.tags and isinstance(metric.value, int | float):
            return float(metric.value)
    return None


def _gib(size: float | None) -> str:
    return f"{(size or 0) / 2**30:.1f} GiB"


def _span(seconds: float) -> str:
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(seconds)} seconds"
