"""Young people, their referrals, consent, needs per pathway, journey stages and access grants.

This is the most sensitive data in the product: criminal-offence and health data about children.
Who may read which of it is decided in ``policy.py``; the tables only hold it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel_app.models.base import Base, TextEnum, UTCDateTime, labels, utcnow
from panel_app.pathways import Pathway


class LegalStatus(enum.StrEnum):
    CUSTODY = "custody"
    COMMUNITY_ORDER = "community_order"
    OTHER = "other"

    label = labels(CUSTODY=_l("In custody"), COMMUNITY_ORDER=_l("On a community order"), OTHER=_l("Other"))


class ReferralStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ACTIVE = "active"
    CLOSED = "closed"

    label = labels(SUBMITTED=_l("Submitted"), ACCEPTED=_l("Accepted"), DECLINED=_l("Declined"), ACTIVE=_l("Active"),
                   CLOSED=_l("Closed"))


class ClosureReason(enum.StrEnum):
    COMPLETED = "completed"
    DISENGAGED = "disengaged"
    TRANSFERRED = "transferred"  # to another programme
    MOVED_AWAY = "moved_away"
    OTHER = "other"

    # As the referral's page says it, after the date it closed ("12 March 2027: moved away").
    label = labels(COMPLETED=_l("completed"), DISENGAGED=_l("disengaged"),
                   TRANSFERRED=_l("transferred to another programme"), MOVED_AWAY=_l("moved away"), OTHER=_l("other"))
    # As the closing form offers it, under "How did the referral end?".
    choice_label = labels(COMPLETED=_l("Completed: the plan's work is done"),
                          DISENGAGED=_l("Disengaged: the young person stopped taking part"),
                          TRANSFERRED=_l("Transferred to another programme"), MOVED_AWAY=_l("Moved out of the area"),
                          OTHER=_l("Other"))


class NeedRating(enum.StrEnum):
    RED = "red"
    AMBER = "amber"
    GREEN = "green"
    NONE = "none"

    # As a tag shows it.
    label = labels(RED=_l("Red"), AMBER=_l("Amber"), GREEN=_l("Green"), NONE=_l("No need"))
    # As the rating form offers it: what each colour means.
    choice_label = labels(RED=_l("Red: high need, not met"), AMBER=_l("Amber: some need, partly met"),
                          GREEN=_l("Green: need met"), NONE=_l("No need"))


class AccessReason(enum.StrEnum):
    """Why an agency may see a referral (docs/architecture.md, "Access grants are data")."""

    REFERRED = "referred"
    SHARED = "shared"
    ACTION = "action"

    # As the referral's page (and the API's "reasons") says why an agency is involved.
    label = labels(REFERRED=_l("referred"), SHARED=_l("shared by the broker"), ACTION=_l("holds an action"))


class YoungPerson(Base):
    """The subject of one or more referrals, known to one partnership.

    Matched by name and date of birth when referred again, so that a partnership holds one record
    per young person.
    """

    __tablename__ = "young_person"
    __table_args__ = (Index("ix_young_person_match", "partnership_id", "date_of_birth"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"))
    given_name: Mapped[str] = mapped_column(String(80))
    family_name: Mapped[str] = mapped_column(String(80))
    date_of_birth: Mapped[date] = mapped_column(Date)
    pronouns: Mapped[str | None] = mapped_column(String(40))
    preferred_language: Mapped[str | None] = mapped_column(String(40))
    yot_reference: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    referrals: Mapped[list[Referral]] = relationship(back_populates="young_person", order_by="Referral.id")

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def initials(self) -> str:
        return f"{self.given_name[:1]}{self.family_name[:1]}".upper()


class Referral(Base):
    """A young person brought to a partnership by an agency."""

    __tablename__ = "referral"
    __table_args__ = (
        Index("ix_referral_partnership_status", "partnership_id", "status"),
        Index("ix_referral_expected_release", "expected_release_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"))
    young_person_id: Mapped[int] = mapped_column(ForeignKey("young_person.id"), index=True)
    referring_agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    referred_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    referred_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    legal_status: Mapped[LegalStatus] = mapped_column(TextEnum(LegalStatus))
    sentenced_on: Mapped[date | None] = mapped_column(Date)
    expected_release_on: Mapped[date | None] = mapped_column(Date)
    order_ends_on: Mapped[date | None] = mapped_column(Date)
    after_recall: Mapped[bool] = mapped_column(default=False)
    status: Mapped[ReferralStatus] = mapped_column(TextEnum(ReferralStatus), default=ReferralStatus.SUBMITTED)
    # Triage: the broker asked the referrer for more, and has not had an answer yet.
    information_requested: Mapped[str | None] = mapped_column(Text)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    closure_reason: Mapped[ClosureReason | None] = mapped_column(TextEnum(ClosureReason))
    closure_note: Mapped[str | None] = mapped_column(Text)
    closed_on: Mapped[date | None] = mapped_column(Date)
    # The position (1, 2, ...) in the partnership's journey stages.
    stage: Mapped[int] = mapped_column(default=1)
    # The earlier referral of the same young person this one follows (re-referral detection).
    previous_referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Optimistic concurrency: an UPDATE names the version it read, so a concurrent change is a
    # conflict, never a silent overwrite.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    partnership = relationship("Partnership")
    young_person: Mapped[YoungPerson] = relationship(back_populates="referrals")
    referring_agency = relationship("Agency")
    referred_by = relationship("User")
    previous_referral: Mapped[Referral | None] = relationship(remote_side=[id])
    needs: Mapped[list[Need]] = relationship(back_populates="referral", order_by="Need.position",
                                             cascade="all, delete-orphan")
    consents: Mapped[list[Consent]] = relationship(back_populates="referral", order_by="Consent.id",
                                                   cascade="all, delete-orphan")
    grants: Mapped[list[ReferralAccess]] = relationship(back_populates="referral", order_by="ReferralAccess.id",
                                                        cascade="all, delete-orphan")

    @property
    def consent(self) -> Consent | None:
        """The consent in force: the latest recorded."""
        return self.consents[-1] if self.consents else None

    @property
    def is_open(self) -> bool:
        return self.status not in (ReferralStatus.DECLINED, ReferralStatus.CLOSED)


consent_agency = Table(
    "consent_agency",
    Base.metadata,
    Column("consent_id", Integer, ForeignKey("consent.id", ondelete="CASCADE"), primary_key=True),
    Column("agency_id", Integer, ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True),
)


class Consent(Base):
    """The young person's information-sharing consent, as recorded at one time.

    A new row is recorded when consent is renewed or changed; the latest is the one in force.
    """

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id", ondelete="CASCADE"), index=True)
    given: Mapped[bool]
    given_on: Mapped[date | None] = mapped_column(Date)
    # True: the young person agreed to share with every agency on the panel; otherwise only with
    # ``agencies``.
    all_member_agencies: Mapped[bool] = mapped_column(default=False)
    scope_note: Mapped[str | None] = mapped_column(Text)
    review_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    withdrawal_note: Mapped[str | None] = mapped_column(Text)
    withdrawal_recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    referral: Mapped[Referral] = relationship(back_populates="consents")
    agencies = relationship("Agency", secondary=consent_agency, order_by="Agency.name")
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])

    @property
    def in_force(self) -> bool:
        return self.given and self.withdrawn_on is None

    def covers(self, agency_id: int) -> bool:
        """Whether the young person agreed to share with this agency."""
        return self.in_force and (self.all_member_agencies or any(a.id == agency_id for a in self.agencies))


class Need(Base):
    """The current rating and note of one pathway of one referral. Each re-rating also appends a
    ``NeedHistory`` row, so progress shows over time."""

    __tablename__ = "need"
    __table_args__ = (UniqueConstraint("referral_id", "pathway"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id", ondelete="CASCADE"))
    pathway: Mapped[Pathway] = mapped_column(TextEnum(Pathway))
    # The pathway's place in the fixed order (1-7), so lists sort without a CASE expression.
    position: Mapped[int]
    rating: Mapped[NeedRating] = mapped_column(TextEnum(NeedRating), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rated_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    referral: Mapped[Referral] = relationship(back_populates="needs")


class NeedHistory(Base):
    """Every rating a pathway of a referral has had, oldest first. Never rewritten."""

    __tablename__ = "need_history"
    __table_args__ = (Index("ix_need_history_referral_pathway", "referral_id", "pathway"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id", ondelete="CASCADE"))
    pathway: Mapped[Pathway] = mapped_column(TextEnum(Pathway))
    rating: Mapped[NeedRating] = mapped_column(TextEnum(NeedRating))
    note: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rated_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    referral: Mapped[Referral] = relationship()
    rated_by = relationship("User")


class JourneyStage(Base):
    """A partnership's own name for a stage of the journey. A partnership without rows uses the
    five Kalix stages (``services.referrals.DEFAULT_STAGES``)."""

    __tablename__ = "journey_stage"
    __table_args__ = (UniqueConstraint("partnership_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(String(500))


class ReferralAccess(Base):
    """A grant: this agency may see this referral, for this reason (and pathway).

    Written by the services when an agency refers, when the broker shares, when an action is
    assigned; revoked (never deleted) when consent is withdrawn. ``policy.py`` joins it for every
    scoped query, and it answers "why can housing see this?".
    """

    __tablename__ = "referral_access"
    __table_args__ = (Index("ix_referral_access_agency_referral", "agency_id", "referral_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    reason: Mapped[AccessReason] = mapped_column(TextEnum(AccessReason))
    # The pathway the agency works on for this referral; it is what lets a health agency read
    # health notes. Empty for the referring agency's grant.
    pathway: Mapped[Pathway | None] = mapped_column(TextEnum(Pathway))
    # The record the grant comes from (an action's id), when there is one.
    source_id: Mapped[int | None]
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    referral: Mapped[Referral] = relationship(back_populates="grants")
    agency = relationship("Agency")


class ReferralEvent(Base):
    """The referral's timeline: what happened, when, by whom. Never rewritten.

    ``detail`` holds only what every viewer of the referral may read (never a restricted note).
    """

    __tablename__ = "referral_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    referral: Mapped[Referral] = relationship()
    actor = relationship("User")
