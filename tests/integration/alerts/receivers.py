"""Local receivers the alert tests start: an HTTP endpoint and an SMTP server (aiosmtpd).

Both record what arrives and let a test wait for it on a condition variable, never a sleep.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records POSTs; answers 500 to the first `fail_first` of them, 200 afterwards."""

    url: str
    fail_first: int = 0
    requests: list[Request] = field(default_factory=list)
    failed: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, count: int, timeout: float = 30.0) -> list[Request]:
        """The first `count` successful requests; fails the test after `timeout` seconds."""
        return _wait(self.changed, self.requests, count, timeout, f"request(s) at {self.url}")


@contextmanager
def http_receiver(fail_first: int = 0) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(url="", fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.changed:
                if receiver.failed < receiver.fail_first:
                    receiver.failed += 1
                    status = 500
                else:
                    receiver.requests.append(
                        Request(self.path, dict(self.headers), body, time.monotonic())
                    )
                    status = 200
                receiver.changed.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    port: int
    messages: list[Message] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, count: int, timeout: float = 30.0) -> list[Message]:
        """The first `count` emails; fails the test after `timeout` seconds."""
        return _wait(self.changed, self.messages, count, timeout, f"email(s) on port {self.port}")


@contextmanager
def smtp_receiver() -> Iterator[SmtpReceiver]:
    from aiosmtpd.controller import Controller

    receiver = SmtpReceiver(port=_free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with receiver.changed:
                receiver.messages.append(message_from_bytes(envelope.content))
                receiver.changed.notify_all()
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=receiver.port)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


def _wait(
    changed: threading.Condition, seen: list[T], count: int, timeout: float, what: str
) -> list[T]:
    with changed:
        if not changed.wait_for(lambda: len(seen) >= count, timeout):
            pytest.fail(
                f"timed out after {timeout:g} s waiting for {count} {what}; got {len(seen)}",
                pytrace=False,
            )
        return list(seen[:count])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alerts_in(request: Request) -> list[dict[str, Any]]:
    """The alerts a webhook message carried."""
    return list(request.json()["alerts"])
