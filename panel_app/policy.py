"""Who may see and do what: the one place that decides access.

Two kinds of decision live here:

* **Route rules.** Every endpoint of the application is listed in ``ROUTE_RULES`` with the rule a
  caller must meet before its view runs (public, signed in, or one of some roles). The doors enforce
  it before every request; an endpoint that is not listed is refused, and a test walks the URL map
  so that a new route cannot ship undeclared.
* **Steps.** Per kind of record, a table of what may be done to one record (``REFERRAL_STEPS``...):
  for each step, who may take it and in which states of the record. ``*_steps(user, record)`` says
  which steps this person may take now (the pages and the API show buttons from it), and
  ``require_step`` is what the services call before they act (403 or 422, from the same table).
  Templates, web views and API views never compare a role or a status themselves.
* **Scopes and object rules.** ``visible_*`` functions return SQL ``Select`` statements holding
  only what the caller may reach, so lists, counts and look-ups filter in the database through the
  same query; ``can_*`` functions answer for one loaded object.

This module reads models only. It never writes and never renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select

from panel_app.clock import today
from panel_app.errors import Forbidden, RuleBroken
from panel_app.models import (
    OUTSTANDING,
    UNRESOLVED,
    AccessReason,
    AccountLink,
    Action,
    ActionStatus,
    Agency,
    AgendaItem,
    AgendaNote,
    Consent,
    GapStatus,
    LinkPurpose,
    MeetingStatus,
    OutboxEmail,
    PanelMeeting,
    Partnership,
    Referral,
    ReferralAccess,
    ReferralStatus,
    Region,
    Role,
    ServiceGap,
    UpdateRequest,
    User,
    db,
    utcnow,
)
from panel_app.models.people import partnership_agency, partnership_broker
from panel_app.pathways import RESTRICTED_PATHWAYS, Pathway


# --- Route rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteRule:
    """What a caller must be before a view runs. ``roles`` empty means any signed-in person.

    ``refusal`` is the status a signed-in caller of another role gets: 403 where the page's
    existence is no secret, 404 on routes that name a record (a young person's referral), so that
    a refusal never confirms that the record exists.
    """

    public: bool = False
    roles: frozenset[Role] = frozenset()
    refusal: int = 403

    def admits(self, user: User | None) -> bool:
        if self.public:
            return True
        if user is None or not user.active:
            return False
        return not self.roles or user.role in self.roles


PUBLIC = RouteRule(public=True)
SIGNED_IN = RouteRule()


def only(*roles: Role) -> RouteRule:
    return RouteRule(roles=frozenset(roles))


def record_of(*roles: Role) -> RouteRule:
    """A route naming one record: other roles get the 404 an absent record would get."""
    return RouteRule(roles=frozenset(roles), refusal=404)


# Referrals are case work: brokers and agency staff only. Strategic leads and admins never see a
# young person's identity.
CASE_WORKERS = only(Role.BROKER, Role.AGENCY_STAFF)
CASE_RECORD = record_of(Role.BROKER, Role.AGENCY_STAFF)
# The gap register's report (figures, never a young person): the brokers and the strategic leads.
GAP_REPORT_READERS = only(Role.BROKER, Role.STRATEGIC_LEAD)


ROUTE_RULES: dict[str, RouteRule] = {
    # Assets, health check, sign-in and the API's front door need nobody signed in.
    "static": PUBLIC,
    "meta.healthz": PUBLIC,
    "auth.sign_in": PUBLIC,
    # Single-use links authenticate by the secret in their URL (the person has no password yet, or has
    # forgotten it); asking for a reset link answers the same whoever asks.
    "auth.welcome": PUBLIC,
    "auth.reset_password": PUBLIC,
    "auth.forgotten_password": PUBLIC,
    "api.issue_token": PUBLIC,
    "api.openapi_document": PUBLIC,
    # Signed in, whatever the role; what each page shows is scoped below.
    "auth.sign_out": SIGNED_IN,
    "home.index": SIGNED_IN,
    "api.me": SIGNED_IN,
    "api.pathways": SIGNED_IN,
    "api.partnerships_list": SIGNED_IN,
    # Referrals: who may do what to which referral is decided per record below (can_*).
    "referrals.index": CASE_WORKERS,
    "referrals.new": CASE_WORKERS,
    "referrals.triage": only(Role.BROKER),
    "referrals.show": CASE_RECORD,
    "referrals.accept": CASE_RECORD,
    "referrals.decline": CASE_RECORD,
    "referrals.request_information": CASE_RECORD,
    "referrals.provide_information": CASE_RECORD,
    "referrals.share": CASE_RECORD,
    "referrals.change_stage": CASE_RECORD,
    "referrals.rate_needs": CASE_RECORD,
    "referrals.close": CASE_RECORD,
    "referrals.record_consent": CASE_RECORD,
    "referrals.withdraw_consent": CASE_RECORD,
    # The API scopes its lists and records itself: a lead's list is empty, a lead's look-up a 404.
    "api.referrals_list": SIGNED_IN,
    "api.referral_create": SIGNED_IN,
    "api.referral_detail": SIGNED_IN,
    "api.referral_share": SIGNED_IN,
    "api.referral_accept": SIGNED_IN,
    "api.referral_decline": SIGNED_IN,
    # Meetings: the partnership's members (its brokers and member agencies' staff); what each sees of
    # the agenda is scoped per case below.
    "meetings.index": CASE_WORKERS,
    "meetings.new": only(Role.BROKER),
    "meetings.show": CASE_RECORD,
    "meetings.edit": CASE_RECORD,
    "meetings.cancel": CASE_RECORD,
    "meetings.agenda": CASE_RECORD,
    "meetings.agenda_add": CASE_RECORD,
    "meetings.agenda_item": CASE_RECORD,
    "meetings.request_updates": CASE_RECORD,
    "meetings.send_update": CASE_RECORD,
    "meetings.young_person_views": CASE_RECORD,
    "meetings.run": CASE_RECORD,
    "meetings.attendance": CASE_RECORD,
    "meetings.save_notes": CASE_RECORD,
    "meetings.rate_needs": CASE_RECORD,
    "meetings.mark_held": CASE_RECORD,
    "meetings.send_packs": CASE_RECORD,
    "meetings.minutes": CASE_RECORD,
    "meetings.pack_pdf": CASE_RECORD,
    "meetings.minutes_pdf": CASE_RECORD,
    "meetings.invite_ics": CASE_RECORD,
    "meetings.create_action": CASE_RECORD,
    "meetings.actions_pdf": CASE_RECORD,
    # Actions: what an agency owes; the broker's follow-up; the young person's plan.
    "actions.mine": only(Role.AGENCY_STAFF),
    "actions.follow_up": only(Role.BROKER),
    "actions.show": CASE_RECORD,
    "actions.update": CASE_RECORD,
    "actions.review": CASE_RECORD,
    "actions.create": CASE_RECORD,
    "actions.plan": CASE_RECORD,
    "actions.add_milestone": CASE_RECORD,
    "actions.milestone_achieved": CASE_RECORD,
    "actions.save_version": CASE_RECORD,
    "actions.plan_shared": CASE_RECORD,
    "actions.plan_pdf": CASE_RECORD,
    "api.action_create": SIGNED_IN,
    "api.actions_list": SIGNED_IN,
    "api.action_detail": SIGNED_IN,
    "api.action_update": SIGNED_IN,
    # Service gaps: the register is for the partnership's members and the region's strategic leads;
    # leads see figures, never a young person.
    "gaps.register": only(Role.BROKER, Role.AGENCY_STAFF, Role.STRATEGIC_LEAD),
    "gaps.new": CASE_WORKERS,
    "gaps.show": record_of(Role.BROKER, Role.AGENCY_STAFF, Role.STRATEGIC_LEAD),
    "gaps.add_evidence": CASE_RECORD,
    "gaps.escalate": CASE_RECORD,
    "gaps.reopen": CASE_RECORD,
    "gaps.respond": record_of(Role.STRATEGIC_LEAD),
    "gaps.review": only(Role.STRATEGIC_LEAD),
    "gaps.dashboard": GAP_REPORT_READERS,
    "gaps.report_pdf": GAP_REPORT_READERS,
    "gaps.register_csv": GAP_REPORT_READERS,
    "api.gap_create": SIGNED_IN,
    "api.gaps_list": SIGNED_IN,
    "api.gap_detail": SIGNED_IN,
    "api.gap_escalate": SIGNED_IN,
    "api.gap_response": SIGNED_IN,
    "api.gaps_report": SIGNED_IN,
    "calendar.settings": SIGNED_IN,
    # A person's own sessions, tokens and password: only ever their own (scoped in the services).
    "account.show": SIGNED_IN,
    "account.sign_out_elsewhere": SIGNED_IN,
    "account.revoke_token": SIGNED_IN,
    "account.change_password": SIGNED_IN,
    # The feed authenticates by the secret in its URL (calendar programs cannot sign in).
    "calendar.feed": PUBLIC,
    "api.meetings_list": SIGNED_IN,
    "api.meeting_create": SIGNED_IN,
    "api.meeting_detail": SIGNED_IN,
    "api.meeting_agenda_add": SIGNED_IN,
    "api.meeting_invite": SIGNED_IN,
    "api.meeting_pack": SIGNED_IN,
    "api.meeting_minutes": SIGNED_IN,
    # Emails that have not gone: each person sees those policy.visible_emails allows.
    "emails.undelivered": SIGNED_IN,
    # Running the installation: people's accounts are the administrator's; a broker may invite the
    # staff of their partnerships' member agencies (PERSON_STEPS and the invitable_* scopes say whom).
    "people.index": only(Role.ADMIN),
    "people.show": only(Role.ADMIN),
    "people.invite": only(Role.ADMIN, Role.BROKER),
    "people.resend_invitation": only(Role.ADMIN),
    "people.revoke_invitation": only(Role.ADMIN),
    "people.deactivate": only(Role.ADMIN),
    "people.reactivate": only(Role.ADMIN),
    "agencies.index": only(Role.ADMIN),
    "agencies.new": only(Role.ADMIN),
    "agencies.edit": only(Role.ADMIN),
    "partnerships.index": only(Role.ADMIN),
    "partnerships.new": only(Role.ADMIN),
    "partnerships.edit": only(Role.ADMIN),
}


def may_open(user: User | None, endpoint: str) -> bool:
    """Whether a page's route rule admits this person (to offer a link to it, or not)."""
    rule = ROUTE_RULES.get(endpoint)
    return rule is not None and rule.admits(user)


def can_get_gap_report(user: User) -> bool:
    return GAP_REPORT_READERS.admits(user)


def runs_installation(user: User) -> bool:
    """An admin: manages the installation (people, partnerships), works in no partnership."""
    return user.role is Role.ADMIN


def require_runs_installation(user: User) -> None:
    """What a service changing the installation (agencies, partnerships) calls first: 403 for
    anyone but an administrator."""
    if not runs_installation(user):
        raise Forbidden(str(_l("Only an administrator can do this.")))


def oversees_region(user: User) -> bool:
    """A strategic lead: oversees the gaps of their region's partnerships, sees figures only."""
    return user.role is Role.STRATEGIC_LEAD


# Which home page each role gets (``templates/home/<name>.html``): what that role needs first.
_HOMES = {Role.BROKER: "broker", Role.AGENCY_STAFF: "agency_staff", Role.STRATEGIC_LEAD: "strategic_lead",
          Role.ADMIN: "admin"}


def home_of(user: User) -> str:
    """The name of the home page a person gets: a broker's caseload and panels, an agency's
    referrals and actions, a strategic lead's escalated gaps, an admin's installation."""
    return _HOMES[user.role]


def route_rule(endpoint: str | None) -> RouteRule | None:
    """The rule declared for an endpoint, or ``None`` when it has none (the doors refuse it)."""
    if endpoint is None:
        return None
    return ROUTE_RULES.get(endpoint)


# --- Scopes -------------------------------------------------------------------------------------


def visible_partnerships(user: User) -> Select[tuple[Partnership]]:
    """The partnerships a person works in.

    A broker: those they broker. Agency staff: those their agency is a member of. A strategic lead:
    those of their region. An admin manages the installation and works in none.
    """
    query = select(Partnership).order_by(Partnership.name)
    if user.role is Role.BROKER:
        return query.join(partnership_broker).where(partnership_broker.c.user_id == user.id)
    if user.role is Role.AGENCY_STAFF and user.agency_id is not None:
        return query.join(partnership_agency).where(partnership_agency.c.agency_id == user.agency_id)
    if user.role is Role.STRATEGIC_LEAD and user.region_id is not None:
        return query.where(Partnership.region_id == user.region_id)
    return query.where(false())


def brokered_partnership_ids(user: User) -> Select[tuple[int]]:
    return select(partnership_broker.c.partnership_id).where(partnership_broker.c.user_id == user.id)


def agency_partnership_ids(agency_id: int) -> Select[tuple[int]]:
    return select(partnership_agency.c.partnership_id).where(partnership_agency.c.agency_id == agency_id)


def visible_referrals(user: User) -> Select[tuple[Referral]]:
    """The referrals a person may see (docs/domain.md, "Who may see what").

    A broker: every referral of the partnerships they broker. Agency staff: a referral their agency
    holds a live grant on (it referred, holds an action, or the broker shared it under consent),
    in a partnership their agency still sits on. Strategic leads and admins: none, ever.
    Withdrawn consent revokes every grant but the referrer's, so the circle narrows here too.
    """
    query = select(Referral)
    if user.role is Role.BROKER:
        return query.where(Referral.partnership_id.in_(brokered_partnership_ids(user)))
    if user.role is Role.AGENCY_STAFF and user.agency_id is not None:
        return query.where(agency_sees_referral(user.agency_id, Referral.id, Referral.partnership_id))
    return query.where(false())


def agency_sees_referral(agency_id: Any, referral_id: Any, partnership_id: Any) -> ColumnElement[bool]:
    """As SQL: whether an agency's staff see a referral (its id and its partnership's, as columns or
    values): the agency holds a live grant on it and still sits on the partnership. The rule of
    ``visible_referrals`` for agency staff, for a query that asks it of many agencies at once (the
    daily reminders: an agency that no longer sees a referral is not reminded of it)."""
    granted = exists().where(
        ReferralAccess.referral_id == referral_id,
        ReferralAccess.agency_id == agency_id,
        ReferralAccess.revoked_at.is_(None),
    )
    sits_on_panel = exists().where(
        partnership_agency.c.agency_id == agency_id,
        partnership_agency.c.partnership_id == partnership_id,
    )
    return and_(granted, sits_on_panel)


def known_young_people(user: User) -> Select[tuple[int]]:
    """Ids of the young people a person already knows: those of a referral they may see.

    Referring asks this before it links a new referral to an existing young person: matching by
    name and date of birth must never reveal, or change, a child the referrer could not see.
    """
    return visible_referrals(user).with_only_columns(Referral.young_person_id)


def can_change_young_person(user: User, young_person_id: int, partnership_id: int) -> bool:
    """Who may fill in a young person's details (contact, references, pronouns, language).

    The broker of their partnership, and agency staff whose agency holds a live grant on one of
    their open referrals (it is working with the child now). Nobody else, whatever they type.
    """
    if user.role is Role.BROKER:
        return is_broker_of(user, partnership_id)
    if user.role is not Role.AGENCY_STAFF or user.agency_id is None:
        return False
    working = visible_referrals(user).where(
        Referral.young_person_id == young_person_id,
        Referral.status.in_([ReferralStatus.SUBMITTED, ReferralStatus.ACCEPTED, ReferralStatus.ACTIVE]),
    ).with_only_columns(Referral.id).limit(1)
    return db.session.scalar(working) is not None


def is_broker_of(user: User, partnership_id: int) -> bool:
    return user.role is Role.BROKER and any(p.id == partnership_id for p in user.brokered_partnerships)


def can_refer_to(user: User, partnership: Partnership) -> bool:
    """Brokers refer into the partnerships they broker; agency staff into those their agency sits on."""
    if user.role is Role.BROKER:
        return is_broker_of(user, partnership.id)
    if user.role is Role.AGENCY_STAFF and user.agency_id is not None:
        return any(agency.id == user.agency_id for agency in partnership.agencies)
    return False


def names_referring_agency(user: User) -> bool:
    """Brokers refer on a member agency's behalf and name it; agency staff refer for their own."""
    return user.role is Role.BROKER


def staff_agency_id(user: User) -> int | None:
    """The agency a person works for as its staff: whose actions are theirs to do (their "My
    actions"), whose updates before a panel they send. ``None`` for brokers, strategic leads and
    admins, who work for no agency here."""
    return user.agency_id if user.role is Role.AGENCY_STAFF else None


def is_referrer(user: User, referral: Referral) -> bool:
    """Staff of the agency that made the referral (the referring case manager's team)."""
    return user.role is Role.AGENCY_STAFF and user.agency_id == referral.referring_agency_id


def can_manage_referral(user: User, referral: Referral) -> bool:
    """Triage, share, change stage, re-rate needs, record consent, close: the broker's work."""
    return is_broker_of(user, referral.partnership_id)


def can_withdraw_consent(user: User, referral: Referral) -> bool:
    """The broker, or the referring agency (it is often the first to hear)."""
    return can_manage_referral(user, referral) or is_referrer(user, referral)


def can_provide_information(user: User, referral: Referral) -> bool:
    return is_referrer(user, referral)


def consent_covers(referral: Referral, agency_id: int) -> bool:
    """Whether the young person's consent in force lets the referral be shared with this agency."""
    consent = referral.consent
    return consent is not None and consent.covers(agency_id)


def may_hold_action(referral: Referral, agency_id: int) -> bool:
    """Whether an action on this referral may go to this agency (holding one grants it access): the
    referring agency, or one the young person's consent covers."""
    return agency_id == referral.referring_agency_id or consent_covers(referral, agency_id)


def keeps_access(grant: ReferralAccess, consent: Consent) -> bool:
    """Whether a live grant outlives a consent just recorded or withdrawn: the referrer's always does
    (the circle narrows back to the referrer and the broker); any other only while the consent covers
    its agency."""
    return grant.reason is AccessReason.REFERRED or consent.covers(grant.agency_id)


# --- Steps: what a person may do to one record now ---------------------------------------------

Record = TypeVar("Record")


@dataclass(frozen=True)
class Step(Generic[Record]):
    """One thing that may be done to a record: ``who`` may take it, ``when`` the record allows it.

    ``refused`` is what a person who may see the record but not take the step is told (403);
    ``not_now`` what anyone is told when the record's state does not allow it (422).
    """

    who: Callable[[User, Record], bool]
    when: Callable[[Record], bool]
    # A lazy string (translated when the error is raised, in the caller's language), or a function
    # of the record giving one, for a state refused for more than one reason.
    not_now: Any
    refused: Any = _l("This is not yours to do.")


StepTable = Mapping[str, Step[Any]]


def in_status(*statuses: Any) -> Callable[[Any], bool]:
    """A ``when`` that holds while the record's status is one of ``statuses``."""
    allowed = frozenset(statuses)
    return lambda record: record.status in allowed


def steps_of(user: User, table: StepTable, record: Any) -> frozenset[str]:
    """The steps of ``table`` this person may take on this record now (who and state both hold)."""
    return frozenset(name for name, step in table.items() if step.who(user, record) and step.when(record))


def may_take(user: User, table: StepTable, step: str, record: Any) -> bool:
    """Whether this person may take the step on this record now."""
    rule = table[step]
    return rule.who(user, record) and rule.when(record)


def require_person(user: User, table: StepTable, step: str, record: Any) -> None:
    """Forbidden unless this person is one who may take the step (whatever the record's state)."""
    rule = table[step]
    if not rule.who(user, record):
        raise Forbidden(str(rule.refused))


def require_step(user: User, table: StepTable, step: str, record: Any, *,
                 before_state: Callable[[], object] | None = None) -> None:
    """What a service calls before it takes a step: 403 when the person may not take it, 422 when
    the record's state does not allow it. ``before_state`` runs between the two (the check that
    the form was read from the current version: a stale form deserves "someone else changed it",
    not a state error that the person could not understand)."""
    require_person(user, table, step, record)
    if before_state is not None:
        before_state()
    rule = table[step]
    if not rule.when(record):
        raise RuleBroken(str(_why_not_now(rule, record)))


def _always(record: Any) -> bool:
    return True


def _why_not_now(rule: Step[Any], record: Any) -> Any:
    return rule.not_now(record) if callable(rule.not_now) else rule.not_now


def why_not_now(table: StepTable, step: str, record: Any) -> str | None:
    """Why the record's state does not allow the step now (what a page says in place of its
    buttons), or ``None`` when it does."""
    rule = table[step]
    return None if rule.when(record) else str(_why_not_now(rule, record))


def _referral_broker(user: User, referral: Referral) -> bool:
    return can_manage_referral(user, referral)


def _broker_or_referrer(user: User, referral: Referral) -> bool:
    return can_manage_referral(user, referral) or is_referrer(user, referral)


def awaiting_information(referral: Referral) -> bool:
    """The broker asked the referrer something while triaging, and no answer has come yet (accepting
    or declining ends the question)."""
    return referral.information_requested is not None and referral.status is ReferralStatus.SUBMITTED


def _consent_in_force(referral: Referral) -> bool:
    return referral.consent is not None and referral.consent.in_force


_TRIAGE = in_status(ReferralStatus.SUBMITTED)
# The referrals the panel works on: accepted, or active (discussed at a panel, or given a stage).
_WORKING_STATUSES = (ReferralStatus.ACCEPTED, ReferralStatus.ACTIVE)
_WORKING = in_status(*_WORKING_STATUSES)
_OPEN = in_status(ReferralStatus.SUBMITTED, ReferralStatus.ACCEPTED, ReferralStatus.ACTIVE)
_BROKERS_ONLY = _l("Only the partnership's broker can do this.")

# Who may do what to a referral, and when. Changing who may close a referral is one edit here: the
# service, the page's button, the form and the API all follow.
REFERRAL_STEPS: dict[str, Step[Referral]] = {
    "accept": Step(_referral_broker, _TRIAGE, _l("Only a submitted referral can be accepted."), _BROKERS_ONLY),
    "decline": Step(_referral_broker, _TRIAGE, _l("Only a submitted referral can be declined."), _BROKERS_ONLY),
    "request_information": Step(
        _referral_broker, _TRIAGE,
        _l("More information can only be asked for while the referral is being triaged."), _BROKERS_ONLY),
    "provide_information": Step(is_referrer, awaiting_information,
                                _l("The broker has not asked for more information."),
                                _l("Only the referring agency can answer the broker's question.")),
    "share": Step(_referral_broker, _WORKING, _l("Accept the referral before sharing it."), _BROKERS_ONLY),
    "change_stage": Step(_referral_broker, _WORKING, _l("Only an accepted or active referral has a stage."),
                         _BROKERS_ONLY),
    "rate_needs": Step(_referral_broker, _OPEN,
                       _l("This referral is closed: its needs can no longer be re-rated."), _BROKERS_ONLY),
    "record_consent": Step(_referral_broker, _OPEN,
                           _l("This referral is closed: consent can no longer be recorded."), _BROKERS_ONLY),
    "withdraw_consent": Step(_broker_or_referrer, _consent_in_force, _l("There is no consent in force to withdraw."),
                             _l("Only the broker or the referring agency can record a withdrawal of consent.")),
    "close": Step(_referral_broker, _WORKING,
                  _l("Only an accepted or active referral can be closed. Decline a submitted one instead."),
                  _BROKERS_ONLY),
    "record_action": Step(_referral_broker, _WORKING, _l("Actions are agreed on accepted or active referrals only."),
                          _l("Only the partnership's broker records actions.")),
}


def referral_steps(user: User, referral: Referral) -> frozenset[str]:
    """What this person may do to this referral now (``REFERRAL_STEPS``)."""
    return steps_of(user, REFERRAL_STEPS, referral)


def readable_restricted_pathways(user: User, referral: Referral) -> frozenset[Pathway]:
    """Which restricted pathways' notes (health, substance misuse) this person may read here.

    The broker and the referring agency read them all. Another agency reads one only while it works
    on that pathway for this referral (a live grant for it) and its agency type declares it may.
    """
    if can_manage_referral(user, referral) or is_referrer(user, referral):
        return RESTRICTED_PATHWAYS
    if user.role is not Role.AGENCY_STAFF or user.agency_id is None:
        return frozenset()
    agency = user.agency if user.agency is not None else _agency(user.agency_id)
    allowed = agency.agency_type.restricted_pathways_readable
    return frozenset(
        grant.pathway
        for grant in referral.grants
        if grant.agency_id == user.agency_id and grant.revoked_at is None and grant.pathway in allowed
    )


def _agency(agency_id: int) -> Agency:
    agency = db.session.get(Agency, agency_id)
    assert agency is not None
    return agency


def can_read_note(user: User, referral: Referral, pathway: Pathway, readable: frozenset[Pathway]) -> bool:
    """A need's note: open to everyone who sees the referral, unless its pathway is restricted."""
    return pathway not in RESTRICTED_PATHWAYS or pathway in readable


def can_view_referral(user: User, referral: Referral) -> bool:
    """One loaded referral: the same rule as ``visible_referrals``, answered in Python (the broker of
    its partnership, or staff of an agency with a live grant on it that still sits on the panel)."""
    if user.role is Role.BROKER:
        return is_broker_of(user, referral.partnership_id)
    if user.role is Role.AGENCY_STAFF and user.agency_id is not None:
        granted = any(grant.agency_id == user.agency_id and grant.revoked_at is None for grant in referral.grants)
        return granted and any(agency.id == user.agency_id for agency in referral.partnership.agencies)
    return False


def agencies_involved(referral: Referral) -> list[Agency]:
    """The agencies whose staff see the referral (``can_view_referral``: a live grant, and the agency
    still sits on the panel), in the order they were granted: those asked for their update before a
    panel discusses the case."""
    members = {agency.id for agency in referral.partnership.agencies}
    found: dict[int, Agency] = {}
    for grant in referral.grants:
        if grant.revoked_at is None and grant.agency_id in members:
            found.setdefault(grant.agency_id, grant.agency)
    return list(found.values())


def can_read_text_about(reader: User | Agency, referral: Referral, pathway: Pathway | None) -> bool:
    """Free text about a case (an agency's update before the panel, the chair's discussion note) that
    says which pathway it is about. ``reader`` is a person, or an agency (its panel pack, its minutes).

    General text (no pathway) and text about an unrestricted pathway: whoever may see the referral.
    Health or substance misuse: the broker, the referring agency, and an agency working on that
    pathway for this case (a live grant for it, and its type may read it), as for a need's note.
    """
    user = agency_viewer(reader) if isinstance(reader, Agency) else reader
    if not can_view_referral(user, referral):
        return False
    if pathway is None or pathway not in RESTRICTED_PATHWAYS:
        return True
    return pathway in readable_restricted_pathways(user, referral)


def can_read_update(reader: User | Agency, update: UpdateRequest) -> bool:
    """An agency's update: its own agency always reads it back (it wrote it, even when it marked it
    as about a pathway it does not work on); anyone else by what it is about."""
    agency_id = reader.id if isinstance(reader, Agency) else reader.agency_id
    referral = update.item.referral
    if agency_id == update.agency_id and can_read_text_about(reader, referral, None):
        return True
    return can_read_text_about(reader, referral, update.pathway)


def can_read_agenda_note(reader: User | Agency, note: AgendaNote) -> bool:
    return can_read_text_about(reader, note.item.referral, note.pathway)


def member_partnership_ids(user: User) -> Select[tuple[int]]:
    """The partnerships a person works in as a member: brokers theirs, agency staff their agency's.
    (A strategic lead oversees partnerships but is not a member of their panels.)"""
    if user.role is Role.BROKER:
        return brokered_partnership_ids(user)
    if user.role is Role.AGENCY_STAFF and user.agency_id is not None:
        return agency_partnership_ids(user.agency_id)
    return select(Partnership.id).where(false())


def visible_meetings(user: User) -> Select[tuple[PanelMeeting]]:
    """The panel meetings of the partnerships a person is a member of."""
    return select(PanelMeeting).where(PanelMeeting.partnership_id.in_(member_partnership_ids(user)))


def can_manage_meeting(user: User, meeting: PanelMeeting) -> bool:
    """Scheduling, the agenda, chairing, minutes: the partnership's broker."""
    return is_broker_of(user, meeting.partnership_id)


_MEETING_CANCELLED = _l("This meeting was cancelled: it can no longer be changed.")


def _meeting_broker(user: User, meeting: PanelMeeting) -> bool:
    return can_manage_meeting(user, meeting)


def _agency_member(user: User, meeting: PanelMeeting) -> bool:
    """Staff of an agency (which update an agency is asked for is the agenda item's rule below)."""
    return staff_agency_id(user) is not None


def _before_meeting(meeting: PanelMeeting) -> bool:
    return meeting.status is MeetingStatus.SCHEDULED


def _agenda_open(meeting: PanelMeeting) -> bool:
    """Not cancelled, minutes not approved: the agenda, its notes and its attendance may change."""
    return not meeting.is_cancelled and not meeting.minutes_approved


def _before_meeting_with_agenda_open(meeting: PanelMeeting) -> bool:
    return _before_meeting(meeting) and _agenda_open(meeting)


def _not_after(held: Any, approved: Any = None) -> Callable[[PanelMeeting], Any]:
    """The refusal of a step a meeting's state does not allow: cancelled, held, or minutes approved."""
    def why(meeting: PanelMeeting) -> Any:
        if meeting.is_cancelled:
            return _MEETING_CANCELLED
        if approved is not None and meeting.minutes_approved:
            return approved
        return held
    return why


_AGENDA_CLOSED = _l("The minutes of this meeting are approved: its agenda can no longer change.")

# Who may do what to a panel meeting, and when.
MEETING_STEPS: dict[str, Step[PanelMeeting]] = {
    "reschedule": Step(_meeting_broker, _before_meeting, _not_after(_l("This meeting has been held: it cannot be moved.")),
                       _BROKERS_ONLY),
    "cancel": Step(_meeting_broker, _before_meeting,
                   _not_after(_l("This meeting has been held: it cannot be cancelled.")), _BROKERS_ONLY),
    "change_agenda": Step(_meeting_broker, _agenda_open, _not_after(_AGENDA_CLOSED, _AGENDA_CLOSED), _BROKERS_ONLY),
    "record_views": Step(_meeting_broker, _agenda_open, _not_after(_AGENDA_CLOSED, _AGENDA_CLOSED), _BROKERS_ONLY),
    "record_attendance": Step(_meeting_broker, _agenda_open, _not_after(_AGENDA_CLOSED, _AGENDA_CLOSED),
                              _BROKERS_ONLY),
    "write_notes": Step(_meeting_broker, _agenda_open,
                        _not_after(_l("The minutes are approved: the notes can no longer change.")), _BROKERS_ONLY),
    "request_updates": Step(_meeting_broker, _before_meeting_with_agenda_open,
                            _not_after(_l("Updates are asked for before a meeting, not after it."), _AGENDA_CLOSED),
                            _BROKERS_ONLY),
    "send_update": Step(_agency_member, _agenda_open, _not_after(_AGENDA_CLOSED, _AGENDA_CLOSED),
                        _l("Only the agency asked can send this update.")),
    "send_packs": Step(_meeting_broker, _before_meeting,
                       _not_after(_l("Packs go out before a meeting, not after it.")), _BROKERS_ONLY),
    "mark_held": Step(_meeting_broker, _before_meeting, _not_after(_l("This meeting is already marked as held.")),
                      _BROKERS_ONLY),
    "save_minutes": Step(_meeting_broker, _agenda_open, _not_after(_l("The minutes are already approved.")),
                         _BROKERS_ONLY),
    # Open each invited agency's pack, minutes and actions as that agency receives them.
    "preview_papers": Step(_meeting_broker, _always, "", _BROKERS_ONLY),
    "approve_minutes": Step(_meeting_broker, in_status(MeetingStatus.HELD),
                            _not_after(_l("Mark the meeting as held before approving its minutes.")), _BROKERS_ONLY),
}


def meeting_steps(user: User, meeting: PanelMeeting) -> frozenset[str]:
    """What this person may do to this meeting now (``MEETING_STEPS``)."""
    return steps_of(user, MEETING_STEPS, meeting)


def goes_on_agenda(referral: Referral) -> bool:
    """Only a referral the panel works on (accepted or active) goes on a meeting's agenda: not one
    still being triaged, declined or closed."""
    return _WORKING(referral)


def agenda_candidates(user: User, meeting: PanelMeeting) -> Select[tuple[Referral]]:
    """The referrals this person could put on the meeting's agenda, as SQL: those of its partnership
    they see that ``goes_on_agenda`` admits (the agenda builder's list and its proposals)."""
    return visible_referrals(user).where(Referral.partnership_id == meeting.partnership_id,
                                         Referral.status.in_(_WORKING_STATUSES))


def is_asked(user: User, request: UpdateRequest) -> bool:
    """Whether this update before the panel was asked of the person's own agency."""
    agency_id = staff_agency_id(user)
    return agency_id is not None and request.agency_id == agency_id


def update_request_of(user: User, item: AgendaItem) -> UpdateRequest | None:
    """The update the person's agency was asked for on this case of the agenda, if it was asked."""
    return next((request for request in item.update_requests if is_asked(user, request)), None)


def _as_on_the_meeting(name: str, *, only: Callable[[User, AgendaItem], bool] | None = None) -> Step[AgendaItem]:
    """A step on one case of the agenda that is the meeting's step ``name``: the same people (``only``
    those of them it also names), in the same states of the meeting. Read from ``MEETING_STEPS`` when
    asked, so an edit there holds here too."""
    def who(user: User, item: AgendaItem) -> bool:
        return MEETING_STEPS[name].who(user, item.meeting) and (only is None or only(user, item))

    return Step(who, lambda item: MEETING_STEPS[name].when(item.meeting),
                lambda item: _why_not_now(MEETING_STEPS[name], item.meeting), MEETING_STEPS[name].refused)


def _asked_on(user: User, item: AgendaItem) -> bool:
    return update_request_of(user, item) is not None


def _meeting_broker_of_item(user: User, item: AgendaItem) -> bool:
    return _meeting_broker(user, item.meeting) and REFERRAL_STEPS["rate_needs"].who(user, item.referral)


def _needs_open(item: AgendaItem) -> bool:
    return REFERRAL_STEPS["rate_needs"].when(item.referral)


# Who may do what to one case on a meeting's agenda, and when. Putting a case on the agenda is the
# meeting's step ``change_agenda`` (and ``goes_on_agenda`` for the referral).
AGENDA_ITEM_STEPS: dict[str, Step[AgendaItem]] = {
    "move": _as_on_the_meeting("change_agenda"),
    "time_box": _as_on_the_meeting("change_agenda"),
    "remove": _as_on_the_meeting("change_agenda"),
    "record_views": _as_on_the_meeting("record_views"),
    "write_notes": _as_on_the_meeting("write_notes"),
    # An agency's written update on the case: only an agency that was asked for one.
    "send_update": _as_on_the_meeting("send_update", only=_asked_on),
    # Meeting mode re-rates the case's needs: the meeting's broker, while the referral's own table
    # allows it (re-rating is a change to the referral, whatever became of the meeting).
    "rate_needs": Step(_meeting_broker_of_item, _needs_open,
                       lambda item: _why_not_now(REFERRAL_STEPS["rate_needs"], item.referral), _BROKERS_ONLY),
}


def agenda_item_steps(user: User, item: AgendaItem) -> frozenset[str]:
    """What this person may do to this case of the agenda now (``AGENDA_ITEM_STEPS``)."""
    return steps_of(user, AGENDA_ITEM_STEPS, item)


def agency_viewer(agency: Agency) -> User:
    """A stand-in for "any member of staff of this agency", to build what the agency may see (its
    panel pack, its minutes) with the same rules as for a person. Never added to the session."""
    return User(role=Role.AGENCY_STAFF, agency_id=agency.id, active=True, email="", name=agency.name)


def visible_actions(user: User) -> Select[tuple[Action]]:
    """The actions a person may see: those of the referrals they may see. (An agency sees every action on a
    referral it is involved in, whoever owns it: the panel's plan is shared work.)"""
    return select(Action).where(Action.referral_id.in_(visible_referrals(user).with_only_columns(Referral.id)))


def can_update_action(user: User, action: Action) -> bool:
    """The broker of the action's partnership, or staff of the agency that owns it."""
    if can_manage_referral(user, action.referral):
        return True
    return user.role is Role.AGENCY_STAFF and user.agency_id == action.owner_agency_id


def _action_broker(user: User, action: Action) -> bool:
    return can_manage_referral(user, action.referral)



def _reviewable(action: Action) -> bool:
    """Not done, and cancelled or past its due date: the panel asks why it was not done."""
    return action.status is not ActionStatus.DONE and (action.status not in OUTSTANDING or action.due_on < today())


def _why_not_reviewable(action: Action) -> Any:
    return _l("This action is done.") if action.status is ActionStatus.DONE else _l("This action is not yet due.")


def _may_log_gap_about(user: User, action: Action) -> bool:
    return can_log_gap_in(user, action.referral.partnership_id)


ACTION_STEPS: dict[str, Step[Action]] = {
    # Status, note, due date, outcome: the owner agency's staff or the broker (which status it may
    # move to is the service's rule; only "cancel" is the broker's alone).
    "update": Step(can_update_action, _always, "",
                   _l("Only the agency that owns this action, or the broker, can update it.")),
    "cancel": Step(_action_broker, _always, "", _l("Only the broker can cancel an action")),
    "record_not_done": Step(_action_broker, _reviewable, _why_not_reviewable,
                            _l("Only the partnership's broker records why an action was not done.")),
    # A blocked action is often a missing service: the page offers to log it as a gap.
    "log_gap": Step(_may_log_gap_about, in_status(ActionStatus.BLOCKED), _l("Only a blocked action is logged as a gap."),
                    _l("Only the broker and the partnership's agencies log service gaps.")),
}


def action_steps(user: User, action: Action) -> frozenset[str]:
    """What this person may do to this action now (``ACTION_STEPS``)."""
    return steps_of(user, ACTION_STEPS, action)


def state_allows(table: StepTable, step: str, record: Any) -> bool:
    """Whether the record's state allows the step now, whoever asks (for a service that reports a
    record in the wrong state as a problem with the field that named it)."""
    return table[step].when(record)


def can_read_action(reader: User, action: Action, readable: frozenset[Pathway] | None = None) -> bool:
    """An action's description (and its notes and outcome). On a restricted pathway (health, substance
    misuse) it says something about the young person's health: its owner agency and those who read
    that pathway's notes see it, others the pathway only. ``readable``: the reader's
    ``readable_restricted_pathways`` for the referral, when already known."""
    if action.pathway not in RESTRICTED_PATHWAYS or reader.agency_id == action.owner_agency_id:
        return True
    readable = readable_restricted_pathways(reader, action.referral) if readable is None else readable
    return action.pathway in readable


def can_read_plan_entry(reader: User, pathway: Pathway | None, owner_agency_id: int | None,
                        readable: frozenset[Pathway]) -> bool:
    """One line of the young person's plan (a milestone, or an action as a saved version keeps it):
    the rule of ``can_read_action``, asked of what the line says it is about and which agency owns it."""
    return (pathway is None or pathway not in RESTRICTED_PATHWAYS or pathway in readable
            or (reader.agency_id is not None and reader.agency_id == owner_agency_id))


_PLAN_IS_THE_BROKERS = _l("Only the partnership's broker changes the plan.")

# Who may do what to a young person's plan (its milestones and saved versions), and when. Everyone
# who sees the referral reads the plan; changing it is the broker's, in whatever state the referral is.
PLAN_STEPS: dict[str, Step[Referral]] = {
    "add_milestone": Step(_referral_broker, _always, "", _PLAN_IS_THE_BROKERS),
    "milestone_achieved": Step(_referral_broker, _always, "", _PLAN_IS_THE_BROKERS),
    "save_version": Step(_referral_broker, _always, "", _l("Only the partnership's broker saves the plan.")),
    "record_shared": Step(_referral_broker, _always, "", _l("Only the partnership's broker records this.")),
}


def plan_steps(user: User, referral: Referral) -> frozenset[str]:
    """What this person may do to this referral's plan now (``PLAN_STEPS``)."""
    return steps_of(user, PLAN_STEPS, referral)


def gap_partnership_ids(user: User) -> Select[tuple[int]]:
    """The partnerships whose gaps a person sees: a broker's, an agency's, a strategic lead's region's."""
    if user.role is Role.STRATEGIC_LEAD and user.region_id is not None:
        return select(Partnership.id).where(Partnership.region_id == user.region_id)
    return member_partnership_ids(user)


def visible_gaps(user: User) -> Select[tuple[ServiceGap]]:
    """The service gaps of the partnerships a person works in, or oversees."""
    return select(ServiceGap).where(ServiceGap.partnership_id.in_(gap_partnership_ids(user)))


def sees_young_people(user: User) -> bool:
    """Strategic leads and admins see figures only, never a young person's identity."""
    return user.role in (Role.BROKER, Role.AGENCY_STAFF)


def can_log_gap_in(user: User, partnership_id: int) -> bool:
    """The broker, or staff of a member agency."""
    if user.role is Role.BROKER:
        return is_broker_of(user, partnership_id)
    if user.role is Role.AGENCY_STAFF and user.agency_id is not None:
        return db.session.scalar(agency_partnership_ids(user.agency_id).where(
            partnership_agency.c.partnership_id == partnership_id)) is not None
    return False


def gap_logging_partnerships(user: User) -> Select[tuple[Partnership]]:
    """The partnerships ``can_log_gap_in`` allows, as one query: a broker's, or those the staff's
    agency sits on."""
    if user.role in (Role.BROKER, Role.AGENCY_STAFF):
        return visible_partnerships(user)
    return select(Partnership).where(false())


def can_escalate_gap(user: User, gap: ServiceGap) -> bool:
    return is_broker_of(user, gap.partnership_id)


def can_respond_to_gap(user: User, gap: ServiceGap) -> bool:
    """A strategic lead of the region the gap's partnership is in."""
    return (user.role is Role.STRATEGIC_LEAD and user.region_id is not None
            and gap.partnership.region_id == user.region_id)


def gap_responders(gap: ServiceGap) -> Select[tuple[User]]:
    """Who answers an escalated gap, and so is told of it: the active strategic leads of its
    partnership's region (``can_respond_to_gap``, as SQL)."""
    return select(User).where(User.role == Role.STRATEGIC_LEAD, User.active.is_(True),
                              User.region_id == gap.partnership.region_id)


def _gap_member(user: User, gap: ServiceGap) -> bool:
    return can_log_gap_in(user, gap.partnership_id)


# Who may do what to a service gap, and when.
GAP_STEPS: dict[str, Step[ServiceGap]] = {
    "add_evidence": Step(_gap_member, in_status(*UNRESOLVED), _l("This gap is closed. Reopen it to add evidence."),
                         _l("Only the partnership's broker and member agencies add evidence.")),
    "escalate": Step(can_escalate_gap, in_status(GapStatus.OPEN), _l("Only an open gap can be escalated."),
                     _l("Only the partnership's broker escalates its gaps.")),
    "respond": Step(can_respond_to_gap, in_status(GapStatus.ESCALATED, GapStatus.IN_PROGRESS),
                    _l("Only an escalated gap, or one in progress, gets a response."),
                    _l("Only a strategic lead of the partnership's region responds to its gaps.")),
    "reopen": Step(can_escalate_gap, in_status(GapStatus.RESOLVED, GapStatus.ACCEPTED),
                   _l("Only a resolved gap, or one accepted as a risk, can be reopened."),
                   _l("Only the partnership's broker reopens its gaps.")),
}


def gap_steps(user: User, gap: ServiceGap) -> frozenset[str]:
    """What this person may do to this gap now (``GAP_STEPS``)."""
    return steps_of(user, GAP_STEPS, gap)


def visible_emails(user: User) -> Select[tuple[OutboxEmail]]:
    """The emails whose fate (queued, sent, failed and why) a person may see: those they sent, and
    those about a record they answer for: a broker, the meetings, gaps, actions and referrals of
    their partnerships; a strategic lead, the gaps of their region. Agency staff see only their own:
    another agency's email is not their business."""
    own = OutboxEmail.sent_by_id == user.id
    if user.role is Role.BROKER:
        partnerships = brokered_partnership_ids(user)
        return select(OutboxEmail).where(or_(
            own,
            and_(OutboxEmail.record_type == "meeting", OutboxEmail.record_id.in_(
                select(PanelMeeting.id).where(PanelMeeting.partnership_id.in_(partnerships)))),
            and_(OutboxEmail.record_type == "gap", OutboxEmail.record_id.in_(
                select(ServiceGap.id).where(ServiceGap.partnership_id.in_(partnerships)))),
            and_(OutboxEmail.record_type == "action", OutboxEmail.record_id.in_(
                select(Action.id).join(Referral, Action.referral_id == Referral.id)
                .where(Referral.partnership_id.in_(partnerships)))),
            and_(OutboxEmail.record_type == "referral", OutboxEmail.record_id.in_(
                select(Referral.id).where(Referral.partnership_id.in_(partnerships)))),
        ))
    if user.role is Role.STRATEGIC_LEAD:
        return select(OutboxEmail).where(or_(
            own,
            and_(OutboxEmail.record_type == "gap", OutboxEmail.record_id.in_(
                select(ServiceGap.id).where(ServiceGap.partnership_id.in_(gap_partnership_ids(user))))),
        ))
    return select(OutboxEmail).where(own)


# --- People: who may invite whom, and what may be done to a person's account ------------------


@dataclass(frozen=True)
class AccountShape:
    """What an account of a role holds, because the person's scope is drawn from it
    (``visible_partnerships``): agency staff see through their agency, a strategic lead through their
    region, a broker through the partnerships they broker. An account holds nothing its role does
    not read: a broker's agency would let them send an agency's updates, a lead's agency nothing."""

    agency: bool
    region: bool
    # The partnerships named for a person: brokered by a broker; for agency staff, those their agency
    # sits on (checked, not stored: the agency decides); for the other roles, none.
    brokers_partnerships: bool
    works_in_agency_partnerships: bool


_ACCOUNT_SHAPES = {
    Role.BROKER: AccountShape(agency=False, region=False, brokers_partnerships=True,
                              works_in_agency_partnerships=False),
    Role.AGENCY_STAFF: AccountShape(agency=True, region=False, brokers_partnerships=False,
                                    works_in_agency_partnerships=True),
    Role.STRATEGIC_LEAD: AccountShape(agency=False, region=True, brokers_partnerships=False,
                                      works_in_agency_partnerships=False),
    Role.ADMIN: AccountShape(agency=False, region=False, brokers_partnerships=False,
                             works_in_agency_partnerships=False),
}


def account_shape(role: Role) -> AccountShape:
    """What an account of this role must hold, and may not (``AccountShape``)."""
    return _ACCOUNT_SHAPES[role]


def invitable_roles(user: User) -> frozenset[Role]:
    """The roles a person may invite someone into: an admin, any; a broker, agency staff only (into
    their partnerships' member agencies: ``invitable_agencies``); nobody else invites anyone."""
    if user.role is Role.ADMIN:
        return frozenset(Role)
    if user.role is Role.BROKER:
        return frozenset({Role.AGENCY_STAFF})
    return frozenset()


def may_invite(user: User) -> bool:
    """Whether to offer this person "Invite someone" at all."""
    return bool(invitable_roles(user))


def _brokered_member_agency_ids(user: User) -> Select[tuple[int]]:
    return select(partnership_agency.c.agency_id).where(
        partnership_agency.c.partnership_id.in_(brokered_partnership_ids(user)))


def invitable_agencies(user: User) -> Select[tuple[Agency]]:
    """The agencies a person may invite staff into: an admin, every agency; a broker, the member
    agencies of the partnerships they broker; anyone else, none. Any other agency is a 404 to them."""
    query = select(Agency).order_by(Agency.name)
    if user.role is Role.ADMIN:
        return query
    if user.role is Role.BROKER:
        return query.where(Agency.id.in_(_brokered_member_agency_ids(user)))
    return query.where(false())


def invitable_partnerships(user: User) -> Select[tuple[Partnership]]:
    """The partnerships a person may name in an invitation: an admin, every one; a broker, those
    they broker; anyone else, none."""
    if user.role is Role.ADMIN:
        return select(Partnership).order_by(Partnership.name)
    if user.role is Role.BROKER:
        return visible_partnerships(user)
    return select(Partnership).where(false())


def invitable_regions(user: User) -> Select[tuple[Region]]:
    """The regions a person may invite a strategic lead into: an admin's alone."""
    query = select(Region).order_by(Region.name)
    return query if user.role is Role.ADMIN else query.where(false())


def managed_people(user: User) -> Select[tuple[User]]:
    """The people whose accounts a person looks after (re-sends and revokes their invitations): an
    admin, everyone; a broker, the staff of their partnerships' member agencies; nobody else. Anyone
    else is a 404 to them."""
    if user.role is Role.ADMIN:
        return select(User)
    if user.role is Role.BROKER:
        return select(User).where(User.role == Role.AGENCY_STAFF, User.agency_id.in_(_brokered_member_agency_ids(user)))
    return select(User).where(false())


def possible_brokers() -> Select[tuple[User]]:
    """The people an administrator may name as a partnership's brokers: active brokers."""
    return select(User).where(User.role == Role.BROKER, User.active.is_(True)).order_by(User.name)


def installation_runners() -> Select[tuple[User]]:
    """The active administrators (``flask create-admin`` makes the first only while there is none)."""
    return select(User).where(User.role == Role.ADMIN, User.active.is_(True)).order_by(User.id)


def can_manage_person(user: User, person: User) -> bool:
    """One loaded person: the same rule as ``managed_people``, answered for them."""
    if user.role is Role.ADMIN:
        return True
    if user.role is Role.BROKER and person.role is Role.AGENCY_STAFF and person.agency_id is not None:
        return db.session.scalar(_brokered_member_agency_ids(user).where(
            partnership_agency.c.agency_id == person.agency_id).limit(1)) is not None
    return False


def _may_invite_into(user: User, person: User) -> bool:
    return person.role in invitable_roles(user)


def _waiting_to_join(person: User) -> bool:
    """Invited, active, and no password chosen yet."""
    return person.active and not person.has_password


def _why_not_waiting(person: User) -> Any:
    if not person.active:
        return _l("This account is deactivated: reactivate it first.")
    return _l("This person has already chosen a password. If they have forgotten it, they can reset it "
              "from the sign-in page.")


def _is_admin(user: User, person: User) -> bool:
    return user.role is Role.ADMIN


def _deactivatable(person: User) -> bool:
    """Active, and not the last active administrator (who alone could reactivate anyone)."""
    if not person.active:
        return False
    return person.role is not Role.ADMIN or db.session.scalar(
        select(func.count()).select_from(installation_runners().where(User.id != person.id).subquery())) > 0


def _why_not_deactivatable(person: User) -> Any:
    if not person.active:
        return _l("This account is already deactivated.")
    return _l("This is the last active administrator: invite or reactivate another administrator before "
              "deactivating this one.")


def _has_live_invitation(person: User) -> bool:
    now = utcnow()
    return _waiting_to_join(person) and db.session.scalar(select(AccountLink.id).where(
        AccountLink.user_id == person.id,
        AccountLink.purpose.in_([LinkPurpose.INVITATION, LinkPurpose.FIRST_SIGN_IN]),
        AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None), AccountLink.expires_at > now,
    ).limit(1)) is not None


# What may be done to a person's account, and when. The record of "invite" is the person as they
# would be (a ``User`` not yet saved, with their role and agency): whether the inviter may invite into
# that role; the agency and partnerships are scoped by ``invitable_agencies``/``invitable_partnerships``
# (a 404 outside them, as any record outside a person's scope).
PERSON_STEPS: dict[str, Step[User]] = {
    "invite": Step(_may_invite_into, _always, "",
                   _l("You cannot invite someone into this role. Administrators invite anyone; brokers invite the "
                      "staff of their partnerships' member agencies.")),
    "resend_invitation": Step(can_manage_person, _waiting_to_join, _why_not_waiting,
                              _l("Only an administrator, or a broker of this person's agency's partnerships, "
                                 "can do this.")),
    "revoke_invitation": Step(can_manage_person, _has_live_invitation,
                              _l("There is no invitation waiting to be used: it was used, has expired or was "
                                 "already revoked."),
                              _l("Only an administrator, or a broker of this person's agency's partnerships, "
                                 "can do this.")),
    # Ending and restoring someone's access is the administrator's alone.
    "deactivate": Step(_is_admin, _deactivatable, _why_not_deactivatable,
                       _l("Only an administrator can deactivate an account.")),
    "reactivate": Step(_is_admin, lambda person: not person.active, _l("This account is already active."),
                       _l("Only an administrator can reactivate an account.")),
}


def person_steps(user: User, person: User) -> frozenset[str]:
    """What this person may do to that person's account now (``PERSON_STEPS``)."""
    return steps_of(user, PERSON_STEPS, person)
