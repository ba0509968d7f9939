"""What every service does the same way: collect the problems with what came in and raise them
together, check that a change was made from the version the person read, write a change on the
record's timeline and in the audit trail in one call, and take one page of a list.

Each was written out again in each service; here it is written once, so a service reads as its
rules and nothing else. (Like ``models/base.py`` and ``api/base.py``: the shared parts of a floor.)
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select

from panel_app import audit
from panel_app.errors import Conflict, RuleBroken
from panel_app.models import Action, ActionUpdate, GapEvent, Referral, ReferralEvent, ServiceGap, User, db
from panel_app.services.clock import today

T = TypeVar("T")


# --- Problems with what came in ----------------------------------------------------------------


class Problems:
    """The problems with one form or request body, by field, so that the person sees them all at
    once: collect with ``add`` and ``text``, then ``raise_if_any`` (one 422 naming every field)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, name: str, message: str) -> None:
        """A problem with the field ``name`` (the first one said about a field is the one shown)."""
        self.fields.setdefault(name, message)

    def text(self, name: str, value: str | None, limit: int, *, required: str | None = None) -> str | None:
        """A free-text field, trimmed (blank is ``None``): a problem when it is ``required`` and
        blank (the message is ``required``), or longer than ``limit``."""
        value = (value or "").strip() or None
        if value is None and required:
            self.add(name, required)
        elif value is not None and len(value) > limit:
            self.add(name, _("Must be %(limit)d characters or fewer", limit=limit))
        return value

    def raise_if_any(self, message: str | None = None) -> None:
        if self.fields:
            raise RuleBroken(message or _("Check the highlighted answers."), self.fields)


def one_text(name: str, value: str | None, limit: int, *, required: str | None = None) -> str | None:
    """The one free-text field of a step that asks for nothing else (a reason, a question, a note):
    trimmed, or the 422 naming the field (``Problems.text``)."""
    problems = Problems()
    text = problems.text(name, value, limit, required=required)
    problems.raise_if_any()
    return text


# --- The version the person read ---------------------------------------------------------------


class Versioned(Protocol):
    version: int


def check_version(record: Versioned, version: int | None, message: Any) -> None:
    """A change names the version of the record the person read (``None``: a caller that names
    none, such as a command). If the record has moved on since, someone else changed it: nothing is
    saved and ``message`` (409) says so, rather than one person silently undoing the other's work.
    ``message`` is a lazy string, or a function giving one (to name who changed it, only then)."""
    if version is not None and version != record.version:
        raise Conflict(str(message() if callable(message) else message))


# --- A change, on the record's timeline and in the audit trail ---------------------------------


def record_change(record: Referral | ServiceGap | Action, actor: User, audited_as: str, *,
                  audit_detail: dict[str, Any] | None = None, **entry: Any) -> None:
    """Write one change twice, in one go: on the record's own timeline (what its page shows: a
    referral's events, a gap's history, an action's updates), with the fields ``entry``; and in the
    audit trail as ``audited_as`` with ``audit_detail`` (which leaves out the free text the
    timeline keeps). An action's change is audited on its referral, naming the action."""
    if isinstance(record, Referral):
        kind = entry.pop("kind")
        db.session.add(ReferralEvent(referral=record, actor_id=actor.id, kind=kind, detail=entry or None))
        audit.record(audited_as, actor=actor, record_type="referral", record_id=record.id, detail=audit_detail)
    elif isinstance(record, ServiceGap):
        db.session.add(GapEvent(gap=record, by_id=actor.id, **entry))
        audit.record(audited_as, actor=actor, record_type="gap", record_id=record.id, detail=audit_detail)
    else:
        db.session.add(ActionUpdate(action=record, by_id=actor.id, day=today(), **entry))
        audit.record(audited_as, actor=actor, record_type="referral", record_id=record.referral_id,
                     detail={"action_id": record.id, **(audit_detail or {})})


# --- Lists --------------------------------------------------------------------------------------


def narrowed(query: Select[tuple[T]], *given: tuple[ColumnElement[Any] | Any, Any]) -> Select[tuple[T]]:
    """A list's filters: ``query`` narrowed to ``column == value`` for each (column, value) whose
    value was given (not ``None``)."""
    return query.where(*(column == value for column, value in given if value is not None))


def page_of(query: Select[tuple[T]], *, page: int, per_page: int) -> tuple[list[T], int]:
    """One page of a list (counted from 1) and how many there are in all: two queries, whatever
    the page (Flask-SQLAlchemy's ``db.paginate``). A page past the end is empty, not an error."""
    found = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return list(found.items), found.total or 0
