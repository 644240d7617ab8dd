"""worker_host: every sample names the host that collected it, outside the series identity."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine, func, select

from unity_core.storage.models import MetricSeries, PluginMetric
from unity_core.storage.queries import latest
from unity_core.storage.write import write_batch

from .write_helpers import T0, open_session, sample_rows


def test_each_sample_stores_the_host_that_collected_it(engine: Engine) -> None:
    # Given rows collected on "nas"
    rows = [replace(row, worker_host="nas") for row in sample_rows(8)]
    # When written
    with open_session(engine) as session:
        write_batch(session, rows)
        session.commit()
        # Then every stored sample names nas, and latest() shows it beside the tags
        hosts = session.execute(select(PluginMetric.worker_host).distinct()).scalars().all()
        assert hosts == ["nas"]
        found = latest(session, plugin_id="system")
    assert [sample.worker_host for sample in found] == ["nas"] * 4
    assert all("worker_host" not in sample.tags for sample in found)


def test_the_same_slot_collected_again_on_another_host_is_stored_once(engine: Engine) -> None:
    # Given a slot stored from "nas", then redelivered and collected again on "pi"
    first = [replace(row, worker_host="nas") for row in sample_rows(8)]
    again = [replace(row, worker_host="pi") for row in sample_rows(8)]
    with open_session(engine) as session:
        write_batch(session, first)
        session.commit()
        # When the second host's rows arrive
        inserted = write_batch(session, again)
        session.commit()
        # Then nothing is added: same series, same slot; the first writer's host stays
        assert inserted == 0
        assert session.scalar(select(func.count()).select_from(PluginMetric)) == 8
        assert session.scalar(select(func.count()).select_from(MetricSeries)) == 4
        hosts = session.execute(select(PluginMetric.worker_host).distinct()).scalars().all()
        assert hosts == ["nas"]


def test_a_series_moving_between_hosts_keeps_one_identity(engine: Engine) -> None:
    # Given one series collected at T0 by nas and at the next slot by pi
    [on_nas] = sample_rows(1)
    on_pi = replace(on_nas, time=T0.replace(minute=1), worker_host="pi")
    with open_session(engine) as session:
        write_batch(session, [replace(on_nas, worker_host="nas"), on_pi])
        session.commit()
        # Then it is one series with two samples, and latest() names the newest's host
        assert session.scalar(select(func.count()).select_from(MetricSeries)) == 1
        [newest] = latest(session, plugin_id="system")
    assert (newest.time, newest.worker_host) == (on_pi.time, "pi")
