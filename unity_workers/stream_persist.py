"""The persist worker's reader of `unity:outcomes`: batches by rows or time, one commit each.

It runs as a thread of the persist worker (a worker bootstep, started when the worker
consumes the `persist` queue and the broker is Redis), beside the Celery `unity.persist`
task, which still handles messages sent that way (embedded broker, older senders). Both
hand their batches to the same Persister (persisting.py): retries while the database is
away (re-added to the stream with a due time), dead letters, the after-commit hooks.

The loop, per batch: read new entries (one XREADGROUP of up to the rows still missing)
until `batch_size` rows or `batch_timeout` seconds since the first; write (in one of
`writers` threads, so the next batch fills while the database commits this one); release
what the Persister reports handled (XACK + XDEL). An entry whose due time has not come (a retry's
backoff) is held, unreleased, until it has. At start the consumer first re-reads the entries
it had read and not finished before a restart; every `claim_every` seconds it takes over
entries another consumer left pending for longer than `claim_after` (that worker is gone).
On stop, what is buffered and due is written before the thread ends; held retries stay
pending and are picked up again at the next start.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from celery import bootsteps

from unity_workers.outcome_stream import DELETED, Entry, OutcomeStream, now
from unity_workers.persisting import Delivery

logger = logging.getLogger("unity.workers.stream")

#: Writes a batch; returns the ids that may be released (Persister.persist).
Persist = Callable[[Sequence[Delivery]], list[str]]
#: Keeps an entry that cannot be read as an outcome: (entry id, raw reason).
Reject = Callable[[str, str], None]

#: Seconds between attempts when Redis does not answer.
REDIS_BACKOFF = 2.0
#: Longest single wait for new entries, so a stop request is seen quickly.
MAX_BLOCK = 1.0


class StreamConsumer:
    """One consumer of the outcome stream's group; `run` until `stop` is set."""

    def __init__(
        self,
        stream: OutcomeStream,
        persist: Persist,
        reject: Reject,
        *,
        consumer: str,
        batch_rows: int,
        batch_timeout: float,
        claim_after: float,
        claim_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        writers: int = 1,
    ) -> None:
        self.stream = stream
        self.persist = persist
        self.reject = reject
        self.consumer = consumer
        self.batch_rows = max(1, batch_rows)
        self.batch_timeout = max(0.0, batch_timeout)
        self.claim_after = claim_after
        self.claim_every = claim_every
        self.clock = clock
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(writers, "unity-persist") if writers > 1 else None
        self._free_writers = threading.BoundedSemaphore(max(1, writers))
        self._buffer: list[Entry] = []
        self._rows = 0
        self._first_at: float | None = None
        self._held: dict[str, Entry] = {}
        self._buffered: set[str] = set()
        # Start by assuming large outcomes: the first read takes at most 4 entries, and the
        # estimate follows the entries actually seen.
        self._rows_per_entry = max(1.0, self.batch_rows / 4)
        self._next_claim = 0.0

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Until `stop`: recover own entries, then read, batch, write. Never gives up: with
        Redis away it waits and tries again (collected outcomes wait on the stream)."""
        recovered = False
        while not self.stop.is_set():
            try:
                if not recovered:
                    self._recover_own()
                    recovered = True
                self.step()
            except Exception as error:
                if _redis_down(error):
                    logger.warning(
                        "outcome stream: Redis unavailable (%s); retrying in %g s",
                        error,
                        REDIS_BACKOFF,
                    )
                else:
                    logger.exception("outcome stream: unexpected error; retrying")
                self.stop.wait(REDIS_BACKOFF)
        self.drain()

    def step(self) -> None:
        """One read (or claim), then a write if the batch is full or old enough."""
        self._release_due()
        entries, bad = self.stream.read(
            self.consumer, count=self._room(), block_ms=max(1, int(self._wait() * 1000))
        )
        self._take(entries, bad)
        if self.clock() >= self._next_claim:
            self._next_claim = self.clock() + self.claim_every
            claimed, bad = self.stream.claim_idle(
                self.consumer, idle_ms=int(self.claim_after * 1000), count=self.batch_rows
            )
            if claimed or bad:
                logger.warning(
                    "outcome stream: took over %d outcomes left pending for more than %g s",
                    len(claimed) + len(bad),
                    self.claim_after,
                )
            self._take(claimed, bad)
        if self._buffer and (self._rows >= self.batch_rows or self._age() >= self.batch_timeout):
            self.flush()

    def flush(self) -> None:
        """Write what is buffered as one batch: here, or with `writers` > 1 in a writer
        thread while the next batch fills (waiting for a free writer when all are busy)."""
        batch, self._buffer, self._rows, self._first_at = self._buffer, [], 0, None
        self._buffered = set()
        if not batch:
            return
        if self._pool is None:
            self._write(batch)
            return
        self._free_writers.acquire()
        try:
            future = self._pool.submit(self._write, batch)
        except BaseException:
            self._free_writers.release()
            raise
        future.add_done_callback(lambda _: self._free_writers.release())

    def _write(self, batch: Sequence[Entry]) -> None:
        """Persist one batch; release the entries the Persister handled."""
        try:
            handled = self.persist([Delivery(e.id, e.payload, e.attempt) for e in batch])
        except Exception:
            # Nothing released: the entries stay pending and come back (claim, restart).
            logger.exception("outcome stream: writing a batch of %d failed", len(batch))
            return
        left = len(batch) - len(handled)
        if left:
            logger.error(
                "outcome stream: %d outcomes not handled; left pending for redelivery", left
            )
        try:
            self.stream.done(handled)
        except Exception:
            # Committed but not released: they come back and are found already stored.
            logger.exception("outcome stream: releasing %d written outcomes failed", len(handled))

    def drain(self) -> None:
        """At stop: write what is buffered and due; held retries stay pending."""
        self._release_due()
        try:
            self.flush()
        except Exception:
            logger.exception("outcome stream: final write at stop failed; entries stay pending")
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    # --- helpers --------------------------------------------------------------------------

    def _recover_own(self) -> None:
        """Entries this consumer read before a restart and never finished come first."""
        after = "0"
        while not self.stop.is_set():
            entries, bad = self.stream.read(self.consumer, count=self.batch_rows, after=after)
            if not entries and not bad:
                return
            logger.warning(
                "outcome stream: %d outcomes read before a restart are written again",
                len(entries) + len(bad),
            )
            after = max([after, *(e.id for e in entries), *(i for i, _ in bad)], key=_order)
            self._take(entries, bad)
            if self._buffer:
                self.flush()

    def _take(self, entries: Sequence[Entry], bad: Sequence[tuple[str, str]]) -> None:
        for ident, reason in bad:
            if reason != DELETED:  # a deleted entry only needs its pending mark cleared
                self.reject(ident, reason)
        if bad:
            self.stream.done([ident for ident, _ in bad])
        moment = now()
        for entry in entries:
            if entry.due > moment:
                self._held[entry.id] = entry
            else:
                self._add(entry)

    def _add(self, entry: Entry) -> None:
        if entry.id in self._buffered:  # claimed again while buffered: once is enough
            return
        self._buffered.add(entry.id)
        if self._first_at is None:
            self._first_at = self.clock()
        self._buffer.append(entry)
        self._rows += entry.rows
        self._rows_per_entry += (entry.rows - self._rows_per_entry) * 0.2

    def _release_due(self) -> None:
        if not self._held:
            return
        moment = now()
        for ident, entry in list(self._held.items()):
            if entry.due <= moment:
                del self._held[ident]
                self._add(entry)

    def _room(self) -> int:
        """How many entries to read: the rows still missing over the rows an entry has
        carried lately (a count of entries would let 1,000-row outcomes overshoot 100-fold)."""
        missing = max(1, self.batch_rows - self._rows)
        return max(1, math.ceil(missing / self._rows_per_entry))

    def _age(self) -> float:
        return 0.0 if self._first_at is None else self.clock() - self._first_at

    def _wait(self) -> float:
        """How long the next read may block: until the batch is due, a held retry is, or
        MAX_BLOCK (so a stop is noticed)."""
        wait = MAX_BLOCK
        if self._buffer:
            wait = min(wait, self.batch_timeout - self._age())
        if self._held:
            wait = min(wait, min(e.due for e in self._held.values()) - now())
        return max(0.001, wait)


def _order(ident: str) -> tuple[int, int]:
    millis, _, seq = ident.partition("-")
    return int(millis), int(seq or 0)


def _redis_down(error: BaseException) -> bool:
    return isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


def run_in_thread(consumer: StreamConsumer, name: str = "unity-outcome-stream") -> threading.Thread:
    """Start `consumer.run` in a daemon thread; a crash is logged, never silent."""

    def target() -> None:
        try:
            consumer.run()
        except Exception:
            logger.exception("outcome stream consumer %s stopped on an error", consumer.consumer)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


class StreamPersist(bootsteps.StartStopStep):
    """Worker step: a persist worker on a Redis broker also reads the outcome stream.

    Included when the worker consumes the `persist` queue, the broker is one Redis Unity
    can reach and `unity_outcome_stream` is on (celeryconfig; off gives the Celery-message
    path on Redis too). Stopping waits for the last batch to be written.
    """

    label = "outcome stream"

    def __init__(self, w: Any, **kwargs: Any) -> None:
        super().__init__(w, **kwargs)
        self.consumer: StreamConsumer | None = None
        self.thread: threading.Thread | None = None

    def include_if(self, w: Any) -> bool:
        from unity_workers import resources

        consuming = w.app.amqp.queues.consume_from
        persists = not consuming or PERSIST_QUEUE in consuming
        return bool(w.app.conf.unity_outcome_stream and persists and resources.outcome_stream())

    def start(self, w: Any) -> None:
        """One consumer, with as many writer threads as the worker has pool processes (`-c`):
        one reader keeps batches as full as one writer would, and while a writer waits for
        the database to commit, the next batch is encoded in another."""
        from unity_workers import resources
        from unity_workers.tasks import make_persister

        stream = resources.outcome_stream()
        assert stream is not None  # include_if
        conf = w.app.conf
        self.consumer = StreamConsumer(
            stream,
            make_persister().persist,
            _dead_letter_unreadable,
            # The node name: stable across restarts, so a restarted worker finds its own
            # pending entries at once.
            consumer=str(w.hostname),
            batch_rows=int(conf.unity_batch_size),
            batch_timeout=float(conf.unity_batch_timeout),
            claim_after=float(conf.visibility_timeout),
            claim_every=max(1.0, min(30.0, float(conf.visibility_timeout) / 4)),
            writers=max(1, int(conf.unity_persist_writers or w.concurrency or 1)),
        )
        self.thread = run_in_thread(self.consumer)
        logger.info("reading outcomes from the stream %s as %s", stream.stream, w.hostname)

    def stop(self, w: Any) -> None:
        if self.consumer is None or self.thread is None:
            return
        self.consumer.stop.set()
        self.thread.join(STOP_TIMEOUT)
        if self.thread.is_alive():
            logger.error("outcome stream: last batch still writing after %g s", STOP_TIMEOUT)
        self.consumer = self.thread = None

    def shutdown(self, w: Any) -> None:
        self.stop(w)


#: Seconds a stop waits for the last batch (a warm shutdown's grace is longer).
STOP_TIMEOUT = 90.0
PERSIST_QUEUE = "persist"


def _dead_letter_unreadable(ident: str, reason: str) -> None:
    from unity_workers import resources

    logger.error("outcome stream: entry %s is not an outcome (%s); dead-lettered", ident, reason)
    resources.dead_letters().add({"stream_entry": ident}, reason, 1, retryable=False)
