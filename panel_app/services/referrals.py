"""Referrals: refer, triage, share, stage, needs, consent, close; and finding them.

Every function takes the acting person first, asks ``policy`` before acting, records what it did
on the referral's timeline and in the audit trail, and only flushes: the request commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, or_, select, text
from sqlalchemy.orm import joinedload, selectinload

from panel_app import audit, policy
from panel_app.errors import Forbidden, NotFound, RuleBroken
from panel_app.models import (
    AccessReason,
    Agency,
    ClosureReason,
    Consent,
    JourneyStage,
    LegalStatus,
    Need,
    NeedHistory,
    NeedRating,
    Partnership,
    Referral,
    ReferralAccess,
    ReferralEvent,
    ReferralStatus,
    User,
    YoungPerson,
    db,
    utcnow,
)
from panel_app.pathways import Pathway
from panel_app.services.base import Problems, check_version, narrowed, one_text, page_of, record_change
from panel_app.services.clock import today

# Lengths, shared by the forms, the API and the checks below.
NAME_MAX = 80
SHORT_MAX = 40
ADDRESS_MAX = 500
REASON_MAX = 10_000
NOTE_MAX = 4_000

YOUNGEST_AGE = 10  # the age of criminal responsibility in England and Wales
OLDEST_AGE = 25  # transitions to adult services run to 25
RE_REFERRAL_WINDOW = timedelta(days=365)
RELEASE_SOON = timedelta(weeks=6)
INTENSIVE_PERIOD = timedelta(weeks=6)
TRANSITION_WINDOW_DAYS = 183  # six months
CONSENT_REVIEW_AFTER = timedelta(days=365)
CONSENT_REVIEW_WARNING = timedelta(days=30)

# The five stages of the Kalix "Bring Out" approach, used by partnerships that name none of their own.
DEFAULT_STAGES = (
    _l("Reception and needs assessment"),
    _l("Starting treatment"),
    _l("Intensifying treatment"),
    _l("Strengthening networks"),
    _l("Community transition"),
)


# --- What comes in ------------------------------------------------------------------------------


@dataclass
class YoungPersonDetails:
    given_name: str
    family_name: str
    date_of_birth: date
    pronouns: str | None = None
    preferred_language: str | None = None
    yot_reference: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@dataclass
class NeedInput:
    rating: NeedRating
    note: str | None = None


@dataclass
class ConsentInput:
    given: bool
    given_on: date | None = None
    all_member_agencies: bool = True
    agency_ids: list[int] = field(default_factory=list)
    review_on: date | None = None
    scope_note: str | None = None


@dataclass
class NewReferral:
    partnership_id: int
    young_person: YoungPersonDetails
    reason: str
    consent: ConsentInput
    legal_status: LegalStatus = LegalStatus.OTHER
    sentenced_on: date | None = None
    expected_release_on: date | None = None
    order_ends_on: date | None = None
    after_recall: bool = False
    needs: dict[Pathway, NeedInput] = field(default_factory=dict)
    # Brokers refer on behalf of a member agency; agency staff always refer for their own.
    referring_agency_id: int | None = None


# --- Checks shared by every way in --------------------------------------------------------------


def _age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _check_young_person(problems: Problems, details: YoungPersonDetails, on: date) -> None:
    details.given_name = problems.text("young_person.given_name", details.given_name, NAME_MAX,
                                       required=_("Enter the young person's first name")) or ""
    details.family_name = problems.text("young_person.family_name", details.family_name, NAME_MAX,
                                        required=_("Enter the young person's last name")) or ""
    for name, limit in (("pronouns", SHORT_MAX), ("preferred_language", SHORT_MAX), ("yot_reference", SHORT_MAX),
                        ("phone", SHORT_MAX), ("email", 254), ("address", ADDRESS_MAX)):
        setattr(details, name, problems.text(f"young_person.{name}", getattr(details, name), limit))
    born = details.date_of_birth
    if born > on:
        problems.add("young_person.date_of_birth", _("Date of birth must be in the past"))
    elif not YOUNGEST_AGE <= _age_on(born, on) <= OLDEST_AGE:
        problems.add("young_person.date_of_birth",
                     _("Check the date of birth: the young person would be %(age)d. Panels work with young "
                       "people aged %(youngest)d to %(oldest)d.", age=_age_on(born, on), youngest=YOUNGEST_AGE,
                       oldest=OLDEST_AGE))


def _check_key_dates(problems: Problems, referral: NewReferral) -> None:
    if referral.legal_status is LegalStatus.CUSTODY and referral.expected_release_on is None:
        problems.add("expected_release_on", _("Enter the expected release date for a young person in custody"))
    if referral.sentenced_on and referral.sentenced_on > today():
        problems.add("sentenced_on", _("Sentence date must be today or in the past"))
    for name, value in (("expected_release_on", referral.expected_release_on), ("order_ends_on", referral.order_ends_on)):
        if value and referral.sentenced_on and value < referral.sentenced_on:
            problems.add(name, _("Must be after the sentence date"))


def _check_needs(problems: Problems, needs: dict[Pathway, NeedInput]) -> None:
    for pathway, need in needs.items():
        need.note = problems.text(f"needs.{pathway.value}.note", need.note, NOTE_MAX)


def _check_consent(problems: Problems, consent: ConsentInput, members: set[int]) -> None:
    if consent.given:
        consent.given_on = consent.given_on or today()
        if consent.given_on > today():
            problems.add("consent.date", _("The date consent was given must be today or in the past"))
        if not consent.all_member_agencies:
            if not consent.agency_ids:
                problems.add("consent.agency_ids", _("Choose the agencies the young person agreed to share with"))
            elif not set(consent.agency_ids) <= members:
                problems.add("consent.agency_ids", _("Choose only agencies on this partnership's panel"))
        consent.review_on = consent.review_on or consent.given_on + CONSENT_REVIEW_AFTER
        if consent.review_on <= consent.given_on:
            problems.add("consent.review_on", _("The review date must be after the date consent was given"))
    consent.scope_note = problems.text("consent.scope_note", consent.scope_note, NOTE_MAX)


_STALE = _l("Someone else changed this referral since you opened it. Check the latest details, then try again.")


def grant_access(referral: Referral, agency_id: int, reason: AccessReason, actor: User,
                 pathway: Pathway | None = None, source_id: int | None = None) -> ReferralAccess:
    """Let an agency see the referral, for a reason (and a pathway): the ``ReferralAccess`` row that
    ``policy.visible_referrals`` joins. The same live grant is never made twice."""
    for existing in referral.grants:
        if (existing.agency_id, existing.reason, existing.pathway, existing.source_id, existing.revoked_at) == (
            agency_id, reason, pathway, source_id, None
        ):
            return existing
    grant = ReferralAccess(agency_id=agency_id, reason=reason, pathway=pathway, source_id=source_id,
                           granted_by_id=actor.id)
    referral.grants.append(grant)
    return grant


# --- Referring ----------------------------------------------------------------------------------


def _partnership_for_referral(actor: User, partnership_id: int) -> Partnership:
    partnership = db.session.scalar(
        policy.visible_partnerships(actor).where(Partnership.id == partnership_id)
        .options(selectinload(Partnership.agencies))
    )
    if partnership is None:
        raise NotFound(_("There is no partnership you can refer to with that id."), {"partnership_id": _("Not found")})
    if not policy.can_refer_to(actor, partnership):
        # A strategic lead sees the partnership, but referring is case work.
        raise Forbidden(_("Only the partnership's brokers and member agencies can refer to it."))
    return partnership


def refer(actor: User, new: NewReferral) -> Referral:
    """Refer a young person to a partnership.

    A young person the referrer already sees (same names and date of birth) is matched, not
    duplicated, and the new referral is linked to their previous one (re-referral detection). A
    match the referrer cannot see is left for the broker to link at triage (``accept``).
    """
    partnership = _partnership_for_referral(actor, new.partnership_id)
    members = {agency.id for agency in partnership.agencies}
    problems = Problems()
    _check_young_person(problems, new.young_person, today())
    new.reason = problems.text("reason", new.reason, REASON_MAX,
                               required=_("Enter why the young person is being referred")) or ""
    _check_key_dates(problems, new)
    _check_needs(problems, new.needs)
    _check_consent(problems, new.consent, members)

    if policy.names_referring_agency(actor):
        referring_agency_id = new.referring_agency_id
        if referring_agency_id is None:
            problems.add("referring_agency_id", _("Choose the agency making the referral"))
    else:
        referring_agency_id = policy.staff_agency_id(actor)
    if referring_agency_id is not None and referring_agency_id not in members:
        problems.add("referring_agency_id", _("The referring agency must sit on this partnership's panel"))
    problems.raise_if_any()
    assert referring_agency_id is not None

    young_person = _match_or_create_young_person(actor, partnership, new.young_person)
    previous = _latest_referral_of(young_person)
    referral = Referral(
        partnership=partnership,
        young_person=young_person,
        referring_agency_id=referring_agency_id,
        referred_by_id=actor.id,
        referred_on=today(),
        reason=new.reason,
        legal_status=new.legal_status,
        sentenced_on=new.sentenced_on,
        expected_release_on=new.expected_release_on,
        order_ends_on=new.order_ends_on,
        after_recall=new.after_recall,
        previous_referral=previous,
        status=ReferralStatus.SUBMITTED,
    )
    db.session.add(referral)
    grant_access(referral, referring_agency_id, AccessReason.REFERRED, actor)
    referral.consents.append(_consent_from(new.consent, actor, members))
    for pathway in Pathway:
        need = new.needs.get(pathway) or NeedInput(NeedRating.NONE)
        _set_need(referral, pathway, need, actor)
    db.session.flush()
    record_change(referral, actor, "referral.create", kind="submitted", matched_existing=bool(previous))
    return referral


def _hold_identity(partnership_id: int, details: YoungPersonDetails) -> None:
    """Let one referral at a time look for and create this young person (name and date of birth in
    one partnership), so that ten referrals sent at once make one record, not ten. On PostgreSQL a
    transaction-level advisory lock, released at commit; SQLite already lets one writer in at a time."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    identity = f"{partnership_id}|{details.given_name.lower()}|{details.family_name.lower()}|{details.date_of_birth}"
    key = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big", signed=True)
    db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _same_identity(partnership_id: int, given_name: str, family_name: str, born: date) -> Select[tuple[YoungPerson]]:
    return select(YoungPerson).where(
        YoungPerson.partnership_id == partnership_id,
        YoungPerson.date_of_birth == born,
        func.lower(YoungPerson.given_name) == given_name.lower(),
        func.lower(YoungPerson.family_name) == family_name.lower(),
    ).order_by(YoungPerson.id)


def _match_or_create_young_person(actor: User, partnership: Partnership, details: YoungPersonDetails) -> YoungPerson:
    """The young person this referral is about.

    Matched by name and date of birth only among the young people the referrer already sees; any
    other match stays unknown to them. Their referral then holds a record of its own, and the broker
    decides at triage whether it is the same young person ("possibly the same young person as ...").
    """
    _hold_identity(partnership.id, details)
    known = db.session.scalar(
        _same_identity(partnership.id, details.given_name, details.family_name, details.date_of_birth)
        .where(YoungPerson.id.in_(policy.known_young_people(actor)))
        .limit(1)
    )
    if known is None:
        known = YoungPerson(partnership_id=partnership.id, given_name=details.given_name,
                            family_name=details.family_name, date_of_birth=details.date_of_birth)
        db.session.add(known)
    elif not policy.can_change_young_person(actor, known.id, partnership.id):
        return known
    _fill_blanks(known, details)
    return known


_DETAILS = ("pronouns", "preferred_language", "yot_reference", "phone", "email", "address")


def _fill_blanks(young_person: YoungPerson, details: YoungPersonDetails | YoungPerson) -> None:
    # Fill what the record lacks; never silently overwrite what another referrer recorded.
    for name in _DETAILS:
        if getattr(young_person, name) is None and getattr(details, name) is not None:
            setattr(young_person, name, getattr(details, name))


def possible_matches(referral: Referral) -> list[YoungPerson]:
    """Other records of the partnership with this young person's names and date of birth (for the
    broker's triage only: a referrer who could not see them was told nothing)."""
    person = referral.young_person
    return list(db.session.scalars(
        _same_identity(referral.partnership_id, person.given_name, person.family_name, person.date_of_birth)
        .where(YoungPerson.id != person.id)
        .options(selectinload(YoungPerson.referrals))
    ))


def _latest_referral_of(young_person: YoungPerson) -> Referral | None:
    if young_person.id is None:
        return None
    return db.session.scalar(
        select(Referral).where(Referral.young_person_id == young_person.id).order_by(Referral.id.desc()).limit(1)
    )


def _consent_from(given: ConsentInput, actor: User, members: set[int]) -> Consent:
    consent = Consent(
        given=given.given,
        given_on=given.given_on if given.given else None,
        all_member_agencies=given.given and given.all_member_agencies,
        review_on=given.review_on if given.given else None,
        scope_note=given.scope_note,
        recorded_by_id=actor.id,
    )
    if given.given and not given.all_member_agencies:
        consent.agencies = list(db.session.scalars(select(Agency).where(Agency.id.in_(given.agency_ids))))
    return consent


def _set_need(referral: Referral, pathway: Pathway, need: NeedInput, actor: User) -> bool:
    """Set a pathway's rating and note; append to its history when either changed."""
    current = next((n for n in referral.needs if n.pathway is pathway), None)
    if current is not None and current.rating is need.rating and current.note == need.note:
        return False
    now = utcnow()
    if current is None:
        referral.needs.append(Need(pathway=pathway, position=pathway.number, rating=need.rating, note=need.note,
                                   rated_at=now, rated_by_id=actor.id))
    else:
        current.rating, current.note, current.rated_at, current.rated_by_id = need.rating, need.note, now, actor.id
    db.session.add(NeedHistory(referral=referral, pathway=pathway, rating=need.rating, note=need.note,
                               rated_at=now, rated_by_id=actor.id))
    return True


# --- Triage -------------------------------------------------------------------------------------


def _require_step(actor: User, referral: Referral, step: str, version: int | None) -> None:
    """Who may take the step and in which states: ``policy.REFERRAL_STEPS``. The version is checked
    between the two, so that a stale form says someone else changed the referral."""
    policy.require_step(actor, policy.REFERRAL_STEPS, step, referral,
                        before_state=lambda: check_version(referral, version, _STALE))


def accept(actor: User, referral: Referral, version: int | None = None, same_as: int | None = None) -> None:
    """The broker accepts a submitted referral: it joins the partnership's work.

    ``same_as`` names an existing young person of the partnership (one of ``possible_matches``) that
    this referral is about: the referral moves to their record, and the record made at referral goes.
    """
    _require_step(actor, referral, "accept", version)
    if same_as is not None:
        _link_young_person(actor, referral, same_as)
    referral.status = ReferralStatus.ACCEPTED
    referral.information_requested = None
    record_change(referral, actor, "referral.accept", kind="accepted")


def _link_young_person(actor: User, referral: Referral, young_person_id: int) -> None:
    existing = next((person for person in possible_matches(referral) if person.id == young_person_id), None)
    if existing is None:
        raise RuleBroken(_("Choose one of the young people listed, or accept as a new young person."),
                         {"same_as": _("Choose one of the young people listed")})
    made_at_referral = referral.young_person
    _fill_blanks(existing, made_at_referral)
    referral.young_person = existing
    referral.previous_referral = db.session.scalar(
        select(Referral).where(Referral.young_person_id == existing.id, Referral.id != referral.id)
        .order_by(Referral.id.desc()).limit(1))
    db.session.flush()
    if db.session.scalar(select(func.count()).where(Referral.young_person_id == made_at_referral.id)) == 0:
        db.session.delete(made_at_referral)
    record_change(referral, actor, "referral.link_young_person", kind="linked", young_person_id=existing.id)


def decline(actor: User, referral: Referral, reason: str, version: int | None = None) -> None:
    """The broker declines a submitted referral, saying why (the referrer sees the reason)."""
    _require_step(actor, referral, "decline", version)
    reason_text = one_text("reason", reason, NOTE_MAX, required=_("Enter why the referral is declined"))
    referral.status = ReferralStatus.DECLINED
    referral.decline_reason = reason_text
    referral.information_requested = None
    record_change(referral, actor, "referral.decline", kind="declined", reason=reason_text)


def request_information(actor: User, referral: Referral, question: str, version: int | None = None) -> None:
    """The broker asks the referrer for more before deciding."""
    _require_step(actor, referral, "request_information", version)
    text = one_text("question", question, NOTE_MAX, required=_("Enter what you need to know"))
    referral.information_requested = text
    record_change(referral, actor, "referral.request_information", kind="information_requested", question=text)


def provide_information(actor: User, referral: Referral, answer: str, version: int | None = None) -> None:
    """The referring agency answers the broker's question."""
    _require_step(actor, referral, "provide_information", version)
    text = one_text("answer", answer, REASON_MAX, required=_("Enter the information the broker asked for"))
    referral.information_requested = None
    record_change(referral, actor, "referral.provide_information", kind="information_provided", answer=text)


# --- Working the referral -----------------------------------------------------------------------


def share(actor: User, referral: Referral, agency_id: int, pathways: list[Pathway] | None = None,
          version: int | None = None) -> list[ReferralAccess]:
    """The broker shares the referral with a member agency, under the young person's consent.

    The agency works on ``pathways`` (by default its type's usual ones); a pathway grant is what lets
    a health or substance-misuse agency read that pathway's notes.
    """
    _require_step(actor, referral, "share", version)
    agency = next((a for a in referral.partnership.agencies if a.id == agency_id), None)
    if agency is None:
        raise RuleBroken(_("Choose an agency on this partnership's panel."), {"agency_id": _("Not a member agency")})
    if not policy.consent_covers(referral, agency.id):
        raise RuleBroken(
            _("The young person has not agreed to share their information with %(agency)s. Record their consent "
              "first.", agency=agency.name),
            {"agency_id": _("Not covered by the young person's consent")},
        )
    chosen = pathways or list(agency.agency_type.usual_pathways) or [None]
    grants = [grant_access(referral, agency.id, AccessReason.SHARED, actor, pathway) for pathway in chosen]
    pathway_keys = [p.value for p in chosen if p is not None]
    record_change(referral, actor, "referral.share", kind="shared", agency=agency.name, pathways=pathway_keys,
                  audit_detail={"agency_id": agency.id, "pathways": pathway_keys})
    return grants


def stages_of(partnership_id: int) -> list[str]:
    """The names of a partnership's journey stages, in order (its own, or the Kalix five)."""
    names = list(db.session.scalars(
        select(JourneyStage.name).where(JourneyStage.partnership_id == partnership_id).order_by(JourneyStage.position)
    ))
    return names or [str(name) for name in DEFAULT_STAGES]


def set_stages(partnership: Partnership, names: list[str]) -> list[str]:
    """Give a partnership its own journey stages (none: back to the Kalix five).

    Refused when a referral of the partnership stands at a stage the new list would not have.
    """
    names = [name.strip() for name in names if name.strip()]
    if any(len(name) > 120 for name in names):
        raise RuleBroken(_("A stage's name must be 120 characters or fewer."))
    if len(set(names)) != len(names):
        raise RuleBroken(_("Two stages cannot have the same name."))
    count = len(names) or len(DEFAULT_STAGES)
    beyond = db.session.scalar(
        select(func.count(Referral.id)).where(Referral.partnership_id == partnership.id, Referral.stage > count)
    )
    if beyond:
        raise RuleBroken(_("%(count)d referrals stand at a later stage than the new list has. Move them first.",
                           count=beyond))
    for stage in db.session.scalars(select(JourneyStage).where(JourneyStage.partnership_id == partnership.id)):
        db.session.delete(stage)
    db.session.flush()
    for position, name in enumerate(names, start=1):
        db.session.add(JourneyStage(partnership_id=partnership.id, position=position, name=name))
    db.session.flush()
    return stages_of(partnership.id)


def change_stage(actor: User, referral: Referral, stage: int, version: int | None = None) -> None:
    """Move the young person to another stage of the journey; an accepted referral becomes active."""
    _require_step(actor, referral, "change_stage", version)
    names = stages_of(referral.partnership_id)
    if not 1 <= stage <= len(names):
        raise RuleBroken(_("Choose one of the partnership's stages."), {"stage": _("Choose a stage")})
    before = referral.stage
    referral.stage = stage
    referral.status = ReferralStatus.ACTIVE
    record_change(referral, actor, "referral.stage", kind="stage_changed", before=before, after=stage,
                  audit_detail={"before": before, "after": stage})


def rate_needs(actor: User, referral: Referral, needs: dict[Pathway, NeedInput], version: int | None = None) -> list[Pathway]:
    """Re-rate needs per pathway; each change is kept in the pathway's history."""
    _require_step(actor, referral, "rate_needs", version)
    problems = Problems()
    _check_needs(problems, needs)
    problems.raise_if_any()
    changed = [pathway for pathway, need in needs.items() if _set_need(referral, pathway, need, actor)]
    if changed:
        # Restricted notes stay out of the timeline: it only says which pathways were re-rated.
        referral.updated_at = utcnow()
        record_change(referral, actor, "referral.needs", kind="needs_rated", pathways=[p.value for p in changed],
                      audit_detail={"pathways": [p.value for p in changed]})
    return changed


def close(actor: User, referral: Referral, reason: ClosureReason, note: str | None,
          version: int | None = None) -> None:
    """Close the referral with how it ended (completed, disengaged, transferred, ...)."""
    _require_step(actor, referral, "close", version)
    note = one_text("note", note, NOTE_MAX,
                    required=_("Say what happened") if reason is ClosureReason.OTHER else None)
    referral.status = ReferralStatus.CLOSED
    referral.closure_reason = reason
    referral.closure_note = note
    referral.closed_on = today()
    record_change(referral, actor, "referral.close", kind="closed", reason=reason.value,
                  audit_detail={"reason": reason.value})


def record_consent(actor: User, referral: Referral, given: ConsentInput, version: int | None = None) -> Consent:
    """Record the young person's consent afresh (renewed at review, widened, narrowed or refused)."""
    _require_step(actor, referral, "record_consent", version)
    members = {agency.id for agency in referral.partnership.agencies}
    problems = Problems()
    _check_consent(problems, given, members)
    problems.raise_if_any()
    consent = _consent_from(given, actor, members)
    referral.consents.append(consent)
    db.session.flush()
    revoked = _revoke_uncovered_grants(referral, consent)
    record_change(referral, actor, "referral.consent", kind="consent_recorded", given=given.given, revoked=revoked,
                  audit_detail={"given": given.given, "revoked_agencies": revoked})
    referral.updated_at = utcnow()
    return consent


def withdraw_consent(actor: User, referral: Referral, withdrawn_on: date | None, note: str | None,
                     version: int | None = None) -> None:
    """The young person withdraws consent: the circle narrows back to the referrer and the broker."""
    _require_step(actor, referral, "withdraw_consent", version)
    consent = referral.consent
    assert consent is not None  # the step's state: a consent in force
    problems = Problems()
    withdrawn_on = withdrawn_on or today()
    if withdrawn_on > today():
        problems.add("withdrawn_on", _("The date must be today or in the past"))
    elif consent.given_on and withdrawn_on < consent.given_on:
        problems.add("withdrawn_on", _("The date must be on or after the date consent was given"))
    note = problems.text("note", note, NOTE_MAX)
    problems.raise_if_any()
    consent.withdrawn_on = withdrawn_on
    consent.withdrawal_note = note
    consent.withdrawal_recorded_by_id = actor.id
    revoked = _revoke_uncovered_grants(referral, consent)
    record_change(referral, actor, "referral.consent_withdrawn", kind="consent_withdrawn", revoked=revoked,
                  audit_detail={"revoked_agencies": revoked})
    referral.updated_at = utcnow()


def _revoke_uncovered_grants(referral: Referral, consent: Consent) -> list[str]:
    """Revoke every grant the consent no longer covers (the referrer's own always stays)."""
    now = utcnow()
    revoked: set[str] = set()
    for grant in referral.grants:
        if grant.revoked_at is None and not policy.keeps_access(grant, consent):
            grant.revoked_at = now
            revoked.add(grant.agency.name)
    return sorted(revoked)


# --- Finding referrals --------------------------------------------------------------------------


_RECORD_OPTIONS = (
    joinedload(Referral.young_person),
    joinedload(Referral.partnership).selectinload(Partnership.agencies),
    joinedload(Referral.referring_agency),
    joinedload(Referral.previous_referral),
    selectinload(Referral.needs),
    selectinload(Referral.consents).selectinload(Consent.agencies),
    selectinload(Referral.grants).joinedload(ReferralAccess.agency),
)


def get_referral(actor: User, referral_id: int, *, purpose: str = "view") -> Referral:
    """One referral the actor may see, with what its page needs loaded; 404 otherwise. Audited."""
    referral = db.session.scalar(
        policy.visible_referrals(actor).where(Referral.id == referral_id).options(*_RECORD_OPTIONS)
    )
    if referral is None:
        raise NotFound(_("Referral not found."))
    audit.record(f"referral.{purpose}", actor=actor, record_type="referral", record_id=referral.id)
    return referral


def load_referrals(viewer: User, referral_ids: list[int]) -> list[Referral]:
    """Several referrals the viewer may see, loaded for their records in a fixed number of queries.
    Not audited here: the caller records one row naming them all (a pack, a meeting page)."""
    if not referral_ids:
        return []
    return list(db.session.scalars(
        policy.visible_referrals(viewer).where(Referral.id.in_(referral_ids)).options(*_RECORD_OPTIONS)
    ).unique())


@dataclass
class ReferralFilters:
    partnership_id: int | None = None
    status: ReferralStatus | None = None
    stage: int | None = None
    pathway: Pathway | None = None
    rating: NeedRating | None = None
    release_within_weeks: int | None = None
    search: str | None = None


def _filtered(actor: User, filters: ReferralFilters) -> Select[tuple[Referral]]:
    query = narrowed(policy.visible_referrals(actor).join(YoungPerson, Referral.young_person_id == YoungPerson.id),
                     (Referral.partnership_id, filters.partnership_id), (Referral.status, filters.status),
                     (Referral.stage, filters.stage))
    if filters.pathway is not None or filters.rating is not None:
        need = select(Need.referral_id)
        if filters.pathway is not None:
            need = need.where(Need.pathway == filters.pathway)
        need = need.where(Need.rating == filters.rating) if filters.rating is not None else need.where(
            Need.rating.in_([NeedRating.RED, NeedRating.AMBER]))
        query = query.where(Referral.id.in_(need))
    if filters.release_within_weeks is not None:
        start = today()
        query = query.where(Referral.expected_release_on.between(start, start + timedelta(weeks=filters.release_within_weeks)))
    if filters.search:
        words = filters.search.strip().lower().split()[:5]
        for word in words:
            pattern = f"%{_escape_like(word)}%"
            query = query.where(or_(
                func.lower(YoungPerson.given_name).like(pattern, escape="\\"),
                func.lower(YoungPerson.family_name).like(pattern, escape="\\"),
                func.lower(YoungPerson.yot_reference).like(pattern, escape="\\"),
            ))
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_referrals(actor: User, filters: ReferralFilters, *, page: int = 1, per_page: int = 25,
                   purpose: str = "list") -> tuple[list[Referral], int]:
    """A page of the referrals the actor may see, matching the filters, and how many match in all.

    Three queries whatever the number of referrals: the count, the page, and the page's needs and
    consents. One audit row names the referrals shown.
    """
    rows, total = page_of(
        _filtered(actor, filters).options(
            joinedload(Referral.young_person),
            joinedload(Referral.partnership),
            joinedload(Referral.referring_agency),
            joinedload(Referral.previous_referral),
            selectinload(Referral.needs),
            selectinload(Referral.consents),
        )
        # Open referrals first, the soonest release first; then the rest, newest first.
        .order_by(
            case((Referral.status.in_([ReferralStatus.DECLINED, ReferralStatus.CLOSED]), 1), else_=0),
            Referral.expected_release_on.is_(None),
            Referral.expected_release_on,
            Referral.id.desc(),
        ),
        page=page, per_page=per_page)
    if rows:
        audit.record(f"referral.{purpose}", actor=actor, record_type="referral",
                     detail={"referral_ids": [r.id for r in rows]})
    return rows, total


@dataclass(frozen=True)
class Caseload:
    """The figures a case worker's home page starts from (counted in SQL, within their scope)."""

    open_referrals: int
    to_triage: int
    releases_soon: int
    awaiting_information: int
    # Set by the home page from the actions service: overdue actions, and (agency staff) those due
    # within a week or (brokers) those blocked.
    actions_overdue: int = 0
    actions_other: int = 0


def caseload(actor: User) -> Caseload:
    scope = policy.visible_referrals(actor).with_only_columns(Referral.id).subquery()
    soon = today() + RELEASE_SOON
    open_statuses = [ReferralStatus.SUBMITTED, ReferralStatus.ACCEPTED, ReferralStatus.ACTIVE]
    row = db.session.execute(
        select(
            func.count(case((Referral.status.in_(open_statuses), 1))),
            func.count(case((Referral.status == ReferralStatus.SUBMITTED, 1))),
            func.count(case((Referral.status.in_(open_statuses) & Referral.expected_release_on.between(today(), soon), 1))),
            func.count(case(((Referral.status == ReferralStatus.SUBMITTED) & Referral.information_requested.is_not(None), 1))),
        ).where(Referral.id.in_(select(scope.c.id)))
    ).one()
    return Caseload(*row)


def triage_queue(actor: User) -> list[Referral]:
    """Submitted referrals of the broker's partnerships, oldest first (at most 100)."""
    rows, _total = find_referrals(actor, ReferralFilters(status=ReferralStatus.SUBMITTED), per_page=100,
                                  purpose="triage")
    return sorted(rows, key=lambda r: (r.referred_on, r.id))


def open_duplicates(referral: Referral) -> list[Referral]:
    """Other open referrals of the same young person in the same partnership (for the broker's triage)."""
    return list(db.session.scalars(
        select(Referral).where(
            Referral.young_person_id == referral.young_person_id,
            Referral.id != referral.id,
            Referral.status.in_([ReferralStatus.SUBMITTED, ReferralStatus.ACCEPTED, ReferralStatus.ACTIVE]),
        )
    ))


def timelines(referral_ids: list[int]) -> dict[int, list[ReferralEvent]]:
    """Each referral's timeline, newest first (one query for them all)."""
    found: dict[int, list[ReferralEvent]] = {referral_id: [] for referral_id in referral_ids}
    if referral_ids:
        for event in db.session.scalars(
            select(ReferralEvent).where(ReferralEvent.referral_id.in_(referral_ids))
            .options(joinedload(ReferralEvent.actor))
            .order_by(ReferralEvent.occurred_at.desc(), ReferralEvent.id.desc())
        ):
            found[event.referral_id].append(event)
    return found


def need_history(referral: Referral) -> dict[Pathway, list[NeedHistory]]:
    """One referral's ratings per pathway, oldest first."""
    return need_histories([referral.id])[referral.id]


def need_histories(referral_ids: list[int]) -> dict[int, dict[Pathway, list[NeedHistory]]]:
    """Each referral's ratings per pathway, oldest first (one query for them all)."""
    found = {referral_id: {pathway: [] for pathway in Pathway} for referral_id in referral_ids}
    if referral_ids:
        for row in db.session.scalars(
            select(NeedHistory).where(NeedHistory.referral_id.in_(referral_ids))
            .options(joinedload(NeedHistory.rated_by)).order_by(NeedHistory.rated_at, NeedHistory.id)
        ):
            found[row.referral_id][row.pathway].append(row)
    return found


def partnerships_to_refer_to(actor: User) -> list[Partnership]:
    """Where the actor may refer: with member agencies loaded, for the form."""
    return [p for p in db.session.scalars(
        policy.visible_partnerships(actor).options(selectinload(Partnership.agencies))
    ) if policy.can_refer_to(actor, p)]
