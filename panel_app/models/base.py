"""What every table shares: the declarative base, UTC timestamps, enum columns stored as text, and
the words people read for an enum's values."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String, TypeDecorator
from sqlalchemy.engine import Dialect

from panel_app.extensions import NAMING_CONVENTION, Base, db

__all__ = ["MAX_ID", "NAMING_CONVENTION", "Base", "UTCDateTime", "TextEnum", "db", "labels", "utcnow"]

# The largest id a record can have (a 32-bit signed integer on every database): a larger number in
# a URL or a body names nothing, and is answered as such rather than overflowing a query.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current instant, timezone-aware, in UTC (a callable default, evaluated per row)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and always read back timezone-aware.

    SQLite has no timezone-aware type and would hand back naive values; PostgreSQL stores
    ``timestamptz``. Either way the application only ever sees aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column; use panel_app.models.base.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TextEnum(TypeDecorator[enum.Enum]):
    """A Python enum stored as its value in a VARCHAR, checked by the application.

    Storing the value (``"substance_misuse"``) rather than a native database enum keeps migrations
    simple when a value is added, and keeps the stored keys identical to the API's keys.
    """

    impl = String(32)
    cache_ok = True

    def __init__(self, enum_class: type[enum.Enum], length: int = 32, **kwargs: Any) -> None:
        super().__init__(length, **kwargs)
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_class(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> enum.Enum | None:
        if value is None:
            return None
        return self.enum_class(value)


def labels(**words: Any) -> Any:
    """The words people read for each member of an enum, by member name, written in the enum's body:
    ``label = labels(RED=_l("Red"), ...)``. Lazy strings, translated at each read (so in the reader's
    language, as ``Pathway.label`` is); a property, so the enum does not take it for a member."""

    def read(member: enum.Enum) -> str:
        return str(words[member.name])

    return property(read)
