"""Leak test for service gaps (issue 6): "no young person's identity reaches a strategic lead in any
page, list, PDF, CSV or API answer" (docs/domain.md: a strategic lead "sees gaps and aggregate figures
across their region, never a young person's identity"), and case workers see among a gap's evidence
only the young people they may see (the others as a count).

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after
it, so every case meets the world as built):

* region R: partnership P (broker B; member agencies: the YOT that referred every case, a housing
  agency, an education provider involved in nothing) and partnership P2 (its own broker and YOT);
* region R2: partnership Q, with its own lead (nothing of Q reaches R's lead, not even a gap title);
* young people in P: X (two referrals: X1, shared with housing for accommodation, and a re-referral
  X2 shared with nobody) and Y (Y1, shared with nobody); V in P2; U in Q. Every identity field of
  each young person carries a unique marker: given and family name, date of birth (a distinctive
  date, looked for as 2009-03-27, 27 March 2009, 27 Mar 2009, 27/03/2009, ...), YOT reference,
  phone, email, address, pronouns, language; so do each referral's reason and need notes, and the
  actions on them (descriptions, and the note housing wrote when it blocked its action);
* P's gaps, with those referrals as evidence, in every state: OPEN, ESCALATED (two: one answered
  through the page, one through the API), IN_PROGRESS, RESOLVED, ACCEPTED, and BLOCKED: logged by
  housing from its blocked action on X1, with Y1 added as evidence by the broker, then escalated;
  an escalated gap in P2 and in Q;
* a panel meeting of P with X1 and Y1 on its agenda (a lead must reach nothing of it).

The referral dates are set by hand: X1 was referred 41 days ago, X2 10, Y1 25, V1 7, U1 50; the
figures a lead must see are counted here from them, by hand.

What each person may see is written out here by hand, never derived from policy.py.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

import pypdf
import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.models import ActionStatus, GapSeverity, NeedRating, Referral, Role, ServiceGap, User, db
from panel_app.pathways import Pathway
from panel_app.services import accounts
from panel_app.services import actions as action_service
from panel_app.services import gaps as gap_service
from panel_app.services import referrals as referral_service
from panel_app.services.actions import ActionChange, NewAction
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import built_once, csrf_token_from, deliver_emails, sign_in
from tests.factories import make_agency, make_gap, make_meeting, make_partnership, make_referral, make_region, make_user

# --- The markers --------------------------------------------------------------------------------

PEOPLE = ["X", "Y", "V", "U"]  # X, Y in P; V in P2 (same region); U in Q (another region)
BORN = {"X": date(2009, 3, 27), "Y": date(2010, 8, 14), "V": date(2008, 11, 19), "U": date(2011, 1, 9)}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def person_marker(person: str, field_name: str) -> str:
    return f"GapLeak{field_name}{person}Qz"


PERSON_FIELDS = ["Given", "Family", "Reference", "Phone", "Email", "Address", "Pronouns", "Language"]


def dob_texts(born: date) -> set[str]:
    """A date of birth as a page, a PDF, a CSV or an API might write it."""
    month = MONTHS[born.month - 1]
    return {born.isoformat(), f"{born.day} {month} {born.year}", f"{born.day:02d} {month} {born.year}",
            f"{born.day} {month[:3]} {born.year}", f"{born.day:02d}/{born.month:02d}/{born.year}",
            f"{born.day}/{born.month}/{born.year}", f"{born.day:02d}.{born.month:02d}.{born.year}",
            f"{month} {born.day}, {born.year}", born.strftime("%Y%m%d")}


# Referrals: X1, X2 (of X), Y1, V1, U1; each with a reason and need notes.
REFERRALS = ["X1", "X2", "Y1", "V1", "U1"]
REFERRAL_FIELDS = ["Reason", "AccommodationNote", "HealthNote", "EteNote"]


def referral_marker(referral: str, field_name: str) -> str:
    return f"GapLeak{field_name}{referral}Qz"


ACTION_DESCRIPTION = "GapLeakActionDescriptionQz"  # housing's accommodation action on X1 (blocked)
ACTION_NOTE = "GapLeakBlockedNoteQz"  # why housing blocked it
YOT_ACTION = "GapLeakYotActionQz"  # the YOT's ETE action on Y1

PERSON_MARKERS = {person: {person_marker(person, f) for f in PERSON_FIELDS} for person in PEOPLE}
NAME_MARKERS = {person: {person_marker(person, "Given"), person_marker(person, "Family")} for person in PEOPLE}
DOB_MARKERS = {person: dob_texts(BORN[person]) for person in PEOPLE}
CASE_MARKERS = {referral: {referral_marker(referral, f) for f in REFERRAL_FIELDS} for referral in REFERRALS}
EVERY_MARKER = (set().union(*PERSON_MARKERS.values(), *DOB_MARKERS.values(), *CASE_MARKERS.values())
                | {ACTION_DESCRIPTION, ACTION_NOTE, YOT_ACTION})

# Q's gap is titled with a marker of its own: R's lead must not even learn that it exists.
ELSEWHERE_TITLE = "GapLeakElsewhereTitleQz"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text.lower())


def markers_in(text: str, markers: set[str] = EVERY_MARKER) -> set[str]:
    """The markers in a text, case-insensitively, also where a line break (a PDF's) split one."""
    lowered, squashed = text.lower(), _squash(text)
    return {m for m in markers if m.lower() in lowered or _squash(m) in squashed}


def test_the_markers_are_distinct() -> None:
    """No marker is part of another (or a hit for one would be a hit for both)."""
    plain = EVERY_MARKER - set().union(*DOB_MARKERS.values())
    for one in plain:
        for other in plain - {one}:
            assert _squash(one) not in _squash(other)
    for person in PEOPLE:
        assert len(DOB_MARKERS[person]) >= 7
        for other in set(PEOPLE) - {person}:
            assert not DOB_MARKERS[person] & DOB_MARKERS[other]
    assert {"2009-03-27", "27 March 2009", "27/03/2009", "27 Mar 2009"} <= DOB_MARKERS["X"]


# --- The world ----------------------------------------------------------------------------------

OPEN, ESCALATED, ESCALATED_API, IN_PROGRESS, RESOLVED, ACCEPTED, BLOCKED = (
    "open", "escalated", "escalated_api", "in_progress", "resolved", "accepted", "blocked")
P2_GAP, Q_GAP = "p2", "q"

BROKER, YOT, HOUSING, EDUCATION, LEAD = "broker", "yot", "housing", "education", "lead"

REFERRED_DAYS_AGO = {"X1": 41, "X2": 10, "Y1": 25, "V1": 7, "U1": 50}

# The evidence of each gap (hand-written) and the figures a lead must see (hand-counted from the
# dates above: X's two referrals count once; the longest wait runs to today).
EVIDENCE = {OPEN: ["X1", "X2", "Y1"], ESCALATED: ["X1", "Y1"], ESCALATED_API: ["Y1"], IN_PROGRESS: ["X2", "Y1"],
            RESOLVED: ["X1"], ACCEPTED: ["Y1"], BLOCKED: ["X1", "Y1"], P2_GAP: ["V1"], Q_GAP: ["U1"]}
# BLOCKED: X1 came in through housing's action, created today (0 days); Y1 was added by the broker,
# waiting since its referral (25 days).
FIGURES = {OPEN: (2, 41), ESCALATED: (2, 41), ESCALATED_API: (1, 25), IN_PROGRESS: (2, 25), BLOCKED: (2, 25),
           P2_GAP: (1, 7)}
TITLES = {OPEN: "No supported lodgings for 16-17s", ESCALATED: "No college places after release",
          ESCALATED_API: "CAMHS waiting list closed", IN_PROGRESS: "No family mediation",
          RESOLVED: "Benefits advice only by phone", ACCEPTED: "No detox beds for under-18s",
          BLOCKED: "Blocked: Accommodation", P2_GAP: "No ETE places in the valleys", Q_GAP: ELSEWHERE_TITLE}
R_GAPS = [OPEN, ESCALATED, ESCALATED_API, IN_PROGRESS, RESOLVED, ACCEPTED, BLOCKED, P2_GAP]


@dataclass
class World:
    users: dict[str, int]  # role -> user id
    partnerships: dict[str, int]
    agencies: dict[str, int]
    referrals: dict[str, int]
    gaps: dict[str, int]
    actions: list[int]
    meeting_id: int
    items: list[int]
    other_lead_email: str  # the strategic lead of R2


def _young_person(person: str) -> YoungPersonDetails:
    return YoungPersonDetails(
        person_marker(person, "Given"), person_marker(person, "Family"), BORN[person],
        pronouns=person_marker(person, "Pronouns"), preferred_language=person_marker(person, "Language"),
        yot_reference=person_marker(person, "Reference"), phone=person_marker(person, "Phone"),
        email=f"{person_marker(person, 'Email')}@young.example", address=person_marker(person, "Address"))


def _referral(name: str, person: str, **kwargs: Any) -> Referral:
    referral = make_referral(
        status="accepted", reason=referral_marker(name, "Reason"), young_person=_young_person(person),
        needs={Pathway.ACCOMMODATION: (NeedRating.RED, referral_marker(name, "AccommodationNote")),
               Pathway.HEALTH: (NeedRating.RED, referral_marker(name, "HealthNote")),
               Pathway.ETE: (NeedRating.AMBER, referral_marker(name, "EteNote"))}, **kwargs)
    referral.referred_on = today() - timedelta(days=REFERRED_DAYS_AGO[name])
    db.session.flush()
    return referral


def build_world() -> World:
    region = make_region(name="Gap Leak Region")
    yot = make_agency(type="yot", name="Gap Leak YOT", contact_email="yot@gap-leak.example")
    housing = make_agency(type="housing", name="Gap Leak Housing", contact_email="housing@gap-leak.example")
    education = make_agency(type="education", name="Gap Leak School", contact_email="school@gap-leak.example")
    broker = make_user(Role.BROKER, name="Gap Leak Broker", email="broker@gap-leak.example")
    partnership = make_partnership(agencies=[yot, housing, education], brokers=[broker], region=region,
                                   name="Gap Leak Partnership", area="Gap Leak Area")
    users = {
        BROKER: broker,
        YOT: make_user(Role.AGENCY_STAFF, agency=yot, name="Gap Leak Case Manager"),
        HOUSING: make_user(Role.AGENCY_STAFF, agency=housing, name="Gap Leak Housing Officer"),
        EDUCATION: make_user(Role.AGENCY_STAFF, agency=education, name="Gap Leak Teacher"),
        LEAD: make_user(Role.STRATEGIC_LEAD, region=region, name="Gap Leak Lead", email="lead@gap-leak.example"),
    }
    common = {"partnership": partnership, "referrer": users[YOT], "broker": broker}
    referrals = {
        "X1": _referral("X1", "X", shared_with=[(housing, [Pathway.ACCOMMODATION])], **common),
        "X2": _referral("X2", "X", **common),
        "Y1": _referral("Y1", "Y", **common),
    }
    assert referrals["X1"].young_person_id == referrals["X2"].young_person_id  # X, referred twice

    # P2, in the same region.
    yot2 = make_agency(type="yot", name="Gap Leak Valleys YOT")
    broker2 = make_user(Role.BROKER, name="Gap Leak Valleys Broker")
    p2 = make_partnership(agencies=[yot2], brokers=[broker2], region=region, name="Gap Leak Valleys")
    referrals["V1"] = _referral("V1", "V", partnership=p2, referrer=make_user(Role.AGENCY_STAFF, agency=yot2),
                                broker=broker2)
    # Q, in another region, with a lead of its own.
    elsewhere = make_region(name="Gap Leak Elsewhere")
    yot3 = make_agency(type="yot", name="Gap Leak Elsewhere YOT")
    broker3 = make_user(Role.BROKER, name="Gap Leak Elsewhere Broker")
    q = make_partnership(agencies=[yot3], brokers=[broker3], region=elsewhere, name="Gap Leak Elsewhere")
    referrals["U1"] = _referral("U1", "U", partnership=q, referrer=make_user(Role.AGENCY_STAFF, agency=yot3),
                                broker=broker3)
    other_lead = make_user(Role.STRATEGIC_LEAD, region=elsewhere, name="Gap Leak Other Lead")

    # Housing's accommodation action on X1, blocked with a note; the YOT's ETE action on Y1.
    blocked = action_service.create_action(broker, referrals["X1"], NewAction(
        pathway=Pathway.ACCOMMODATION, description=f"Find supported lodgings ({ACTION_DESCRIPTION})",
        agency_id=housing.id, due_on=today() + timedelta(days=3)))
    yot_action = action_service.create_action(broker, referrals["Y1"], NewAction(
        pathway=Pathway.ETE, description=f"Find a college place ({YOT_ACTION})", agency_id=yot.id,
        due_on=today() + timedelta(days=5)))
    db.session.flush()
    action_service.update_action(users[HOUSING], blocked, ActionChange(
        version=blocked.version, status=ActionStatus.BLOCKED, note=f"Nothing anywhere ({ACTION_NOTE})"))
    meeting = make_meeting(partnership=partnership, broker=broker, agenda=[referrals["X1"], referrals["Y1"]])

    def evidence(gap: str) -> list[Referral]:
        return [referrals[name] for name in EVIDENCE[gap]]

    lead = users[LEAD]
    gaps = {
        OPEN: make_gap(evidence=evidence(OPEN), title=TITLES[OPEN], pathway=Pathway.ACCOMMODATION),
        ESCALATED: make_gap(evidence=evidence(ESCALATED), status="escalated", title=TITLES[ESCALATED],
                            pathway=Pathway.ETE, severity="critical"),
        ESCALATED_API: make_gap(evidence=evidence(ESCALATED_API), status="escalated", title=TITLES[ESCALATED_API],
                                pathway=Pathway.HEALTH, severity="medium"),
        IN_PROGRESS: make_gap(evidence=evidence(IN_PROGRESS), status="in_progress", title=TITLES[IN_PROGRESS],
                              pathway=Pathway.FAMILIES, lead=lead),
        RESOLVED: make_gap(evidence=evidence(RESOLVED), status="resolved", title=TITLES[RESOLVED],
                           pathway=Pathway.FINANCE, lead=lead, severity="low"),
        ACCEPTED: make_gap(evidence=evidence(ACCEPTED), status="accepted", title=TITLES[ACCEPTED],
                           pathway=Pathway.SUBSTANCE_MISUSE, lead=lead),
        P2_GAP: make_gap(evidence=evidence(P2_GAP), status="escalated", title=TITLES[P2_GAP], pathway=Pathway.ETE),
        Q_GAP: make_gap(evidence=evidence(Q_GAP), status="escalated", title=TITLES[Q_GAP]),
    }
    # Housing logs a gap from its blocked action (the evidence: X1); the broker adds Y1 and escalates it.
    from_action = gap_service.log_gap(users[HOUSING], gap_service.NewGap(
        partnership_id=partnership.id, pathway=Pathway.ACCOMMODATION, title=TITLES[BLOCKED],
        description="No supported lodgings place anywhere in the county.", severity=GapSeverity.CRITICAL,
        action_id=blocked.id))
    db.session.flush()
    gap_service.add_evidence(broker, from_action, referrals["Y1"].id)
    gap_service.escalate(broker, from_action, "Please commission supported lodgings.")
    gaps[BLOCKED] = from_action
    db.session.flush()
    return World({role: user.id for role, user in users.items()}, {"P": partnership.id, "P2": p2.id, "Q": q.id},
                 {"yot": yot.id, "housing": housing.id, "education": education.id},
                 {name: r.id for name, r in referrals.items()}, {name: g.id for name, g in gaps.items()},
                 [blocked.id, yot_action.id], meeting.id, [item.id for item in meeting.items], other_lead.email)


@pytest.fixture(scope="module")
def world(app: Flask, module_connection) -> World:
    return built_once(app, module_connection, build_world)


def user_of(world: World, role: str) -> User:
    """The person of that role, loaded in the case's own session."""
    return db.session.get(User, world.users[role])


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    response = sign_in(client, user.email)
    assert response.status_code == 302, f"sign-in failed for {user.email}"
    return client


# --- Reading what comes back --------------------------------------------------------------------

DATA_URL = re.compile(r"data:([\w/+.-]+)((?:;[\w=-]+)*?)(;base64)?,([^\"'\s)<>]+)")


def _data_urls(text: str) -> str:
    """What the ``data:`` URLs of a page hold (the charts are base64 SVG images: a name in a chart
    label would not show in the page's own text)."""
    decoded = []
    for match in DATA_URL.finditer(text):
        payload = match.group(4)
        if match.group(3):
            decoded.append(base64.b64decode(unquote(payload) + "=" * (-len(payload) % 4)).decode("utf-8", "replace"))
        else:
            decoded.append(unquote(payload))
    return " ".join(decoded)


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() for page in reader.pages)
    metadata = " ".join(str(value) for value in (reader.metadata or {}).values())
    return f"{text} {metadata}"


def readable(response: Any) -> str:
    """Everything a person can read in an answer, whatever its type: the text, what its images and
    links hold, and its headers (file names)."""
    headers = " ".join(f"{key}: {value}" for key, value in response.headers.items())
    if response.mimetype == "application/pdf":
        return pdf_text(response.data) + " " + headers
    text = response.get_data(as_text=True)
    return f"{text} {unquote(text)} {_data_urls(text)} {headers}"


def page_text(response: Any) -> str:
    """A page's visible text, one space between words."""
    return " ".join(BeautifulSoup(response.get_data(as_text=True), "html.parser").get_text(" ").split())


# A link to a case record (a page echoing the address the person typed is not a link to it).
REFERRAL_LINK = re.compile(r"""(?:href|action|src)=["'][^"']*/(?:referrals|actions|meetings)/\d+"""
                           r"""|"[^"\s]*/referrals/\d+""")


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


CASE_KEYS = {"referral_ids", "referral_id", "young_person", "given_name", "family_name", "date_of_birth"}


def leaks(response: Any) -> list[str]:
    """What of a young person an answer gives a strategic lead: markers, links to case records,
    evidence referral ids, and Q's gap."""
    text = readable(response)
    found = sorted(markers_in(text, EVERY_MARKER | {ELSEWHERE_TITLE}))
    links = sorted(set(REFERRAL_LINK.findall(text)))
    if links:
        found.append(f"links to case records {links}")
    if response.mimetype == "application/json" and response.data and response.request.path != "/api/v1/openapi.json":
        # (The OpenAPI document describes the keys: it gives no value.)
        if named := set(_keys(response.json)) & CASE_KEYS:
            found.append(f"keys naming case records: {sorted(named)}")
    if re.search(r"\b[A-Z]{2}, aged \d+", text):
        found.append("a young person's initials and age")
    return found


# --- A strategic lead: everything they can reach ------------------------------------------------

PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")

REGISTER_FILTERS = (["?status=" + s for s in ("open", "escalated", "in_progress", "resolved", "accepted")]
                    + ["?pathway=" + p.value for p in Pathway]
                    + ["?severity=" + s for s in ("low", "medium", "high", "critical")])


def lead_urls(app: Flask, world: World, token: str) -> Iterator[str]:
    """Every GET route of the application, with every record of the world in its parameters; the
    register and the API's list again with each filter; the forms to log a gap prefilled from each
    referral, action and meeting."""
    adapter = app.url_map.bind("localhost")
    values: dict[str, list[Any]] = {
        "gap_id": list(world.gaps.values()), "referral_id": list(world.referrals.values()),
        "action_id": world.actions, "meeting_id": [world.meeting_id], "item_id": world.items,
        "token": [token], "secret": ["not-an-account-link"],  # a single-use link nobody was sent
        # The administrator's pages: a lead is refused them, whichever record they name.
        "person_id": list(world.users.values()), "agency_id": list(world.agencies.values()),
        "partnership_id": list(world.partnerships.values()),
    }
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        names = sorted({name for _converter, name in PARAMETER.findall(rule.rule)})
        assert set(names) <= set(values), f"{rule.rule}: teach the walk its parameters"
        combinations: list[dict[str, Any]] = [{}]
        for name in names:
            combinations = [{**c, name: v} for c in combinations for v in values[name]]
        for combination in combinations:
            yield adapter.build(rule.endpoint, combination)
    for query in REGISTER_FILTERS + [f"?partnership={pid}" for pid in world.partnerships.values()]:
        yield "/gaps/" + query
    for query in REGISTER_FILTERS + [f"?partnership_id={pid}" for pid in world.partnerships.values()]:
        yield "/api/v1/gaps" + query
    yield "/api/v1/gaps?per_page=100"
    yield "/api/v1/referrals?per_page=100"
    yield "/api/v1/actions?assigned_to=my_agency"
    for referral_id in world.referrals.values():
        yield f"/gaps/new?referral={referral_id}"
    for action_id in world.actions:
        yield f"/gaps/new?action={action_id}"
    yield f"/gaps/new?meeting={world.meeting_id}"


def _respond_as_lead(world: World, headers: dict[str, str], client: FlaskClient) -> list[tuple[str, Any]]:
    """The lead answers ESCALATED through the page and ESCALATED_API through the API, with a
    mistake first each time; and tries what a lead may not do. Every answer is kept to be read."""
    answers: list[tuple[str, Any]] = []
    escalated = world.gaps[ESCALATED]
    form = client.get(f"/gaps/{escalated}/respond")
    answers.append(("GET respond form", form))
    assert form.status_code == 200
    target = today() + timedelta(days=60)
    data = {"csrf_token": csrf_token_from(form.text), "version": re.search(r'name="version"[^>]*value="(\d+)"',
                                                                           form.text).group(1),
            "response": "The council will commission four places.", "status": "in_progress", "owner": "",
            "target_on": [str(target.day), str(target.month), str(target.year)]}
    wrong = client.post(f"/gaps/{escalated}/respond", data=data)  # no owner: the form again, with the error
    answers.append(("POST respond without an owner", wrong))
    assert wrong.status_code == 422, wrong.status_code  # an owner is the rule for a gap in progress
    done = client.post(f"/gaps/{escalated}/respond", data={**data, "owner": "Head of Housing"})
    assert done.status_code == 302, done.text[:300]
    after = client.get(done.headers["Location"])
    answers.append(("the page after the response", after))
    assert after.status_code == 200 and "Head of Housing" in after.text

    api_gap = world.gaps[ESCALATED_API]
    wrong = client.post(f"/api/v1/gaps/{api_gap}/response", headers=headers,
                        json={"response": "Looking into it", "status": "in_progress", "owner": None})
    answers.append(("API response without an owner", wrong))
    assert wrong.status_code == 422
    answered = client.post(f"/api/v1/gaps/{api_gap}/response", headers=headers, json={
        "response": "CAMHS will reopen the list", "status": "in_progress", "owner": "Health board director",
        "target_date": target.isoformat()})
    answers.append(("API response", answered))
    assert answered.status_code == 200 and answered.json["status"] == "in_progress"
    assert answered.json["owner"] == "Health board director"

    # What a lead may not do: the answers must not name anyone either.
    evidence_ids = [world.referrals["X1"], world.referrals["Y1"]]
    answers.append(("API log a gap", client.post("/api/v1/gaps", headers=headers, json={
        "partnership_id": world.partnerships["P"], "pathway": "accommodation", "title": "By a lead",
        "description": "Should not be logged", "severity": "high", "referral_ids": evidence_ids})))
    answers.append(("API escalate", client.post(f"/api/v1/gaps/{world.gaps[OPEN]}/escalate", headers=headers,
                                                json={"note": "By a lead"})))
    answers.append(("API respond to another region's gap", client.post(
        f"/api/v1/gaps/{world.gaps[Q_GAP]}/response", headers=headers,
        json={"response": "Not mine", "status": "resolved"})))
    token = csrf_token_from(client.get("/gaps/review").text)
    answers.append(("POST evidence", client.post(f"/gaps/{world.gaps[OPEN]}/evidence", data={
        "csrf_token": token, "referral_id": str(world.referrals["X1"])})))
    answers.append(("POST escalate", client.post(f"/gaps/{world.gaps[OPEN]}/escalate", data={
        "csrf_token": token, "version": "1", "note": "By a lead"})))
    answers.append(("POST new gap", client.post("/gaps/new", data={
        "csrf_token": token, "partnership_id": str(world.partnerships["P"]), "pathway": "accommodation",
        "title": "By a lead", "description": "x", "severity": "high", "referral_ids": [str(i) for i in evidence_ids]})))
    return answers


def test_nothing_of_a_young_person_reaches_a_strategic_lead(app: Flask, api_token, world: World) -> None:
    lead = user_of(world, LEAD)
    calendar_token = accounts.new_calendar_token(lead)
    db.session.commit()
    headers = api_token(lead)
    client = _client(app, lead)

    problems: list[str] = []
    for what, answer in _respond_as_lead(world, headers, client):
        if found := leaks(answer):
            problems.append(f"{what}: {answer.status_code} {found}")
    visited: dict[str, Any] = {}
    for url in lead_urls(app, world, calendar_token):
        response = client.get(url, headers=headers if url.startswith("/api/") else None)
        visited[url] = response
        if response.status_code >= 500:
            problems.append(f"{url}: {response.status_code}")
        if found := leaks(response):
            problems.append(f"{url}: {response.status_code} {found}")
    assert not problems, "a strategic lead reads what identifies a young person:\n" + "\n".join(problems)

    # The walk was not blind: the lead reached each of the region's gaps, the queue, the dashboard,
    # the documents and the API, and reached none of the case records.
    for name in R_GAPS:
        gap_id = world.gaps[name]
        for url in (f"/gaps/{gap_id}", f"/api/v1/gaps/{gap_id}"):
            assert visited[url].status_code == 200, url
        assert TITLES[name] in visited[f"/gaps/{gap_id}"].text
    assert visited[f"/gaps/{world.gaps[Q_GAP]}"].status_code == 404
    assert visited[f"/api/v1/gaps/{world.gaps[Q_GAP]}"].status_code == 404
    for url in ("/", "/gaps/", "/gaps/review", "/gaps/dashboard", "/gaps/report.pdf", "/gaps/register.csv",
                "/api/v1/gaps", "/api/v1/gaps/report.pdf"):
        assert visited[url].status_code == 200, url
    for referral_id in world.referrals.values():
        assert visited[f"/referrals/{referral_id}"].status_code == 404
        assert visited[f"/api/v1/referrals/{referral_id}"].status_code == 404
    assert len(visited) >= 80
    print(f"\nlead: {len(visited)} GET requests, none naming a young person")


def test_a_strategic_lead_sees_the_evidence_as_figures(app: Flask, api_token, world: World) -> None:
    """The same answers carry what a lead needs: how many young people, how long the longest has
    waited, how many agencies raised it (counted by hand above), so the walk above is not over empty
    pages."""
    lead = user_of(world, LEAD)
    headers = api_token(lead)
    client = _client(app, lead)
    escalated_now = [ESCALATED, ESCALATED_API, P2_GAP, BLOCKED]  # in the order they were escalated
    unresolved_now = [OPEN, ESCALATED, ESCALATED_API, IN_PROGRESS, P2_GAP, BLOCKED]

    def line(gap: str) -> str:
        people, days = FIGURES[gap]
        return (f"{people} young {'person' if people == 1 else 'people'} affected, longest wait {days} "
                f"day{'' if days == 1 else 's'}")

    home = page_text(client.get("/"))
    assert f"{len(escalated_now)} escalated gaps waiting for your response" in home
    assert f"{len(unresolved_now)} gaps unresolved in your region" in home

    review = page_text(client.get("/gaps/review"))
    positions = [review.find(TITLES[name]) for name in escalated_now]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), "oldest first"
    for name in escalated_now:
        agencies = 1 if name == BLOCKED else 0
        assert f"{TITLES[name]} " in review
        assert f"{line(name)} · raised by {agencies} agenc{'y' if agencies == 1 else 'ies'}" in review, name
    for name in (OPEN, IN_PROGRESS, RESOLVED, ACCEPTED, Q_GAP):
        assert TITLES[name] not in review

    register = page_text(client.get("/gaps/"))
    assert "8 gaps" in register
    for name in FIGURES:
        assert line(name) in register, name
    assert ELSEWHERE_TITLE not in register

    for name, (people, days) in FIGURES.items():
        response = client.get(f"/gaps/{world.gaps[name]}")
        gap_page = page_text(response)
        assert f"{people} young {'person' if people == 1 else 'people'} affected" in gap_page
        assert f"{days} days: the longest wait" in gap_page
        # No list of the young people (its heading): the escalation email the lead received, shown with
        # its text on the page, gives the same figures in its words ("Young people affected: 2.").
        headings = [h.get_text(" ", strip=True) for h in
                    BeautifulSoup(response.get_data(as_text=True), "html.parser").find_all(["h2", "h3"])]
        assert "Young people affected" not in headings and "not involved with" not in gap_page

    listed = client.get("/api/v1/gaps?per_page=100", headers=headers).json
    assert listed["total"] == 8
    figures = {item["id"]: (item["young_people_affected"], item["longest_wait_days"], item["agencies_raising"])
               for item in listed["items"]}
    # Closed gaps: the wait runs to the day they were closed (today).
    expected = {world.gaps[name]: (*FIGURES[name], 1 if name == BLOCKED else 0) for name in FIGURES}
    expected |= {world.gaps[RESOLVED]: (1, 41, 0), world.gaps[ACCEPTED]: (1, 25, 0)}
    assert figures == expected
    detail = client.get(f"/api/v1/gaps/{world.gaps[OPEN]}", headers=headers).json
    assert (detail["young_people_affected"], detail["longest_wait_days"], detail["status"]) == (2, 41, "open")
    assert "referral_ids" not in detail

    rows = list(csv.reader(io.StringIO(client.get("/gaps/register.csv").get_data(as_text=True))))
    header, body = rows[0], {int(row[0]): row for row in rows[1:]}
    assert set(body) == set(expected)
    people_at, wait_at = header.index("young people affected"), header.index("longest wait (days)")
    assert {gap_id: (int(row[people_at]), int(row[wait_at])) for gap_id, row in body.items()} == {
        gap_id: figures[:2] for gap_id, figures in expected.items()}

    for url, api in (("/gaps/report.pdf", False), ("/api/v1/gaps/report.pdf", True)):
        report = client.get(url, headers=headers if api else None)
        assert report.status_code == 200 and report.mimetype == "application/pdf"
        text = _squash(pdf_text(report.data))
        for name in FIGURES:
            assert _squash(TITLES[name]) in text, (url, name)
            assert _squash(line(name)) in text, (url, name)
        assert _squash(ELSEWHERE_TITLE) not in text

    dashboard = client.get("/gaps/dashboard")
    text = page_text(dashboard)
    assert f"{len(unresolved_now)} gaps unresolved" in text and f"{len(escalated_now)} escalations waiting" in text
    assert "2 resolved or accepted" in text
    for name in escalated_now:
        assert TITLES[name] in text
    # The charts are read too (the walk decodes them): the waiting chart names the gaps it shows.
    assert TITLES[BLOCKED] in _data_urls(dashboard.text)


# --- Case workers: the names they may see, the others as a count --------------------------------

# Which of the evidence referrals each case worker may see (written by hand): the broker and the YOT
# (the referrer) all; housing X1 (shared with it, and it holds an action on it); education none.
SEES = {BROKER: {"X1", "X2", "Y1"}, YOT: {"X1", "X2", "Y1"}, HOUSING: {"X1"}, EDUCATION: set()}
PERSON_OF = {"X1": "X", "X2": "X", "Y1": "Y", "V1": "V", "U1": "U"}
ACTION_MARKERS = {"X1": {ACTION_DESCRIPTION, ACTION_NOTE}, "Y1": {YOT_ACTION}, "X2": set()}


def allowed(role: str) -> set[str]:
    """Every marker this case worker may read somewhere (housing never reads X1's health note)."""
    markers: set[str] = set()
    for referral in SEES[role]:
        person = PERSON_OF[referral]
        markers |= PERSON_MARKERS[person] | DOB_MARKERS[person] | CASE_MARKERS[referral] | ACTION_MARKERS[referral]
    if role == HOUSING:
        markers.discard(referral_marker("X1", "HealthNote"))
    return markers


def _without_evidence_form(html: str) -> str:
    """The gap page without its form for adding evidence (which lists, by name, the referrals the
    person may add)."""
    soup = BeautifulSoup(html, "html.parser")
    for form in soup.select('form[action*="/evidence"]'):
        form.decompose()
    return " ".join(soup.get_text(" ").split())


P_GAPS = [OPEN, ESCALATED, ESCALATED_API, IN_PROGRESS, RESOLVED, ACCEPTED, BLOCKED]


@pytest.mark.parametrize("role", [BROKER, YOT, HOUSING, EDUCATION])
def test_case_workers_see_by_name_only_the_young_people_they_may_see(app: Flask, api_token, world: World,
                                                                    role: str) -> None:
    user = user_of(world, role)
    headers = api_token(user)
    client = _client(app, user)

    problems = []
    for name in P_GAPS:
        evidence = EVIDENCE[name]
        seen = [r for r in evidence if r in SEES[role]]
        people = {PERSON_OF[r] for r in evidence}
        named = {PERSON_OF[r] for r in seen}
        page = client.get(f"/gaps/{world.gaps[name]}")
        assert page.status_code == 200, (role, name)
        text = _without_evidence_form(page.text)
        names = markers_in(text, set().union(*NAME_MARKERS.values()))
        expected_names = set().union(set(), *(NAME_MARKERS[p] for p in named))
        if names != expected_names:
            problems.append(f"/gaps/{name}: names {sorted(names)}, expected {sorted(expected_names)}")
        if not markers_in(readable(page)) <= allowed(role):
            problems.append(f"/gaps/{name}: {sorted(markers_in(readable(page)) - allowed(role))}")
        links = set(re.findall(r'href="/referrals/(\d+)"', page.text))
        if links != {str(world.referrals[r]) for r in seen}:
            problems.append(f"/gaps/{name}: links to referrals {sorted(links)}")
        unnamed = len(people) - len(named)
        phrase = (f"and {unnamed} young {'person' if unnamed == 1 else 'people'} your agency is not involved with"
                  if unnamed else "your agency is not involved with")
        if (phrase in text) != bool(unnamed):
            problems.append(f"/gaps/{name}: expected {phrase!r} {'present' if unnamed else 'absent'}")
        count = len(people)
        if f"{count} young {'person' if count == 1 else 'people'} affected" not in text:
            problems.append(f"/gaps/{name}: the figure {count} is missing")

        answer = client.get(f"/api/v1/gaps/{world.gaps[name]}", headers=headers)
        assert answer.status_code == 200
        if sorted(answer.json["referral_ids"]) != sorted(world.referrals[r] for r in seen):
            problems.append(f"/api/v1/gaps/{name}: referral_ids {answer.json['referral_ids']}")
        if answer.json["young_people_affected"] != count:
            problems.append(f"/api/v1/gaps/{name}: young_people_affected {answer.json['young_people_affected']}")
        if markers_in(readable(answer)):
            problems.append(f"/api/v1/gaps/{name}: {sorted(markers_in(readable(answer)))}")

    # Lists and the other partnerships' gaps: figures only, and nothing of what is not theirs.
    for url in ["/gaps/", "/api/v1/gaps?per_page=100", *(f"/gaps/{query}" for query in REGISTER_FILTERS),
                f"/gaps/{world.gaps[P2_GAP]}", f"/gaps/{world.gaps[Q_GAP]}", f"/api/v1/gaps/{world.gaps[Q_GAP]}"]:
        response = client.get(url, headers=headers if url.startswith("/api/") else None)
        if found := markers_in(readable(response), EVERY_MARKER | {ELSEWHERE_TITLE}):
            problems.append(f"{url}: {sorted(found)}")
        if url.endswith((f"/{world.gaps[P2_GAP]}", f"/{world.gaps[Q_GAP]}")) and response.status_code != 404:
            problems.append(f"{url}: {response.status_code}, expected 404")
    listed = client.get("/api/v1/gaps?per_page=100", headers=headers).json
    assert {item["id"] for item in listed["items"]} == {world.gaps[name] for name in P_GAPS}
    # Logging a gap from a referral or an action it may not see prefills nothing of it.
    for referral in ("X1", "X2", "Y1"):
        page = client.get(f"/gaps/new?referral={world.referrals[referral]}")
        if not markers_in(readable(page)) <= allowed(role):
            problems.append(f"/gaps/new?referral={referral}: {sorted(markers_in(readable(page)) - allowed(role))}")
    assert not problems, f"as {role}:\n" + "\n".join(problems)


def test_withdrawn_consent_turns_the_young_person_back_into_a_count(app: Flask, api_token, world: World) -> None:
    """docs/domain.md: withdrawn consent narrows the circle back to the referring agency and the broker. X
    withdraws consent on X1: housing (which had it shared, and holds an action on it) now sees X on
    the gap pages only as a count; the YOT (the referrer) and the broker still see X by name."""
    referral_service.withdraw_consent(user_of(world, YOT), db.session.get(Referral, world.referrals["X1"]), None,
                                      "The young person asked us to stop sharing")
    db.session.commit()
    x_names, y_names = NAME_MARKERS["X"], NAME_MARKERS["Y"]
    for role, names, ids, unnamed in ((HOUSING, set(), [], "and 2 young people your agency is not involved with"),
                                      (YOT, x_names | y_names, ["X1", "X2", "Y1"], None),
                                      (BROKER, x_names | y_names, ["X1", "X2", "Y1"], None)):
        user = user_of(world, role)
        client = _client(app, user)
        page = client.get(f"/gaps/{world.gaps[OPEN]}")
        assert page.status_code == 200
        text = _without_evidence_form(page.text)
        assert markers_in(text, x_names | y_names) == names, role
        if role == HOUSING:
            assert markers_in(readable(page)) == set()
            for name in (BLOCKED, ESCALATED, RESOLVED):  # X1 (and Y1) only
                assert markers_in(readable(client.get(f"/gaps/{world.gaps[name]}"))) == set(), name
        if unnamed:
            assert unnamed in text
        answer = client.get(f"/api/v1/gaps/{world.gaps[OPEN]}", headers=api_token(user)).json
        assert sorted(answer["referral_ids"]) == sorted(world.referrals[r] for r in ids), role
        assert answer["young_people_affected"] == 2


# --- Emails -------------------------------------------------------------------------------------


def message_text(message: EmailMessage) -> str:
    """The subject and every part of an email, attachments included (a PDF read as text)."""
    parts = [message["Subject"] or "", message["To"] or ""]
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = pdf_text(content) if part.get_content_type() == "application/pdf" else content.decode(
                "utf-8", "replace")
        parts.append(f"{part.get_filename() or ''} {content}")
    return " ".join(parts)


def test_the_emails_a_strategic_lead_receives_name_no_young_person(app: Flask, smtp, world: World) -> None:
    with app.test_request_context("/"):
        deliver_emails()  # what building the world sent: seven escalations in R, one in Q
    broker = _client(app, user_of(world, BROKER))
    form = broker.get(f"/gaps/{world.gaps[OPEN]}/escalate")
    response = broker.post(f"/gaps/{world.gaps[OPEN]}/escalate", data={
        "csrf_token": csrf_token_from(form.text), "version": str(db.session.get(ServiceGap, world.gaps[OPEN]).version),
        "note": "Six young people waited more than 30 days this year."})
    assert response.status_code == 302, response.text[:300]

    to_lead = smtp.to(user_of(world, LEAD).email)
    escalated = [ESCALATED, ESCALATED_API, IN_PROGRESS, RESOLVED, ACCEPTED, P2_GAP, BLOCKED, OPEN]
    assert sorted(m["Subject"].strip() for m in to_lead) == sorted(
        f"Service gap escalated: {TITLES[name]} ({'Gap Leak Valleys' if name == P2_GAP else 'Gap Leak Partnership'})"
        for name in escalated)
    for message in to_lead:
        text = message_text(message)
        assert markers_in(text, EVERY_MARKER | {ELSEWHERE_TITLE}) == set(), message["Subject"]
        assert not REFERRAL_LINK.search(text) and "/referrals/" not in text
        assert "Young people affected: " in text and "http://panels.test/gaps/" in text
    [about_open] = [m for m in to_lead if TITLES[OPEN] in m["Subject"]]
    assert "Young people affected: 2. Longest wait: 41 days." in message_text(about_open)
    [elsewhere] = smtp.to(world.other_lead_email)
    assert ELSEWHERE_TITLE in elsewhere["Subject"] and markers_in(message_text(elsewhere)) == set()
