"""Service gaps: logged with evidence, escalated by the broker, answered by strategic leads.

The evidence is referrals (the young people affected), but a strategic lead only ever sees it as
figures: how many young people, how long the longest has waited, how many agencies raised it. Every
figure here is counted in SQL, so the register and the dashboard cost the same however much data
there is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, distinct, func, select
from sqlalchemy.orm import joinedload, selectinload

from panel_app import audit, policy
from panel_app.errors import Forbidden, NotFound
from panel_app.models import (
    UNRESOLVED,
    Action,
    Agency,
    GapEvent,
    GapReferral,
    GapSeverity,
    GapStatus,
    PanelMeeting,
    Partnership,
    Referral,
    ReferralStatus,
    ServiceGap,
    User,
    db,
    utcnow,
)
from panel_app.models.base import MAX_ID
from panel_app.pathways import Pathway
from panel_app.services import outbox
from panel_app.services.base import Problems, check_version, narrowed, one_text, page_of, record_change
from panel_app.services.clock import local_date, today

TITLE_MAX = 200
TEXT_MAX = 10_000
OWNER_MAX = 200


_STALE = _l("Someone else changed this gap since you opened it. Check their change, then try again.")


def _require_step(actor: User, gap: ServiceGap, step: str, version: int | None) -> None:
    """Who may take the step and in which states: ``policy.GAP_STEPS``. The version is checked
    between the two, so that a stale form says someone else changed the gap."""
    policy.require_step(actor, policy.GAP_STEPS, step, gap, before_state=lambda: check_version(gap, version, _STALE))


# --- Logging ------------------------------------------------------------------------------------


@dataclass
class NewGap:
    partnership_id: int
    pathway: Pathway
    title: str
    description: str
    severity: GapSeverity
    referral_ids: list[int] = field(default_factory=list)
    action_id: int | None = None
    meeting_id: int | None = None


def _evidence_referrals(actor: User, partnership_id: int, referral_ids: list[int],
                        problems: Problems) -> list[Referral]:
    """The referrals given as evidence: each one the actor may see, of this partnership. One the
    actor may not see is reported exactly like one that does not exist."""
    ids = sorted({i for i in referral_ids if 0 < i <= MAX_ID})
    found = {r.id: r for r in db.session.scalars(
        policy.visible_referrals(actor).where(Referral.id.in_(ids)))} if ids else {}
    for referral_id in referral_ids:
        referral = found.get(referral_id)
        if referral is None:
            problems.add("referral_ids", _("There is no referral %(id)s that you can see", id=referral_id))
        elif referral.partnership_id != partnership_id:
            problems.add("referral_ids", _("Evidence must be referrals of the gap's partnership"))
    return list(found.values())


def _waiting_since(referral: Referral, action: Action | None) -> date:
    if action is not None and action.referral_id == referral.id:
        return local_date(action.created_at)
    return referral.referred_on


def log_gap(actor: User, new: NewGap) -> ServiceGap:
    """Log a service gap with its evidence. The broker or staff of a member agency; from the referral
    page, a blocked action, or meeting mode."""
    partnership = db.session.scalar(
        policy.visible_partnerships(actor).where(Partnership.id == new.partnership_id)
    ) if 0 < new.partnership_id <= MAX_ID else None
    if partnership is None:
        raise NotFound(_("There is no partnership with that id that you work in."), {"partnership_id": _("Not found")})
    if not policy.can_log_gap_in(actor, partnership.id):
        raise Forbidden(_("Only the partnership's broker and member agencies log its service gaps."))
    problems = Problems()
    title = problems.text("title", new.title, TITLE_MAX, required=_("Give the gap a short title"))
    description = problems.text("description", new.description, TEXT_MAX,
                                required=_("Describe what is missing, full or out of reach"))
    referrals = _evidence_referrals(actor, partnership.id, new.referral_ids, problems)
    action = None
    if new.action_id is not None:
        action = db.session.scalar(policy.visible_actions(actor).where(Action.id == new.action_id)) \
            if 0 < new.action_id <= MAX_ID else None
        if action is None:
            problems.add("action_id", _("There is no action with that id that you can see"))
        elif not policy.state_allows(policy.ACTION_STEPS, "log_gap", action):
            problems.add("action_id", _("Only a blocked action becomes a service gap"))
        elif action.referral.partnership_id != partnership.id:
            problems.add("action_id", _("The action must be one of this partnership's"))
    if new.meeting_id is not None and db.session.scalar(policy.visible_meetings(actor).where(
            PanelMeeting.id == new.meeting_id, PanelMeeting.partnership_id == partnership.id)
    ) is None:
        problems.add("meeting_id", _("There is no meeting of this partnership with that id that you can see"))
    problems.raise_if_any()
    gap = ServiceGap(partnership_id=partnership.id, pathway=new.pathway, title=title, description=description,
                     severity=new.severity, status=GapStatus.OPEN, logged_by_id=actor.id,
                     logged_by_agency_id=actor.agency_id, source_action_id=action.id if action else None,
                     source_meeting_id=new.meeting_id)
    db.session.add(gap)
    evidence = {r.id: r for r in referrals}
    if action is not None:
        evidence.setdefault(action.referral_id, action.referral)
    for referral in evidence.values():
        gap.evidence.append(GapReferral(referral_id=referral.id, waiting_since=_waiting_since(referral, action),
                                        added_by_id=actor.id, added_by_agency_id=actor.agency_id))
    db.session.flush()
    record_change(gap, actor, "gap.log", kind="logged", status_to=GapStatus.OPEN,
                  audit_detail={"referral_ids": sorted(evidence)})
    return gap


def add_evidence(actor: User, gap: ServiceGap, referral_id: int, waiting_since: date | None = None) -> None:
    """Another young person affected by the gap."""
    policy.require_step(actor, policy.GAP_STEPS, "add_evidence", gap)
    problems = Problems()
    [referral] = _evidence_referrals(actor, gap.partnership_id, [referral_id], problems) or [None]
    if referral is not None and any(e.referral_id == referral.id for e in gap.evidence):
        problems.add("referral_ids", _("This young person is already evidence of the gap"))
    if waiting_since is not None and waiting_since > today():
        problems.add("waiting_since", _("The date must be today or in the past"))
    problems.raise_if_any()
    assert referral is not None
    gap.evidence.append(GapReferral(referral_id=referral.id, waiting_since=waiting_since or referral.referred_on,
                                    added_by_id=actor.id, added_by_agency_id=actor.agency_id))
    gap.updated_at = utcnow()
    record_change(gap, actor, "gap.evidence", kind="evidence_added", audit_detail={"referral_ids": [referral.id]})


# --- Escalation and response --------------------------------------------------------------------


def escalate(actor: User, gap: ServiceGap, note: str | None, version: int | None = None) -> None:
    """The broker escalates a gap to the region's strategic leads, who are emailed."""
    _require_step(actor, gap, "escalate", version)
    note = one_text("note", note, TEXT_MAX, required=_("Say what you are asking the strategic lead for"))
    gap.status, gap.escalated_at = GapStatus.ESCALATED, utcnow()
    record_change(gap, actor, "gap.escalate", kind="escalated", note=note, status_from=GapStatus.OPEN,
                  status_to=GapStatus.ESCALATED)
    evidence = evidence_of([gap.id])[gap.id]
    for lead in db.session.scalars(policy.gap_responders(gap)):
        outbox.queue_template("gap_escalated.txt", lead.email, kind="gap.escalated", about=("gap", gap.id),
                              sent_by=actor, gap=gap, evidence=evidence, note=note,
                              dedupe_key=f"gap.escalated:{gap.id}:{gap.escalated_at.isoformat()}:{lead.id}")


# Where a lead's response may leave a gap (one policy.GAP_STEPS lets them respond to), in the order
# the response form and the API's document offer them.
RESPONSE_STATUSES = (GapStatus.IN_PROGRESS, GapStatus.RESOLVED, GapStatus.ACCEPTED)


def respond(actor: User, gap: ServiceGap, response: str, status: GapStatus, owner: str | None,
            target_on: date | None, version: int | None = None) -> None:
    """The strategic lead answers an escalated gap: an owner and a target date, and whether it is in
    progress, resolved, or accepted as a risk. The broker and the raising agency are emailed."""
    _require_step(actor, gap, "respond", version)
    problems = Problems()
    if status not in RESPONSE_STATUSES:
        problems.add("status", _("Choose in progress, resolved or accepted as a risk"))
    response = problems.text("response", response, TEXT_MAX, required=_("Write your response"))
    owner = problems.text("owner", owner, OWNER_MAX,
                          required=_("Say who owns it") if status is GapStatus.IN_PROGRESS else None)
    if status is GapStatus.IN_PROGRESS and target_on is None:
        problems.add("target_on", _("Give a target date"))
    if target_on is not None and target_on < today():
        problems.add("target_on", _("The target date must be today or later"))
    problems.raise_if_any()
    before = gap.status
    gap.status, gap.owner, gap.target_on, gap.responded_at = status, owner or gap.owner, target_on or gap.target_on, utcnow()
    if status in (GapStatus.RESOLVED, GapStatus.ACCEPTED):
        gap.closed_at = utcnow()
    record_change(gap, actor, "gap.respond", kind="response", note=response, status_from=before, status_to=status,
                  owner=owner, target_on=target_on, audit_detail={"status": status.value})
    recipients = {b.email for b in gap.partnership.brokers if b.active}
    if gap.logged_by_agency is not None and gap.logged_by_agency.contact_email:
        recipients.add(gap.logged_by_agency.contact_email)
    for recipient in sorted(recipients):
        outbox.queue_template("gap_response.txt", recipient, kind="gap.response", about=("gap", gap.id),
                              sent_by=actor, gap=gap, responder=actor, response=response)


def reopen(actor: User, gap: ServiceGap, note: str | None, version: int | None = None) -> None:
    """The broker reopens a resolved gap, or one accepted as a risk, when it comes back."""
    _require_step(actor, gap, "reopen", version)
    note = one_text("note", note, TEXT_MAX, required=_("Say why it is reopened"))
    before = gap.status
    gap.status, gap.closed_at, gap.escalated_at = GapStatus.OPEN, None, None
    record_change(gap, actor, "gap.reopen", kind="reopened", note=note, status_from=before, status_to=GapStatus.OPEN)


# --- Evidence as figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    young_people: int = 0
    longest_wait_days: int = 0
    agencies: int = 0


def evidence_of(gap_ids: list[int]) -> dict[int, Evidence]:
    """For each gap: how many young people, how long the longest has waited (to today, or to when the
    gap was closed), how many agencies raised it. One query for them all."""
    found = {gap_id: Evidence() for gap_id in gap_ids}
    if not gap_ids:
        return found
    on = today()
    query = (select(GapReferral.gap_id, func.count(distinct(Referral.young_person_id)),
                    func.min(GapReferral.waiting_since), func.count(distinct(GapReferral.added_by_agency_id)))
             .join(Referral, GapReferral.referral_id == Referral.id)
             .where(GapReferral.gap_id.in_(gap_ids))
             .group_by(GapReferral.gap_id))
    closed = dict(db.session.execute(select(ServiceGap.id, ServiceGap.closed_at).where(ServiceGap.id.in_(gap_ids))).all())
    raisers = dict(db.session.execute(select(ServiceGap.id, ServiceGap.logged_by_agency_id)
                                      .where(ServiceGap.id.in_(gap_ids))).all())
    for gap_id, young_people, since, agencies in db.session.execute(query):
        until = local_date(closed[gap_id]) if closed.get(gap_id) else on
        # The agency that logged it counts too, when it added no evidence itself.
        found[gap_id] = Evidence(young_people, max(0, (until - since).days) if since else 0,
                                 max(agencies, 1 if raisers.get(gap_id) else 0))
    return found


# --- Finding gaps -------------------------------------------------------------------------------


@dataclass
class GapFilters:
    partnership_id: int | None = None
    pathway: Pathway | None = None
    status: GapStatus | None = None
    severity: GapSeverity | None = None


def _filtered(actor: User, filters: GapFilters) -> Select[tuple[ServiceGap]]:
    return narrowed(policy.visible_gaps(actor), (ServiceGap.partnership_id, filters.partnership_id),
                    (ServiceGap.pathway, filters.pathway), (ServiceGap.status, filters.status),
                    (ServiceGap.severity, filters.severity))


_SEVERITY_ORDER = case({"critical": 0, "high": 1, "medium": 2, "low": 3}, value=ServiceGap.severity)


def register(actor: User, filters: GapFilters, *, page: int = 1, per_page: int = 50
             ) -> tuple[list[tuple[ServiceGap, Evidence]], int]:
    """The gap register: unresolved first, the most severe first, with each gap's evidence as figures."""
    rows, total = page_of(_filtered(actor, filters).options(joinedload(ServiceGap.partnership))
                          .order_by(case((ServiceGap.status.in_(UNRESOLVED), 0), else_=1), _SEVERITY_ORDER,
                                    ServiceGap.logged_at), page=page, per_page=per_page)
    evidence = evidence_of([gap.id for gap in rows])
    return [(gap, evidence[gap.id]) for gap in rows], total


def review_queue(actor: User) -> list[tuple[ServiceGap, Evidence]]:
    """A strategic lead's escalated gaps across their region, the longest waiting first."""
    rows = list(db.session.scalars(
        policy.visible_gaps(actor).where(ServiceGap.status == GapStatus.ESCALATED)
        .options(joinedload(ServiceGap.partnership)).order_by(ServiceGap.escalated_at).limit(200)))
    evidence = evidence_of([gap.id for gap in rows])
    return [(gap, evidence[gap.id]) for gap in rows]


def get_gap(actor: User, gap_id: int) -> ServiceGap:
    gap = db.session.scalar(
        policy.visible_gaps(actor).where(ServiceGap.id == gap_id)
        .options(joinedload(ServiceGap.partnership).selectinload(Partnership.brokers),
                 joinedload(ServiceGap.logged_by_agency),
                 selectinload(ServiceGap.evidence).joinedload(GapReferral.referral).joinedload(Referral.young_person),
                 selectinload(ServiceGap.events).joinedload(GapEvent.by))
    ) if 0 < gap_id <= MAX_ID else None
    if gap is None:
        raise NotFound(_("Service gap not found."))
    return gap


@dataclass
class GapView:
    """A gap as one person sees it: the evidence in figures, and (for case workers) the young people
    among it they may see, by name."""

    gap: ServiceGap
    evidence: Evidence
    named: list[Referral]
    unnamed: int
    raised_by: list[str]
    steps: frozenset[str]  # what the viewer may do to it now: policy.GAP_STEPS
    sees_young_people: bool  # a case worker (leads and admins see figures only)


def view_of(actor: User, gap: ServiceGap) -> GapView:
    evidence = evidence_of([gap.id])[gap.id]
    named: list[Referral] = []
    if policy.sees_young_people(actor) and gap.evidence:
        visible = set(db.session.scalars(policy.visible_referrals(actor).where(
            Referral.id.in_([e.referral_id for e in gap.evidence])).with_only_columns(Referral.id)))
        named = [e.referral for e in gap.evidence if e.referral_id in visible]
    agency_ids = {e.added_by_agency_id for e in gap.evidence if e.added_by_agency_id} | (
        {gap.logged_by_agency_id} if gap.logged_by_agency_id else set())
    raised = sorted(db.session.scalars(select(Agency.name).where(Agency.id.in_(agency_ids)))) if agency_ids else []
    if named:
        audit.record("gap.view", actor=actor, record_type="gap", record_id=gap.id,
                     detail={"referral_ids": [r.id for r in named]})
    return GapView(gap, evidence, named, evidence.young_people - len({r.young_person_id for r in named}), raised,
                   steps=policy.gap_steps(actor, gap), sees_young_people=policy.sees_young_people(actor))


def referrals_for_evidence(actor: User, partnership_id: int) -> list[Referral]:
    """The open referrals of a partnership the actor may see, to choose evidence from (their names
    are shown: audited)."""
    rows = list(db.session.scalars(
        policy.visible_referrals(actor).where(Referral.partnership_id == partnership_id,
                                              Referral.status.in_([ReferralStatus.SUBMITTED, ReferralStatus.ACCEPTED,
                                                                   ReferralStatus.ACTIVE]))
        .options(joinedload(Referral.young_person), joinedload(Referral.partnership)).order_by(Referral.id)))
    if rows:
        audit.record("referral.list", actor=actor, record_type="referral",
                     detail={"referral_ids": [r.id for r in rows], "for": "gap evidence"})
    return rows


def partnerships_to_log_in(actor: User) -> list[Partnership]:
    return list(db.session.scalars(policy.gap_logging_partnerships(actor)))

@dataclass
class Source:
    """What a new gap is prefilled from: a referral, a blocked action, a meeting."""

    partnership_id: int | None = None
    referral_ids: list[int] = field(default_factory=list)
    pathway: Pathway | None = None
    action_id: int | None = None
    meeting_id: int | None = None
    title: str | None = None


def record_id_from(raw: str | None) -> int | None:
    """An id from a query string (``?referral=12``), or None for anything that cannot be one."""
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) <= MAX_ID else None


def prefill(actor: User, referral: str | None, action: str | None, meeting: str | None) -> Source:
    """Prefill a new gap from where it was logged. Anything the actor may not see is ignored, exactly
    as if it did not exist."""
    source = Source()
    action_id, referral_id, meeting_id = record_id_from(action), record_id_from(referral), record_id_from(meeting)
    if action_id is not None:
        found = db.session.scalar(policy.visible_actions(actor).where(Action.id == action_id))
        if found is not None:
            source = Source(found.referral.partnership_id, [found.referral_id], found.pathway, found.id,
                            title=_("Blocked: %(pathway)s", pathway=found.pathway.label))
    elif referral_id is not None:
        found_referral = db.session.scalar(policy.visible_referrals(actor).where(Referral.id == referral_id))
        if found_referral is not None:
            source = Source(found_referral.partnership_id, [found_referral.id])
    if meeting_id is not None and db.session.scalar(
            policy.visible_meetings(actor).where(PanelMeeting.id == meeting_id)) is not None:
        source.meeting_id = meeting_id
    return source


def counts(actor: User) -> tuple[int, int]:
    """For a strategic lead's home page: escalated gaps waiting, and unresolved gaps, in their region."""
    ids = policy.visible_gaps(actor).with_only_columns(ServiceGap.id).subquery()
    escalated, unresolved = db.session.execute(select(
        func.count(case((ServiceGap.status == GapStatus.ESCALATED, 1))),
        func.count(case((ServiceGap.status.in_(UNRESOLVED), 1)))).where(ServiceGap.id.in_(select(ids.c.id)))).one()
    return escalated, unresolved
