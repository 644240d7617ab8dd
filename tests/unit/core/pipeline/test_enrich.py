"""Enrich: context tags under each metric's own, and the run's summary row with its metadata."""

from __future__ import annotations

from .helpers import SLOT, context, gauge, run


def test_every_row_is_tagged_with_host_and_environment_but_not_the_worker() -> None:
    # Given a run on worker "w1" for host "box" in environment "test"
    [row] = run([gauge("temperature", 20.0)], ctx=context(worker_host="w1")).rows
    # Then the row carries host and environment; the worker is no part of its identity
    assert row.tags == {"environment": "test", "host": "box"}


def test_the_same_slot_run_on_two_workers_keys_its_rows_identically() -> None:
    # Given one slot collected by worker w1 and again by w2 (a redelivery after a crash)
    on_w1 = run([gauge("temperature", 20.0)], ctx=context(worker_host="w1", summary="s"))
    on_w2 = run([gauge("temperature", 20.0)], ctx=context(worker_host="w2", summary="s"))
    # Then every row, the summary row included, has the same dedup key
    assert [r.key for r in on_w1.rows] == [r.key for r in on_w2.rows]


def test_every_row_carries_its_worker_host_outside_the_series_identity() -> None:
    # Given one slot collected by worker w1 and again by w2, with a summary row
    on_w1 = run([gauge("temperature", 20.0)], ctx=context(worker_host="w1", summary="s")).rows
    on_w2 = run([gauge("temperature", 20.0)], ctx=context(worker_host="w2", summary="s")).rows
    # Then every row names the worker that collected it, the summary row included
    assert [r.worker_host for r in on_w1] == ["w1", "w1"]
    assert [r.worker_host for r in on_w2] == ["w2", "w2"]
    # And the rows are still the same samples: same keys, same tags
    assert [(r.key, r.tags) for r in on_w1] == [(r.key, r.tags) for r in on_w2]


def test_configured_tags_override_the_defaults_and_metric_tags_override_both() -> None:
    # Given configured tags that rename the host and add a site, and a metric with its own site
    ctx = context(tags={"host": "nas", "site": "rack1", "room": "attic"})
    metrics = [gauge("temperature", 20.0), gauge("cpu_percent", 1.0, tags={"site": "rack2"})]
    # When processed
    first, second = run(metrics, ctx=ctx).rows
    # Then configured tags beat the defaults, and the metric's own tag beats the configured one
    assert first.tags == {"environment": "test", "host": "nas", "room": "attic", "site": "rack1"}
    assert second.tags is not None and second.tags["site"] == "rack2"
    assert second.tags["host"] == "nas"


def test_an_empty_environment_and_no_worker_add_no_tags() -> None:
    [row] = run([gauge("temperature", 20.0)], ctx=context(environment="")).rows
    assert row.tags == {"host": "box"}


def test_no_summary_row_is_added_unless_a_summary_is_given() -> None:
    result = run([gauge("temperature", 20.0)])
    assert [r.metric_name for r in result.rows] == ["temperature"]


def test_the_summary_row_carries_the_run_metadata_at_the_slot() -> None:
    # Given a run with a summary, two good metrics, one bad one and a per-item error
    ctx = context(summary="2 sensors read", collector_version="1.2.3", worker_host="w1")
    metrics = [gauge("temperature", 20.0), gauge("cpu_percent", 1.0), gauge("nope", 1)]
    # When processed
    result = run(metrics, ctx=ctx, errors=["sensor3: timeout"])
    # Then the last row is the summary, at the slot, tagged like the run, with the metadata
    summary = result.rows[-1]
    assert summary.metric_name == "collection"
    assert summary.time == SLOT
    assert summary.tags == {"environment": "test", "host": "box"}
    assert summary.numeric_value is None
    assert summary.value == {
        "summary": "2 sensors read",
        "collection_duration_ms": 12.5,
        "collector_version": "1.2.3",
        "metrics": 2,
        "rejected": 1,
        "errors": ["sensor3: timeout"],
        "worker_host": "w1",
    }


def test_the_summary_row_keeps_only_the_first_twenty_errors_and_counts_all() -> None:
    # Given a run with 25 per-item errors
    errors = [f"item{i}: failed" for i in range(25)]
    # When processed with a summary
    summary = run([], ctx=context(summary="nothing"), errors=errors).rows[-1]
    # Then twenty are kept and the total is recorded
    assert summary.value["errors"] == errors[:20]
    assert summary.value["errors_total"] == 25
