"""The per-process memory of catalogued series never leaves a series out of the catalog."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from tests.integration.storage.write_helpers import T0, sample_rows
from unity_core.storage.catalog import series_to_register
from unity_core.storage.engine import make_sessionmaker
from unity_core.storage.models import MetricSeries
from unity_core.storage.write import write_batch


def _catalogued(engine: Engine) -> int:
    with make_sessionmaker(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(MetricSeries)) or 0)


def test_series_of_a_rolled_back_batch_are_catalogued_by_the_next_one(engine: Engine) -> None:
    # Given a batch of four series whose transaction is rolled back
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        write_batch(session, sample_rows(8))
        session.rollback()
    assert _catalogued(engine) == 0
    # When a later batch of the same series commits
    with sessions() as session:
        write_batch(session, sample_rows(8, start=T0 + timedelta(hours=1)))
        session.commit()
    # Then all four series are in the catalog
    assert _catalogued(engine) == 4


def test_committed_series_are_not_sent_again(engine: Engine) -> None:
    # Given a committed batch
    sessions = make_sessionmaker(engine)
    rows = sample_rows(8)
    with sessions() as session:
        write_batch(session, rows)
        assert len(series_to_register(session, rows)) == 4  # not known before the commit
        session.commit()
    # When the next batch of the same series is prepared
    with sessions() as session:
        # Then none of its series needs registering, and the write still stores the rows
        assert series_to_register(session, rows) == []
        later = sample_rows(8, start=T0 + timedelta(hours=2))
        assert write_batch(session, later) == 8
        session.commit()
    assert _catalogued(engine) == 4
