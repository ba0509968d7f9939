"""Agencies, partnerships, regions and the people who sign in."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table, UniqueConstraint, event, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agencies import AGENCY_TYPES, AgencyType, agency_type
from panel_app.models.base import Base, TextEnum, UTCDateTime, labels, utcnow


class Role(enum.StrEnum):
    BROKER = "broker"
    AGENCY_STAFF = "agency_staff"
    STRATEGIC_LEAD = "strategic_lead"
    ADMIN = "admin"

    label = labels(BROKER=_l("Resettlement broker"), AGENCY_STAFF=_l("Agency staff"),
                   STRATEGIC_LEAD=_l("Strategic lead"), ADMIN=_l("Administrator"))


class Region(Base):
    """An area a strategic lead oversees (e.g. Wales): a group of partnerships."""

    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)

    partnerships: Mapped[list[Partnership]] = relationship(back_populates="region", order_by="Partnership.name")


partnership_agency = Table(
    "partnership_agency",
    Base.metadata,
    Column("partnership_id", Integer, ForeignKey("partnership.id", ondelete="CASCADE"), primary_key=True),
    Column("agency_id", Integer, ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True, index=True),
)

partnership_broker = Table(
    "partnership_broker",
    Base.metadata,
    Column("partnership_id", Integer, ForeignKey("partnership.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Agency(Base):
    """An organisation with a type from ``agencies/`` (YOT, housing, health, ...)."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160), unique=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    # Where invitations, packs and reminders for the agency go (a team inbox, not a person).
    contact_email: Mapped[str | None] = mapped_column(String(254))
    # The agency's lead (a manager): the second step when one of its actions stays overdue.
    lead_contact_email: Mapped[str | None] = mapped_column(String(254))
    # Where it works (a county, a city): tells apart agencies of the same kind in different places.
    area: Mapped[str | None] = mapped_column(String(120))
    # An agency that no longer works with the partnerships stays on record (its past referrals and
    # actions name it) but is marked inactive.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    partnerships: Mapped[list[Partnership]] = relationship(
        secondary=partnership_agency, back_populates="agencies", order_by="Partnership.name"
    )
    staff: Mapped[list[User]] = relationship(back_populates="agency", order_by="User.name")

    @property
    def agency_type(self) -> AgencyType:
        return agency_type(self.type)


@event.listens_for(Agency.type, "set", retval=True)
def _agency_type_must_exist(target: Agency, value: str, oldvalue: object, initiator: object) -> str:
    if value not in AGENCY_TYPES:
        raise ValueError(f"unknown agency type {value!r}; the types are the modules in agencies/")
    return value


class Partnership(Base):
    """A Reintegration and Resettlement Partnership: the standing panel for an area."""

    __tablename__ = "partnership"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160), unique=True)
    # The area the panel covers, as people name it (a YOT area or a group of local authorities).
    area: Mapped[str] = mapped_column(String(160))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    region: Mapped[Region] = relationship(back_populates="partnerships")
    agencies: Mapped[list[Agency]] = relationship(
        secondary=partnership_agency, back_populates="partnerships", order_by="Agency.name"
    )
    brokers: Mapped[list[User]] = relationship(
        secondary=partnership_broker, back_populates="brokered_partnerships", order_by="User.name"
    )


class User(UserMixin, Base):
    """A person who signs in: a broker, agency staff, a strategic lead or an admin."""

    # "user" is a reserved word in PostgreSQL.
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (services.accounts normalises), so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # None until the person chooses a password through their invitation (or first sign-in) link:
    # such an account cannot be signed in to with a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(TextEnum(Role))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), index=True)
    # The region a strategic lead oversees; empty for everyone else.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The secret of the person's calendar feed URL, stored as a SHA-256 digest (like API tokens).
    calendar_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)

    agency: Mapped[Agency | None] = relationship(back_populates="staff")
    region: Mapped[Region | None] = relationship()
    brokered_partnerships: Mapped[list[Partnership]] = relationship(
        secondary=partnership_broker, back_populates="brokers", order_by="Partnership.name"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    @property
    def has_password(self) -> bool:
        """Whether the person has chosen a password (an invited person has not, until they follow
        their link)."""
        return self.password_hash is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class ApiToken(Base):
    """A bearer token for the API. Only a SHA-256 digest of the token is stored."""

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("token_digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Shown on the account page so that a person can tell a token still in use from a forgotten one;
    # updated at most once a minute (services.accounts), not on every call.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class UserSession(Base):
    """A browser's session, kept on the server (``panel_app.session_store``) so that it can be
    listed and ended. The cookie holds a random secret; the row's id is its SHA-256 digest, so
    reading this table gives nobody a cookie that works.

    ``user_id`` is empty for a session nobody has signed in to yet (it holds the sign-in form's
    CSRF token); such a row is made only once something is stored in it.
    """

    __tablename__ = "user_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the person sees in "your signed-in sessions" to recognise a device.
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Flask's session (Flask-Login's keys, the CSRF token, flashed messages), as tagged JSON.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    user: Mapped[User | None] = relationship()


class LinkPurpose(enum.StrEnum):
    """What a single-use account link is for."""

    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"
    # The first administrator's, printed by ``flask create-admin``.
    FIRST_SIGN_IN = "first_sign_in"

    label = labels(INVITATION=_l("Invitation"), PASSWORD_RESET=_l("Password reset"),
                   FIRST_SIGN_IN=_l("First sign-in"))


class LinkState(enum.StrEnum):
    """Whether a link can still be followed, and if not, why."""

    LIVE = "live"
    USED = "used"
    REVOKED = "revoked"
    EXPIRED = "expired"

    label = labels(LIVE=_l("Waiting to be used"), USED=_l("Used"), REVOKED=_l("Cancelled"), EXPIRED=_l("Expired"))


class AccountLink(Base):
    """A single-use link that lets one person choose a password and sign in: an invitation, a
    password reset, or the first administrator's first sign-in (``services.account_links``).

    Only a SHA-256 digest of the link's secret is stored (like API tokens): reading this table
    gives nobody a link that works. A link works once (``used_at``), until ``expires_at``, and not
    after it is revoked (a newer link of the same purpose, the inviter revoking it, the person
    deactivated, or their password chosen through another link).
    """

    __tablename__ = "account_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[LinkPurpose] = mapped_column(TextEnum(LinkPurpose))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    secret_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # Who made it: the inviter; none for a reset the person asked for, or the command line's.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    def state(self, now: datetime | None = None) -> LinkState:
        """Used and revoked first (they say what happened), then expired."""
        if self.used_at is not None:
            return LinkState.USED
        if self.revoked_at is not None:
            return LinkState.REVOKED
        if self.expires_at <= (now or utcnow()):
            return LinkState.EXPIRED
        return LinkState.LIVE
