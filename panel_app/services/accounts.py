"""Accounts: passwords, sign-in, sessions, API tokens and calendar feed links, and ending them all;
choosing a password through a single-use link, and asking for one when the password is forgotten."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from panel_app import audit, session_store
from panel_app.errors import NotFound, RuleBroken
from panel_app.models import AccountLink, Agency, ApiToken, LinkPurpose, Region, Role, User, UserSession, db, utcnow
from panel_app.services import account_links, outbox

# NCSC's guidance: a length rule and a check against the most common passwords, no rules of
# composition (they make passwords harder to remember, not to guess). The upper bound only keeps
# hashing cheap: a passphrase of several sentences still fits.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000


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
    if user.password_hash is None:
        # Invited, and has not chosen a password yet: no password is theirs.
        _spend_one_hash(hasher, password)
        audit.record("sign_in.failed", actor=None, attempted_email=email, detail={"reason": "no_password"})
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
    """End every session (but ``keep``), every API token and every unused account link (an
    invitation, a password reset) of the person: after a password change, on deactivation, or when
    an admin ends them."""
    sessions = session_store.end_sessions(user, keep=keep)
    tokens = _revoke_all_api_tokens(user)
    links = account_links.revoke_live(user)
    audit.record("sessions.ended", actor=actor, record_type="user", record_id=user.id,
                 detail={"why": why, "sessions": sessions, "tokens": tokens, "links": links})


def deactivate(user: User, *, actor: User | None = None) -> None:
    """The person can no longer sign in; their sessions, API tokens and calendar feed link end
    now, and reactivating them later does not bring any of these back."""
    user.active = False
    user.calendar_token_digest = None
    end_everything(user, why="deactivated", actor=actor)
    audit.record("user.deactivated", actor=actor, record_type="user", record_id=user.id,
                 detail={"before": {"active": True}, "after": {"active": False}})


def reactivate(user: User, *, actor: User | None = None) -> None:
    """The person can sign in again (afresh: nothing from before deactivation works again)."""
    user.active = True
    audit.record("user.reactivated", actor=actor, record_type="user", record_id=user.id,
                 detail={"before": {"active": False}, "after": {"active": True}})


def change_password(user: User, new_password: str, *, keep: UserSession | None = None) -> None:
    """A new password; every other session and every API token of the person ends (whoever knew
    the old password is signed out)."""
    check_new_password(new_password, email=user.email, name=user.name)
    user.password_hash = hash_password(new_password)
    end_everything(user, why="password_changed", actor=user if keep is not None else None, keep=keep)
    audit.record("user.password_changed", actor=user if keep is not None else None,
                 record_type="user", record_id=user.id)


def change_own_password(user: User, current_password: str, new_password: str, *, keep: UserSession | None) -> None:
    """The person changes their own password, proving the current one first; their other sessions
    and API tokens end, this session goes on."""
    try:
        _hasher().verify(user.password_hash or "", current_password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        raise RuleBroken(_("Your current password is not right."),
                         {"current_password": _("Your current password is not right")}) from None
    if new_password == current_password:
        raise RuleBroken(_("The new password must be different from the current one."),
                         {"new_password": _("Choose a password different from your current one")})
    change_password(user, new_password, keep=keep)


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The most common passwords (zxcvbn's list of 30,000, from leaked password sets), lower-cased.
    Read once, when first needed."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


def _squeezed(text: str) -> str:
    return "".join(text.casefold().split())


def check_new_password(password: str, *, email: str, name: str, field: str = "password") -> None:
    """The password rule, for every password a person chooses (through a link or on their account
    page): at least ``MIN_PASSWORD_LENGTH`` characters and at most ``MAX_PASSWORD_LENGTH``; not one
    of the most common passwords; not the person's email address (or the part before the @) or name.
    Case and spaces do not make a common password or one's own name a different one. A 422 naming
    ``field`` says what to do instead."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RuleBroken(
            _("A password needs at least %(count)d characters.", count=MIN_PASSWORD_LENGTH),
            {field: _("Use at least %(count)d characters", count=MIN_PASSWORD_LENGTH)},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise RuleBroken(
            _("A password can have at most %(count)d characters.", count=MAX_PASSWORD_LENGTH),
            {field: _("Use %(count)d characters or fewer", count=MAX_PASSWORD_LENGTH)},
        )
    squeezed = _squeezed(password)
    if password.casefold() in _common_passwords() or squeezed in _common_passwords():
        raise RuleBroken(
            _("This password is one of the most common passwords, so it is easy to guess."),
            {field: _("Choose a password that is harder to guess: this one is among the most common passwords. "
                      "Three random words together work well")},
        )
    email = email.strip()
    own = {_squeezed(email), _squeezed(email.partition("@")[0]), _squeezed(name)} - {""}
    if squeezed in own:
        raise RuleBroken(
            _("A password cannot be your email address or your name."),
            {field: _("Choose a password that is not your email address or your name")},
        )


def sessions_of(user: User) -> list[UserSession]:
    """The person's signed-in sessions still running, the most recently used first."""
    return session_store.live_sessions(user)


def user_with_email(email: str) -> User | None:
    """The account with this email address (for the installation's own commands)."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


# --- Creating accounts (demo data; invitations are services.people) ----------------------------


def create_user(
    *,
    email: str,
    name: str,
    password: str | None,
    role: Role,
    agency: Agency | None = None,
    region: Region | None = None,
) -> User:
    """A new account. Agency staff need an agency; strategic leads a region. With no password, the
    person cannot sign in until they choose one through a single-use link."""
    email = normalise_email(email)
    if role is Role.AGENCY_STAFF and agency is None:
        raise RuleBroken(_("Agency staff must belong to an agency."), {"agency": _("Choose the agency")})
    if role is Role.STRATEGIC_LEAD and region is None:
        raise RuleBroken(_("A strategic lead oversees a region."), {"region": _("Choose the region")})
    if password is not None:
        check_new_password(password, email=email, name=name)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise RuleBroken(
            _("An account with this email address already exists."), {"email": _("Use another email address")}
        )
    user = User(email=email, name=name, password_hash=hash_password(password) if password is not None else None,
                role=role, agency=agency, region=region)
    db.session.add(user)
    db.session.flush()
    return user


# --- Single-use links: choosing a password, and asking for a reset ------------------------------

# Links that welcome a person who has no password yet, and links that replace a forgotten one.
WELCOME = frozenset({LinkPurpose.INVITATION, LinkPurpose.FIRST_SIGN_IN})
RESET = frozenset({LinkPurpose.PASSWORD_RESET})


def link_to_follow(secret: str, purposes: Collection[LinkPurpose]) -> AccountLink:
    """The live link a page is about to ask a password for (404 unknown, 410 no longer usable)."""
    return account_links.find(secret, purposes)


def choose_password(secret: str, purposes: Collection[LinkPurpose], password: str) -> User:
    """The person of a live link chooses their password (the password rule applies) and is signed
    in by the caller. The link is used up, and so is every other link of theirs. After a reset,
    every session and API token they had ends: whoever knew the old password is signed out."""
    link = account_links.find(secret, purposes)
    user = link.user
    check_new_password(password, email=user.email, name=user.name)
    account_links.use(link)
    resetting = user.has_password
    user.password_hash = hash_password(password)
    if resetting:
        end_everything(user, why="password_reset")
    else:
        account_links.revoke_live(user)
    user.last_signed_in_at = utcnow()
    audit.record("account_link.used", actor=user, record_type="user", record_id=user.id,
                 detail={"purpose": link.purpose.value, "link_id": link.id})
    audit.record("sign_in", actor=user, detail={"through": link.purpose.value})
    return user


def request_password_reset(email: str) -> None:
    """"Forgotten your password?": email a reset link to an active account that signs in with a
    password. The caller answers the same whether or not one was sent, and this does the same work
    either way (a secret, and the email's text), so that neither the answer nor its time tells
    whether the address has an account."""
    email = normalise_email(email)[:254]
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    secret = secrets.token_urlsafe(32)
    if user is None or not user.active or not user.has_password:
        outbox.render_email("password_reset.txt", person=User(email=email, name=""), secret=secret,
                            expires_at=utcnow() + account_links.lifetime(LinkPurpose.PASSWORD_RESET))
        why = "unknown" if user is None else "inactive" if not user.active else "no_password"
        audit.record("password_reset.requested", actor=None, attempted_email=email or None,
                     detail={"sent": False, "reason": why})
        return
    secret, link = account_links.issue(user, LinkPurpose.PASSWORD_RESET, by=None)
    outbox.queue_template("password_reset.txt", user.email, kind="account.password_reset", about=("user", user.id),
                          person=user, secret=secret, expires_at=link.expires_at)
    audit.record("password_reset.requested", actor=None, attempted_email=email, record_type="user",
                 record_id=user.id, detail={"sent": True, "link_id": link.id})
