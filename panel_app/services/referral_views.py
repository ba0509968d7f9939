"""What a person sees of a referral: declared once, used by the page, the API and (later) the PDFs.

A need's note on a restricted pathway (health, substance misuse) is left out for anyone
``policy.readable_restricted_pathways`` does not allow; flags are computed from the referral's dates
and shown to whoever the flag is for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import format_date
from flask_babel import gettext as _

from panel_app import policy
from panel_app.models import (
    Consent,
    NeedHistory,
    NeedRating,
    Referral,
    ReferralEvent,
    User,
    YoungPerson,
    db,
)
from panel_app.pathways import Pathway
from panel_app.services import referrals as service
from panel_app.services.clock import today


@dataclass(frozen=True)
class Flag:
    key: str
    label: str
    detail: str
    colour: str  # a GOV.UK tag colour


@dataclass(frozen=True)
class HistoryEntry:
    rated_at: object
    rating: NeedRating
    note: str | None
    note_hidden: bool
    rated_by: str


@dataclass(frozen=True)
class NeedView:
    pathway: Pathway
    rating: NeedRating
    note: str | None
    note_hidden: bool
    history: list[HistoryEntry] = field(default_factory=list)
    alerts: list[Flag] = field(default_factory=list)


@dataclass(frozen=True)
class InvolvedAgency:
    agency_id: int
    name: str
    type_label: str
    reasons: list[str]
    pathways: list[Pathway]


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _eighteenth_birthday(born: date) -> date:
    try:
        return born.replace(year=born.year + 18)
    except ValueError:  # born on 29 February
        return date(born.year + 18, 3, 1)


def flags(referral: Referral, viewer: User, *, on: date | None = None) -> list[Flag]:
    """The alerts a person sees on a referral in lists and on its page."""
    on = on or today()
    found: list[Flag] = []
    broker = policy.can_manage_referral(viewer, referral)
    release = referral.expected_release_on
    if release is not None and referral.is_open:
        if on <= release <= on + service.RELEASE_SOON:
            days = (release - on).days
            found.append(Flag("release_soon", _("Release in %(days)d days", days=days) if days else _("Release today"),
                              _("Expected release on %(date)s", date=format_date(release, "d MMMM yyyy")), "orange"))
        elif release < on < release + service.INTENSIVE_PERIOD:
            week = (on - release).days // 7 + 1
            found.append(Flag("intensive", _("Intensive support: week %(week)d of 6", week=week),
                              _("Released on %(date)s: daily contact until %(end)s", date=format_date(release, "d MMMM yyyy"),
                                end=format_date(release + service.INTENSIVE_PERIOD, "d MMMM yyyy")), "purple"))
    found += transition_alerts(referral, on)
    if policy.awaiting_information(referral):
        found.append(Flag("awaiting_information", _("Information requested"), referral.information_requested or "",
                          "yellow"))
    consent = referral.consents[-1] if referral.consents else None
    if consent is not None and referral.is_open and (broker or policy.is_referrer(viewer, referral)):
        if consent.withdrawn_on is not None:
            found.append(Flag("consent_withdrawn", _("Consent withdrawn"),
                              _("Withdrawn on %(date)s", date=format_date(consent.withdrawn_on, "d MMMM yyyy")), "red"))
        elif not consent.given:
            found.append(Flag("no_consent", _("No consent to share"),
                              _("Only the referring agency and the broker see this referral"), "red"))
        elif broker and consent.review_on is not None and consent.review_on <= on + service.CONSENT_REVIEW_WARNING:
            found.append(Flag("consent_review", _("Consent review due"),
                              _("Review by %(date)s", date=format_date(consent.review_on, "d MMMM yyyy")), "yellow"))
    previous = referral.previous_referral
    if previous is not None and broker and is_re_referral(referral):
        found.append(Flag("re_referral", _("Re-referral"),
                          _("Referred before on %(date)s", date=format_date(previous.referred_on, "d MMMM yyyy")), "pink"))
    return found


def is_re_referral(referral: Referral) -> bool:
    """Referred again within 12 months of the previous referral, or after a recall."""
    previous = referral.previous_referral
    if previous is None:
        return False
    return referral.after_recall or referral.referred_on - previous.referred_on <= service.RE_REFERRAL_WINDOW


def transition_alerts(referral: Referral, on: date) -> list[Flag]:
    """Turning 18, or an order ending, within six months: plan the handover (Transitions pathway)."""
    if not referral.is_open:
        return []
    found = []
    window = on + timedelta(days=service.TRANSITION_WINDOW_DAYS)
    adult = _eighteenth_birthday(referral.young_person.date_of_birth)
    if on < adult <= window:
        found.append(Flag("turning_18", _("Turns 18 on %(date)s", date=format_date(adult, "d MMMM yyyy")),
                          _("Plan the handover to probation or adult services"), "blue"))
    if referral.order_ends_on is not None and on <= referral.order_ends_on <= window:
        found.append(Flag("order_ending", _("Order ends on %(date)s", date=format_date(referral.order_ends_on, "d MMMM yyyy")),
                          _("Plan what support continues after the order"), "blue"))
    return found


@dataclass
class ReferralRecord:
    referral: Referral
    age: int
    stages: list[str]
    needs: list[NeedView]
    flags: list[Flag]
    agencies: list[InvolvedAgency]
    consent: Consent | None
    events: list[ReferralEvent]
    steps: frozenset[str]  # what the viewer may do to it now: policy.REFERRAL_STEPS
    previous_visible: bool
    duplicates: list[Referral]
    possible_matches: list[YoungPerson] = field(default_factory=list)

    @property
    def stage_name(self) -> str:
        index = self.referral.stage - 1
        return self.stages[index] if 0 <= index < len(self.stages) else str(self.referral.stage)


def involved_agencies(referral: Referral) -> list[InvolvedAgency]:
    by_agency: dict[int, InvolvedAgency] = {}
    for grant in referral.grants:
        if grant.revoked_at is not None:
            continue
        entry = by_agency.setdefault(grant.agency_id, InvolvedAgency(
            grant.agency_id, grant.agency.name, grant.agency.agency_type.label, [], []))
        if grant.reason.label not in entry.reasons:
            entry.reasons.append(grant.reason.label)
        if grant.pathway is not None and grant.pathway not in entry.pathways:
            entry.pathways.append(grant.pathway)
    for entry in by_agency.values():
        entry.pathways.sort(key=lambda p: p.number)
    return sorted(by_agency.values(), key=lambda a: (a.agency_id != referral.referring_agency_id, a.name))


def needs_for(viewer: User, referral: Referral, history: dict[Pathway, list[NeedHistory]] | None = None) -> list[NeedView]:
    """Each pathway's need as this person may see it: restricted notes left out."""
    readable = policy.readable_restricted_pathways(viewer, referral)
    current = {need.pathway: need for need in referral.needs}
    on = today()
    views = []
    for pathway in Pathway:
        need = current.get(pathway)
        visible = policy.can_read_note(viewer, referral, pathway, readable)
        entries = [
            HistoryEntry(row.rated_at, row.rating, row.note if visible else None, bool(row.note) and not visible,
                         row.rated_by.name if row.rated_by else "")
            for row in (history or {}).get(pathway, [])
        ]
        note = need.note if need is not None else None
        views.append(NeedView(
            pathway=pathway,
            rating=need.rating if need is not None else NeedRating.NONE,
            note=note if visible else None,
            note_hidden=bool(note) and not visible,
            history=entries,
            alerts=transition_alerts(referral, on) if pathway is Pathway.TRANSITIONS else [],
        ))
    return views


def referral_record(viewer: User, referral: Referral) -> ReferralRecord:
    """Everything the referral page shows this person (load it with ``service.get_referral``)."""
    record = records_for(viewer, [referral])[referral.id]
    if policy.can_manage_referral(viewer, referral):
        record.duplicates = service.open_duplicates(referral)
    if "accept" in record.steps:
        # Whether it is the same young person is decided when accepting: only then is it shown.
        record.possible_matches = service.possible_matches(referral)
    return record


def records_for(viewer: User, referrals: list[Referral]) -> dict[int, ReferralRecord]:
    """The records of several referrals (loaded with ``service.load_referrals``), in a fixed number
    of queries: one for the histories, one for the timelines, one for which earlier referrals the
    viewer may see, one per partnership for its stage names."""
    ids = [referral.id for referral in referrals]
    histories = service.need_histories(ids)
    events = service.timelines(ids)
    previous_ids = [r.previous_referral_id for r in referrals if r.previous_referral_id is not None]
    previous_visible = set(db.session.scalars(
        policy.visible_referrals(viewer).where(Referral.id.in_(previous_ids)).with_only_columns(Referral.id)
    )) if previous_ids else set()
    stages = {pid: service.stages_of(pid) for pid in {r.partnership_id for r in referrals}}
    on = today()
    records = {}
    for referral in referrals:
        records[referral.id] = ReferralRecord(
            referral=referral,
            age=age_on(referral.young_person.date_of_birth, on),
            stages=stages[referral.partnership_id],
            needs=needs_for(viewer, referral, histories[referral.id]),
            flags=flags(viewer=viewer, referral=referral),
            agencies=involved_agencies(referral),
            consent=referral.consent,
            events=events[referral.id],
            steps=policy.referral_steps(viewer, referral),
            previous_visible=referral.previous_referral_id in previous_visible,
            duplicates=[],
        )
    return records
