"""Round trips to a host: ICMP echo through icmplib, or timed TCP connects when ICMP is denied."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import icmplib
from unity_plugins.tcp.plugin import probe


class IcmpNotAllowed(Exception):
    """Neither raw ICMP sockets (CAP_NET_RAW) nor unprivileged ones (ping_group_range)."""


@dataclass(frozen=True)
class RoundTrips:
    """What one series of probes measured; rtts are of the replies only, in milliseconds."""

    method: str
    sent: int
    rtts: tuple[float, ...]

    @property
    def received(self) -> int:
        return len(self.rtts)

    @property
    def loss_percent(self) -> float:
        return round(100.0 * (self.sent - self.received) / self.sent, 3) if self.sent else 100.0

    @property
    def jitter_ms(self) -> float:
        """Mean absolute difference of consecutive round trips (as icmplib and RFC 3550)."""
        steps = [abs(b - a) for a, b in zip(self.rtts, self.rtts[1:], strict=False)]
        return round(statistics.fmean(steps), 3) if steps else 0.0


def icmp(host: str, count: int, interval: float, timeout: float) -> RoundTrips:
    """ICMP echo: raw sockets first, then unprivileged datagram ICMP; IcmpNotAllowed if neither.

    Raises icmplib.NameLookupError for a name that does not resolve.
    """
    for privileged in (True, False):
        try:
            found = icmplib.ping(
                host, count=count, interval=interval, timeout=timeout, privileged=privileged
            )
        except icmplib.SocketPermissionError:
            continue
        return RoundTrips("icmp", found.packets_sent, tuple(round(r, 3) for r in found.rtts))
    raise IcmpNotAllowed(
        "ICMP needs CAP_NET_RAW or a group in net.ipv4.ping_group_range; using TCP connects instead"
    )


def tcp(host: str, port: int, count: int, interval: float, timeout: float) -> RoundTrips:
    """Timed TCP connects to host:port. A refusal is a reply too: the host sent it back.

    Raises OSError when the name does not resolve.
    """
    rtts: list[float] = []
    for attempt in range(count):
        if attempt:
            time.sleep(interval)
        state, took, reason = probe(host, port, timeout)
        if state == "error" and reason.startswith("cannot resolve"):
            raise OSError(reason.split(": ", 1)[-1])
        if took is not None:
            rtts.append(took)
    return RoundTrips("tcp", count, tuple(rtts))
