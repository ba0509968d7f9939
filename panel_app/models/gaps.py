"""Service gaps: a need the partnership cannot meet because provision is missing, full or
inaccessible; the referrals that are its evidence; and its history of escalations and responses."""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from panel_app.models.base import Base, TextEnum, UTCDateTime, labels, utcnow
from panel_app.pathways import Pathway


class GapSeverity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    label = labels(LOW=_l("Low"), MEDIUM=_l("Medium"), HIGH=_l("High"), CRITICAL=_l("Critical"))


class GapStatus(enum.StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    ACCEPTED = "accepted"  # accepted as a risk

    label = labels(OPEN=_l("Open"), ESCALATED=_l("Escalated"), IN_PROGRESS=_l("In progress"),
                   RESOLVED=_l("Resolved"), ACCEPTED=_l("Accepted as a risk"))
    # As the strategic lead's response form offers it: "in progress" says what it asks for.
    choice_label = labels(OPEN=_l("Open"), ESCALATED=_l("Escalated"),
                          IN_PROGRESS=_l("In progress: someone owns it, with a target date"),
                          RESOLVED=_l("Resolved"), ACCEPTED=_l("Accepted as a risk"))


# Still a gap: counted as open on the dashboard.
UNRESOLVED = (GapStatus.OPEN, GapStatus.ESCALATED, GapStatus.IN_PROGRESS)


class ServiceGap(Base):
    __tablename__ = "service_gap"
    __table_args__ = (Index("ix_service_gap_partnership_status", "partnership_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"))
    pathway: Mapped[Pathway] = mapped_column(TextEnum(Pathway))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[GapSeverity] = mapped_column(TextEnum(GapSeverity))
    status: Mapped[GapStatus] = mapped_column(TextEnum(GapStatus), default=GapStatus.OPEN)
    logged_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    # The agency that raised it (empty when the broker logged it).
    logged_by_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Where it came from, when it came from somewhere: a blocked action, a panel meeting.
    source_action_id: Mapped[int | None] = mapped_column(ForeignKey("action.id"))
    source_meeting_id: Mapped[int | None] = mapped_column(ForeignKey("panel_meeting.id"))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The strategic lead's latest answer.
    owner: Mapped[str | None] = mapped_column(String(200))
    target_on: Mapped[date | None] = mapped_column(Date)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    partnership = relationship("Partnership")
    logged_by = relationship("User", foreign_keys=[logged_by_id])
    logged_by_agency = relationship("Agency")
    evidence: Mapped[list[GapReferral]] = relationship(back_populates="gap", order_by="GapReferral.id",
                                                       cascade="all, delete-orphan")
    events: Mapped[list[GapEvent]] = relationship(back_populates="gap", order_by="GapEvent.id")


class GapReferral(Base):
    """A referral that is evidence of a gap: a young person affected, waiting since a date, raised
    by an agency."""

    __tablename__ = "gap_referral"
    __table_args__ = (UniqueConstraint("gap_id", "referral_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gap_id: Mapped[int] = mapped_column(ForeignKey("service_gap.id", ondelete="CASCADE"))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    waiting_since: Mapped[date] = mapped_column(Date)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    added_by_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    gap: Mapped[ServiceGap] = relationship(back_populates="evidence")
    referral = relationship("Referral")


class GapEvent(Base):
    """The gap's history: logged, evidence added, escalated, answered, reopened. Only ever inserted."""

    __tablename__ = "gap_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    gap_id: Mapped[int] = mapped_column(ForeignKey("service_gap.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    status_from: Mapped[GapStatus | None] = mapped_column(TextEnum(GapStatus))
    status_to: Mapped[GapStatus | None] = mapped_column(TextEnum(GapStatus))
    owner: Mapped[str | None] = mapped_column(String(200))
    target_on: Mapped[date | None] = mapped_column(Date)

    gap: Mapped[ServiceGap] = relationship(back_populates="events")
    by = relationship("User")


class GapHistoryIsNeverRewritten(RuntimeError):
    pass


@event.listens_for(GapEvent, "before_update")
@event.listens_for(GapEvent, "before_delete")
def _refuse_rewrites(mapper: Mapper[GapEvent], connection: object, target: GapEvent) -> None:
    raise GapHistoryIsNeverRewritten("a gap's history is never changed or deleted")
