"""The `tcp` plugin: is a TCP port open, and how long does connecting take."""

from __future__ import annotations

import socket
import time

from marshmallow import Schema, fields, validate

from unity_core.errors import PluginConfigError
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

_TAGS = ("target", "port")

METRICS = (
    MetricSpec("tcp_up", "bool", MetricType.GAUGE, "the port accepted a connection", _TAGS),
    MetricSpec("tcp_state", "state", MetricType.GAUGE, "open, closed, timeout or error", _TAGS),
    MetricSpec("tcp_connect_time_ms", "ms", MetricType.GAUGE, "time to connect", _TAGS, 0),
)


class TcpConfig(Schema):
    host = fields.String(load_default="", metadata={"description": "Name or address to reach."})
    port = fields.Integer(load_default=0, validate=validate.Range(min=0, max=65535))
    connect_timeout = fields.Float(load_default=5.0, validate=validate.Range(min=0.01, max=300))


def probe(host: str, port: int, timeout: float) -> tuple[str, float | None, str]:
    """(state, milliseconds to the host's answer or None, why it is not open): one attempt.

    The name is resolved first, so the time is the TCP handshake alone (or, for "closed",
    the round trip of the refusal). "timeout" means nothing answered in time.
    """
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
    except OSError as error:
        return "error", None, f"cannot resolve {host}: {error}"
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        started = time.perf_counter()
        try:
            sock.connect(address)
        except ConnectionRefusedError:
            return "closed", _ms_since(started), "connection refused"
        except TimeoutError:
            return "timeout", None, f"no answer within {timeout:g} s"
        except OSError as error:
            return "error", None, error.strerror or str(error)
        return "open", _ms_since(started), ""


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class TcpPlugin(Plugin):
    """One TCP port: open or not, and its connect time. A closed port is data, not a failure."""

    id = "tcp"
    name = "TCP port"
    version = "1.0.0"
    description = "Whether a TCP port accepts connections, and how fast."
    config_schema = TcpConfig
    metrics = METRICS

    def setup(self) -> None:
        if not self.config.get("host") or not self.config.get("port"):
            raise PluginConfigError(
                self.instance_id,
                "config.host and config.port: nothing to check; set them, e.g. `unity plugins"
                f" set {self.instance_id} config.host=nas.lan config.port=445`",
            )

    def collect_data(self, acc: Accumulator) -> None:
        host, port = str(self.config["host"]), int(self.config["port"])
        tags = {"target": host, "port": str(port)}
        state, took, reason = probe(host, port, float(self.config["connect_timeout"]))
        acc.add_gauge("tcp_up", state == "open", tags, unit="bool")
        acc.add_gauge("tcp_state", state, tags, unit="state")
        if state == "open" and took is not None:
            acc.add_gauge("tcp_connect_time_ms", took, tags, unit="ms")
        else:
            acc.error(reason, item=f"{host}:{port}")

    def summary(self, collection: Collection) -> str:
        where = f"{self.config.get('host')}:{self.config.get('port')}"
        took = collection.first("tcp_connect_time_ms")
        if took is not None:
            return f"{where} is open, connected in {took:.1f} ms"
        return f"{where} is {collection.first('tcp_state', 'unknown')}"
