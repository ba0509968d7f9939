"""Today's date where the partnerships work (not the server's UTC date: a release "today" is a
release today in Wales)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_TIMEZONE = "Europe/London"


def local_timezone() -> ZoneInfo:
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE", DEFAULT_TIMEZONE) if has_app_context() else DEFAULT_TIMEZONE
    return ZoneInfo(name)


def today() -> date:
    return datetime.now(local_timezone()).date()


def local_date(moment: datetime) -> date:
    """The day a moment (kept in UTC) fell on where the partnerships work: 23:30 UTC in summer is
    already tomorrow in Wales."""
    return moment.astimezone(local_timezone()).date()
