"""Figures from one Engine API stats sample, computed the way `docker stats` computes them.

Pure functions over the JSON of `GET /containers/{id}/stats?stream=false`, for cgroup v1
and v2 hosts alike (the CLI's calculateCPUPercentUnix and calculateMemUsageUnixNoCache).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cpu_percent", "memory", "network_totals"]


def cpu_percent(stats: Mapping[str, Any]) -> float | None:
    """CPU use since the previous sample, 100 per fully used CPU (so up to CPUs x 100).

    None when the sample has no previous reading to compare with (a container that just
    started), rather than a misleading 0.
    """
    cpu, before = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = _number(cpu, "cpu_usage", "total_usage")
    used_before = _number(before, "cpu_usage", "total_usage")
    system, system_before = _number(cpu, "system_cpu_usage"), _number(before, "system_cpu_usage")
    if None in (used, used_before, system, system_before):
        return None
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ())
    cpu_delta, system_delta = used - used_before, system - system_before  # type: ignore[operator]
    if system_delta <= 0 or cpu_delta < 0 or not cpus:
        return 0.0 if system_delta > 0 else None
    return round(cpu_delta / system_delta * cpus * 100, 2)


def memory(stats: Mapping[str, Any]) -> tuple[int, int] | None:
    """(bytes used, limit in bytes), without the page cache the kernel can drop at will.

    Used = usage minus inactive file pages (`inactive_file` on cgroup v2,
    `total_inactive_file` on v1), as `docker stats` shows it. None when not reported.
    """
    mem = stats.get("memory_stats") or {}
    usage, limit = mem.get("usage"), mem.get("limit")
    if not isinstance(usage, int) or not isinstance(limit, int):
        return None
    detail = mem.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    used = usage - cache if isinstance(cache, int) and cache < usage else usage
    return used, limit


def network_totals(stats: Mapping[str, Any]) -> tuple[int, int] | None:
    """(bytes received, bytes sent) over all the container's interfaces since it started.

    None for containers without a network of their own (network_mode: host or none).
    """
    networks = stats.get("networks")
    if not networks:
        return None
    received = sum(int(n.get("rx_bytes", 0)) for n in networks.values())
    sent = sum(int(n.get("tx_bytes", 0)) for n in networks.values())
    return received, sent


def _number(mapping: Mapping[str, Any], *path: str) -> float | None:
    node: Any = mapping
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, int | float) and not isinstance(node, bool) else None
