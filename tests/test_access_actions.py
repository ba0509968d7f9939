"""The access matrix of the action routes: every route (page and API) x every kind of caller -> the
status, what the lists show, and what a call changes.

The expectations are written out here by hand from docs/domain.md ("Who may see what") and docs/api.md, never
derived from policy.py, so that a change of rule has to be a change of this table too.

The rules, as written for actions:

* An agency involved in a referral (it referred it, it was shared it, it holds an action on it) sees
  the referral's actions and its plan, whoever owns them: the plan is the panel's shared work.
  Anyone else (another member agency, another partnership's broker or agency, a strategic lead, an
  admin) gets a 404 on anything naming the action or the referral: never a 403.
* Updating an action (page or PATCH): the partnership's broker and staff of the agency that owns
  it. Staff of other involved agencies (the referrer, an agency shared the referral) see the action
  but may not update it: 403.
* Recording an action, the review of an action not done, milestones, plan versions and recording
  that a version was shared: the partnership's broker only. Involved agencies' staff: 403.
* "My actions" is for agency staff (brokers, leads and admins: 403); the follow-up of slipping
  actions is for brokers (everyone else: 403). The API's lists answer every signed-in caller with
  what they may see: empty for leads and admins.
* Anonymous: a redirect to /sign-in on pages, a 401 on the API.

What "allowed in" means here: a GET answers 200; a change is sent complete and valid, so an allowed
page POST succeeds and redirects (302), an allowed API POST answers 201 and a PATCH 200. A refused
call changes nothing; an allowed one changes exactly what it is about.

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after
it, so every case meets the world as built):

* partnership P (in the lead's region), member agencies: a YOT (the referrer of MAIN and SECOND:
  "referrer"), a housing agency (owner of OWNED: "owner"), an education provider (MAIN shared with
  it for ETE: "shared") and a children's services team (involved in nothing: "uninvolved");
  brokered by "broker".
* partnership Q (another region), member agency: another YOT ("other partnership"); brokered by
  "other broker".
* referrals: MAIN (P, accepted, shared with education), SECOND (P, accepted, shared with nobody),
  ELSEWHERE (Q, accepted).
* actions: OWNED (MAIN, housing, accommodation, overdue), REFERRERS (MAIN, the YOT, transitions, due
  in ten days), PRIVATE (SECOND, the YOT, ETE, due in five days), THERE (ELSEWHERE, Q's YOT,
  transitions, overdue).
* MAIN's plan: one milestone, not yet achieved, and one saved version, not yet shared.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from panel_app.models import Action, Milestone, PlanVersion, Referral, Role, User, db
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services import referrals as referral_service
from panel_app.services.actions import NewAction
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import built_once, csrf_token_from, sign_in
from tests.factories import make_agency, make_partnership, make_referral, make_region, make_user

ANONYMOUS = "anonymous"
BROKER = "broker"
OTHER_BROKER = "other_broker"
OWNER = "owner_agency"
REFERRER = "referring_agency"
SHARED = "shared_agency"
UNINVOLVED = "uninvolved_agency"
OTHER_PARTNERSHIP = "other_partnership"
LEAD = "strategic_lead"
ADMIN = "admin"
ROLES = [ANONYMOUS, BROKER, OTHER_BROKER, OWNER, REFERRER, SHARED, UNINVOLVED, OTHER_PARTNERSHIP, LEAD, ADMIN]

# The referrals of the world.
MAIN, SECOND, ELSEWHERE = "main", "second", "elsewhere"
# The actions of the world.
OWNED, REFERRERS, PRIVATE, THERE = "owned", "referrers", "private", "there"

# The young people (family names are unique: a name found in an answer is theirs).
NAMES = {MAIN: ("Rhodri", "Actmatrixmain"), SECOND: ("Seren", "Actmatrixsecond"),
         ELSEWHERE: ("Tomos", "Actmatrixelsewhere")}
# Whose names a caller may ever read, on any page or answer of this matrix.
MAY_READ = {BROKER: {MAIN, SECOND}, OTHER_BROKER: {ELSEWHERE}, OWNER: {MAIN}, REFERRER: {MAIN, SECOND},
            SHARED: {MAIN}, OTHER_PARTNERSHIP: {ELSEWHERE}}

# (method, path, door) -> status per role, in the order of ROLES:
#     anon broker other_broker owner referrer shared uninvolved other_partnership lead admin
EXPECTED: dict[tuple[str, str, str], list[int]] = {
    # --- Lists that name no record.
    ("GET", "/actions/", "page"):                               [302, 403, 403, 200, 200, 200, 200, 200, 403, 403],
    ("GET", "/actions/follow-up", "page"):                      [302, 200, 200, 403, 403, 403, 403, 403, 403, 403],
    # --- One action of MAIN, owned by housing: seen by all involved; updated by the broker and housing.
    ("GET", "/actions/{owned}", "page"):                        [302, 200, 404, 200, 200, 200, 404, 404, 404, 404],
    ("POST", "/actions/{owned}/update", "page"):                [302, 302, 404, 302, 403, 403, 404, 404, 404, 404],
    # Why an overdue action was not done: the broker's review.
    ("POST", "/actions/{owned}/review", "page"):                [302, 302, 404, 403, 403, 403, 404, 404, 404, 404],
    # --- An action of SECOND (the YOT's, shared with nobody): housing and education do not see it.
    ("GET", "/actions/{private}", "page"):                      [302, 200, 404, 404, 200, 404, 404, 404, 404, 404],
    ("POST", "/actions/{private}/update", "page"):              [302, 302, 404, 404, 302, 404, 404, 404, 404, 404],
    # --- An action of partnership Q.
    ("GET", "/actions/{there}", "page"):                        [302, 404, 200, 404, 404, 404, 404, 200, 404, 404],
    # --- Recording an action: the broker only.
    ("GET", "/referrals/{main}/actions/new", "page"):           [302, 200, 404, 403, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{main}/actions/new", "page"):          [302, 302, 404, 403, 403, 403, 404, 404, 404, 404],
    # --- The young person's plan: read by all involved, changed by the broker only.
    ("GET", "/referrals/{main}/plan", "page"):                  [302, 200, 404, 200, 200, 200, 404, 404, 404, 404],
    ("GET", "/referrals/{second}/plan", "page"):                [302, 200, 404, 404, 200, 404, 404, 404, 404, 404],
    ("POST", "/referrals/{main}/plan/milestones", "page"):      [302, 302, 404, 403, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{main}/plan/milestones/{milestone}/achieved", "page"):
                                                                [302, 302, 404, 403, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{main}/plan/versions", "page"):        [302, 302, 404, 403, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{main}/plan/versions/{version}/shared", "page"):
                                                                [302, 302, 404, 403, 403, 403, 404, 404, 404, 404],
    ("GET", "/referrals/{main}/plan.pdf", "page"):              [302, 200, 404, 200, 200, 200, 404, 404, 404, 404],
    # --- API.
    ("POST", "/api/v1/referrals/{main}/actions", "api"):        [401, 201, 404, 403, 403, 403, 404, 404, 404, 404],
    ("GET", "/api/v1/actions", "api"):                          [401, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ("GET", "/api/v1/actions?assigned_to=my_agency", "api"):    [401, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ("GET", "/api/v1/actions/{owned}", "api"):                  [401, 200, 404, 200, 200, 200, 404, 404, 404, 404],
    ("GET", "/api/v1/actions/{private}", "api"):                [401, 200, 404, 404, 200, 404, 404, 404, 404, 404],
    ("PATCH", "/api/v1/actions/{owned}", "api"):                [401, 200, 404, 200, 403, 403, 404, 404, 404, 404],
    # The YOT's action on MAIN: now housing is the one who sees it but may not change it.
    ("PATCH", "/api/v1/actions/{referrers}", "api"):            [401, 200, 404, 403, 200, 403, 404, 404, 404, 404],
    ("PATCH", "/api/v1/actions/{there}", "api"):                [401, 404, 200, 404, 404, 404, 404, 200, 404, 404],
}

# 25 rows of EXPECTED (17 pages, 8 API) x 10 callers, counted by hand.
EXPECTED_ROW_COUNT = 25
EXPECTED_CASE_COUNT = 250

CASES = [
    pytest.param(method, path, door, role, statuses[index], id=f"{method} {path} as {role}")
    for (method, path, door), statuses in EXPECTED.items()
    for index, role in enumerate(ROLES)
]

# Where an allowed page change sends the browser.
REDIRECTS = {
    ("POST", "/actions/{owned}/update"): "/actions/{owned}",
    ("POST", "/actions/{owned}/review"): "/actions/{owned}",
    ("POST", "/actions/{private}/update"): "/actions/{private}",
    ("POST", "/referrals/{main}/actions/new"): "/referrals/{main}#actions",
    ("POST", "/referrals/{main}/plan/milestones"): "/referrals/{main}/plan",
    ("POST", "/referrals/{main}/plan/milestones/{milestone}/achieved"): "/referrals/{main}/plan",
    ("POST", "/referrals/{main}/plan/versions"): "/referrals/{main}/plan",
    ("POST", "/referrals/{main}/plan/versions/{version}/shared"): "/referrals/{main}/plan",
}

# What an allowed change changes (the keys of ``snapshot``); a refused one changes nothing.
EFFECTS = {
    ("POST", "/actions/{owned}/update"): {"action:owned"},
    ("POST", "/actions/{owned}/review"): {"action:owned"},
    ("POST", "/actions/{private}/update"): {"action:private"},
    ("POST", "/referrals/{main}/actions/new"): {"actions"},
    ("POST", "/referrals/{main}/plan/milestones"): {"milestones"},
    ("POST", "/referrals/{main}/plan/milestones/{milestone}/achieved"): {"milestone"},
    ("POST", "/referrals/{main}/plan/versions"): {"versions"},
    ("POST", "/referrals/{main}/plan/versions/{version}/shared"): {"shared"},
    ("POST", "/api/v1/referrals/{main}/actions"): {"actions"},
    ("PATCH", "/api/v1/actions/{owned}"): {"action:owned"},
    ("PATCH", "/api/v1/actions/{referrers}"): {"action:referrers"},
    ("PATCH", "/api/v1/actions/{there}"): {"action:there"},
}

# The actions each list shows each caller who may open it.
ALL_P = {OWNED, REFERRERS, PRIVATE}
OF_MAIN = {OWNED, REFERRERS}
LISTED: dict[tuple[str, str], dict[str, set[str]]] = {
    # What the caller's agency owes (outstanding).
    ("GET", "/actions/"): {OWNER: {OWNED}, REFERRER: {REFERRERS, PRIVATE}, SHARED: set(), UNINVOLVED: set(),
                           OTHER_PARTNERSHIP: {THERE}},
    # Overdue or blocked, across the broker's partnerships.
    ("GET", "/actions/follow-up"): {BROKER: {OWNED}, OTHER_BROKER: {THERE}},
    # Every action of the referrals the caller sees.
    ("GET", "/api/v1/actions"): {
        BROKER: ALL_P, OTHER_BROKER: {THERE}, OWNER: OF_MAIN, REFERRER: ALL_P, SHARED: OF_MAIN, UNINVOLVED: set(),
        OTHER_PARTNERSHIP: {THERE}, LEAD: set(), ADMIN: set(),
    },
    # Those the caller's agency owes: a broker, a lead and an admin have no agency.
    ("GET", "/api/v1/actions?assigned_to=my_agency"): {
        BROKER: set(), OTHER_BROKER: set(), OWNER: {OWNED}, REFERRER: {REFERRERS, PRIVATE}, SHARED: set(),
        UNINVOLVED: set(), OTHER_PARTNERSHIP: {THERE}, LEAD: set(), ADMIN: set(),
    },
}

# The record a 200 answer is about, and so the one young person it names (pages; the plan PDF by the
# given name it addresses).
ABOUT = {
    "/actions/{owned}": MAIN, "/actions/{private}": SECOND, "/actions/{there}": ELSEWHERE,
    "/referrals/{main}/actions/new": MAIN, "/referrals/{main}/plan": MAIN, "/referrals/{second}/plan": SECOND,
    "/referrals/{main}/plan.pdf": MAIN,
}


@dataclass
class World:
    users: dict[str, int]  # role -> user id
    referrals: dict[str, int]
    actions: dict[str, int]
    agencies: dict[str, int]
    milestone_id: int
    version_id: int


def build_world() -> World:
    home_region = make_region(name="Action home region")
    yot = make_agency(type="yot", name="Action YOT")
    housing = make_agency(type="housing", name="Action Housing")
    education = make_agency(type="education", name="Action School")
    childrens = make_agency(type="childrens_services", name="Action Children's Services")
    broker = make_user(Role.BROKER, name="Action Broker")
    home = make_partnership(agencies=[yot, housing, education, childrens], brokers=[broker], region=home_region,
                            name="Action Home Partnership")
    elsewhere_yot = make_agency(type="yot", name="Action Elsewhere YOT")
    other_broker = make_user(Role.BROKER, name="Action Elsewhere Broker")
    elsewhere = make_partnership(agencies=[elsewhere_yot], brokers=[other_broker], region=make_region(),
                                 name="Action Elsewhere Partnership")
    users = {
        BROKER: broker,
        OTHER_BROKER: other_broker,
        OWNER: make_user(Role.AGENCY_STAFF, agency=housing),
        REFERRER: make_user(Role.AGENCY_STAFF, agency=yot),
        SHARED: make_user(Role.AGENCY_STAFF, agency=education),
        UNINVOLVED: make_user(Role.AGENCY_STAFF, agency=childrens),
        OTHER_PARTNERSHIP: make_user(Role.AGENCY_STAFF, agency=elsewhere_yot),
        LEAD: make_user(Role.STRATEGIC_LEAD, region=home_region),
        ADMIN: make_user(Role.ADMIN),
    }

    def person(key: str) -> YoungPersonDetails:
        return YoungPersonDetails(*NAMES[key], date(2009, 5, 17))

    main = make_referral(partnership=home, referrer=users[REFERRER], broker=broker, status="accepted",
                         shared_with=[(education, [Pathway.ETE])], young_person=person(MAIN))
    second = make_referral(partnership=home, referrer=users[REFERRER], broker=broker, status="accepted",
                           young_person=person(SECOND))
    there = make_referral(partnership=elsewhere, referrer=users[OTHER_PARTNERSHIP], broker=other_broker,
                          status="accepted", young_person=person(ELSEWHERE))

    def act(actor: User, referral: Referral, pathway: Pathway, agency_id: int, due_in: int, what: str) -> Action:
        return action_service.create_action(actor, referral, NewAction(
            pathway=pathway, description=what, agency_id=agency_id, due_on=today() + timedelta(days=due_in)))

    actions = {
        OWNED: act(broker, main, Pathway.ACCOMMODATION, housing.id, 0, "Find supported lodgings near the college"),
        REFERRERS: act(broker, main, Pathway.TRANSITIONS, yot.id, 10, "Hand over to the adult probation service"),
        PRIVATE: act(broker, second, Pathway.ETE, yot.id, 5, "Enrol on the bricklaying course"),
        THERE: act(other_broker, there, Pathway.TRANSITIONS, elsewhere_yot.id, 0, "Arrange the release-day visit"),
    }
    db.session.flush()
    for key in (OWNED, THERE):  # overdue: due three days ago
        actions[key].due_on = today() - timedelta(days=3)
    milestone = action_service.add_milestone(broker, main, "Settled in supported lodgings",
                                             today() + timedelta(days=30), Pathway.ACCOMMODATION)
    version = action_service.save_plan_version(broker, main)
    db.session.flush()
    return World({role: user.id for role, user in users.items()},
                 {MAIN: main.id, SECOND: second.id, ELSEWHERE: there.id},
                 {key: action.id for key, action in actions.items()},
                 {"yot": yot.id, "housing": housing.id, "education": education.id, "childrens": childrens.id},
                 milestone.id, version.id)


@pytest.fixture(scope="module")
def world(app: Flask, module_connection) -> World:
    return built_once(app, module_connection, build_world)


def user_of(world: World, role: str) -> User | None:
    """The caller of that role, loaded in the case's own session (None: anonymous)."""
    return db.session.get(User, world.users[role]) if role in world.users else None


def _fill(path: str, world: World) -> str:
    return path.format(**world.referrals, **world.actions, milestone=world.milestone_id, version=world.version_id)


def snapshot(world: World) -> dict[str, Any]:
    """The state a call may change: each action's status, version and review; how many actions, milestones
    and plan versions MAIN has; whether its milestone is achieved and its version recorded as shared."""
    db.session.expire_all()
    state: dict[str, Any] = {}
    for key, action_id in world.actions.items():
        action = db.session.get(Action, action_id)
        state[f"action:{key}"] = (action.status, action.version, action.not_done_reason, action.due_on)
    referral_ids = list(world.referrals.values())
    state["actions"] = len(db.session.scalars(select(Action.id).where(Action.referral_id.in_(referral_ids))).all())
    main = world.referrals[MAIN]
    state["milestones"] = len(db.session.scalars(select(Milestone.id).where(Milestone.referral_id == main)).all())
    state["milestone"] = db.session.get(Milestone, world.milestone_id).achieved_on
    state["versions"] = len(db.session.scalars(select(PlanVersion.id).where(PlanVersion.referral_id == main)).all())
    state["shared"] = db.session.get(PlanVersion, world.version_id).shared_on
    return state


def _day(offset: int) -> list[str]:
    day = today() + timedelta(days=offset)
    return [str(day.day), str(day.month), str(day.year)]


def _form(method: str, path: str, world: World) -> dict[str, Any]:
    """A complete, valid form for each page POST (the CSRF token and the version are added apart)."""
    main = world.referrals[MAIN]
    forms: dict[str, dict[str, Any]] = {
        "/actions/{owned}/update": {"status": "in_progress", "note": "A viewing is booked for Tuesday."},
        "/actions/{private}/update": {"status": "in_progress", "note": "The college has the application."},
        "/actions/{owned}/review": {"reason": "agency_has_not_acted", "note": "No room was looked for."},
        "/referrals/{main}/actions/new": {
            f"r{main}-pathway": "families", f"r{main}-description": "Arrange a family group conference",
            f"r{main}-agency_id": str(world.agencies["education"]), f"r{main}-owner_user_id": "0",
            f"r{main}-due_on": _day(14)},
        "/referrals/{main}/plan/milestones": {"description": "Back in education", "pathway": "ete",
                                              "target_on": _day(60)},
        "/referrals/{main}/plan/milestones/{milestone}/achieved": {},
        "/referrals/{main}/plan/versions": {},
        "/referrals/{main}/plan/versions/{version}/shared": {"shared_how": "Gone through with him at a visit"},
    }
    return forms[path]


def _api_body(method: str, path: str, world: World) -> dict | None:
    if method == "GET":
        return None
    if path == "/api/v1/referrals/{main}/actions":
        return {"pathway": "families", "description": "Arrange a family group conference",
                "agency_id": world.agencies["education"], "due_date": (today() + timedelta(days=14)).isoformat()}
    if method == "PATCH":
        key = path.rsplit("{", 1)[1].rstrip("}")
        db.session.expire_all()
        version = db.session.get(Action, world.actions[key]).version
        return {"version": version, "status": "in_progress", "note": "Started on it this week."}
    raise AssertionError(f"no body for {method} {path}")


def _readable(response: Any) -> str:
    """What a person reads in an answer: a PDF's text, or the body as text."""
    if response.mimetype == "application/pdf":
        reader = pypdf.PdfReader(io.BytesIO(response.data))
        return " ".join(page.extract_text() for page in reader.pages)
    return response.get_data(as_text=True)


def _names_in(text: str) -> set[str]:
    lowered = text.lower()
    return {key for key, (_given, family) in NAMES.items() if family.lower() in lowered}


_ACTION_LINK = re.compile(r'href="/actions/(\d+)"')


@pytest.mark.parametrize(("method", "path", "door", "role", "expected"), CASES)
def test_action_access_matrix(client: FlaskClient, login_as, api_token, world: World, method: str, path: str,
                              door: str, role: str, expected: int) -> None:
    user = user_of(world, role)
    url = _fill(path, world)

    headers: dict[str, str] = {}
    if user is not None:
        if door == "api":
            headers = api_token(user)
        else:
            login_as(user)
    data = None
    if method == "POST" and door == "page":
        # The sign-out form of the header carries the session's CSRF token; anonymous: the sign-in form.
        data = {"csrf_token": csrf_token_from(client.get("/" if user is not None else "/sign-in").text),
                **_form(method, path, world)}
        action_key = next((key for key in world.actions if "{" + key + "}" in path), None)
        if action_key is not None:
            db.session.expire_all()
            data["version"] = str(db.session.get(Action, world.actions[action_key]).version)
    json = _api_body(method, path, world) if door == "api" else None
    before = snapshot(world)

    response = client.open(url, method=method, headers=headers, data=data, json=json)
    response.close()

    assert response.status_code == expected, (
        f"{method} {path} as {role}: expected {expected}, got {response.status_code}: {response.text[:300]}")

    # What the call changed: exactly what it is about when allowed, nothing when refused.
    after = snapshot(world)
    changed = {key for key in before if before[key] != after[key]}
    allowed_change = method in ("POST", "PATCH") and role != ANONYMOUS and expected in (200, 201, 302)
    assert changed == (EFFECTS[(method, path)] if allowed_change else set()), (
        f"{method} {path} as {role} changed {changed}")

    if expected == 302:
        location = response.headers["Location"]
        if role == ANONYMOUS:
            assert location.startswith("/sign-in"), location
        else:
            assert location == _fill(REDIRECTS[(method, path)], world), location
    if expected == 401:
        assert response.json["error"]["code"] == "unauthorized"
    if door == "api" and expected in (403, 404):
        assert response.json["error"]["code"] == {403: "forbidden", 404: "not_found"}[expected]
    if expected == 201:
        body = response.json
        assert (body["status"], body["version"], body["referral_id"], body["agency"]["id"]) == (
            "open", 1, world.referrals[MAIN], world.agencies["education"])
    if method == "PATCH" and expected == 200:
        assert response.json["version"] == json["version"] + 1
        assert response.json["status"] == "in_progress"
        assert response.json["history"][-1]["note"] == "Started on it this week."
    if method == "GET" and expected == 200 and door == "api" and "{" in path:
        key = path.rsplit("{", 1)[1].rstrip("}")
        body = response.json
        assert body["id"] == world.actions[key] and body["history"], body
    if expected == 200 and path.endswith(".pdf"):
        assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")

    # Nobody reads a name they may not read, whatever the answer; a refusal names nobody.
    text = _readable(response)
    names = _names_in(text)
    assert names <= MAY_READ.get(role, set()), f"{method} {path} as {role} names {names}"
    if expected in (302, 401, 403, 404):
        assert names == set(), f"a refusal named a young person: {names}"
    about = ABOUT.get(path)
    if expected == 200 and about is not None:
        if path.endswith(".pdf"):
            assert NAMES[about][0] in text  # "My plan, Rhodri"
        else:
            assert names == {about}

    listed = LISTED.get((method, path), {}).get(role)
    if listed is None:
        return
    ids = {world.actions[key] for key in listed}
    if door == "api":
        body = response.json
        assert {item["id"] for item in body["items"]} == ids
        assert body["total"] == len(listed), f"total counts actions the caller may not see: {body['total']}"
    else:
        assert {int(found) for found in _ACTION_LINK.findall(response.text)} == ids


def test_the_matrix_covers_every_action_route_and_counts_its_cases(app: Flask) -> None:
    """Every action route of the URL map (pages and API; each method) has a row; the case count is
    the hand-computed one."""
    adapter = app.url_map.bind("localhost")
    covered = set()
    for method, path, _door in EXPECTED:
        filled = path.split("?")[0].format(main=1, second=1, owned=1, referrers=1, private=1, there=1, milestone=1,
                                           version=1)
        endpoint, _args = adapter.match(filled, method=method)
        covered.add((endpoint, method))
    declared = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("actions.", "api.action"))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert declared - covered == set(), "action routes without a row in the access matrix"
    assert covered - declared == set(), "rows of the access matrix for routes that are not action routes"
    assert len(EXPECTED) == EXPECTED_ROW_COUNT
    assert len(CASES) == EXPECTED_CASE_COUNT == len(EXPECTED) * len(ROLES)
    print(f"\naction access matrix: {len(CASES)} cases ({len(EXPECTED)} rows x {len(ROLES)} callers)")


# --- Holding an action gives the agency access to the referral -----------------------------------


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    response = sign_in(client, user.email)
    assert response.status_code == 302, f"sign-in failed for {user.email}"
    return client


def test_holding_an_action_lets_an_agency_see_the_referral_until_consent_is_withdrawn(app: Flask, api_token,
                                                                                      world: World) -> None:
    """Children's services are on the panel but involved in nothing: MAIN is a 404 to them, absent from
    their lists. The broker records an action for them (the young person agreed to share with every
    agency on the panel): they now see MAIN, page and API, in their lists and totals, and the action is
    theirs. The young person withdraws consent: the circle narrows back, a 404 again."""
    main = world.referrals[MAIN]
    family = NAMES[MAIN][1]
    staff = user_of(world, UNINVOLVED)
    client, headers = _client(app, staff), api_token(staff)
    broker_headers = api_token(user_of(world, BROKER))

    def what_they_see() -> dict[str, Any]:
        referrals = client.get("/api/v1/referrals", headers=headers).json
        mine = client.get("/api/v1/actions?assigned_to=my_agency", headers=headers).json
        every = client.get("/api/v1/actions", headers=headers).json
        return {
            "page": client.get(f"/referrals/{main}").status_code,
            "api": client.get(f"/api/v1/referrals/{main}", headers=headers).status_code,
            "plan": client.get(f"/referrals/{main}/plan").status_code,
            "listed on the page": family in client.get("/referrals/").text,
            "api list": {item["id"] for item in referrals["items"]},
            "api total": referrals["total"],
            "my actions page": {int(i) for i in _ACTION_LINK.findall(client.get("/actions/").text)},
            "my actions api": ({item["id"] for item in mine["items"]}, mine["total"]),
            "every action api": ({item["id"] for item in every["items"]}, every["total"]),
        }

    assert what_they_see() == {
        "page": 404, "api": 404, "plan": 404, "listed on the page": False, "api list": set(), "api total": 0,
        "my actions page": set(), "my actions api": (set(), 0), "every action api": (set(), 0),
    }

    created = app.test_client().post(f"/api/v1/referrals/{main}/actions", headers=broker_headers, json={
        "pathway": "families", "description": "Family support sessions at home",
        "agency_id": world.agencies["childrens"], "due_date": (today() + timedelta(days=7)).isoformat()})
    assert created.status_code == 201, created.text
    new_action = created.json["id"]

    # Every action of MAIN is now theirs to see (the plan is shared work); the new one is theirs to do.
    of_main = {world.actions[OWNED], world.actions[REFERRERS], new_action}
    assert what_they_see() == {
        "page": 200, "api": 200, "plan": 200, "listed on the page": True, "api list": {main}, "api total": 1,
        "my actions page": {new_action}, "my actions api": ({new_action}, 1),
        "every action api": (of_main, 3),
    }
    assert client.get(f"/actions/{new_action}").status_code == 200
    # Still nothing of the referral they hold no action on.
    assert client.get(f"/referrals/{world.referrals[SECOND]}").status_code == 404

    db.session.expire_all()
    referral_service.withdraw_consent(user_of(world, REFERRER), db.session.get(Referral, main), None,
                                      "The young person asked us to stop sharing")
    db.session.commit()

    assert what_they_see() == {
        "page": 404, "api": 404, "plan": 404, "listed on the page": False, "api list": set(), "api total": 0,
        "my actions page": set(), "my actions api": (set(), 0), "every action api": (set(), 0),
    }
    assert client.get(f"/actions/{new_action}").status_code == 404
    assert client.get(f"/api/v1/actions/{new_action}", headers=headers).status_code == 404
    assert client.patch(f"/api/v1/actions/{new_action}", headers=headers,
                        json={"version": 1, "note": "Visited"}).status_code == 404
    # The referrer and the broker still see it.
    referrer_client = _client(app, user_of(world, REFERRER))
    assert referrer_client.get(f"/referrals/{main}").status_code == 200
    assert referrer_client.get(f"/actions/{new_action}").status_code == 200
