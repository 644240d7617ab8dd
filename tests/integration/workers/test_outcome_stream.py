"""The outcome stream on real Redis: batches by rows or time, releases only what was handled,
recovers its own entries after a restart, takes over a dead consumer's, holds retries."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis

from tests.integration.workers.conftest import wait_for
from unity_workers.outcome_stream import GROUP, STREAM, OutcomeStream, now
from unity_workers.persisting import Delivery
from unity_workers.stream_persist import StreamConsumer


class Recorder:
    """A stand-in Persister: remembers each batch, handles all but the ids it is told to keep."""

    def __init__(self, refuse: Sequence[str] = ()) -> None:
        self.batches: list[list[Delivery]] = []
        self.refuse = set(refuse)

    def __call__(self, deliveries: Sequence[Delivery]) -> list[str]:
        self.batches.append(list(deliveries))
        return [d.id for d in deliveries if d.payload.get("p") not in self.refuse]

    @property
    def plugins(self) -> list[list[str]]:
        return [[d.payload["p"] for d in batch] for batch in self.batches]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def stream(broker_url: str) -> Iterator[OutcomeStream]:
    found = OutcomeStream.from_url(broker_url)
    yield found
    found.close()


def consumer(
    stream: OutcomeStream,
    persist: Recorder,
    *,
    name: str = "persist@a",
    rows: int = 100,
    timeout: float = 60.0,
    claim_after: float = 900.0,
    clock: Any = None,
    rejected: list[tuple[str, str]] | None = None,
) -> StreamConsumer:
    return StreamConsumer(
        stream,
        persist,
        lambda ident, reason: (rejected if rejected is not None else []).append((ident, reason)),
        consumer=name,
        batch_rows=rows,
        batch_timeout=timeout,
        claim_after=claim_after,
        claim_every=0.0,
        clock=clock or Clock(),
    )


def outcome(name: str) -> dict[str, Any]:
    return {"v": 2, "p": name, "s": "2026-11-28T12:00:00+00:00", "r": [["m", 1.0, None]]}


def test_an_added_outcome_is_read_back_whole_with_its_rows_and_attempt(
    stream: OutcomeStream,
) -> None:
    # Given an outcome of 11 rows on its third attempt
    stream.add(outcome("a"), rows=11, attempt=2)
    # When a consumer reads it
    entries, bad = stream.read("persist@a", count=10, block_ms=100)
    # Then payload, rows and attempt are as sent, and it stays until released
    assert bad == []
    (entry,) = entries
    assert (entry.payload, entry.rows, entry.attempt, entry.due) == (outcome("a"), 11, 2, 0.0)
    assert stream.depth() == 1
    stream.done([entry.id])
    assert stream.depth() == 0


def test_a_batch_is_written_once_its_rows_reach_the_batch_size(stream: OutcomeStream) -> None:
    # Given a consumer that writes every 10 rows, and outcomes of 4 rows each
    persist = Recorder()
    reader = consumer(stream, persist, rows=10)
    for name in "abc":
        stream.add(outcome(name), rows=4)
    # When it reads until the batch is full
    reader.step()  # reads up to 10 entries: all three, 12 rows
    # Then the three went to the database together and left the stream
    assert persist.plugins == [["a", "b", "c"]]
    assert stream.depth() == 0


def test_a_partial_batch_waits_for_the_batch_timeout(stream: OutcomeStream) -> None:
    # Given a consumer with a 5 s batch timeout and one small outcome
    persist, clock = Recorder(), Clock()
    reader = consumer(stream, persist, rows=1000, timeout=5.0, clock=clock)
    stream.add(outcome("a"))
    # When it is read, it is held while the timer runs
    reader.step()
    assert persist.batches == []
    assert stream.depth() == 1
    # Then it is written once the timeout has passed
    clock.t += 5.0
    reader.step()
    assert persist.plugins == [["a"]]
    assert stream.depth() == 0


def test_only_handled_outcomes_leave_the_stream(stream: OutcomeStream) -> None:
    # Given a Persister that cannot take responsibility for "b" (say the DLQ is down)
    persist = Recorder(refuse=["b"])
    reader = consumer(stream, persist, rows=2)
    stream.add(outcome("a"))
    stream.add(outcome("b"))
    # When the batch is written
    reader.step()
    # Then "a" is released and "b" stays pending for redelivery
    assert persist.plugins == [["a", "b"]]
    pending = stream.client.xpending_range(STREAM, GROUP, "-", "+", 10)
    assert [p["consumer"].decode() for p in pending] == ["persist@a"]
    assert stream.depth() == 1


def test_a_restarted_consumer_writes_what_it_had_read_first(stream: OutcomeStream) -> None:
    # Given a consumer that read two outcomes and died before writing them
    first = consumer(stream, Recorder(), rows=1000)
    stream.add(outcome("a"))
    stream.add(outcome("b"))
    first.step()
    # When the same worker starts again (same consumer name) and new work has arrived
    stream.add(outcome("c"))
    persist = Recorder()
    again = consumer(stream, persist, rows=1000, timeout=0.0)
    again._recover_own()
    # Then its unfinished outcomes are written at once, before anything new
    assert persist.plugins == [["a", "b"]]
    again.step()
    assert persist.plugins == [["a", "b"], ["c"]]
    assert stream.depth() == 0


def test_outcomes_left_by_a_dead_consumer_are_taken_over_once_idle(
    stream: OutcomeStream,
) -> None:
    # Given a consumer on another host that read an outcome and never came back
    stream.add(outcome("a"))
    consumer(stream, Recorder(), name="persist@gone", rows=1000).step()
    # When another consumer looks for idle entries (here: idle for more than 0 ms)
    persist = Recorder()
    survivor = consumer(stream, persist, name="persist@b", rows=1, timeout=0.0, claim_after=0.0)
    survivor.step()
    # Then it writes the outcome and releases it
    assert persist.plugins == [["a"]]
    assert stream.depth() == 0


def test_an_outcome_that_is_not_yet_due_is_held_and_then_written(stream: OutcomeStream) -> None:
    # Given a retry re-added with a due time 0.3 s ahead, and an outcome due now
    persist = Recorder()
    reader = consumer(stream, persist, rows=10, timeout=0.0)
    stream.add(outcome("later"), attempt=1, due=now() + 0.3)
    stream.add(outcome("now"))
    # When the consumer reads both
    reader.step()
    # Then only the due one is written; the other stays pending until its time
    assert persist.plugins == [["now"]]
    assert stream.depth() == 1
    wait_for(lambda: reader.step() or persist.plugins[-1] == ["later"], 5, "the retry")
    assert persist.batches[-1][0].attempt == 1
    assert stream.depth() == 0


def test_an_entry_that_is_not_an_outcome_is_rejected_and_removed(stream: OutcomeStream) -> None:
    # Given something else written to the stream next to a real outcome
    rejected: list[tuple[str, str]] = []
    persist = Recorder()
    reader = consumer(stream, persist, rows=10, timeout=0.0, rejected=rejected)
    stream.ensure_group()
    stream.client.xadd(STREAM, {"hello": "world"})
    stream.add(outcome("a"))
    # When the consumer reads them
    reader.step()
    # Then the stranger is rejected with a reason, and the outcome is written
    assert [reason for _, reason in rejected] == ["no outcome field 'o'"]
    assert persist.plugins == [["a"]]
    assert stream.depth() == 0


def test_stopping_writes_what_is_buffered(stream: OutcomeStream) -> None:
    # Given a consumer running in its thread with a batch that will not fill
    persist = Recorder()
    reader = consumer(stream, persist, rows=1000, timeout=3600.0)
    thread = threading.Thread(target=reader.run)
    thread.start()
    stream.add(outcome("a"))
    wait_for(lambda: reader._buffer, 5, "the outcome to be buffered")
    # When it is stopped
    reader.stop.set()
    thread.join(10)
    # Then the buffered outcome was written and released before the thread ended
    assert not thread.is_alive()
    assert persist.plugins == [["a"]]
    assert stream.depth() == 0


def test_the_consumer_waits_out_a_redis_outage_and_carries_on(
    stream: OutcomeStream, broker_url: str
) -> None:
    # Given a consumer whose Redis connection breaks on the next read
    persist = Recorder()
    reader = consumer(stream, persist, rows=1, timeout=0.0)
    real_read = stream.read
    failures = iter([redis.exceptions.ConnectionError("Connection refused")])

    def flaky_read(*args: Any, **kwargs: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_read(*args, **kwargs)

    stream.read = flaky_read  # type: ignore[method-assign]
    stream.add(outcome("a"))
    thread = threading.Thread(target=reader.run)
    # When it runs through the outage
    thread.start()
    try:
        # Then it tries again and writes the outcome
        wait_for(lambda: persist.plugins == [["a"]], 10, "the write after the outage")
    finally:
        reader.stop.set()
        thread.join(10)
    assert stream.depth() == 0


def test_large_outcomes_are_read_a_few_at_a_time_so_batches_keep_their_row_size(
    stream: OutcomeStream,
) -> None:
    # Given a consumer writing every 3,000 rows and ten outcomes of 1,000 rows waiting
    persist = Recorder()
    reader = consumer(stream, persist, rows=3000, timeout=0.0)
    for n in range(10):
        stream.add(outcome(f"big{n}"), rows=1000)
    # When it reads them all
    while stream.depth():
        reader.step()
    # Then no batch holds much more than 3,000 rows
    sizes = [len(batch) for batch in persist.batches]
    assert sum(sizes) == 10
    assert max(sizes) <= 4, sizes


def test_with_two_writers_the_next_batch_is_written_while_the_first_still_commits(
    stream: OutcomeStream,
) -> None:
    # Given a consumer with two writers and a database whose first commit hangs
    release = threading.Event()
    writing: list[str] = []

    def slow_first(deliveries: Sequence[Delivery]) -> list[str]:
        writing.append(deliveries[0].payload["p"])
        if deliveries[0].payload["p"] == "a":
            release.wait(10)
        return [d.id for d in deliveries]

    reader = StreamConsumer(
        stream, slow_first, lambda *_: None, consumer="persist@a", batch_rows=1,
        batch_timeout=0.0, claim_after=900.0, writers=2,
    )  # fmt: skip
    stream.add(outcome("a"))
    stream.add(outcome("b"))
    # When the reader hands over two one-row batches
    reader.step()
    reader.step()
    # Then the second is written while the first is still waiting for its commit
    wait_for(lambda: writing == ["a", "b"], 5, "the second batch's write")
    wait_for(lambda: stream.depth() == 1, 5, '"b" released while "a" is not yet')
    release.set()
    reader.drain()
    assert stream.depth() == 0


def test_a_consumer_carries_on_when_the_stream_and_its_group_were_deleted(
    stream: OutcomeStream,
) -> None:
    # Given a consumer that has read once (the group exists), then the key is deleted
    persist = Recorder()
    reader = consumer(stream, persist, rows=10, timeout=0.0)
    reader.step()
    stream.client.delete(STREAM)
    # When an outcome arrives and the consumer reads again
    stream.add(outcome("a"))
    reader.step()  # finds no group, makes it again, reading from the stream's start
    reader.step()
    # Then the outcome is written and released
    assert persist.plugins == [["a"]]
    assert stream.depth() == 0


def test_a_pending_entry_deleted_by_someone_else_is_cleared_without_a_dead_letter(
    stream: OutcomeStream,
) -> None:
    # Given an outcome read by a consumer that died, then deleted from the stream by hand
    stream.add(outcome("a"))
    consumer(stream, Recorder(), rows=1000).step()
    (entry_id,) = [e[0] for e in stream.client.xrange(STREAM)]
    stream.client.xdel(STREAM, entry_id)
    # When the consumer starts again and recovers its own entries
    rejected: list[tuple[str, str]] = []
    persist = Recorder()
    again = consumer(stream, persist, rows=1000, rejected=rejected)
    again._recover_own()
    # Then nothing is written or dead-lettered, and nothing is left pending
    assert persist.batches == [] and rejected == []
    assert stream.client.xpending(STREAM, GROUP)["pending"] == 0
