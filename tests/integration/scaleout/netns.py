"""Homelab hosts as Linux network namespaces: a `hub` with a bridge, worker hosts on veth pairs.

Used by the scale-out test and `bench/scale.py` (stdlib only; needs root and `ip`).

    hub   10.231.<n>.1 on bridge br0 ── veth ── 10.231.<n>.2  w1
                                    └── veth ── 10.231.<n>.3  w2

Nothing is created in the caller's own namespace: each veth pair is created with its ends
already inside the namespaces, so `ip netns del` removes everything (`Homelab.close`).
Services of the caller's namespace (the loopback PostgreSQL) are offered inside the hub
by `Forwarder`, whose listening socket lives in the hub while it connects out from here:
a socket stays in the namespace it was created in, so one process can bridge both.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def inside(namespace: str | None) -> Iterator[None]:
    """Run the block's socket creation in network namespace `namespace` (this thread only)."""
    if namespace is None:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def ip(*args: str) -> None:
    """`ip ARGS`, raising with ip's own message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def netns_available() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"u8probe{os.getpid()}"
    try:
        ip("netns", "add", probe)
    except (OSError, RuntimeError) as error:
        return f"cannot create a network namespace: {error}"
    with contextlib.suppress(RuntimeError):
        ip("netns", "del", probe)
    return None


@dataclass
class Homelab:
    """A hub namespace with a bridge and worker-host namespaces joined to it by veth pairs."""

    hosts: tuple[str, ...] = ("w1", "w2")
    subnet: int = field(default_factory=lambda: 100 + os.getpid() % 150)
    tag: str = field(default_factory=lambda: f"u8{os.getpid() % 100000}")
    created: list[str] = field(default_factory=list)

    def ns(self, host: str) -> str:
        """The namespace name of `host` ('hub' or a worker host)."""
        return f"{self.tag}-{host}"

    def address(self, host: str) -> str:
        index = 1 if host == "hub" else 2 + self.hosts.index(host)
        return f"10.231.{self.subnet}.{index}"

    @property
    def hub_address(self) -> str:
        return self.address("hub")

    def link(self, host: str) -> str:
        """The worker host's end of its veth pair (inside its namespace)."""
        return f"eth-{host}"[:15]

    def build(self) -> Homelab:
        hub = self.ns("hub")
        self._add(hub)
        ip("-n", hub, "link", "add", "br0", "type", "bridge")
        ip("-n", hub, "addr", "add", f"{self.hub_address}/24", "dev", "br0")
        ip("-n", hub, "link", "set", "br0", "up")
        for host in self.hosts:
            name = self.ns(host)
            self._add(name)
            port = f"p-{host}"[:15]
            ip("link", "add", self.link(host), "netns", name, "type", "veth",
               "peer", "name", port, "netns", hub)  # fmt: skip
            ip("-n", hub, "link", "set", port, "master", "br0", "up")
            ip("-n", name, "addr", "add", f"{self.address(host)}/24", "dev", self.link(host))
            self.set_link(host, up=True)
        return self

    def _add(self, name: str) -> None:
        with contextlib.suppress(RuntimeError):
            ip("netns", "del", name)  # a leftover of a killed run
        ip("netns", "add", name)
        self.created.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def set_link(self, host: str, *, up: bool) -> None:
        """`ip link set <host's veth> up|down` inside the worker host."""
        ip("-n", self.ns(host), "link", "set", self.link(host), "up" if up else "down")

    def command(self, host: str, argv: list[str]) -> list[str]:
        """`argv` run inside `host`'s namespace."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def close(self) -> None:
        """Delete every namespace made (their veths and bridge go with them)."""
        for name in reversed(self.created):
            with contextlib.suppress(RuntimeError):
                ip("netns", "del", name)
        self.created.clear()


class Forwarder(threading.Thread):
    """TCP from `listen` (in namespace `listen_ns`) to `target` (in namespace `target_ns`)."""

    def __init__(
        self,
        listen: tuple[str, int],
        target: tuple[str, int],
        *,
        listen_ns: str | None = None,
        target_ns: str | None = None,
    ) -> None:
        super().__init__(name=f"forward-{listen[1]}", daemon=True)
        self.target, self.target_ns = target, target_ns
        with inside(listen_ns):
            self.server = socket.create_server(listen, reuse_port=False)
        self.address: tuple[str, int] = self.server.getsockname()[:2]
        self._closing = threading.Event()

    def run(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        try:
            with inside(self.target_ns):
                upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.connect(self.target)
        except OSError:
            client.close()
            return
        pairs = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector, client, upstream:
            for sock in pairs:
                selector.register(sock, selectors.EVENT_READ)
            while not self._closing.is_set():
                for key, _ in selector.select(timeout=0.5):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(65536)
                        if not data:
                            return
                        pairs[source].sendall(data)
                    except OSError:
                        return

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
