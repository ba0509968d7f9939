"""Accounts: passwords, sign-in and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from panel_app import audit
from panel_app.errors import RuleBroken
from panel_app.models import Agency, ApiToken, Region, Role, User, db, utcnow

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


def issue_api_token(user: User) -> tuple[str, datetime]:
    """A new bearer token for the user and when it expires. Only its digest is stored."""
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(hours=current_app.config["API_TOKEN_HOURS"])
    db.session.add(ApiToken(user=user, token_digest=_digest(token), expires_at=expires_at))
    audit.record("api_token.issued", actor=user)
    return token, expires_at


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
    if api_token.revoked_at is not None or api_token.expires_at <= utcnow() or not user.active:
        return None
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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RuleBroken(
            _("A password needs at least %(count)d characters.", count=MIN_PASSWORD_LENGTH),
            {"password": _("Use at least %(count)d characters", count=MIN_PASSWORD_LENGTH)},
        )
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise RuleBroken(
            _("An account with this email address already exists."), {"email": _("Use another email address")}
        )
    user = User(email=email, name=name, password_hash=hash_password(password), role=role, agency=agency, region=region)
    db.session.add(user)
    db.session.flush()
    return user
