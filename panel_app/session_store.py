"""Server-side sessions: Flask's ``session`` kept in the ``user_session`` table, one row per browser.

The cookie holds only a random secret (256 bits); the row is found by the secret's SHA-256 digest.
Because the session lives on the server it can be ended: by signing out (a replayed cookie then
finds an ended row and gets no page, from any client), by "sign out everywhere else", by
deactivation, by a password change and by an admin. A session also ends after
``SESSION_IDLE_MINUTES`` without a request and ``SESSION_LIFETIME_HOURS`` after it began, however
much it is used.

Why our own ``SessionInterface`` rather than Flask-Session's SQLAlchemy backend: that backend keeps
an opaque serialised blob per session id, with no owner, no timestamps we can query and no
"ended" state, so "this person's sessions" could neither be listed nor ended without reading
every row. Keeping the owner, the times and the device in columns makes both one indexed query.
Redis is not offered as a store yet (see docs/operations.md): the database is the only one.

Rules of the rows:
* A browser that stores nothing gets no row (anonymous pages, the API, static files write nothing).
  The sign-in form stores its CSRF token, so that page makes an anonymous row.
* A row's owner never changes. When the person in the session changes (signing in, signing out),
  the old row ends (an anonymous one is deleted) and a new row with a new secret begins: an id from
  before sign-in is worthless afterwards (session fixation).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, current_app, request, session
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from flask_login import current_user
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import CallbackDict

from panel_app.models import User, UserSession, db, utcnow

log = logging.getLogger(__name__)

_serializer = TaggedJSONSerializer()


def digest(secret: str) -> str:
    # The secret carries 256 random bits, so a fast digest is enough: there is nothing to guess.
    return hashlib.sha256(secret.encode()).hexdigest()


def idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def lifetime_limit() -> timedelta:
    return timedelta(hours=current_app.config["SESSION_LIFETIME_HOURS"])


def touch_interval() -> timedelta:
    """How often at most "last used" times are written: ``SESSION_TOUCH_SECONDS``, but never more
    than half the idle timeout (or a session in use could time out between two writes)."""
    return min(timedelta(seconds=current_app.config["SESSION_TOUCH_SECONDS"]), idle_limit() / 2)


def is_live(record: UserSession, now: datetime | None = None) -> bool:
    """Not ended, used within the idle timeout, and younger than the absolute lifetime."""
    now = now or utcnow()
    return (
        record.ended_at is None
        and now - record.last_seen_at < idle_limit()
        and now - record.created_at < lifetime_limit()
    )


class StoredSession(CallbackDict[str, Any], SessionMixin):
    """Flask's session, backed by a ``UserSession`` row (``record``), or by none yet."""

    def __init__(self, initial: dict[str, Any] | None = None, record: UserSession | None = None,
                 cookie_sent: bool = False) -> None:
        def on_update(self: StoredSession) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial, on_update)
        self.record = record
        self.cookie_sent = cookie_sent
        self.modified = False
        self.accessed = False

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().setdefault(key, default)


def _owner(data: StoredSession) -> int | None:
    """The person signed in to this session, as Flask-Login recorded them."""
    raw = dict.get(data, "_user_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


_FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")


def _signed_in_as(owner: int) -> bool:
    return bool(current_user.is_authenticated and current_user.get_id() == str(owner))


def _end(record: UserSession, now: datetime) -> None:
    if record.user_id is None:
        db.session.delete(record)  # nobody's: nothing worth keeping
    elif record.ended_at is None:
        record.ended_at = now


# Set in the request's environ when the session could not be read (the database is down).
SESSION_UNREADABLE = "panel_app.session_unreadable"


class DatabaseSessionInterface(SessionInterface):
    """Stores Flask's session in ``user_session`` (see the module's docstring)."""

    def _skipped(self, app: Flask, req: Request) -> bool:
        # Static files and the API (bearer tokens only, never the cookie) have no use for a
        # session: no database read, and nothing can be stored.
        static = app.static_url_path or "/static"
        return req.path.startswith(static + "/") or req.path.startswith("/api/")

    def open_session(self, app: Flask, request: Request) -> StoredSession | None:
        if self._skipped(app, request):
            return None  # Flask's null session: empty, and refuses writes
        secret = request.cookies.get(self.get_cookie_name(app), "")
        if not secret or len(secret) > 128:
            return StoredSession()
        try:
            record = db.session.get(UserSession, digest(secret))
        except SQLAlchemyError:
            # The database is down. Not "signed out" (a person mid-meeting would be sent to sign in
            # and lose what they typed): the doors answer 503 before anything else runs.
            log.warning("could not read a session", exc_info=True)
            db.session.rollback()
            request.environ[SESSION_UNREADABLE] = True
            return None
        if record is None:
            return StoredSession(cookie_sent=True)
        if not is_live(record):
            _end(record, utcnow())  # ended by sign-out or an admin already, or timed out now
            return StoredSession(cookie_sent=True)
        try:
            data = _serializer.loads(json.dumps(record.data))
        except (TypeError, ValueError):
            data = {}
        return StoredSession(data, record=record, cookie_sent=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, StoredSession):
            return
        if session.accessed:
            response.vary.add("Cookie")
        now = utcnow()
        record = session.record
        owner = _owner(session)
        if record is not None and record.ended_at is not None:
            # Ended during this request (the person was deactivated): nothing of it carries over.
            session.clear()
            record = session.record = None
        elif record is not None and record.user_id != owner:
            # Signed in or signed out: this row is finished; what the session holds goes to a new row.
            _end(record, now)
            record = session.record = None
        if record is None:
            if owner is not None and not _signed_in_as(owner):
                # A new row takes its owner only from a real sign-in in this request, never from data
                # the session merely carries over (a row whose owner and data disagree, say).
                for key in _FLASK_LOGIN_KEYS:
                    session.pop(key, None)
                owner = None
            if session:
                secret = secrets.token_urlsafe(32)
                record = UserSession(
                    id=digest(secret), user_id=owner, created_at=now, last_seen_at=now,
                    user_agent=(request.user_agent.string or "")[:255] or None,
                    ip=(request.remote_addr or "")[:45] or None, data=_stored(session),
                )
                db.session.add(record)
                session.record = record
                self._set_cookie(app, response, secret, now + lifetime_limit())
            elif session.cookie_sent:
                response.delete_cookie(
                    self.get_cookie_name(app), domain=self.get_cookie_domain(app), path=self.get_cookie_path(app),
                    secure=self.get_cookie_secure(app), httponly=self.get_cookie_httponly(app),
                    samesite=self.get_cookie_samesite(app),
                )
        else:
            if session.modified:
                record.data = _stored(session)
            # Not on every request: an idle timeout of minutes needs no more.
            if now - record.last_seen_at >= touch_interval():
                record.last_seen_at = now
        # The request's own work was committed before this (doors._commit_the_request runs first, as
        # an after_request function); the session's row is committed on its own.
        if db.session.new or db.session.dirty or db.session.deleted:
            try:
                db.session.commit()
            except SQLAlchemyError:
                # The answer stands; only the session's change is lost (the person may need to sign in again).
                log.warning("could not store a session", exc_info=True)
                db.session.rollback()

    def _set_cookie(self, app: Flask, response: Response, secret: str, expires: datetime) -> None:
        response.set_cookie(
            self.get_cookie_name(app), secret, expires=expires, httponly=self.get_cookie_httponly(app),
            domain=self.get_cookie_domain(app), path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app),
        )


def _stored(data: StoredSession) -> dict[str, Any]:
    # Flask's tagged JSON keeps what plain JSON would lose (flashed messages are tuples, bytes).
    return json.loads(_serializer.dumps(dict(data)))


# --- Listing and ending a person's sessions -----------------------------------------------------


def current_record() -> UserSession | None:
    """The row of this request's session, if it has one."""
    return getattr(session, "record", None)


def _live_clause(now: datetime) -> Any:
    return (
        UserSession.ended_at.is_(None)
        & (UserSession.last_seen_at > now - idle_limit())
        & (UserSession.created_at > now - lifetime_limit())
    )


def live_sessions(user: User) -> list[UserSession]:
    """The person's sessions still in use, the most recently seen first."""
    now = utcnow()
    return list(db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, _live_clause(now))
        .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
    ))


def end_sessions(user: User, *, keep: UserSession | None = None) -> int:
    """End every session of the person (but ``keep``); how many were still running."""
    now = utcnow()
    mine = [UserSession.user_id == user.id] + ([UserSession.id != keep.id] if keep is not None else [])
    live = db.session.scalar(select(func.count()).select_from(UserSession).where(*mine, _live_clause(now))) or 0
    db.session.execute(
        update(UserSession).where(*mine, UserSession.ended_at.is_(None)).values(ended_at=now),
        execution_options={"synchronize_session": "fetch"},
    )
    return live


def start_afresh() -> None:
    """End this request's stored session now, whoever it belonged to, so that what the session
    holds next (a person signed in through a link) goes to a new row with a new secret: nothing of
    the browser's earlier session carries over, and its secret opens nothing afterwards."""
    record = current_record()
    if record is not None:
        _end(record, utcnow())
        session.record = None  # type: ignore[attr-defined]


def end_session(record: UserSession) -> None:
    """End one session now (a person signed in whose account is no longer active)."""
    _end(record, utcnow())


def purge(now: datetime | None = None, *, keep_days: int = 30) -> int:
    """Delete sessions nobody can use any more: anonymous ones at once, a person's after
    ``keep_days`` (kept a while so that an ended session still shows what it was)."""
    now = now or utcnow()
    dead = or_(
        UserSession.ended_at.is_not(None),
        UserSession.last_seen_at <= now - idle_limit(),
        UserSession.created_at <= now - lifetime_limit(),
    )
    old = now - timedelta(days=keep_days)
    result = db.session.execute(
        delete(UserSession).where(
            dead, or_(UserSession.user_id.is_(None), UserSession.last_seen_at <= old)
        ),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount or 0
