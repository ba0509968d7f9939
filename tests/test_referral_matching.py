"""Referring never reveals, or changes, a young person the referrer could not already see.

The breach an outside test found: any member agency could refer a child by name and date of birth
and be answered with the stored record of a child it was not involved with (address, phone, YOT
reference...), even after consent was withdrawn, and could fill blanks in that record. Now a match
is made only among the young people the referrer sees; any other is left to the broker, who links
the referral at triage ("possibly the same young person as ..."), on the page or through the API.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.extensions import db
from panel_app.models import (
    Agency,
    AuditEvent,
    NeedRating,
    Partnership,
    Referral,
    ReferralStatus,
    Role,
    User,
    YoungPerson,
)
from panel_app.pathways import Pathway
from panel_app.services import referrals as service
from panel_app.services.accounts import issue_api_token
from panel_app.services.clock import today
from panel_app.services.referrals import ConsentInput, YoungPersonDetails
from tests.conftest import FreshDatabases, app_with_its_own_database, csrf_token_from, sign_in
from tests.factories import make_agency, make_partnership, make_user

BORN = date(2009, 3, 14)
# What the record of the young person holds: none of it may reach an agency that is not involved.
SECRETS = {"address": "7 Secret Row, Conwy LL32 8AA", "phone": "07700 900777", "email": "seren.secret@example.org",
           "yot_reference": "YOT/SECRET/42", "pronouns": "she/her", "preferred_language": "Welsh"}


@dataclass
class World:
    partnership: Partnership
    yot: Agency
    housing: Agency
    yot_staff: User
    housing_staff: User
    broker: User
    seren: Referral  # referred by the YOT, with her details; housing is not involved


@pytest.fixture
def world() -> World:
    yot = make_agency(type="yot", name="Conwy YOT")
    housing = make_agency(type="housing", name="Conwy Housing")
    broker = make_user(Role.BROKER, name="Bethan Broker")
    partnership = make_partnership(name="Conwy", agencies=[yot, housing], brokers=[broker])
    yot_staff = make_user(Role.AGENCY_STAFF, agency=yot)
    seren = service.refer(yot_staff, service.NewReferral(
        partnership_id=partnership.id, young_person=YoungPersonDetails("Seren", "Morgan", BORN, **SECRETS),
        reason="Leaving custody", consent=ConsentInput(given=True)))
    service.accept(broker, seren)
    db.session.commit()
    return World(partnership, yot, housing, yot_staff, make_user(Role.AGENCY_STAFF, agency=housing), broker, seren)


def referral_body(world: World, given: str = "Seren", family: str = "Morgan", consent: bool = False,
                  **person: Any) -> dict:
    return {"partnership_id": world.partnership.id, "reason": "Homeless on release", "consent": {"given": consent},
            "young_person": {"given_name": given, "family_name": family, "date_of_birth": BORN.isoformat(), **person}}


def assert_no_secret(text: str) -> None:
    for name, value in SECRETS.items():
        if name == "preferred_language":
            continue  # "Welsh" appears in ordinary page text; the others are unique to the record
        assert value not in text, f"the record's {name} leaked"


def young_people_named(partnership: Partnership, given: str = "Seren") -> list[YoungPerson]:
    return list(db.session.scalars(select(YoungPerson).where(
        YoungPerson.partnership_id == partnership.id, YoungPerson.given_name == given).order_by(YoungPerson.id)))


# --- The breach, as the outside tester tried it -------------------------------------------------


def test_an_agency_not_involved_is_answered_with_nothing_of_the_existing_record(
        client: FlaskClient, api_token, world: World) -> None:
    headers = api_token(world.housing_staff)
    assert client.get(f"/api/v1/referrals/{world.seren.id}", headers=headers).status_code == 404
    response = client.post("/api/v1/referrals", headers=headers, json=referral_body(world))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert_no_secret(json.dumps(body))
    assert body["young_person"]["id"] != world.seren.young_person_id
    assert body.get("previous_referral_id") is None
    assert "possible_matches" not in body
    assert "re_referral" not in {flag["key"] for flag in body["flags"]}
    # Still nothing: her referral stays out of reach, and the new one tells nothing either.
    assert client.get(f"/api/v1/referrals/{world.seren.id}", headers=headers).status_code == 404
    again = client.get(f"/api/v1/referrals/{body['id']}", headers=headers).get_json()
    assert_no_secret(json.dumps(again))


def test_what_the_agency_typed_never_lands_in_a_record_it_cannot_see(client: FlaskClient, api_token,
                                                                    world: World) -> None:
    existing = world.seren.young_person
    existing.phone = None  # a blank the outside tester could fill
    db.session.commit()
    response = client.post("/api/v1/referrals", headers=api_token(world.housing_staff),
                           json=referral_body(world, phone="07000 000001", address="Somewhere else"))
    assert response.status_code == 201
    db.session.expire_all()
    record = db.session.get(YoungPerson, world.seren.young_person_id)
    assert record.phone is None and record.address == SECRETS["address"]
    # The housing officer's referral holds what they typed, on a record of its own.
    new = db.session.get(Referral, response.get_json()["id"])
    assert (new.young_person.phone, new.young_person.address) == ("07000 000001", "Somewhere else")


def test_the_page_answers_the_same_way(client: FlaskClient, world: World) -> None:
    assert sign_in(client, world.housing_staff.email).status_code == 302
    form = client.get("/referrals/new")
    assert form.status_code == 200
    response = client.post("/referrals/new", data={
        "csrf_token": csrf_token_from(form.get_data(as_text=True)),
        "partnership_id": str(world.partnership.id), "given_name": "Seren", "family_name": "Morgan",
        "date_of_birth": [str(BORN.day), str(BORN.month), str(BORN.year)],
        "reason": "Homeless on release", "consent_given": "no", "legal_status": "other",
        **{f"need_{pathway.value}-rating": "none" for pathway in Pathway},
    }, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    assert "Referral submitted" in page
    assert_no_secret(page)
    assert "Possibly the same young person" not in page
    new = db.session.scalars(select(Referral).where(Referral.referring_agency_id == world.housing.id)).one()
    assert new.young_person_id != world.seren.young_person_id


def test_after_consent_is_withdrawn_an_agency_once_involved_learns_nothing_either(
        client: FlaskClient, api_token, world: World) -> None:
    service.share(world.broker, world.seren, world.housing.id)
    db.session.commit()  # two requests
    service.withdraw_consent(world.broker, world.seren, today(), None)
    db.session.commit()
    headers = api_token(world.housing_staff)
    assert client.get(f"/api/v1/referrals/{world.seren.id}", headers=headers).status_code == 404
    body = client.post("/api/v1/referrals", headers=headers, json=referral_body(world)).get_json()
    assert_no_secret(json.dumps(body))
    assert body["young_person"]["id"] != world.seren.young_person_id


def test_an_agency_that_already_sees_the_young_person_refers_them_again_into_their_record(
        client: FlaskClient, api_token, world: World) -> None:
    """Re-referral by someone who may see the record: matched, and answered only with what they read."""
    response = client.post("/api/v1/referrals", headers=api_token(world.yot_staff),
                           json=referral_body(world, "SEREN", "morgan", consent=True, phone="07000 000002"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["young_person"]["id"] == world.seren.young_person_id
    assert body["previous_referral_id"] == world.seren.id  # they can read it: they made it
    assert body["young_person"]["phone"] == SECRETS["phone"]  # nothing they recorded is overwritten
    assert len(young_people_named(world.partnership)) == 1


# --- The broker decides at triage ---------------------------------------------------------------


def audit_rows(action: str, referral_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.record_type == "referral", AuditEvent.record_id == referral_id))


def housing_refers(world: World, **person: Any) -> Referral:
    referral = service.refer(world.housing_staff, service.NewReferral(
        partnership_id=world.partnership.id, young_person=YoungPersonDetails("Seren", "Morgan", BORN, **person),
        reason="Homeless on release", consent=ConsentInput(given=True)))
    db.session.commit()
    return referral


def test_the_broker_sees_possibly_the_same_young_person_and_links_them_on_the_page(
        client: FlaskClient, world: World) -> None:
    existing = world.seren.young_person
    existing.email = None
    db.session.commit()
    referral = housing_refers(world, email="seren.new@example.org", phone="07000 000003")
    made_at_referral = referral.young_person_id
    assert sign_in(client, world.broker.email).status_code == 302
    page = client.get(f"/referrals/{referral.id}").get_data(as_text=True)
    assert "Possibly the same young person as Seren Morgan" in page
    views_before = audit_rows("referral.view", referral.id)
    accept_page = client.get(f"/referrals/{referral.id}/accept")
    html = accept_page.get_data(as_text=True)
    assert accept_page.status_code == 200
    assert audit_rows("referral.view", referral.id) == views_before + 1  # one read, one row
    soup = BeautifulSoup(html, "html.parser")
    table = soup.find("table")
    assert SECRETS["address"] in table.get_text() and "07000 000003" in table.get_text()
    choices = {radio["value"]: soup.find("label", attrs={"for": radio["id"]}).get_text(" ", strip=True)
               for radio in soup.find_all("input", attrs={"name": "same_as"})}
    assert set(choices) == {str(world.seren.young_person_id), "new"}
    assert choices[str(world.seren.young_person_id)].startswith("Yes, the same as Seren Morgan")

    # Nothing chosen: a clear error, nothing changed.
    refused = client.post(f"/referrals/{referral.id}/accept",
                          data={"csrf_token": csrf_token_from(html), "version": str(referral.version)})
    assert refused.status_code == 400
    assert "Say whether this is the same young person" in refused.get_data(as_text=True)

    done = client.post(f"/referrals/{referral.id}/accept", data={
        "csrf_token": csrf_token_from(html), "version": str(referral.version),
        "same_as": str(world.seren.young_person_id)}, follow_redirects=True)
    assert done.status_code == 200
    assert "Referral accepted" in done.get_data(as_text=True)
    db.session.expire_all()
    linked = db.session.get(Referral, referral.id)
    assert linked.status is ReferralStatus.ACCEPTED
    assert linked.young_person_id == world.seren.young_person_id
    assert linked.previous_referral_id == world.seren.id
    assert db.session.get(YoungPerson, made_at_referral) is None  # the record made at referral is gone
    record = db.session.get(YoungPerson, world.seren.young_person_id)
    assert record.email == "seren.new@example.org"  # a blank filled from the referral
    assert record.phone == SECRETS["phone"]  # what was recorded is kept
    assert "Linked by the broker" in client.get(f"/referrals/{referral.id}").get_data(as_text=True)


def test_the_broker_may_say_it_is_a_different_young_person(client: FlaskClient, world: World) -> None:
    referral = housing_refers(world)
    assert sign_in(client, world.broker.email).status_code == 302
    html = client.get(f"/referrals/{referral.id}/accept").get_data(as_text=True)
    done = client.post(f"/referrals/{referral.id}/accept", data={
        "csrf_token": csrf_token_from(html), "version": str(referral.version), "same_as": "new"})
    assert done.status_code == 302
    db.session.expire_all()
    kept = db.session.get(Referral, referral.id)
    assert kept.status is ReferralStatus.ACCEPTED and kept.young_person_id != world.seren.young_person_id
    assert len(young_people_named(world.partnership)) == 2


def test_triage_through_the_api_links_declines_and_refuses_what_is_not_the_callers(
        client: FlaskClient, api_token, world: World) -> None:
    other_partnership_person = make_partnership(name="Cardiff", agencies=[world.yot], brokers=[world.broker])
    elsewhere = service.refer(world.yot_staff, service.NewReferral(
        partnership_id=other_partnership_person.id, young_person=YoungPersonDetails("Seren", "Morgan", BORN),
        reason="x", consent=ConsentInput(given=True)))
    referral = housing_refers(world)
    broker, housing, yot = api_token(world.broker), api_token(world.housing_staff), api_token(world.yot_staff)

    detail = client.get(f"/api/v1/referrals/{referral.id}", headers=broker).get_json()
    assert [match["id"] for match in detail["possible_matches"]] == [world.seren.young_person_id]
    assert "possible_matches" not in client.get(f"/api/v1/referrals/{referral.id}", headers=housing).get_json()

    # The referrer may not triage (403); an agency that cannot see the referral gets 404.
    assert client.post(f"/api/v1/referrals/{referral.id}/accept", headers=housing, json={}).status_code == 403
    assert client.post(f"/api/v1/referrals/{referral.id}/accept", headers=yot, json={}).status_code == 404
    # A young person who is not one of the possible matches (another partnership's): 422, nothing changed.
    wrong = client.post(f"/api/v1/referrals/{referral.id}/accept", headers=broker,
                        json={"same_as_young_person_id": elsewhere.young_person_id})
    assert wrong.status_code == 422 and "same_as" in wrong.get_json()["error"]["fields"]
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).status is ReferralStatus.SUBMITTED

    accepted = client.post(f"/api/v1/referrals/{referral.id}/accept", headers=broker,
                           json={"same_as_young_person_id": world.seren.young_person_id, "version": referral.version})
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["status"] == "accepted"
    assert accepted.get_json()["young_person"]["id"] == world.seren.young_person_id
    # Accepting twice: the referral is no longer being triaged.
    assert client.post(f"/api/v1/referrals/{referral.id}/accept", headers=broker, json={}).status_code == 422

    second = housing_refers(world, yot_reference="OTHER")
    no_reason = client.post(f"/api/v1/referrals/{second.id}/decline", headers=broker, json={})
    assert no_reason.status_code == 400
    declined = client.post(f"/api/v1/referrals/{second.id}/decline", headers=broker,
                           json={"reason": "Not resident in the area"})
    assert declined.status_code == 200 and declined.get_json()["status"] == "declined"
    seen_by_referrer = client.get(f"/api/v1/referrals/{second.id}", headers=housing).get_json()
    assert seen_by_referrer["decline_reason"] == "Not resident in the area"


# --- Other writes made on someone else's behalf answer with nothing unreadable --------------------


def same_answer(one: Any, one_id: int, other: Any, other_id: int) -> bool:
    """The same status and words, but for the id the caller sent (echoed back)."""
    return (one.status_code, one.get_data(as_text=True).replace(str(one_id), "ID")) == (
        other.status_code, other.get_data(as_text=True).replace(str(other_id), "ID"))


def test_other_writes_naming_a_record_out_of_reach_get_404_and_carry_nothing(
        client: FlaskClient, api_token, world: World) -> None:
    """Gap evidence, agenda add and action create, as a caller who cannot read Seren's referral."""
    cardiff_broker = make_user(Role.BROKER)
    cardiff = make_partnership(name="Cardiff", agencies=[world.housing], brokers=[cardiff_broker])
    db.session.commit()
    housing, other_broker = api_token(world.housing_staff), api_token(cardiff_broker)
    answers = []
    # An id named in the body: the answer is the same as for an id that does not exist at all.
    nowhere = 999_999

    def log_gap(referral_id: int) -> Any:
        return client.post("/api/v1/gaps", headers=housing, json={
            "partnership_id": world.partnership.id, "pathway": "accommodation", "title": "No supported lodgings",
            "description": "None for 16-17 year olds", "severity": "high", "referral_ids": [referral_id]})

    gap = log_gap(world.seren.id)
    answers.append(gap)
    assert gap.status_code == 422, gap.get_json()  # an id in the body: a field error, as for any unknown id
    assert same_answer(gap, world.seren.id, log_gap(nowhere), nowhere)
    meeting = client.post("/api/v1/meetings", headers=other_broker, json={
        "partnership_id": cardiff.id, "starts_at": f"{today() + timedelta(days=7)}T10:00:00+00:00",
        "ends_at": f"{today() + timedelta(days=7)}T12:00:00+00:00", "location": "Cardiff"})
    assert meeting.status_code == 201, meeting.get_json()
    agenda_url = f"/api/v1/meetings/{meeting.get_json()['id']}/agenda"
    agenda = client.post(agenda_url, headers=other_broker, json={"referral_id": world.seren.id, "kind": "new"})
    answers.append(agenda)
    assert agenda.status_code == 422
    assert same_answer(agenda, world.seren.id, client.post(agenda_url, headers=other_broker,
                                                           json={"referral_id": nowhere, "kind": "new"}), nowhere)
    action = client.post(f"/api/v1/referrals/{world.seren.id}/actions", headers=other_broker, json={
        "pathway": "accommodation", "description": "Find lodgings", "agency_id": world.housing.id,
        "due_date": (today() + timedelta(days=14)).isoformat()})
    answers.append(action)
    assert action.status_code == 404
    for answer in answers:
        text = answer.get_data(as_text=True)
        assert_no_secret(text)
        assert "Seren" not in text and "Morgan" not in text


def test_writes_in_reach_answer_only_with_what_the_caller_may_read(client: FlaskClient, api_token,
                                                                 world: World) -> None:
    """An action the broker gives housing on Seren's referral lets housing see her referral (docs/domain.md),
    but never her health note: neither the action's answers nor the referral's carry it."""
    service.rate_needs(world.broker, world.seren, {Pathway.HEALTH: service.NeedInput(NeedRating.RED, "CAMHS-7731")})
    db.session.commit()
    created = client.post(f"/api/v1/referrals/{world.seren.id}/actions", headers=api_token(world.broker), json={
        "pathway": "accommodation", "description": "Find lodgings", "agency_id": world.housing.id,
        "due_date": (today() + timedelta(days=14)).isoformat()})
    assert created.status_code == 201, created.get_json()
    housing = api_token(world.housing_staff)
    action = client.get(f"/api/v1/actions/{created.get_json()['id']}", headers=housing)
    referral = client.get(f"/api/v1/referrals/{world.seren.id}", headers=housing)
    assert (action.status_code, referral.status_code) == (200, 200)
    for answer in (created, action, referral):
        assert "CAMHS-7731" not in answer.get_data(as_text=True)
    # The broker, who may read it, does see it: the check above can fail.
    assert "CAMHS-7731" in client.get(f"/api/v1/referrals/{world.seren.id}",
                                      headers=api_token(world.broker)).get_data(as_text=True)


# --- At the same moment -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def committed_app(databases: FreshDatabases) -> Any:
    with app_with_its_own_database(databases, "matching") as application:
        yield application


def test_ten_identical_referrals_at_once_make_one_young_person(committed_app: Flask, databases: FreshDatabases) -> None:
    if databases.dialect != "postgresql":
        pytest.skip("one writer at a time is how SQLite works; the race needs PostgreSQL")
    with committed_app.app_context():
        yot = make_agency(type="yot", name="Race YOT")
        partnership = make_partnership(name="Race", agencies=[yot], brokers=[make_user(Role.BROKER)])
        staff = make_user(Role.AGENCY_STAFF, agency=yot)
        db.session.commit()
        token, _expires = issue_api_token(staff)
        db.session.commit()
        partnership_id = partnership.id
    start = threading.Barrier(10)
    statuses: list[int] = []

    def send() -> None:
        client = committed_app.test_client()
        start.wait()
        response = client.post("/api/v1/referrals", headers={"Authorization": f"Bearer {token}"}, json={
            "partnership_id": partnership_id, "reason": "Leaving custody", "consent": {"given": True},
            "young_person": {"given_name": "Cai", "family_name": "Race", "date_of_birth": "2010-01-02"}})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 10
    with committed_app.app_context():
        people = db.session.scalar(select(func.count()).select_from(YoungPerson)
                                   .where(YoungPerson.partnership_id == partnership_id))
        referrals = db.session.scalar(select(func.count()).select_from(Referral)
                                      .where(Referral.partnership_id == partnership_id))
    assert (people, referrals) == (1, 10)
