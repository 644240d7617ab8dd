"""The beat lease on all three databases: one holder at a time, expiry, renewal, release."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from unity_core.storage.engine import dialect_of, make_sessionmaker
from unity_core.storage.schedule import acquire_lease, lease_owner, release_lease

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def take(engine: Engine, owner: str, at: datetime, name: str = "beat") -> bool:
    """One acquire in its own transaction, committed, as beat does it."""
    with make_sessionmaker(engine)() as session:
        held = acquire_lease(session, name, owner, TTL, at)
        session.commit()
        return held


def owner_at(engine: Engine, at: datetime, name: str = "beat") -> str | None:
    with make_sessionmaker(engine)() as session:
        return lease_owner(session, name, at)


def race(engine: Engine, contenders: int, name: str, at: datetime) -> list[bool]:
    """`contenders` threads, each with its own connection, released together at a barrier."""
    barrier = threading.Barrier(contenders)

    def contend(index: int) -> bool:
        # Connect before the barrier (but begin no transaction: SQLite's BEGIN IMMEDIATE would
        # already serialise the contenders), so both reach the lease at the same moment.
        with engine.connect() as conn, Session(bind=conn) as session:
            barrier.wait(timeout=30)
            held = acquire_lease(session, name, f"beat-{index}", TTL, at)
            session.commit()
            return held

    with ThreadPoolExecutor(contenders) as pool:
        return list(pool.map(contend, range(contenders)))


def lock_waits(engine: Engine) -> Callable[[], int]:
    """How many sessions are waiting for a row lock right now (SQLite: not observable)."""
    queries = {
        "postgresql": "SELECT count(*) FROM pg_locks WHERE NOT granted",
        "mysql": "SELECT count(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'",
    }
    query = queries.get(dialect_of(engine.url))

    def count() -> int:
        if query is None:
            return 1
        with engine.connect() as conn:
            return int(conn.execute(text(query)).scalar_one())

    return count


def test_nobody_holds_a_lease_never_taken(engine: Engine) -> None:
    assert owner_at(engine, NOW) is None


def test_two_owners_racing_for_a_new_lease_exactly_one_wins(engine: Engine) -> None:
    # Given no lease row yet, several rounds of two beats starting at the same instant
    for round_ in range(8):
        name = f"beat-{round_}"
        # When both try to take the lease at once
        results = race(engine, 2, name, NOW)
        # Then exactly one holds it, and the database names that one
        assert sorted(results) == [False, True]
        assert owner_at(engine, NOW, name) == f"beat-{results.index(True)}"


def test_owners_racing_for_an_expired_lease_exactly_one_wins(engine: Engine) -> None:
    # Given a lease whose holder died long ago
    assert take(engine, "dead", NOW - timedelta(hours=1))
    for round_ in range(6):
        at = NOW + timedelta(minutes=round_)  # each round, the last winner's lease has run out
        # When three standbys try to take over at the same instant
        results = race(engine, 3, "beat", at)
        # Then exactly one succeeds
        assert results.count(True) == 1
        assert owner_at(engine, at) == f"beat-{results.index(True)}"


def test_a_contender_blocked_behind_an_uncommitted_insert_loses_without_error(
    engine: Engine,
) -> None:
    # Given beat A has inserted the lease row but not committed yet
    sessions = make_sessionmaker(engine)
    waiting = lock_waits(engine)
    with sessions() as holder, ThreadPoolExecutor(1) as pool:
        assert acquire_lease(holder, "beat", "A", TTL, NOW)
        # When beat B tries to take it meanwhile (it blocks on A's row)
        contender = pool.submit(take, engine, "B", NOW)
        deadline = time.monotonic() + 10
        while waiting() == 0 and not contender.done() and time.monotonic() < deadline:
            # InnoDB refreshes innodb_trx only after 0.1 s without reads: poll slower than that
            time.sleep(0.15)
        # (B really is waiting on A: the server shows the lock wait, SQLite its BEGIN IMMEDIATE)
        assert waiting() > 0 and not contender.done()
        holder.commit()
        # Then B returns False once A commits, instead of raising IntegrityError
        assert contender.result(timeout=30) is False
    assert owner_at(engine, NOW) == "A"


def test_the_holder_renews_and_others_are_refused_until_it_expires(engine: Engine) -> None:
    # Given A holds the lease, renewed 20 s later (now valid until +50 s)
    assert take(engine, "A", NOW)
    assert take(engine, "A", NOW + timedelta(seconds=20))
    # Then B is refused at +40 s, after the first term ended but within the renewed one
    assert not take(engine, "B", NOW + timedelta(seconds=40))
    assert owner_at(engine, NOW + timedelta(seconds=40)) == "A"
    # And nobody holds it once the renewed term has passed
    assert owner_at(engine, NOW + timedelta(seconds=51)) is None


def test_an_expired_lease_is_handed_over_and_the_old_holder_cannot_renew(engine: Engine) -> None:
    # Given A took the lease and then stopped renewing it
    assert take(engine, "A", NOW)
    # When B asks after the ttl has run out
    later = NOW + TTL + timedelta(seconds=1)
    assert take(engine, "B", later)
    # Then B holds it, and A coming back cannot renew it from under B
    assert owner_at(engine, later) == "B"
    assert not take(engine, "A", later + timedelta(seconds=1))
    assert owner_at(engine, later + timedelta(seconds=1)) == "B"


def test_a_released_lease_can_be_taken_at_once(engine: Engine) -> None:
    # Given A holds the lease
    assert take(engine, "A", NOW)
    # When someone else tries to release it, nothing happens; when A releases it, it is free
    with make_sessionmaker(engine)() as session:
        assert not release_lease(session, "beat", "B")
        assert release_lease(session, "beat", "A")
        session.commit()
    assert owner_at(engine, NOW) is None
    # Then B takes it without waiting for the ttl
    assert take(engine, "B", NOW + timedelta(seconds=1))
