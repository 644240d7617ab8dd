"""Column types that behave the same on PostgreSQL, MariaDB/MySQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: JSONB where PostgreSQL offers it (GIN-indexable), plain JSON elsewhere.
PortableJSON = JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores an aware datetime as UTC and always returns an aware UTC datetime.

    PostgreSQL keeps TIMESTAMPTZ; MariaDB (DATETIME(6)) and SQLite (text) have no zone, so
    values are converted to naive UTC on the way in and tagged UTC on the way out. Naive
    input is rejected: guessing a zone is how samples end up an hour off after DST.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given; Unity stores aware UTC only"
            )
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only 'now' storage code uses)."""
    return datetime.now(UTC)
