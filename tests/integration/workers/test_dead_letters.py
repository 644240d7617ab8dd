"""The JSONL dead-letter spool (embedded broker): durable appends, replay removes what it sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from unity_workers.dlq import FileDLQ


def test_the_spool_keeps_entries_in_order_with_their_reasons(tmp_path: Path) -> None:
    # Given an empty spool
    spool = FileDLQ(tmp_path / "dlq")
    # When two outcomes are dead-lettered
    spool.add({"p": "a"}, "database unavailable", 12, retryable=True)
    spool.add({"p": "b"}, "IntegrityViolation: boom", 1, retryable=False)
    # Then they are listed oldest first, with what was said about them
    entries = spool.list()
    assert [(e.plugin_id, e.attempts, e.retryable) for e in entries] == [
        ("a", 12, True),
        ("b", 1, False),
    ]
    assert entries[1].reason == "IntegrityViolation: boom"
    assert spool.count() == 2


def test_replay_removes_what_it_sent_and_keeps_the_rest_when_sending_fails(
    tmp_path: Path,
) -> None:
    # Given three dead letters and a broker that fails on the second publish
    spool = FileDLQ(tmp_path / "dlq")
    for name in ("a", "b", "c"):
        spool.add({"p": name}, "database unavailable", 12, retryable=True)
    sent: list[Any] = []

    def send(payload: dict[str, Any]) -> None:
        if payload["p"] == "b":
            raise ConnectionError("broker down")
        sent.append(payload["p"])

    # When a replay runs into the failure
    with pytest.raises(ConnectionError):
        spool.replay(send)

    # Then only what was sent left the spool
    assert sent == ["a"]
    assert [e.plugin_id for e in spool.list()] == ["b", "c"]
    # And a later replay sends the rest (retryable ones only, when asked)
    spool.add({"p": "d"}, "ValueError: bad row", 1, retryable=False)
    assert spool.replay(lambda payload: sent.append(payload["p"]), retryable_only=True) == 2
    assert sent == ["a", "b", "c"]
    assert [e.plugin_id for e in spool.list()] == ["d"]


def test_a_torn_last_line_from_a_crash_mid_append_is_skipped(tmp_path: Path) -> None:
    # Given a spool whose last append was cut short
    spool = FileDLQ(tmp_path / "dlq")
    spool.add({"p": "a"}, "database unavailable", 3, retryable=True)
    with open(spool.path, "a", encoding="utf-8") as torn:
        torn.write('{"id": "x", "time": "2026-')
    # Then the complete entries still read, and the next append is not glued to it
    assert [e.plugin_id for e in spool.list()] == ["a"]
    spool.add({"p": "b"}, "database unavailable", 3, retryable=True)
    assert [e.plugin_id for e in spool.list()] == ["a", "b"]
