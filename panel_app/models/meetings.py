"""Panel meetings: scheduling, invitations, attendance, the agenda, update requests and minutes."""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel_app.models.base import Base, TextEnum, UTCDateTime, labels, utcnow
from panel_app.pathways import Pathway


class MeetingStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"

    label = labels(SCHEDULED=_l("Scheduled"), HELD=_l("Held"), CANCELLED=_l("Cancelled"))


class AttendanceStatus(enum.StrEnum):
    PRESENT = "present"
    APOLOGIES = "apologies"
    ABSENT = "absent"
    # The MARAC minutes templates' "information sent": not there, but sent their update.
    INFORMATION_SENT = "information_sent"

    label = labels(PRESENT=_l("Present"), APOLOGIES=_l("Apologies"), ABSENT=_l("Absent"),
                   INFORMATION_SENT=_l("Information sent"))


class AgendaKind(enum.StrEnum):
    NEW = "new"
    REVIEW = "review"
    ESCALATION = "escalation"

    label = labels(NEW=_l("New referral"), REVIEW=_l("Review"), ESCALATION=_l("Escalation"))


class MinutesStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"

    label = labels(DRAFT=_l("Minutes in draft"), APPROVED=_l("Minutes approved"))


class MeetingSeries(Base):
    """Meetings scheduled together from one recurrence rule (e.g. the first Tuesday of every month)."""

    __tablename__ = "meeting_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), index=True)
    # An RFC 5545 recurrence rule, as written in the calendar files (FREQ=MONTHLY;BYDAY=1TU;COUNT=6).
    rule: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


meeting_invitation = Table(
    "meeting_invitation",
    Base.metadata,
    Column("meeting_id", Integer, ForeignKey("panel_meeting.id", ondelete="CASCADE"), primary_key=True),
    Column("agency_id", Integer, ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class PanelMeeting(Base):
    """A sitting of a partnership's panel. Times are stored in UTC and shown in the partnership's
    time zone."""

    __tablename__ = "panel_meeting"
    __table_args__ = (Index("ix_panel_meeting_partnership_starts", "partnership_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"))
    series_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_series.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    location: Mapped[str | None] = mapped_column(String(200))
    online_link: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[MeetingStatus] = mapped_column(TextEnum(MeetingStatus), default=MeetingStatus.SCHEDULED)
    # The calendar identity: the same UID for every update; SEQUENCE goes up with each change.
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes_notes: Mapped[str | None] = mapped_column(Text)
    minutes_status: Mapped[MinutesStatus] = mapped_column(TextEnum(MinutesStatus), default=MinutesStatus.DRAFT)
    minutes_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    partnership = relationship("Partnership")
    series: Mapped[MeetingSeries | None] = relationship()
    invited_agencies = relationship("Agency", secondary=meeting_invitation, order_by="Agency.name")
    items: Mapped[list[AgendaItem]] = relationship(back_populates="meeting", order_by="AgendaItem.position",
                                                   cascade="all, delete-orphan")
    attendance: Mapped[list[Attendance]] = relationship(back_populates="meeting", cascade="all, delete-orphan")

    # How the pages word a meeting (its tag, its papers); what may be done to it is
    # policy.MEETING_STEPS.
    @property
    def is_held(self) -> bool:
        return self.status is MeetingStatus.HELD

    @property
    def is_cancelled(self) -> bool:
        return self.status is MeetingStatus.CANCELLED

    @property
    def minutes_approved(self) -> bool:
        return self.minutes_status is MinutesStatus.APPROVED


class Attendance(Base):
    """Who came for each invited agency: present, apologies, absent, or information sent."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "agency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meeting.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    status: Mapped[AttendanceStatus] = mapped_column(TextEnum(AttendanceStatus))
    # Who attended for the agency (names as said at the meeting).
    attendees: Mapped[str | None] = mapped_column(String(500))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    meeting: Mapped[PanelMeeting] = relationship(back_populates="attendance")
    agency = relationship("Agency")


class AgendaItem(Base):
    """One case on a meeting's agenda: its place, its time box, and what the meeting said and decided."""

    __tablename__ = "agenda_item"
    __table_args__ = (UniqueConstraint("meeting_id", "referral_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meeting.id", ondelete="CASCADE"))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    kind: Mapped[AgendaKind] = mapped_column(TextEnum(AgendaKind))
    position: Mapped[int]
    minutes_allotted: Mapped[int | None]
    # The young person's own views, gathered before the panel.
    young_person_views: Mapped[str | None] = mapped_column(Text)
    # The general discussion note: about no one pathway, it goes to everyone who sees the case. What
    # the panel said about one pathway is an ``AgendaNote`` (health details reach fewer agencies).
    notes: Mapped[str | None] = mapped_column(Text)
    decisions: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Notes save as people type, from more than one laptop: a stale version is a conflict.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    meeting: Mapped[PanelMeeting] = relationship(back_populates="items")
    referral = relationship("Referral")
    updated_by = relationship("User")
    update_requests: Mapped[list[UpdateRequest]] = relationship(back_populates="item", order_by="UpdateRequest.id",
                                                                cascade="all, delete-orphan")
    pathway_notes: Mapped[list[AgendaNote]] = relationship(back_populates="item", order_by="AgendaNote.position",
                                                           cascade="all, delete-orphan")


class AgendaNote(Base):
    """What the panel said about one pathway of a case. Its readers are those who may read text about
    that pathway (``policy.can_read_text_about``): for health and substance misuse, fewer than the
    case's. The general note stays on ``AgendaItem.notes``."""

    __tablename__ = "agenda_note"
    __table_args__ = (UniqueConstraint("agenda_item_id", "pathway"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agenda_item_id: Mapped[int] = mapped_column(ForeignKey("agenda_item.id", ondelete="CASCADE"))
    pathway: Mapped[Pathway] = mapped_column(TextEnum(Pathway))
    # The pathway's place in the fixed order (1-7), so notes list in the pathways' order.
    position: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    written_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[AgendaItem] = relationship(back_populates="pathway_notes")


class UpdateRequest(Base):
    """Before the panel, the broker asks an involved agency for its update on a case, by a deadline."""

    __tablename__ = "update_request"
    __table_args__ = (UniqueConstraint("agenda_item_id", "agency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agenda_item_id: Mapped[int] = mapped_column(ForeignKey("agenda_item.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    response: Mapped[str | None] = mapped_column(Text)
    # What the update is about: empty for a general update (everyone who sees the case reads it); a
    # health or substance-misuse update reaches only those who may read that pathway's text.
    pathway: Mapped[Pathway | None] = mapped_column(TextEnum(Pathway))
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    item: Mapped[AgendaItem] = relationship(back_populates="update_requests")
    agency = relationship("Agency")
    responded_by = relationship("User", foreign_keys=[responded_by_id])
