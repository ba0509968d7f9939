"""Accounts: passwords, sign-in, sessions, API tokens and calendar feed links, and ending them all."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from panel_app import audit, session_store
from panel_app.errors import NotFound, RuleBroken
from panel_app.models import Agency, ApiToken, Region, Role, User, UserSession, db, utcnow

MAX_PASSWORD_LENGTH = 256
MIN_PASSWORD_LENGTH = 12


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_COST"],
        parallelism=config["ARGON2_PARALLELISM"],
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    """An argon2id hash of the password, with the installation's cost parameters."""
    return _hasher().hash(password)


def authenticate(email: str, password: str) -> User | None:
    """The active account these credentials belong to, or ``None``.

    Unknown addresses, wrong passwords and deactivated accounts are told apart only in the audit
    trail, never to the caller; an unknown address still costs one hash, so timing does not tell
    either. A successful sign-in re-hashes the password when the installation's parameters changed.
    """
    email = normalise_email(email)
    hasher = _hasher()
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    if user is None or len(password) > MAX_PASSWORD_LENGTH:
        _spend_one_hash(hasher, password)
        audit.record("sign_in.failed", actor=None, attempted_email=email[:254] or None, detail={"reason": "unknown"})
        return None
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        audit.record("sign_in.failed", actor=None, attempted_email=email, detail={"reason": "password"})
        return None
    if not user.active:
        audit.record("sign_in.failed", actor=None, attempted_email=email, detail={"reason": "inactive"})
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_signed_in_at = utcnow()
    audit.record("sign_in", actor=user)
    return user


_DUMMY_HASHES: dict[tuple[int, int, int], str] = {}


def _spend_one_hash(hasher: PasswordHasher, password: str) -> None:
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash(secrets.token_hex(16))
    try:
        hasher.verify(_DUMMY_HASHES[key], password[:MAX_PASSWORD_LENGTH])
    except VerificationError:
        pass


def record_sign_out(user: User) -> None:
    audit.record("sign_out", actor=user)


# --- API tokens ---------------------------------------------------------------------------------


def _digest(token: str) -> str:
    # The token carries 256 random bits, so a fast digest is enough: there is nothing to guess.
    return hashlib.sha256(token.encode()).hexdigest()


def _live_token(now: datetime) -> Any:
    return ApiToken.revoked_at.is_(None) & (ApiToken.expires_at > now)


def issue_api_token(user: User) -> tuple[str, datetime]:
    """A new bearer token for the user and when it expires. Only its digest is stored.

    A person holds at most ``API_TOKENS_PER_PERSON`` live tokens: the oldest beyond that are revoked.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + timedelta(hours=current_app.config["API_TOKEN_HOURS"])
    db.session.add(ApiToken(user=user, token_digest=_digest(token), created_at=now, expires_at=expires_at))
    db.session.flush()
    keep = max(current_app.config["API_TOKENS_PER_PERSON"], 1)
    oldest = list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, _live_token(now))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc()).offset(keep)
    ))
    for old in oldest:
        old.revoked_at = now
    audit.record("api_token.issued", actor=user, detail={"revoked_oldest": len(oldest)} if oldest else None)
    return token, expires_at


def api_tokens_of(user: User) -> list[ApiToken]:
    """The person's live API tokens, newest first (for the account page)."""
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, _live_token(utcnow()))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ))


def revoke_api_token(user: User, token_id: int) -> None:
    """Revoke one of the person's own live tokens; anyone else's, or one already ended, is a 404."""
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id, _live_token(utcnow()))
    )
    if token is None:
        raise NotFound(_("There is no such API token, or it has already ended."))
    token.revoked_at = utcnow()
    audit.record("api_token.revoked", actor=user, record_type="api_token", record_id=token.id)


def _revoke_all_api_tokens(user: User) -> int:
    now = utcnow()
    result = db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now),
        execution_options={"synchronize_session": "fetch"},
    )
    return result.rowcount or 0


def user_for_api_token(token: str) -> User | None:
    """The active user a live token belongs to, or ``None`` for unknown, expired or revoked tokens."""
    if not token or len(token) > 128:
        return None
    row = db.session.execute(
        select(ApiToken, User)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.token_digest == _digest(token))
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    if api_token.revoked_at is not None or api_token.expires_at <= now or not user.active:
        return None
    # Tells a token in use from a forgotten one; not written on every call.
    if api_token.last_used_at is None or now - api_token.last_used_at >= session_store.touch_interval():
        api_token.last_used_at = now  # committed with the request
    return user


# --- Calendar feed links -----------------------------------------------------------------------


def new_calendar_token(user: User) -> str:
    """A new secret for the person's calendar feed URL; the old link stops working."""
    token = secrets.token_urlsafe(32)
    user.calendar_token_digest = _digest(token)
    audit.record("calendar_feed.reset", actor=user)
    return token


def user_for_calendar_token(token: str) -> User | None:
    if not token or len(token) > 128:
        return None
    user = db.session.scalar(select(User).where(User.calendar_token_digest == _digest(token)))
    return user if user is not None and user.active else None


# --- Sessions, and ending everything a person is signed in with --------------------------------


def sign_out_everywhere_else(user: User, current: UserSession | None) -> tuple[int, int]:
    """End the person's other sessions and their API tokens; this session stays signed in.
    How many sessions and tokens were ended."""
    sessions = session_store.end_sessions(user, keep=current)
    tokens = _revoke_all_api_tokens(user)
    audit.record("sessions.ended", actor=user, record_type="user", record_id=user.id,
                 detail={"why": "sign_out_everywhere_else", "sessions": sessions, "tokens": tokens})
    return sessions, tokens


def end_everything(user: User, *, why: str, actor: User | None = None, keep: UserSession | None = None) -> None:
    """End every session (but ``keep``) and every API token of the person: after a password change,
    on deactivation, or when an admin ends them."""
    sessions = session_store.end_sessions(user, keep=keep)
    tokens = _revoke_all_api_tokens(user)
    audit.record("sessions.ended", actor=actor, record_type="user", record_id=user.id,
                 detail={"why": why, "sessions": sessions, "tokens": tokens})


def deactivate(user: User, *, actor: User | None = None) -> None:
    """The person can no longer sign in; their sessions, API tokens and calendar feed link end
    now, and reactivating them later does not bring any of these back."""
    user.active = False
    user.calendar_token_digest = None
    end_everything(user, why="deactivated", actor=actor)
    audit.record("user.deactivated", actor=actor, record_type="user", record_id=user.id)


def reactivate(user: User, *, actor: User | None = None) -> None:
    """The person can sign in again (afresh: nothing from before deactivation works again)."""
    user.active = True
    audit.record("user.reactivated", actor=actor, record_type="user", record_id=user.id)


def change_password(user: User, new_password: str, *, keep: UserSession | None = None) -> None:
    """A new password; every other session and every API token of the person ends (whoever knew
    the old password is signed out)."""
    _check_password(new_password)
    user.password_hash = hash_password(new_password)
    end_everything(user, why="password_changed", actor=user if keep is not None else None, keep=keep)
    audit.record("user.password_changed", actor=user if keep is not None else None,
                 record_type="user", record_id=user.id)


def change_own_password(user: User, current_password: str, new_password: str, *, keep: UserSession | None) -> None:
    """The person changes their own password, proving the current one first; their other sessions
    and API tokens end, this session goes on."""
    try:
        _hasher().verify(user.password_hash, current_password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        raise RuleBroken(_("Your current password is not right."),
                         {"current_password": _("Your current password is not right")}) from None
    if new_password == current_password:
        raise RuleBroken(_("The new password must be different from the current one."),
                         {"new_password": _("Choose a password different from your current one")})
    change_password(user, new_password, keep=keep)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RuleBroken(
            _("A password needs at least %(count)d characters.", count=MIN_PASSWORD_LENGTH),
            {"password": _("Use at least %(count)d characters", count=MIN_PASSWORD_LENGTH)},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise RuleBroken(
            _("A password can have at most %(count)d characters.", count=MAX_PASSWORD_LENGTH),
            {"password": _("Use %(count)d characters or fewer", count=MAX_PASSWORD_LENGTH)},
        )


def sessions_of(user: User) -> list[UserSession]:
    """The person's signed-in sessions still running, the most recently used first."""
    return session_store.live_sessions(user)


def user_with_email(email: str) -> User | None:
    """The account with this email address (for the installation's own commands)."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


# --- Creating accounts (demo data now, the admin pages later) ----------------------------------


def create_user(
    *,
    email: str,
    name: str,
    password: str,
    role: Role,
    agency: Agency | None = None,
    region: Region | None = None,
) -> User:
    """A new account. Agency staff need an agency; strategic leads a region."""
    email = normalise_email(email)
    if role is Role.AGENCY_STAFF and agency is None:
        raise RuleBroken(_("Agency staff must belong to an agency."), {"agency": _("Choose the agency")})
    if role is Role.STRATEGIC_LEAD and region is None:
        raise RuleBroken(_("A strategic lead oversees a region."), {"region": _("Choose the region")})
    _check_password(password)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise RuleBroken(
            _("An account with this email address already exists."), {"email": _("Use another email address")}
        )
    user = User(email=email, name=name, password_hash=hash_password(password), role=role, agency=agency, region=region)
    db.session.add(user)
    db.session.flush()
    return user
