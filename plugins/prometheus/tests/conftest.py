"""Fixtures of the prometheus plugin's tests: a loopback exposition server and node_exporter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from unity_plugins.prometheus.tests.node_exporter import (
    PACKAGE,
    Unavailable,
    find_or_install,
    running_node_exporter,
)

from tests.services import service_unreachable


@dataclass
class Exposition:
    """What the loopback server answers; tests change it before scraping."""

    url: str
    body: bytes = b""
    status: int = 200
    content_type: str = "text/plain; version=0.0.4; charset=utf-8"
    headers_seen: dict[str, str] | None = None


@pytest.fixture
def exposition() -> Iterator[Exposition]:
    """An HTTP server on 127.0.0.1 serving `exposition.body` at any path."""
    state = Exposition(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.headers_seen = dict(self.headers.items())
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def node_exporter_url() -> Iterator[str]:
    """The /metrics URL of a real node_exporter started for these tests (installed if need be)."""
    try:
        binary = find_or_install()
        with running_node_exporter(binary) as url:
            yield url
    except Unavailable as error:
        service_unreachable(PACKAGE, "127.0.0.1", error)
