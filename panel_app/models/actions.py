"""Actions: one agency's promise to one young person on one pathway; their history, escalations,
milestones, and the versions of the young person's plan."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from panel_app.models.base import Base, TextEnum, UTCDateTime, labels, utcnow
from panel_app.pathways import Pathway


class ActionStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"

    label = labels(OPEN=_l("Open"), IN_PROGRESS=_l("In progress"), BLOCKED=_l("Blocked"), DONE=_l("Done"),
                   CANCELLED=_l("Cancelled"))


# Still owed: what reminders, escalations and "My actions" are about.
OUTSTANDING = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS, ActionStatus.BLOCKED)


class NotDoneReason(enum.StrEnum):
    """Why an action was not done by review (the distinction multi-agency minutes templates draw)."""

    CHANGE_OF_CIRCUMSTANCES = "change_of_circumstances"
    AGENCY_HAS_NOT_ACTED = "agency_has_not_acted"

    # As the action's page says it.
    label = labels(CHANGE_OF_CIRCUMSTANCES=_l("Not done: a change of circumstances"),
                   AGENCY_HAS_NOT_ACTED=_l("Not done: the agency has not acted"))
    # As the broker's form offers it, under "Why was it not done?".
    choice_label = labels(CHANGE_OF_CIRCUMSTANCES=_l("A change of circumstances"),
                          AGENCY_HAS_NOT_ACTED=_l("The agency has not acted"))


class Action(Base):
    __tablename__ = "action"
    __table_args__ = (
        Index("ix_action_owner_status_due", "owner_agency_id", "status", "due_on"),
        Index("ix_action_referral", "referral_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"))
    pathway: Mapped[Pathway] = mapped_column(TextEnum(Pathway))
    description: Mapped[str] = mapped_column(Text)
    owner_agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[ActionStatus] = mapped_column(TextEnum(ActionStatus), default=ActionStatus.OPEN)
    outcome: Mapped[str | None] = mapped_column(Text)
    not_done_reason: Mapped[NotDoneReason | None] = mapped_column(TextEnum(NotDoneReason, 40))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("panel_meeting.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Optimistic concurrency: an update names the version it read; a concurrent change is a 409.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    referral = relationship("Referral")
    owner_agency = relationship("Agency")
    owner_user = relationship("User", foreign_keys=[owner_user_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    meeting = relationship("PanelMeeting")
    updates: Mapped[list[ActionUpdate]] = relationship(back_populates="action", order_by="ActionUpdate.id")

    @property
    def is_outstanding(self) -> bool:
        return self.status in OUTSTANDING

    # How the pages word an action (a plan leaves cancelled ones out, marks done ones); what may be
    # done to it is policy.ACTION_STEPS.
    @property
    def is_done(self) -> bool:
        return self.status is ActionStatus.DONE

    @property
    def is_cancelled(self) -> bool:
        return self.status is ActionStatus.CANCELLED


class ActionUpdate(Base):
    """One change to an action: who, when, the note, the status and due date before and after.
    Only ever inserted."""

    __tablename__ = "action_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("action.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The day ``at`` fell on in Wales, kept so that "done on time" is counted in SQL by the panel's
    # calendar: done at 00:30 on the day after it was due, in Wales, is a day late.
    day: Mapped[date] = mapped_column(Date)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str | None] = mapped_column(Text)
    status_from: Mapped[ActionStatus | None] = mapped_column(TextEnum(ActionStatus))
    status_to: Mapped[ActionStatus | None] = mapped_column(TextEnum(ActionStatus))
    due_from: Mapped[date | None] = mapped_column(Date)
    due_to: Mapped[date | None] = mapped_column(Date)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    action: Mapped[Action] = relationship(back_populates="updates")
    by = relationship("User")


class ActionEscalation(Base):
    """A step of the follow-up of an overdue action: 1 the owner agency, 2 its lead contact, 3 the
    broker. One row per step, so no step is taken twice."""

    __tablename__ = "action_escalation"
    __table_args__ = (UniqueConstraint("action_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("action.id"))
    level: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HistoryIsNeverRewritten(RuntimeError):
    pass


@event.listens_for(ActionUpdate, "before_update")
@event.listens_for(ActionUpdate, "before_delete")
def _refuse_rewrites(mapper: Mapper[ActionUpdate], connection: object, target: ActionUpdate) -> None:
    raise HistoryIsNeverRewritten("an action's history is never changed or deleted")


class Milestone(Base):
    """A step of the young person's plan, with a target date ("settled in supported lodgings")."""

    __tablename__ = "milestone"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    pathway: Mapped[Pathway | None] = mapped_column(TextEnum(Pathway))
    description: Mapped[str] = mapped_column(String(500))
    target_on: Mapped[date | None] = mapped_column(Date)
    achieved_on: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlanVersion(Base):
    """The young person's plan as it stood when saved (the plan "in pencil": each version kept), and
    when it was shared with them."""

    __tablename__ = "plan_version"
    __table_args__ = (UniqueConstraint("referral_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"))
    number: Mapped[int]
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    shared_on: Mapped[date | None] = mapped_column(Date)
    shared_how: Mapped[str | None] = mapped_column(String(200))
    shared_recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    created_by = relationship("User", foreign_keys=[created_by_id])
