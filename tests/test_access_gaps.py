"""The access matrix of the service-gap routes: every route (page and API) x every kind of caller ->
the status, what a call changes, and exactly which gaps each list, count, file and figure takes in.

The expectations are written out here by hand from docs/domain.md ("Who may see what"), docs/api.md and issue 6,
never derived from policy.py, so that a change of rule has to be a change of this table too.

The rules, as written for service gaps:

* A gap belongs to one partnership. It is seen by that partnership's brokers and by the staff of its
  member agencies (every gap of the partnership, whether or not their agency is involved in the
  referrals that are its evidence), and by the strategic leads of the region the partnership is in.
  Anyone else (the broker or an agency of another partnership, a strategic lead of another region,
  an admin) gets a 404 on anything naming the gap, page and API alike: never a 403.
* The register (``/gaps/``) is for brokers, agency staff and strategic leads (an admin: 403); it lists
  the gaps the caller sees. Logging a gap (``/gaps/new``) is case work: brokers and agency staff;
  leads and admins get a 403 (the page names no record).
* The routes that work on one gap's case (adding evidence, escalating, reopening) are for case
  workers: a role that may not use them gets the 404 an absent record gets, a strategic lead who
  can see the gap included. Among the people who see the gap, only its partnership's broker escalates
  and reopens: member agencies' staff get a 403. Adding evidence is for the broker and every member
  agency.
* Responding (``/gaps/<id>/respond``) is for a strategic lead of the gap's region; every other role
  gets a 404 (the route names a record), as does a lead of another region (the gap is not theirs).
* The review queue is for strategic leads (others: 403). The dashboard, the PDF report and the CSV
  register are for brokers and strategic leads (agency staff and admins: 403), and take in only the
  gaps the caller sees.
* API: ``POST /api/v1/gaps`` for partnership P: P's broker and staff of P's member agencies 201; a
  strategic lead whose region holds P sees P but may not log there: 403; callers to whom P is unknown
  404. ``GET /api/v1/gaps`` answers everyone signed in with the gaps they see (an admin: none).
  ``POST .../escalate``: the broker 200; those who see the gap but may not escalate it (member
  agencies, the region's lead) 403 (docs/api.md: "you can see it but may not do this"); outsiders 404.
  ``POST .../response``: the region's lead 200; the broker and member agencies who see it 403;
  outsiders 404. ``GET /api/v1/gaps/report.pdf``: brokers and leads 200, agency staff and admins 403.
* Anonymous: a redirect to /sign-in on pages, a 401 on the API.

A decision the rules above leave to us: on the web, escalating and reopening are record routes for
case workers, so a strategic lead who can open the gap gets the 404 of a role not allowed there,
whereas the API answers the same lead a 403 on escalation (docs/api.md defines 403 as "you can see it but
may not do this", and a lead sees the gap through the API). Both doors refuse, and neither confirms
more than the caller already knows.

What "allowed in" means here: a GET answers 200; a change is sent complete and valid, so an allowed
page POST succeeds and redirects to the gap (302) and an allowed API call answers 201 (create) or 200.
Each state-changing route is exercised on a gap in the state it needs (escalate an open gap, respond
to an escalated one, reopen a resolved one); the state errors are tested apart, below the matrix.
Two page POSTs answer 400 to callers who are let in but whose form names what they may not use:
logging a gap in P from a broker or agency of another partnership (P is not among the form's
partnerships), and adding as evidence a referral the caller's agency is not involved in (it is not
among the form's choices). A refused call changes nothing; an allowed one changes exactly what it is
about.

The world every case runs in (built once per module, with every caller signed in once; each case, one
route called by every caller, runs in a SAVEPOINT rolled back after it, and each caller's call is
rolled back to a savepoint of its own, so that every caller meets the world exactly as built):

* region R1 holds partnership P (member agencies: a YOT, a housing agency, an education provider;
  brokered by "broker") and partnership P2 (one member agency; brokered by "other broker");
  region R2 holds partnership Q (member agency: another YOT, whose worker is "other partnership").
  A strategic lead of R1 ("lead") and of R2 ("other lead"); an admin.
* referrals: ALPHA (P, referred by the YOT, shared with housing for accommodation), BRAVO (P,
  referred by the YOT, shared with nobody), CHARLIE (Q, referred by Q's YOT).
* gaps: OPEN (P, open; evidence ALPHA), ESCALATED (P, escalated; evidence ALPHA and BRAVO), RESOLVED
  (P, escalated then resolved by the lead; evidence BRAVO), NEIGHBOUR (P2, escalated; no evidence),
  ELSEWHERE (Q, escalated; evidence CHARLIE).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.models import GapEvent, GapReferral, NeedRating, Role, ServiceGap, User, db
from panel_app.pathways import Pathway
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import built_once, csrf_token_from, sign_in
from tests.factories import make_agency, make_gap, make_partnership, make_referral, make_region, make_user

ANONYMOUS = "anonymous"
BROKER = "broker"
OTHER_BROKER = "other_broker"  # P2's broker: same region, another partnership
YOT = "yot_agency"  # P's YOT: referred ALPHA and BRAVO
HOUSING = "housing_agency"  # P's housing: shared ALPHA
EDUCATION = "education_agency"  # P's education provider: involved in no referral
OTHER_PARTNERSHIP = "other_partnership"  # Q's YOT: referred CHARLIE
LEAD = "strategic_lead"  # of R1 (P and P2)
OTHER_LEAD = "other_lead"  # of R2 (Q)
ADMIN = "admin"
ROLES = [ANONYMOUS, BROKER, OTHER_BROKER, YOT, HOUSING, EDUCATION, OTHER_PARTNERSHIP, LEAD, OTHER_LEAD, ADMIN]

# The gaps of the world.
OPEN, ESCALATED, RESOLVED, NEIGHBOUR, ELSEWHERE = "open", "escalated", "resolved", "neighbour", "elsewhere"
GAPS = [OPEN, ESCALATED, RESOLVED, NEIGHBOUR, ELSEWHERE]
# Their titles: one word each, unique, so a title found in an answer is that gap's.
TITLES = {key: f"Gapmatrixtitle{key}" for key in GAPS}

# The young people (family names are unique: a name found in an answer is theirs).
ALPHA, BRAVO, CHARLIE = "alpha", "bravo", "charlie"
NAMES = {ALPHA: ("Rhodri", "Gapmatrixalpha"), BRAVO: ("Seren", "Gapmatrixbravo"),
         CHARLIE: ("Tomos", "Gapmatrixcharlie")}
# Whose names a caller may ever read, on any page or answer of this matrix (docs/domain.md: the referrals
# their agency is involved in; a broker, the partnership's; leads and admins, nobody's).
MAY_READ = {BROKER: {ALPHA, BRAVO}, YOT: {ALPHA, BRAVO}, HOUSING: {ALPHA}, OTHER_PARTNERSHIP: {CHARLIE}}

# The names of the partnerships and agencies (unique words), to see whose figures a report takes in.
PARTNERSHIP_NAMES = {"P": "Gapmatrixhome Partnership", "P2": "Gapmatrixneighbour Partnership",
                     "Q": "Gapmatrixelsewhere Partnership"}
AGENCY_NAMES = {"yot": "Gapmatrixhomeyot", "housing": "Gapmatrixhomehousing", "education": "Gapmatrixhomeschool",
                "p2": "Gapmatrixneighbouryot", "q": "Gapmatrixelsewhereyot"}

# (method, path, door) -> status per role, in the order of ROLES:
#  anon broker other_broker yot housing education other_partnership lead other_lead admin
EXPECTED: dict[tuple[str, str, str], list[int]] = {
    # --- Pages that name no gap.
    ("GET", "/gaps/", "page"):                             [302, 200, 200, 200, 200, 200, 200, 200, 200, 403],
    ("GET", "/gaps/?status=escalated", "page"):            [302, 200, 200, 200, 200, 200, 200, 200, 200, 403],
    ("GET", "/gaps/new", "page"):                          [302, 200, 200, 200, 200, 200, 200, 403, 403, 403],
    # Prefilled from Q's referral: the form ignores a referral the caller may not see.
    ("GET", "/gaps/new?referral={charlie}", "page"):       [302, 200, 200, 200, 200, 200, 200, 403, 403, 403],
    # Logging a gap in P: P's broker and member agencies; others' forms do not offer P (400).
    ("POST", "/gaps/new", "page"):                         [302, 302, 400, 302, 302, 302, 400, 403, 403, 403],
    # --- One gap: seen by its partnership's broker and member agencies, and its region's lead.
    ("GET", "/gaps/{open}", "page"):                       [302, 200, 404, 200, 200, 200, 404, 200, 404, 404],
    ("GET", "/gaps/{escalated}", "page"):                  [302, 200, 404, 200, 200, 200, 404, 200, 404, 404],
    ("GET", "/gaps/{resolved}", "page"):                   [302, 200, 404, 200, 200, 200, 404, 200, 404, 404],
    ("GET", "/gaps/{neighbour}", "page"):                  [302, 404, 200, 404, 404, 404, 404, 200, 404, 404],
    ("GET", "/gaps/{elsewhere}", "page"):                  [302, 404, 404, 404, 404, 404, 200, 404, 200, 404],
    # --- One gap's case work. Evidence: the broker and every member agency, citing BRAVO (housing and
    # education are not involved in BRAVO: it is not among their choices, 400).
    ("POST", "/gaps/{open}/evidence", "page"):             [302, 302, 404, 302, 400, 400, 404, 404, 404, 404],
    # Escalating (an open gap) and reopening (a resolved one): the broker only.
    ("GET", "/gaps/{open}/escalate", "page"):              [302, 200, 404, 403, 403, 403, 404, 404, 404, 404],
    ("POST", "/gaps/{open}/escalate", "page"):             [302, 302, 404, 403, 403, 403, 404, 404, 404, 404],
    ("GET", "/gaps/{resolved}/reopen", "page"):            [302, 200, 404, 403, 403, 403, 404, 404, 404, 404],
    ("POST", "/gaps/{resolved}/reopen", "page"):           [302, 302, 404, 403, 403, 403, 404, 404, 404, 404],
    # --- Responding (to an escalated gap): the strategic lead of its region only.
    ("GET", "/gaps/{escalated}/respond", "page"):          [302, 404, 404, 404, 404, 404, 404, 200, 404, 404],
    ("POST", "/gaps/{escalated}/respond", "page"):         [302, 404, 404, 404, 404, 404, 404, 302, 404, 404],
    ("GET", "/gaps/{elsewhere}/respond", "page"):          [302, 404, 404, 404, 404, 404, 404, 404, 200, 404],
    # --- Strategic pages and files.
    ("GET", "/gaps/review", "page"):                       [302, 403, 403, 403, 403, 403, 403, 200, 200, 403],
    ("GET", "/gaps/dashboard", "page"):                    [302, 200, 200, 403, 403, 403, 403, 200, 200, 403],
    ("GET", "/gaps/report.pdf", "page"):                   [302, 200, 200, 403, 403, 403, 403, 200, 200, 403],
    ("GET", "/gaps/register.csv", "page"):                 [302, 200, 200, 403, 403, 403, 403, 200, 200, 403],
    # --- API.
    ("POST", "/api/v1/gaps", "api"):                       [401, 201, 404, 201, 201, 201, 404, 403, 404, 404],
    ("GET", "/api/v1/gaps", "api"):                        [401, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ("GET", "/api/v1/gaps?partnership_id={P}", "api"):     [401, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ("GET", "/api/v1/gaps/{escalated}", "api"):            [401, 200, 404, 200, 200, 200, 404, 200, 404, 404],
    ("GET", "/api/v1/gaps/{neighbour}", "api"):            [401, 404, 200, 404, 404, 404, 404, 200, 404, 404],
    ("GET", "/api/v1/gaps/{elsewhere}", "api"):            [401, 404, 404, 404, 404, 404, 200, 404, 200, 404],
    ("POST", "/api/v1/gaps/{open}/escalate", "api"):       [401, 200, 404, 403, 403, 403, 404, 403, 404, 404],
    ("POST", "/api/v1/gaps/{escalated}/response", "api"):  [401, 403, 404, 403, 403, 403, 404, 200, 404, 404],
    ("GET", "/api/v1/gaps/report.pdf", "api"):             [401, 200, 200, 403, 403, 403, 403, 200, 200, 403],
}

# 31 rows of EXPECTED (22 pages, 9 API) x 10 callers, counted by hand.
EXPECTED_PAGE_ROWS = 22
EXPECTED_API_ROWS = 9
EXPECTED_CASE_COUNT = 310


# Where an allowed page change sends the browser ({new}: the gap just logged).
REDIRECTS = {
    ("POST", "/gaps/new"): "/gaps/{new}",
    ("POST", "/gaps/{open}/evidence"): "/gaps/{open}",
    ("POST", "/gaps/{open}/escalate"): "/gaps/{open}",
    ("POST", "/gaps/{resolved}/reopen"): "/gaps/{resolved}",
    ("POST", "/gaps/{escalated}/respond"): "/gaps/{escalated}",
}

# What an allowed change changes (the keys of ``snapshot``); a refused one changes nothing.
EFFECTS = {
    ("POST", "/gaps/new"): {"gaps of P"},
    ("POST", "/gaps/{open}/evidence"): {"gap:open"},
    ("POST", "/gaps/{open}/escalate"): {"gap:open"},
    ("POST", "/gaps/{resolved}/reopen"): {"gap:resolved"},
    ("POST", "/gaps/{escalated}/respond"): {"gap:escalated"},
    ("POST", "/api/v1/gaps"): {"gaps of P"},
    ("POST", "/api/v1/gaps/{open}/escalate"): {"gap:open"},
    ("POST", "/api/v1/gaps/{escalated}/response"): {"gap:escalated"},
}

# The status a gap is left in by an allowed change.
NEW_STATUS = {
    ("POST", "/gaps/{open}/escalate"): (OPEN, "escalated"),
    ("POST", "/gaps/{resolved}/reopen"): (RESOLVED, "open"),
    ("POST", "/gaps/{escalated}/respond"): (ESCALATED, "in_progress"),
    ("POST", "/api/v1/gaps/{open}/escalate"): (OPEN, "escalated"),
    ("POST", "/api/v1/gaps/{escalated}/response"): (ESCALATED, "in_progress"),
}

# The gaps each caller sees, and so finds in every list and file of the register.
OF_P = {OPEN, ESCALATED, RESOLVED}
SEEN: dict[str, set[str]] = {
    BROKER: OF_P, OTHER_BROKER: {NEIGHBOUR}, YOT: OF_P, HOUSING: OF_P, EDUCATION: OF_P,
    OTHER_PARTNERSHIP: {ELSEWHERE}, LEAD: OF_P | {NEIGHBOUR}, OTHER_LEAD: {ELSEWHERE}, ADMIN: set(),
}
# The escalated gaps waiting in each lead's review queue: their region's.
QUEUED = {LEAD: {ESCALATED, NEIGHBOUR}, OTHER_LEAD: {ELSEWHERE}}
LISTED: dict[tuple[str, str], dict[str, set[str]]] = {
    ("GET", "/gaps/"): {role: SEEN[role] for role in ROLES[1:-1]},
    # A filter narrows what the caller sees, never widens it.
    ("GET", "/gaps/?status=escalated"): {role: SEEN[role] & {ESCALATED, NEIGHBOUR, ELSEWHERE} for role in ROLES[1:-1]},
    ("GET", "/api/v1/gaps"): {role: SEEN[role] for role in ROLES[1:]},
    # Filtering by P's id: P's gaps to those who see them, nothing to anyone else.
    ("GET", "/api/v1/gaps?partnership_id={P}"): {role: SEEN[role] & OF_P for role in ROLES[1:]},
    ("GET", "/gaps/register.csv"): {role: SEEN[role] for role in (BROKER, OTHER_BROKER, LEAD, OTHER_LEAD)},
    ("GET", "/gaps/report.pdf"): {role: SEEN[role] for role in (BROKER, OTHER_BROKER, LEAD, OTHER_LEAD)},
    ("GET", "/api/v1/gaps/report.pdf"): {role: SEEN[role] for role in (BROKER, OTHER_BROKER, LEAD, OTHER_LEAD)},
    ("GET", "/gaps/review"): QUEUED,
}


@dataclass(frozen=True)
class Figures:
    """The dashboard's headline figures, counted by hand from the world, and what it covers."""

    unresolved: int  # open, escalated or in progress
    waiting: int  # escalated, waiting for a response
    closed: int  # resolved or accepted as a risk
    partnerships: frozenset[str]  # whose figures it shows
    agencies: frozenset[str]  # whose scorecards it shows
    waiting_titles: frozenset[str]


FIGURES = {
    BROKER: Figures(2, 1, 1, frozenset({"P"}), frozenset({"yot", "housing", "education"}), frozenset({ESCALATED})),
    OTHER_BROKER: Figures(1, 1, 0, frozenset({"P2"}), frozenset({"p2"}), frozenset({NEIGHBOUR})),
    LEAD: Figures(3, 2, 1, frozenset({"P", "P2"}), frozenset({"yot", "housing", "education", "p2"}),
                  frozenset({ESCALATED, NEIGHBOUR})),
    OTHER_LEAD: Figures(1, 1, 0, frozenset({"Q"}), frozenset({"q"}), frozenset({ELSEWHERE})),
}

# The young people each caller finds named on one gap's page or answer: the evidence they may see.
# (ESCALATED's evidence is ALPHA and BRAVO, both already cited, so no further choices are offered.)
NAMED: dict[tuple[str, str], dict[str, set[str]]] = {
    ("GET", "/gaps/{escalated}"): {BROKER: {ALPHA, BRAVO}, YOT: {ALPHA, BRAVO}, HOUSING: {ALPHA}, EDUCATION: set(),
                                   LEAD: set()},
    ("GET", "/gaps/{elsewhere}"): {OTHER_PARTNERSHIP: {CHARLIE}, OTHER_LEAD: set()},
    ("GET", "/api/v1/gaps/{escalated}"): {BROKER: {ALPHA, BRAVO}, YOT: {ALPHA, BRAVO}, HOUSING: {ALPHA},
                                          EDUCATION: set(), LEAD: set()},
    ("GET", "/api/v1/gaps/{elsewhere}"): {OTHER_PARTNERSHIP: {CHARLIE}, OTHER_LEAD: set()},
}


@dataclass
class World:
    users: dict[str, int]  # role -> user id
    gaps: dict[str, int]
    referrals: dict[str, int]
    partnerships: dict[str, int]
    regions: dict[str, int]


def person(key: str) -> YoungPersonDetails:
    return YoungPersonDetails(*NAMES[key], date(2009, 5, 17))


def build_world() -> World:
    r1 = make_region(name="Gapmatrix region one")
    r2 = make_region(name="Gapmatrix region two")
    yot = make_agency(type="yot", name=AGENCY_NAMES["yot"])
    housing = make_agency(type="housing", name=AGENCY_NAMES["housing"])
    education = make_agency(type="education", name=AGENCY_NAMES["education"])
    neighbour_yot = make_agency(type="yot", name=AGENCY_NAMES["p2"])
    elsewhere_yot = make_agency(type="yot", name=AGENCY_NAMES["q"])
    broker = make_user(Role.BROKER, name="Gapmatrix Broker")
    other_broker = make_user(Role.BROKER, name="Gapmatrix Neighbour Broker")
    elsewhere_broker = make_user(Role.BROKER, name="Gapmatrix Elsewhere Broker")
    home = make_partnership(agencies=[yot, housing, education], brokers=[broker], region=r1,
                            name=PARTNERSHIP_NAMES["P"])
    neighbour = make_partnership(agencies=[neighbour_yot], brokers=[other_broker], region=r1,
                                 name=PARTNERSHIP_NAMES["P2"])
    elsewhere = make_partnership(agencies=[elsewhere_yot], brokers=[elsewhere_broker], region=r2,
                                 name=PARTNERSHIP_NAMES["Q"])
    users = {
        BROKER: broker,
        OTHER_BROKER: other_broker,
        YOT: make_user(Role.AGENCY_STAFF, agency=yot),
        HOUSING: make_user(Role.AGENCY_STAFF, agency=housing),
        EDUCATION: make_user(Role.AGENCY_STAFF, agency=education),
        OTHER_PARTNERSHIP: make_user(Role.AGENCY_STAFF, agency=elsewhere_yot),
        LEAD: make_user(Role.STRATEGIC_LEAD, region=r1),
        OTHER_LEAD: make_user(Role.STRATEGIC_LEAD, region=r2),
        ADMIN: make_user(Role.ADMIN),
    }
    alpha = make_referral(partnership=home, referrer=users[YOT], broker=broker, status="accepted",
                          shared_with=[(housing, [Pathway.ACCOMMODATION])], young_person=person(ALPHA))
    bravo = make_referral(partnership=home, referrer=users[YOT], broker=broker, status="accepted",
                          young_person=person(BRAVO))
    charlie = make_referral(partnership=elsewhere, referrer=users[OTHER_PARTNERSHIP], broker=elsewhere_broker,
                            status="accepted", young_person=person(CHARLIE))
    gaps = {
        OPEN: make_gap(partnership=home, evidence=[alpha], title=TITLES[OPEN], pathway=Pathway.ACCOMMODATION),
        ESCALATED: make_gap(partnership=home, evidence=[alpha, bravo], status="escalated", title=TITLES[ESCALATED],
                            pathway=Pathway.ETE),
        RESOLVED: make_gap(partnership=home, evidence=[bravo], status="resolved", lead=users[LEAD],
                           title=TITLES[RESOLVED], pathway=Pathway.HEALTH),
        NEIGHBOUR: make_gap(partnership=neighbour, status="escalated", title=TITLES[NEIGHBOUR],
                            pathway=Pathway.ACCOMMODATION),
        ELSEWHERE: make_gap(partnership=elsewhere, evidence=[charlie], status="escalated", title=TITLES[ELSEWHERE],
                            pathway=Pathway.ACCOMMODATION),
    }
    db.session.flush()
    return World({role: user.id for role, user in users.items()}, {key: gap.id for key, gap in gaps.items()},
                 {ALPHA: alpha.id, BRAVO: bravo.id, CHARLIE: charlie.id},
                 {"P": home.id, "P2": neighbour.id, "Q": elsewhere.id}, {"R1": r1.id, "R2": r2.id})


def _fill(path: str, world: World, **extra: Any) -> str:
    return path.format(**world.gaps, **world.referrals, **world.partnerships, **extra)


def snapshot(world: World) -> dict[str, Any]:
    """The state a call may change: each gap's status, version, evidence and history; how many gaps P has."""
    db.session.expire_all()
    state: dict[str, Any] = {}
    for key, gap_id in world.gaps.items():
        gap = db.session.get(ServiceGap, gap_id)
        evidence = sorted(db.session.scalars(select(GapReferral.referral_id).where(GapReferral.gap_id == gap_id)))
        events = db.session.scalar(select(func.count()).select_from(GapEvent).where(GapEvent.gap_id == gap_id))
        state[f"gap:{key}"] = (gap.status.value, gap.version, tuple(evidence), events, gap.owner, gap.target_on)
    state["gaps of P"] = db.session.scalar(
        select(func.count()).select_from(ServiceGap).where(ServiceGap.partnership_id == world.partnerships["P"]))
    state["gaps elsewhere"] = db.session.scalar(
        select(func.count()).select_from(ServiceGap).where(ServiceGap.partnership_id != world.partnerships["P"]))
    return state


def _day(offset: int) -> list[str]:
    day = today() + timedelta(days=offset)
    return [str(day.day), str(day.month), str(day.year)]


# The referral each gap may still be given as evidence (one not already cited).
EVIDENCE_TO_ADD = {OPEN: BRAVO, RESOLVED: ALPHA}


def _gap_in(path: str) -> str | None:
    return next((key for key in GAPS if "{" + key + "}" in path), None)


def _form(path: str, world: World) -> dict[str, Any]:
    """A complete, valid form for each page POST (the CSRF token and the version are added apart)."""
    if path == "/gaps/new":
        return {"partnership_id": str(world.partnerships["P"]), "pathway": "families",
                "title": "No family mediation within reach", "severity": "medium",
                "description": "The only family mediation service closed in March."}
    if path.endswith("/evidence"):
        return {"referral_id": str(world.referrals[EVIDENCE_TO_ADD[_gap_in(path)]])}
    if path.endswith("/escalate"):
        return {"note": "Please commission supported lodgings for 16-17 year olds."}
    if path.endswith("/reopen"):
        return {"note": "The new places are full again."}
    if path.endswith("/respond"):
        return {"response": "A tender goes out next month.", "status": "in_progress", "owner": "Head of education",
                "target_on": _day(90)}
    raise AssertionError(f"no form for {path}")


def _api_body(method: str, path: str, world: World) -> dict | None:
    if method == "GET":
        return None
    if path == "/api/v1/gaps":
        return {"partnership_id": world.partnerships["P"], "pathway": "families",
                "title": "No family mediation within reach", "severity": "medium",
                "description": "The only family mediation service closed in March.", "referral_ids": []}
    if path.endswith("/escalate"):
        return {"note": "Please commission supported lodgings for 16-17 year olds."}
    if path.endswith("/response"):
        return {"response": "A tender goes out next month.", "status": "in_progress", "owner": "Head of education",
                "target_date": (today() + timedelta(days=90)).isoformat()}
    raise AssertionError(f"no body for {method} {path}")


def _version(path: str, world: World) -> str | None:
    """The version the form read, for the forms that change one gap's status."""
    key = _gap_in(path)
    if key is None or path.endswith("/evidence"):  # the evidence form reads no version
        return None
    db.session.expire_all()
    return str(db.session.get(ServiceGap, world.gaps[key]).version)


def _readable(response: Any) -> str:
    """What a person reads in an answer: a PDF's text, or the body as text."""
    if response.mimetype == "application/pdf":
        reader = pypdf.PdfReader(io.BytesIO(response.data))
        return " ".join(page.extract_text() for page in reader.pages)
    return response.get_data(as_text=True)


def _names_in(text: str) -> set[str]:
    lowered = text.lower()
    return {key for key, (_given, family) in NAMES.items() if family.lower() in lowered}


def _titles_in(text: str) -> set[str]:
    return {key for key, title in TITLES.items() if title.lower() in text.lower()}


_GAP_LINK = re.compile(r'href="/gaps/(\d+)"')


def _csv_ids(text: str) -> list[int]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows and rows[0][0] == "id", rows[:1]
    return [int(row[0]) for row in rows[1:]]


@dataclass
class Caller:
    client: FlaskClient
    headers: dict[str, str]


def callers(app: Flask, world: World, door: str) -> dict[str, Caller]:
    """Each caller's own client: signed in through the real form (pages), or holding a real token (API).
    Signed in before any call, so that rolling a call back leaves everyone signed in."""
    from panel_app.services.accounts import issue_api_token

    found: dict[str, Caller] = {}
    for role in ROLES:
        client = app.test_client()
        user = db.session.get(User, world.users[role]) if role in world.users else None
        headers: dict[str, str] = {}
        if user is not None and door == "page":
            response = sign_in(client, user.email)
            assert response.status_code == 302, f"sign-in failed for {role}"
        elif user is not None:
            token, _expires = issue_api_token(user)
            headers = {"Authorization": f"Bearer {token}"}
        found[role] = Caller(client, headers)
    db.session.commit()
    return found


@pytest.fixture(scope="module")
def world(app: Flask, module_connection) -> World:
    return built_once(app, module_connection, build_world)


@pytest.fixture(scope="module")
def signed_in(app: Flask, module_connection, world: World) -> dict[str, dict[str, Caller]]:
    """Every caller, by door, signed in once for the module: their sessions and tokens are part of the
    world, which each case meets as built."""
    return built_once(app, module_connection, lambda: {door: callers(app, world, door) for door in ("page", "api")})


ROWS = [pytest.param(method, path, door, id=f"{method} {path}") for method, path, door in EXPECTED]


@pytest.mark.parametrize(("method", "path", "door"), ROWS)
def test_gap_access_matrix(world: World, signed_in: dict[str, dict[str, Caller]], method: str, path: str,
                           door: str) -> None:
    """One route, called by every kind of caller. Each caller's call runs inside a savepoint that is
    rolled back afterwards, so every caller meets the same world (a change one caller makes is never
    seen by the next)."""
    failures = []
    for role, expected in zip(ROLES, EXPECTED[(method, path, door)], strict=True):
        db.session.connection()  # opens the savepoint the call is rolled back to
        try:
            check_call(world, signed_in[door][role], method, path, door, role, expected)
        except AssertionError as error:
            failures.append(f"as {role}: {error}")
        finally:
            db.session.rollback()
            db.session.expire_all()
    assert not failures, f"{method} {path}:\n" + "\n".join(failures)


def check_call(world: World, caller: Caller, method: str, path: str, door: str, role: str, expected: int) -> None:
    client = caller.client
    user_id = world.users.get(role)
    url = _fill(path, world)
    data = None
    if method == "POST" and door == "page":
        # The sign-out form of the header carries the session's CSRF token; anonymous: the sign-in form.
        data = {"csrf_token": csrf_token_from(client.get("/" if user_id is not None else "/sign-in").text),
                **_form(path, world)}
        version = _version(path, world)
        if version is not None:
            data["version"] = version
    json = _api_body(method, path, world) if door == "api" else None
    before = snapshot(world)

    response = client.open(url, method=method, headers=caller.headers, data=data, json=json)
    response.close()

    assert response.status_code == expected, (
        f"expected {expected}, got {response.status_code}: {response.text[:300]}")

    # What the call changed: exactly what it is about when allowed, nothing when refused.
    after = snapshot(world)
    changed = {key for key in before if before[key] != after[key]}
    allowed_change = method == "POST" and role != ANONYMOUS and expected in (200, 201, 302)
    assert changed == (EFFECTS[(method, path)] if allowed_change else set()), f"changed {changed}"
    if allowed_change and (method, path) in NEW_STATUS:
        key, status = NEW_STATUS[(method, path)]
        assert after[f"gap:{key}"][0] == status
    if allowed_change and path.endswith("/evidence"):
        assert after["gap:open"][2] == tuple(sorted((world.referrals[ALPHA], world.referrals[BRAVO]))), "the evidence"
    new_gap_id = None
    if allowed_change and EFFECTS[(method, path)] == {"gaps of P"}:
        assert after["gaps of P"] == before["gaps of P"] + 1
        new_gap = db.session.scalars(select(ServiceGap).where(ServiceGap.partnership_id == world.partnerships["P"])
                                     .order_by(ServiceGap.id.desc())).first()
        assert (new_gap.status.value, new_gap.logged_by_id, new_gap.title) == (
            "open", user_id, "No family mediation within reach")
        new_gap_id = new_gap.id

    if expected == 302:
        location = response.headers["Location"]
        if role == ANONYMOUS:
            assert location.startswith("/sign-in"), location
        else:
            assert location == _fill(REDIRECTS[(method, path)], world, new=new_gap_id), location
    if expected == 401:
        assert response.json["error"]["code"] == "unauthorized"
    if door == "api" and expected in (403, 404):
        assert response.json["error"]["code"] == {403: "forbidden", 404: "not_found"}[expected]
    if door == "api" and expected == 201:
        assert (response.json["id"], response.json["status"], response.json["partnership_id"]) == (
            new_gap_id, "open", world.partnerships["P"])
    if door == "api" and method == "POST" and expected == 200:
        key, status = NEW_STATUS[(method, path)]
        assert (response.json["id"], response.json["status"]) == (world.gaps[key], status)
    if door == "api" and method == "GET" and expected == 200 and _gap_in(path) is not None:
        key = _gap_in(path)
        assert (response.json["id"], response.json["title"]) == (world.gaps[key], TITLES[key])
    if expected == 200 and path.endswith(".pdf"):
        assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    if expected == 200 and path.endswith(".csv"):
        assert response.mimetype == "text/csv"

    # Nobody reads a name they may not read, whatever the answer; a refusal names nobody.
    text = _readable(response)
    names = _names_in(text)
    assert names <= MAY_READ.get(role, set()), f"names {names}"
    if expected in (302, 401, 403, 404):
        assert names == set(), f"a refusal named a young person: {names}"
    named = NAMED.get((method, path), {}).get(role)
    if named is not None and expected == 200:
        if door == "page":
            assert names == named, f"names {names}, not {named}"
        else:  # the API gives the referrals' ids, never their names; a lead not even those
            key = _gap_in(path)
            assert response.json["young_people_affected"] == {ESCALATED: 2, ELSEWHERE: 1}[key]
            if role in (LEAD, OTHER_LEAD):
                assert "referral_ids" not in response.json, "a strategic lead is given referral ids"
            else:
                assert set(response.json["referral_ids"]) == {world.referrals[case] for case in named}
    # A refusal does not give away a gap's title either.
    if expected in (401, 403, 404):
        assert _titles_in(text) == set(), f"a refusal named a gap: {_titles_in(text)}"

    listed = LISTED.get((method, path), {}).get(role)
    if listed is not None:
        ids = {world.gaps[key] for key in listed}
        if door == "api" and path.split("?")[0] == "/api/v1/gaps":
            body = response.json
            assert {item["id"] for item in body["items"]} == ids
            assert body["total"] == len(listed), f"total counts gaps the caller may not see: {body['total']}"
            if role in (LEAD, OTHER_LEAD):
                assert all("referral_ids" not in item for item in body["items"])
        elif path.endswith(".csv"):
            found = _csv_ids(text)
            assert sorted(found) == sorted(ids), f"the CSV lists {found}, not {sorted(ids)}"
        elif path.endswith(".pdf"):
            assert _titles_in(text) == listed, f"the report covers {_titles_in(text)}"
        else:
            assert {int(found) for found in _GAP_LINK.findall(response.text)} == ids
            if path.startswith("/gaps/?") or path == "/gaps/":
                count = re.search(r'role="status">\s*(\d+) gaps?\s*<', response.text)
                assert count and int(count.group(1)) == len(listed), "the register's count"

    figures = FIGURES.get(role)
    if figures is not None and expected == 200 and (path.endswith("/dashboard") or path.endswith(".pdf")):
        _assert_figures(text, figures, pdf=path.endswith(".pdf"))


def _assert_figures(text: str, figures: Figures, *, pdf: bool) -> None:
    """The headline figures, and whose partnerships and agencies the dashboard or report takes in."""
    flat = " ".join(text.split())
    if pdf:
        found = re.search(r"(\d+) gaps unresolved, (\d+) escalations waiting for a response, (\d+) resolved", flat)
        assert found, "the report's summary sentence"
        assert tuple(int(n) for n in found.groups()) == (figures.unresolved, figures.waiting, figures.closed)
    else:
        cards = [int(n) for n in re.findall(r'class="app-card__figure">(\d+)<', text)]
        assert cards == [figures.unresolved, figures.waiting, figures.closed]
        # The waiting table names the escalated gaps in scope (the register is not on the page).
        assert _titles_in(text) == set(figures.waiting_titles)
    # PDF text may wrap a name over lines: compare without spaces.
    squashed = "".join(text.split()).lower()
    partnerships = {key for key, name in PARTNERSHIP_NAMES.items() if "".join(name.split()).lower() in squashed}
    assert partnerships == set(figures.partnerships)
    agencies = {key for key, name in AGENCY_NAMES.items() if name.lower() in squashed}
    assert agencies == set(figures.agencies)


def test_the_matrix_covers_every_gap_route_and_counts_its_cases(app: Flask) -> None:
    """Every gap route of the URL map (pages and API; each method) has a row; the case count is the
    hand-computed one."""
    adapter = app.url_map.bind("localhost")
    covered = set()
    for method, path, _door in EXPECTED:
        filled = path.split("?")[0].format(**{key: 1 for key in GAPS})
        endpoint, _args = adapter.match(filled, method=method)
        covered.add((endpoint, method))
    declared = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("gaps.", "api.gap"))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert declared - covered == set(), "gap routes without a row in the access matrix"
    assert covered - declared == set(), "rows of the access matrix for routes that no longer exist"
    assert sum(door == "page" for _m, _p, door in EXPECTED) == EXPECTED_PAGE_ROWS
    assert sum(door == "api" for _m, _p, door in EXPECTED) == EXPECTED_API_ROWS
    assert len(EXPECTED) * len(ROLES) == EXPECTED_CASE_COUNT
    assert all(len(statuses) == len(ROLES) for statuses in EXPECTED.values())


# --- A gap in the wrong state ---------------------------------------------------------------------

# (method, path, door, who): issue 6, "Bad input": a status change out of order, an escalation of a
# resolved gap: a clear message (422, the API's "invalid"), nothing saved.
OUT_OF_ORDER = [
    ("POST", "/gaps/{escalated}/escalate", "page", BROKER),  # escalated already
    ("POST", "/gaps/{resolved}/escalate", "page", BROKER),  # resolved: reopen it first
    ("POST", "/api/v1/gaps/{resolved}/escalate", "api", BROKER),
    ("POST", "/api/v1/gaps/{escalated}/escalate", "api", BROKER),
    ("POST", "/gaps/{open}/reopen", "page", BROKER),  # only a resolved or accepted gap is reopened
    ("POST", "/gaps/{escalated}/reopen", "page", BROKER),
    ("POST", "/gaps/{open}/respond", "page", LEAD),  # not escalated: nothing to respond to
    ("POST", "/gaps/{resolved}/respond", "page", LEAD),
    ("POST", "/api/v1/gaps/{open}/response", "api", LEAD),
    ("POST", "/api/v1/gaps/{resolved}/response", "api", LEAD),
    ("POST", "/gaps/{resolved}/evidence", "page", BROKER),  # closed: reopen it to add evidence
]


@pytest.mark.parametrize(("method", "path", "door", "role"),
                         [pytest.param(*case, id=f"{case[1]} as {case[3]}") for case in OUT_OF_ORDER])
def test_a_gap_in_the_wrong_state_is_refused_and_nothing_is_saved(world: World,
                                                                   signed_in: dict[str, dict[str, Caller]],
                                                                   method: str, path: str, door: str,
                                                                   role: str) -> None:
    caller = signed_in[door][role]
    data = None
    if door == "page":
        data = {"csrf_token": csrf_token_from(caller.client.get("/").text), **_form(path, world)}
        version = _version(path, world)
        if version is not None:
            data["version"] = version
    before = snapshot(world)

    response = caller.client.open(_fill(path, world), method=method, headers=caller.headers, data=data,
                                  json=_api_body(method, path, world) if door == "api" else None)

    assert response.status_code == 422, response.text[:300]
    if door == "api":
        assert response.json["error"]["code"] == "invalid"
    assert snapshot(world) == before


# --- Figures from outside the caller's scope ------------------------------------------------------


def _figures_shown(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    """What the dashboard (its cards and every table beside its charts), the CSV register and the API
    list show a caller: the charts themselves are left out (their SVG carries generated ids)."""
    page = client.get("/gaps/dashboard")
    assert page.status_code == 200
    main = page.text[page.text.index("<main"):page.text.index("</main>")]
    tables = re.findall(r"<table.*?</table>", main, flags=re.S)
    cards = re.findall(r'class="app-card__figure">(\d+)<', main)
    register = client.get("/gaps/register.csv")
    assert register.status_code == 200
    listed = client.get("/api/v1/gaps", headers=headers)
    assert listed.status_code == 200
    return {"cards": cards, "tables": tables, "csv": register.text, "api": listed.json}


@pytest.mark.parametrize("role", [BROKER, LEAD, OTHER_LEAD])
def test_gaps_outside_the_callers_scope_change_none_of_their_figures(app: Flask, world: World, role: str) -> None:
    """Gaps (open, escalated, resolved) and young people with red needs in every partnership outside
    the caller's scope, and in a partnership of a third region, change nothing the caller is shown."""
    from panel_app.models import Partnership
    from panel_app.services.accounts import issue_api_token

    user = db.session.get(User, world.users[role])
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    token, _expires = issue_api_token(user)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    before = _figures_shown(client, headers)
    # The caller's figures count something: the comparison below is not of empty pages.
    assert before["cards"] == [str(n) for n in (FIGURES[role].unresolved, FIGURES[role].waiting, FIGURES[role].closed)]

    third = make_partnership(agencies=[make_agency(type="yot", name="Gapmatrixthirdyot")], region=make_region(),
                             brokers=[make_user(Role.BROKER)], name="Gapmatrixthird Partnership")
    outside = [db.session.get(Partnership, world.partnerships[key]) for key in PARTNERSHIP_NAMES
               if key not in FIGURES[role].partnerships] + [third]
    for partnership in outside:
        referrer = make_user(Role.AGENCY_STAFF, agency=partnership.agencies[0])
        red = make_referral(partnership=partnership, referrer=referrer, status="accepted",
                            needs={Pathway.ACCOMMODATION: (NeedRating.RED, "No address on release"),
                                   Pathway.ETE: (NeedRating.RED, "No school place")})
        for status in ("open", "escalated", "resolved", "in_progress", "accepted"):
            make_gap(partnership=partnership, evidence=[red], status=status, pathway=Pathway.ETE)
    db.session.commit()

    assert _figures_shown(client, headers) == before
