"""Every route that shows or changes a young person's data leaves a row in the audit trail.

The routes are classified here by hand: each referral endpoint of the URL map (``referrals.*`` and
``api.referral*``), method by method, either shows or changes a young person's data (and must
audit), or is listed with the reason it shows none. A new route fails the classification test until
someone decides which it is.

Each audited route is then called by a person allowed to use it, and the new rows of the audit
trail must name the referral (record type "referral" and its id; for lists, its id among
``detail["referral_ids"]``), the person (their id and email) and the door it came through.

Every case runs in one world, built once per module (``world``; each case runs in a SAVEPOINT rolled
back after it, so every case meets the world as built).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.models import AuditEvent, Referral, Role, User, db
from panel_app.pathways import Pathway
from panel_app.services import referrals as service
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import assert_every_route_classified, built_once, csrf_token_from, kept, loaded
from tests.factories import make_agency, make_partnership, make_referral, make_user

# The referral a call is about.
ACCEPTED = "accepted"  # accepted, shared with housing for accommodation
SUBMITTED = "submitted"  # waiting for triage
ASKED = "asked"  # waiting for triage; the broker asked the referrer for more information
NEW = "new"  # made by the call itself

BROKER, REFERRER, SHARED = "broker", "referrer", "shared"


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # {id}: the referral's id
    referral: str
    actor: str
    action: str  # the audit row's action
    status: int  # what an allowed call answers
    form: Callable[[Any], dict[str, Any]] | None = None  # page POSTs: the fields (CSRF token and version added)
    json: Callable[[Any], dict[str, Any]] | None = None  # API POSTs
    listed: bool = False  # a list: the referral is named in detail["referral_ids"]

    @property
    def door(self) -> str:
        return "api" if self.path.startswith("/api/") else "web"


def _referral_form(world: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "partnership_id": str(world.partnership_id), "given_name": "Ffion", "family_name": "Audited",
        "date_of_birth": ["4", "3", "2010"], "reason": "Needs a school place on release.", "legal_status": "other",
        "consent_given": "yes", "consent_scope": "all",
    }
    for pathway in Pathway:
        data[f"need_{pathway.value}-rating"] = "none"
    return data


def _needs_form(world: Any) -> dict[str, Any]:
    data: dict[str, Any] = {f"need_{p.value}-rating": "none" for p in Pathway}
    data["need_health-rating"] = "red"
    data["need_health-note"] = "Re-rated at the panel"
    return data


# (endpoint, method) -> the calls that must audit. Reads are made by each kind of person who may
# make them; changes by the one who may.
AUDITED: dict[tuple[str, str], list[Call]] = {
    ("referrals.index", "GET"): [
        Call("GET", "/referrals/", ACCEPTED, who, "referral.list", 200, listed=True)
        for who in (BROKER, REFERRER, SHARED)
    ] + [Call("GET", "/referrals/?q=audited", ACCEPTED, BROKER, "referral.list", 200, listed=True)],
    ("referrals.triage", "GET"): [Call("GET", "/referrals/triage", SUBMITTED, BROKER, "referral.triage", 200,
                                       listed=True)],
    ("referrals.new", "POST"): [Call("POST", "/referrals/new", NEW, REFERRER, "referral.create", 302,
                                     form=_referral_form)],
    ("referrals.show", "GET"): [Call("GET", "/referrals/{id}", ACCEPTED, who, "referral.view", 200)
                                for who in (BROKER, REFERRER, SHARED)],
    ("referrals.accept", "GET"): [Call("GET", "/referrals/{id}/accept", SUBMITTED, BROKER, "referral.view", 302)],
    ("referrals.accept", "POST"): [Call("POST", "/referrals/{id}/accept", SUBMITTED, BROKER, "referral.accept", 302,
                                        form=lambda w: {})],
    ("referrals.decline", "GET"): [Call("GET", "/referrals/{id}/decline", SUBMITTED, BROKER, "referral.view", 200)],
    ("referrals.decline", "POST"): [Call("POST", "/referrals/{id}/decline", SUBMITTED, BROKER, "referral.decline",
                                         302, form=lambda w: {"reason": "Not resident in the area"})],
    ("referrals.request_information", "GET"): [
        Call("GET", "/referrals/{id}/request-information", SUBMITTED, BROKER, "referral.view", 200)],
    ("referrals.request_information", "POST"): [
        Call("POST", "/referrals/{id}/request-information", SUBMITTED, BROKER, "referral.request_information", 302,
             form=lambda w: {"question": "What is the release address?"})],
    ("referrals.provide_information", "GET"): [
        Call("GET", "/referrals/{id}/provide-information", ASKED, REFERRER, "referral.view", 200)],
    ("referrals.provide_information", "POST"): [
        Call("POST", "/referrals/{id}/provide-information", ASKED, REFERRER, "referral.provide_information", 302,
             form=lambda w: {"answer": "A hostel in Rhyl"})],
    ("referrals.share", "GET"): [Call("GET", "/referrals/{id}/share", ACCEPTED, BROKER, "referral.view", 200)],
    ("referrals.share", "POST"): [Call("POST", "/referrals/{id}/share", ACCEPTED, BROKER, "referral.share", 302,
                                       form=lambda w: {"agency_id": str(w.uninvolved_agency_id)})],
    ("referrals.change_stage", "GET"): [Call("GET", "/referrals/{id}/stage", ACCEPTED, BROKER, "referral.view", 200)],
    ("referrals.change_stage", "POST"): [Call("POST", "/referrals/{id}/stage", ACCEPTED, BROKER, "referral.stage",
                                              302, form=lambda w: {"stage": "3"})],
    ("referrals.rate_needs", "GET"): [Call("GET", "/referrals/{id}/needs", ACCEPTED, BROKER, "referral.view", 200)],
    ("referrals.rate_needs", "POST"): [Call("POST", "/referrals/{id}/needs", ACCEPTED, BROKER, "referral.needs", 302,
                                            form=_needs_form)],
    ("referrals.close", "GET"): [Call("GET", "/referrals/{id}/close", ACCEPTED, BROKER, "referral.view", 200)],
    ("referrals.close", "POST"): [Call("POST", "/referrals/{id}/close", ACCEPTED, BROKER, "referral.close", 302,
                                       form=lambda w: {"reason": "completed"})],
    ("referrals.record_consent", "GET"): [Call("GET", "/referrals/{id}/consent", ACCEPTED, BROKER, "referral.view",
                                               200)],
    ("referrals.record_consent", "POST"): [
        Call("POST", "/referrals/{id}/consent", ACCEPTED, BROKER, "referral.consent", 302,
             form=lambda w: {"consent_given": "yes", "consent_scope": "all"})],
    ("referrals.withdraw_consent", "GET"): [
        Call("GET", "/referrals/{id}/consent/withdraw", ACCEPTED, who, "referral.view", 200)
        for who in (BROKER, REFERRER)],
    ("referrals.withdraw_consent", "POST"): [
        Call("POST", "/referrals/{id}/consent/withdraw", ACCEPTED, who, "referral.consent_withdrawn", 302,
             form=lambda w: {"note": "Asked us to stop"})
        for who in (BROKER, REFERRER)],
    ("api.referrals_list", "GET"): [
        Call("GET", "/api/v1/referrals", ACCEPTED, who, "referral.list", 200, listed=True)
        for who in (BROKER, REFERRER, SHARED)
    ] + [Call("GET", "/api/v1/referrals?q=audited&status=accepted", ACCEPTED, BROKER, "referral.list", 200,
              listed=True)],
    ("api.referral_detail", "GET"): [Call("GET", "/api/v1/referrals/{id}", ACCEPTED, who, "referral.view", 200)
                                     for who in (BROKER, REFERRER, SHARED)],
    ("api.referral_create", "POST"): [
        Call("POST", "/api/v1/referrals", NEW, who, "referral.create", 201, json=lambda w, who=who: {
            "partnership_id": w.partnership_id,
            "young_person": {"given_name": "Ffion", "family_name": "Audited", "date_of_birth": "2010-03-04"},
            "reason": "Needs a school place on release.", "consent": {"given": True},
            **({"referring_agency_id": w.referring_agency_id} if who == BROKER else {}),
        }) for who in (BROKER, REFERRER)],
    ("api.referral_accept", "POST"): [Call("POST", "/api/v1/referrals/{id}/accept", SUBMITTED, BROKER,
                                           "referral.accept", 200, json=lambda w: {})],
    ("api.referral_decline", "POST"): [Call("POST", "/api/v1/referrals/{id}/decline", SUBMITTED, BROKER,
                                            "referral.decline", 200, json=lambda w: {"reason": "Not in the area"})],
    ("api.referral_share", "POST"): [Call("POST", "/api/v1/referrals/{id}/share", ACCEPTED, BROKER, "referral.share",
                                          200, json=lambda w: {"agency_id": w.uninvolved_agency_id})],
}

# (endpoint, method) -> why it shows no young person's data (so it need not audit).
NOT_PERSONAL = {
    ("referrals.new", "GET"): "the empty referral form: partnerships and agencies only",
}

CALLS = [
    pytest.param(call, id=f"{call.method} {call.path} as {call.actor}")
    for calls in AUDITED.values() for call in calls
]


def test_every_referral_route_is_classified(app: Flask) -> None:
    assert_every_route_classified(app, ("referrals.", "api.referral"), AUDITED, NOT_PERSONAL)
    # Each classified call reaches the endpoint it is filed under.
    adapter = app.url_map.bind("localhost")
    for (endpoint, method), calls in AUDITED.items():
        for call in calls:
            assert adapter.match(call.path.split("?")[0].format(id=1), method=call.method)[0] == endpoint
            assert call.method == method


@dataclass
class World:
    users: dict[str, User]
    referrals: dict[str, Referral]
    partnership_id: int
    referring_agency_id: int
    uninvolved_agency_id: int


def build_world() -> World:
    yot = make_agency(type="yot", name="Audit YOT")
    housing = make_agency(type="housing", name="Audit Housing")
    education = make_agency(type="education", name="Audit School")
    broker = make_user(Role.BROKER)
    partnership = make_partnership(agencies=[yot, housing, education], brokers=[broker])
    users = {BROKER: broker, REFERRER: make_user(Role.AGENCY_STAFF, agency=yot),
             SHARED: make_user(Role.AGENCY_STAFF, agency=housing)}

    def person(family: str) -> YoungPersonDetails:
        return YoungPersonDetails("Ffion", family, date(2009, 5, 17))

    referrals = {
        ACCEPTED: make_referral(partnership=partnership, referrer=users[REFERRER], broker=broker, status="accepted",
                                shared_with=[(housing, [Pathway.ACCOMMODATION])], young_person=person("Audited")),
        SUBMITTED: make_referral(partnership=partnership, referrer=users[REFERRER], broker=broker,
                                 young_person=person("Triaged")),
        ASKED: make_referral(partnership=partnership, referrer=users[REFERRER], broker=broker,
                             young_person=person("Asked")),
    }
    service.request_information(broker, referrals[ASKED], "Where will they live?")
    db.session.flush()
    return World(users, referrals, partnership.id, yot.id, education.id)


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
def test_the_route_audits_the_young_persons_data_it_shows_or_changes(client: FlaskClient, login_as, api_token,
                                                                    call: Call, world: World) -> None:
    actor = world.users[call.actor]
    referral = world.referrals.get(call.referral)
    url = call.path.format(id=referral.id if referral is not None else "")
    headers: dict[str, str] = {}
    data = None
    if call.door == "api":
        headers = api_token(actor)
    else:
        login_as(actor)
        if call.method == "POST":
            data = {"csrf_token": csrf_token_from(client.get("/").text), **call.form(world)}
            if referral is not None:
                data["version"] = str(referral.version)
    before = _last_audit_id()

    response = client.open(url, method=call.method, headers=headers, data=data,
                           json=call.json(world) if call.json else None)

    assert response.status_code == call.status, response.text[:500]
    if call.referral == NEW:
        referral_id = (response.json["id"] if call.door == "api"
                       else int(response.headers["Location"].rsplit("/", 1)[-1]))
    else:
        referral_id = referral.id
    db.session.expire_all()
    rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)))
    assert rows, f"{call.method} {url} wrote no audit row"

    def names_the_referral(row: AuditEvent) -> bool:
        if row.record_type != "referral":
            return False
        if call.listed:
            return referral_id in (row.detail or {}).get("referral_ids", [])
        return row.record_id == referral_id

    matching = [row for row in rows if row.action == call.action and names_the_referral(row)]
    assert matching, (f"{call.method} {url}: no {call.action!r} row naming referral {referral_id}; rows: "
                      f"{[(r.action, r.record_type, r.record_id, r.detail) for r in rows]}")
    row = matching[0]
    assert (row.actor_user_id, row.actor_email, row.actor_role) == (actor.id, actor.email, actor.role.value)
    assert row.actor_agency_id == actor.agency_id
    assert row.channel == call.door
    # No row of this call is anonymous or names someone else.
    assert all(r.actor_user_id == actor.id for r in rows)
