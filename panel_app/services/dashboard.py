"""The strategic dashboard: gaps by pathway and area, open against resolved over time, escalations
waiting for an answer, needs against provision, and each agency's accountability scorecard.

Figures only, never a young person. Every figure is aggregated in SQL, in a fixed number of queries
however many gaps, referrals, meetings and actions there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, func, select

from panel_app import audit, policy
from panel_app.models import (
    UNRESOLVED,
    Action,
    ActionStatus,
    ActionUpdate,
    Agency,
    AgendaItem,
    Attendance,
    AttendanceStatus,
    GapStatus,
    MeetingStatus,
    Need,
    NeedRating,
    NotDoneReason,
    PanelMeeting,
    Partnership,
    Referral,
    ReferralStatus,
    ServiceGap,
    UpdateRequest,
    User,
    db,
    utcnow,
)
from panel_app.models.meetings import meeting_invitation
from panel_app.models.people import partnership_agency
from panel_app.pathways import Pathway
from panel_app.services.clock import local_timezone, today

MONTHS = 12


@dataclass
class Scorecard:
    agency: Agency
    meetings_invited: int
    meetings_present: int
    updates_requested: int
    updates_sent_in_time: int
    actions_due: int
    actions_done_on_time: int
    actions_not_acted: int

    @staticmethod
    def percent(part: int, whole: int) -> int | None:
        return round(100 * part / whole) if whole else None


@dataclass
class Waiting:
    gap_id: int
    title: str
    partnership: str
    days: int


@dataclass
class Dashboard:
    partnerships: list[Partnership]
    # Unresolved gaps: (partnership id, pathway) -> count.
    heat: dict[tuple[int, Pathway], int]
    # Per month, oldest first: (first day of the month, gaps logged, gaps resolved or accepted).
    over_time: list[tuple[date, int, int]]
    open_now: int
    resolved_total: int
    waiting: list[Waiting]
    # (partnership id, pathway) -> young people with a red need on open referrals / gaps logged.
    red_needs: dict[tuple[int, Pathway], int]
    gaps_logged: dict[tuple[int, Pathway], int]
    scorecards: list[Scorecard]

    @property
    def heat_max(self) -> int:
        return max(self.heat.values(), default=0)


def _month_starts(on: date) -> list[date]:
    first = on.replace(day=1)
    months = []
    for _ in range(MONTHS):
        months.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(months))


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=local_timezone()).astimezone(UTC)


def dashboard(actor: User) -> Dashboard:
    """The dashboard of the partnerships a strategic lead oversees (their region) or a broker brokers."""
    scope = policy.gap_partnership_ids(actor)
    partnerships = list(db.session.scalars(select(Partnership).where(Partnership.id.in_(scope))
                                           .order_by(Partnership.name)))
    gaps = select(ServiceGap).where(ServiceGap.partnership_id.in_(scope)).subquery()

    heat = {(pid, Pathway(pathway)): count for pid, pathway, count in db.session.execute(
        select(gaps.c.partnership_id, gaps.c.pathway, func.count())
        .where(gaps.c.status.in_([s.value for s in UNRESOLVED]))
        .group_by(gaps.c.partnership_id, gaps.c.pathway))}

    # Logged and closed per month in one query: a column per month, portable across databases.
    months = _month_starts(today())
    bounds = [(_instant(start), _instant((start + timedelta(days=32)).replace(day=1))) for start in months]
    columns = []
    for start, end in bounds:
        columns.append(func.count(case((and_(gaps.c.logged_at >= start, gaps.c.logged_at < end), 1))))
        columns.append(func.count(case((and_(gaps.c.closed_at >= start, gaps.c.closed_at < end), 1))))
    columns += [func.count(case((gaps.c.status.in_([s.value for s in UNRESOLVED]), 1))),
                func.count(case((gaps.c.status.in_([GapStatus.RESOLVED.value, GapStatus.ACCEPTED.value]), 1)))]
    figures = db.session.execute(select(*columns)).one()
    over_time = [(months[i], figures[2 * i], figures[2 * i + 1]) for i in range(MONTHS)]

    now = utcnow()
    waiting = [Waiting(gap_id, title, name, (now - escalated).days) for gap_id, title, name, escalated in
               db.session.execute(select(gaps.c.id, gaps.c.title, Partnership.name, gaps.c.escalated_at)
                                  .join(Partnership, Partnership.id == gaps.c.partnership_id)
                                  .where(gaps.c.status == GapStatus.ESCALATED.value)
                                  .order_by(gaps.c.escalated_at).limit(50))]

    open_referrals = [ReferralStatus.ACCEPTED, ReferralStatus.ACTIVE, ReferralStatus.SUBMITTED]
    red_needs = {(pid, Pathway(pathway)): count for pid, pathway, count in db.session.execute(
        select(Referral.partnership_id, Need.pathway, func.count(distinct(Referral.young_person_id)))
        .join(Need, Need.referral_id == Referral.id)
        .where(Referral.partnership_id.in_(scope), Referral.status.in_(open_referrals), Need.rating == NeedRating.RED)
        .group_by(Referral.partnership_id, Need.pathway))}
    gaps_logged = {(pid, Pathway(pathway)): count for pid, pathway, count in db.session.execute(
        select(gaps.c.partnership_id, gaps.c.pathway, func.count()).group_by(gaps.c.partnership_id, gaps.c.pathway))}

    dashboard = Dashboard(partnerships, heat, over_time, figures[-2], figures[-1], waiting, red_needs, gaps_logged,
                          scorecards(scope))
    audit.record("dashboard.view", actor=actor, detail={"partnership_ids": [p.id for p in partnerships]})
    return dashboard


def scorecards(scope: Any) -> list[Scorecard]:
    """Per agency of these partnerships: panel attendance, updates sent before panels, actions done on
    time, and actions not done because the agency did not act. Five grouped queries."""
    agencies = list(db.session.scalars(select(Agency).join(partnership_agency)
                                       .where(partnership_agency.c.partnership_id.in_(scope))
                                       .distinct().order_by(Agency.name)))
    held = select(PanelMeeting.id).where(PanelMeeting.partnership_id.in_(scope),
                                         PanelMeeting.status == MeetingStatus.HELD)
    invited = dict(db.session.execute(
        select(meeting_invitation.c.agency_id, func.count()).where(meeting_invitation.c.meeting_id.in_(held))
        .group_by(meeting_invitation.c.agency_id)).all())
    present = dict(db.session.execute(
        select(Attendance.agency_id, func.count()).where(Attendance.meeting_id.in_(held),
                                                         Attendance.status == AttendanceStatus.PRESENT)
        .group_by(Attendance.agency_id)).all())
    updates = {agency_id: (asked, in_time) for agency_id, asked, in_time in db.session.execute(
        select(UpdateRequest.agency_id, func.count(),
               func.count(case((and_(UpdateRequest.responded_at.is_not(None),
                                     UpdateRequest.responded_at <= PanelMeeting.starts_at), 1))))
        .join(AgendaItem, AgendaItem.id == UpdateRequest.agenda_item_id)
        .join(PanelMeeting, PanelMeeting.id == AgendaItem.meeting_id)
        # A cancelled panel had nothing to send an update before: its requests count for no one.
        .where(PanelMeeting.partnership_id.in_(scope), PanelMeeting.starts_at <= utcnow(),
               PanelMeeting.status != MeetingStatus.CANCELLED)
        .group_by(UpdateRequest.agency_id))}
    done_on = (select(ActionUpdate.action_id, func.min(ActionUpdate.day).label("done_on"))
               .where(ActionUpdate.status_to == ActionStatus.DONE).group_by(ActionUpdate.action_id).subquery())
    in_scope = select(Referral.id).where(Referral.partnership_id.in_(scope))
    # An action counts once it is due (or done): done on time when its first "done" came on or before
    # its due date (the day in Wales).
    actions = {agency_id: (due, on_time, not_acted) for agency_id, due, on_time, not_acted in db.session.execute(
        select(Action.owner_agency_id,
               func.count(case((Action.status != ActionStatus.CANCELLED, 1))),
               func.count(case((and_(done_on.c.done_on.is_not(None), done_on.c.done_on <= Action.due_on), 1))),
               func.count(case((Action.not_done_reason == NotDoneReason.AGENCY_HAS_NOT_ACTED, 1))))
        .outerjoin(done_on, done_on.c.action_id == Action.id)
        .where(Action.referral_id.in_(in_scope),
               (Action.due_on < today()) | (Action.status == ActionStatus.DONE))
        .group_by(Action.owner_agency_id))}
    cards = []
    for agency in agencies:
        asked, in_time = updates.get(agency.id, (0, 0))
        due, on_time, not_acted = actions.get(agency.id, (0, 0, 0))
        cards.append(Scorecard(agency, invited.get(agency.id, 0), present.get(agency.id, 0), asked, in_time,
                               due, on_time, not_acted))
    return cards
