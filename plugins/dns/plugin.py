"""The `dns` plugin: how long a resolver takes to answer for a name, and what it answers."""

from __future__ import annotations

import time

import dns.exception
import dns.inet
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
from marshmallow import Schema, ValidationError, fields, validate

from unity_core.errors import PluginConfigError
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

GAUGE = MetricType.GAUGE
_TAGS = ("name", "record_type", "resolver")
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "CAA")

METRICS = (
    MetricSpec("dns_up", "bool", GAUGE, "a NOERROR answer with records (and the expected)", _TAGS),
    MetricSpec("dns_query_time_ms", "ms", GAUGE, "time to the resolver's answer", _TAGS, 0),
    MetricSpec("dns_rcode", "code", GAUGE, "the answer's status: NOERROR, NXDOMAIN…", _TAGS),
    MetricSpec("dns_answer_count", "count", GAUGE, "records of the asked type", _TAGS, 0),
    MetricSpec("dns_answers", "text", GAUGE, "those records, sorted, comma-separated", _TAGS),
    MetricSpec("dns_ttl", "seconds", GAUGE, "the records' time to live", _TAGS, 0),
    MetricSpec("dns_answer_match", "bool", GAUGE, "every expected record was answered", _TAGS),
)
MAX_ANSWERS_TEXT = 1000


def _address(value: str) -> None:
    if value:
        try:
            dns.inet.af_for_address(value)
        except ValueError:
            raise ValidationError("expected an IP address (leave empty for the system's)") from None


class DnsConfig(Schema):
    name = fields.String(load_default="", metadata={"description": "The name to resolve."})
    record_type = fields.String(load_default="A", validate=validate.OneOf(RECORD_TYPES))
    resolver = fields.String(load_default="", validate=_address)
    port = fields.Integer(load_default=53, validate=validate.Range(min=1, max=65535))
    protocol = fields.String(load_default="udp", validate=validate.OneOf(["udp", "tcp"]))
    query_timeout = fields.Float(load_default=5.0, validate=validate.Range(min=0.01, max=60))
    expect = fields.List(fields.String(), load_default=list)


class DnsPlugin(Plugin):
    """One name against one resolver. A failed lookup is data (dns_up false), not a failure."""

    id = "dns"
    name = "DNS lookup"
    version = "1.0.0"
    description = "Resolution time, status and answers for a name against a chosen resolver."
    config_schema = DnsConfig
    metrics = METRICS

    def setup(self) -> None:
        if not self.config.get("name"):
            raise PluginConfigError(
                self.instance_id,
                "config.name: no name to resolve; set it, e.g. `unity plugins set"
                f" {self.instance_id} config.name=nas.home.lan config.resolver=192.168.1.1`",
            )
        self._resolver = str(self.config.get("resolver") or "") or system_resolver(self.instance_id)

    def collect_data(self, acc: Accumulator) -> None:
        name, kind = str(self.config["name"]), str(self.config.get("record_type", "A"))
        tags = {"name": name, "record_type": kind, "resolver": self._resolver}
        query = dns.message.make_query(name, dns.rdatatype.from_text(kind))
        timeout = float(self.config["query_timeout"])
        send = dns.query.tcp if self.config.get("protocol") == "tcp" else dns.query.udp
        started = time.perf_counter()
        try:
            response = send(query, self._resolver, timeout=timeout, port=int(self.config["port"]))
        except dns.exception.Timeout:
            acc.add_gauge("dns_up", False, tags, unit="bool")
            acc.error(f"no answer from {self._resolver} within {timeout:g} s", item=name)
            return
        except (OSError, dns.exception.DNSException) as error:
            acc.add_gauge("dns_up", False, tags, unit="bool")
            acc.error(f"asking {self._resolver} failed: {error}", item=name)
            return
        took = round((time.perf_counter() - started) * 1000, 3)
        rcode = dns.rcode.to_text(response.rcode())
        records = [rrset for rrset in response.answer if rrset.rdtype == query.question[0].rdtype]
        answers = sorted(rdata.to_text() for rrset in records for rdata in rrset)
        up = rcode == "NOERROR" and bool(answers)
        acc.add_gauge("dns_query_time_ms", took, tags, unit="ms")
        acc.add_gauge("dns_rcode", rcode, tags, unit="code")
        acc.add_gauge("dns_answer_count", len(answers), tags, unit="count")
        if answers:
            acc.add_gauge("dns_answers", ", ".join(answers)[:MAX_ANSWERS_TEXT], tags, unit="text")
            acc.add_gauge("dns_ttl", min(rrset.ttl for rrset in records), tags, unit="seconds")
        expected = self.config.get("expect") or []
        if expected:
            matched = set(expected) <= set(answers)
            acc.add_gauge("dns_answer_match", matched, tags, unit="bool")
            up = up and matched
        acc.add_gauge("dns_up", up, tags, unit="bool")
        if not up:
            acc.error(_why_down(rcode, answers, expected), item=name)

    def summary(self, collection: Collection) -> str:
        name = self.config.get("name")
        rcode = collection.first("dns_rcode")
        if rcode is None:
            reason = collection.errors[0].split(": ", 1)[-1] if collection.errors else "no answer"
            return f"{name} did not resolve: {reason}"
        took = collection.first("dns_query_time_ms", 0.0)
        answers = collection.first("dns_answers")
        if answers is None:
            return f"{name}: {rcode} from {self._resolver} in {took:.1f} ms, no records"
        return f"{name} resolves to {answers} ({self._resolver}, {took:.1f} ms)"


def system_resolver(plugin_id: str) -> str:
    """The first name server of /etc/resolv.conf; PluginConfigError when there is none."""
    try:
        servers = dns.resolver.Resolver(configure=True).nameservers
    except dns.resolver.NoResolverConfiguration:
        servers = []
    if not servers:
        raise PluginConfigError(
            plugin_id, "config.resolver: this machine names no resolver; set one, e.g. 1.1.1.1"
        )
    return str(servers[0])


def _why_down(rcode: str, answers: list[str], expected: list[str]) -> str:
    if rcode != "NOERROR":
        return f"the resolver answered {rcode}"
    if not answers:
        return "the resolver answered with no records of that type"
    missing = sorted(set(expected) - set(answers))
    return f"expected {', '.join(missing)} among the answers, got {', '.join(answers)}"
