"""Actions: agreed at the panel (or by the broker), owned by an agency, followed up until done.

Creating an action grants the owner agency access to the referral (an ``action`` grant for the
action's pathway). Every change appends to the action's history and names the version it read:
a change made from a stale copy is a conflict, never a silent overwrite. Reminders and step-by-step
escalation of overdue actions run from ``send_reminders`` (a cron command), idempotently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from panel_app import audit, policy
from panel_app.documents.pdf import render_pdf
from panel_app.errors import Conflict, NotFound
from panel_app.models import (
    OUTSTANDING,
    AccessReason,
    Action,
    ActionEscalation,
    ActionStatus,
    ActionUpdate,
    Agency,
    AgendaItem,
    Milestone,
    NotDoneReason,
    PanelMeeting,
    Partnership,
    PlanVersion,
    Referral,
    User,
    db,
    utcnow,
)
from panel_app.models.base import MAX_ID
from panel_app.pathways import Pathway
from panel_app.services import outbox
from panel_app.services import referrals as referral_service
from panel_app.services.base import Problems, check_version, one_text, page_of, record_change
from panel_app.services.clock import today

DESCRIPTION_MAX = 2_000
NOTE_MAX = 4_000
DUE_SOON = timedelta(days=3)
MY_ACTIONS_LIMIT = 500


def label(action: Action) -> str:
    """How an action is named where a young person's name must not appear (email subjects)."""
    return _("%(initials)s, %(pathway)s", initials=action.referral.young_person.initials,
             pathway=action.pathway.short_label)


# --- Creating -----------------------------------------------------------------------------------


@dataclass
class NewAction:
    pathway: Pathway
    description: str
    agency_id: int
    due_on: date
    owner_user_id: int | None = None
    meeting_id: int | None = None


def create_action(actor: User, referral: Referral, new: NewAction) -> Action:
    """The broker records an action: one agency's promise on one pathway, by a date. The agency is
    granted access to the referral for that pathway and told by email."""
    policy.require_step(actor, policy.REFERRAL_STEPS, "record_action", referral)
    problems = Problems()
    description = problems.text("description", new.description, DESCRIPTION_MAX,
                                required=_("Say what the agency will do"))
    if new.due_on < today():
        problems.add("due_on", _("The due date must be today or later"))
    agency = next((a for a in referral.partnership.agencies if a.id == new.agency_id), None)
    if agency is None:
        problems.add("agency_id", _("Choose an agency on this partnership's panel"))
    elif not policy.may_hold_action(referral, agency.id):
        problems.add("agency_id", _("The young person has not agreed to share their information with this agency"))
    owner = None
    if new.owner_user_id is not None:
        owner = db.session.get(User, new.owner_user_id) if 0 < new.owner_user_id <= MAX_ID else None
        if owner is None or agency is None or owner.agency_id != agency.id or not owner.active:
            problems.add("owner_user_id", _("Choose a worker of the agency the action is for"))
    meeting = None
    if new.meeting_id is not None:
        meeting = db.session.get(PanelMeeting, new.meeting_id) if 0 < new.meeting_id <= MAX_ID else None
        if meeting is None or meeting.partnership_id != referral.partnership_id:
            problems.add("meeting_id", _("The meeting must be one of this referral's partnership"))
    problems.raise_if_any()
    assert agency is not None
    action = Action(referral=referral, pathway=new.pathway, description=description, owner_agency_id=agency.id,
                    owner_user=owner, due_on=new.due_on, status=ActionStatus.OPEN, meeting=meeting,
                    created_by_id=actor.id)
    db.session.add(action)
    db.session.flush()
    db.session.add(ActionUpdate(action=action, by_id=actor.id, day=today(), status_to=ActionStatus.OPEN, due_to=new.due_on,
                                note=_("Action agreed") + (f" ({_('at the panel')})" if meeting else "")))
    referral_service.grant_access(referral, agency.id, AccessReason.ACTION, actor, new.pathway, action.id)
    record_change(referral, actor, "action.create", kind="action_created", agency=agency.name,
                  pathway=new.pathway.value, due=new.due_on.isoformat(),
                  audit_detail={"action_id": action.id, "agency_id": agency.id})
    _email_assignment(action, agency, actor)
    return action


def _email_assignment(action: Action, agency: Agency, actor: User) -> None:
    recipients = {agency.contact_email, action.owner_user.email if action.owner_user else None} - {None}
    for recipient in sorted(recipients):
        outbox.queue_template("action_assigned.txt", recipient, kind="action.assigned", agency_id=agency.id,
                              about=("action", action.id), action=action, agency=agency, label=label(action),
                              sent_by=actor, dedupe_key=f"action.assigned:{action.id}:{recipient}")


# --- Updating -----------------------------------------------------------------------------------


@dataclass
class ActionChange:
    version: int
    status: ActionStatus | None = None
    note: str | None = None
    due_on: date | None = None
    outcome: str | None = None


def update_action(actor: User, action: Action, change: ActionChange) -> Action:
    """Change an action's status, due date or outcome, or add a progress note, in one step.

    The broker or staff of the owner agency. The change names the version it read: if someone else
    changed the action since, nothing is saved and the conflict says so.
    """
    policy.require_step(actor, policy.ACTION_STEPS, "update", action)
    check_version(action, change.version, _l(
        "Someone else changed this action since you opened it (now: %(status)s, due %(due)s). Check their change, "
        "then make yours again.", status=action.status.label, due=format_date(action.due_on, "d MMMM yyyy")))
    problems = Problems()
    note = problems.text("note", change.note, NOTE_MAX)
    outcome = problems.text("outcome", change.outcome, NOTE_MAX)
    status = change.status or action.status
    before_status, before_due = action.status, action.due_on
    if status is not before_status:
        if before_status not in OUTSTANDING and status in OUTSTANDING and not note:
            problems.add("note", _("Say why the action is reopened"))
        if status is ActionStatus.BLOCKED and not note:
            problems.add("note", _("Say what is blocking it"))
        if status is ActionStatus.DONE and not (outcome or action.outcome or note):
            problems.add("outcome", _("Say what was done"))
        if status is ActionStatus.CANCELLED and not policy.may_take(actor, policy.ACTION_STEPS, "cancel", action):
            problems.add("status", _("Only the broker can cancel an action"))
        if status is ActionStatus.CANCELLED and not note:
            problems.add("note", _("Say why the action is cancelled"))
    due_on = change.due_on or action.due_on
    if due_on != before_due:
        if due_on < today():
            problems.add("due_on", _("A new due date must be today or later"))
        if not note:
            problems.add("note", _("Say why the due date changes"))
    if status is before_status and due_on == before_due and not note and not outcome:
        problems.add("note", _("Add a note, or change the status or the due date"))
    problems.raise_if_any()
    action.status, action.due_on = status, due_on
    if status is ActionStatus.DONE:
        action.outcome = outcome or action.outcome or note
    action.updated_at = utcnow()  # a note alone still moves the version on
    record_change(action, actor, "action.update", note=note or outcome,
                  status_from=before_status if status is not before_status else None,
                  status_to=status if status is not before_status else None,
                  due_from=before_due if due_on != before_due else None,
                  due_to=due_on if due_on != before_due else None,
                  audit_detail={"status": status.value})
    _save_or_conflict()
    return action


def _save_or_conflict() -> None:
    """Two people who read the same version and save at the same moment both pass the check above; the
    database lets one UPDATE through (``WHERE version = ...``) and the other finds no row. That one is
    told as if it had read a stale version, so the pages show it the newer state."""
    try:
        db.session.flush()
    except StaleDataError:
        raise Conflict(_("Someone else changed this action at the same moment. Check their change, then make "
                         "yours again.")) from None


def record_not_done(actor: User, action: Action, reason: NotDoneReason, note: str | None, version: int) -> None:
    """At review, the broker records why an action was not done on time: a change of circumstances, or
    the agency has not acted (so the partnership can see which agencies do not deliver)."""
    policy.require_step(actor, policy.ACTION_STEPS, "record_not_done", action, before_state=lambda: check_version(
        action, version, _l("Someone else changed this action since you opened it. Check their change, then try "
                            "again.")))
    note = one_text("note", note, NOTE_MAX)
    action.not_done_reason = reason
    action.updated_at = utcnow()
    record_change(action, actor, "action.not_done", note=note, detail={"not_done_reason": reason.value},
                  audit_detail={"reason": reason.value})
    _save_or_conflict()


# --- Finding actions ----------------------------------------------------------------------------

_LIST_OPTIONS = (
    joinedload(Action.referral).joinedload(Referral.young_person),
    joinedload(Action.referral).joinedload(Referral.partnership),
    joinedload(Action.owner_agency),
    joinedload(Action.owner_user),
)


def get_action(actor: User, action_id: int) -> Action:
    """One action the actor may see, with its history; 404 otherwise. Audited (it names a young person)."""
    action = db.session.scalar(
        policy.visible_actions(actor).where(Action.id == action_id)
        .options(*_LIST_OPTIONS, selectinload(Action.updates).joinedload(ActionUpdate.by),
                 joinedload(Action.referral).selectinload(Referral.grants),
                 joinedload(Action.referral).selectinload(Referral.consents),
                 joinedload(Action.referral).joinedload(Referral.partnership).selectinload(Partnership.agencies))
    ) if 0 < action_id <= MAX_ID else None
    if action is None:
        raise NotFound(_("Action not found."))
    audit.record("action.view", actor=actor, record_type="referral", record_id=action.referral_id,
                 detail={"action_id": action.id})
    return action


@dataclass
class ActionFilters:
    pathway: Pathway | None = None
    partnership_id: int | None = None
    statuses: tuple[ActionStatus, ...] = OUTSTANDING


def _filtered(query: Select[tuple[Action]], filters: ActionFilters) -> Select[tuple[Action]]:
    if filters.pathway is not None:
        query = query.where(Action.pathway == filters.pathway)
    if filters.partnership_id is not None:
        query = query.where(Action.referral_id.in_(
            select(Referral.id).where(Referral.partnership_id == filters.partnership_id)))
    if filters.statuses:
        query = query.where(Action.status.in_(filters.statuses))
    return query


@dataclass
class DueGroups:
    overdue: list[Action] = field(default_factory=list)
    this_week: list[Action] = field(default_factory=list)
    later: list[Action] = field(default_factory=list)
    done_recently: list[Action] = field(default_factory=list)
    truncated: bool = False

    @property
    def count(self) -> int:
        return len(self.overdue) + len(self.this_week) + len(self.later)


def my_actions(actor: User, filters: ActionFilters) -> DueGroups:
    """What the actor's agency owes, overdue first, then due this week, then later; and what it did in
    the last fortnight. A fixed number of queries, however many actions."""
    agency_id = policy.staff_agency_id(actor)
    if agency_id is None:
        return DueGroups()
    base = policy.visible_actions(actor).where(Action.owner_agency_id == agency_id)
    rows = list(db.session.scalars(
        _filtered(base, filters).options(*_LIST_OPTIONS).order_by(Action.due_on, Action.id)
        .limit(MY_ACTIONS_LIMIT + 1)
    ))
    groups = DueGroups(truncated=len(rows) > MY_ACTIONS_LIMIT)
    on = today()
    for action in rows[:MY_ACTIONS_LIMIT]:
        if action.due_on < on:
            groups.overdue.append(action)
        elif action.due_on <= on + timedelta(days=7):
            groups.this_week.append(action)
        else:
            groups.later.append(action)
    recent = _filtered(base, ActionFilters(filters.pathway, filters.partnership_id, (ActionStatus.DONE,)))
    groups.done_recently = list(db.session.scalars(
        recent.where(Action.updated_at >= utcnow() - timedelta(days=14)).options(*_LIST_OPTIONS)
        .order_by(Action.updated_at.desc()).limit(20)
    ))
    if rows:
        audit.record("action.list", actor=actor, record_type="referral",
                     detail={"referral_ids": sorted({a.referral_id for a in rows})})
    return groups


@dataclass
class AgencyFollowUp:
    agency: Agency
    overdue: int
    blocked: int
    not_acted: int
    actions: list[Action]


def follow_up(actor: User, partnership_id: int | None = None) -> list[AgencyFollowUp]:
    """The broker's view: overdue and blocked actions across their partnerships, by agency, with the
    counts per agency (counted in SQL) and how many were not done because the agency did not act."""
    on = today()
    slipping = (policy.visible_actions(actor)
                .where(Action.status.in_(OUTSTANDING), (Action.due_on < on) | (Action.status == ActionStatus.BLOCKED)))
    if partnership_id is not None:
        slipping = _filtered(slipping, ActionFilters(partnership_id=partnership_id))
    ids = slipping.with_only_columns(Action.id).subquery()
    counts = {agency_id: (overdue, blocked) for agency_id, overdue, blocked in db.session.execute(
        select(Action.owner_agency_id,
               func.count(case((Action.due_on < on, 1))),
               func.count(case((Action.status == ActionStatus.BLOCKED, 1))))
        .where(Action.id.in_(select(ids.c.id))).group_by(Action.owner_agency_id))}
    not_acted = dict(db.session.execute(
        select(Action.owner_agency_id, func.count(Action.id))
        .where(Action.id.in_(policy.visible_actions(actor).with_only_columns(Action.id)),
               Action.not_done_reason == NotDoneReason.AGENCY_HAS_NOT_ACTED)
        .group_by(Action.owner_agency_id)).all())
    rows = list(db.session.scalars(
        slipping.options(*_LIST_OPTIONS).order_by(Action.due_on, Action.id).limit(MY_ACTIONS_LIMIT)))
    by_agency: dict[int, AgencyFollowUp] = {}
    for action in rows:
        overdue, blocked = counts.get(action.owner_agency_id, (0, 0))
        entry = by_agency.setdefault(action.owner_agency_id, AgencyFollowUp(
            action.owner_agency, overdue, blocked, not_acted.get(action.owner_agency_id, 0), []))
        entry.actions.append(action)
    if rows:
        audit.record("action.follow_up", actor=actor, record_type="referral",
                     detail={"referral_ids": sorted({a.referral_id for a in rows})})
    return sorted(by_agency.values(), key=lambda e: (-(e.overdue + e.blocked), e.agency.name))


def actions_of(viewer: User, referral: Referral) -> list[Action]:
    """All the actions of a referral the viewer may see (the referral page, the plan)."""
    found = db.session.scalars(
        policy.visible_actions(viewer).where(Action.referral_id == referral.id)
        .options(joinedload(Action.owner_agency), joinedload(Action.owner_user))
    )
    return sorted(found, key=lambda a: (a.pathway.number, a.due_on, a.id))  # in the pathways' own order


def actions_for_meeting(viewer: User, meeting: PanelMeeting) -> list[Action]:
    """The actions of a meeting's cases that are still owed, or were agreed at it, as the viewer may see
    them: each agency's action list."""
    on_agenda = select(AgendaItem.referral_id).where(AgendaItem.meeting_id == meeting.id)
    query = (policy.visible_actions(viewer)
             .where(Action.referral_id.in_(on_agenda),
                    Action.status.in_(OUTSTANDING) | (Action.meeting_id == meeting.id))
             .options(*_LIST_OPTIONS).order_by(Action.due_on, Action.id))
    agency_id = policy.staff_agency_id(viewer)
    if agency_id is not None:
        query = query.where(Action.owner_agency_id == agency_id)
    return list(db.session.scalars(query))


def overdue_and_due_counts(actor: User) -> tuple[int, int]:
    """For the home page: the actor's agency's overdue actions and those due within a week (agency
    staff), or the overdue and blocked actions of the broker's partnerships."""
    on = today()
    query = policy.visible_actions(actor).where(Action.status.in_(OUTSTANDING))
    agency_id = policy.staff_agency_id(actor)
    if agency_id is not None:
        query = query.where(Action.owner_agency_id == agency_id)
        second = case((Action.due_on.between(on, on + timedelta(days=7)), 1))
    else:
        second = case((Action.status == ActionStatus.BLOCKED, 1))
    ids = query.with_only_columns(Action.id).subquery()
    overdue, other = db.session.execute(
        select(func.count(case((Action.due_on < on, 1))), func.count(second)).where(Action.id.in_(select(ids.c.id)))
    ).one()
    return overdue, other


# --- Reminders and escalation -------------------------------------------------------------------


@dataclass
class ReminderRun:
    assigned: int = 0
    due_soon: int = 0
    escalations: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})

    def __str__(self) -> str:
        return (f"due-soon digests: {self.due_soon}; overdue escalations: to the owner agency {self.escalations[1]}, "
                f"to its lead {self.escalations[2]}, to the broker {self.escalations[3]}")


def send_reminders(on: date | None = None) -> ReminderRun:
    """What cron runs daily. Idempotent: each digest and each escalation step is recorded, and never
    sent twice (a run repeated the same day sends nothing more).

    * A digest per agency of its actions falling due within three days.
    * An overdue action is escalated step by step: the owner agency (and named worker) the day after it
      was due; its lead contact ``ACTION_ESCALATE_TO_LEAD_DAYS`` later; the partnership's brokers
      ``ACTION_ESCALATE_TO_BROKER_DAYS`` later.
    Subjects name a young person by initials only.
    """
    on = on or today()
    config = current_app.config
    run = ReminderRun()
    options = (joinedload(Action.referral).joinedload(Referral.young_person),
               joinedload(Action.referral).joinedload(Referral.partnership), joinedload(Action.owner_agency),
               joinedload(Action.owner_user))
    # An agency that can no longer see the referral (consent withdrawn, taken off the panel) is not
    # reminded of it.
    owed = (select(Action).join(Referral, Action.referral_id == Referral.id)
            .where(Action.status.in_(OUTSTANDING),
                   policy.agency_sees_referral(Action.owner_agency_id, Referral.id, Referral.partnership_id)))
    due_soon = list(db.session.scalars(
        owed.where(Action.due_on.between(on, on + DUE_SOON))
        .options(*options).order_by(Action.owner_agency_id, Action.due_on)))
    by_agency: dict[int, list[Action]] = {}
    for action in due_soon:
        by_agency.setdefault(action.owner_agency_id, []).append(action)
    for actions in by_agency.values():
        agency = actions[0].owner_agency
        if not agency.contact_email:
            continue
        if outbox.queue_template("action_due_soon.txt", agency.contact_email, kind="action.due_soon",
                                 agency_id=agency.id, dedupe_key=f"action.due_soon:{agency.id}:{on.isoformat()}",
                                 agency=agency, actions=actions, by=on + DUE_SOON, label=label):
            run.due_soon += 1

    overdue = list(db.session.scalars(
        owed.where(Action.due_on < on)
        .options(*options, joinedload(Action.referral).joinedload(Referral.partnership)
                 .selectinload(Partnership.brokers))
        .order_by(Action.due_on)))
    taken = {(row.action_id, row.level) for row in db.session.scalars(
        select(ActionEscalation).where(ActionEscalation.action_id.in_([a.id for a in overdue])))} if overdue else set()
    steps = ((1, 1), (2, 1 + config["ACTION_ESCALATE_TO_LEAD_DAYS"]), (3, 1 + config["ACTION_ESCALATE_TO_BROKER_DAYS"]))
    for action in overdue:
        late = (on - action.due_on).days
        for level, after in steps:
            if late < after or (action.id, level) in taken:
                continue
            recipients = _escalation_recipients(action, level)
            db.session.add(ActionEscalation(action_id=action.id, level=level))
            for recipient in recipients:
                outbox.queue_template("action_overdue.txt", recipient, kind=f"action.overdue.{level}",
                                      agency_id=action.owner_agency_id, about=("action", action.id),
                                      dedupe_key=f"action.overdue:{action.id}:{level}:{recipient}",
                                      action=action, level=level, days_late=late, label=label(action))
            run.escalations[level] += 1
    audit.record("reminders.run", actor=None, detail={"due_soon": run.due_soon, "escalations": run.escalations})
    return run


def _escalation_recipients(action: Action, level: int) -> list[str]:
    agency = action.owner_agency
    if level == 1:
        worker = action.owner_user
        found = {agency.contact_email, worker.email if worker and worker.active else None}
    elif level == 2:
        found = {agency.lead_contact_email or agency.contact_email}
    else:
        found = {broker.email for broker in action.referral.partnership.brokers if broker.active}
    return sorted(address for address in found if address)


# --- The young person's plan --------------------------------------------------------------------


@dataclass
class Plan:
    referral: Referral
    actions: list[Action]
    milestones: list[Milestone]
    versions: list[PlanVersion]
    hidden_pathways: set[Pathway]
    steps: frozenset[str]  # what the viewer may do to the plan now: policy.PLAN_STEPS


def plan_for(viewer: User, referral: Referral) -> Plan:
    """The plan of a referral as the viewer may see it: actions (those on restricted pathways the
    viewer does not read are left out), milestones, and the versions saved so far."""
    readable = policy.readable_restricted_pathways(viewer, referral)
    actions, hidden = [], set()
    for action in actions_of(viewer, referral):
        if policy.can_read_action(viewer, action, readable):
            actions.append(action)
        else:
            hidden.add(action.pathway)
    milestones = [m for m in db.session.scalars(
        select(Milestone).where(Milestone.referral_id == referral.id).order_by(Milestone.target_on, Milestone.id))
        if policy.can_read_plan_entry(viewer, m.pathway, None, readable)]
    versions = list(db.session.scalars(
        select(PlanVersion).where(PlanVersion.referral_id == referral.id).options(joinedload(PlanVersion.created_by))
        .order_by(PlanVersion.number.desc())))
    return Plan(referral, actions, milestones, versions, hidden, policy.plan_steps(viewer, referral))


def add_milestone(actor: User, referral: Referral, description: str, target_on: date | None,
                  pathway: Pathway | None) -> Milestone:
    """A step of the plan with a target date, agreed with the young person."""
    policy.require_step(actor, policy.PLAN_STEPS, "add_milestone", referral)
    text = one_text("description", description, 500, required=_("Describe the milestone"))
    milestone = Milestone(referral_id=referral.id, pathway=pathway, description=text, target_on=target_on,
                          created_by_id=actor.id)
    db.session.add(milestone)
    db.session.flush()
    audit.record("plan.milestone", actor=actor, record_type="referral", record_id=referral.id)
    return milestone


def milestone_achieved(actor: User, referral: Referral, milestone_id: int) -> None:
    policy.require_step(actor, policy.PLAN_STEPS, "milestone_achieved", referral)
    milestone = db.session.get(Milestone, milestone_id) if 0 < milestone_id <= MAX_ID else None
    if milestone is None or milestone.referral_id != referral.id:
        raise NotFound(_("Milestone not found."))
    if milestone.achieved_on is None:
        milestone.achieved_on = today()
        audit.record("plan.milestone_achieved", actor=actor, record_type="referral", record_id=referral.id)


def save_plan_version(actor: User, referral: Referral) -> PlanVersion:
    """Keep the plan as it stands now as a new version (the plan "in pencil": earlier versions stay)."""
    policy.require_step(actor, policy.PLAN_STEPS, "save_version", referral)
    plan = plan_for(actor, referral)
    content = {
        "actions": [{"pathway": a.pathway.value, "description": a.description, "agency": a.owner_agency.name,
                     "agency_id": a.owner_agency_id, "due_on": a.due_on.isoformat(), "status": a.status.value} for a in plan.actions
                    if not a.is_cancelled],
        "milestones": [{"pathway": m.pathway.value if m.pathway else None, "description": m.description,
                        "target_on": m.target_on.isoformat() if m.target_on else None,
                        "achieved_on": m.achieved_on.isoformat() if m.achieved_on else None}
                       for m in plan.milestones],
    }
    number = (db.session.scalar(select(func.max(PlanVersion.number)).where(PlanVersion.referral_id == referral.id))
              or 0) + 1
    version = PlanVersion(referral_id=referral.id, number=number, content=content, created_by_id=actor.id)
    db.session.add(version)
    db.session.flush()
    audit.record("plan.version", actor=actor, record_type="referral", record_id=referral.id,
                 detail={"version": number})
    return version


def record_plan_shared(actor: User, referral: Referral, version_id: int, shared_on: date | None,
                       how: str | None) -> None:
    """Record when (and how) a version of the plan was shared with the young person."""
    policy.require_step(actor, policy.PLAN_STEPS, "record_shared", referral)
    version = db.session.get(PlanVersion, version_id) if 0 < version_id <= MAX_ID else None
    if version is None or version.referral_id != referral.id:
        raise NotFound(_("Plan version not found."))
    problems = Problems()
    shared_on = shared_on or today()
    if shared_on > today():
        problems.add("shared_on", _("The date must be today or in the past"))
    how = problems.text("shared_how", how, 200)
    problems.raise_if_any()
    version.shared_on, version.shared_how, version.shared_recorded_by_id = shared_on, how, actor.id
    audit.record("plan.shared", actor=actor, record_type="referral", record_id=referral.id,
                 detail={"version": version.number})


def plan_pdf(actor: User, referral: Referral, version_number: int | None = None) -> bytes:
    """"My plan": the plain-language plan for the young person (who will do what for me, by when),
    as it stands now or as a saved version. Audited."""
    plan = plan_for(actor, referral)
    version = None
    if version_number is not None:
        version = next((v for v in plan.versions if v.number == version_number), None)
        if version is None:
            raise NotFound(_("Plan version not found."))
    saved: dict[str, list[dict[str, Any]]] = {"actions": [], "milestones": []}
    if version is not None:
        # A version keeps the plan as the broker saw it; each reader gets only what they may read now.
        readable = policy.readable_restricted_pathways(actor, referral)
        saved = {key: [entry for entry in version.content.get(key, []) if policy.can_read_plan_entry(
            actor, Pathway(entry["pathway"]) if entry.get("pathway") else None, entry.get("agency_id"), readable)]
            for key in saved}
    pdf = render_pdf("pdf/plan.html", plan=plan, version=version, saved=saved, referral=referral,
                     generated_at=utcnow(), audience=referral.young_person.given_name)
    audit.record("plan.export", actor=actor, record_type="referral", record_id=referral.id,
                 detail={"version": version_number})
    return pdf


def find_actions(actor: User, *, mine: bool, page: int, per_page: int) -> tuple[list[Action], int]:
    """The API's list: the actions the actor may see (``mine``: assigned to the actor's agency)."""
    query = policy.visible_actions(actor)
    if mine:
        query = query.where(Action.owner_agency_id == (actor.agency_id or -1))
    # The grants decide who reads a restricted-pathway action's description: one query for the page.
    rows, total = page_of(query.options(*_LIST_OPTIONS, joinedload(Action.referral).selectinload(Referral.grants))
                          .order_by(Action.due_on, Action.id), page=page, per_page=per_page)
    if rows:
        audit.record("action.list", actor=actor, record_type="referral",
                     detail={"referral_ids": sorted({a.referral_id for a in rows})})
    return rows, total
