"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zones and no JSONB; without these types a timestamp read back from SQLite is
naive while the same row from PostgreSQL is aware, and a Python `None` in a JSON column becomes the
JSON text `null` instead of SQL NULL (so `IS NULL` filters silently miss it). Pure types, no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

JSONValue: TypeEngine[Any] = JSON(none_as_null=True).with_variant(
    JSONB(none_as_null=True), "postgresql"
)
"""JSON on SQLite, JSONB on PostgreSQL; Python None is stored as SQL NULL."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    Writes refuse naive datetimes (their zone is a guess); SQLite stores naive UTC text, which
    sorts correctly; reads always come back aware in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timestamps in UTC, tz-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
