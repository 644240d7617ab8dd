"""The tcp plugin against ports this test opens (and leaves closed) on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from unity_plugins.tcp import TcpPlugin

from unity_core.errors import PluginConfigError
from unity_core.plugins.registry import validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.testing import collect

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def listening() -> Iterator[int]:
    """A port with a listener on 127.0.0.1 (the kernel completes handshakes in its backlog)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def closed() -> int:
    """A port nothing listens on: bound once to get a free number, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_open_port_is_up_with_its_connect_time(listening: int) -> None:
    acc = collect(TcpPlugin, {"host": "127.0.0.1", "port": listening})
    tags = {"target": "127.0.0.1", "port": listening}
    acc.assert_metric("tcp_up", tags, True, unit="bool")
    acc.assert_metric("tcp_state", tags, "open")
    acc.assert_metric("tcp_connect_time_ms", tags, lambda ms: 0 <= ms < 1000, unit="ms")
    acc.assert_no_errors()


def test_a_closed_port_is_down_with_the_reason_and_no_connect_time(closed: int) -> None:
    acc = collect(TcpPlugin, {"host": "127.0.0.1", "port": closed})
    acc.assert_metric("tcp_up", value=False)
    acc.assert_metric("tcp_state", value="closed")
    acc.assert_no_metric("tcp_connect_time_ms")
    assert acc.errors == [f"127.0.0.1:{closed}: connection refused"]


def test_a_port_whose_backlog_is_full_times_out() -> None:
    # Given a listener that never accepts, its backlog filled with waiting clients
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        waiting = _fill_backlog(port)
        try:
            # When checked with a short timeout (the kernel drops SYNs to a full backlog)
            acc = collect(TcpPlugin, {"host": "127.0.0.1", "port": port, "connect_timeout": 0.3})
        finally:
            for client in waiting:
                client.close()
    # Then the state is timeout, naming the limit
    acc.assert_metric("tcp_state", value="timeout")
    assert acc.errors == [f"127.0.0.1:{port}: no answer within 0.3 s"]


def test_a_name_that_does_not_resolve_is_an_error_state() -> None:
    acc = collect(TcpPlugin, {"host": "no-such-host.invalid", "port": 80})
    acc.assert_metric("tcp_state", value="error")
    assert "cannot resolve no-such-host.invalid" in acc.errors[0]


def test_the_summary_says_open_or_closed(listening: int, closed: int) -> None:
    for port, expected in ((listening, "is open, connected in"), (closed, "is closed")):
        plugin = TcpPlugin(validate_config(TcpPlugin, "tcp", {"host": "127.0.0.1", "port": port}))
        assert expected in plugin.summary(run_plugin(plugin, SLOT, timeout=10))


def test_without_host_and_port_setup_says_what_to_configure() -> None:
    with pytest.raises(PluginConfigError, match=r"config\.host and config\.port"):
        collect(TcpPlugin, {"host": "127.0.0.1"})


def _fill_backlog(port: int) -> list[socket.socket]:
    """Clients connected until the next one is not answered (the backlog is then full)."""
    clients: list[socket.socket] = []
    for _ in range(8):
        try:
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=0.3))
        except TimeoutError:
            return clients
    raise AssertionError("the listener kept accepting; cannot make a port that times out")
