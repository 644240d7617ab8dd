"""A stand-in Docker engine: serves Engine API 1.43 responses from JSON files on a unix socket.

No Docker engine runs on the machines this project is developed on, so the docker plugin's
tests (and `unity collect docker --dry-run`) talk to this server instead. It answers the
calls the plugin makes, from the JSON files in `engine_api_1.43/` (see the README there for
where they come from); anything else is a 404 as the engine would send. Run it by hand:

    python -m unity_plugins.docker.tests.recorded_engine --socket /tmp/unity-docker.sock
    DOCKER_HOST=unix:///tmp/unity-docker.sock unity collect docker --dry-run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["RECORDINGS", "RecordedEngine", "recorded_engine"]

#: The recorded responses, one file per endpoint (and per container for inspect and stats).
RECORDINGS = Path(__file__).resolve().parent / "engine_api_1.43"
_VERSIONED = re.compile(r"^/v\d+\.\d+(?=/)")
_CONTAINER = re.compile(r"^/containers/([0-9a-zA-Z_.-]+)/(json|stats)$")


class RecordedEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The server; `requests` lists each (method, path) it answered, in order."""

    daemon_threads = True

    def __init__(self, socket_path: str, recordings: Path = RECORDINGS) -> None:
        self.recordings = recordings
        self.requests: list[tuple[str, str]] = []
        containers = json.loads((recordings / "containers.json").read_text(encoding="utf-8"))
        # Containers are addressed by id (what the plugin sends) or name; files are by name.
        self.names: dict[str, str] = {}
        for container in containers:
            name = container["Names"][0].lstrip("/")
            self.names[container["Id"]] = self.names[name] = name
        super().__init__(socket_path, _Handler)

    @property
    def url(self) -> str:
        return f"unix://{self.server_address}"

    def answer(self, path: str) -> tuple[int, Any]:
        """(status, JSON body) for one GET of `path` (query string ignored)."""
        path = _VERSIONED.sub("", urlsplit(path).path)
        if path == "/_ping":
            return 200, "OK"
        files = {"/version": "version.json", "/containers/json": "containers.json"}
        files["/images/json"] = "images.json"
        if path in files:
            return 200, self._load(files[path])
        found = _CONTAINER.match(path)
        if found:
            name = self.names.get(found.group(1), found.group(1))
            folder = "inspect" if found.group(2) == "json" else "stats"
            file = self.recordings / folder / f"{name}.json"
            if file.exists():
                return 200, self._load(f"{folder}/{name}.json")
            return 404, {"message": f"No such container: {found.group(1)}"}
        return 404, {"message": "page not found"}

    def _load(self, name: str) -> Any:
        return json.loads((self.recordings / name).read_text(encoding="utf-8"))


class _Handler(BaseHTTPRequestHandler):
    server: RecordedEngine
    protocol_version = "HTTP/1.1"  # keep-alive, as the engine does

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path))
        status, body = self.server.answer(self.path)
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        kind = "text/plain; charset=utf-8" if isinstance(body, str) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Api-Version", "1.43")
        self.send_header("Server", "Docker/24.0.7 (linux)")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def address_string(self) -> str:
        return "unix-client"  # unix sockets have no client address

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def recorded_engine(socket_path: str | os.PathLike[str]) -> Iterator[RecordedEngine]:
    """Serve the recordings on `socket_path` in a background thread for the block's duration."""
    server = RecordedEngine(os.fspath(socket_path))
    thread = threading.Thread(target=server.serve_forever, name="recorded-engine", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        Path(socket_path).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.path.join(tempfile.gettempdir(), "unity-docker.sock")
    parser.add_argument("--socket", default=default, help=f"unix socket path ({default})")
    socket_path = parser.parse_args().socket
    Path(socket_path).unlink(missing_ok=True)
    with recorded_engine(socket_path) as server:
        print(f"serving the recorded Engine API 1.43 answers on {server.url} (Ctrl-C stops)")
        print(f"try: DOCKER_HOST={server.url} unity collect docker --dry-run", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `kill` removes the socket too
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
