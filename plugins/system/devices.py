"""Hardware the system plugin reads where the host has it: per-disk I/O counters, temperatures.

Both depend on the platform and on what the kernel exposes (no /proc/diskstats in some
containers, no thermal sensors in most virtual machines): a host without them reports none
of these metrics and no error, since there is nothing wrong with it.
"""

from __future__ import annotations

import psutil

from unity_core.plugins.filters import NameFilter, matches
from unity_core.plugins.sdk import Accumulator

#: Block devices that are not disks: loop mounts (snap images) and RAM disks.
VIRTUAL_DEVICES = ("loop*", "ram*")
#: psutil's per-disk counter -> (metric name, unit). busy_time exists on Linux and FreeBSD only.
DISK_COUNTERS = {
    "read_bytes": ("disk_read_bytes", "bytes"),
    "write_bytes": ("disk_write_bytes", "bytes"),
    "read_count": ("disk_reads", "ops"),
    "write_count": ("disk_writes", "ops"),
    "read_time": ("disk_read_time", "ms"),
    "write_time": ("disk_write_time", "ms"),
    "busy_time": ("disk_busy_time", "ms"),
}
#: psutil's temperature reading -> metric name; high and critical only when the sensor has them.
TEMPERATURES = {
    "current": "temperature_celsius",
    "high": "temperature_high_celsius",
    "critical": "temperature_critical_celsius",
}


def report_disk_io(acc: Accumulator, wanted: NameFilter) -> None:
    """Counters per block device since boot, loop and RAM devices left out unless included."""
    try:
        per_disk = psutil.disk_io_counters(perdisk=True, nowrap=True) or {}
    except (OSError, RuntimeError) as error:  # psutil raises RuntimeError without diskstats
        acc.error(error, item="disk I/O")
        return
    for device, counters in sorted(per_disk.items()):
        if not wanted.admits(device):
            continue
        if not wanted.include and matches(device, VIRTUAL_DEVICES):
            continue
        tags = {"device": device}
        for field_name, (metric, unit) in DISK_COUNTERS.items():
            value = getattr(counters, field_name, None)
            if value is not None:
                acc.add_counter(metric, value, tags, unit=unit)


def report_temperatures(acc: Accumulator) -> None:
    """Each thermal sensor's reading in °C, tagged with its chip (`sensor`) and `label`."""
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:  # psutil offers no temperatures on this platform (macOS, Windows)
        return
    try:
        chips = read() or {}
    except OSError as error:
        acc.error(error, item="temperatures")
        return
    for chip, sensors in sorted(chips.items()):
        for number, sensor in enumerate(sensors):
            tags = {"sensor": chip, "label": sensor.label or str(number)}
            for field_name, metric in TEMPERATURES.items():
                value = getattr(sensor, field_name, None)
                if value is not None:
                    acc.add_gauge(metric, round(float(value), 2), tags, unit="celsius")
