"""The dns plugin against a tiny DNS server this test starts on 127.0.0.1 (dnspython answers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from unity_plugins.dns import DnsPlugin

from unity_core.errors import PluginConfigError
from unity_core.plugins.registry import validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.testing import RecordingAccumulator, collect

from .resolver import resolver

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with resolver() as found:
        yield found


def lookup(port: int, name: str, **config: Any) -> RecordingAccumulator:
    return collect(DnsPlugin, {"name": name, "resolver": "127.0.0.1", "port": port, **config})


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_a_name_with_records_is_up_with_its_answers_ttl_and_time(port: int, protocol: str) -> None:
    # Given a resolver that knows nas.home.lan as two addresses
    # When the plugin asks it over UDP or TCP
    acc = lookup(port, "nas.home.lan", protocol=protocol)
    # Then the answers are reported sorted, with their TTL, status and the time taken
    tags = {"name": "nas.home.lan", "record_type": "A", "resolver": "127.0.0.1"}
    acc.assert_metric("dns_up", tags, True)
    acc.assert_metric("dns_rcode", tags, "NOERROR")
    acc.assert_metric("dns_answer_count", tags, 2)
    acc.assert_metric("dns_answers", tags, "192.168.1.10, 192.168.1.11", unit="text")
    acc.assert_metric("dns_ttl", tags, 300, unit="seconds")
    acc.assert_metric("dns_query_time_ms", tags, lambda ms: 0 < ms < 5000, unit="ms")
    acc.assert_no_metric("dns_answer_match")
    acc.assert_no_errors()


def test_other_record_types_are_asked_for_by_name(port: int) -> None:
    acc = lookup(port, "mail.home.lan", record_type="MX")
    acc.assert_metric("dns_answers", value="10 nas.home.lan.")


def test_an_unknown_name_is_down_with_nxdomain(port: int) -> None:
    acc = lookup(port, "nothing.home.lan")
    acc.assert_metric("dns_rcode", value="NXDOMAIN")
    acc.assert_metric("dns_answer_count", value=0)
    acc.assert_metric("dns_up", value=False)
    acc.assert_no_metric("dns_answers")
    assert acc.errors == ["nothing.home.lan: the resolver answered NXDOMAIN"]


def test_expected_answers_must_all_be_there(port: int) -> None:
    good = lookup(port, "nas.home.lan", expect=["192.168.1.10"])
    good.assert_metric("dns_answer_match", value=True)
    good.assert_metric("dns_up", value=True)
    bad = lookup(port, "nas.home.lan", expect=["192.168.1.10", "192.168.1.99"])
    bad.assert_metric("dns_answer_match", value=False)
    bad.assert_metric("dns_up", value=False)
    assert "expected 192.168.1.99 among the answers" in bad.errors[0]


def test_a_resolver_that_never_answers_times_out_as_data(port: int) -> None:
    # Given a name the server stays silent about, checked through the runner
    config = {"name": "slow.home.lan", "resolver": "127.0.0.1", "port": port}
    plugin = DnsPlugin(validate_config(DnsPlugin, "dns", {**config, "query_timeout": 0.2}))
    collection = run_plugin(plugin, SLOT, timeout=10)
    # Then the run succeeds with dns_up false and says why
    assert [(m.name, m.value) for m in collection.metrics] == [("dns_up", False)]
    assert collection.errors == ["slow.home.lan: no answer from 127.0.0.1 within 0.2 s"]
    assert plugin.summary(collection) == (
        "slow.home.lan did not resolve: no answer from 127.0.0.1 within 0.2 s"
    )


def test_the_summary_names_the_answers(port: int) -> None:
    config = {"name": "nas.home.lan", "resolver": "127.0.0.1", "port": port}
    plugin = DnsPlugin(validate_config(DnsPlugin, "dns", config))
    text = plugin.summary(run_plugin(plugin, SLOT, timeout=10))
    assert text.startswith("nas.home.lan resolves to 192.168.1.10, 192.168.1.11 (127.0.0.1, ")


def test_without_a_name_setup_says_what_to_configure() -> None:
    with pytest.raises(PluginConfigError, match=r"config\.name: no name to resolve"):
        collect(DnsPlugin, {})


def test_a_resolver_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(PluginConfigError, match="resolver"):
        validate_config(DnsPlugin, "dns", {"name": "x", "resolver": "dns.lan"})
