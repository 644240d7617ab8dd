"""Grouping `unity.persist` messages into one database write: celery-batches, acked by result.

This is the persist path for outcomes sent as Celery messages: always on the embedded
broker, and on Redis only for messages sent that way explicitly (with
`unity_outcome_stream = False`, or by other tools). On a Redis broker outcomes normally
travel on the outcome stream instead (outcome_stream.py, stream_persist.py).

Why celery-batches (0.11) and not our own consumer: it already buffers task messages in the
worker's main process, flushes on a count or a timer, and runs the flush in the pool — the
grouping, timer and pool plumbing we would otherwise rewrite. What it lacks, added here:

- It acknowledges every message of a flush when the pool job returns, whatever happened
  (its tracer swallows exceptions). `flush` below acknowledges only the ids the task body
  returns (committed, re-published or dead-lettered) and gives the messages back to the
  broker when the pool child dies mid-write.
- It counts messages; Unity's `batch_size` counts metric rows, so the sender puts the row
  count in a header (`unity-rows`) and the strategy flushes once the buffered rows reach it.
  Every outcome carries at least its summary row, so a batch never holds more than
  `batch_size` messages: a prefetch of `batch_size` per process is enough.
- It does not flush on shutdown (its buffered messages would go back to the queue); the
  `FlushOnStop` consumer step writes them in the main process before the channel closes.

The persist worker needs a prefetch of at least the batch size, so it runs as its own
`celery worker -Q persist --prefetch-multiplier <batch_size>` process (see cli.py).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from celery import bootsteps
from celery_batches import Batches, SimpleRequest, consume_queue
from celery_batches.trace import apply_batches_task

logger = logging.getLogger("unity.workers.batching")

ROWS_HEADER = "unity-rows"


def _waiting(request: Any) -> bool:
    """True for a request whose retry countdown has not elapsed (it stays unacked)."""
    eta = getattr(request, "eta", None)  # an aware datetime (Request parses the header)
    return isinstance(eta, datetime) and eta > datetime.now(UTC)


class PersistBatches(Batches):
    """Batches whose flush acknowledges only what the task body reports as handled."""

    abstract = True
    _rows = 0

    def Strategy(self, task: Any, app: Any, consumer: Any) -> Any:
        # Read from the configuration when the worker starts, not at import.
        self.flush_every = max(1, int(app.conf.unity_batch_size))
        self.flush_interval = float(app.conf.unity_batch_timeout)
        handle = super().Strategy(task, app, consumer)

        def handle_counting_rows(
            message: Any, body: Any, ack: Any, reject: Any, *a: Any, **kw: Any
        ) -> None:
            try:
                rows = max(1, int((message.headers or {}).get(ROWS_HEADER) or 1))
            except (TypeError, ValueError):
                rows = 1
            self._rows += rows
            handle(message, body, ack, reject, *a, **kw)
            if self._rows >= self.flush_every:
                self._do_flush()

        return handle_counting_rows

    def _do_flush(self) -> None:
        self._rows = 0
        super()._do_flush()

    def flush_in_process(self) -> None:
        """Write what is buffered now, in this process (used at shutdown; see FlushOnStop)."""
        requests = [r for r in consume_queue(self._buffer) if not _waiting(r)]
        if not requests:
            return
        logger.info("writing %d buffered persist messages before stopping", len(requests))
        try:
            handled = set(self.run([SimpleRequest.from_request(r) for r in requests]) or ())
        except Exception:
            logger.exception("writing buffered persist messages failed; they go back to the queue")
            return
        for request in requests:
            if request.id in handled:
                request.acknowledge()

    def flush(self, requests: Collection[Any]) -> Any:
        requests = list(requests)
        simple = ([SimpleRequest.from_request(request) for request in requests],)

        def on_return(handled: Any) -> None:
            done = set(handled or ())
            for request in requests:
                if request.id in done:
                    request.acknowledge()
                else:
                    # Left unacknowledged on purpose: the broker gives it back on restart
                    # or after the visibility timeout. Logged by the task body already.
                    logger.error("persist message %s not handled; left for redelivery", request.id)

        def on_error(error: Any) -> None:
            # The pool child died or hit its hard limit mid-write: nothing was acknowledged,
            # so give the messages back now rather than after the visibility timeout.
            logger.error(
                "persist batch of %d lost its process (%r); re-queued", len(requests), error
            )
            for request in requests:
                request.reject(requeue=True)

        return self._pool.apply_async(
            apply_batches_task,
            (self, simple, 0, None),
            callback=on_return,
            error_callback=on_error,
        )


class FlushOnStop(bootsteps.StartStopStep):
    """Consumer step: on worker stop, write the buffered persist messages, then ack them.

    By the time consumer steps stop, the pool is already closed (Celery closes it first),
    so the batch is written here, in the main process, while the broker channel is still
    open for the acknowledgements. Messages waiting for a retry countdown stay unacked and
    go back to the queue with the rest of the worker's reserved messages.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def stop(self, c: Any) -> None:
        self._flush(c)

    def shutdown(self, c: Any) -> None:
        self._flush(c)

    def _flush(self, c: Any) -> None:
        for task in c.app.tasks.values():
            if isinstance(task, PersistBatches):
                task.flush_in_process()
