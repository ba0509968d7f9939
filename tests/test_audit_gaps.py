"""Every service-gap route that shows a young person's identity, exports the register or changes a gap
leaves the right row in the audit trail (docs/domain.md: "Every read, change and export of a young
person's data is recorded in an audit trail"), and a refused request leaves no record of a change.

The routes are classified here by hand: each gap endpoint of the URL map (``gaps.*``, ``api.gap*``),
method by method, either audits (it names young people, exports the register, or changes a gap) or is
listed with the reason it shows no young person. A new route fails the classification test until
someone decides which it is.

Each audited route is then called by a person allowed to use it, and the new rows of the audit trail
must name the person (their id, email, role, agency) and the door it came through (web or api), and:

* a change names the gap it changed (record type "gap" and its id: for a new gap, the one just
  logged) under its action: ``gap.log`` (with the referrals cited as evidence in
  ``detail["referral_ids"]``), ``gap.evidence`` (the referral added), ``gap.escalate``, ``gap.respond``
  (the new status in ``detail["status"]``), ``gap.reopen``;
* a page or answer naming the young people among a gap's evidence records ``gap.view`` on the gap,
  with exactly the referrals it named to that person in ``detail["referral_ids"]``; the choice of
  referrals to cite as evidence records ``referral.list`` with the referrals offered;
* every young person a page names (an API answer: every referral id it gives) is among the referrals
  its rows record;
* the dashboard records ``dashboard.view`` with the partnerships it covers; the PDF report and the CSV
  register record ``gaps.report.export`` and ``gaps.register.export`` with exactly the gaps they
  carry (``detail["gap_ids"]``).

A strategic lead's pages and answers name nobody, and so record no reading of a young person's data.

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after it,
so every case meets the world as built): region R1 holds partnership P (member agencies: a YOT and a
housing agency; "broker") and P2 ("other broker"); a strategic lead of R1 ("lead") and one of another
region ("other lead"). Referrals of P: ALPHA (referred by the YOT, shared with housing) and BRAVO
(referred by the YOT). Gaps: OPEN (P, open; evidence ALPHA), ESCALATED (P; ALPHA and BRAVO), RESOLVED
(P; BRAVO), NEIGHBOUR (P2, escalated; no evidence).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.models import AuditEvent, Role, ServiceGap, User, db
from panel_app.pathways import Pathway
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import assert_every_route_classified, built_once, csrf_token_from, kept, loaded, sign_in
from tests.factories import make_agency, make_gap, make_partnership, make_referral, make_region, make_user

BROKER, OTHER_BROKER, YOT, HOUSING, LEAD, OTHER_LEAD = (
    "broker", "other_broker", "yot", "housing", "lead", "other_lead")
OPEN, ESCALATED, RESOLVED, NEIGHBOUR = "open", "escalated", "resolved", "neighbour"
ALPHA, BRAVO = "alpha", "bravo"
NAMES = {ALPHA: ("Ffion", "Gapauditalpha"), BRAVO: ("Dylan", "Gapauditbravo")}
NEW = "new"  # the gap a call logs

# The actions that record a change of a gap.
CHANGES = {"gap.log", "gap.evidence", "gap.escalate", "gap.respond", "gap.reopen"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # {open}, {escalated}, {resolved}, {neighbour}: the gaps' ids
    actor: str
    status: int  # what the allowed call answers
    action: str  # the row that must be written
    record: str | None = None  # the gap the row names (a key, or NEW), None for the register's exports
    referral_ids: frozenset[str] | None = None  # exactly the referrals in detail["referral_ids"]
    gap_ids: frozenset[str] | None = None  # exactly the gaps in detail["gap_ids"] (exports)
    partnerships: frozenset[str] | None = None  # exactly the partnerships in detail["partnership_ids"]
    detail: dict[str, Any] | None = None  # further detail the row must carry, as is
    form: Callable[[Any], dict[str, Any]] | None = None  # page POSTs: the fields (CSRF token, version added)
    json: Callable[[Any], dict[str, Any]] | None = None  # API POSTs

    @property
    def door(self) -> str:
        return "api" if self.path.startswith("/api/") else "web"


def _day(offset: int) -> list[str]:
    day = today() + timedelta(days=offset)
    return [str(day.day), str(day.month), str(day.year)]


def _new_gap_form(*cases: str) -> Callable[[Any], dict[str, Any]]:
    return lambda w: {"partnership_id": str(w.partnerships["P"]), "pathway": "accommodation",
                      "title": "No supported lodgings for 16-17 year olds", "severity": "high",
                      "description": "Every supported lodging in the county is full.",
                      "referral_ids": [str(w.referrals[case]) for case in cases]}


def _new_gap_json(*cases: str) -> Callable[[Any], dict[str, Any]]:
    return lambda w: {"partnership_id": w.partnerships["P"], "pathway": "accommodation",
                      "title": "No supported lodgings for 16-17 year olds", "severity": "high",
                      "description": "Every supported lodging in the county is full.",
                      "referral_ids": [w.referrals[case] for case in cases]}


def _cite(case: str) -> Callable[[Any], dict[str, Any]]:
    """The form adding a referral to a gap's evidence."""
    return lambda w: {"referral_id": str(w.referrals[case])}


def _escalate(w: Any) -> dict[str, Any]:
    return {"note": "Please commission more supported lodgings."}


def _respond_form(w: Any) -> dict[str, Any]:
    return {"response": "A tender goes out next month.", "status": "in_progress", "owner": "Head of housing",
            "target_on": _day(60)}


def _respond_json(w: Any) -> dict[str, Any]:
    return {"response": "A tender goes out next month.", "status": "in_progress", "owner": "Head of housing",
            "target_date": (today() + timedelta(days=60)).isoformat()}


OF_P = frozenset({OPEN, ESCALATED, RESOLVED})
OF_R1 = OF_P | {NEIGHBOUR}
BOTH = frozenset({ALPHA, BRAVO})


def _exports(path: str, action: str) -> list[Call]:
    return [Call("GET", path, BROKER, 200, action, gap_ids=OF_P),
            Call("GET", path, LEAD, 200, action, gap_ids=OF_R1)]


# (endpoint, method) -> the calls that must audit, each made by a person allowed to make it.
AUDITED: dict[tuple[str, str], list[Call]] = {
    # --- Pages and answers naming the young people among a gap's evidence.
    ("gaps.show", "GET"): [
        Call("GET", "/gaps/{escalated}", BROKER, 200, "gap.view", ESCALATED, BOTH),
        Call("GET", "/gaps/{escalated}", YOT, 200, "gap.view", ESCALATED, BOTH),
        Call("GET", "/gaps/{escalated}", HOUSING, 200, "gap.view", ESCALATED, frozenset({ALPHA})),
        # An open gap's page also offers BRAVO as further evidence (recorded as a referral.list).
        Call("GET", "/gaps/{open}", BROKER, 200, "gap.view", OPEN, frozenset({ALPHA})),
    ],
    ("api.gap_detail", "GET"): [
        Call("GET", "/api/v1/gaps/{escalated}", BROKER, 200, "gap.view", ESCALATED, BOTH),
        Call("GET", "/api/v1/gaps/{escalated}", HOUSING, 200, "gap.view", ESCALATED, frozenset({ALPHA})),
    ],
    # The form to log a gap offers the referrals the person sees as its evidence.
    ("gaps.new", "GET"): [
        Call("GET", "/gaps/new", BROKER, 200, "referral.list", None, BOTH, detail={"for": "gap evidence"}),
        Call("GET", "/gaps/new", HOUSING, 200, "referral.list", None, frozenset({ALPHA}),
             detail={"for": "gap evidence"}),
    ],
    # --- Changes.
    ("gaps.new", "POST"): [
        Call("POST", "/gaps/new", BROKER, 302, "gap.log", NEW, BOTH, form=_new_gap_form(ALPHA, BRAVO)),
        Call("POST", "/gaps/new", HOUSING, 302, "gap.log", NEW, frozenset({ALPHA}), form=_new_gap_form(ALPHA)),
    ],
    ("api.gap_create", "POST"): [
        Call("POST", "/api/v1/gaps", BROKER, 201, "gap.log", NEW, frozenset({ALPHA}), json=_new_gap_json(ALPHA)),
        Call("POST", "/api/v1/gaps", YOT, 201, "gap.log", NEW, BOTH, json=_new_gap_json(ALPHA, BRAVO)),
    ],
    ("gaps.add_evidence", "POST"): [
        Call("POST", "/gaps/{open}/evidence", BROKER, 302, "gap.evidence", OPEN, frozenset({BRAVO}), form=_cite(BRAVO)),
        Call("POST", "/gaps/{open}/evidence", YOT, 302, "gap.evidence", OPEN, frozenset({BRAVO}), form=_cite(BRAVO)),
    ],
    ("gaps.escalate", "POST"): [
        Call("POST", "/gaps/{open}/escalate", BROKER, 302, "gap.escalate", OPEN, form=_escalate)],
    ("api.gap_escalate", "POST"): [
        Call("POST", "/api/v1/gaps/{open}/escalate", BROKER, 200, "gap.escalate", OPEN, json=_escalate)],
    ("gaps.respond", "POST"): [
        Call("POST", "/gaps/{escalated}/respond", LEAD, 302, "gap.respond", ESCALATED,
             detail={"status": "in_progress"}, form=_respond_form)],
    ("api.gap_response", "POST"): [
        Call("POST", "/api/v1/gaps/{escalated}/response", LEAD, 200, "gap.respond", ESCALATED,
             detail={"status": "in_progress"}, json=_respond_json)],
    ("gaps.reopen", "POST"): [
        Call("POST", "/gaps/{resolved}/reopen", BROKER, 302, "gap.reopen", RESOLVED,
             form=lambda w: {"note": "The lodgings closed again."})],
    # --- The strategic picture and its exports: exactly the gaps (partnerships) the person sees.
    ("gaps.dashboard", "GET"): [
        Call("GET", "/gaps/dashboard", BROKER, 200, "dashboard.view", partnerships=frozenset({"P"})),
        Call("GET", "/gaps/dashboard", LEAD, 200, "dashboard.view", partnerships=frozenset({"P", "P2"})),
    ],
    ("gaps.report_pdf", "GET"): _exports("/gaps/report.pdf", "gaps.report.export"),
    ("api.gaps_report", "GET"): _exports("/api/v1/gaps/report.pdf", "gaps.report.export"),
    ("gaps.register_csv", "GET"): _exports("/gaps/register.csv", "gaps.register.export"),
}

# (endpoint, method) -> why it shows no young person's data (so it need not audit), and who reads it
# (the test below checks that it names nobody to them).
NOT_PERSONAL: dict[tuple[str, str], tuple[str, str, str]] = {
    ("gaps.register", "GET"): ("the register: titles, pathways, statuses and figures", "/gaps/", BROKER),
    ("gaps.escalate", "GET"): ("the form: the gap's title and its evidence as figures", "/gaps/{open}/escalate",
                               BROKER),
    ("gaps.reopen", "GET"): ("the form: the gap's title and its evidence as figures", "/gaps/{resolved}/reopen",
                             BROKER),
    ("gaps.respond", "GET"): ("the lead's form: the gap's title and its evidence as figures",
                              "/gaps/{escalated}/respond", LEAD),
    ("gaps.review", "GET"): ("the lead's queue: escalated gaps with their evidence as figures", "/gaps/review", LEAD),
    ("api.gaps_list", "GET"): ("the register: figures, never a referral's id", "/api/v1/gaps", BROKER),
}

CALLS = [
    pytest.param(call, id=f"{call.method} {call.path} as {call.actor}")
    for calls in AUDITED.values() for call in calls
]


def test_every_gap_route_is_classified(app: Flask) -> None:
    assert_every_route_classified(app, ("gaps.", "api.gap"), AUDITED, NOT_PERSONAL)
    # Each classified call reaches the endpoint it is filed under.
    adapter = app.url_map.bind("localhost")
    ids = {OPEN: 1, ESCALATED: 2, RESOLVED: 3, NEIGHBOUR: 4}
    for (endpoint, method), calls in AUDITED.items():
        for call in calls:
            assert adapter.match(call.path.format(**ids), method=call.method)[0] == endpoint
            assert call.method == method
    for (endpoint, method), (_why, path, _who) in NOT_PERSONAL.items():
        assert adapter.match(path.format(**ids), method=method)[0] == endpoint


@dataclass
class World:
    users: dict[str, User]
    gaps: dict[str, int]
    referrals: dict[str, int]
    partnerships: dict[str, int]


def build_world() -> World:
    r1 = make_region(name="Gap audit region")
    yot = make_agency(type="yot", name="Gap Audit YOT")
    housing = make_agency(type="housing", name="Gap Audit Housing")
    broker = make_user(Role.BROKER)
    other_broker = make_user(Role.BROKER)
    home = make_partnership(agencies=[yot, housing], brokers=[broker], region=r1)
    neighbour = make_partnership(agencies=[make_agency(type="yot")], brokers=[other_broker], region=r1)
    users = {BROKER: broker, OTHER_BROKER: other_broker, YOT: make_user(Role.AGENCY_STAFF, agency=yot),
             HOUSING: make_user(Role.AGENCY_STAFF, agency=housing), LEAD: make_user(Role.STRATEGIC_LEAD, region=r1),
             OTHER_LEAD: make_user(Role.STRATEGIC_LEAD, region=make_region())}

    def refer(case: str, shared: bool) -> Any:
        return make_referral(partnership=home, referrer=users[YOT], broker=broker, status="accepted",
                             shared_with=[(housing, [Pathway.ACCOMMODATION])] if shared else None,
                             young_person=YoungPersonDetails(*NAMES[case], date(2009, 5, 17)))

    alpha, bravo = refer(ALPHA, shared=True), refer(BRAVO, shared=False)
    gaps = {
        OPEN: make_gap(partnership=home, evidence=[alpha]),
        ESCALATED: make_gap(partnership=home, evidence=[alpha, bravo], status="escalated", pathway=Pathway.ETE),
        RESOLVED: make_gap(partnership=home, evidence=[bravo], status="resolved", lead=users[LEAD]),
        NEIGHBOUR: make_gap(partnership=neighbour, status="escalated"),
    }
    db.session.commit()
    return World(users, {key: gap.id for key, gap in gaps.items()}, {ALPHA: alpha.id, BRAVO: bravo.id},
                 {"P": home.id, "P2": neighbour.id})


@pytest.fixture(scope="module")
def world_records(app: Flask, module_connection: Any) -> dict[str, Any]:
    return built_once(app, module_connection, lambda: kept(build_world()))


@pytest.fixture
def world(world_records: dict[str, Any]) -> World:
    """The world (built once per module), its records loaded in the case's own session."""
    return loaded(World, world_records)


def _last_audit_id() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def _new_rows(before: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)))


def _readable(response: Any) -> str:
    """What a person reads in an answer: a PDF's text, or the body as text."""
    if response.mimetype == "application/pdf":
        return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.data)).pages)
    return response.get_data(as_text=True)


def _names_in(text: str) -> set[str]:
    lowered = text.lower()
    return {case for case, (_given, family) in NAMES.items() if family.lower() in lowered}


def _call(app: Flask, world: World, actor: str, method: str, path: str, door: str,
          form: dict[str, Any] | None = None, json: dict[str, Any] | None = None) -> tuple[Any, int]:
    """Make the call as the actor (signed in through the real form, or with a real token); give the
    answer and the last audit row before the call."""
    from panel_app.services.accounts import issue_api_token

    user = world.users[actor]
    client: FlaskClient = app.test_client()
    headers: dict[str, str] = {}
    data = None
    if door == "api":
        token, _expires = issue_api_token(user)
        db.session.commit()
        headers = {"Authorization": f"Bearer {token}"}
    else:
        assert sign_in(client, user.email).status_code == 302
        if method == "POST":
            data = {"csrf_token": csrf_token_from(client.get("/").text), **(form or {})}
            if path.endswith(("/escalate", "/respond", "/reopen")):
                db.session.expire_all()
                gap_id = next(world.gaps[key] for key in world.gaps if "{" + key + "}" in path)
                data["version"] = str(db.session.get(ServiceGap, gap_id).version)
    before = _last_audit_id()
    response = client.open(path.format(**world.gaps), method=method, headers=headers, data=data, json=json)
    return response, before


@pytest.mark.parametrize("call", CALLS)
def test_the_route_audits_what_it_shows_exports_or_changes(app: Flask, call: Call, world: World) -> None:
    actor = world.users[call.actor]
    response, before = _call(app, world, call.actor, call.method, call.path, call.door,
                             call.form(world) if call.form else None, call.json(world) if call.json else None)

    assert response.status_code == call.status, response.text[:500]
    rows = _new_rows(before)
    assert rows, f"{call.method} {call.path} wrote no audit row"

    record_id = None
    if call.record == NEW:
        db.session.expire_all()
        record_id = db.session.scalar(select(func.max(ServiceGap.id)).where(
            ServiceGap.partnership_id == world.partnerships["P"]))
        assert record_id not in world.gaps.values()
        if call.door == "api":
            assert response.json["id"] == record_id
    elif call.record is not None:
        record_id = world.gaps[call.record]

    def ids(row: AuditEvent, key: str) -> set[int] | None:
        found = (row.detail or {}).get(key)
        return None if found is None else set(found)

    def matches(row: AuditEvent) -> bool:
        if row.action != call.action:
            return False
        if call.record is not None and (row.record_type, row.record_id) != ("gap", record_id):
            return False
        if call.referral_ids is not None and ids(row, "referral_ids") != {
                world.referrals[case] for case in call.referral_ids}:
            return False
        if call.gap_ids is not None and ids(row, "gap_ids") != {world.gaps[g] for g in call.gap_ids}:
            return False
        if call.partnerships is not None and ids(row, "partnership_ids") != {
                world.partnerships[p] for p in call.partnerships}:
            return False
        return all((row.detail or {}).get(k) == v for k, v in (call.detail or {}).items())

    matching = [row for row in rows if matches(row)]
    assert len(matching) == 1, (
        f"{call.method} {call.path} as {call.actor}: expected one {call.action!r} row naming gap {record_id} "
        f"(referrals {sorted(call.referral_ids or [])}, gaps {sorted(call.gap_ids or [])}); rows: "
        f"{[(r.action, r.record_type, r.record_id, r.detail) for r in rows]}")
    row = matching[0]
    assert (row.actor_user_id, row.actor_email, row.actor_role) == (actor.id, actor.email, actor.role.value)
    assert row.actor_agency_id == actor.agency_id
    assert row.channel == call.door
    # No row of this call is anonymous or names someone else.
    assert all(r.actor_user_id == actor.id for r in rows)

    # Every young person the answer names (a page) or identifies (an API answer's referral ids) is
    # recorded as read by one of its rows.
    recorded = {i for r in rows for i in (r.detail or {}).get("referral_ids", [])}
    recorded |= {r.record_id for r in rows if r.record_type == "referral" and r.record_id is not None}
    if call.door == "api":
        shown = set(response.json.get("referral_ids") or []) if response.is_json else set()
    else:
        shown = {world.referrals[case] for case in _names_in(_readable(response))}
    assert shown <= recorded, f"shown {sorted(shown)} but recorded only {sorted(recorded)}"


@pytest.mark.parametrize("route", [pytest.param(key, id=f"{key[0]} {key[1]}") for key in NOT_PERSONAL])
def test_the_routes_not_audited_name_nobody(app: Flask, route: tuple[str, str], world: World) -> None:
    """The routes classified as showing no young person's data, read by someone who sees the evidence
    of every gap (the broker), or by the lead: they name nobody, and record no reading of a referral."""
    _why, path, actor = NOT_PERSONAL[route]
    response, before = _call(app, world, actor, route[1], path, "api" if path.startswith("/api/") else "web")

    assert response.status_code == 200, response.text[:300]
    assert _names_in(_readable(response)) == set()
    if response.is_json:
        assert all("referral_ids" not in item for item in response.json["items"])
    rows = _new_rows(before)
    assert [r.action for r in rows if (r.detail or {}).get("referral_ids") or r.record_type == "referral"] == []


# A strategic lead reads gaps as figures: their reads record no referral (there is nothing to record).
LEAD_READS = ["/gaps/{escalated}", "/api/v1/gaps/{escalated}", "/gaps/{escalated}/respond", "/gaps/review",
              "/gaps/{resolved}"]


@pytest.mark.parametrize("path", LEAD_READS)
def test_a_strategic_leads_reads_record_no_young_person(app: Flask, path: str, world: World) -> None:
    response, before = _call(app, world, LEAD, "GET", path, "api" if path.startswith("/api/") else "web")

    assert response.status_code == 200
    assert _names_in(_readable(response)) == set()
    rows = _new_rows(before)
    assert [(r.action, r.detail) for r in rows if (r.detail or {}).get("referral_ids")] == []
    assert [r.action for r in rows if r.action == "gap.view"] == []


@dataclass(frozen=True)
class Refused:
    method: str
    path: str
    actor: str
    status: int
    form: Callable[[Any], dict[str, Any]] | None = None
    json: Callable[[Any], dict[str, Any]] | None = None


# Calls refused (or failing a rule): each leaves no record of a change, and a refusal (401/403/404)
# leaves no row about the gap or a young person, except the access.refused row of a refused gap id.
REFUSED = [
    Refused("POST", "/gaps/new", LEAD, 403, form=_new_gap_form()),
    Refused("POST", "/gaps/new", OTHER_BROKER, 400, form=_new_gap_form()),  # P is not among its choices
    Refused("POST", "/api/v1/gaps", LEAD, 403, json=_new_gap_json()),
    Refused("POST", "/api/v1/gaps", OTHER_BROKER, 404, json=_new_gap_json()),
    Refused("POST", "/api/v1/gaps", HOUSING, 422, json=_new_gap_json(BRAVO)),  # BRAVO is not housing's
    Refused("POST", "/gaps/{open}/evidence", OTHER_BROKER, 404, form=_cite(BRAVO)),
    Refused("POST", "/gaps/{open}/evidence", LEAD, 404, form=_cite(BRAVO)),
    Refused("POST", "/gaps/{open}/escalate", YOT, 403, form=_escalate),
    Refused("POST", "/gaps/{open}/escalate", OTHER_BROKER, 404, form=_escalate),
    Refused("POST", "/gaps/{open}/escalate", LEAD, 404, form=_escalate),
    Refused("POST", "/gaps/{escalated}/escalate", BROKER, 422, form=_escalate),  # escalated already
    Refused("POST", "/api/v1/gaps/{open}/escalate", YOT, 403, json=_escalate),
    Refused("POST", "/api/v1/gaps/{open}/escalate", LEAD, 403, json=_escalate),
    Refused("POST", "/api/v1/gaps/{open}/escalate", OTHER_BROKER, 404, json=_escalate),
    Refused("POST", "/api/v1/gaps/{resolved}/escalate", BROKER, 422, json=_escalate),
    Refused("POST", "/gaps/{escalated}/respond", BROKER, 404, form=_respond_form),
    Refused("POST", "/gaps/{escalated}/respond", OTHER_LEAD, 404, form=_respond_form),
    Refused("POST", "/gaps/{open}/respond", LEAD, 422, form=_respond_form),  # not escalated
    Refused("POST", "/api/v1/gaps/{escalated}/response", BROKER, 403, json=_respond_json),
    Refused("POST", "/api/v1/gaps/{escalated}/response", OTHER_LEAD, 404, json=_respond_json),
    Refused("POST", "/gaps/{resolved}/reopen", HOUSING, 403, form=lambda w: {"note": "Back again."}),
    Refused("POST", "/gaps/{resolved}/reopen", OTHER_BROKER, 404, form=lambda w: {"note": "Back again."}),
    Refused("POST", "/gaps/{open}/reopen", BROKER, 422, form=lambda w: {"note": "Back again."}),  # not closed
    Refused("GET", "/gaps/{escalated}", OTHER_BROKER, 404),
    Refused("GET", "/api/v1/gaps/{escalated}", OTHER_LEAD, 404),
    Refused("GET", "/gaps/report.pdf", YOT, 403),
    Refused("GET", "/api/v1/gaps/report.pdf", HOUSING, 403),
    Refused("GET", "/gaps/register.csv", HOUSING, 403),
    Refused("GET", "/gaps/dashboard", YOT, 403),
]


@pytest.mark.parametrize("call", [pytest.param(c, id=f"{c.method} {c.path} as {c.actor}") for c in REFUSED])
def test_a_refused_call_records_no_change(app: Flask, call: Refused, world: World) -> None:
    door = "api" if call.path.startswith("/api/") else "web"
    response, before = _call(app, world, call.actor, call.method, call.path, door,
                             call.form(world) if call.form else None, call.json(world) if call.json else None)

    assert response.status_code == call.status, response.text[:300]
    rows = _new_rows(before)
    assert [(r.action, r.record_id) for r in rows if r.action in CHANGES] == []
    # A signed-in person refused a gap by its id leaves one access.refused row naming the gap, and nothing more.
    refused = [(r.record_type, r.detail["status"]) for r in rows if r.action == "access.refused"]
    assert refused == ([("gap", call.status)] if "{" in call.path and call.status in (403, 404) else [])
    if call.status in (401, 403, 404):
        about_data = [(r.action, r.record_type, r.record_id, r.detail) for r in rows if r.action != "access.refused"
                      and (r.record_type in ("gap", "referral") or r.action.startswith(("gap", "dashboard"))
                           or (r.detail or {}).get("referral_ids"))]
        assert about_data == [], f"a refused call left rows about the gap or a young person: {about_data}"
