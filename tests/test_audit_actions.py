"""Every action route that shows or changes a young person's data leaves a row in the audit trail
(docs/domain.md: "Every read, change and export of a young person's data is recorded").

The routes are classified here by hand: each action endpoint of the URL map (``actions.*`` and
``api.action*``), method by method, either shows, exports or changes a young person's data (and must
audit), or is listed with the reason it shows none. A new route fails the classification test until
someone decides which it is.

Each audited route is then called by a person allowed to use it, and the new rows of the audit trail
must name the person (their id, email, role, agency), the door it came through, and the referral
(record type "referral" and its id; for a list, exactly the referrals it showed, in
``detail["referral_ids"]``). Where the row's action is part of the contract it is named: action.view,
action.list, action.update, action.create, action.not_done, action.follow_up, plan.milestone,
plan.milestone_achieved, plan.version, plan.shared, plan.export. The pages that show a referral
without being about one action (the form to record one, the plan page) must leave a row naming the
referral, whatever its action.

Every case runs in one world, built once per module (``world``; each case runs in a SAVEPOINT rolled
back after it, so every case meets the world as built).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.models import Action, AuditEvent, Role, User, db
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services.actions import NewAction
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import assert_every_route_classified, built_once, csrf_token_from, kept, loaded
from tests.factories import make_agency, make_partnership, make_referral, make_user

# The referrals of the world.
MAIN = "main"  # referred by the YOT, shared with education for ETE; housing holds an action on it
SECOND = "second"  # referred by the YOT, shared with nobody
# The actions of the world.
OWNED = "owned"  # MAIN, housing's, accommodation, overdue
PRIVATE = "private"  # SECOND, the YOT's, ETE, due in five days

BROKER, REFERRER, OWNER, SHARED = "broker", "referrer", "owner", "shared"


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # {main}, {second}: the referrals; {owned}, {private}: the actions; {milestone}, {version}
    actor: str
    status: int  # what an allowed call answers
    referral: str  # the referral the row must name
    action: str | None  # the row's action, where the contract names it
    referral_ids: frozenset[str] | None = None  # lists: exactly the referrals shown
    detail: Callable[[Any], dict[str, Any]] | None = None  # further detail the row must carry
    form: Callable[[Any], dict[str, Any]] | None = None  # page POSTs: the fields (CSRF token and version added)
    json: Callable[[Any], dict[str, Any]] | None = None  # API POSTs and PATCHes

    @property
    def door(self) -> str:
        return "api" if self.path.startswith("/api/") else "web"


def _day(offset: int) -> list[str]:
    day = today() + timedelta(days=offset)
    return [str(day.day), str(day.month), str(day.year)]


def _viewed(path: str, key: str, *actors: str) -> list[Call]:
    return [Call("GET", path, who, 200, MAIN, "action.view", detail=lambda w, k=key: {"action_id": w.actions[k]})
            for who in actors]


def _new_action_form(world: Any) -> dict[str, Any]:
    prefix = f"r{world.referrals[MAIN]}"
    return {f"{prefix}-pathway": "families", f"{prefix}-description": "Arrange a family group conference",
            f"{prefix}-agency_id": str(world.agencies["education"]), f"{prefix}-owner_user_id": "0",
            f"{prefix}-due_on": _day(14)}


def _patch(world: Any) -> dict[str, Any]:
    db.session.expire_all()
    return {"version": db.session.get(Action, world.actions[OWNED]).version, "status": "in_progress",
            "note": "A viewing is booked."}


BOTH = frozenset({MAIN, SECOND})
ONLY_MAIN = frozenset({MAIN})

# (endpoint, method) -> the calls that must audit. Reads are made by each kind of person who may make
# them; changes by one who may.
AUDITED: dict[tuple[str, str], list[Call]] = {
    # --- Lists.
    ("actions.mine", "GET"): [
        Call("GET", "/actions/", OWNER, 200, MAIN, "action.list", ONLY_MAIN),
        Call("GET", "/actions/", REFERRER, 200, SECOND, "action.list", frozenset({SECOND})),
    ],
    ("actions.follow_up", "GET"): [Call("GET", "/actions/follow-up", BROKER, 200, MAIN, "action.follow_up", ONLY_MAIN)],
    ("api.actions_list", "GET"): [
        Call("GET", "/api/v1/actions", BROKER, 200, MAIN, "action.list", BOTH),
        Call("GET", "/api/v1/actions", OWNER, 200, MAIN, "action.list", ONLY_MAIN),
        Call("GET", "/api/v1/actions", SHARED, 200, MAIN, "action.list", ONLY_MAIN),
        Call("GET", "/api/v1/actions?assigned_to=my_agency", REFERRER, 200, SECOND, "action.list",
             frozenset({SECOND})),
    ],
    # --- One action.
    ("actions.show", "GET"): _viewed("/actions/{owned}", OWNED, BROKER, OWNER, REFERRER, SHARED),
    ("api.action_detail", "GET"): _viewed("/api/v1/actions/{owned}", OWNED, BROKER, OWNER, REFERRER, SHARED),
    ("actions.update", "POST"): [
        Call("POST", "/actions/{owned}/update", who, 302, MAIN, "action.update",
             detail=lambda w: {"action_id": w.actions[OWNED], "status": "in_progress"},
             form=lambda w: {"status": "in_progress", "note": "A viewing is booked."}) for who in (OWNER, BROKER)
    ] + [Call("POST", "/actions/{private}/update", REFERRER, 302, SECOND, "action.update",
              detail=lambda w: {"action_id": w.actions[PRIVATE], "status": "done"},
              form=lambda w: {"status": "done", "outcome": "Enrolled for September."})],
    ("api.action_update", "PATCH"): [
        Call("PATCH", "/api/v1/actions/{owned}", who, 200, MAIN, "action.update",
             detail=lambda w: {"action_id": w.actions[OWNED], "status": "in_progress"}, json=_patch)
        for who in (OWNER, BROKER)],
    ("actions.review", "POST"): [
        Call("POST", "/actions/{owned}/review", BROKER, 302, MAIN, "action.not_done",
             detail=lambda w: {"action_id": w.actions[OWNED], "reason": "agency_has_not_acted"},
             form=lambda w: {"reason": "agency_has_not_acted"})],
    # --- Recording an action.
    ("actions.create", "GET"): [Call("GET", "/referrals/{main}/actions/new", BROKER, 200, MAIN, None)],
    ("actions.create", "POST"): [
        Call("POST", "/referrals/{main}/actions/new", BROKER, 302, MAIN, "action.create",
             detail=lambda w: {"agency_id": w.agencies["education"]}, form=_new_action_form)],
    ("api.action_create", "POST"): [
        Call("POST", "/api/v1/referrals/{main}/actions", BROKER, 201, MAIN, "action.create",
             detail=lambda w: {"agency_id": w.agencies["education"]},
             json=lambda w: {"pathway": "families", "description": "Arrange a family group conference",
                             "agency_id": w.agencies["education"],
                             "due_date": (today() + timedelta(days=14)).isoformat()})],
    # --- The plan.
    ("actions.plan", "GET"): [Call("GET", "/referrals/{main}/plan", who, 200, MAIN, None)
                              for who in (BROKER, OWNER, REFERRER, SHARED)],
    ("actions.plan_pdf", "GET"): [Call("GET", "/referrals/{main}/plan.pdf", who, 200, MAIN, "plan.export")
                                  for who in (BROKER, OWNER, REFERRER, SHARED)]
    + [Call("GET", "/referrals/{main}/plan.pdf?version=1", BROKER, 200, MAIN, "plan.export",
            detail=lambda w: {"version": 1})],
    ("actions.add_milestone", "POST"): [
        Call("POST", "/referrals/{main}/plan/milestones", BROKER, 302, MAIN, "plan.milestone",
             form=lambda w: {"description": "Back in education", "pathway": "ete"})],
    ("actions.milestone_achieved", "POST"): [
        Call("POST", "/referrals/{main}/plan/milestones/{milestone}/achieved", BROKER, 302, MAIN,
             "plan.milestone_achieved", form=lambda w: {})],
    ("actions.save_version", "POST"): [
        Call("POST", "/referrals/{main}/plan/versions", BROKER, 302, MAIN, "plan.version",
             detail=lambda w: {"version": 2}, form=lambda w: {})],
    ("actions.plan_shared", "POST"): [
        Call("POST", "/referrals/{main}/plan/versions/{version}/shared", BROKER, 302, MAIN, "plan.shared",
             detail=lambda w: {"version": 1}, form=lambda w: {"shared_how": "Gone through with him at a visit"})],
}

# (endpoint, method) -> why it shows no young person's data (so it need not audit). Every action
# route is about a young person's plan: none.
NOT_PERSONAL: dict[tuple[str, str], str] = {}

CALLS = [
    pytest.param(call, id=f"{call.method} {call.path} as {call.actor}")
    for calls in AUDITED.values() for call in calls
]


def _format(path: str, world: Any) -> str:
    return path.format(**world.referrals, **world.actions, milestone=world.milestone_id, version=world.version_id)


def test_every_action_route_is_classified(app: Flask) -> None:
    assert_every_route_classified(app, ("actions.", "api.action"), AUDITED, NOT_PERSONAL)
    # Each classified call reaches the endpoint it is filed under.
    adapter = app.url_map.bind("localhost")
    for (endpoint, method), calls in AUDITED.items():
        for call in calls:
            path = call.path.split("?")[0].format(main=1, second=1, owned=1, private=1, milestone=1, version=1)
            assert adapter.match(path, method=call.method)[0] == endpoint
            assert call.method == method


@dataclass
class World:
    users: dict[str, User]
    referrals: dict[str, int]
    actions: dict[str, int]
    agencies: dict[str, int]
    milestone_id: int
    version_id: int


def build_world() -> World:
    yot = make_agency(type="yot", name="Audit Action YOT")
    housing = make_agency(type="housing", name="Audit Action Housing")
    education = make_agency(type="education", name="Audit Action School")
    broker = make_user(Role.BROKER)
    partnership = make_partnership(agencies=[yot, housing, education], brokers=[broker])
    users = {BROKER: broker, REFERRER: make_user(Role.AGENCY_STAFF, agency=yot),
             OWNER: make_user(Role.AGENCY_STAFF, agency=housing),
             SHARED: make_user(Role.AGENCY_STAFF, agency=education)}
    main = make_referral(partnership=partnership, referrer=users[REFERRER], broker=broker, status="accepted",
                         shared_with=[(education, [Pathway.ETE])],
                         young_person=YoungPersonDetails("Ffion", "Auditactionmain", date(2009, 5, 17)))
    second = make_referral(partnership=partnership, referrer=users[REFERRER], broker=broker, status="accepted",
                           young_person=YoungPersonDetails("Ffion", "Auditactionsecond", date(2009, 5, 17)))
    owned = action_service.create_action(broker, main, NewAction(
        pathway=Pathway.ACCOMMODATION, description="Find supported lodgings", agency_id=housing.id, due_on=today()))
    private = action_service.create_action(broker, second, NewAction(
        pathway=Pathway.ETE, description="Enrol on the bricklaying course", agency_id=yot.id,
        due_on=today() + timedelta(days=5)))
    db.session.flush()
    owned.due_on = today() - timedelta(days=3)  # overdue: on the broker's follow-up, ready for review
    milestone = action_service.add_milestone(broker, main, "Settled in supported lodgings", None, None)
    version = action_service.save_plan_version(broker, main)
    db.session.commit()
    return World(users, {MAIN: main.id, SECOND: second.id}, {OWNED: owned.id, PRIVATE: private.id},
                 {"housing": housing.id, "education": education.id}, milestone.id, version.id)


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


@pytest.mark.parametrize("call", CALLS)
def test_the_route_audits_the_young_persons_data_it_shows_or_changes(
        client: FlaskClient, login_as, api_token, call: Call, world: World) -> None:
    actor = world.users[call.actor]
    url = _format(call.path, world)
    headers: dict[str, str] = {}
    data = None
    if call.door == "api":
        headers = api_token(actor)
    else:
        login_as(actor)
        if call.method == "POST":
            data = {"csrf_token": csrf_token_from(client.get("/").text), **call.form(world)}
            action_key = next((key for key in world.actions if "{" + key + "}" in call.path), None)
            if action_key is not None:
                db.session.expire_all()
                data["version"] = str(db.session.get(Action, world.actions[action_key]).version)
    json = call.json(world) if call.json else None
    before = _last_audit_id()

    response = client.open(url, method=call.method, headers=headers, data=data, json=json)

    assert response.status_code == call.status, response.text[:500]
    db.session.expire_all()
    rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)))
    assert rows, f"{call.method} {url} wrote no audit row"

    referral_id = world.referrals[call.referral]

    def matches(row: AuditEvent) -> bool:
        if call.action is not None and row.action != call.action:
            return False
        detail = row.detail or {}
        if call.referral_ids is not None:
            shown = detail.get("referral_ids")
            return (row.record_type == "referral" and shown is not None
                    and sorted(shown) == sorted(world.referrals[key] for key in call.referral_ids)
                    and (call.detail is None or all(detail.get(k) == v for k, v in call.detail(world).items())))
        if not (row.record_type == "referral" and row.record_id == referral_id):
            return False
        return call.detail is None or all(detail.get(k) == v for k, v in call.detail(world).items())

    matching = [row for row in rows if matches(row)]
    expected_ids = sorted(world.referrals[k] for k in call.referral_ids) if call.referral_ids is not None else "-"
    assert matching, (f"{call.method} {url} as {call.actor}: no {call.action or 'audit'!r} row naming referral "
                      f"{referral_id} (referral_ids {expected_ids}); rows: "
                      f"{[(r.action, r.record_type, r.record_id, r.detail) for r in rows]}")
    row = matching[0]
    assert (row.actor_user_id, row.actor_email, row.actor_role) == (actor.id, actor.email, actor.role.value)
    assert row.actor_agency_id == actor.agency_id
    assert row.channel == call.door
    # No row of this call is anonymous or names someone else.
    assert all(r.actor_user_id == actor.id for r in rows)
