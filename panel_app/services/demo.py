"""The fictional Welsh demo installation: partnerships, agencies and accounts.

No real people: every name here is invented. Later capabilities add their own demo records
(referrals, meetings, actions, gaps) through ``seed_demo`` so that a newcomer sees a living
installation.
"""

from __future__ import annotations

from dataclasses import dataclass

from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update

from panel_app import policy
from panel_app.models import (
    Agency,
    AgendaKind,
    AttendanceStatus,
    ClosureReason,
    LegalStatus,
    NeedRating,
    Partnership,
    ReferralStatus,
    Region,
    Role,
    User,
    db,
)
from panel_app.pathways import Pathway
from panel_app.services import meetings, referrals
from panel_app.services.accounts import create_user
from panel_app.services.clock import local_date, local_timezone, today

DEMO_DOMAIN = "demo.test"


@dataclass(frozen=True)
class DemoPartnership:
    key: str  # used in demo email addresses: yot.<key>@demo.test
    name: str
    area: str
    north: bool


PARTNERSHIPS = (
    DemoPartnership("conwy", "Conwy & Denbighshire", "Conwy and Denbighshire", north=True),
    DemoPartnership("flintshire", "Flintshire", "Flintshire", north=True),
    DemoPartnership("gwynedd", "Gwynedd & Ynys Môn", "Gwynedd and Ynys Môn (Anglesey)", north=True),
    DemoPartnership("wrexham", "Wrexham", "Wrexham", north=True),
    DemoPartnership("cardiff", "Cardiff", "Cardiff", north=False),
)

# Agencies shared by every North Wales partnership, and Cardiff's own equivalents.
SHARED_AGENCIES = {
    True: {
        "health": ("North Wales Health Board", "health.north"),
        "employment": ("Gyrfa Gogledd Careers (demo)", "careers.north"),
        "substance_misuse": ("North Wales Young People's Substance Service", "substance.north"),
        "third_sector": ("Llwybr Newydd Mentoring", "mentoring.north"),
    },
    False: {
        "health": ("South Wales Health Board", "health.south"),
        "employment": ("Gyrfa De Careers (demo)", "careers.south"),
        "substance_misuse": ("Cardiff Young People's Substance Service", "substance.cardiff"),
        "third_sector": ("Camau Cyntaf Coaching", "coaching.cardiff"),
    },
}

# Agencies of each partnership's own area: (type, name pattern, account prefix).
LOCAL_AGENCIES = (
    ("yot", "{name} Youth Justice Service", "yot"),
    ("housing", "{name} Housing Solutions", "housing"),
    ("education", "{name} Education Inclusion Service", "education"),
)

# Invented staff names, one per account.
STAFF_NAMES = {
    "broker.north": "Gwen Pritchard",
    "broker.south": "Dylan Howells",
    "lead.wales": "Siân Maddox",
    "admin": "Installation Administrator",
    "yot.conwy": "Rhys Bevan",
    "housing.conwy": "Carys Lloyd",
    "health.north": "Dr Owain Tudor",
    "education.conwy": "Megan Rowlands",
    "yot.cardiff": "Aled Price",
}


def _email(prefix: str) -> str:
    return f"{prefix}@{DEMO_DOMAIN}"


def _name_for(prefix: str) -> str:
    if prefix in STAFF_NAMES:
        return STAFF_NAMES[prefix]
    team, _dot, place = prefix.partition(".")
    return f"{team.replace('_', ' ').title()} worker, {place.title()}"


def seed_demo(password: str) -> str | None:
    """Load the demo installation; ``None`` when it is already there (nothing changes)."""
    if db.session.scalar(select(User.id).where(User.email == _email("broker.north"))) is not None:
        return None

    wales = Region(name="Wales")
    db.session.add(wales)

    agencies: dict[str, Agency] = {}
    accounts: dict[str, User] = {}

    def agency(kind: str, name: str, prefix: str) -> Agency:
        if prefix not in agencies:
            agencies[prefix] = Agency(name=name, type=kind, contact_email=_email(prefix + ".team"),
                                      lead_contact_email=_email(prefix + ".lead"))
            db.session.add(agencies[prefix])
            accounts[prefix] = create_user(
                email=_email(prefix), name=_name_for(prefix), password=password,
                role=Role.AGENCY_STAFF, agency=agencies[prefix],
            )
        return agencies[prefix]

    broker_north = create_user(email=_email("broker.north"), name=_name_for("broker.north"), password=password,
                               role=Role.BROKER)
    broker_south = create_user(email=_email("broker.south"), name=_name_for("broker.south"), password=password,
                               role=Role.BROKER)
    create_user(email=_email("lead.wales"), name=_name_for("lead.wales"), password=password,
                role=Role.STRATEGIC_LEAD, region=wales)
    create_user(email=_email("admin"), name=_name_for("admin"), password=password, role=Role.ADMIN)

    for demo in PARTNERSHIPS:
        partnership = Partnership(name=demo.name, area=demo.area, region=wales)
        db.session.add(partnership)
        partnership.brokers.append(broker_north if demo.north else broker_south)
        for kind, pattern, prefix in LOCAL_AGENCIES:
            partnership.agencies.append(agency(kind, pattern.format(name=demo.name), f"{prefix}.{demo.key}"))
        for kind, (name, prefix) in SHARED_AGENCIES[demo.north].items():
            partnership.agencies.append(agency(kind, name, prefix))

    db.session.flush()
    people = {**accounts, "broker.north": broker_north, "broker.south": broker_south}
    count = _seed_referrals(people, agencies)
    meetings_count = _seed_meetings(people)
    actions_count = _seed_actions(people, agencies)
    gaps_count = _seed_gaps(people)
    return (
        f"Demo installation loaded: {len(PARTNERSHIPS)} partnerships, {len(agencies)} agencies, "
        f"{len(accounts) + 4} accounts at @{DEMO_DOMAIN} (password from PANEL_DEMO_PASSWORD), "
        f"{count} referrals, {meetings_count} panel meetings, {actions_count} actions, {gaps_count} service gaps."
    )


@dataclass(frozen=True)
class DemoYoungPerson:
    """A fictional young person and where their referral stands."""

    given_name: str
    family_name: str
    age_years: float
    partnership: str  # key of DemoPartnership
    referrer: str  # account prefix of the referring worker
    legal_status: LegalStatus
    reason: str
    needs: dict[Pathway, tuple[NeedRating, str | None]]
    status: str  # submitted, info, accepted, active, declined, closed
    stage: int = 1
    referred_days_ago: int = 20
    release_in_days: int | None = None
    order_ends_in_days: int | None = None
    shares: tuple[tuple[str, tuple[Pathway, ...]], ...] = ()
    consent_days_ago: int = 20
    consent_withdrawn: bool = False
    pronouns: str | None = None
    language: str | None = None


R, A, G, N = NeedRating.RED, NeedRating.AMBER, NeedRating.GREEN, NeedRating.NONE
P = Pathway

YOUNG_PEOPLE = (
    DemoYoungPerson(
        "Cai", "Jenkins", 17.2, "conwy", "yot.conwy", LegalStatus.CUSTODY,
        "Serving a detention and training order; release in three weeks with nowhere settled to live. Mum's "
        "tenancy ended while he was in custody.",
        {P.ACCOMMODATION: (R, "No address for release. Supported lodgings referral made, no place offered yet."),
         P.ETE: (A, "Wants to finish his Level 1 construction course started in custody."),
         P.HEALTH: (A, "CAMHS assessment requested; low mood reported by the secure estate's nurse."),
         P.SUBSTANCE_MISUSE: (A, "Cannabis use before custody; keen to keep off it."),
         P.FAMILIES: (A, "Contact with mum is good; relationship with step-father is not."),
         P.FINANCE: (R, "No bank account or ID."),
         P.TRANSITIONS: (G, None)},
        "active", stage=4, referred_days_ago=70, release_in_days=21,
        shares=(("housing.conwy", (P.ACCOMMODATION, P.FINANCE)), ("health.north", (P.HEALTH,))),
        pronouns="he/him", language="English"),
    DemoYoungPerson(
        "Seren", "Morgan", 16.4, "conwy", "yot.conwy", LegalStatus.CUSTODY,
        "First custodial sentence; release expected in ten weeks. Was excluded from school in Year 10.",
        {P.ETE: (R, "No school place; the pupil referral unit place lapsed."),
         P.FAMILIES: (A, "Lives with her nan, who is unwell."),
         P.HEALTH: (A, "Asthma; not registered with a GP since moving.")},
        "submitted", referred_days_ago=1, release_in_days=70, pronouns="she/her", language="Welsh"),
    DemoYoungPerson(
        "Tomos", "Griffiths", 15.8, "conwy", "yot.conwy", LegalStatus.COMMUNITY_ORDER,
        "Referral order after a second assault charge. Family are asking for help with his anger.",
        {P.FAMILIES: (R, "Conflict at home; police called twice this month."),
         P.ETE: (A, "Attending school three days a week.")},
        "info", referred_days_ago=4, order_ends_in_days=300),
    DemoYoungPerson(
        "Elis", "Parry", 17.8, "conwy", "yot.conwy", LegalStatus.COMMUNITY_ORDER,
        "Youth rehabilitation order ending in four months; turning 18 soon, so the handover to probation needs "
        "planning.",
        {P.TRANSITIONS: (R, "Handover to probation and adult services not yet planned."),
         P.ETE: (A, "Apprenticeship interview next month."),
         P.SUBSTANCE_MISUSE: (R, "Daily cannabis; has missed two sessions with the substance service.")},
        "active", stage=2, referred_days_ago=120, order_ends_in_days=120,
        shares=(("careers.north", (P.ETE,)), ("substance.north", (P.SUBSTANCE_MISUSE,)))),
    DemoYoungPerson(
        "Lowri", "Hughes", 17.0, "conwy", "yot.conwy", LegalStatus.CUSTODY,
        "Released two weeks ago to supported housing; in the intensive period of daily contact.",
        {P.ACCOMMODATION: (G, "Supported housing place in Colwyn Bay."),
         P.ETE: (A, "College place from January; needs a bus pass until then."),
         P.FAMILIES: (A, None)},
        "active", stage=5, referred_days_ago=150, release_in_days=-14,
        shares=(("education.conwy", (P.ETE,)), ("housing.conwy", (P.ACCOMMODATION,)))),
    DemoYoungPerson(
        "Mali", "Roberts", 16.9, "conwy", "yot.conwy", LegalStatus.OTHER,
        "Released under investigation; referred for help with accommodation.",
        {P.ACCOMMODATION: (A, "Sofa surfing with friends.")},
        "active", stage=2, referred_days_ago=40, consent_withdrawn=True,
        shares=(("housing.conwy", (P.ACCOMMODATION,)),)),
    DemoYoungPerson(
        "Ffion", "Price", 16.1, "conwy", "housing.conwy", LegalStatus.COMMUNITY_ORDER,
        "Housing referred: homeless at 16 after family breakdown; on a referral order.",
        {P.ACCOMMODATION: (A, "Emergency accommodation; needs a supported place."),
         P.FINANCE: (A, "Needs help claiming what she is entitled to.")},
        "active", stage=3, referred_days_ago=340, consent_days_ago=345, order_ends_in_days=200,
        shares=(("yot.conwy", (P.TRANSITIONS,)),)),
    DemoYoungPerson(
        "Ifan", "Thomas", 16.6, "flintshire", "yot.flintshire", LegalStatus.CUSTODY,
        "Remanded then sentenced; release in eight weeks to his dad's in Flint.",
        {P.FAMILIES: (A, "Dad is willing to have him home; needs support."),
         P.ETE: (R, "No plan for education after release.")},
        "accepted", stage=1, referred_days_ago=12, release_in_days=56),
    DemoYoungPerson(
        "Nia", "Edwards", 17.4, "gwynedd", "yot.gwynedd", LegalStatus.CUSTODY,
        "Release in five weeks; wants to live independently in Bangor.",
        {P.ACCOMMODATION: (R, "No supported housing for 17 year olds in Gwynedd with a space."),
         P.HEALTH: (G, None)},
        "active", stage=3, referred_days_ago=60, release_in_days=35, language="Welsh",
        shares=(("housing.gwynedd", (P.ACCOMMODATION,)),)),
    DemoYoungPerson(
        "Osian", "Lewis", 19.5, "wrexham", "yot.wrexham", LegalStatus.OTHER,
        "Referred for help finding work.",
        {P.ETE: (A, None)},
        "declined", referred_days_ago=30),
    DemoYoungPerson(
        "Kieran", "Walsh", 16.8, "cardiff", "yot.cardiff", LegalStatus.CUSTODY,
        "Detention and training order; release in ten weeks. Previously looked after.",
        {P.ACCOMMODATION: (R, "Leaving-care team to confirm a placement."),
         P.ETE: (A, "Engaging well with education in custody."),
         P.SUBSTANCE_MISUSE: (A, "Alcohol at weekends before custody.")},
        "active", stage=3, referred_days_ago=50, release_in_days=70,
        shares=(("housing.cardiff", (P.ACCOMMODATION,)),)),
    DemoYoungPerson(
        "Aaliyah", "Ahmed", 15.9, "cardiff", "yot.cardiff", LegalStatus.COMMUNITY_ORDER,
        "Referral order; school reports she is at risk of exploitation.",
        {P.FAMILIES: (A, "Mum works nights; older brother involved with a local group."),
         P.ETE: (A, "Attendance 60%.")},
        "submitted", referred_days_ago=2, order_ends_in_days=250),
)


def _born(age_years: float) -> date:
    return today() - timedelta(days=round(age_years * 365.25))


def _seed_referrals(people: dict[str, User], agencies: dict[str, Agency]) -> int:
    count = 0
    for demo in YOUNG_PEOPLE:
        referrer = people[demo.referrer]
        broker = people["broker.south" if demo.partnership == "cardiff" else "broker.north"]
        partnership = next(p for p in referrer.agency.partnerships if p.name == _partnership_name(demo.partnership))
        on = today()
        release = on + timedelta(days=demo.release_in_days) if demo.release_in_days is not None else None
        referral = referrals.refer(referrer, referrals.NewReferral(
            partnership_id=partnership.id,
            young_person=referrals.YoungPersonDetails(demo.given_name, demo.family_name, _born(demo.age_years),
                                                      pronouns=demo.pronouns, preferred_language=demo.language,
                                                      yot_reference=f"YJ{2600 + count:04d}"),
            reason=demo.reason,
            consent=referrals.ConsentInput(given=True, given_on=on - timedelta(days=demo.consent_days_ago)),
            legal_status=demo.legal_status,
            sentenced_on=on - timedelta(days=demo.referred_days_ago + 30) if demo.legal_status is LegalStatus.CUSTODY else None,
            expected_release_on=release,
            order_ends_on=on + timedelta(days=demo.order_ends_in_days) if demo.order_ends_in_days else None,
            needs={pathway: referrals.NeedInput(rating, note) for pathway, (rating, note) in demo.needs.items()},
        ))
        referral.referred_on = on - timedelta(days=demo.referred_days_ago)
        if demo.status == "info":
            referrals.request_information(broker, referral, "Is he known to children's services? Who has parental "
                                                            "responsibility?")
        elif demo.status == "declined":
            referrals.decline(broker, referral, "Over the age range for this panel; referred to the adult "
                                                "employment programme instead.")
        elif demo.status in ("accepted", "active", "closed"):
            referrals.accept(broker, referral)
            for agency_key, pathways in demo.shares:
                referrals.share(broker, referral, agencies[agency_key].id, list(pathways))
            if demo.status == "active":
                referrals.change_stage(broker, referral, demo.stage)
        if demo.consent_withdrawn:
            referrals.withdraw_consent(referrer, referral, None, "Told her YOT worker she does not want housing "
                                                                 "to have her details any more.")
        db.session.flush()
        count += 1

    # A re-referral: Jac was referred last spring, the work completed, and he is back after a recall.
    yot = people["yot.conwy"]
    broker = people["broker.north"]
    conwy = next(p for p in yot.agency.partnerships if p.name == _partnership_name("conwy"))
    details = referrals.YoungPersonDetails("Jac", "Davies", _born(17.5), pronouns="he/him")
    first = referrals.refer(yot, referrals.NewReferral(
        partnership_id=conwy.id, young_person=details, reason="Release from custody to his grandparents'.",
        consent=referrals.ConsentInput(given=True, given_on=today() - timedelta(days=250)),
        legal_status=LegalStatus.CUSTODY, expected_release_on=today() - timedelta(days=200),
        needs={Pathway.ACCOMMODATION: referrals.NeedInput(NeedRating.AMBER, "Grandparents' home, short term.")}))
    first.referred_on = today() - timedelta(days=250)
    referrals.accept(broker, first)
    referrals.close(broker, first, ClosureReason.COMPLETED, "Settled at his grandparents'; college place kept.")
    first.closed_on = today() - timedelta(days=90)
    db.session.flush()
    second = referrals.refer(yot, referrals.NewReferral(
        partnership_id=conwy.id,
        young_person=referrals.YoungPersonDetails("Jac", "Davies", details.date_of_birth),
        reason="Recalled to custody for breach of licence; release in four weeks.",
        consent=referrals.ConsentInput(given=True, given_on=today() - timedelta(days=3)),
        legal_status=LegalStatus.CUSTODY, expected_release_on=today() + timedelta(days=28), after_recall=True,
        needs={Pathway.ACCOMMODATION: referrals.NeedInput(NeedRating.RED, "Grandparents cannot have him back.")}))
    second.referred_on = today() - timedelta(days=3)
    return count + 2


def _partnership_name(key: str) -> str:
    return next(p.name for p in PARTNERSHIPS if p.key == key)


def _first_weekday(year: int, month: int, weekday: int) -> date:
    day = date(year, month, 1)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _panel_time(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=local_timezone())


DISCUSSION = (
    "Update from the YOT: engaging well with the plan since the last panel. Housing options reviewed; the "
    "supported lodgings provider has a space from next month.",
    "Health update noted. Family contact discussed; mum attended the last review and wants more say in the plan.",
    "Education place confirmed from January. Travel costs still to be sorted.",
)
UPDATE_TEXTS = (
    "Seen twice since the last panel; engaging well, no new concerns.",
    "Missed one appointment, rearranged with mum present. Waiting list position unchanged.",
    "Place offered from the 3rd of next month, subject to ID being sorted.",
)
# What the chair noted about health: read only by the broker, the referrer and health's workers.
HEALTH_NOTES = (
    "CAMHS assessment booked for the week after release.",
    "GP registration done; medication reviewed by the prison nurse.",
    "Sleep problems reported; school nurse to follow up.",
)
DECISIONS = (
    "Housing to confirm the lodgings place before release. YOT to arrange a pre-release visit.",
    "Broker to chase the college for a start date. Review at the next panel.",
    "Agreed to refer to the mentoring service; family work to start after release.",
)


def _seed_meetings(people: dict[str, User]) -> int:
    """For each partnership: last month's panel, held, with its minutes approved; and next month's,
    scheduled, with a proposed agenda and update requests out (one already answered)."""
    this_month = today().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    count = 0
    for demo in PARTNERSHIPS:
        broker = people["broker.south" if demo.key == "cardiff" else "broker.north"]
        partnership = next(p for p in broker.brokered_partnerships if p.name == demo.name)
        place = f"{demo.area} Youth Justice Service offices"
        # Last month's panel: scheduled, its agenda built and updates asked for and (mostly) sent as if
        # it were still to come; then dated back (demo data only).
        past = meetings.schedule(broker, partnership.id, meetings.MeetingDetails(
            _panel_time(next_month + timedelta(days=60), 10), _panel_time(next_month + timedelta(days=60), 12),
            location=place))
        cases = [proposal.referral for proposal in meetings.proposals(broker, past)][:3]
        items = [meetings.add_to_agenda(broker, past, referral.id, AgendaKind.REVIEW, 20) for referral in cases]
        if items:
            meetings.request_updates(broker, past, today())
        requests = [request for item in items for request in item.update_requests]
        for index, request in enumerate(requests):
            staff = next((u for u in people.values() if u.agency_id == request.agency_id), None)
            if staff is not None and index % 3 != 2:  # one in three never came
                # A health board's update is about health: only health's readers see it (issue 9).
                about = Pathway.HEALTH if staff.agency is not None and staff.agency.type == "health" else None
                meetings.send_update(staff, request, UPDATE_TEXTS[index % len(UPDATE_TEXTS)], about)
        day = _first_weekday(last_month.year, last_month.month, 1)
        past.starts_at, past.ends_at = _panel_time(day, 10), _panel_time(day, 12)
        for index, request in enumerate(requests):
            request.due_on = day - timedelta(days=2)
            if request.responded_at is not None:  # every fourth sent on the morning of the panel, too late
                request.responded_at = past.starts_at - (timedelta(hours=1) if index % 4 == 3 else timedelta(days=3))
        db.session.flush()
        for index, item in enumerate(items):
            meetings.save_notes(broker, item, DISCUSSION[index % 3], DECISIONS[index % 3], item.version,
                                {Pathway.HEALTH: HEALTH_NOTES[index % 3]})
        meetings.record_attendance(broker, past, {
            agency.id: (AttendanceStatus.APOLOGIES if agency.type == "employment" else AttendanceStatus.PRESENT,
                        None if agency.type == "employment" else f"{agency.agency_type.label} lead")
            for agency in past.invited_agencies})
        meetings.mark_held(broker, past)
        meetings.approve_minutes(broker, past, "Next panel on the first Tuesday of next month. The new "
                                               "supported-lodgings provider will present at the start.")
        # Next month's panel, with what is due on its agenda and updates asked for.
        day = _first_weekday(next_month.year, next_month.month, 1)
        upcoming = meetings.schedule(broker, partnership.id, meetings.MeetingDetails(
            _panel_time(day, 10), _panel_time(day, 12), location=place,
            online_link="https://meet.example.org/panel-" + demo.key))
        for proposal in meetings.proposals(broker, upcoming)[:4]:
            meetings.add_to_agenda(broker, upcoming, proposal.referral.id, proposal.kind, 15)
        if upcoming.items:
            meetings.request_updates(broker, upcoming, max(today(), day - timedelta(days=2)))
            first = upcoming.items[0]
            request = first.update_requests[0] if first.update_requests else None
            if request is not None:
                staff = next((u for u in people.values() if u.agency_id == request.agency_id), None)
                if staff is not None:
                    meetings.send_update(staff, request, "Seen last week: settled, attending every session. "
                                                         "No new concerns.")
        count += 2
    return count


# (young person's family name, agency account prefix, pathway, what, due in days, status, note)
DEMO_ACTIONS = (
    ("Jenkins", "housing.conwy", Pathway.ACCOMMODATION, "Find supported lodgings for release, and confirm the "
     "address to the secure estate.", -5, "in_progress", "Viewing booked at the Colwyn Bay lodgings."),
    ("Jenkins", "housing.conwy", Pathway.FINANCE, "Help open a bank account and apply for ID before release.",
     -12, "not_acted", "Raised at the last panel; nothing done yet."),
    ("Jenkins", "health.north", Pathway.HEALTH, "CAMHS assessment before release; share the outcome with the "
     "YOT worker.", 6, "blocked", "Waiting list is eleven weeks; asked for an urgent slot."),
    ("Jenkins", "yot.conwy", Pathway.TRANSITIONS, "Arrange a pre-release planning visit with mum.", 2, "open", None),
    ("Hughes", "education.conwy", Pathway.ETE, "Confirm the college start date and a bus pass until then.", 4,
     "in_progress", "College have the paperwork."),
    ("Hughes", "housing.conwy", Pathway.ACCOMMODATION, "Check in weekly during the intensive period.", 20, "open",
     None),
    ("Hughes", "yot.conwy", Pathway.FAMILIES, "Family session with Lowri and her dad.", 3, "done",
     "Session held; they agreed to meet fortnightly."),
    ("Parry", "substance.north", Pathway.SUBSTANCE_MISUSE, "Weekly sessions; re-engage after the missed two.", -3,
     "open", None),
    ("Parry", "careers.north", Pathway.ETE, "Prepare Elis for the apprenticeship interview.", 9, "open", None),
    ("Parry", "yot.conwy", Pathway.TRANSITIONS, "Start the handover plan with probation.", 30, "open", None),
    ("Price", "housing.conwy", Pathway.ACCOMMODATION, "Move Ffion from emergency to supported accommodation.",
     -30, "cancelled", "Ffion moved back in with her aunt."),
    ("Edwards", "housing.gwynedd", Pathway.ACCOMMODATION, "Find a supported housing place in Bangor.", -8, "blocked",
     "No places for 17 year olds in Gwynedd."),
    ("Walsh", "housing.cardiff", Pathway.ACCOMMODATION, "Confirm the leaving-care placement.", 12, "open", None),
)


def _seed_actions(people: dict[str, User], agencies: dict[str, Agency]) -> int:
    """Actions in every state across the demo referrals, some overdue (due dates are dated back
    after creation: demo data only)."""
    from panel_app.models import ActionStatus, ActionUpdate, NotDoneReason, PanelMeeting, Referral, YoungPerson
    from panel_app.services import actions as action_service

    count = 0
    for family, agency_key, pathway, what, due_in, status, note in DEMO_ACTIONS:
        referral = db.session.scalars(select(Referral).join(YoungPerson).where(
            YoungPerson.family_name == family, Referral.status == ReferralStatus.ACTIVE)).first()
        if referral is None:
            continue
        broker = next(b for b in referral.partnership.brokers)
        past_meeting = db.session.scalars(select(PanelMeeting).where(
            PanelMeeting.partnership_id == referral.partnership_id, PanelMeeting.status == "held")).first()
        action = action_service.create_action(broker, referral, action_service.NewAction(
            pathway=pathway, description=what, agency_id=agencies[agency_key].id, due_on=today() + timedelta(days=30),
            meeting_id=past_meeting.id if past_meeting else None))
        action.due_on = today() + timedelta(days=due_in)
        # Agreed at that panel (or a fortnight ago), not at the moment the demo was loaded.
        agreed = past_meeting.ends_at if past_meeting else utcnow_days_ago(14)
        action.created_at = agreed
        db.session.flush()
        # The history is never rewritten through the models (they refuse it); demo data alone dates
        # its first line back, with a plain UPDATE.
        db.session.execute(update(ActionUpdate.__table__).where(ActionUpdate.__table__.c.action_id == action.id)
                           .values(at=agreed, day=local_date(agreed)))
        db.session.expire(action, ["updates"])
        if status == "not_acted":  # overdue, and the broker has recorded that the agency did not act
            action_service.record_not_done(broker, action, NotDoneReason.AGENCY_HAS_NOT_ACTED, note, action.version)
        elif status != "open":
            actor = broker if status == "cancelled" else people.get(agency_key, broker)
            action_service.update_action(actor, action, action_service.ActionChange(
                version=action.version, status=ActionStatus(status), note=note,
                outcome=note if status == "done" else None))
        count += 1
    return count


# (partnership key, who logs it, pathway, title, description, severity, evidence (family names),
#  days ago logged, what happened next: None, "escalated", ("in_progress" | "resolved" | "accepted", owner))
DEMO_GAPS = (
    ("conwy", "housing.conwy", Pathway.ACCOMMODATION, "No supported housing for 16 and 17 year olds in Conwy",
     "Supported lodgings have had no places since the summer; young people leaving custody go to emergency "
     "accommodation or sofa surf.", "high", ("Jenkins", "Hughes", "Price"), 41, "escalated"),
    ("conwy", "health.north", Pathway.HEALTH, "CAMHS assessments take eleven weeks",
     "Young people released with an assessment pending wait more than ten weeks; the secure estate's referral "
     "is not carried over.", "high", ("Jenkins",), 60, ("in_progress", "Head of CAMHS, North Wales Health Board")),
    ("gwynedd", "housing.gwynedd", Pathway.ACCOMMODATION, "No supported housing spaces for 17 year olds in Gwynedd",
     "The only provider in Bangor takes 18 and over.", "critical", ("Edwards",), 20, "escalated"),
    ("cardiff", "broker.south", Pathway.ETE, "No ETE places starting within a month of release",
     "College and training starts are termly; young people released mid-term wait up to four months.", "medium",
     ("Walsh",), 35, None),
    ("flintshire", "broker.north", Pathway.FAMILIES, "Family mediation only in office hours",
     "Working parents cannot attend; sessions are cancelled.", "low", ("Thomas",), 120,
     ("accepted", "Flintshire family support manager")),
    ("wrexham", "broker.north", Pathway.SUBSTANCE_MISUSE, "No substance-misuse worker for under-18s",
     "The post was vacant for five months.", "medium", (), 200, ("resolved", "Area planning board")),
)


def _seed_gaps(people: dict[str, User]) -> int:
    """A realistic gap register across the Welsh partnerships, some escalated and answered (dated back:
    demo data only)."""
    from panel_app.models import GapEvent, GapSeverity, GapStatus, Referral, User as Person, YoungPerson
    from panel_app.services import gaps as gap_service

    lead = db.session.scalar(select(Person).where(Person.email == _email("lead.wales")))
    count = 0
    for key, who, pathway, title, description, severity, families, days_ago, outcome in DEMO_GAPS:
        actor = people[who]
        partnership = next(p for p in db.session.scalars(select(Partnership)) if p.name == _partnership_name(key))
        # The evidence a person gives: the referrals of these young people they see.
        evidence = list(db.session.scalars(policy.visible_referrals(actor).join(YoungPerson).where(
            Referral.partnership_id == partnership.id, YoungPerson.family_name.in_(families))
            .with_only_columns(Referral.id)))
        gap = gap_service.log_gap(actor, gap_service.NewGap(partnership.id, pathway, title, description,
                                                            GapSeverity(severity), evidence))
        logged = utcnow_days_ago(days_ago)
        gap.logged_at = logged
        for item in gap.evidence:
            item.waiting_since = logged.date()  # they have waited since the gap was first raised
        broker = partnership.brokers[0]
        if outcome is not None:
            gap_service.escalate(broker, gap, "Asking for a commissioning decision: we cannot meet this need.")
            gap.escalated_at = utcnow_days_ago(max(1, days_ago - 5))
            if isinstance(outcome, tuple):
                status, owner = outcome
                gap_service.respond(lead, gap, "Taken to the regional board; see the owner and target date.",
                                    GapStatus(status), owner, today() + timedelta(days=60))
        db.session.flush()
        # Date its history back too (the models refuse to rewrite history; demo data alone does, plainly).
        events = GapEvent.__table__
        for kind, at in (("logged", gap.logged_at), ("escalated", gap.escalated_at)):
            db.session.execute(update(events).where(events.c.gap_id == gap.id, events.c.kind == kind).values(at=at))
        db.session.expire(gap, ["events"])
        count += 1
    return count


def utcnow_days_ago(days: int) -> datetime:
    from panel_app.models import utcnow

    return utcnow() - timedelta(days=days)
