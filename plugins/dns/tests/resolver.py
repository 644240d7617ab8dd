"""A tiny authoritative DNS server on 127.0.0.1 (UDP and TCP) for the dns plugin's tests."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rrset

#: name -> (type, ttl, records); names not here are NXDOMAIN, SILENT never gets an answer.
ZONE = {
    "nas.home.lan.": ("A", 300, ["192.168.1.10", "192.168.1.11"]),
    "mail.home.lan.": ("MX", 3600, ["10 nas.home.lan."]),
}
SILENT = "slow.home.lan."


def answer(wire: bytes) -> bytes | None:
    """The response to one query in wire format, or None to stay silent."""
    query = dns.message.from_wire(wire)
    question = query.question[0]
    name = question.name.to_text()
    if name == SILENT:
        return None
    response = dns.message.make_response(query)
    found = ZONE.get(name)
    if found is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif dns.rdatatype.to_text(question.rdtype) == found[0]:
        response.answer.append(dns.rrset.from_text_list(name, found[1], "IN", found[0], found[2]))
    return response.to_wire()


class _Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = answer(data)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _Tcp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        query, _ = dns.query.receive_tcp(self.request, expiration=None)
        reply = answer(query.to_wire())
        if reply is not None:
            dns.query.send_tcp(self.request, reply)


@contextmanager
def resolver() -> Iterator[int]:
    """UDP and TCP servers on one free 127.0.0.1 port; yields the port."""
    udp, tcp = _bind_pair()
    port = udp.server_address[1]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (udp, tcp)]
    for thread in threads:
        thread.start()
    try:
        yield port
    finally:
        for server in (udp, tcp):
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join()


def _bind_pair(attempts: int = 20) -> tuple[Any, Any]:
    """A free UDP port whose TCP twin is free too: the UDP port the kernel picks may be in use
    on TCP (another test's connection), so try again with another."""
    for _ in range(attempts):
        udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), _Udp)
        try:
            return udp, _bind_tcp(udp.server_address[1])
        except OSError:
            udp.server_close()
    raise OSError(f"no port free on both UDP and TCP after {attempts} tries")


def _bind_tcp(port: int) -> Any:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), _Tcp, bind_and_activate=False)
    server.allow_reuse_address = True
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.server_bind()
        server.server_activate()
    except OSError:
        server.server_close()
        raise
    return server
