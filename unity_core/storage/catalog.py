"""Which series this process knows to be in the `metric_series` catalog already.

Every batch names its series; re-upserting the same thousand known series on every write
costs the database as much as a fifth of the write itself. A series is remembered only
after the transaction that inserted it (or saw it) commits, so a rolled-back batch can never
leave a series out of the catalog. Catalog rows are never deleted by Unity; whoever empties
the table by hand (tests) calls `forget_known_series()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import event
from sqlalchemy.orm import Session

from unity_core.storage.batch import MetricRow, distinct_series

_known: dict[str, set[str]] = {}
_PENDING = "unity_pending_series"


def _database(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=False)


def series_to_register(session: Session, rows: Sequence[MetricRow]) -> list[MetricRow]:
    """The distinct series of `rows` not yet known to be catalogued, in catalog lock order."""
    known = _known.get(_database(session), set())
    return [row for row in distinct_series(rows) if row.series_key not in known]


def remember_on_commit(session: Session, series: Iterable[MetricRow]) -> None:
    """Mark `series` as catalogued once (and only if) the session's transaction commits."""
    pending: set[str] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = set()
        event.listen(session, "after_commit", _on_commit)
        event.listen(session, "after_soft_rollback", _on_rollback)
    pending.update(row.series_key for row in series)


def _on_commit(session: Session) -> None:
    pending: set[str] = session.info.get(_PENDING) or set()
    if pending:
        _known.setdefault(_database(session), set()).update(pending)
        pending.clear()


def _on_rollback(session: Session, _previous: object) -> None:
    pending: set[str] | None = session.info.get(_PENDING)
    if pending:
        pending.clear()


def forget_known_series() -> None:
    """Drop what this process remembers (after someone emptied metric_series by hand)."""
    _known.clear()
