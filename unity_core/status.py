"""Reachability of Unity's parts and every plugin's health, for `unity status` and readiness.

Each probe answers within a couple of seconds and never raises: an unreachable part is a
`Probe` with ok=False and the reason. Parts that need Celery to inspect (workers) are added
by other layers through the `unity.probes` entry-point group.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from unity_core.config import Settings, mask_url
from unity_core.errors import StorageError
from unity_core.storage import engine_for, make_sessionmaker, migrate
from unity_core.storage.models import Plugin, PluginStatus

T = TypeVar("T")


@dataclass(frozen=True)
class Probe:
    """One part's state: `detail` says where it is and, when not ok, what is wrong."""

    name: str
    ok: bool
    detail: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PluginHealth:
    plugin_id: str
    enabled: bool
    health: str
    last_success: datetime | None
    consecutive_failures: int
    last_error: str | None


def probe_database(settings: Settings) -> Probe:
    url = make_url(settings.database.url).render_as_string(hide_password=True)
    try:
        revision = migrate.current_revision(settings.database.url)
        head = migrate.head_revision()
    except StorageError as error:
        return Probe("database", False, f"{url}: {error}")
    if revision != head:
        return Probe("database", False, f"{url}: schema at {revision or 'nothing'}, needs {head}")
    return Probe("database", True, f"{url} (schema {revision})")


def probe_broker(settings: Settings) -> Probe:
    url = settings.broker.url
    if url is None:
        folder = settings.data_dir / "broker"
        return _probe_folder("broker", folder, "embedded filesystem broker")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _probe_redis("broker", url, broker=True)
    return Probe("broker", True, f"{mask_url(url)} (not probed: no client for this scheme)")


def probe_cache(settings: Settings) -> Probe:
    if not settings.cache.enabled or not settings.cache.url:
        return Probe("cache", True, "off (reads go to the database)")
    return _probe_redis("cache", settings.cache.url, broker=False)


def _probe_folder(name: str, folder: Path, what: str) -> Probe:
    if folder.is_dir() and os.access(folder, os.W_OK):
        return Probe(name, True, f"{what} at {folder}")
    if not folder.exists():
        return Probe(name, True, f"{what} at {folder} (created when Unity first runs)")
    return Probe(name, False, f"{what} at {folder} is not writable")


def _probe_redis(name: str, url: str, *, broker: bool) -> Probe:
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        return Probe(name, False, "the redis package is not installed")
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        warnings = _broker_durability(client) if broker else ()
    except redis.RedisError as error:
        return Probe(name, False, f"{mask_url(url)}: {error}")
    finally:
        client.close()
    return Probe(name, True, mask_url(url), warnings)


def _broker_durability(client: Any) -> tuple[str, ...]:
    """Why a broker Redis could lose queued work (RELIABILITY.md §1.6), if it can tell."""
    import redis

    try:
        appendonly = client.config_get("appendonly").get("appendonly")
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.RedisError:
        return ("cannot read the broker's persistence settings (CONFIG GET denied)",)
    found = []
    if appendonly != "yes":
        found.append("broker Redis has no AOF (appendonly no): a restart loses queued work")
    if policy and policy != "noeviction":
        found.append(f"broker Redis evicts keys (maxmemory-policy {policy}): use noeviction")
    return tuple(found)


def extra_probes(settings: Settings) -> list[Probe]:
    """Probes contributed by other layers (e.g. workers, which need Celery to inspect)."""
    found: list[Probe] = []
    for point in entry_points(group="unity.probes"):
        try:
            probe: Callable[[Settings], Iterable[Probe]] = point.load()
            found.extend(probe(settings))
        except Exception as error:  # a broken probe must not hide the others
            found.append(Probe(point.name, False, f"probe failed: {error}"))
    return found


def plugin_health(session: Session) -> list[PluginHealth]:
    """Every registered plugin with its health ('unknown' before its first run).

    An enabled plugin pinned to a queue that no live worker consumes is 'unreachable'
    whatever its last run said (unity_core.presence).
    """
    from unity_core.presence import UNREACHABLE, unreachable_plugins

    unreachable = unreachable_plugins(session)
    rows = session.execute(
        select(Plugin.plugin_id, Plugin.enabled, PluginStatus)
        .outerjoin(PluginStatus, PluginStatus.plugin_id == Plugin.plugin_id)
        .order_by(Plugin.plugin_id)
    ).all()
    result = []
    for plugin_id, enabled, status in rows:
        health = (status.health_status if status else None) or "unknown"
        if plugin_id in unreachable:
            health = UNREACHABLE
        result.append(
            PluginHealth(
                plugin_id=plugin_id,
                enabled=enabled,
                health=health if enabled else "disabled",
                last_success=status.last_success if status else None,
                consecutive_failures=status.consecutive_failures if status else 0,
                last_error=status.last_error if status else None,
            )
        )
    return result


def read_plugin_health(settings: Settings) -> list[PluginHealth] | str:
    """plugin_health on a fresh engine, or the reason it could not be read."""
    return read_fresh(settings, plugin_health, "plugin health")


def read_fresh(settings: Settings, read: Callable[[Session], T], what: str) -> T | str:
    """`read` in a session on a fresh engine, or "cannot read <what>: <reason>".

    For status and readiness, which must always answer: errors are reported, not raised.
    """
    engine = engine_for(settings.database)
    try:
        with make_sessionmaker(engine)() as session:
            return read(session)
    except Exception as error:
        return f"cannot read {what}: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()
