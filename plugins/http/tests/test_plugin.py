"""The http plugin against real HTTP and HTTPS servers this test starts on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from unity_plugins.http import HttpPlugin

from unity_core.errors import CollectionFailed, PluginConfigError
from unity_core.plugins.registry import validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.testing import RecordingAccumulator, collect

from .servers import self_signed, serving

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving() as base:
        yield base


def check(url: str, **config: Any) -> RecordingAccumulator:
    return collect(HttpPlugin, {"url": url, **config})


def test_a_page_that_answers_200_with_the_keyword_is_up(site: str) -> None:
    # Given a page answering 200 with "hello" in its body
    # When it is checked for that keyword
    acc = check(f"{site}/ok", expect_keyword="hello")
    # Then it is up, with the status, body size, latency and both matches
    tags = {"url": f"{site}/ok"}
    acc.assert_metric("http_up", tags, True)
    acc.assert_metric("http_status_code", tags, 200, unit="code")
    acc.assert_metric("http_status_match", tags, True)
    acc.assert_metric("http_keyword_match", tags, True)
    acc.assert_metric("http_content_length", tags, 43, unit="bytes")
    acc.assert_metric("http_redirects", tags, 0)
    acc.assert_metric("http_response_time_ms", tags, lambda ms: 0 < ms < 5000, unit="ms")
    # And a plain-HTTP site has no certificate metric, and nothing went wrong
    acc.assert_no_metric("http_cert_expiry_days")
    acc.assert_no_errors()


def test_redirects_are_followed_and_counted(site: str) -> None:
    acc = check(f"{site}/old")
    acc.assert_metric("http_redirects", value=2)
    acc.assert_metric("http_status_code", value=200)
    acc.assert_metric("http_up", value=True)


def test_not_following_redirects_reports_the_redirect_itself(site: str) -> None:
    acc = check(f"{site}/old", follow_redirects=False)
    acc.assert_metric("http_status_code", value=302)
    acc.assert_metric("http_redirects", value=0)


def test_a_redirect_loop_is_down_with_the_reason(site: str) -> None:
    acc = check(f"{site}/loop", max_redirects=3)
    acc.assert_metric("http_up", value=False)
    assert len(acc.errors) == 1 and "more than the allowed redirects" in acc.errors[0]


def test_an_error_status_is_down_unless_it_is_the_expected_one(site: str) -> None:
    # Given a page answering 404
    # Then by default (any status below 400) it is down, though it answered
    acc = check(f"{site}/missing")
    acc.assert_metric("http_status_code", value=404)
    acc.assert_metric("http_status_match", value=False)
    acc.assert_metric("http_up", value=False)
    acc.assert_no_errors()
    # And when 404 is what the check expects, it is up; 200 is then not
    check(f"{site}/missing", expect_status=[404]).assert_metric("http_up", value=True)
    check(f"{site}/ok", expect_status=[404]).assert_metric("http_up", value=False)


def test_a_missing_keyword_makes_an_answering_page_down(site: str) -> None:
    acc = check(f"{site}/ok", expect_keyword="welcome")
    acc.assert_metric("http_status_match", value=True)
    acc.assert_metric("http_keyword_match", value=False)
    acc.assert_metric("http_up", value=False)


def test_a_refused_connection_is_data_not_a_failed_run() -> None:
    # Given a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # When checked through the runner
    plugin = HttpPlugin(validate_config(HttpPlugin, "http", {"url": f"http://127.0.0.1:{port}/"}))
    collection = run_plugin(plugin, SLOT, timeout=10)
    # Then the run succeeds with http_up 0 and the reason as a per-item error
    assert next((m.name, m.value) for m in collection.metrics) == ("http_up", False)
    assert "Connection refused" in collection.errors[0]
    # And the summary says so in one sentence
    assert plugin.summary(collection).startswith(f"http://127.0.0.1:{port}/ is down: ")


def test_https_with_a_trusted_certificate_reports_its_days_to_expiry(tmp_path: Path) -> None:
    # Given an HTTPS server with a self-signed certificate valid for 30 more days
    tls, cert = self_signed(tmp_path, days=30)
    with serving(tls) as base:
        # When checked trusting that certificate
        acc = check(f"{base}/ok", ca_file=str(cert))
        collection_summary = _summary(f"{base}/ok", ca_file=str(cert))
    # Then it is up, and the certificate has 29-30 days left
    acc.assert_metric("http_up", value=True)
    acc.assert_metric("http_cert_expiry_days", value=lambda d: 29.9 < d <= 30, unit="days")
    acc.assert_no_errors()
    assert collection_summary.endswith("certificate expires in 30 days")


def test_an_untrusted_certificate_is_down_but_still_reports_its_expiry(tmp_path: Path) -> None:
    tls, _cert = self_signed(tmp_path, days=5)
    with serving(tls) as base:
        verified = check(f"{base}/ok")
        unverified = check(f"{base}/ok", verify_tls=False)
    # Verified against the system CAs the self-signed certificate fails the check
    verified.assert_metric("http_up", value=False)
    assert "CERTIFICATE_VERIFY_FAILED" in verified.errors[0]
    verified.assert_metric("http_cert_expiry_days", value=lambda d: 4.9 < d <= 5)
    # And with verify_tls false it is up, with the same expiry
    unverified.assert_metric("http_up", value=True)
    unverified.assert_metric("http_cert_expiry_days", value=lambda d: 4.9 < d <= 5)


def test_without_a_url_setup_says_what_to_configure() -> None:
    with pytest.raises(PluginConfigError, match=r"config.url: no URL to check; set it"):
        collect(HttpPlugin, {})


def test_a_url_that_is_not_http_is_refused_by_the_schema() -> None:
    with pytest.raises(PluginConfigError, match="url"):
        validate_config(HttpPlugin, "http", {"url": "ftp://nas.lan/"})


def test_only_a_bad_configuration_fails_a_run() -> None:
    plugin = HttpPlugin(validate_config(HttpPlugin, "http", {}))
    with pytest.raises(CollectionFailed):
        run_plugin(plugin, SLOT, timeout=5)


def _summary(url: str, **config: Any) -> str:
    plugin = HttpPlugin(validate_config(HttpPlugin, "http", {"url": url, **config}))
    return str(plugin.summary(run_plugin(plugin, SLOT, timeout=10)))
