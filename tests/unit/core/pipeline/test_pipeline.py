"""Pipeline: stages run in order; a bad metric is dropped, a broken stage fails cleanly."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from unity_core.errors import CollectionFailed
from unity_core.pipeline import (
    Batch,
    Derive,
    Draft,
    Enrich,
    MetricRejected,
    Pipeline,
    Rates,
    Stage,
    Transform,
    Validate,
    default_stages,
)
from unity_core.plugins.sdk import Collection

from .helpers import SLOT, Declared, context, gauge, run


def test_the_default_stages_are_validate_transform_derive_rates_enrich() -> None:
    assert default_stages == (Validate, Transform, Derive, Rates, Enrich)
    assert [type(s) for s in Pipeline().stages] == [Validate, Transform, Derive, Rates, Enrich]


class NoHotSensors(Stage):
    """A custom stage: drops temperatures above 40 with a reason."""

    name = "NoHotSensors"

    def process_draft(self, draft: Draft, batch: Batch) -> None:
        if draft.name == "temperature" and draft.numeric is not None and draft.numeric > 40:
            raise MetricRejected(f"{draft.name}: too hot to be true")


def test_a_stage_drops_one_metric_with_its_reason_and_keeps_the_rest() -> None:
    # Given a pipeline with an extra stage between validation and transformation
    pipeline = Pipeline([Validate(), NoHotSensors(), Transform(), Enrich()])
    metrics = [gauge("temperature", 90.0), gauge("temperature", 20.0, tags={"s": "2"})]
    # When a run goes through it
    result = run(metrics, pipeline=pipeline)
    # Then only the hot reading is dropped, with the stage's reason
    assert [r.numeric_value for r in result.rows] == [20.0]
    assert [r.reason for r in result.rejects] == ["temperature: too hot to be true"]


class Buggy(Stage):
    name = "Buggy"

    def process_draft(self, draft: Draft, batch: Batch) -> None:
        if draft.name == "cpu_percent":
            raise KeyError("oops")


def test_an_unexpected_error_on_one_metric_rejects_only_that_metric_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a stage with a bug that hits one metric
    pipeline = Pipeline([Validate(), Buggy(), Transform(), Enrich()])
    # When a run goes through it
    with caplog.at_level(logging.ERROR, logger="unity.pipeline"):
        result = run([gauge("cpu_percent", 1.0), gauge("temperature", 1.0)], pipeline=pipeline)
    # Then that metric is rejected naming the stage, the other is kept, and the bug is logged
    assert [r.metric_name for r in result.rows] == ["temperature"]
    assert result.rejects[0].reason == "Buggy failed: KeyError: 'oops'"
    assert "stage Buggy failed" in caplog.text


class Broken(Stage):
    name = "Broken"

    def process(self, batch: Batch) -> Batch:
        raise RuntimeError("cannot work")


def test_a_stage_that_fails_as_a_whole_fails_the_run_with_its_name() -> None:
    # Given a stage that fails on the batch itself
    pipeline = Pipeline([Validate(), Broken()])
    # When a run goes through it
    with pytest.raises(CollectionFailed) as failure:
        run([gauge("temperature", 1.0)], pipeline=pipeline)
    # Then the failure names the plugin and the stage, and keeps the cause
    assert str(failure.value) == "declared: pipeline stage Broken failed: cannot work"
    assert isinstance(failure.value.__cause__, RuntimeError)


def test_a_naive_slot_time_is_refused() -> None:
    collection = Collection("declared", datetime(2026, 1, 1), [])
    with pytest.raises(ValueError, match="naive"):
        Pipeline().process(collection, Declared, context())


def test_one_pipeline_can_process_many_runs_without_carrying_state() -> None:
    # Given one pipeline used for two identical runs
    pipeline = Pipeline()
    metrics = [gauge("temperature", 20.0), gauge("nope", 1)]
    # When both are processed
    first = run(metrics, pipeline=pipeline)
    second = run(metrics, pipeline=pipeline)
    # Then the results are equal: nothing leaked from one run into the next
    assert first == second
    assert len(first.rows) == 1 and len(first.rejects) == 1


def test_an_empty_run_gives_only_the_summary_row() -> None:
    result = run([], ctx=context(summary="idle"))
    assert [(r.metric_name, r.time) for r in result.rows] == [("collection", SLOT)]
