"""Single-use account links: an invitation, a password reset, the first administrator's first
sign-in. Each lets one person choose a password once, before it expires.

Only the SHA-256 digest of a link's secret is stored (``AccountLink``); the secret itself goes out
in the email (or is printed by ``flask create-admin``) and nowhere else. Issuing a new link of a
purpose revokes the person's earlier ones of that purpose that were not used, so only the newest
email works. What the person does with a link (choose a password, be signed in) is
``services.accounts.choose_password``; who may invite whom is ``services.people``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from panel_app.errors import Gone, NotFound
from panel_app.models import AccountLink, LinkPurpose, LinkState, User, db, utcnow

# A secret is 43 characters (256 random bits, URL-safe base64); anything much longer is no secret of ours.
SECRET_MAX = 128


def _digest(secret: str) -> str:
    # The secret carries 256 random bits, so a fast digest is enough: there is nothing to guess.
    return hashlib.sha256(secret.encode()).hexdigest()


def lifetime(purpose: LinkPurpose) -> timedelta:
    """How long a link of this purpose works: ``PANEL_RESET_MINUTES`` for a reset (asked for by
    whoever typed the address), ``PANEL_INVITATION_HOURS`` for an invitation and a first sign-in."""
    config = current_app.config
    if purpose is LinkPurpose.PASSWORD_RESET:
        return timedelta(minutes=config["PANEL_RESET_MINUTES"])
    return timedelta(hours=config["PANEL_INVITATION_HOURS"])


def issue(user: User, purpose: LinkPurpose, *, by: User | None) -> tuple[str, AccountLink]:
    """A new link for the person, and its secret (to put in the email; it is not kept). Their earlier
    links of the same purpose that were not used stop working."""
    now = utcnow()
    revoke_live(user, [purpose], now=now)
    secret = secrets.token_urlsafe(32)
    link = AccountLink(purpose=purpose, user=user, secret_digest=_digest(secret), created_by=by, created_at=now,
                       expires_at=now + lifetime(purpose))
    db.session.add(link)
    db.session.flush()
    return secret, link


def revoke_live(user: User, purposes: Collection[LinkPurpose] | None = None, *, now: datetime | None = None) -> int:
    """Revoke the person's links (of these purposes, or all) that could still be used; how many."""
    now = now or utcnow()
    live = [AccountLink.user_id == user.id, AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None),
            AccountLink.expires_at > now]
    if purposes is not None:
        live.append(AccountLink.purpose.in_(list(purposes)))
    result = db.session.execute(update(AccountLink).where(*live).values(revoked_at=now),
                                execution_options={"synchronize_session": "fetch"})
    return result.rowcount or 0


class LinkNotUsable(Gone):
    """A link that exists but can no longer be followed: used, revoked or expired (its ``state``),
    for an invitation or a reset (its ``purpose``: what to do next differs)."""

    def __init__(self, link: AccountLink, state: LinkState) -> None:
        messages = {
            LinkState.USED: _("This link has already been used."),
            LinkState.REVOKED: _("This link has been cancelled."),
            LinkState.EXPIRED: _("This link has expired."),
        }
        super().__init__(messages[state])
        self.state = state
        self.purpose = link.purpose


def find(secret: str, purposes: Collection[LinkPurpose]) -> AccountLink:
    """The live link with this secret, among links of these purposes.

    404 for a secret that names no such link (mistyped, cut short, or of another purpose); 410
    (``LinkNotUsable``) for one used, revoked, expired, or whose person has been deactivated."""
    link = None
    if secret and len(secret) <= SECRET_MAX:
        link = db.session.scalar(select(AccountLink).where(AccountLink.secret_digest == _digest(secret)))
    if link is None or link.purpose not in purposes:
        raise NotFound(_("This link is not valid."))
    state = link.state()
    if state is LinkState.LIVE and not link.user.active:
        state = LinkState.REVOKED
    if state is not LinkState.LIVE:
        raise LinkNotUsable(link, state)
    return link


def use(link: AccountLink) -> None:
    """Mark the link used, in one statement that only a live link passes: two people following it at
    once, one of them finds it already used (410)."""
    now = utcnow()
    taken = db.session.execute(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None),
               AccountLink.expires_at > now)
        .values(used_at=now),
        execution_options={"synchronize_session": "fetch"},
    ).rowcount == 1
    if not taken:
        db.session.refresh(link)
        raise LinkNotUsable(link, link.state(now))


def latest(user: User, purpose: LinkPurpose) -> AccountLink | None:
    """The person's newest link of this purpose (for how an invitation stands)."""
    return db.session.scalar(select(AccountLink).where(AccountLink.user_id == user.id, AccountLink.purpose == purpose)
                             .order_by(AccountLink.created_at.desc(), AccountLink.id.desc()).limit(1))
