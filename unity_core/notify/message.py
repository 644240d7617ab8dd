"""One message for a group of alert notices: a title, a plain-text body and a JSON payload."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_ICONS = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED", "test": "TEST"}


@dataclass(frozen=True)
class Message:
    """What every channel sends: text channels use title/body, webhooks post `payload`."""

    title: str
    body: str
    severity: str
    payload: dict[str, Any]


def compose(notices: Sequence[Mapping[str, Any]]) -> Message:
    """Group notices (Notice.to_dict() forms) into one message, worst severity first.

    One alert: "[FIRING] High CPU". Several: "[FIRING] 3 alerts: High CPU, Disk full, …",
    with one line per alert in the body, so a burst arrives as one message, not ten.
    """
    if not notices:
        raise ValueError("a message needs at least one notice")
    ordered = sorted(notices, key=lambda n: (-severity_rank(n.get("severity")), n.get("alert", "")))
    events = {n["event"] for n in ordered}
    label = _ICONS.get(next(iter(events)), "ALERT") if len(events) == 1 else "ALERTS"
    names = [n["alert"] for n in ordered]
    if len(ordered) == 1:
        title = f"[{label}] {names[0]}"
    else:
        shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        title = f"[{label}] {len(names)} alerts: {shown}"
    severity = str(ordered[0].get("severity") or "warning")
    body = "\n".join(_line(n) for n in ordered)
    payload = {
        "source": "unity",
        "version": 1,
        "title": title,
        "message": body,
        "severity": severity,
        "alerts": [dict(n) for n in ordered],
    }
    return Message(title=title, body=body, severity=severity, payload=payload)


def _line(notice: Mapping[str, Any]) -> str:
    tags = notice.get("tags") or {}
    where = " {" + ", ".join(f"{k}={v}" for k, v in tags.items()) + "}" if tags else ""
    value = notice.get("value")
    shown = f" — value {value:.4g}" if isinstance(value, int | float) else ""
    line = (
        f"{_ICONS.get(notice['event'], notice['event'])} {notice['alert']}{where}{shown} "
        f"({notice.get('severity', 'warning')}; {notice.get('condition', '')})"
    )
    analysis = notice.get("analysis") or {}
    if analysis.get("suggestion"):
        line += f"\n  {analysis['suggestion']}"
    return line


def severity_rank(severity: object) -> int:
    """info 1 < warning 2 < critical 3; anything else counts as a warning."""
    return {"critical": 3, "warning": 2, "info": 1}.get(str(severity), 2)
