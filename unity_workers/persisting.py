"""The persist stage: many outcomes per transaction, retries while the database is away, then DLQ.

Called with the deliveries of one batch (see batching.py); returns the ids of those it took
responsibility for — committed, re-published for a later attempt, or dead-lettered — and
only those are acknowledged. The rules:

- One transaction per batch: persist_outcomes(session, outcomes), commit, after_commit.
- StorageUnavailable (or the soft time limit: a database too slow to answer): each
  outcome is re-published as `unity.persist` with attempt + 1 and
  a countdown (capped exponential backoff with jitter, cap < visibility timeout); after
  `max_attempts` it goes to the dead-letter store marked retryable. Re-publishing rather than
  holding keeps no pool process asleep and no message unacked for longer than the cap.
- Any other failure (IntegrityViolation, StorageError, bad data, a bug): the batch is split
  and each outcome written alone, so one poisonous outcome cannot hold back the others; the
  ones that still fail go to the dead-letter store at once, with the reason.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from unity_core.collection import after_commit, decode_outcome, persist_outcomes
from unity_core.errors import StorageUnavailable
from unity_core.storage import MetricRow, translate_errors, write_batch
from unity_workers.resources import worker_host

logger = logging.getLogger("unity.workers.persist")

#: Sends one encoded outcome again: (payload, attempt, countdown seconds).
Republish = Callable[[dict[str, Any], int, float], None]


@dataclass(frozen=True)
class Delivery:
    """One `unity.persist` message: its task id, the encoded outcome and its attempt number."""

    id: str
    payload: dict[str, Any]
    attempt: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; `max_backoff` stays under the visibility timeout."""

    max_attempts: int = 12
    base_delay: float = 2.0
    max_backoff: float = 225.0

    def countdown(self, attempt: int) -> float:
        """Seconds before attempt `attempt` (1-based): base·2^(n-1), capped, in [d/2, d]."""
        delay = min(self.max_backoff, self.base_delay * 2 ** max(0, attempt - 1))
        return random.uniform(delay / 2, delay)


@dataclass
class Persister:
    """Everything persisting needs, passed in so it can be driven without Celery."""

    sessions: Callable[[], Any]
    cache: Callable[[], Any]
    dead_letters: Callable[[], Any]
    republish: Republish
    policy: RetryPolicy
    pause_after: int = 10
    #: Failures worth a later attempt: the database is away, or too slow for the time limit.
    transient: tuple[type[BaseException], ...] = (StorageUnavailable,)
    #: Told about every committed batch (alerts evaluate the rules it touched); must not raise.
    committed: Callable[[Sequence[Any]], None] | None = None

    def persist(self, deliveries: Sequence[Delivery]) -> list[str]:
        """Write the batch; return the ids of the deliveries that may be acknowledged."""
        handled: list[str] = []
        decoded: list[tuple[Delivery, Any]] = []
        for delivery in deliveries:
            try:
                decoded.append((delivery, decode_outcome(delivery.payload)))
            except Exception as error:
                self._dead_letter(delivery, f"cannot decode the outcome: {error!r}", False, handled)
        if not decoded:
            return handled
        try:
            self._write(decoded)
        except self.transient as error:
            for delivery, _ in decoded:
                self._retry_later(delivery, error, handled)
            return handled
        except Exception as error:
            if len(decoded) == 1:
                self._dead_letter(decoded[0][0], _reason(error), False, handled)
                return handled
            logger.warning(
                "a batch of %d outcomes failed (%s); writing them one by one",
                len(decoded),
                _reason(error),
            )
            for item in decoded:
                try:
                    self._write([item])
                except self.transient as single_error:
                    self._retry_later(item[0], single_error, handled)
                except Exception as single_error:
                    self._dead_letter(item[0], _reason(single_error), False, handled)
                else:
                    handled.append(item[0].id)
            return handled
        handled.extend(delivery.id for delivery, _ in decoded)
        return handled

    def _write(self, batch: Sequence[tuple[Delivery, Any]]) -> None:
        outcomes = [outcome for _, outcome in batch]
        started = time.perf_counter()
        with self.sessions()() as session:
            try:
                report = persist_outcomes(session, outcomes, pause_after=self.pause_after)
                with translate_errors(f"committing {len(outcomes)} outcomes"):
                    session.commit()
            except BaseException:
                session.rollback()
                raise
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "persisted %d outcomes (%d new rows of %d, %d duplicates) in one transaction "
            "in %.1f ms",
            report.outcomes,
            report.rows_written,
            report.rows_offered,
            report.duplicates,
            elapsed_ms,
        )
        try:
            after_commit(self.cache(), outcomes, report)
        except Exception:
            # The rows are committed; a cache problem must not turn into a redelivery.
            logger.warning("updating the cache after a write failed", exc_info=True)
        if self.committed is not None:
            self.committed(outcomes)
        self._record_batch(elapsed_ms, report.rows_offered)

    def _record_batch(self, elapsed_ms: float, rows: int) -> None:
        """Store this batch's write latency as `unity` self-metrics (best effort).

        Read back by the `unity` plugin; tagged by worker process so two persist processes
        never share a (series, time) key. A failure here is logged and forgotten: the batch
        itself is already committed.
        """
        now = datetime.now(UTC)
        host = worker_host()
        tags = {"worker": f"{host}:{os.getpid()}"}
        samples = [
            MetricRow.build(
                now, "unity", "batch_write_ms", round(elapsed_ms, 3), tags=tags, worker_host=host
            ),
            MetricRow.build(now, "unity", "batch_rows", rows, tags=tags, worker_host=host),
        ]
        try:
            with self.sessions()() as session:
                write_batch(session, samples)
                session.commit()
        except Exception:
            logger.warning("recording the batch write latency failed", exc_info=True)

    def _retry_later(self, delivery: Delivery, error: BaseException, handled: list[str]) -> None:
        attempt = delivery.attempt + 1
        if attempt >= self.policy.max_attempts:
            reason = f"database unavailable after {attempt} attempts: {error}"
            self._dead_letter(delivery, reason, True, handled)
            return
        countdown = self.policy.countdown(attempt)
        try:
            self.republish(delivery.payload, attempt, countdown)
        except Exception:
            logger.exception("could not re-publish outcome %s; dead-lettering it", delivery.id)
            self._dead_letter(delivery, f"database unavailable: {error}", True, handled)
            return
        logger.warning(
            "database unavailable (%s); outcome %s retried in %.1f s (attempt %d of %d)",
            error,
            delivery.id,
            countdown,
            attempt + 1,
            self.policy.max_attempts,
        )
        handled.append(delivery.id)

    def _dead_letter(
        self, delivery: Delivery, reason: str, retryable: bool, handled: list[str]
    ) -> None:
        try:
            entry = self.dead_letters().add(
                delivery.payload, reason, delivery.attempt + 1, retryable=retryable
            )
        except Exception:
            # Neither stored nor dead-lettered: leave the message unacknowledged, so the
            # broker gives it back (worker restart, or after the visibility timeout).
            logger.exception("dead-letter store unreachable; outcome %s stays queued", delivery.id)
            return
        logger.error(
            "outcome %s moved to the dead-letter store (%s): %s", delivery.id, entry, reason
        )
        handled.append(delivery.id)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
