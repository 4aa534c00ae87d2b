"""Shared column helpers."""

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

MAX_ID = 2**31 - 1  # INTEGER primary keys: a larger id is not found, never a database error


def utcnow() -> datetime:
    return datetime.now(UTC)


def among(column, postgresql: bool, name: str = "ids"):
    """`column IN (:ids)`, for a list of ids given at execution. On PostgreSQL `column IN (SELECT unnest(:ids))`:
    one array parameter, so the same SQL text whatever the number of ids (psycopg prepares it, where IN renders a
    parameter per id, and converting hundreds of them costs more than the query), and a semi-join that the generic
    plan of the prepared statement runs well: `= ANY(:ids)` there compares each row scanned with every id, IN
    (unnest) hashes the ids or looks each one up in the index."""
    if postgresql:
        return column.in_(select(func.unnest(bindparam(name, type_=ARRAY(Integer)))).scalar_subquery())
    return column.in_(bindparam(name, expanding=True))


def any_of(column, postgresql: bool, name: str = "ids"):
    """`column IN (:ids)` as an index condition: on PostgreSQL `column = ANY(:ids)`, one array parameter that an
    index on (column, ...) takes as its condition together with the next column's (where among()'s semi-join only
    filters what an index scan on the other condition found). For a few hundred ids read from such an index."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
