"""The prometheus plugin scraping a recorded node_exporter exposition, an application's
exposition written by prometheus_client, and a real node_exporter started for the test."""

from __future__ import annotations

import math
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest
from unity_plugins.prometheus import PrometheusPlugin
from unity_plugins.prometheus.plugin import ScrapeFailed
from unity_plugins.prometheus.tests.conftest import Exposition

from unity_core.cli import main
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import MetricType
from unity_core.plugins.testing import RecordingAccumulator, collect

RECORDED = Path(__file__).resolve().parent / "recorded" / "node_exporter-1.5.0.prom"
COUNTER, GAUGE = MetricType.COUNTER, MetricType.GAUGE


def _series(text: str) -> list[tuple[str, float]]:
    """(name, value) of every sample line, read naively: enough for node_exporter's output."""
    found = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            found.append((name, float(line.rsplit(" ", 1)[1])))
    return found


def _app_exposition() -> bytes:
    """What a Python application exposes: counters, a histogram, a summary, a NaN gauge."""
    registry = CollectorRegistry()
    requests = Counter("app_requests", "Requests.", ["method"], registry=registry)
    requests.labels("GET").inc(7)
    requests.labels("POST").inc(2)
    latency = Histogram(
        "app_latency_seconds", "Latency.", buckets=(0.1, 0.5, 1.0), registry=registry
    )
    for seconds in (0.05, 0.2, 0.3, 2.0):
        latency.observe(seconds)
    Summary("app_payload_bytes", "Payload.", registry=registry).observe(512)
    Gauge("app_ratio", "Not yet known.", registry=registry).set(math.nan)
    Gauge("app_queue_length", "Jobs waiting.", registry=registry).set(3)
    return generate_latest(registry)


@pytest.fixture
def recorded(exposition: Exposition) -> Exposition:
    exposition.body = RECORDED.read_bytes()
    return exposition


def test_every_sample_of_a_recorded_node_exporter_scrape_is_stored_typed(
    recorded: Exposition,
) -> None:
    # Given node_exporter's recorded exposition served on loopback
    # When scraping it with the defaults
    acc = collect(PrometheusPlugin, {"url": recorded.url})
    # Then every sample line became one metric, plus the two scrape_* figures
    expected = _series(RECORDED.read_text())
    scraped = [m for m in acc.metrics if not m.name.startswith("scrape_")]
    assert len(scraped) == len(expected)
    acc.assert_metric("scrape_samples", value=len(expected), unit="count")
    acc.assert_no_errors()
    # And counters stay counters (tagged by label), gauges gauges, units from the names
    cpus = [m for m in acc.find("node_cpu_seconds_total", {"mode": "idle"})]
    assert cpus and all(m.type is COUNTER and m.unit == "seconds" for m in cpus)
    assert {m.tags["cpu"] for m in cpus} == {str(n) for n in range(len(cpus))}
    total = acc.assert_metric("node_memory_MemTotal_bytes", type=GAUGE, unit="bytes")
    assert total.value == dict(expected)["node_memory_MemTotal_bytes"]
    # And a summary gives quantile gauges and _sum/_count counters
    acc.assert_metric("go_gc_duration_seconds", {"quantile": "0.5"}, type=GAUGE)
    acc.assert_metric("go_gc_duration_seconds_count", type=COUNTER, unit="count")
    acc.assert_metric("go_gc_duration_seconds_sum", type=COUNTER, unit="seconds")


def test_include_and_exclude_select_metrics_by_name_globs(recorded: Exposition) -> None:
    # Given only node_memory_* but not the swap figures
    config = {"url": recorded.url, "include": ["node_memory_*"], "exclude": ["*Swap*"]}
    acc = collect(PrometheusPlugin, config)
    # Then exactly the matching samples of the recording are stored
    names = acc.names() - {"scrape_duration_ms", "scrape_samples"}
    expected = {
        name for name, _ in _series(RECORDED.read_text())
        if name.startswith("node_memory_") and "Swap" not in name
    }  # fmt: skip
    assert names == expected and expected


def test_labels_are_tags_renamed_or_dropped_as_configured(recorded: Exposition) -> None:
    # Given cpu renamed to core and every label of node_uname_info but machine dropped
    config = {
        "url": recorded.url,
        "include": ["node_cpu_seconds_total", "node_uname_info"],
        "label_rename": {"cpu": "core"},
        "label_drop": ["domainname", "nodename", "release", "sysname", "version"],
    }
    acc = collect(PrometheusPlugin, config)
    # Then the tags carry the new name and only the kept labels
    cpu = acc.find("node_cpu_seconds_total", {"core": "0", "mode": "idle"})
    assert len(cpu) == 1 and "cpu" not in cpu[0].tags
    acc.assert_metric("node_uname_info", {"machine": "x86_64"}, value=1)
    assert acc.assert_metric("node_uname_info").tags == {"machine": "x86_64"}


def test_application_histograms_keep_sum_and_count_and_buckets_only_when_asked(
    exposition: Exposition,
) -> None:
    # Given a Python application's exposition (prometheus_client's own output)
    exposition.body = _app_exposition()
    # When scraping with the defaults
    acc = collect(PrometheusPlugin, {"url": exposition.url})
    # Then counters are stored under their _total names, per label
    acc.assert_metric("app_requests_total", {"method": "GET"}, value=7, type=COUNTER)
    # And the histogram gives _sum and _count counters but no buckets
    acc.assert_metric("app_latency_seconds_count", value=4, type=COUNTER)
    acc.assert_metric("app_latency_seconds_sum", value=pytest.approx(2.55), unit="seconds")
    acc.assert_no_metric("app_latency_seconds_bucket")
    acc.assert_metric("app_payload_bytes_sum", value=512, unit="bytes", type=COUNTER)
    # And creation timestamps and NaN readings are not stored; finite gauges are
    assert not [n for n in acc.names() if n.endswith("_created")]
    acc.assert_no_metric("app_ratio")
    acc.assert_metric("app_queue_length", value=3, type=GAUGE)
    # When asking for buckets / Then each is a counter tagged le, cumulative as exposed
    acc = collect(PrometheusPlugin, {"url": exposition.url, "buckets": True})
    buckets = {m.tags["le"]: m.value for m in acc.find("app_latency_seconds_bucket")}
    assert buckets == {"0.1": 1, "0.5": 3, "1.0": 3, "+Inf": 4}


def test_max_samples_keeps_the_first_ones_and_says_so(recorded: Exposition) -> None:
    # Given a limit far below what node_exporter exposes
    acc = collect(PrometheusPlugin, {"url": recorded.url, "max_samples": 10})
    # Then ten samples are stored and the run reports the cut, naming the setting
    acc.assert_metric("scrape_samples", value=10)
    assert len(acc.errors) == 1 and "max_samples=10" in acc.errors[0]


def test_headers_are_sent_with_the_scrape(recorded: Exposition) -> None:
    # Given an Authorization header in the config / When scraping
    collect(PrometheusPlugin, {"url": recorded.url, "headers": {"Authorization": "Bearer t0k"}})
    # Then the endpoint received it, along with an Accept for the text format
    assert recorded.headers_seen is not None
    assert recorded.headers_seen["Authorization"] == "Bearer t0k"
    assert recorded.headers_seen["Accept"].startswith("text/plain")


def test_unreachable_failing_or_garbled_endpoints_fail_the_run_saying_what_went_wrong(
    exposition: Exposition,
) -> None:
    # Given nothing listening on a port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/metrics"
    with pytest.raises(ScrapeFailed, match=f"cannot scrape {closed}: .*refused"):
        collect(PrometheusPlugin, {"url": closed})
    # Given an endpoint answering 503
    exposition.status, exposition.body = 503, b"down for maintenance"
    with pytest.raises(ScrapeFailed, match="answered HTTP 503"):
        collect(PrometheusPlugin, {"url": exposition.url})
    # Given an endpoint answering HTML instead of metrics
    exposition.status, exposition.body = 200, b"<html><body>Login</body></html>\n"
    with pytest.raises(ScrapeFailed, match=r"not Prometheus text format.*<html>"):
        collect(PrometheusPlugin, {"url": exposition.url})


def test_an_endpoint_that_never_answers_fails_within_the_request_timeout() -> None:
    # Given a socket that accepts connections but never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/metrics"
        plugin = PrometheusPlugin({"url": url, "request_timeout": 0.3})
        # When the runner runs it with a deadline well above the request timeout
        started = datetime.now(UTC)
        with pytest.raises(Exception) as raised:
            run_plugin(plugin, started, timeout=10)
    # Then it failed on its own timeout, in about that long, naming the endpoint
    assert isinstance(raised.value.__cause__, ScrapeFailed), raised.value
    assert "timed out" in str(raised.value.__cause__) and url in str(raised.value.__cause__)
    assert (datetime.now(UTC) - started).total_seconds() < 5


def test_a_real_node_exporter_is_scraped_and_agrees_with_the_kernel(
    node_exporter_url: str,
) -> None:
    # Given Debian's node_exporter running on loopback
    plugin = PrometheusPlugin({"url": node_exporter_url})
    # When the runner collects it
    collection = run_plugin(plugin, datetime.now(UTC), timeout=30)
    acc = RecordingAccumulator()
    acc.metrics = collection.metrics
    # Then memory and boot time agree with what psutil reads from the same kernel
    acc.assert_metric("node_memory_MemTotal_bytes", value=psutil.virtual_memory().total)
    boot = acc.assert_metric("node_boot_time_seconds", type=GAUGE).value
    assert abs(boot - psutil.boot_time()) <= 1
    # And there is a CPU-time counter per CPU, and the summary names the endpoint
    idle = acc.find("node_cpu_seconds_total", {"mode": "idle"})
    assert len(idle) == psutil.cpu_count() and all(m.type is COUNTER for m in idle)
    assert collection.errors == []
    samples = acc.assert_metric("scrape_samples").value
    host = node_exporter_url.split("/")[2]
    assert plugin.summary(collection).startswith(f"{samples} samples of ")
    assert plugin.summary(collection).endswith(f" metrics from {host}")


def test_series_that_collide_after_dropping_labels_are_kept_once_and_reported(
    recorded: Exposition,
) -> None:
    # Given the per-CPU, per-mode CPU counters with the labels that tell them apart dropped
    config = {"url": recorded.url, "include": ["node_cpu_seconds_total"], "label_drop": ["*"]}
    acc = collect(PrometheusPlugin, config)
    # Then one series is stored, and the run says how many were dropped and why
    acc.assert_metric("node_cpu_seconds_total", {})
    exposed = [n for n, _ in _series(RECORDED.read_text()) if n == "node_cpu_seconds_total"]
    assert len(acc.errors) == 1
    assert acc.errors[0].endswith(
        f"{len(exposed) - 1} samples dropped: after label_drop/label_rename they had the same"
        " name and tags as another one; keep the labels that tell series apart"
    )
    acc.assert_metric("scrape_samples", value=1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_node_exporter_sample_passes_the_pipeline_in_a_dry_run(
    node_exporter_url: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Unity configured with the prometheus instance pointing at the real node_exporter
    for name in [name for name in os.environ if name.startswith("UNITY_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "unity.yaml"
    config.write_text(
        f"database:\n  url: {database_url}\n"
        f"plugins:\n  - id: prometheus\n    plugin: prometheus\n"
        f"    config:\n      url: {node_exporter_url}\n",
        encoding="utf-8",
    )
    # When running `unity collect prometheus --dry-run`
    args = ["--config", str(config), "collect", "prometheus", "--dry-run"]
    result = CliRunner().invoke(main, args)
    # Then validation rejected nothing and the summary names the endpoint
    assert result.exit_code == 0, result.output
    assert "rejected" not in result.stderr, result.stderr
    assert "node_cpu_seconds_total" in result.stdout
    host = node_exporter_url.split("/")[2]
    assert f"metrics from {host}" in result.stderr
