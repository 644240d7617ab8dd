"""The `ping` plugin: round-trip times and loss to a host, by ICMP or else by TCP connects."""

from __future__ import annotations

import icmplib
from marshmallow import Schema, fields, validate
from unity_plugins.ping.probes import IcmpNotAllowed, RoundTrips, icmp, tcp

from unity_core.errors import CollectionFailed, PluginConfigError
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

GAUGE = MetricType.GAUGE
_TAGS = ("target", "method")

METRICS = (
    MetricSpec("ping_up", "bool", GAUGE, "at least one reply", _TAGS),
    MetricSpec("ping_rtt_min_ms", "ms", GAUGE, "fastest round trip", _TAGS, 0),
    MetricSpec("ping_rtt_avg_ms", "ms", GAUGE, "mean round trip", _TAGS, 0),
    MetricSpec("ping_rtt_max_ms", "ms", GAUGE, "slowest round trip", _TAGS, 0),
    MetricSpec("ping_jitter_ms", "ms", GAUGE, "mean change between round trips", _TAGS, 0),
    MetricSpec("ping_loss_percent", "percent", GAUGE, "probes without a reply", _TAGS, 0, 100),
    MetricSpec("ping_packets_sent", "count", GAUGE, "probes sent", _TAGS, 0),
    MetricSpec("ping_packets_received", "count", GAUGE, "replies received", _TAGS, 0),
)


class PingConfig(Schema):
    host = fields.String(load_default="127.0.0.1")
    count = fields.Integer(load_default=3, validate=validate.Range(min=1, max=100))
    interval = fields.Float(load_default=0.2, validate=validate.Range(min=0.01, max=10))
    packet_timeout = fields.Float(load_default=1.0, validate=validate.Range(min=0.01, max=30))
    method = fields.String(load_default="auto", validate=validate.OneOf(["auto", "icmp", "tcp"]))
    tcp_port = fields.Integer(load_default=80, validate=validate.Range(min=1, max=65535))


class PingPlugin(Plugin):
    """Reachability and latency of one host. No replies at all is data (ping_up false)."""

    id = "ping"
    name = "Ping"
    version = "1.0.0"
    description = "ICMP round-trip min/avg/max, jitter and loss; TCP connects when ICMP is denied."
    config_schema = PingConfig
    metrics = METRICS

    def setup(self) -> None:
        if not self.config.get("host"):
            raise PluginConfigError(
                self.instance_id,
                f"config.host: nothing to ping; set it, e.g. `unity plugins set {self.instance_id}"
                " config.host=nas.lan`",
            )

    def collect_data(self, acc: Accumulator) -> None:
        host = str(self.config["host"])
        trips = self._probe(host, acc)
        tags = {"target": host, "method": trips.method}
        acc.add_gauge("ping_up", trips.received > 0, tags, unit="bool")
        if trips.rtts:
            acc.add_gauge("ping_rtt_min_ms", min(trips.rtts), tags, unit="ms")
            acc.add_gauge(
                "ping_rtt_avg_ms", round(sum(trips.rtts) / trips.received, 3), tags, unit="ms"
            )
            acc.add_gauge("ping_rtt_max_ms", max(trips.rtts), tags, unit="ms")
            acc.add_gauge("ping_jitter_ms", trips.jitter_ms, tags, unit="ms")
        elif trips.sent:
            acc.error(f"no reply to {trips.sent} {trips.method} probes", item=host)
        acc.add_gauge("ping_loss_percent", trips.loss_percent, tags, unit="percent")
        acc.add_gauge("ping_packets_sent", trips.sent, tags, unit="count")
        acc.add_gauge("ping_packets_received", trips.received, tags, unit="count")

    def _probe(self, host: str, acc: Accumulator) -> RoundTrips:
        count, interval = int(self.config["count"]), float(self.config["interval"])
        timeout, method = float(self.config["packet_timeout"]), self.config.get("method", "auto")
        try:
            if method != "tcp":
                try:
                    return icmp(host, count, interval, timeout)
                except IcmpNotAllowed as denied:
                    if method == "icmp":
                        raise CollectionFailed(
                            self.instance_id, str(denied).split(";")[0]
                        ) from None
                    self.log.info("%s", denied)
            return tcp(host, int(self.config["tcp_port"]), count, interval, timeout)
        except (icmplib.NameLookupError, OSError) as error:
            # Like a host that does not answer: data, so the check keeps its interval.
            reason = str(error) if isinstance(error, icmplib.NameLookupError) else error.strerror
            acc.error(f"cannot resolve {host}: {reason or error}", item=host)
            return RoundTrips("tcp" if method == "tcp" else "icmp", 0, ())

    def summary(self, collection: Collection) -> str:
        host = self.config.get("host")
        metric = next((m for m in collection.metrics if m.name == "ping_up"), None)
        method = metric.tags.get("method", "") if metric is not None else ""
        loss = collection.first("ping_loss_percent", 100.0)
        average = collection.first("ping_rtt_avg_ms")
        if average is None:
            return f"{host} does not answer ({method}, {loss:.0f}% loss)"
        return f"{host} answers in {average:.2f} ms on average ({method}, {loss:.0f}% loss)"
