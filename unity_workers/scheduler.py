"""Celery beat for Unity: per-plugin collections from the database, one active beat at a time.

Run it as `celery -A unity_workers beat -S unity_workers.scheduler:UnityScheduler` or
`unity beat`. Any number of beats may run; they share a lease (`scheduler_locks`, name
`beat`) and only its holder dispatches. A standby checks the lease every tick and takes
over within the lease's ttl when the holder dies, continuing from the slots recorded in
`schedule_state`. A slot is sent twice only if the holder dies in the milliseconds between
sending it and recording it; the slot time is the sample time, so storage dedup absorbs it.

Each tick the active beat re-reads the enabled plugins, so enabling, disabling or retiming
one (CLI or API) takes effect within a tick, and sends `unity.collect` for every plugin
whose slot has come: once for the latest slot after downtime, less often while the plugin
keeps failing, never while it is paused. Celery's own `beat_schedule` entries (and
`unity.maintenance`, hourly and once whenever a beat becomes active; `unity.rollup` every
5 minutes and `unity.retention` hourly, see LIFECYCLE_TASKS) run as usual, on the active
beat only. A database that is briefly down is logged and retried next tick; beat
never crashes over it.

Options (keyword argument > Celery setting > default): `lease_ttl` (`unity_beat_lease_ttl`,
30 s), `max_loop_interval` (`beat_max_loop_interval`, at most 5 s and a third of the ttl),
`maintenance_interval` (`unity_maintenance_interval`, 3600 s).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.beat import Scheduler
from celery.schedules import schedule as every
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from unity_core.config import Settings, load_settings
from unity_core.plugins.registry import PluginInstance
from unity_core.storage import make_engine, make_sessionmaker
from unity_core.storage.schedule import (
    DueEntry,
    acquire_lease,
    mark_dispatched,
    plan_schedule,
    release_lease,
)

__all__ = ["COLLECT_QUEUE", "LEASE_NAME", "UnityScheduler"]

log = logging.getLogger("unity.beat")

LEASE_NAME = "beat"
COLLECT_QUEUE = "collect"
MAINTENANCE_TASK = "unity.maintenance"
ALERTS_TASK = "unity.alerts.evaluate"
#: Data lifecycle (issue 6): fixed tasks and their default periods in seconds, each
#: overridable by the Celery setting `unity_<name>_interval` (e.g. unity_rollup_interval).
LIFECYCLE_TASKS = {"unity.rollup": 300, "unity.retention": 3600}
DEFAULT_LEASE_TTL = 30.0
MAX_LOOP_INTERVAL = 5.0
DEFAULT_MAINTENANCE_INTERVAL = 3600


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UnityScheduler(Scheduler):  # type: ignore[misc]  # celery ships no type hints
    """A beat scheduler whose collection schedule lives in the database, behind a lease."""

    max_interval: float

    def __init__(
        self,
        app: Any,
        *args: Any,
        settings: Settings | None = None,
        lease_ttl: float | None = None,
        maintenance_interval: float | None = None,
        clock: Callable[[], datetime] = _utcnow,
        **kwargs: Any,
    ) -> None:
        self._settings = settings
        conf = app.conf
        self.lease_ttl = timedelta(
            seconds=float(lease_ttl or conf.get("unity_beat_lease_ttl") or DEFAULT_LEASE_TTL)
        )
        self.maintenance_interval = float(
            maintenance_interval
            or conf.get("unity_maintenance_interval")
            or DEFAULT_MAINTENANCE_INTERVAL
        )
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        # Until when (monotonic) the lease is surely ours: from just before the last renewal
        # that succeeded, plus the ttl. Nobody else can hold it before then.
        self._held_until = 0.0
        self._expires_at = datetime.min.replace(tzinfo=UTC)  # the expiry written, wall clock
        self._announced: bool | None = None  # what the log last said about the lease
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._failing = False
        self._invalid_logged: dict[str, str] = {}
        super().__init__(app, *args, **kwargs)
        # A standby must notice a dead holder well within the ttl, and a holder must renew
        # well before it ends: tick at least three times per ttl, and at least every 5 s.
        ceiling = min(MAX_LOOP_INTERVAL, self.lease_ttl.total_seconds() / 3)
        self.max_interval = min(float(self.max_interval), ceiling)

    @property
    def is_active(self) -> bool:
        """True while this beat surely holds the lease, even if the database is unreachable
        right now (then it dispatches no plugin, but Celery's own entries go on)."""
        return self._remaining() > 0

    # -- Celery hooks -------------------------------------------------------------------

    def setup_schedule(self) -> None:
        super().setup_schedule()
        already = {entry.task for entry in self.schedule.values()}
        if MAINTENANCE_TASK not in already:
            self.update_from_dict(
                {
                    MAINTENANCE_TASK: {
                        "task": MAINTENANCE_TASK,
                        "schedule": every(timedelta(seconds=self.maintenance_interval)),
                        "options": {"expires": self.maintenance_interval},
                    }
                }
            )
        if ALERTS_TASK not in already:
            # Every rule on a fixed beat (no_data and plugin_health need a clock; writes
            # also trigger the rules they touch, see unity_workers/alerting.py).
            interval = self.settings.notifications.evaluate_interval
            self.update_from_dict(
                {
                    ALERTS_TASK: {
                        "task": ALERTS_TASK,
                        "schedule": every(timedelta(seconds=interval)),
                        "options": {"expires": interval},
                    }
                }
            )

        for task, default in LIFECYCLE_TASKS.items():
            if task not in already:
                conf_key = f"unity_{task.removeprefix('unity.')}_interval"
                period = float(self.app.conf.get(conf_key) or default)
                self.update_from_dict(
                    {
                        task: {
                            "task": task,
                            "schedule": every(timedelta(seconds=period)),
                            "options": {"expires": period},
                        }
                    }
                )

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One beat iteration: keep or seek the lease, dispatch what is due; seconds to sleep."""
        delay = self._tick_plugins()
        if not self.is_active:
            return delay
        return float(min(delay, super().tick(*args, **kwargs)))

    def close(self) -> None:
        """Release the lease on a clean stop so a standby takes over at once, not after ttl."""
        try:
            if self.is_active and self._sessions is not None:
                with self._sessions() as session:
                    release_lease(session, LEASE_NAME, self.owner)
                    session.commit()
                log.info("beat %s released the lease", self.owner)
        except Exception as error:  # best effort: the lease expires by itself anyway
            log.warning("beat %s could not release the lease: %s", self.owner, error)
        finally:
            self._held_until = 0.0
            self._expires_at = datetime.min.replace(tzinfo=UTC)
            if self._engine is not None:
                self._engine.dispose()
            super().close()

    @property
    def info(self) -> str:
        ttl = self.lease_ttl.total_seconds()
        return f"    . lease -> {LEASE_NAME!r} in the database, ttl {ttl:g} s"

    # -- the database-backed part -------------------------------------------------------

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            database = self.settings.database
            # Beat needs one connection at a time; a small pool keeps it light.
            self._engine = make_engine(database.url, pool_size=2, max_overflow=2, connect_timeout=5)
            self._sessions = make_sessionmaker(self._engine)
        return self._sessions

    def _tick_plugins(self) -> float:
        try:
            with self.sessions()() as session:
                delay = self._dispatch_due(session)
        except Exception as error:  # never let a database or broker hiccup stop beat
            if not self._failing:
                log.warning(
                    "beat %s: scheduling failed, retrying every %.1f s: %s",
                    self.owner,
                    self.max_interval,
                    error,
                )
                self._failing = True
            return float(self.max_interval)
        if self._failing:
            log.info("beat %s: scheduling works again", self.owner)
            self._failing = False
        return delay

    def _dispatch_due(self, session: Session) -> float:
        if not (self._lease_fresh() or self._renew(session)):
            return float(self.max_interval)
        now = self.clock()
        plan = plan_schedule(session, now, self.settings.collection)
        session.commit()  # end the read transaction (SQLite holds its write lock in it)
        self._log_invalid(plan.invalid)
        for entry in plan.due:
            # A slow broker can eat the lease: renew before each send once a third of the
            # ttl has gone, and stop at once if another beat took over meanwhile.
            if not (self._lease_fresh() or self._renew(session)):
                return float(self.max_interval)
            self._send(entry)
            mark_dispatched(session, entry.plugin_id, entry.slot, entry.next_due)
            session.commit()
        if plan.next_wakeup is None:
            return float(self.max_interval)
        until = (plan.next_wakeup - self.clock()).total_seconds()
        return max(0.0, min(float(self.max_interval), until))

    def _remaining(self) -> float:
        """Seconds the lease surely remains ours, by both the monotonic and the wall clock
        (the other beats judge expiry by wall clocks, so a jump in ours must count too)."""
        by_wall = (self._expires_at - self.clock()).total_seconds()
        return min(self._held_until - time.monotonic(), by_wall)

    def _lease_fresh(self) -> bool:
        # Renewing at every tick would be a write per tick; a third of the ttl is soon enough.
        return self._remaining() > self.lease_ttl.total_seconds() * 2 / 3

    def _renew(self, session: Session) -> bool:
        started, now = time.monotonic(), self.clock()
        held = acquire_lease(session, LEASE_NAME, self.owner, self.lease_ttl, now)
        session.commit()
        if held and not self.is_active:
            # Taken afresh, not renewed: entries of Celery's own schedule may have come due
            # while this beat stood by, and the previous holder sent those; start their
            # clocks now so none is sent twice.
            for name, entry in self.schedule.items():
                entry.last_run_at = entry.default_now()
                if name == MAINTENANCE_TASK:  # idempotent housekeeping: catch up at once
                    entry.last_run_at -= timedelta(seconds=self.maintenance_interval)
            self._heap = None
        self._held_until = started + self.lease_ttl.total_seconds() if held else 0.0
        self._expires_at = now + self.lease_ttl if held else datetime.min.replace(tzinfo=UTC)
        self._announce(held)
        return held

    def _send(self, entry: DueEntry) -> None:
        from unity_workers.tasks import collect_options  # the tasks import the app: not at load

        instance = PluginInstance.from_row(entry.plugin, self.settings.collection)
        options = collect_options(instance)  # queue and the plugin's time limits
        options["queue"] = instance.queue or COLLECT_QUEUE
        # A collection still queued when its slot has passed measures nothing useful.
        options["expires"] = entry.expires
        self.app.send_task(
            "unity.collect",
            args=[entry.plugin_id],
            kwargs={"slot": entry.slot.isoformat(), "instance": instance.to_dict()},
            **options,
        )
        log.info(
            "beat: sent unity.collect(%s) for slot %s%s",
            entry.plugin_id,
            entry.slot.isoformat(),
            f" (backing off after {entry.consecutive_failures} failures)"
            if entry.consecutive_failures
            else "",
        )

    def _announce(self, active: bool) -> None:
        if active == self._announced:
            return
        self._announced = active
        if active:
            log.info("beat %s holds the lease %r: dispatching", self.owner, LEASE_NAME)
        else:
            log.info("beat %s is standing by: another beat holds the lease", self.owner)

    def _log_invalid(self, invalid: dict[str, str]) -> None:
        for plugin_id, reason in invalid.items():
            if self._invalid_logged.get(plugin_id) != reason:
                log.error("beat: plugin %s is not scheduled: %s", plugin_id, reason)
        self._invalid_logged = dict(invalid)
