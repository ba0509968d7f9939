"""A signed-in person refused a record (404 or 403 on a route with a record id) leaves an
``access.refused`` row naming the person, the route and the id: somebody trying ids one after
another shows up in the audit trail. The refused request itself changes nothing.

Expectations are written here from docs/domain.md: a referral outside a person's scope is a 404; a person
who sees the referral but may not do the step (an agency sharing it onward) gets a 403.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from panel_app.models import AuditEvent, ReferralAccess, Role, db
from panel_app.pathways import Pathway
from tests.conftest import csrf_token_from
from tests.factories import make_agency, make_partnership, make_referral, make_user


def _refusals() -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "access.refused").order_by(AuditEvent.id)))


def _world() -> dict:
    yot = make_agency(type="yot")
    housing = make_agency(type="housing")
    broker = make_user(Role.BROKER)
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    outsider = make_user(Role.AGENCY_STAFF, agency=housing)  # a member agency it was never shared with
    partnership = make_partnership(agencies=[yot, housing], brokers=[broker])
    referral = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted")
    db.session.commit()
    return {"referral": referral, "referrer": referrer, "outsider": outsider, "housing": housing}


def test_a_404_on_a_record_route_names_the_person_the_route_and_the_id(app: Flask, login_as) -> None:
    world = _world()
    referral_id, outsider = world["referral"].id, world["outsider"]
    client = login_as(outsider)

    response = client.get(f"/referrals/{referral_id}")

    assert response.status_code == 404
    rows = _refusals()
    assert [(r.actor_user_id, r.actor_email, r.record_type, r.record_id, r.channel) for r in rows] == [
        (outsider.id, outsider.email, "referral", referral_id, "web")]
    assert rows[0].detail == {"method": "GET", "path": f"/referrals/{referral_id}", "status": 404,
                              "route": "/referrals/<int:referral_id>", "ids": {"referral_id": referral_id}}


def test_a_403_names_the_person_the_route_and_the_id_and_changes_nothing(app: Flask, api_token) -> None:
    world = _world()
    referral_id, referrer = world["referral"].id, world["referrer"]
    shared_before = db.session.scalar(select(func.count()).select_from(ReferralAccess))

    # The referring agency sees the referral, but only the broker shares it.
    response = app.test_client().post(f"/api/v1/referrals/{referral_id}/share", headers=api_token(referrer),
                                      json={"agency_id": world["housing"].id, "pathways": [Pathway.ACCOMMODATION.value]})

    assert response.status_code == 403, response.text
    rows = _refusals()
    assert [(r.actor_user_id, r.record_type, r.record_id, r.channel) for r in rows] == [
        (referrer.id, "referral", referral_id, "api")]
    assert rows[0].detail == {"method": "POST", "path": f"/api/v1/referrals/{referral_id}/share", "status": 403,
                              "route": "/api/v1/referrals/<int:referral_id>/share",
                              "ids": {"referral_id": referral_id}}
    assert db.session.scalar(select(func.count()).select_from(ReferralAccess)) == shared_before


def test_a_403_on_a_page_form_is_recorded_too(app: Flask, login_as) -> None:
    world = _world()
    referral_id, referrer = world["referral"].id, world["referrer"]
    client = login_as(referrer)

    response = client.get(f"/referrals/{referral_id}/share")

    assert response.status_code == 403
    assert [(r.actor_user_id, r.record_id, r.detail["status"], r.detail["route"]) for r in _refusals()] == [
        (referrer.id, referral_id, 403, "/referrals/<int:referral_id>/share")]


def test_somebody_trying_ids_leaves_one_row_per_try(app: Flask, login_as) -> None:
    world = _world()
    outsider = world["outsider"]
    client = login_as(outsider)
    tried = [world["referral"].id, world["referral"].id + 1000, world["referral"].id + 2000]

    statuses = [client.get(f"/referrals/{referral_id}").status_code for referral_id in tried]

    assert statuses == [404, 404, 404]  # one that exists but is not theirs, two that do not exist
    assert [(r.actor_user_id, r.record_id) for r in _refusals()] == [(outsider.id, i) for i in tried]


def test_a_record_route_with_two_ids_names_the_outer_record(app: Flask, login_as) -> None:
    outsider = make_user(Role.AGENCY_STAFF)
    db.session.commit()
    client = login_as(outsider)

    assert client.get("/meetings/4242/items/77/update").status_code == 404  # no such meeting

    rows = _refusals()
    assert [(r.record_type, r.record_id, r.detail["ids"]) for r in rows] == [
        ("meeting", 4242, {"meeting_id": 4242, "item_id": 77})]


def test_a_strategic_lead_refused_a_referral_by_the_route_rule_is_recorded(app: Flask, login_as) -> None:
    world = _world()
    lead = make_user(Role.STRATEGIC_LEAD)
    db.session.commit()
    client = login_as(lead)

    assert client.get(f"/referrals/{world['referral'].id}").status_code == 404

    assert [(r.actor_user_id, r.record_id) for r in _refusals()] == [(lead.id, world["referral"].id)]


def test_what_is_not_a_refused_record_leaves_no_refusal(app: Flask, login_as, client) -> None:
    world = _world()
    referral_id = world["referral"].id

    # Nobody signed in: sent to sign in, nobody to name.
    assert client.get(f"/referrals/{referral_id}").status_code == 302
    assert app.test_client().get(f"/api/v1/referrals/{referral_id}").status_code == 401
    signed_in = login_as(world["referrer"])
    # An unknown URL, and a route without a record id.
    assert signed_in.get(f"/nowhere/{referral_id}").status_code == 404
    assert signed_in.get("/referrals/triage").status_code == 403
    # A record the person may see.
    assert signed_in.get(f"/referrals/{referral_id}").status_code == 200

    assert _refusals() == []


def test_a_refusal_is_recorded_even_though_the_form_post_was_refused(app: Flask, login_as) -> None:
    world = _world()
    referral_id, referrer = world["referral"].id, world["referrer"]
    client = login_as(referrer)
    token = csrf_token_from(client.get(f"/referrals/{referral_id}").text)

    response = client.post(f"/referrals/{referral_id}/stage", data={"csrf_token": token, "stage": "3"})

    assert response.status_code == 403
    assert [(r.actor_user_id, r.detail["method"], r.detail["status"]) for r in _refusals()] == [
        (referrer.id, "POST", 403)]
