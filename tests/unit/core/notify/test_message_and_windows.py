"""Grouping notices into one message; maintenance windows daily and one-off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from unity_core.notify import compose, in_window


def notice(name: str, severity: str = "warning", event: str = "firing") -> dict[str, object]:
    return {"event": event, "alert": name, "severity": severity, "condition": "x > 1",
            "tags": {}, "value": 2.0}  # fmt: skip


def test_one_notice_is_titled_with_its_alert() -> None:
    assert compose([notice("Disk full")]).title == "[FIRING] Disk full"


def test_a_burst_becomes_one_message_worst_severity_first() -> None:
    message = compose([notice("b"), notice("a", "critical"), notice("c"), notice("d", "info")])
    assert message.title == "[FIRING] 4 alerts: a, b, c, …"
    assert message.severity == "critical"
    assert [a["alert"] for a in message.payload["alerts"]] == ["a", "b", "c", "d"]
    assert len(message.body.splitlines()) == 4


def test_mixed_events_are_titled_as_alerts() -> None:
    assert compose([notice("a"), notice("b", event="resolved")]).title.startswith("[ALERTS]")


def test_an_empty_burst_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        compose([])


@pytest.mark.parametrize(
    ("window", "moment", "inside"),
    [
        ({"start": "02:00", "end": "03:00"}, datetime(2030, 1, 1, 2, 30, tzinfo=UTC), True),
        ({"start": "02:00", "end": "03:00"}, datetime(2030, 1, 1, 3, 0, tzinfo=UTC), False),
        ({"start": "23:00", "end": "01:00"}, datetime(2030, 1, 1, 0, 30, tzinfo=UTC), True),
        ({"start": "23:00", "end": "01:00"}, datetime(2030, 1, 1, 12, 0, tzinfo=UTC), False),
        ({"start": "02:00", "end": "03:00", "timezone": "Europe/Paris"},
         datetime(2030, 1, 1, 1, 30, tzinfo=UTC), True),
        ({"start": "2030-01-01T00:00:00+00:00", "end": "2030-01-02T00:00:00+00:00"},
         datetime(2030, 1, 1, 12, 0, tzinfo=UTC), True),
        ({"start": "2030-01-01T00:00:00+00:00", "end": "2030-01-02T00:00:00+00:00"},
         datetime(2030, 1, 3, tzinfo=UTC), False),
    ],
)  # fmt: skip
def test_maintenance_windows(window: dict[str, str], moment: datetime, inside: bool) -> None:
    assert in_window(window, moment) is inside
