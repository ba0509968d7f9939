"""Bad input to the action pages and the actions API: refused with a clear 4xx and a message (a GOV.UK
error summary linked to the field on a page; ``error.code`` and ``error.fields`` in the API), never a
500 or a stack trace, and nothing saved. The plan's milestones, "shared" dates and PDF versions too.

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
from panel_app.models import (
    Action,
    ActionEscalation,
    ActionStatus,
    ActionUpdate,
    Agency,
    Milestone,
    Partnership,
    PlanVersion,
    Referral,
    ReferralAccess,
    ReferralEvent,
    Role,
    SentEmail,
    User,
    db,
)
from panel_app.pathways import Pathway
from panel_app.services import actions as service
from panel_app.services.clock import today
from panel_app.services.referrals import ConsentInput
from tests.conftest import built_once, csrf_token_from, kept, loaded
from tests.factories import make_agency, make_partnership, make_referral, make_user

HUGE = "x" * 100_000
COUNTED = (Action, ActionUpdate, ActionEscalation, ReferralAccess, ReferralEvent, SentEmail, Milestone, PlanVersion)
STALE = "Someone else changed this action"


# --- Helpers ------------------------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    """How many rows each action table holds, read afresh from the database."""
    db.session.expire_all()
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def state_of(action_id: int) -> tuple[Any, ...]:
    db.session.expire_all()
    action = db.session.get(Action, action_id)
    assert action is not None
    return action.version, action.status, action.due_on, action.outcome, action.description


def dmy(day: date) -> list[str]:
    return [str(day.day), str(day.month), str(day.year)]


def assert_no_stack_trace(response: Any) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code < 500, text[:2000]
    assert 400 <= response.status_code < 500, response.status_code
    assert "Traceback" not in text
    assert 'File "/' not in text
    assert "sqlalchemy" not in text.lower()


def error_summary(response: Any) -> list[tuple[str, str | None]]:
    """The GOV.UK error summary's items (text, link), checking each link leads to an element."""
    page = BeautifulSoup(response.text, "html.parser")
    summary = page.find(class_="govuk-error-summary")
    assert summary is not None, "no GOV.UK error summary on the page: " + page.get_text(" ", strip=True)[:600]
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


def assert_summary_names(response: Any, message: str, field_id: str | None) -> None:
    items = error_summary(response)
    if field_id is None:
        assert any(message in text for text, _href in items), items
    else:
        assert any(message in text and href == f"#{field_id}" for text, href in items), items


def api_error(response: Any) -> dict[str, Any]:
    assert response.is_json, response.get_data(as_text=True)[:500]
    return ErrorOut.model_validate(response.get_json()).error.model_dump()


# --- The world ----------------------------------------------------------------------------------


@dataclass
class World:
    partnership: Partnership
    yot: Agency
    housing: Agency
    health: Agency
    outsider: Agency
    broker: User
    referrer: User
    housing_staff: User
    health_staff: User
    outsider_staff: User
    referral: Referral
    action: Action
    done: Action
    plan_version: PlanVersion


def build_world() -> World:
    """A referral whose young person agreed to share with housing only (not health); housing owes an
    open action (due in ten days) and a done one."""
    yot = make_agency(type="yot", name="Input YOT")
    housing = make_agency(type="housing", name="Input Housing")
    health = make_agency(type="health", name="Input Health")
    outsider = make_agency(type="housing", name="Elsewhere Housing")
    broker = make_user(Role.BROKER)
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    partnership = make_partnership(name="Input Partnership", agencies=[yot, housing, health], brokers=[broker])
    make_partnership(name="Elsewhere", agencies=[outsider], brokers=[make_user(Role.BROKER)])
    referral = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="active",
                             consent=ConsentInput(given=True, all_member_agencies=False, agency_ids=[housing.id]))
    housing_staff = make_user(Role.AGENCY_STAFF, agency=housing)
    action = service.create_action(broker, referral, service.NewAction(
        Pathway.ACCOMMODATION, "Find supported lodgings", housing.id, today() + timedelta(days=10)))
    done = service.create_action(broker, referral, service.NewAction(
        Pathway.FINANCE, "Open a bank account", housing.id, today() + timedelta(days=5)))
    service.update_action(housing_staff, done, service.ActionChange(
        version=done.version, status=ActionStatus.DONE, outcome="Account opened"))
    version = service.save_plan_version(broker, referral)
    world = World(partnership, yot, housing, health, outsider, broker, referrer, housing_staff,
                  make_user(Role.AGENCY_STAFF, agency=health), make_user(Role.AGENCY_STAFF, agency=outsider),
                  referral, action, done, version)
    db.session.commit()
    return world


@pytest.fixture(scope="module")
def world_records(app: Flask, module_connection: Any) -> dict[str, Any]:
    return built_once(app, module_connection, lambda: kept(build_world()))


@pytest.fixture
def world(world_records: dict[str, Any]) -> World:
    """The world (built once per module), its records loaded in the case's own session."""
    return loaded(World, world_records)


# --- Recording an action through the page: POST /referrals/<id>/actions/new ----------------------


def action_form(world: World, token: str, /, **overrides: Any) -> dict[str, Any]:
    """A valid form to record an action; an override of ``None`` leaves the field out."""
    prefix = f"r{world.referral.id}-"
    data: dict[str, Any] = {"csrf_token": token, "pathway": "accommodation",
                            "description": "Find a place in supported lodgings", "agency_id": str(world.housing.id),
                            "owner_user_id": "0", "due_on": dmy(today() + timedelta(days=14))}
    data.update(overrides)
    return {prefix + name: value for name, value in data.items() if value is not None}


def post_action_form(client: FlaskClient, world: World, /, **overrides: Any) -> Any:
    url = f"/referrals/{world.referral.id}/actions/new"
    token = csrf_token_from(client.get(url).text)
    return client.post(url, data=action_form(world, token, **overrides))


def test_the_valid_action_form_used_below_is_accepted(client: FlaskClient, login_as, world: World) -> None:
    login_as(world.broker)
    before = row_counts()
    response = post_action_form(client, world, owner_user_id=str(world.housing_staff.id))
    assert response.status_code == 302, response.text[:2000]
    after = row_counts()
    assert after["Action"] == before["Action"] + 1
    assert after["ActionUpdate"] == before["ActionUpdate"] + 1
    assert after["OutboxEmail"] == before["OutboxEmail"] + 2


def _create_page_cases() -> list[Any]:
    yesterday = today() - timedelta(days=1)
    return [
        pytest.param(lambda w: {"due_on": dmy(yesterday)}, 422, "due_on-day", "The due date must be today or later",
                     id="due-date-in-the-past"),
        pytest.param(lambda w: {"due_on": None}, 400, "due_on-day", "Enter the date it is due by", id="no-due-date"),
        pytest.param(lambda w: {"due_on": ["31", "2", str(today().year + 1)]}, 400, "due_on-day",
                     "Due by must be a real date", id="31-february"),
        pytest.param(lambda w: {"description": None}, 400, "description", "Say what the agency will do",
                     id="no-description"),
        pytest.param(lambda w: {"description": "   "}, 422, "description", "Say what the agency will do",
                     id="blank-description"),
        pytest.param(lambda w: {"description": HUGE}, 400, "description", "Must be 2000 characters or fewer",
                     id="huge-description"),
        pytest.param(lambda w: {"pathway": "housing"}, 400, "pathway", "Choose one of the options listed",
                     id="unknown-pathway"),
        pytest.param(lambda w: {"pathway": None}, 400, "pathway", "Choose the pathway", id="no-pathway"),
        pytest.param(lambda w: {"agency_id": str(w.outsider.id)}, 400, "agency_id", "Choose one of the options listed",
                     id="agency-not-a-member"),
        pytest.param(lambda w: {"agency_id": str(w.health.id)}, 400, "agency_id", "Choose one of the options listed",
                     id="agency-not-covered-by-consent"),
        pytest.param(lambda w: {"agency_id": "abc"}, 400, "agency_id", "Choose one of the options listed",
                     id="agency-not-a-number"),
        pytest.param(lambda w: {"owner_user_id": str(w.referrer.id)}, 422, "owner_user_id",
                     "Choose a worker of the agency the action is for", id="worker-of-another-agency"),
        pytest.param(lambda w: {"owner_user_id": str(w.health_staff.id)}, 400, "owner_user_id",
                     "Choose one of the options listed", id="worker-not-offered"),
        pytest.param(lambda w: {"description": "Find\x00lodgings"}, 400, "description", "Remove the NUL character",
                     id="nul-character"),
    ]


@pytest.mark.parametrize(("overrides", "status", "field", "message"), _create_page_cases())
def test_bad_input_to_the_action_form_is_refused_with_the_message_linked_to_the_field(
        client: FlaskClient, login_as, world: World, overrides: Any, status: int, field: str, message: str) -> None:
    login_as(world.broker)
    before = row_counts()
    response = post_action_form(client, world, **overrides(world))
    assert_no_stack_trace(response)
    assert response.status_code == status, error_summary(response)
    assert_summary_names(response, message, f"r{world.referral.id}-{field}")
    assert row_counts() == before


def test_agency_staff_cannot_record_an_action(client: FlaskClient, login_as, world: World) -> None:
    login_as(world.housing_staff)
    before = row_counts()
    url = f"/referrals/{world.referral.id}/actions/new"
    assert client.get(url).status_code == 403
    token = csrf_token_from(client.get(f"/actions/{world.action.id}").text)
    response = client.post(url, data=action_form(world, token))
    assert_no_stack_trace(response)
    assert response.status_code == 403
    assert row_counts() == before


# --- Recording an action through the API: POST /api/v1/referrals/<id>/actions --------------------


def action_body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"pathway": "accommodation", "description": "Find a place in supported lodgings",
                            "agency_id": world.housing.id, "due_date": (today() + timedelta(days=14)).isoformat()}
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not None}


def test_the_valid_action_body_used_below_is_accepted(app: Flask, api_token, world: World) -> None:
    before = row_counts()
    response = app.test_client().post(f"/api/v1/referrals/{world.referral.id}/actions", headers=api_token(world.broker),
                                      json=action_body(world, owner_user_id=world.housing_staff.id))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "open" and response.get_json()["version"] == 1
    assert row_counts()["Action"] == before["Action"] + 1


def _create_api_cases() -> list[Any]:
    yesterday = (today() - timedelta(days=1)).isoformat()
    return [
        pytest.param(lambda w: {"due_date": yesterday}, 422, "invalid", "due_date", id="due-date-in-the-past"),
        pytest.param(lambda w: {"due_date": "31/12/2030"}, 400, "bad_request", "due_date", id="date-not-iso"),
        pytest.param(lambda w: {"due_date": "2030-02-30"}, 400, "bad_request", "due_date", id="30-february"),
        pytest.param(lambda w: {"due_date": 20301231}, 400, "bad_request", "due_date", id="date-as-number"),
        pytest.param(lambda w: {"pathway": "housing"}, 400, "bad_request", "pathway", id="unknown-pathway"),
        pytest.param(lambda w: {"pathway": None}, 400, "bad_request", "pathway", id="no-pathway"),
        pytest.param(lambda w: {"description": None}, 400, "bad_request", "description", id="no-description"),
        pytest.param(lambda w: {"description": "   "}, 400, "bad_request", "description", id="blank-description"),
        pytest.param(lambda w: {"description": HUGE}, 400, "bad_request", "description", id="huge-description"),
        pytest.param(lambda w: {"description": ["Find", "lodgings"]}, 400, "bad_request", "description",
                     id="description-as-list"),
        pytest.param(lambda w: {"agency_id": str(w.housing.id)}, 400, "bad_request", "agency_id",
                     id="agency-id-as-string"),
        pytest.param(lambda w: {"agency_id": 2**63}, 400, "bad_request", "agency_id", id="agency-id-too-large"),
        pytest.param(lambda w: {"agency_id": w.outsider.id}, 422, "invalid", "agency_id", id="agency-not-a-member"),
        pytest.param(lambda w: {"agency_id": w.health.id}, 422, "invalid", "agency_id",
                     id="agency-not-covered-by-consent"),
        pytest.param(lambda w: {"agency_id": 999_999}, 422, "invalid", "agency_id", id="agency-that-does-not-exist"),
        pytest.param(lambda w: {"owner_user_id": w.referrer.id}, 422, "invalid", "owner_user_id",
                     id="worker-of-another-agency"),
        pytest.param(lambda w: {"owner_user_id": 999_999}, 422, "invalid", "owner_user_id",
                     id="worker-who-does-not-exist"),
        pytest.param(lambda w: {"owner_user_id": True}, 400, "bad_request", "owner_user_id", id="worker-as-boolean"),
        pytest.param(lambda w: {"status": "done"}, 400, "bad_request", "status", id="unknown-field"),
    ]


@pytest.mark.parametrize(("overrides", "status", "code", "field"), _create_api_cases())
def test_bad_input_to_the_actions_api_is_refused_naming_the_field(app: Flask, api_token, world: World,
                                                                 overrides: Any, status: int, code: str,
                                                                 field: str) -> None:
    headers = api_token(world.broker)
    before = row_counts()
    response = app.test_client().post(f"/api/v1/referrals/{world.referral.id}/actions", headers=headers,
                                      json=action_body(world, **overrides(world)))
    assert_no_stack_trace(response)
    error = api_error(response)
    assert (response.status_code, error["code"]) == (status, code), error
    assert error["message"]
    assert field in (error["fields"] or {}), error
    assert row_counts() == before


@pytest.mark.parametrize(("raw", "content_type"), [
    pytest.param('{"pathway": "accommodation",', "application/json", id="malformed-json"),
    pytest.param("[1, 2, 3]", "application/json", id="a-list"),
    pytest.param("null", "application/json", id="null"),
    pytest.param("pathway=accommodation", "application/x-www-form-urlencoded", id="not-json"),
    pytest.param("", "application/json", id="empty-body"),
])
def test_a_body_that_is_not_a_json_object_is_a_400(app: Flask, api_token, world: World, raw: str,
                                                   content_type: str) -> None:
    headers = api_token(world.broker)
    before = row_counts()
    for url in (f"/api/v1/referrals/{world.referral.id}/actions", f"/api/v1/actions/{world.action.id}"):
        method = app.test_client().post if url.endswith("/actions") else app.test_client().patch
        response = method(url, data=raw, headers={**headers, "Content-Type": content_type})
        assert_no_stack_trace(response)
        assert response.status_code == 400, (url, response.get_json())
        assert api_error(response)["code"] == "bad_request"
    assert row_counts() == before


def test_recording_an_action_is_refused_to_agency_staff_and_hidden_from_strangers(app: Flask, api_token,
                                                                                   world: World) -> None:
    before = row_counts()
    url = f"/api/v1/referrals/{world.referral.id}/actions"
    by_housing = app.test_client().post(url, headers=api_token(world.housing_staff), json=action_body(world))
    assert by_housing.status_code == 403 and api_error(by_housing)["code"] == "forbidden"
    by_stranger = app.test_client().post(url, headers=api_token(world.outsider_staff), json=action_body(world))
    assert by_stranger.status_code == 404 and api_error(by_stranger)["code"] == "not_found"
    assert row_counts() == before


# --- Updating an action through the API: PATCH /api/v1/actions/<id> ------------------------------


def _patch_cases() -> list[Any]:
    yesterday = (today() - timedelta(days=1)).isoformat()
    later = (today() + timedelta(days=30)).isoformat()
    return [
        # Malformed: a 400 naming the field.
        pytest.param("action", "housing", {"status": "finished"}, 400, "bad_request", "status", id="unknown-status"),
        pytest.param("action", "housing", {"status": 3}, 400, "bad_request", "status", id="status-as-number"),
        pytest.param("action", "housing", {"note": 42}, 400, "bad_request", "note", id="note-as-number"),
        pytest.param("action", "housing", {"note": HUGE}, 400, "bad_request", "note", id="huge-note"),
        pytest.param("action", "housing", {"status": "done", "outcome": HUGE}, 400, "bad_request", "outcome",
                     id="huge-outcome"),
        pytest.param("action", "housing", {"due_date": "next week", "note": "x"}, 400, "bad_request", "due_date",
                     id="due-date-not-a-date"),
        pytest.param("action", "housing", {"due_date": 20301231, "note": "x"}, 400, "bad_request", "due_date",
                     id="due-date-as-number"),
        pytest.param("action", "housing", {"version": "1", "note": "x"}, 400, "bad_request", "version",
                     id="version-as-string"),
        pytest.param("action", "housing", {"version": None, "note": "x"}, 400, "bad_request", "version",
                     id="version-null"),
        pytest.param("action", "housing", {"version": 0, "note": "x"}, 400, "bad_request", "version", id="version-0"),
        pytest.param("action", "housing", {"version": 1.5, "note": "x"}, 400, "bad_request", "version",
                     id="version-1.5"),
        pytest.param("action", "housing", {"version": "DROP", "note": "x"}, 400, "bad_request", "version",
                     id="version-garbage"),
        pytest.param("action", "housing", {"priority": "high", "note": "x"}, 400, "bad_request", "priority",
                     id="unknown-field"),
        pytest.param("action", "housing", {"note": "x\x00y"}, 400, "bad_request", "note", id="nul-character"),
        # Well formed, but makes no sense: a 422 naming the field.
        pytest.param("action", "housing", {}, 422, "invalid", "note", id="no-change-no-note"),
        pytest.param("action", "housing", {"note": "   "}, 422, "invalid", "note", id="blank-note"),
        pytest.param("action", "housing", {"status": "open"}, 422, "invalid", "note", id="same-status-no-note"),
        pytest.param("action", "housing", {"status": "blocked"}, 422, "invalid", "note", id="blocked-without-a-note"),
        pytest.param("action", "housing", {"status": "done"}, 422, "invalid", "outcome", id="done-without-an-outcome"),
        pytest.param("action", "housing", {"status": "cancelled", "note": "Not needed"}, 422, "invalid", "status",
                     id="cancelled-by-agency-staff"),
        pytest.param("action", "broker", {"status": "cancelled"}, 422, "invalid", "note",
                     id="cancelled-without-a-note"),
        pytest.param("action", "housing", {"due_date": yesterday, "note": "It slipped"}, 422, "invalid", "due_date",
                     id="new-due-date-in-the-past"),
        pytest.param("action", "housing", {"due_date": later}, 422, "invalid", "note",
                     id="new-due-date-without-a-note"),
        pytest.param("done", "housing", {"status": "open"}, 422, "invalid", "note", id="done-to-open-without-a-note"),
        pytest.param("done", "housing", {"status": "in_progress"}, 422, "invalid", "note",
                     id="done-to-in-progress-without-a-note"),
        pytest.param("done", "broker", {"status": "blocked"}, 422, "invalid", "note",
                     id="done-to-blocked-without-a-note"),
    ]


@pytest.mark.parametrize(("which", "who", "changes", "status", "code", "field"), _patch_cases())
def test_bad_updates_through_the_api_are_refused_and_nothing_is_saved(
        app: Flask, api_token, world: World, which: str, who: str, changes: dict[str, Any], status: int, code: str,
        field: str) -> None:
    action = getattr(world, which)
    actor = {"housing": world.housing_staff, "broker": world.broker}[who]
    headers = api_token(actor)
    before, was = row_counts(), state_of(action.id)
    body = {"version": was[0], **changes}
    response = app.test_client().patch(f"/api/v1/actions/{action.id}", headers=headers, json=body)
    assert_no_stack_trace(response)
    error = api_error(response)
    assert (response.status_code, error["code"]) == (status, code), error
    assert error["message"]
    assert field in (error["fields"] or {}), error
    assert row_counts() == before
    assert state_of(action.id) == was


def test_a_patch_without_a_version_is_a_400_naming_it(app: Flask, api_token, world: World) -> None:
    before, was = row_counts(), state_of(world.action.id)
    response = app.test_client().patch(f"/api/v1/actions/{world.action.id}", headers=api_token(world.housing_staff),
                                       json={"status": "in_progress", "note": "Started"})
    assert_no_stack_trace(response)
    error = api_error(response)
    assert response.status_code == 400 and error["code"] == "bad_request"
    assert "version" in (error["fields"] or {}), error
    assert row_counts() == before and state_of(world.action.id) == was


def test_a_stale_version_is_a_409_with_the_message_and_nothing_saved(app: Flask, api_token, world: World) -> None:
    url = f"/api/v1/actions/{world.action.id}"
    housing, broker = api_token(world.housing_staff), api_token(world.broker)
    first = app.test_client().patch(url, headers=housing, json={"version": 1, "note": "Viewing booked"})
    assert first.status_code == 200 and first.get_json()["version"] == 2
    before, was = row_counts(), state_of(world.action.id)
    for body in ({"version": 1, "status": "blocked", "note": "No places"}, {"version": 7, "note": "From the future"},
                 {"version": 10**30, "note": "Far future"}):
        response = app.test_client().patch(url, headers=broker, json=body)
        assert_no_stack_trace(response)
        error = api_error(response)
        assert response.status_code == 409 and error["code"] == "conflict", error
        assert STALE in error["message"], error
        assert "In progress" in error["message"] or "Open" in error["message"]  # the state now
    assert row_counts() == before and state_of(world.action.id) == was


def test_updates_by_an_agency_that_does_not_own_the_action_are_refused(app: Flask, api_token, world: World) -> None:
    url = f"/api/v1/actions/{world.action.id}"
    before, was = row_counts(), state_of(world.action.id)
    # The referring YOT sees the referral and its actions, but does not own this one.
    assert app.test_client().get(url, headers=api_token(world.referrer)).status_code == 200
    response = app.test_client().patch(url, headers=api_token(world.referrer), json={"version": was[0], "note": "x"})
    assert_no_stack_trace(response)
    assert response.status_code == 403 and api_error(response)["code"] == "forbidden"
    # Agencies that cannot see the referral: as if it did not exist.
    for stranger in (world.health_staff, world.outsider_staff):
        response = app.test_client().patch(url, headers=api_token(stranger), json={"version": was[0], "note": "x"})
        assert response.status_code == 404 and api_error(response)["code"] == "not_found"
    assert row_counts() == before and state_of(world.action.id) == was


@pytest.mark.parametrize("path", ["/api/v1/actions/0", "/api/v1/actions/99999999", "/api/v1/actions/abc",
                                  "/api/v1/actions/9223372036854775808", "/api/v1/actions/-1"])
def test_an_action_that_does_not_exist_is_a_404(app: Flask, api_token, world: World, path: str) -> None:
    headers = api_token(world.broker)
    for response in (app.test_client().get(path, headers=headers),
                     app.test_client().patch(path, headers=headers, json={"version": 1, "note": "x"})):
        assert_no_stack_trace(response)
        assert response.status_code == 404, (response.request.method, response.status_code,
                                             response.headers.get("Allow"), response.get_json())


# --- Updating an action through the page: POST /actions/<id>/update ------------------------------


def update_form(client: FlaskClient, action: Action, /, **fields: Any) -> Any:
    page = client.get(f"/actions/{action.id}")
    assert page.status_code == 200
    form = BeautifulSoup(page.text, "html.parser").find("form", action=f"/actions/{action.id}/update")
    data: dict[str, Any] = {"csrf_token": csrf_token_from(str(form)),
                            "version": form.find("input", attrs={"name": "version"})["value"],
                            "status": "in_progress", "note": "", "outcome": "", "due_on": ["", "", ""]}
    data.update(fields)
    return client.post(f"/actions/{action.id}/update",
                       data={name: value for name, value in data.items() if value is not None})


def _update_page_cases() -> list[Any]:
    yesterday, later = today() - timedelta(days=1), today() + timedelta(days=30)
    return [
        pytest.param("action", "housing", {"status": "finished"}, 400, "status", "Choose one of the options listed",
                     id="unknown-status"),
        pytest.param("action", "housing", {"status": None}, 400, "status", "Choose a status", id="no-status"),
        pytest.param("action", "housing", {"status": "cancelled", "note": "Not needed"}, 400, "status",
                     "Choose one of the options listed", id="cancelled-by-agency-staff"),
        pytest.param("action", "broker", {"status": "cancelled"}, 422, "note", "Say why the action is cancelled",
                     id="cancelled-without-a-note"),
        pytest.param("action", "housing", {"status": "blocked"}, 422, "note", "Say what is blocking it",
                     id="blocked-without-a-note"),
        pytest.param("action", "housing", {"status": "done"}, 422, "outcome", "Say what was done",
                     id="done-without-an-outcome"),
        pytest.param("done", "housing", {"status": "open"}, 422, "note", "Say why the action is reopened",
                     id="done-to-open-without-a-note"),
        pytest.param("action", "housing", {"status": "open", "due_on": dmy(yesterday), "note": "It slipped"}, 422,
                     "due_on-day", "A new due date must be today or later", id="new-due-date-in-the-past"),
        pytest.param("action", "housing", {"status": "open", "due_on": dmy(later)}, 422, "note",
                     "Say why the due date changes", id="new-due-date-without-a-note"),
        pytest.param("action", "housing", {"status": "open", "due_on": ["30", "2", str(later.year)], "note": "x"},
                     400, "due_on-day", "must be a real date", id="30-february"),
        pytest.param("action", "housing", {"status": "open"}, 422, "note",
                     "Add a note, or change the status or the due date", id="no-change-no-note"),
        pytest.param("action", "housing", {"status": "open", "note": "   "}, 422, "note",
                     "Add a note, or change the status or the due date", id="blank-note"),
        pytest.param("action", "housing", {"note": HUGE}, 400, "note", "Must be 4000 characters or fewer",
                     id="huge-note"),
        pytest.param("action", "housing", {"status": "done", "outcome": HUGE}, 400, "outcome",
                     "Must be 4000 characters or fewer", id="huge-outcome"),
        pytest.param("action", "housing", {"note": "a\x00b"}, 400, "note", "Remove the NUL character",
                     id="nul-character"),
        pytest.param("action", "housing", {"version": None, "note": "x"}, 400, "version",
                     "This form did not say which version of the action it changes", id="no-version"),
        pytest.param("action", "housing", {"version": "abc", "note": "x"}, 400, "version",
                     "Reload the page and try again", id="version-garbage"),
    ]


@pytest.mark.parametrize(("which", "who", "fields", "status", "field", "message"), _update_page_cases())
def test_bad_updates_through_the_page_are_refused_with_the_message_linked_to_the_field(
        app: Flask, client: FlaskClient, login_as, world: World, which: str, who: str, fields: dict[str, Any],
        status: int, field: str, message: str) -> None:
    action = getattr(world, which)
    login_as({"housing": world.housing_staff, "broker": world.broker}[who])
    before, was = row_counts(), state_of(action.id)
    response = update_form(client, action, **fields)
    assert_no_stack_trace(response)
    assert response.status_code == status, error_summary(response)
    assert_summary_names(response, message, field)
    assert row_counts() == before
    assert state_of(action.id) == was


def test_a_bad_update_from_my_actions_is_shown_against_the_fields_of_that_action(
        client: FlaskClient, login_as, world: World) -> None:
    login_as(world.housing_staff)
    before, was = row_counts(), state_of(world.action.id)
    page = client.get("/actions/")
    prefix = f"a{world.action.id}-"
    form = BeautifulSoup(page.text, "html.parser").find(id=f"action-{world.action.id}").find("form")
    response = client.post(f"/actions/{world.action.id}/update", data={
        "from": "list", prefix + "csrf_token": form.find("input", attrs={"name": prefix + "csrf_token"})["value"],
        prefix + "version": form.find("input", attrs={"name": prefix + "version"})["value"],
        prefix + "status": "blocked", prefix + "note": ""})
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert_summary_names(response, "Say what is blocking it", prefix + "note")
    assert row_counts() == before and state_of(world.action.id) == was


def test_a_stale_form_is_a_409_showing_the_newer_state_and_nothing_saved(app: Flask, client: FlaskClient, login_as,
                                                                         api_token, world: World) -> None:
    login_as(world.housing_staff)
    page = client.get(f"/actions/{world.action.id}")
    form = BeautifulSoup(page.text, "html.parser").find("form", action=f"/actions/{world.action.id}/update")
    token, version = csrf_token_from(str(form)), form.find("input", attrs={"name": "version"})["value"]
    # Meanwhile the broker moves it on.
    moved = app.test_client().patch(f"/api/v1/actions/{world.action.id}", headers=api_token(world.broker),
                                    json={"version": int(version), "status": "blocked", "note": "Landlord pulled out"})
    assert moved.status_code == 200
    before, was = row_counts(), state_of(world.action.id)
    response = client.post(f"/actions/{world.action.id}/update", data={
        "csrf_token": token, "version": version, "status": "done", "outcome": "Moved in"})
    assert_no_stack_trace(response)
    assert response.status_code == 409
    assert_summary_names(response, STALE, None)
    text = BeautifulSoup(response.text, "html.parser").get_text(" ", strip=True)
    assert "Landlord pulled out" in text and "Blocked" in text
    assert row_counts() == before and state_of(world.action.id) == was


def test_an_update_by_an_agency_that_does_not_own_the_action_is_a_403(client: FlaskClient, login_as,
                                                                      world: World) -> None:
    login_as(world.referrer)
    page = client.get(f"/actions/{world.action.id}")
    assert page.status_code == 200
    assert f'action="/actions/{world.action.id}/update"' not in page.text  # no form offered
    before, was = row_counts(), state_of(world.action.id)
    response = client.post(f"/actions/{world.action.id}/update", data={
        "csrf_token": csrf_token_from(page.text), "version": str(was[0]), "status": "in_progress", "note": "x"})
    assert_no_stack_trace(response)
    assert response.status_code == 403
    assert row_counts() == before and state_of(world.action.id) == was


def test_an_agency_that_cannot_see_the_referral_gets_a_404(client: FlaskClient, login_as, world: World) -> None:
    login_as(world.health_staff)
    assert client.get(f"/actions/{world.action.id}").status_code == 404
    token = csrf_token_from(client.get("/").text)
    before = row_counts()
    response = client.post(f"/actions/{world.action.id}/update", data={
        "csrf_token": token, "version": "1", "status": "in_progress", "note": "x"})
    assert_no_stack_trace(response)
    assert response.status_code == 404
    assert row_counts() == before


# --- The plan -----------------------------------------------------------------------------------


def post_to_plan(client: FlaskClient, world: World, url: str, data: dict[str, Any]) -> Any:
    page = client.get(f"/referrals/{world.referral.id}/plan")
    assert page.status_code == 200
    return client.post(url, data={"csrf_token": csrf_token_from(page.text), **data})


@pytest.mark.parametrize(("data", "status", "field", "message"), [
    pytest.param({"description": ""}, 400, "description", "Describe the milestone", id="no-description"),
    pytest.param({}, 400, "description", "Describe the milestone", id="description-left-out"),
    pytest.param({"description": "   "}, 422, "description", "Describe the milestone", id="blank-description"),
    pytest.param({"description": HUGE}, 400, "description", "Must be 500 characters or fewer", id="huge-description"),
    pytest.param({"description": "Settled", "pathway": "housing"}, 400, "pathway", "Choose one of the options listed",
                 id="unknown-pathway"),
    pytest.param({"description": "Settled", "target_on": ["31", "2", "2030"]}, 400, "target_on-day",
                 "must be a real date", id="31-february"),
])
def test_a_bad_milestone_is_refused_with_the_message_linked_to_the_field(client: FlaskClient, login_as, world: World,
                                                                         data: dict[str, Any], status: int,
                                                                         field: str, message: str) -> None:
    login_as(world.broker)
    before = row_counts()
    response = post_to_plan(client, world, f"/referrals/{world.referral.id}/plan/milestones", data)
    assert_no_stack_trace(response)
    assert response.status_code == status, error_summary(response)
    assert_summary_names(response, message, field)
    assert row_counts() == before


@pytest.mark.parametrize(("data", "status", "field", "message"), [
    # A real date, but the rule is a date not yet come (the service's: 422).
    pytest.param({"shared_on": dmy(today() + timedelta(days=1))}, 422, "shared_on-day",
                 "The date must be today or in the past", id="shared-tomorrow"),
    pytest.param({"shared_on": ["31", "2", str(today().year)]}, 400, "shared_on-day", "must be a real date",
                 id="shared-31-february"),
    pytest.param({"shared_how": "x" * 201}, 400, "shared_how", "Must be 200 characters or fewer", id="huge-how"),
])
def test_a_bad_shared_date_is_refused_and_nothing_recorded(client: FlaskClient, login_as, world: World,
                                                           data: dict[str, Any], status: int, field: str,
                                                           message: str) -> None:
    login_as(world.broker)
    before = row_counts()
    response = post_to_plan(client, world, f"/referrals/{world.referral.id}/plan/versions/"
                                           f"{world.plan_version.id}/shared", data)
    assert_no_stack_trace(response)
    assert response.status_code == status
    assert message in BeautifulSoup(response.text, "html.parser").get_text(" ", strip=True)
    assert row_counts() == before
    db.session.expire_all()
    assert db.session.get(PlanVersion, world.plan_version.id).shared_on is None
    # Like every other form: the GOV.UK error summary, linked to the field.
    assert_summary_names(response, message, field)


@pytest.mark.parametrize(("version", "status"), [
    pytest.param("2", 404, id="a-version-not-saved"),
    pytest.param("9999", 404, id="a-version-far-away"),
    pytest.param("abc", 400, id="not-a-number"),
    pytest.param("0", 400, id="zero"),
    pytest.param("-1", 400, id="negative"),
    pytest.param("1.5", 400, id="a-fraction"),
    pytest.param("", 400, id="empty"),
    pytest.param("99999999999999999999", 400, id="huge"),
    pytest.param("1%00", 400, id="nul"),
])
def test_a_plan_pdf_of_a_version_that_does_not_exist_or_is_not_a_number(client: FlaskClient, login_as, world: World,
                                                                        version: str, status: int) -> None:
    login_as(world.broker)
    assert client.get(f"/referrals/{world.referral.id}/plan.pdf?version=1").status_code == 200
    response = client.get(f"/referrals/{world.referral.id}/plan.pdf?version={version}")
    assert_no_stack_trace(response)
    assert response.status_code == status
    assert response.mimetype == "text/html"
