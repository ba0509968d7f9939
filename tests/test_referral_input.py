"""Bad input to the referral forms and the referrals API: refused with a clear message, never a
stack trace, and nothing saved. Text that looks like HTML is saved as typed and shown escaped.

Every case runs in one world, built once per module (``world``; each case runs in a SAVEPOINT rolled
back after it, so every case meets the world as built).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.api.schemas import ErrorOut
from panel_app.errors import RuleBroken
from panel_app.models import (
    Agency,
    Consent,
    Need,
    NeedHistory,
    Partnership,
    Referral,
    ReferralAccess,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    YoungPerson,
    db,
)
from panel_app.pathways import Pathway
from panel_app.services import referrals as service
from panel_app.services.clock import today
from tests.conftest import built_once, csrf_token_from, kept, loaded
from tests.factories import make_agency, make_partnership, make_referral, make_user

HUGE = "x" * 100_000
SCRIPT = "<script>alert(1)</script>"
BOLD = "<b>x</b>"
COUNTED = (Referral, YoungPerson, Need, NeedHistory, Consent, ReferralAccess, ReferralEvent)


# --- Helpers ------------------------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    """How many rows each referral table holds, read afresh from the database."""
    db.session.expire_all()
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def dmy(day: date) -> list[str]:
    """A date as the three boxes of the GOV.UK date input."""
    return [str(day.day), str(day.month), str(day.year)]


def assert_no_stack_trace(response) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code < 500, text[:2000]
    assert "Traceback" not in text
    assert 'File "/' not in text
    assert "sqlalchemy" not in text.lower()


def error_summary(response) -> list[tuple[str, str | None]]:
    """The GOV.UK error summary's items (text, link), checking each link leads to an element."""
    page = BeautifulSoup(response.text, "html.parser")
    summary = page.find(class_="govuk-error-summary")
    assert summary is not None, "no GOV.UK error summary on the page"
    assert page.title.get_text().startswith("Error:")
    items = []
    for item in summary.find(class_="govuk-error-summary__list").find_all("li"):
        link = item.find("a")
        href = link["href"] if link else None
        if href:
            assert href.startswith("#")
            assert page.find(id=href[1:]) is not None, f"the summary links to {href}, which is not on the page"
        items.append((item.get_text(" ", strip=True), href))
    return items


def assert_summary_names(response, message: str, field_id: str) -> None:
    items = error_summary(response)
    assert any(message in text and href == f"#{field_id}" for text, href in items), items


def api_error(response) -> dict[str, Any]:
    assert response.is_json, response.get_data(as_text=True)[:500]
    return ErrorOut.model_validate(response.get_json()).error.model_dump()


@dataclass
class World:
    partnership: Partnership
    other_partnership: Partnership
    yot: Agency
    housing: Agency
    health: Agency
    outsider: Agency
    staff: User
    broker: User


def build_world() -> World:
    yot = make_agency(type="yot", name="Conwy YOT")
    housing = make_agency(type="housing", name="Conwy Housing")
    health = make_agency(type="health", name="North Wales Health")
    outsider = make_agency(type="housing", name="Cardiff Housing")
    staff = make_user(Role.AGENCY_STAFF, agency=yot)
    broker = make_user(Role.BROKER)
    partnership = make_partnership(name="Conwy", agencies=[yot, housing, health], brokers=[broker])
    other = make_partnership(name="Cardiff", agencies=[outsider], brokers=[make_user(Role.BROKER)])
    db.session.commit()
    return World(partnership, other, yot, housing, health, outsider, staff, broker)


@pytest.fixture(scope="module")
def world_records(app: Flask, module_connection: Any) -> dict[str, Any]:
    return built_once(app, module_connection, lambda: kept(build_world()))


@pytest.fixture
def world(world_records: dict[str, Any]) -> World:
    """The world (built once per module), its records loaded in the case's own session."""
    return loaded(World, world_records)


# --- The referral form: POST /referrals/new -----------------------------------------------------


def referral_form(partnership_id: int, token: str, /, **overrides: Any) -> dict[str, Any]:
    """A valid referral form; an override of ``None`` leaves the field out."""
    data: dict[str, Any] = {
        "csrf_token": token,
        "partnership_id": str(partnership_id),
        "given_name": "Dylan",
        "family_name": "Jones",
        "date_of_birth": dmy(years_before(today(), 16)),
        "reason": "Leaving custody in the spring with nowhere to live",
        "legal_status": "other",
        "consent_given": "yes",
        "consent_scope": "all",
        **{f"need_{pathway.value}-rating": "none" for pathway in Pathway},
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def post_referral_form(client: FlaskClient, partnership: Partnership, /, **overrides: Any):
    token = csrf_token_from(client.get("/referrals/new").text)
    return client.post("/referrals/new", data=referral_form(partnership.id, token, **overrides))


def test_the_valid_form_used_below_is_accepted(client: FlaskClient, login_as, world: World) -> None:
    login_as(world.staff)
    before = row_counts()
    response = post_referral_form(client, world.partnership)
    assert response.status_code == 302, response.text[:3000]
    assert response.headers["Location"].startswith("/referrals/")
    after = row_counts()
    assert after["Referral"] == before["Referral"] + 1
    assert after["YoungPerson"] == before["YoungPerson"] + 1


def _shape_cases() -> list[Any]:
    """Input the form itself refuses (missing, unreadable, unknown, too long): a 400."""
    cases = [
        pytest.param({"given_name": None}, "given_name", "Enter the young person's first name", id="no-given-name"),
        pytest.param({"family_name": None}, "family_name", "Enter the young person's last name", id="no-family-name"),
        pytest.param({"date_of_birth": None}, "date_of_birth-day", "Enter the young person's date of birth",
                     id="no-date-of-birth"),
        pytest.param({"reason": None}, "reason", "Enter why the young person is being referred", id="no-reason"),
        pytest.param({"legal_status": None}, "legal_status", "Choose the young person's legal status",
                     id="no-legal-status"),
        pytest.param({"consent_given": None}, "consent_given", "Say whether the young person gave consent",
                     id="no-consent-answer"),
        pytest.param({"need_health-rating": None}, "need_health-rating", "Choose a rating", id="no-health-rating"),
        pytest.param({"partnership_id": None}, "partnership_id", "Choose one of the options listed", id="no-partnership"),
        pytest.param({"date_of_birth": ["31", "2", "2009"]}, "date_of_birth-day", "Date of birth must be a real date",
                     id="31-february"),
        pytest.param({"date_of_birth": ["x", "5", "2009"]}, "date_of_birth-day", "Date of birth must be a real date",
                     id="day-x"),
        pytest.param({"date_of_birth": ["17", "5"]}, "date_of_birth-day",
                     "Date of birth must include a day, month and year", id="day-and-month-only"),
        pytest.param({"date_of_birth": ["17", "5", ""]}, "date_of_birth-day",
                     "Date of birth must include a day, month and year", id="year-left-empty"),
        pytest.param({"need_health-rating": "purple"}, "need_health-rating", "Choose one of the options listed",
                     id="unknown-rating"),
        pytest.param({"legal_status": "on_the_run"}, "legal_status", "Choose one of the options listed", id="unknown-legal-status"),
    ]
    for name, limit in (("given_name", 80), ("family_name", 80), ("pronouns", 40), ("preferred_language", 40),
                        ("yot_reference", 40), ("phone", 40), ("email", 254), ("address", 500),
                        ("reason", 10_000)):
        cases.append(pytest.param({name: HUGE}, name, f"Must be {limit} characters or fewer", id=f"huge-{name}"))
    for pathway in Pathway:
        cases.append(pytest.param({f"need_{pathway.value}-note": HUGE}, f"need_{pathway.value}-note",
                                  "Must be 4000 characters or fewer", id=f"huge-{pathway.value}-note"))
    return cases


@pytest.mark.parametrize(("overrides", "field_id", "message"), _shape_cases())
def test_form_shape_errors_are_a_400_with_the_message_linked_to_the_field(
    client: FlaskClient, login_as, world: World, overrides: dict[str, Any], field_id: str, message: str
) -> None:
    login_as(world.staff)
    before = row_counts()
    response = post_referral_form(client, world.partnership, **overrides)
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert_summary_names(response, message, field_id)
    assert row_counts() == before


def test_the_form_refuses_a_partnership_the_caller_is_not_in(client: FlaskClient, login_as, world: World) -> None:
    login_as(world.staff)
    before = row_counts()
    for partnership_id in (world.other_partnership.id, 999_999, "abc"):
        token = csrf_token_from(client.get("/referrals/new").text)
        data = referral_form(world.partnership.id, token)
        data["partnership_id"] = str(partnership_id)
        response = client.post("/referrals/new", data=data)
        assert_no_stack_trace(response)
        assert response.status_code == 400, partnership_id
        items = error_summary(response)
        assert [href for _text, href in items] == ["#partnership_id"], items
        assert "Cardiff" not in BeautifulSoup(response.text, "html.parser").find(id="partnership_id").get_text()
    assert row_counts() == before


def _rule_cases() -> list[Any]:
    """Well-formed input that breaks a rule of the service: a 422, shown against the field."""
    return [
        pytest.param(lambda: {"date_of_birth": dmy(today() + timedelta(days=3))}, "date_of_birth-day",
                     "Date of birth must be in the past", id="born-in-the-future"),
        pytest.param(lambda: {"date_of_birth": dmy(years_before(today(), 5))}, "date_of_birth-day",
                     "the young person would be 5", id="aged-5"),
        pytest.param(lambda: {"date_of_birth": dmy(years_before(today(), 10) + timedelta(days=1))},
                     "date_of_birth-day", "the young person would be 9", id="a-day-short-of-10"),
        pytest.param(lambda: {"date_of_birth": dmy(years_before(today(), 26))}, "date_of_birth-day",
                     "the young person would be 26", id="aged-26"),
        pytest.param(lambda: {"consent_date": dmy(today() + timedelta(days=1))}, "consent_date-day",
                     "The date consent was given must be today or in the past", id="consent-tomorrow"),
        pytest.param(lambda: {"legal_status": "custody", "sentenced_on": dmy(today() - timedelta(days=100)),
                              "expected_release_on": dmy(today() - timedelta(days=200))},
                     "expected_release_on-day", "Must be after the sentence date", id="release-before-sentence"),
        pytest.param(lambda: {"legal_status": "custody"}, "expected_release_on-day",
                     "Enter the expected release date for a young person in custody", id="custody-without-release"),
        pytest.param(lambda: {"sentenced_on": dmy(today() + timedelta(days=10))}, "sentenced_on-day",
                     "Sentence date must be today or in the past", id="sentenced-in-the-future"),
        pytest.param(lambda: {"consent_scope": "some"}, "consent_agencies",
                     "Choose the agencies the young person agreed to share with", id="some-agencies-but-none-chosen"),
        pytest.param(lambda: {"given_name": "   "}, "given_name", "Enter the young person's first name",
                     id="blank-given-name"),
        pytest.param(lambda: {"reason": " \n\t "}, "reason", "Enter why the young person is being referred",
                     id="blank-reason"),
    ]


@pytest.mark.parametrize(("make_overrides", "field_id", "message"), _rule_cases())
def test_form_rule_errors_are_a_422_with_the_message_linked_to_the_field(
    client: FlaskClient, login_as, world: World, make_overrides, field_id: str, message: str
) -> None:
    login_as(world.staff)
    before = row_counts()
    response = post_referral_form(client, world.partnership, **make_overrides())
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert_summary_names(response, message, field_id)
    assert row_counts() == before


# Its own partnerships and people, made beside the module's world (on its connection, as every test here).
@pytest.mark.usefixtures("world")
def test_consent_to_an_agency_of_another_partnership_is_refused(client: FlaskClient, login_as) -> None:
    # The form offers the agencies of every partnership the caller refers to; the consent must name
    # only agencies of the chosen partnership.
    yot = make_agency(type="yot", name="Shared YOT")
    conwy_housing = make_agency(type="housing", name="Conwy Supported Housing")
    denbigh_housing = make_agency(type="housing", name="Denbighshire Housing")
    conwy = make_partnership(agencies=[yot, conwy_housing], brokers=[make_user(Role.BROKER)])
    make_partnership(agencies=[yot, denbigh_housing], brokers=[make_user(Role.BROKER)])
    staff = make_user(Role.AGENCY_STAFF, agency=yot)
    db.session.commit()
    login_as(staff)
    before = row_counts()
    response = post_referral_form(client, conwy, consent_scope="some", consent_agencies=[str(denbigh_housing.id)])
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert_summary_names(response, "Choose only agencies on this partnership's panel", "consent_agencies")
    assert row_counts() == before


def test_html_and_script_are_saved_as_typed_and_shown_escaped(client: FlaskClient, login_as, world: World) -> None:
    login_as(world.staff)
    response = post_referral_form(
        client, world.partnership,
        given_name=SCRIPT, family_name=BOLD, reason=f"{SCRIPT} and {BOLD}", pronouns=BOLD, yot_reference=BOLD,
        address=SCRIPT, **{"need_accommodation-rating": "red", "need_accommodation-note": SCRIPT,
                           "need_families-note": BOLD},
    )
    assert response.status_code == 302, response.text[:3000]
    location = response.headers["Location"]
    referral = db.session.get(Referral, int(location.rsplit("/", 1)[1]))
    assert referral is not None
    assert (referral.young_person.given_name, referral.young_person.family_name) == (SCRIPT, BOLD)
    assert referral.reason == f"{SCRIPT} and {BOLD}"
    assert referral.young_person.address == SCRIPT
    notes = {need.pathway: need.note for need in referral.needs}
    assert notes[Pathway.ACCOMMODATION] == SCRIPT and notes[Pathway.FAMILIES] == BOLD

    for url in (location, "/referrals/", f"/referrals/?q={referral.young_person.family_name}"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert SCRIPT not in page.text and BOLD not in page.text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, url
        assert "&lt;b&gt;x&lt;/b&gt;" in page.text, url
        # No element of the page came from the typed text.
        soup = BeautifulSoup(page.text, "html.parser")
        assert not [s for s in soup.find_all("script") if "alert" in s.get_text()], url
        assert not [b for b in soup.find_all("b") if b.get_text() == "x"], url


def test_the_form_refuses_a_post_without_its_csrf_token(client: FlaskClient, login_as, world: World) -> None:
    login_as(world.staff)
    before = row_counts()
    data = referral_form(world.partnership.id, "not-a-token")
    response = client.post("/referrals/new", data=data)
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert row_counts() == before


# --- The referrals API: POST /api/v1/referrals --------------------------------------------------


def api_body(partnership_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "partnership_id": partnership_id,
        "young_person": {"given_name": "Dylan", "family_name": "Jones",
                         "date_of_birth": years_before(today(), 16).isoformat()},
        "reason": "Leaving custody in the spring with nowhere to live",
        "needs": {"accommodation": {"rating": "red", "note": "No address on release"}},
        "consent": {"given": True},
    }
    body.update(overrides)
    return body


def with_person(**fields: Any) -> dict[str, Any]:
    person = {"given_name": "Dylan", "family_name": "Jones", "date_of_birth": years_before(today(), 16).isoformat()}
    person.update(fields)
    return {"young_person": {k: v for k, v in person.items() if v is not None}}


def test_the_valid_api_body_used_below_is_accepted(client: FlaskClient, api_token, world: World) -> None:
    before = row_counts()
    response = client.post("/api/v1/referrals", json=api_body(world.partnership.id), headers=api_token(world.staff))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["referring_agency"]["id"] == world.yot.id
    assert row_counts()["Referral"] == before["Referral"] + 1


def _api_bad_request_cases() -> list[Any]:
    """Missing fields, wrong JSON types, unknown keys, unreadable dates, over-long text: a 400."""
    cases = [
        pytest.param(lambda b: b.pop("partnership_id"), "partnership_id", id="no-partnership"),
        pytest.param(lambda b: b.pop("young_person"), "young_person", id="no-young-person"),
        pytest.param(lambda b: b.pop("reason"), "reason", id="no-reason"),
        pytest.param(lambda b: b.pop("consent"), "consent", id="no-consent"),
        pytest.param(lambda b: b.update(with_person(given_name=None)), "young_person.given_name", id="no-given-name"),
        pytest.param(lambda b: b.update(with_person(family_name=None)), "young_person.family_name",
                     id="no-family-name"),
        pytest.param(lambda b: b.update(with_person(date_of_birth=None)), "young_person.date_of_birth",
                     id="no-date-of-birth"),
        pytest.param(lambda b: b.update(with_person(given_name="   ")), "young_person.given_name",
                     id="blank-given-name"),
        pytest.param(lambda b: b.update(reason=""), "reason", id="empty-reason"),
        pytest.param(lambda b: b.update(with_person(date_of_birth="2009-02-31")), "young_person.date_of_birth",
                     id="31-february"),
        pytest.param(lambda b: b.update(with_person(date_of_birth="2009-05-xx")), "young_person.date_of_birth",
                     id="day-x"),
        pytest.param(lambda b: b.update(with_person(date_of_birth="17-05")), "young_person.date_of_birth",
                     id="day-and-month-only"),
        pytest.param(lambda b: b.update(with_person(date_of_birth="2009-05")), "young_person.date_of_birth",
                     id="year-and-month-only"),
        pytest.param(lambda b: b.update(needs={"housing": {"rating": "red"}}), "needs.housing", id="unknown-pathway"),
        pytest.param(lambda b: b.update(needs={"health": {"rating": "purple"}}), "needs.health.rating",
                     id="unknown-rating"),
        pytest.param(lambda b: b.update(needs={"health": {"note": "no rating"}}), "needs.health.rating",
                     id="need-without-rating"),
        pytest.param(lambda b: b.update(with_person(given_name=42)), "young_person.given_name", id="number-for-name"),
        pytest.param(lambda b: b.update(with_person(family_name=["Jones"])), "young_person.family_name",
                     id="list-for-name"),
        pytest.param(lambda b: b.update(partnership_id=str(b["partnership_id"])), "partnership_id",
                     id="string-for-partnership-id"),
        pytest.param(lambda b: b.update(partnership_id=1.5), "partnership_id", id="float-for-partnership-id"),
        pytest.param(lambda b: b.update(partnership_id=None), "partnership_id", id="null-partnership-id"),
        pytest.param(lambda b: b.update(with_person(date_of_birth=20090517)), "young_person.date_of_birth",
                     id="integer-for-date"),
        pytest.param(lambda b: b.update(sentenced_on=1), "sentenced_on", id="integer-for-sentence-date"),
        pytest.param(lambda b: b.update(consent={"given": "yes"}), "consent.given", id="string-for-boolean"),
        pytest.param(lambda b: b.update(consent={"given": True, "date": 20240101}), "consent.date",
                     id="integer-for-consent-date"),
        pytest.param(lambda b: b.update(legal_status="on_the_run"), "legal_status", id="unknown-legal-status"),
        pytest.param(lambda b: b.update(young_people=[]), "young_people", id="unknown-field"),
        pytest.param(lambda b: b.update(needs=["accommodation"]), "needs", id="list-for-needs"),
    ]
    for name, limit in (("given_name", 80), ("family_name", 80), ("pronouns", 40), ("preferred_language", 40),
                        ("yot_reference", 40), ("phone", 40), ("email", 254), ("address", 500)):
        cases.append(pytest.param(lambda b, name=name: b.update(with_person(**{name: HUGE})),
                                  f"young_person.{name}", id=f"huge-{name}"))
    cases.append(pytest.param(lambda b: b.update(reason=HUGE), "reason", id="huge-reason"))
    for pathway in Pathway:
        cases.append(pytest.param(
            lambda b, key=pathway.value: b.update(needs={key: {"rating": "amber", "note": HUGE}}),
            f"needs.{pathway.value}.note", id=f"huge-{pathway.value}-note"))
    return cases


@pytest.mark.parametrize(("change", "field"), _api_bad_request_cases())
def test_api_shape_errors_are_a_400_naming_the_field(client: FlaskClient, api_token, world: World, change,
                                                     field: str) -> None:
    headers = api_token(world.staff)
    body = api_body(world.partnership.id)
    change(body)
    before = row_counts()
    response = client.post("/api/v1/referrals", json=body, headers=headers)
    assert_no_stack_trace(response)
    assert response.status_code == 400, response.get_json()
    error = api_error(response)
    assert error["code"] == "bad_request" and error["message"]
    assert error["fields"] and any(name == field or name.startswith(field + ".") for name in error["fields"]), error
    assert row_counts() == before


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param('{"partnership_id": 1, "reason": ', "application/json", id="truncated-json"),
        pytest.param("{'partnership_id': 1}", "application/json", id="single-quoted"),
        pytest.param("", "application/json", id="empty-body"),
        pytest.param("[]", "application/json", id="a-list"),
        pytest.param("null", "application/json", id="null"),
        pytest.param("partnership_id=1&reason=x", "application/x-www-form-urlencoded", id="a-form-post"),
        pytest.param(b'{"reason": "\xff\xfe"}', "application/json", id="not-utf-8"),
    ],
)
def test_api_malformed_bodies_are_a_400(client: FlaskClient, api_token, world: World, data, content_type) -> None:
    headers = api_token(world.staff)
    before = row_counts()
    response = client.post("/api/v1/referrals", data=data, content_type=content_type, headers=headers)
    assert_no_stack_trace(response)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = api_error(response)
    assert error["code"] == "bad_request" and error["message"]
    assert row_counts() == before


def _api_rule_cases() -> list[Any]:
    """Well-formed bodies that break a rule: a 422 naming the field."""
    return [
        pytest.param(lambda b: b.update(with_person(date_of_birth=(today() + timedelta(days=1)).isoformat())),
                     "young_person.date_of_birth", "Date of birth must be in the past", id="born-tomorrow"),
        pytest.param(lambda b: b.update(with_person(date_of_birth=years_before(today(), 9).isoformat())),
                     "young_person.date_of_birth", "would be 9", id="aged-9"),
        pytest.param(lambda b: b.update(with_person(date_of_birth=years_before(today(), 26).isoformat())),
                     "young_person.date_of_birth", "would be 26", id="aged-26"),
        pytest.param(lambda b: b.update(consent={"given": True, "date": (today() + timedelta(days=1)).isoformat()}),
                     "consent.date", "must be today or in the past", id="consent-tomorrow"),
        pytest.param(lambda b: b.update(legal_status="custody",
                                        sentenced_on=(today() - timedelta(days=100)).isoformat(),
                                        expected_release_on=(today() - timedelta(days=200)).isoformat()),
                     "expected_release_on", "Must be after the sentence date", id="release-before-sentence"),
        pytest.param(lambda b: b.update(legal_status="custody"), "expected_release_on",
                     "Enter the expected release date", id="custody-without-release"),
        pytest.param(lambda b: b.update(sentenced_on=(today() + timedelta(days=1)).isoformat()), "sentenced_on",
                     "Sentence date must be today or in the past", id="sentenced-tomorrow"),
        pytest.param(lambda b: b.update(consent={"given": True, "agency_ids": []}), "consent.agency_ids",
                     "Choose the agencies", id="consent-to-no-agency"),
        pytest.param(lambda b: b.update(consent={"given": True, "date": (today() - timedelta(days=10)).isoformat(),
                                                 "review_on": (today() - timedelta(days=20)).isoformat()}),
                     "consent.review_on", "The review date must be after", id="review-before-consent"),
    ]


@pytest.mark.parametrize(("change", "field", "message"), _api_rule_cases())
def test_api_rule_errors_are_a_422_naming_the_field(client: FlaskClient, api_token, world: World, change,
                                                    field: str, message: str) -> None:
    headers = api_token(world.staff)
    body = api_body(world.partnership.id)
    change(body)
    before = row_counts()
    response = client.post("/api/v1/referrals", json=body, headers=headers)
    assert_no_stack_trace(response)
    assert response.status_code == 422, response.get_json()
    error = api_error(response)
    assert error["code"] == "invalid" and error["message"]
    assert field in error["fields"], error
    assert message in error["fields"][field]
    assert row_counts() == before


def test_api_consent_naming_an_agency_outside_the_partnership_is_a_422(client: FlaskClient, api_token,
                                                                      world: World) -> None:
    headers = api_token(world.staff)
    before = row_counts()
    body = api_body(world.partnership.id, consent={"given": True, "agency_ids": [world.housing.id, world.outsider.id]})
    response = client.post("/api/v1/referrals", json=body, headers=headers)
    assert_no_stack_trace(response)
    assert response.status_code == 422
    error = api_error(response)
    assert "Choose only agencies on this partnership's panel" in error["fields"]["consent.agency_ids"]
    assert row_counts() == before


def test_api_referral_to_a_partnership_the_caller_is_not_in_is_a_404(client: FlaskClient, api_token,
                                                                    world: World) -> None:
    headers = api_token(world.staff)
    before = row_counts()
    answers = []
    for partnership_id in (world.other_partnership.id, 999_999):
        response = client.post("/api/v1/referrals", json=api_body(partnership_id), headers=headers)
        assert_no_stack_trace(response)
        assert response.status_code == 404
        error = api_error(response)
        assert error["code"] == "not_found" and "partnership_id" in error["fields"]
        answers.append(response.get_json())
    # A partnership that exists and one that does not get the same answer.
    assert answers[0] == answers[1]
    # An admin works in no partnership: to an admin, this one is not there either.
    response = client.post("/api/v1/referrals", json=api_body(world.partnership.id),
                           headers=api_token(make_user(Role.ADMIN)))
    assert response.status_code == 404 and api_error(response)["code"] == "not_found"
    assert row_counts() == before


@pytest.mark.parametrize("partnership_id", [2**31, 2**63, 10**30], ids=["2^31", "2^63", "10^30"])
def test_api_an_out_of_range_partnership_id_is_refused_not_a_500(client: FlaskClient, api_token, world: World,
                                                                  partnership_id: int) -> None:
    """"Never a 500 for anything a client sends" (docs/api.md): a JSON integer too big for the database."""
    headers = api_token(world.staff)
    before = row_counts()
    response = client.post("/api/v1/referrals", json=api_body(partnership_id), headers=headers)
    assert_no_stack_trace(response)
    # Past the largest record id: no record can have it (the schema's bound, as for every id).
    assert response.status_code == 400, response.get_json()
    error = api_error(response)
    assert error["code"] == "bad_request"
    assert "partnership_id" in error["fields"]
    assert row_counts() == before


def test_api_html_and_script_are_saved_as_sent_and_escaped_on_the_page(client: FlaskClient, api_token, login_as,
                                                                       world: World) -> None:
    body = api_body(world.partnership.id, reason=f"{SCRIPT} {BOLD}",
                    needs={"families": {"rating": "amber", "note": BOLD}})
    body["young_person"].update(given_name=SCRIPT, family_name=BOLD)
    response = client.post("/api/v1/referrals", json=body, headers=api_token(world.staff))
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    # JSON is not HTML: the API gives back exactly what was sent.
    assert created["young_person"]["given_name"] == SCRIPT and created["reason"] == f"{SCRIPT} {BOLD}"
    assert created["needs"]["families"]["note"] == BOLD
    login_as(world.staff)
    page = client.get(f"/referrals/{created['id']}")
    assert page.status_code == 200
    assert SCRIPT not in page.text and BOLD not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text


@pytest.mark.parametrize("where", ["given_name", "reason", "note"])
def test_api_a_nul_character_is_refused_or_kept_never_a_500(client: FlaskClient, api_token, world: World,
                                                             where: str) -> None:
    """A NUL character (valid JSON, "\\u0000") cannot be stored in a PostgreSQL text column."""
    body = api_body(world.partnership.id)
    if where == "given_name":
        body["young_person"]["given_name"] = "Dy\u0000lan"
    elif where == "reason":
        body["reason"] = "Needs\u0000housing"
    else:
        body["needs"] = {"accommodation": {"rating": "red", "note": "No\u0000address"}}
    before = row_counts()
    response = client.post("/api/v1/referrals", json=body, headers=api_token(world.staff))
    assert_no_stack_trace(response)
    assert response.status_code == 400, response.get_json()
    assert row_counts() == before
    assert api_error(response)["fields"]


def test_form_a_nul_character_is_refused_or_kept_never_a_500(client: FlaskClient, login_as, world: World) -> None:
    """A NUL character typed (or pasted) into a field cannot be stored in a PostgreSQL text column."""
    login_as(world.staff)
    before = row_counts()
    response = post_referral_form(client, world.partnership, given_name="Dy\x00lan")
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert row_counts() == before
    assert any(href == "#given_name" for _text, href in error_summary(response))


# --- The other referral forms -------------------------------------------------------------------


def _page_token(client: FlaskClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, url
    return csrf_token_from(page.text)


def _state(referral_id: int) -> tuple[Any, ...]:
    db.session.expire_all()
    referral = db.session.get(Referral, referral_id)
    assert referral is not None
    grants = sorted((g.agency_id, g.reason.value, g.pathway, g.revoked_at is None) for g in referral.grants)
    return (referral.status, referral.stage, referral.version, referral.decline_reason, referral.closure_reason,
            referral.closure_note, referral.information_requested, grants, len(referral.consents))


def _referral_for(world: World, status: str = "submitted", **overrides: Any) -> Referral:
    referral = make_referral(partnership=world.partnership, referrer=world.staff, broker=world.broker,
                             status=status, **overrides)
    db.session.commit()
    return referral


def test_decline_without_a_reason_is_refused_and_changes_nothing(client: FlaskClient, login_as,
                                                                 world: World) -> None:
    referral = _referral_for(world)
    login_as(world.broker)
    url = f"/referrals/{referral.id}/decline"
    before, counts = _state(referral.id), row_counts()
    for reason, status in ((None, 400), ("", 400), ("   \n ", 422), (HUGE, 400)):
        data = {"csrf_token": _page_token(client, url), "version": str(referral.version)}
        if reason is not None:
            data["reason"] = reason
        response = client.post(url, data=data)
        assert_no_stack_trace(response)
        assert response.status_code == status, repr(reason[:10] if reason else reason)
        message = "Must be 4000 characters or fewer" if reason == HUGE else "Enter why the referral is declined"
        assert_summary_names(response, message, "reason")
    assert _state(referral.id) == before
    assert row_counts() == counts


def _share_post(client: FlaskClient, referral: Referral, agency_id: Any, **extra: Any):
    url = f"/referrals/{referral.id}/share"
    data = {"csrf_token": _page_token(client, url), "version": str(referral.version), "agency_id": str(agency_id),
            **extra}
    return client.post(url, data=data)


def test_share_with_an_agency_outside_the_consent_or_the_panel_is_refused(client: FlaskClient, login_as,
                                                                         world: World) -> None:
    referral = _referral_for(world, status="accepted",
                             consent=service.ConsentInput(given=True, all_member_agencies=False,
                                                          agency_ids=[world.housing.id]))
    login_as(world.broker)
    page = client.get(f"/referrals/{referral.id}/share")
    offered = {int(radio["value"]) for radio in BeautifulSoup(page.text, "html.parser").find_all(
        "input", attrs={"name": "agency_id"})}
    assert offered == {world.housing.id}  # only what the consent covers is offered
    before, counts = _state(referral.id), row_counts()
    for agency_id in (world.health.id, world.outsider.id, 999_999, "housing", ""):
        response = _share_post(client, referral, agency_id)
        assert_no_stack_trace(response)
        assert response.status_code == 400, agency_id
        assert any(href == "#agency_id" for _text, href in error_summary(response)), agency_id
    response = _share_post(client, referral, world.housing.id, pathways="not_a_pathway")
    assert response.status_code == 400
    assert any(href and href.startswith("#pathways") for _text, href in error_summary(response))
    assert _state(referral.id) == before
    assert row_counts() == counts


def test_close_with_other_and_no_note_is_refused(client: FlaskClient, login_as, world: World) -> None:
    referral = _referral_for(world, status="active")
    login_as(world.broker)
    url = f"/referrals/{referral.id}/close"
    before, counts = _state(referral.id), row_counts()
    cases = (({"reason": "other"}, 422, "Say what happened", "note"),
             ({"reason": "other", "note": "   "}, 422, "Say what happened", "note"),
             ({"reason": "other", "note": HUGE}, 400, "Must be 4000 characters or fewer", "note"),
             ({}, 400, "Choose how the referral ended", "reason"),
             ({"reason": "vanished"}, 400, "Choose one of the options listed", "reason"))
    for extra, status, message, field_id in cases:
        data = {"csrf_token": _page_token(client, url), "version": str(referral.version), **extra}
        response = client.post(url, data=data)
        assert_no_stack_trace(response)
        assert response.status_code == status, extra.get("reason")
        assert_summary_names(response, message, field_id)
    assert _state(referral.id) == before
    assert row_counts() == counts


def test_a_stage_out_of_range_is_refused(client: FlaskClient, login_as, world: World) -> None:
    referral = _referral_for(world, status="accepted")
    login_as(world.broker)
    url = f"/referrals/{referral.id}/stage"
    before, counts = _state(referral.id), row_counts()
    for stage in ("0", "6", "-1", "99999999999999999999", "two", ""):
        data = {"csrf_token": _page_token(client, url), "version": str(referral.version), "stage": stage}
        response = client.post(url, data=data)
        assert_no_stack_trace(response)
        assert response.status_code == 400, stage
        assert any(href == "#stage" for _text, href in error_summary(response)), stage
    assert _state(referral.id) == before
    assert row_counts() == counts
    # The service's own check, for a caller that is not the form.
    with pytest.raises(RuleBroken):
        service.change_stage(world.broker, db.session.get(Referral, referral.id), 6)
    db.session.rollback()


def test_rerating_with_an_unknown_rating_or_an_over_long_note_is_refused(client: FlaskClient, login_as,
                                                                        world: World) -> None:
    referral = _referral_for(world, status="active")
    login_as(world.broker)
    url = f"/referrals/{referral.id}/needs"
    before, counts = _state(referral.id), row_counts()
    for name, value, field_id in (("need_ete-rating", "purple", "need_ete-rating"),
                                  ("need_health-note", HUGE, "need_health-note")):
        data = {"csrf_token": _page_token(client, url), "version": str(referral.version),
                **{f"need_{p.value}-rating": "none" for p in Pathway}, name: value}
        response = client.post(url, data=data)
        assert_no_stack_trace(response)
        assert response.status_code == 400
        assert any(href == f"#{field_id}" for _text, href in error_summary(response))
    assert _state(referral.id) == before
    assert row_counts() == counts


def test_a_stale_version_is_a_409_and_changes_nothing(client: FlaskClient, login_as, world: World) -> None:
    referral = _referral_for(world)
    login_as(world.broker)
    url = f"/referrals/{referral.id}/decline"
    token = _page_token(client, url)
    read_version = referral.version
    # Someone else asks for more information meanwhile: the referral moves on a version.
    service.request_information(world.broker, db.session.get(Referral, referral.id), "Which school?")
    db.session.commit()
    before, counts = _state(referral.id), row_counts()
    assert before[2] == read_version + 1
    response = client.post(url, data={"csrf_token": token, "version": str(read_version), "reason": "Not eligible"})
    assert_no_stack_trace(response)
    assert response.status_code == 409
    assert any("Someone else changed this referral" in text for text, _href in error_summary(response))
    # The form comes back holding the newer version, so sending again is a knowing choice.
    page = BeautifulSoup(response.text, "html.parser")
    assert page.find("input", attrs={"name": "version"})["value"] == str(read_version + 1)
    assert _state(referral.id) == before
    assert row_counts() == counts


def test_a_stale_version_on_the_stage_and_close_forms_is_a_409(client: FlaskClient, login_as, world: World) -> None:
    referral = _referral_for(world, status="active")  # stage 2
    login_as(world.broker)
    stale = str(referral.version - 1)
    before, counts = _state(referral.id), row_counts()
    for path, data in (("stage", {"stage": "4"}), ("close", {"reason": "completed"}),
                       ("needs", {f"need_{p.value}-rating": "red" for p in Pathway})):
        url = f"/referrals/{referral.id}/{path}"
        response = client.post(url, data={"csrf_token": _page_token(client, url), "version": stale, **data})
        assert_no_stack_trace(response)
        assert response.status_code == 409, path
        assert any("Someone else changed this referral" in text for text, _href in error_summary(response)), path
    assert _state(referral.id) == before
    assert row_counts() == counts


def test_accepting_with_a_stale_version_is_a_409(client: FlaskClient, login_as, world: World) -> None:
    referral = _referral_for(world)
    login_as(world.broker)
    token = _page_token(client, f"/referrals/{referral.id}")
    service.request_information(world.broker, db.session.get(Referral, referral.id), "Which school?")
    db.session.commit()
    before, counts = _state(referral.id), row_counts()
    response = client.post(f"/referrals/{referral.id}/accept",
                           data={"csrf_token": token, "version": str(referral.version - 1)})
    assert_no_stack_trace(response)
    assert response.status_code == 409
    assert "Someone else changed this referral" in response.text
    assert _state(referral.id) == before
    assert row_counts() == counts


# --- Sharing through the API: POST /api/v1/referrals/<id>/share ---------------------------------


def test_api_share_bad_input(client: FlaskClient, api_token, world: World) -> None:
    referral = _referral_for(world, status="accepted",
                             consent=service.ConsentInput(given=True, all_member_agencies=False,
                                                          agency_ids=[world.housing.id]))
    headers = api_token(world.broker)
    url = f"/api/v1/referrals/{referral.id}/share"
    before, counts = _state(referral.id), row_counts()
    cases = [
        ({}, 400, "bad_request", "agency_id"),
        ({"agency_id": str(world.housing.id)}, 400, "bad_request", "agency_id"),
        ({"agency_id": None}, 400, "bad_request", "agency_id"),
        ({"agency_id": world.housing.id, "pathways": ["housing"]}, 400, "bad_request", "pathways"),
        ({"agency_id": world.housing.id, "pathways": "accommodation"}, 400, "bad_request", "pathways"),
        ({"agency_id": world.housing.id, "why": "because"}, 400, "bad_request", "why"),
        ({"agency_id": world.health.id}, 422, "invalid", "agency_id"),  # a member, not covered by consent
        ({"agency_id": world.outsider.id}, 422, "invalid", "agency_id"),  # not a member
        ({"agency_id": 999_999}, 422, "invalid", "agency_id"),
        ({"agency_id": 2**63}, 400, "bad_request", "agency_id"),  # no record can have such an id
    ]
    for body, status, code, field in cases:
        response = client.post(url, json=body, headers=headers)
        assert_no_stack_trace(response)
        assert response.status_code == status, (body, response.get_json())
        error = api_error(response)
        assert error["code"] == code and error["message"], body
        assert error["fields"] and any(name == field or name.startswith(field + ".") for name in error["fields"]), \
            (body, error)
    malformed = client.post(url, data="{agency_id: 1", content_type="application/json", headers=headers)
    assert malformed.status_code == 400 and api_error(malformed)["code"] == "bad_request"
    not_covered = client.post(url, json={"agency_id": world.health.id}, headers=headers)
    assert "has not agreed to share" in api_error(not_covered)["message"]
    assert _state(referral.id) == before
    assert row_counts() == counts


def test_api_share_is_refused_to_those_who_may_not_share(client: FlaskClient, api_token, world: World) -> None:
    referral = _referral_for(world, status="accepted")
    submitted = _referral_for(world)
    before, counts = _state(referral.id), row_counts()
    body = {"agency_id": world.housing.id}
    # The referring agency sees the referral but is not its broker: 403.
    response = client.post(f"/api/v1/referrals/{referral.id}/share", json=body, headers=api_token(world.staff))
    assert response.status_code == 403 and api_error(response)["code"] == "forbidden"
    # Another partnership's broker, and staff of an agency not involved, cannot see it: 404.
    for outsider in (world.other_partnership.brokers[0], make_user(Role.AGENCY_STAFF, agency=world.housing)):
        response = client.post(f"/api/v1/referrals/{referral.id}/share", json=body, headers=api_token(outsider))
        assert response.status_code == 404 and api_error(response)["code"] == "not_found"
    # An absent referral looks the same as one outside scope.
    response = client.post("/api/v1/referrals/999999/share", json=body, headers=api_token(world.broker))
    assert response.status_code == 404
    # A referral still being triaged cannot be shared yet.
    response = client.post(f"/api/v1/referrals/{submitted.id}/share", json=body, headers=api_token(world.broker))
    assert response.status_code == 422 and api_error(response)["code"] == "invalid"
    assert _state(submitted.id)[0] is ReferralStatus.SUBMITTED
    assert _state(referral.id) == before
    assert row_counts() == counts


def test_an_out_of_range_referral_id_in_a_url_is_a_404_not_a_500(client: FlaskClient, api_token, login_as,
                                                                  world: World) -> None:
    headers = api_token(world.broker)
    for referral_id in (2**31, 2**63):
        response = client.get(f"/api/v1/referrals/{referral_id}", headers=headers)
        assert_no_stack_trace(response)
        assert response.status_code == 404, referral_id
        response = client.post(f"/api/v1/referrals/{referral_id}/share", json={"agency_id": world.housing.id},
                               headers=headers)
        assert_no_stack_trace(response)
        assert response.status_code == 404, referral_id
    login_as(world.broker)
    for referral_id in (2**31, 2**63):
        response = client.get(f"/referrals/{referral_id}")
        assert_no_stack_trace(response)
        assert response.status_code == 404, referral_id
