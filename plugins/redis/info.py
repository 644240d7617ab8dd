"""Reading a Redis INFO reply (as redis-py parses it) into the figures the plugin reports.

Pure functions over the INFO mapping, so the judgement they make ("would the broker's
messages survive a restart and never be evicted?") is tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DB = re.compile(r"db(\d+)")
_REPLICA = re.compile(r"slave\d+")


@dataclass(frozen=True)
class Persistence:
    """Whether data survives a restart, and whether memory pressure may drop keys.

    `rdb_configured` is None when the server refused CONFIG GET (managed services rename it):
    then whether snapshots are taken is unknown, and so is `persistent` unless AOF is on.
    """

    aof_enabled: bool
    aof_last_write_ok: bool
    rdb_configured: bool | None
    rdb_last_bgsave_ok: bool
    eviction_possible: bool

    @property
    def persistent(self) -> bool | None:
        if self.aof_enabled and self.aof_last_write_ok:
            return True
        if self.rdb_configured is None:
            return None
        return bool(self.rdb_configured and self.rdb_last_bgsave_ok)

    @property
    def broker_safe(self) -> bool | None:
        """True when queued messages survive a restart and are never evicted."""
        persistent = self.persistent
        if persistent is None:
            return None
        return persistent and not self.eviction_possible

    def problems(self) -> list[str]:
        """Why it is not safe as a broker, in words (empty when it is, or cannot be told)."""
        found = []
        if self.aof_enabled and not self.aof_last_write_ok:
            found.append("the last AOF write failed")
        if self.rdb_configured and not self.rdb_last_bgsave_ok:
            found.append("the last RDB snapshot failed")
        if not self.aof_enabled and self.rdb_configured is False:
            found.append("no persistence (AOF off, no RDB save points)")
        if self.eviction_possible:
            found.append("keys may be evicted (maxmemory with an evicting policy)")
        return found


def persistence(info: Mapping[str, Any], save_points: str | None) -> Persistence:
    """`save_points` is CONFIG GET save's value ("3600 1 300 100"), None when refused."""
    policy = str(info.get("maxmemory_policy", "noeviction"))
    return Persistence(
        aof_enabled=bool(int(info.get("aof_enabled", 0))),
        aof_last_write_ok=info.get("aof_last_write_status", "ok") == "ok",
        rdb_configured=None if save_points is None else bool(save_points.strip()),
        rdb_last_bgsave_ok=info.get("rdb_last_bgsave_status", "ok") == "ok",
        eviction_possible=int(info.get("maxmemory", 0)) > 0 and policy != "noeviction",
    )


def keyspace(info: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Database number -> (keys, keys with an expiry), for each database holding keys."""
    found = {}
    for key, value in info.items():
        match = _DB.fullmatch(key)
        if match and isinstance(value, Mapping):
            found[match.group(1)] = (int(value.get("keys", 0)), int(value.get("expires", 0)))
    return dict(sorted(found.items(), key=lambda item: int(item[0])))


@dataclass(frozen=True)
class Replica:
    """A replica as its master sees it (INFO replication's slaveN lines)."""

    name: str
    lag_bytes: int
    lag_seconds: int


def replicas(info: Mapping[str, Any]) -> list[Replica]:
    master_offset = int(info.get("master_repl_offset", 0))
    found = []
    for key, value in info.items():
        if _REPLICA.fullmatch(key) and isinstance(value, Mapping):
            name = f"{value.get('ip', '?')}:{value.get('port', '?')}"
            lag_bytes = max(0, master_offset - int(value.get("offset", 0)))
            found.append(Replica(name, lag_bytes, max(0, int(value.get("lag", 0)))))
    return sorted(found, key=lambda replica: replica.name)


def hit_ratio(hits: int, misses: int) -> float | None:
    """Percent of key lookups that found their key; None before the first lookup."""
    lookups = hits + misses
    return round(hits / lookups * 100, 3) if lookups else None
