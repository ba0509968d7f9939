"""The rules of the referrals service: matching young people, re-referrals, alerts, consent,
triage, stages, needs history and optimistic concurrency; through the services and the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from panel_app.errors import Conflict, Forbidden, RuleBroken
from panel_app.models import (
    AccessReason,
    Agency,
    ClosureReason,
    LegalStatus,
    NeedRating,
    Partnership,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    YoungPerson,
    db,
)
from panel_app.pathways import Pathway
from panel_app.services import referral_views
from panel_app.services import referrals as service
from panel_app.services.clock import today
from panel_app.services.referrals import ConsentInput, NeedInput, YoungPersonDetails
from tests.conftest import csrf_token_from, sign_in
from tests.factories import make_agency, make_partnership, make_referral, make_user

# --- Helpers ------------------------------------------------------------------------------------


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def long_date(day: date) -> str:
    """How the pages write a date: 7 March 2027."""
    return f"{day.day} {day.strftime('%B')} {day.year}"


def person(given: str = "Dylan", family: str = "Jones", born: date | None = None, **extra: Any) -> YoungPersonDetails:
    return YoungPersonDetails(given, family, born or years_before(today(), 15), **extra)


def flag_keys(referral: Referral, viewer: User) -> set[str]:
    return {flag.key for flag in referral_views.flags(referral, viewer)}


def flag_labels(referral: Referral, viewer: User) -> list[str]:
    return [flag.label for flag in referral_views.flags(referral, viewer)]


def client_for(app: Flask, user: User) -> FlaskClient:
    """A fresh test client signed in as ``user`` through the real sign-in form."""
    client = app.test_client()
    response = sign_in(client, user.email)
    assert response.status_code == 302, f"sign-in failed for {user.email}"
    return client


def page_tags(html: str) -> list[str]:
    """The tags under the referral page's heading (status and flags)."""
    tags = BeautifulSoup(html, "html.parser").find(class_="app-tags")
    assert tags is not None
    return [tag.get_text(" ", strip=True) for tag in tags.find_all(class_="govuk-tag")]


def list_row(html: str, referral_id: int) -> Any:
    """The list's table row of one referral, or ``None`` when it is not listed."""
    page = BeautifulSoup(html, "html.parser")
    link = page.find("a", href=f"/referrals/{referral_id}")
    return link.find_parent("tr") if link is not None else None


def row_flags(row: Any) -> list[str]:
    return [tag.get_text(" ", strip=True) for tag in row.find_all(class_="app-flag")]


def pathway_row(html: str, pathway: Pathway) -> Any:
    table = BeautifulSoup(html, "html.parser").find(id="needs").find_next("table")
    for row in table.find("tbody").find_all("tr"):
        if row.find("th").get_text(" ", strip=True) == f"{pathway.number}. {pathway.label}":
            return row
    raise AssertionError(f"no row for {pathway.label}")


@dataclass
class World:
    partnership: Partnership
    yot: Agency
    housing: Agency
    health: Agency
    staff: User
    housing_staff: User
    health_staff: User
    broker: User


@pytest.fixture
def world() -> World:
    yot = make_agency(type="yot", name="Conwy YOT")
    housing = make_agency(type="housing", name="Conwy Housing")
    health = make_agency(type="health", name="North Wales Health")
    broker = make_user(Role.BROKER, name="Bethan Broker")
    partnership = make_partnership(name="Conwy", agencies=[yot, housing, health], brokers=[broker])
    world = World(partnership, yot, housing, health, make_user(Role.AGENCY_STAFF, agency=yot),
                  make_user(Role.AGENCY_STAFF, agency=housing), make_user(Role.AGENCY_STAFF, agency=health), broker)
    db.session.commit()
    return world


def refer(world: World, status: str = "submitted", **overrides: Any) -> Referral:
    referral = make_referral(partnership=world.partnership, referrer=world.staff, broker=world.broker, status=status,
                             **overrides)
    db.session.commit()
    return referral


def new_referral(world: World, young_person: YoungPersonDetails, partnership: Partnership | None = None,
                 **overrides: Any) -> service.NewReferral:
    new = service.NewReferral(partnership_id=(partnership or world.partnership).id, young_person=young_person,
                              reason="Leaving custody", consent=ConsentInput(given=True))
    for name, value in overrides.items():
        setattr(new, name, value)
    return new


# --- Young people are matched, not duplicated ---------------------------------------------------


def test_a_young_person_known_to_the_partnership_is_matched_by_name_and_date_of_birth(world: World) -> None:
    born = years_before(today(), 15)
    first = service.refer(world.staff, new_referral(world, person("Dylan", "Jones", born)))
    again = service.refer(world.staff, new_referral(world, person("  dYLAN ", "JONES", born, yot_reference="YOT/1")))
    assert again.young_person_id == first.young_person_id
    count = db.session.scalar(select(func.count()).select_from(YoungPerson)
                              .where(YoungPerson.partnership_id == world.partnership.id))
    assert count == 1
    # The record keeps the names it was first given, and gains what it lacked.
    known = db.session.get(YoungPerson, first.young_person_id)
    assert (known.given_name, known.family_name, known.yot_reference) == ("Dylan", "Jones", "YOT/1")
    # ... but what a referrer recorded is never silently overwritten by another.
    service.refer(world.staff, new_referral(world, person("Dylan", "Jones", born, yot_reference="YOT/2")))
    assert db.session.get(YoungPerson, first.young_person_id).yot_reference == "YOT/1"


def test_another_date_of_birth_or_another_name_is_another_young_person(world: World) -> None:
    born = years_before(today(), 15)
    first = service.refer(world.staff, new_referral(world, person("Dylan", "Jones", born)))
    other_birthday = service.refer(world.staff, new_referral(world, person("Dylan", "Jones", born - timedelta(days=1))))
    other_name = service.refer(world.staff, new_referral(world, person("Dylan", "Jone", born)))
    assert len({first.young_person_id, other_birthday.young_person_id, other_name.young_person_id}) == 3
    assert other_birthday.previous_referral_id is None and other_name.previous_referral_id is None


def test_the_same_names_and_date_of_birth_in_another_partnership_are_a_separate_young_person(world: World) -> None:
    born = years_before(today(), 15)
    other = make_partnership(name="Cardiff", agencies=[world.yot], brokers=[make_user(Role.BROKER)])
    here = service.refer(world.staff, new_referral(world, person("Dylan", "Jones", born)))
    there = service.refer(world.staff, new_referral(world, person("Dylan", "Jones", born), partnership=other))
    assert here.young_person_id != there.young_person_id
    assert db.session.get(YoungPerson, there.young_person_id).partnership_id == other.id
    # Not a re-referral either: the other partnership has never seen this young person.
    assert there.previous_referral_id is None
    assert not referral_views.is_re_referral(there)


def test_the_api_matches_a_known_young_person_too(client: FlaskClient, api_token, world: World) -> None:
    born = years_before(today(), 16).isoformat()
    headers = api_token(world.staff)
    ids = []
    for given, family in (("Seren", "Evans"), ("SEREN", "evans")):
        response = client.post("/api/v1/referrals", headers=headers, json={
            "partnership_id": world.partnership.id, "reason": "Needs a school place", "consent": {"given": True},
            "young_person": {"given_name": given, "family_name": family, "date_of_birth": born}})
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["young_person"]["id"])
    assert ids[0] == ids[1]


# --- Ages ---------------------------------------------------------------------------------------


def test_panels_work_with_young_people_aged_10_to_25(world: World) -> None:
    on = today()
    for born in (years_before(on, 10), years_before(on, 26) + timedelta(days=1)):  # just 10, and 25 for one more day
        service.refer(world.staff, new_referral(world, person("Age", "Ok", born)))
    for born, age in ((years_before(on, 10) + timedelta(days=1), 9), (years_before(on, 26), 26)):
        with pytest.raises(RuleBroken) as refused:
            service.refer(world.staff, new_referral(world, person("Age", "Wrong", born)))
        assert f"would be {age}" in refused.value.fields["young_person.date_of_birth"]


# --- Re-referrals -------------------------------------------------------------------------------


def test_a_second_referral_within_12_months_is_linked_and_flagged_to_the_broker(
    app: Flask, world: World
) -> None:
    born = years_before(today(), 16)
    first = refer(world, status="closed", young_person=person("Cai", "Morgan", born))
    first.referred_on = today() - timedelta(days=300)
    db.session.commit()
    second = refer(world, young_person=person("cai", "morgan", born))
    assert second.previous_referral_id == first.id
    assert second.young_person_id == first.young_person_id
    assert referral_views.is_re_referral(second)
    assert "re_referral" in flag_keys(second, world.broker)
    # The flag is the broker's (for triage); the referrer sees the referral without it.
    assert "re_referral" not in flag_keys(second, world.staff)

    broker_page = client_for(app, world.broker).get(f"/referrals/{second.id}")
    assert "Re-referral" in page_tags(broker_page.text)
    triage = client_for(app, world.broker).get("/referrals/triage")
    assert "Re-referral" in row_flags(list_row(triage.text, second.id))
    staff_page = client_for(app, world.staff).get(f"/referrals/{second.id}")
    assert staff_page.status_code == 200
    assert "Re-referral" not in page_tags(staff_page.text)


def test_exactly_12_months_is_still_a_re_referral_a_day_more_is_not(world: World) -> None:
    born = years_before(today(), 16)
    for days, expected in ((365, True), (366, False)):
        first = refer(world, status="closed", young_person=person("Window", f"Edge{days}", born))
        first.referred_on = today() - timedelta(days=days)
        db.session.commit()
        second = refer(world, young_person=person("Window", f"Edge{days}", born))
        assert second.previous_referral_id == first.id
        assert referral_views.is_re_referral(second) is expected, days
        assert ("re_referral" in flag_keys(second, world.broker)) is expected, days


def test_beyond_12_months_without_a_recall_is_linked_but_not_flagged(app: Flask, world: World) -> None:
    born = years_before(today(), 17)
    first = refer(world, status="closed", young_person=person("Osian", "Hughes", born))
    first.referred_on = today() - timedelta(days=500)
    db.session.commit()
    second = refer(world, young_person=person("Osian", "Hughes", born))
    assert second.previous_referral_id == first.id
    assert not referral_views.is_re_referral(second)
    assert "re_referral" not in flag_keys(second, world.broker)
    page = client_for(app, world.broker).get(f"/referrals/{second.id}")
    assert "Re-referral" not in page_tags(page.text)
    # The link to the earlier referral is still there for the broker.
    assert BeautifulSoup(page.text, "html.parser").find("a", href=f"/referrals/{first.id}") is not None


def test_after_a_recall_it_is_a_re_referral_even_beyond_12_months(app: Flask, world: World) -> None:
    born = years_before(today(), 17)
    first = refer(world, status="closed", young_person=person("Rhys", "Price", born))
    first.referred_on = today() - timedelta(days=700)
    db.session.commit()
    second = refer(world, young_person=person("Rhys", "Price", born), after_recall=True)
    assert second.previous_referral_id == first.id and second.after_recall
    assert referral_views.is_re_referral(second)
    assert "re_referral" in flag_keys(second, world.broker)
    page = client_for(app, world.broker).get(f"/referrals/{second.id}")
    assert "Re-referral" in page_tags(page.text)
    assert "after a recall" in page.text


def test_a_first_referral_is_not_a_re_referral(world: World) -> None:
    referral = refer(world, young_person=person("Nia", "Lloyd"))
    assert referral.previous_referral_id is None
    assert not referral_views.is_re_referral(referral)
    assert "re_referral" not in flag_keys(referral, world.broker)


# --- Transition alerts --------------------------------------------------------------------------


def test_turning_18_within_six_months_is_flagged_on_the_transitions_pathway(app: Flask, world: World) -> None:
    adult_on = today() + timedelta(days=60)
    born = years_before(adult_on, 18)
    referral = refer(world, young_person=person("Tomos", "Ellis", born))
    label = f"Turns 18 on {long_date(adult_on)}"
    assert label in flag_labels(referral, world.broker)
    assert label in flag_labels(referral, world.staff)  # everyone who sees the referral plans for it
    page = client_for(app, world.staff).get(f"/referrals/{referral.id}")
    assert label in page_tags(page.text)
    transitions = pathway_row(page.text, Pathway.TRANSITIONS)
    assert label in transitions.get_text(" ", strip=True)
    assert "Plan the handover to probation or adult services" in transitions.get_text(" ", strip=True)
    for other in Pathway:
        if other is not Pathway.TRANSITIONS:
            assert "Turns 18" not in pathway_row(page.text, other).get_text(" ", strip=True)


def test_turning_18_later_or_already_18_is_not_flagged(world: World) -> None:
    later = refer(world, young_person=person("Later", "Adult", years_before(today() + timedelta(days=200), 18)))
    already = refer(world, young_person=person("Already", "Adult", years_before(today() - timedelta(days=1), 18)))
    young = refer(world, young_person=person("Quite", "Young", years_before(today(), 14)))
    for referral in (later, already, young):
        assert "turning_18" not in flag_keys(referral, world.broker)


def test_an_order_ending_within_six_months_is_flagged_on_the_transitions_pathway(app: Flask, world: World) -> None:
    ends = today() + timedelta(days=90)
    referral = refer(world, young_person=person("Ffion", "Rees", years_before(today(), 15)),
                     legal_status=LegalStatus.COMMUNITY_ORDER, order_ends_on=ends)
    later = refer(world, young_person=person("Ffion", "Later", years_before(today(), 15)),
                  legal_status=LegalStatus.COMMUNITY_ORDER, order_ends_on=today() + timedelta(days=200))
    label = f"Order ends on {long_date(ends)}"
    assert "order_ending" in flag_keys(referral, world.broker)
    assert "order_ending" not in flag_keys(later, world.broker)
    page = client_for(app, world.broker).get(f"/referrals/{referral.id}")
    assert label in pathway_row(page.text, Pathway.TRANSITIONS).get_text(" ", strip=True)
    assert "Order ends" not in pathway_row(page.text, Pathway.ACCOMMODATION).get_text(" ", strip=True)
    later_page = client_for(app, world.broker).get(f"/referrals/{later.id}")
    assert "Order ends" not in pathway_row(later_page.text, Pathway.TRANSITIONS).get_text(" ", strip=True)


def test_a_closed_referral_has_no_transition_alerts(world: World) -> None:
    born = years_before(today() + timedelta(days=30), 18)
    referral = refer(world, status="accepted", young_person=person("Gone", "Home", born),
                     order_ends_on=today() + timedelta(days=30))
    assert {"turning_18", "order_ending"} <= flag_keys(referral, world.broker)
    service.close(world.broker, referral, ClosureReason.COMPLETED, None)
    assert not {"turning_18", "order_ending"} & flag_keys(referral, world.broker)


# --- Release countdown and the intensive period after release ------------------------------------


def _in_custody(world: World, release: date, name: str, status: str = "accepted") -> Referral:
    sentenced = min(release, today()) - timedelta(days=200)
    return refer(world, status=status, young_person=person(name, "Custody", years_before(today(), 16)),
                 legal_status=LegalStatus.CUSTODY, sentenced_on=sentenced, expected_release_on=release)


def test_a_release_within_six_weeks_counts_down_in_the_list_and_on_the_record(app: Flask, world: World) -> None:
    soon = _in_custody(world, today() + timedelta(days=20), "Soon")
    edge = _in_custody(world, today() + timedelta(weeks=6), "Edge")
    later = _in_custody(world, today() + timedelta(weeks=6, days=1), "Later")
    on_the_day = _in_custody(world, today(), "Today")
    assert "Release in 20 days" in flag_labels(soon, world.broker)
    assert "Release in 42 days" in flag_labels(edge, world.broker)
    assert "release_soon" not in flag_keys(later, world.broker)
    assert "Release today" in flag_labels(on_the_day, world.broker)

    for user in (world.broker, world.staff):
        client = client_for(app, user)
        listing = client.get("/referrals/")
        assert listing.status_code == 200
        assert "Release in 20 days" in row_flags(list_row(listing.text, soon.id))
        assert not [f for f in row_flags(list_row(listing.text, later.id)) if f.startswith("Release")]
        record = client.get(f"/referrals/{soon.id}")
        assert "Release in 20 days" in page_tags(record.text)


def test_after_release_the_intensive_period_counts_weeks_one_to_six_then_ends(app: Flask, world: World) -> None:
    expected = {1: "Intensive support: week 1 of 6", 10: "Intensive support: week 2 of 6",
                41: "Intensive support: week 6 of 6"}
    referrals = {days: _in_custody(world, today() - timedelta(days=days), f"Out{days}") for days in (1, 10, 41, 42, 60)}
    for days, label in expected.items():
        labels = flag_labels(referrals[days], world.broker)
        assert label in labels, (days, labels)
        assert not [x for x in labels if x.startswith("Release")]
    for days in (42, 60):
        assert "intensive" not in flag_keys(referrals[days], world.broker), days
    page = client_for(app, world.staff).get(f"/referrals/{referrals[10].id}")
    assert "Intensive support: week 2 of 6" in page_tags(page.text)
    listing = client_for(app, world.broker).get("/referrals/")
    assert "Intensive support: week 6 of 6" in row_flags(list_row(listing.text, referrals[41].id))
    assert not [f for f in row_flags(list_row(listing.text, referrals[42].id)) if f.startswith("Intensive")]


def test_a_closed_referral_has_no_release_countdown(world: World) -> None:
    soon = _in_custody(world, today() + timedelta(days=10), "Closed")
    released = _in_custody(world, today() - timedelta(days=10), "Released")
    assert "release_soon" in flag_keys(soon, world.broker) and "intensive" in flag_keys(released, world.broker)
    for referral in (soon, released):
        service.close(world.broker, referral, ClosureReason.COMPLETED, None)
        assert not {"release_soon", "intensive"} & flag_keys(referral, world.broker)


# --- Consent ------------------------------------------------------------------------------------


def test_a_consent_review_due_is_flagged_to_the_broker_only(app: Flask, world: World) -> None:
    due = refer(world, status="accepted", shared_with=[(world.housing, None)],
                consent=ConsentInput(given=True, given_on=today() - timedelta(days=350)))
    not_yet = refer(world, status="accepted", consent=ConsentInput(given=True, given_on=today() - timedelta(days=300)))
    assert due.consent.review_on == today() + timedelta(days=15)
    assert "consent_review" in flag_keys(due, world.broker)
    assert "consent_review" not in flag_keys(not_yet, world.broker)
    for user in (world.staff, world.housing_staff):
        assert "consent_review" not in flag_keys(due, user)

    broker = client_for(app, world.broker)
    assert "Consent review due" in page_tags(broker.get(f"/referrals/{due.id}").text)
    assert "Consent review due" in row_flags(list_row(broker.get("/referrals/").text, due.id))
    for user in (world.staff, world.housing_staff):
        client = client_for(app, user)
        record = client.get(f"/referrals/{due.id}")
        assert record.status_code == 200
        assert "Consent review due" not in record.text
        assert "Consent review due" not in client.get("/referrals/").text


def test_sharing_is_limited_to_the_agencies_the_consent_names(app: Flask, world: World) -> None:
    referral = refer(world, status="accepted",
                     consent=ConsentInput(given=True, all_member_agencies=False, agency_ids=[world.housing.id]))
    with pytest.raises(RuleBroken) as refused:
        service.share(world.broker, referral, world.health.id)
    assert "agency_id" in refused.value.fields
    db.session.rollback()
    service.share(world.broker, db.session.get(Referral, referral.id), world.housing.id)
    db.session.commit()
    db.session.expire_all()
    granted = {g.agency_id for g in db.session.get(Referral, referral.id).grants if g.revoked_at is None}
    assert granted == {world.yot.id, world.housing.id}
    assert client_for(app, world.housing_staff).get(f"/referrals/{referral.id}").status_code == 200
    assert client_for(app, world.health_staff).get(f"/referrals/{referral.id}").status_code == 404


def test_no_consent_means_no_sharing(world: World) -> None:
    referral = refer(world, status="accepted", consent=ConsentInput(given=False))
    for agency in (world.housing, world.health):
        with pytest.raises(RuleBroken):
            service.share(world.broker, referral, agency.id)
    assert "no_consent" in flag_keys(referral, world.broker)


def test_withdrawing_consent_revokes_every_grant_but_the_referrers(app: Flask, api_token, world: World) -> None:
    referral = refer(world, status="accepted", shared_with=[(world.housing, None), (world.health, None)])
    housing = client_for(app, world.housing_staff)
    health = client_for(app, world.health_staff)
    assert housing.get(f"/referrals/{referral.id}").status_code == 200
    assert health.get(f"/referrals/{referral.id}").status_code == 200

    # The referring agency is often the first to hear; it records the withdrawal on the page.
    referrer = client_for(app, world.staff)
    url = f"/referrals/{referral.id}/consent/withdraw"
    token = csrf_token_from(referrer.get(url).text)
    response = referrer.post(url, data={"csrf_token": token, "version": str(referral.version),
                                        "note": "Said so at the review"})
    assert response.status_code == 302, response.text[:2000]

    db.session.expire_all()
    referral = db.session.get(Referral, referral.id)
    assert referral.consent.withdrawn_on == today()
    live = {(g.agency_id, g.reason) for g in referral.grants if g.revoked_at is None}
    assert live == {(world.yot.id, AccessReason.REFERRED)}
    assert all(g.revoked_at is not None for g in referral.grants if g.agency_id != world.yot.id)

    assert housing.get(f"/referrals/{referral.id}").status_code == 404
    assert health.get(f"/referrals/{referral.id}").status_code == 404
    assert list_row(housing.get("/referrals/").text, referral.id) is None
    api = client_for(app, world.housing_staff)
    assert api.get(f"/api/v1/referrals/{referral.id}", headers=api_token(world.housing_staff)).status_code == 404
    listed = api.get("/api/v1/referrals", headers=api_token(world.housing_staff)).get_json()
    assert referral.id not in [item["id"] for item in listed["items"]] and listed["total"] == 0
    assert referrer.get(f"/referrals/{referral.id}").status_code == 200
    broker = client_for(app, world.broker)
    page = broker.get(f"/referrals/{referral.id}")
    assert page.status_code == 200
    assert "Consent withdrawn" in page_tags(page.text)
    # And no more sharing under a withdrawn consent.
    with pytest.raises(RuleBroken):
        service.share(world.broker, referral, world.housing.id)


def test_narrowing_consent_revokes_the_agencies_it_no_longer_names(world: World) -> None:
    referral = refer(world, status="accepted", shared_with=[(world.housing, None), (world.health, None)])
    service.record_consent(world.broker, referral,
                           ConsentInput(given=True, all_member_agencies=False, agency_ids=[world.health.id]))
    db.session.commit()
    db.session.expire_all()
    referral = db.session.get(Referral, referral.id)
    live = {g.agency_id for g in referral.grants if g.revoked_at is None}
    assert live == {world.yot.id, world.health.id}


# --- Triage -------------------------------------------------------------------------------------


def _events(referral: Referral) -> list[str]:
    return list(db.session.scalars(select(ReferralEvent.kind).where(ReferralEvent.referral_id == referral.id)
                                   .order_by(ReferralEvent.id)))


def test_accepting_a_referral_and_what_is_refused_after(world: World) -> None:
    referral = refer(world)
    assert referral.status is ReferralStatus.SUBMITTED
    with pytest.raises(Forbidden):
        service.accept(world.staff, referral)
    with pytest.raises(RuleBroken):
        service.close(world.broker, referral, ClosureReason.COMPLETED, None)
    with pytest.raises(RuleBroken):
        service.change_stage(world.broker, referral, 2)
    with pytest.raises(RuleBroken):
        service.share(world.broker, referral, world.housing.id)
    service.accept(world.broker, referral)
    assert referral.status is ReferralStatus.ACCEPTED
    with pytest.raises(RuleBroken):
        service.accept(world.broker, referral)
    with pytest.raises(RuleBroken):
        service.decline(world.broker, referral, "Too late")
    with pytest.raises(RuleBroken):
        service.request_information(world.broker, referral, "Which school?")
    db.session.flush()
    assert referral.status is ReferralStatus.ACCEPTED
    assert _events(referral) == ["submitted", "accepted"]


def test_declining_needs_a_reason_the_referrer_then_sees(app: Flask, world: World) -> None:
    referral = refer(world)
    for blank in ("", "   "):
        with pytest.raises(RuleBroken) as refused:
            service.decline(world.broker, referral, blank)
        assert "reason" in refused.value.fields
    assert referral.status is ReferralStatus.SUBMITTED
    service.decline(world.broker, referral, "  Outside our area  ")
    db.session.commit()
    assert (referral.status, referral.decline_reason) == (ReferralStatus.DECLINED, "Outside our area")
    for refused_change in (lambda: service.accept(world.broker, referral),
                           lambda: service.decline(world.broker, referral, "again"),
                           lambda: service.close(world.broker, referral, ClosureReason.OTHER, "x"),
                           lambda: service.rate_needs(world.broker, referral,
                                                      {Pathway.ETE: NeedInput(NeedRating.RED)})):
        with pytest.raises(RuleBroken):
            refused_change()
    page = client_for(app, world.staff).get(f"/referrals/{referral.id}")
    assert "Declined" in page_tags(page.text)
    assert "Outside our area" in page.text


def test_asking_for_and_giving_more_information(app: Flask, world: World) -> None:
    referral = refer(world)
    broker = client_for(app, world.broker)
    url = f"/referrals/{referral.id}/request-information"
    response = broker.post(url, data={"csrf_token": csrf_token_from(broker.get(url).text),
                                      "version": str(referral.version), "question": "Which school did they attend?"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).information_requested == "Which school did they attend?"

    referrer = client_for(app, world.staff)
    page = referrer.get(f"/referrals/{referral.id}")
    assert "Information requested" in page_tags(page.text)
    assert "Which school did they attend?" in page.text
    # Only the referring agency answers; the broker is refused.
    assert broker.get(f"/referrals/{referral.id}/provide-information").status_code == 403
    url = f"/referrals/{referral.id}/provide-information"
    response = referrer.post(url, data={"csrf_token": csrf_token_from(referrer.get(url).text),
                                        "answer": "Ysgol Aberconwy", "version": str(referral.version)})
    assert response.status_code == 302
    db.session.expire_all()
    referral = db.session.get(Referral, referral.id)
    assert referral.information_requested is None and referral.status is ReferralStatus.SUBMITTED
    assert _events(referral) == ["submitted", "information_requested", "information_provided"]
    assert "Ysgol Aberconwy" in broker.get(f"/referrals/{referral.id}").text
    # Nothing is asked any more: a second answer is refused.
    with pytest.raises(RuleBroken):
        service.provide_information(world.staff, referral, "More")
    with pytest.raises(Forbidden):
        service.provide_information(world.broker, referral, "More")


def test_the_broker_accepts_through_the_page(app: Flask, world: World) -> None:
    referral = refer(world)
    broker = client_for(app, world.broker)
    token = csrf_token_from(broker.get(f"/referrals/{referral.id}").text)
    response = broker.post(f"/referrals/{referral.id}/accept", data={"csrf_token": token,
                                                                     "version": str(referral.version)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).status is ReferralStatus.ACCEPTED
    # The referrer cannot accept: the page refuses with 403, and a second accept by the broker is a 422.
    referrer = client_for(app, world.staff)
    token = csrf_token_from(referrer.get(f"/referrals/{referral.id}").text)
    response = referrer.post(f"/referrals/{referral.id}/accept", data={"csrf_token": token})
    assert response.status_code == 403
    token = csrf_token_from(broker.get(f"/referrals/{referral.id}").text)
    db.session.expire_all()
    current = db.session.get(Referral, referral.id).version
    response = broker.post(f"/referrals/{referral.id}/accept", data={"csrf_token": token, "version": str(current)})
    assert response.status_code == 422
    assert "Only a submitted referral can be accepted" in response.text


# --- Stages and needs ---------------------------------------------------------------------------


def test_a_stage_change_makes_an_accepted_referral_active(world: World) -> None:
    referral = refer(world, status="accepted")
    assert (referral.status, referral.stage) == (ReferralStatus.ACCEPTED, 1)
    service.change_stage(world.broker, referral, 3)
    db.session.commit()
    assert (referral.status, referral.stage) == (ReferralStatus.ACTIVE, 3)
    service.change_stage(world.broker, referral, 5)
    assert (referral.status, referral.stage) == (ReferralStatus.ACTIVE, 5)
    for stage in (0, 6):
        with pytest.raises(RuleBroken):
            service.change_stage(world.broker, referral, stage)
    with pytest.raises(Forbidden):
        service.change_stage(world.staff, referral, 2)
    assert _events(referral)[-2:] == ["stage_changed", "stage_changed"]
    service.close(world.broker, referral, ClosureReason.COMPLETED, None)
    with pytest.raises(RuleBroken):
        service.change_stage(world.broker, referral, 2)


def test_closing_needs_a_note_when_the_reason_is_other(world: World) -> None:
    referral = refer(world, status="active")
    with pytest.raises(RuleBroken) as refused:
        service.close(world.broker, referral, ClosureReason.OTHER, "  ")
    assert "note" in refused.value.fields
    assert referral.status is ReferralStatus.ACTIVE
    service.close(world.broker, referral, ClosureReason.OTHER, "Moved to a programme in England")
    assert (referral.status, referral.closed_on) == (ReferralStatus.CLOSED, today())
    with pytest.raises(RuleBroken):
        service.close(world.broker, referral, ClosureReason.COMPLETED, None)


def test_re_rating_needs_appends_history_and_the_page_shows_it(app: Flask, world: World) -> None:
    referral = refer(world, status="active", needs={Pathway.ACCOMMODATION: (NeedRating.RED, "No address"),
                                                    Pathway.HEALTH: (NeedRating.AMBER, "Waiting for CAMHS")},
                     shared_with=[(world.housing, None)])
    changed = service.rate_needs(world.broker, referral, {
        Pathway.ACCOMMODATION: NeedInput(NeedRating.AMBER, "Hostel place offered"),
        Pathway.HEALTH: NeedInput(NeedRating.GREEN, "Seen by CAMHS"),
        Pathway.ETE: NeedInput(NeedRating.NONE, None),  # unchanged: no history
    })
    db.session.commit()
    assert set(changed) == {Pathway.ACCOMMODATION, Pathway.HEALTH}
    service.rate_needs(world.broker, referral, {Pathway.ACCOMMODATION: NeedInput(NeedRating.GREEN, "Moved in")})
    db.session.commit()
    same_again = {Pathway.ACCOMMODATION: NeedInput(NeedRating.GREEN, "Moved in")}
    assert service.rate_needs(world.broker, referral, same_again) == []

    history = service.need_history(referral)
    assert [(row.rating, row.note) for row in history[Pathway.ACCOMMODATION]] == [
        (NeedRating.RED, "No address"), (NeedRating.AMBER, "Hostel place offered"), (NeedRating.GREEN, "Moved in")]
    assert len(history[Pathway.ETE]) == 1
    current = {need.pathway: (need.rating, need.note) for need in referral.needs}
    assert current[Pathway.ACCOMMODATION] == (NeedRating.GREEN, "Moved in")
    assert _events(referral).count("needs_rated") == 2

    page = client_for(app, world.broker).get(f"/referrals/{referral.id}")
    row = pathway_row(page.text, Pathway.ACCOMMODATION)
    assert "3 ratings so far" in row.get_text(" ", strip=True)
    entries = [item.get_text(" ", strip=True) for item in row.find("details").find_all("li")]
    assert len(entries) == 3
    for entry, (rating, note) in zip(entries, (("Red", "No address"), ("Amber", "Hostel place offered"),
                                               ("Green", "Moved in"))):
        assert rating in entry and entry.endswith(note), entries
    # Housing works on accommodation but not on health: the health history's notes stay hidden from it.
    housing_page = client_for(app, world.housing_staff).get(f"/referrals/{referral.id}")
    health_row = pathway_row(housing_page.text, Pathway.HEALTH).get_text(" ", strip=True)
    assert "2 ratings so far" in health_row
    assert "CAMHS" not in housing_page.text
    assert "Hostel place offered" in pathway_row(housing_page.text, Pathway.ACCOMMODATION).get_text(" ", strip=True)


# --- Optimistic concurrency ---------------------------------------------------------------------


def test_a_stale_version_is_a_conflict_and_changes_nothing(world: World) -> None:
    referral = refer(world, status="active")
    stale = referral.version - 1
    attempts = [
        lambda: service.change_stage(world.broker, referral, 4, version=stale),
        lambda: service.close(world.broker, referral, ClosureReason.COMPLETED, None, version=stale),
        lambda: service.rate_needs(world.broker, referral, {Pathway.ETE: NeedInput(NeedRating.RED)}, version=stale),
        lambda: service.share(world.broker, referral, world.housing.id, version=stale),
        lambda: service.record_consent(world.broker, referral, ConsentInput(given=False), version=stale),
        lambda: service.withdraw_consent(world.broker, referral, None, None, version=stale),
    ]
    before = (referral.status, referral.stage, referral.version, len(referral.grants), len(referral.consents))
    for attempt in attempts:
        with pytest.raises(Conflict) as conflict:
            attempt()
        assert "Someone else changed this referral" in conflict.value.message
    db.session.flush()
    assert (referral.status, referral.stage, referral.version, len(referral.grants), len(referral.consents)) == before
    submitted = refer(world)
    service.request_information(world.broker, submitted, "Which school?")
    db.session.flush()
    for attempt in (lambda: service.accept(world.broker, submitted, version=1),
                    lambda: service.decline(world.broker, submitted, "No", version=1)):
        with pytest.raises(Conflict):
            attempt()
    assert submitted.status is ReferralStatus.SUBMITTED
    # The version read is the current one: the change goes through and the version moves on.
    service.accept(world.broker, submitted, version=submitted.version)
    db.session.flush()
    assert submitted.status is ReferralStatus.ACCEPTED


def test_each_change_moves_the_version_on(world: World) -> None:
    referral = refer(world)
    versions = [referral.version]
    for change in (lambda: service.request_information(world.broker, referral, "?"),
                   lambda: service.accept(world.broker, referral),
                   lambda: service.change_stage(world.broker, referral, 2),
                   lambda: service.rate_needs(world.broker, referral, {Pathway.ETE: NeedInput(NeedRating.RED)})):
        change()
        db.session.flush()
        versions.append(referral.version)
    assert versions == sorted(set(versions)), versions


def test_a_write_from_a_stale_copy_is_refused_by_the_database_version(app: Flask, world: World) -> None:
    """Two people on the same referral at once: the second write, from what it read before the first
    landed, is refused rather than silently overwriting the first."""
    referral = refer(world, status="accepted")
    referral_id = referral.id
    broker = client_for(app, world.broker)
    url = f"/referrals/{referral_id}/stage"
    token = csrf_token_from(broker.get(url).text)
    assert referral.stage == 1  # read now: this copy holds the referral as it was
    # The test's sessions share one connection: this session must not hold a savepoint while the other
    # change lands, or rolling it back after the refused write would undo the other change too.
    db.session.expunge(referral)
    db.session.commit()
    response = broker.post(url, data={"csrf_token": token, "stage": "3", "version": str(referral.version)})
    assert response.status_code == 302
    db.session.add(referral)
    service.change_stage(world.broker, referral, 4)  # from the stale copy, without naming a version
    with pytest.raises(StaleDataError):
        db.session.flush()
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Referral, referral_id).stage == 3  # the first change stands


def test_a_partnership_can_name_its_own_stages(app: Flask, world: World) -> None:
    referral = refer(world, status="accepted")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["set-stages", world.partnership.name, "Assessment", "Planning", "Release",
                                 "Settling"])
    assert result.exit_code == 0, result.output
    assert "1. Assessment; 2. Planning; 3. Release; 4. Settling" in result.output
    assert service.stages_of(world.partnership.id) == ["Assessment", "Planning", "Release", "Settling"]
    with pytest.raises(RuleBroken):
        service.change_stage(world.broker, referral, 5)
    service.change_stage(world.broker, referral, 4)
    db.session.flush()
    # Fewer stages than a referral stands at: refused, nothing changed.
    refused = runner.invoke(args=["set-stages", world.partnership.name, "One", "Two"])
    assert refused.exit_code != 0 and "later stage" in refused.output
    assert service.stages_of(world.partnership.id)[3] == "Settling"
    # No names: back to the five Kalix stages.
    assert runner.invoke(args=["set-stages", world.partnership.name]).exit_code == 0
    assert service.stages_of(world.partnership.id)[0] == "Reception and needs assessment"
    assert runner.invoke(args=["set-stages", "Nowhere"]).exit_code != 0
