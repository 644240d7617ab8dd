"""The ping plugin against 127.0.0.1: ICMP for real (root here), and the TCP fallback."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from unity_plugins.ping import PingPlugin
from unity_plugins.ping.probes import RoundTrips

from unity_core.errors import PluginConfigError
from unity_core.plugins.registry import validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.testing import collect

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = {"count": 3, "interval": 0.01, "packet_timeout": 0.5}


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_icmp_to_localhost_reports_round_trips_and_no_loss() -> None:
    # Given this machine (the tests run as root, so raw ICMP sockets are allowed)
    # When pinging 127.0.0.1 three times
    acc = collect(PingPlugin, {"host": "127.0.0.1", "method": "icmp", **FAST})
    # Then three replies came back by ICMP with ordered min <= avg <= max
    tags = {"target": "127.0.0.1", "method": "icmp"}
    acc.assert_metric("ping_up", tags, True)
    acc.assert_metric("ping_packets_sent", tags, 3)
    acc.assert_metric("ping_packets_received", tags, 3)
    acc.assert_metric("ping_loss_percent", tags, 0.0, unit="percent")
    low, mean, high = (
        acc.assert_metric(f"ping_rtt_{kind}_ms", tags, unit="ms").value
        for kind in ("min", "avg", "max")
    )
    assert 0 < low <= mean <= high < 500
    acc.assert_metric("ping_jitter_ms", tags, lambda ms: 0 <= ms <= high - low)
    acc.assert_no_errors()


@pytest.mark.parametrize("port_state", ["open", "closed"])
def test_the_forced_tcp_fallback_times_connects_and_counts_refusals_as_replies(
    listening: int, port_state: str
) -> None:
    # Given a port with a listener, or one nothing listens on (the host still answers RST)
    port = listening if port_state == "open" else _free_port()
    # When pinging with method tcp
    acc = collect(PingPlugin, {"host": "127.0.0.1", "method": "tcp", "tcp_port": port, **FAST})
    # Then every probe got a reply, measured by TCP
    tags = {"target": "127.0.0.1", "method": "tcp"}
    acc.assert_metric("ping_packets_received", tags, 3)
    acc.assert_metric("ping_loss_percent", tags, 0.0)
    acc.assert_metric("ping_rtt_avg_ms", tags, lambda ms: 0 < ms < 500)
    acc.assert_no_errors()


def test_auto_falls_back_to_tcp_where_icmp_is_not_allowed() -> None:
    # Given a process without CAP_NET_RAW (and this machine's ping_group_range allowing no
    # unprivileged ICMP), as a worker in an unprivileged container would run
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop CAP_NET_RAW")
    probe = (
        "import json\n"
        "from unity_plugins.ping import PingPlugin\n"
        "from unity_core.plugins.testing import collect\n"
        f"acc = collect(PingPlugin, {{'host': '127.0.0.1', **{FAST!r}}})\n"
        "print(json.dumps([[m.name, m.value, m.tags] for m in acc.metrics]))\n"
    )
    drop = [setpriv, "--inh-caps=-net_raw", "--bounding-set=-net_raw", sys.executable, "-c"]
    # When the default method (auto) pings 127.0.0.1 there
    done = subprocess.run([*drop, probe], capture_output=True, text=True, timeout=60)
    if done.returncode != 0 and "setpriv" in done.stderr:
        pytest.skip(f"cannot drop CAP_NET_RAW here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    metrics = {name: (value, tags) for name, value, tags in json.loads(done.stdout)}
    # Then it measured by TCP connects, got replies, and said why at INFO level
    assert metrics["ping_up"] == (True, {"target": "127.0.0.1", "method": "tcp"})
    assert metrics["ping_packets_received"][0] == 3


def test_a_host_that_does_not_resolve_is_down_not_a_failed_run() -> None:
    plugin = PingPlugin(validate_config(PingPlugin, "ping", {"host": "no-such-host.invalid"}))
    collection = run_plugin(plugin, SLOT, timeout=10)
    assert collection.first("ping_up") is False
    assert collection.first("ping_loss_percent") == 100.0
    assert "cannot resolve no-such-host.invalid" in collection.errors[0]
    assert plugin.summary(collection) == "no-such-host.invalid does not answer (icmp, 100% loss)"


def test_the_summary_gives_the_average_and_loss() -> None:
    plugin = PingPlugin(validate_config(PingPlugin, "ping", FAST))
    text = plugin.summary(run_plugin(plugin, SLOT, timeout=10))
    assert text.startswith("127.0.0.1 answers in ") and text.endswith("(icmp, 0% loss)")


def test_loss_and_jitter_arithmetic() -> None:
    trips = RoundTrips("tcp", 4, (1.0, 3.0, 2.0))
    assert (trips.received, trips.loss_percent, trips.jitter_ms) == (3, 25.0, 1.5)
    assert RoundTrips("icmp", 0, ()).loss_percent == 100.0


def test_an_empty_host_says_what_to_configure() -> None:
    with pytest.raises(PluginConfigError, match=r"config\.host: nothing to ping"):
        collect(PingPlugin, {"host": ""})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
