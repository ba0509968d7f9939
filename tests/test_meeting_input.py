"""Bad input to the panel meeting pages and API: refused with a clear 4xx and a message (on a page,
the GOV.UK error summary linking to the field; in the API, error.code and error.fields), never a
500 or a stack trace, nothing saved and nothing emailed.

Every case runs in one world, built once per module (``world``; each case runs in a SAVEPOINT rolled
back after it, so every case meets the world as built).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.models import (
    Agency,
    MeetingStatus,
    PanelMeeting,
    Partnership,
    Referral,
    ReferralStatus,
    Role,
    User,
    db,
)
from panel_app.services import meetings as service
from panel_app.services import referrals as referral_service
from panel_app.services.clock import today
from tests.conftest import CapturedMail, built_once, csrf_token_from, kept, loaded, sign_in
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_user
from tests.meeting_helpers import (
    dmy,
    form_post,
    hidden_fields,
    local,
    meeting_by_id,
    meeting_state,
    page_schedule,
    row_counts,
)
from tests.test_referral_input import api_error, assert_no_stack_trace, assert_summary_names, error_summary

HUGE = "x" * 100_000


@dataclass
class World:
    broker: User
    partnership: Partnership
    sibling: Partnership  # another partnership the same broker runs
    sibling_staff: User
    yot: Agency
    housing: Agency
    health: Agency
    yot_staff: User
    housing_staff: User
    lead: User  # a strategic lead of the partnership's region: sees it, is no member of its panel
    other_broker: User
    other_partnership: Partnership
    outsider: Agency  # on the other partnership's panel only
    outsider_staff: User


def build_world() -> World:
    yot = make_agency(type="yot", name="Conwy YOT", contact_email="yot@conwy.example.org")
    housing = make_agency(type="housing", name="Conwy Housing", contact_email="housing@conwy.example.org")
    health = make_agency(type="health", name="North Wales Health", contact_email="health@nhs.example.org")
    outsider = make_agency(type="housing", name="Cardiff Housing", contact_email="housing@cardiff.example.org")
    broker = make_user(Role.BROKER)
    partnership = make_partnership(name="Conwy", agencies=[yot, housing, health], brokers=[broker])
    sibling_yot = make_agency(type="yot", name="Denbighshire YOT")
    sibling = make_partnership(name="Denbighshire", agencies=[sibling_yot], brokers=[broker],
                               region=partnership.region)
    other_broker = make_user(Role.BROKER)
    other = make_partnership(name="Cardiff", agencies=[outsider], brokers=[other_broker])
    yot_staff = make_user(Role.AGENCY_STAFF, agency=yot)
    housing_staff = make_user(Role.AGENCY_STAFF, agency=housing)
    lead = make_user(Role.STRATEGIC_LEAD, region=partnership.region)
    db.session.commit()
    return World(broker, partnership, sibling, make_user(Role.AGENCY_STAFF, agency=sibling_yot), yot, housing, health,
                 yot_staff, housing_staff, lead, other_broker, other, outsider,
                 make_user(Role.AGENCY_STAFF, agency=outsider))


@pytest.fixture(scope="module")
def world_records(app: Flask, module_connection: Any) -> dict[str, Any]:
    return built_once(app, module_connection, lambda: kept(build_world()))


@pytest.fixture
def world(world_records: dict[str, Any]) -> World:
    """The world (built once per module), its records loaded in the case's own session."""
    return loaded(World, world_records)


def accepted_referral(world: World, status: str = "accepted", **overrides: Any) -> Referral:
    referral = make_referral(partnership=world.partnership, referrer=world.yot_staff, broker=world.broker,
                             status=status, **overrides)
    db.session.commit()
    return referral


def future_day(weeks: int = 6) -> date:
    return today() + timedelta(weeks=weeks)


def nothing_changed(before_counts: dict[str, int], smtp: CapturedMail | None = None) -> None:
    assert row_counts() == before_counts
    if smtp is not None:
        assert smtp.messages == []


# --- Scheduling through the page: POST /meetings/new --------------------------------------------


def test_the_valid_form_used_below_is_accepted(client: FlaskClient, login_as, world: World,
                                               smtp: CapturedMail) -> None:
    login_as(world.broker)
    before = row_counts()
    response = page_schedule(client, world.partnership, future_day(), "10:00", "12:00")
    assert response.status_code == 302, response.text[:3000]
    after = row_counts()
    assert after["PanelMeeting"] == before["PanelMeeting"] + 1
    assert after["OutboxEmail"] == before["OutboxEmail"] + 3
    assert len(smtp.messages) == 3


def _form_shape_cases() -> list[Any]:
    """What the form itself refuses: a 400, with the message against the field."""
    return [
        pytest.param({"starts": "25:00"}, "starts", "Enter a time like 10:00 or 14:30", id="start-25:00"),
        pytest.param({"ends": "24:00"}, "ends", "Enter a time like 10:00 or 14:30", id="end-24:00"),
        pytest.param({"starts": "ten"}, "starts", "Enter a time like 10:00 or 14:30", id="start-ten"),
        pytest.param({"ends": "12:60"}, "ends", "Enter a time like 10:00 or 14:30", id="end-12:60"),
        pytest.param({"starts": None}, "starts", "Enter the time the meeting starts", id="no-start"),
        pytest.param({"day": ["30", "2", "2028"]}, "day-day", "Date must be a real date", id="30-february"),
        pytest.param({"day": ["31", "13", "2028"]}, "day-day", "Date must be a real date", id="month-13"),
        pytest.param({"day": ["x", "5", "2028"]}, "day-day", "Date must be a real date", id="day-x"),
        pytest.param({"day": ["2", "5", ""]}, "day-day", "Date must include a day, month and year", id="no-year"),
        pytest.param({"day": None}, "day-day", "Enter the date of the meeting", id="no-date"),
        pytest.param({"location": HUGE}, "location", "Must be 200 characters or fewer", id="huge-location"),
        pytest.param({"online_link": "https://x.example/" + HUGE}, "online_link", "Must be 500 characters or fewer",
                     id="huge-link"),
        pytest.param({"repeat": "weekly", "occurrences": "1"}, "occurrences", "Enter a number of meetings from 2 to 24",
                     id="series-of-one"),
        pytest.param({"repeat": "weekly", "occurrences": "25"}, "occurrences",
                     "Enter a number of meetings from 2 to 24", id="series-of-25"),
        pytest.param({"repeat": "weekly", "occurrences": "lots"}, "occurrences", "Enter a whole number, like 6",
                     id="series-of-lots"),
        pytest.param({"repeat": "yearly"}, "repeat", "Choose one of the options listed", id="unknown-repeat"),
    ]


@pytest.mark.parametrize(("overrides", "field_id", "message"), _form_shape_cases())
def test_schedule_form_shape_errors_are_a_400_linked_to_the_field(
        client: FlaskClient, login_as, world: World, smtp: CapturedMail, overrides: dict[str, Any], field_id: str,
        message: str) -> None:
    login_as(world.broker)
    before = row_counts()
    response = page_schedule(client, world.partnership, future_day(), "10:00", "12:00", **overrides)
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert_summary_names(response, message, field_id)
    nothing_changed(before, smtp)


def _form_rule_cases() -> list[Any]:
    """Well-formed input that breaks a scheduling rule: a 422, with the message against the field."""
    return [
        pytest.param(lambda: (future_day(), "12:00", "10:00", {}), "ends", "The meeting must end after it starts",
                     id="ends-before-it-starts"),
        pytest.param(lambda: (future_day(), "10:00", "10:00", {}), "ends", "The meeting must end after it starts",
                     id="ends-as-it-starts"),
        pytest.param(lambda: (future_day(), "07:00", "19:30", {}), "ends",
                     "A panel meeting cannot last more than 12 hours", id="twelve-and-a-half-hours"),
        pytest.param(lambda: (today() - timedelta(days=2), "10:00", "12:00", {}), "starts",
                     "A new meeting must be in the future", id="two-days-ago"),
        pytest.param(lambda: (today() - timedelta(days=365), "10:00", "12:00", {}), "starts",
                     "A new meeting must be in the future", id="last-year"),
        pytest.param(lambda: (future_day(), "10:00", "12:00", {"location": "", "online_link": ""}), "location",
                     "Give a place, an online link, or both", id="no-place-no-link"),
        pytest.param(lambda: (future_day(), "10:00", "12:00", {"location": "   ", "online_link": " "}), "location",
                     "Give a place, an online link, or both", id="blank-place-and-link"),
        pytest.param(lambda: (future_day(), "10:00", "12:00", {"online_link": "meet.example.org/panel"}),
                     "online_link", "The online link must start with https://", id="link-without-scheme"),
        pytest.param(lambda: (future_day(), "10:00", "12:00", {"online_link": "javascript:alert(1)"}),
                     "online_link", "The online link must start with https://", id="javascript-link"),
        pytest.param(lambda: (future_day(), "10:00", "12:00", {"online_link": "ftp://meet.example.org/panel"}),
                     "online_link", "The online link must start with https://", id="ftp-link"),
        pytest.param(lambda: (future_day(), "10:00", "12:00", {"online_link": "http://meet.example.org/panel"}),
                     "online_link", "The online link must start with https://", id="plain-http-link"),
        pytest.param(lambda: (future_day(), "10:00", "12:00", {"repeat": "weekly", "occurrences": "3",
                                                             "location": ""}),
                     "location", "Give a place, an online link, or both", id="series-without-place"),
    ]


@pytest.mark.parametrize(("make_input", "field_id", "message"), _form_rule_cases())
def test_schedule_form_rule_errors_are_a_422_linked_to_the_field(
        client: FlaskClient, login_as, world: World, smtp: CapturedMail, make_input, field_id: str,
        message: str) -> None:
    login_as(world.broker)
    day, starts, ends, overrides = make_input()
    before = row_counts()
    response = page_schedule(client, world.partnership, day, starts, ends, **overrides)
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert_summary_names(response, message, field_id)
    nothing_changed(before, smtp)


def test_the_form_offers_only_partnerships_the_broker_runs(client: FlaskClient, login_as, world: World,
                                                          smtp: CapturedMail) -> None:
    login_as(world.broker)
    page = BeautifulSoup(client.get("/meetings/new").text, "html.parser")
    offered = {int(o["value"]) for o in page.find(id="partnership_id").find_all("option") if o.get("value")}
    assert offered == {world.partnership.id, world.sibling.id}
    invitable = {int(i["value"]) for i in page.find_all("input", attrs={"name": "invited"})}
    assert world.outsider.id not in invitable
    before = row_counts()
    for forged in (world.other_partnership.id, 999_999, "conwy"):
        response = page_schedule(client, world.partnership, future_day(), "10:00", "12:00",
                                 partnership_id=str(forged))
        assert_no_stack_trace(response)
        assert response.status_code == 400, forged
        assert [href for _text, href in error_summary(response)] == ["#partnership_id"]
    # An agency of another partnership's panel cannot be ticked either.
    response = page_schedule(client, world.partnership, future_day(), "10:00", "12:00",
                             invited=[str(world.yot.id), str(world.outsider.id)])
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert any(href and href.startswith("#invited") for _text, href in error_summary(response))
    nothing_changed(before, smtp)


def test_agency_staff_cannot_schedule(client: FlaskClient, login_as, world: World) -> None:
    login_as(world.yot_staff)
    before = row_counts()
    assert client.get("/meetings/new").status_code == 403
    token = csrf_token_from(client.get("/").text)  # a valid form: what refuses it is the role
    response = client.post("/meetings/new", data={"csrf_token": token, "partnership_id": str(world.partnership.id)})
    assert_no_stack_trace(response)
    assert response.status_code == 403
    assert row_counts() == before


# --- Scheduling through the API: POST /api/v1/meetings ------------------------------------------


def api_body(world: World, **overrides: Any) -> dict[str, Any]:
    starts = datetime.combine(future_day(), datetime.min.time().replace(hour=10)).astimezone()
    body: dict[str, Any] = {
        "partnership_id": world.partnership.id,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "location": "Colwyn Bay YJS offices",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_the_valid_api_body_used_below_is_accepted(client: FlaskClient, api_token, world: World,
                                                   smtp: CapturedMail) -> None:
    before = row_counts()
    response = client.post("/api/v1/meetings", json=api_body(world), headers=api_token(world.broker))
    assert response.status_code == 201, response.get_json()
    assert row_counts()["PanelMeeting"] == before["PanelMeeting"] + 1
    assert len(smtp.messages) == 3


def _api_shape_cases() -> list[Any]:
    """Missing fields, wrong types, unreadable or naive instants, over-long text: a 400."""
    day = future_day().isoformat()
    return [
        pytest.param({"starts_at": f"{day}T10:00:00"}, "starts_at", id="naive-start"),
        pytest.param({"ends_at": f"{day}T12:00:00"}, "ends_at", id="naive-end"),
        pytest.param({"starts_at": f"{day}T25:00:00+00:00"}, "starts_at", id="start-25:00"),
        pytest.param({"starts_at": "ten"}, "starts_at", id="start-ten"),
        pytest.param({"starts_at": f"{day} ten o'clock"}, "starts_at", id="start-ten-oclock"),
        pytest.param({"starts_at": "2028-02-30T10:00:00+00:00"}, "starts_at", id="30-february"),
        pytest.param({"starts_at": "2028-13-01T10:00:00+00:00"}, "starts_at", id="month-13"),
        pytest.param({"starts_at": day}, "starts_at", id="a-date-not-an-instant"),
        pytest.param({"starts_at": 1_900_000_000}, "starts_at", id="a-number"),
        pytest.param({"starts_at": None}, "starts_at", id="no-start"),
        pytest.param({"partnership_id": None}, "partnership_id", id="no-partnership"),
        pytest.param({"partnership_id": "1"}, "partnership_id", id="string-partnership-id"),
        pytest.param({"partnership_id": 2**63}, "partnership_id", id="huge-partnership-id"),
        pytest.param({"location": HUGE}, "location", id="huge-location"),
        pytest.param({"online_link": "https://x.example/" + HUGE}, "online_link", id="huge-link"),
        pytest.param({"invited_agency_ids": "all"}, "invited_agency_ids", id="invited-a-string"),
        pytest.param({"invited_agency_ids": [0]}, "invited_agency_ids", id="invited-id-zero"),
        pytest.param({"recurrence": HUGE}, "recurrence", id="huge-recurrence"),
        pytest.param({"recurrence": 3}, "recurrence", id="recurrence-a-number"),
        pytest.param({"notes": "hello"}, "notes", id="unknown-field"),
    ]


@pytest.mark.parametrize(("overrides", "field"), _api_shape_cases())
def test_api_shape_errors_are_a_400_naming_the_field(client: FlaskClient, api_token, world: World,
                                                     smtp: CapturedMail, overrides: dict[str, Any],
                                                     field: str) -> None:
    headers = api_token(world.broker)
    body = api_body(world, **{k: v for k, v in overrides.items() if v is not None})
    for key in [k for k, v in overrides.items() if v is None]:
        body.pop(key, None)
    before = row_counts()
    response = client.post("/api/v1/meetings", json=body, headers=headers)
    assert_no_stack_trace(response)
    assert response.status_code == 400, response.get_json()
    error = api_error(response)
    assert error["code"] == "bad_request" and error["message"]
    assert error["fields"] and any(name == field or name.startswith(field + ".") for name in error["fields"]), error
    nothing_changed(before, smtp)


def _api_rule_cases() -> list[Any]:
    """Well-formed bodies that break a rule: a 422 naming the field."""

    def at(days: float, hours: float = 2, start_hour: int = 10) -> dict[str, str]:
        starts = datetime.combine(today() + timedelta(days=days),
                                  datetime.min.time().replace(hour=start_hour)).astimezone()
        return {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=hours)).isoformat()}

    return [
        pytest.param(lambda w: at(40, -1), "ends_at", "The meeting must end after it starts", id="ends-before"),
        pytest.param(lambda w: at(40, 0), "ends_at", "The meeting must end after it starts", id="ends-as-it-starts"),
        pytest.param(lambda w: at(40, 12.5, 7), "ends_at", "cannot last more than 12 hours", id="twelve-and-a-half"),
        pytest.param(lambda w: at(40, 36), "ends_at", "cannot last more than 12 hours", id="a-day-and-a-half"),
        pytest.param(lambda w: at(-2), "starts_at", "must be in the future", id="two-days-ago"),
        pytest.param(lambda w: at(-400), "starts_at", "must be in the future", id="last-year"),
        pytest.param(lambda w: {"location": None}, "location", "Give a place, an online link, or both",
                     id="no-place-no-link"),
        pytest.param(lambda w: {"location": "   "}, "location", "Give a place, an online link, or both",
                     id="blank-place"),
        pytest.param(lambda w: {"online_link": "http://meet.example.org/panel"}, "online_link", "https://",
                     id="plain-http-link"),
        pytest.param(lambda w: {"online_link": "javascript:alert(1)"}, "online_link", "https://",
                     id="javascript-link"),
        pytest.param(lambda w: {"online_link": "meet.example.org"}, "online_link", "https://", id="no-scheme"),
        pytest.param(lambda w: {"invited_agency_ids": [w.yot.id, w.outsider.id]}, "invited_agency_ids",
                     "Invite only agencies on this partnership's panel", id="invite-an-outsider"),
        pytest.param(lambda w: {"invited_agency_ids": [999_999]}, "invited_agency_ids",
                     "Invite only agencies on this partnership's panel", id="invite-an-absent-agency"),
        pytest.param(lambda w: {"recurrence": "FREQ=DAILY;COUNT=3"}, "recurrence", "weekly or monthly", id="daily"),
        pytest.param(lambda w: {"recurrence": "FREQ=YEARLY;COUNT=3"}, "recurrence", "weekly or monthly", id="yearly"),
        pytest.param(lambda w: {"recurrence": "FREQ=MONTHLY"}, "recurrence", "how many meetings", id="endless"),
        pytest.param(lambda w: {"recurrence": "nonsense"}, "recurrence", "weekly or monthly", id="nonsense"),
        pytest.param(lambda w: {"recurrence": "FREQ=WEEKLY;COUNT=25"}, "recurrence", "at most 24", id="25-meetings"),
        pytest.param(lambda w: {"recurrence": "FREQ=WEEKLY;COUNT=100000000"}, "recurrence", "at most 24",
                     id="a-hundred-million-meetings"),
        pytest.param(lambda w: {"recurrence": "FREQ=WEEKLY;UNTIL=20991231T000000"}, "recurrence", "at most 24",
                     id="weekly-until-2099"),
        pytest.param(lambda w: {"recurrence": "FREQ=WEEKLY;COUNT=ten"}, "recurrence", "not one this service",
                     id="count-ten"),
        pytest.param(lambda w: {"recurrence": "FREQ=MONTHLY;BYDAY=9XX;COUNT=3"}, "recurrence",
                     "not one this service", id="unknown-weekday"),
        pytest.param(lambda w: {"recurrence": "FREQ=WEEKLY;COUNT=0"}, "recurrence", "gives no meetings",
                     id="no-meetings"),
        # An interval of 0 repeats the first meeting on the spot: three panels at the same moment.
        pytest.param(lambda w: {"recurrence": "FREQ=WEEKLY;INTERVAL=0;COUNT=3"}, "recurrence", "",
                     id="interval-zero"),
        # Two-hour panels at 10:00 and 11:00 each week: the same partnership's meetings overlapping.
        pytest.param(lambda w: {"recurrence": "FREQ=WEEKLY;BYHOUR=10,11;COUNT=4"}, "recurrence", "",
                     id="overlapping-meetings"),
    ]


@pytest.mark.parametrize(("make_overrides", "field", "message"), _api_rule_cases())
def test_api_rule_errors_are_a_422_naming_the_field(client: FlaskClient, api_token, world: World,
                                                    smtp: CapturedMail, make_overrides, field: str,
                                                    message: str) -> None:
    headers = api_token(world.broker)
    overrides = make_overrides(world)
    body = api_body(world, **{k: v for k, v in overrides.items() if v is not None})
    for key in [k for k, v in overrides.items() if v is None]:
        body.pop(key, None)
    before = row_counts()
    response = client.post("/api/v1/meetings", json=body, headers=headers)
    assert_no_stack_trace(response)
    assert response.status_code == 422, response.get_json()
    error = api_error(response)
    assert error["code"] == "invalid"
    assert message.lower() in error["message"].lower() + " ".join(error["fields"].values()).lower(), error
    assert field in error["fields"], error
    nothing_changed(before, smtp)


def test_api_scheduling_for_a_partnership_one_does_not_broker(client: FlaskClient, api_token, world: World,
                                                              smtp: CapturedMail) -> None:
    before = row_counts()
    # Those who can see the partnership but do not broker it: a 403.
    for user in (world.yot_staff, world.lead):
        response = client.post("/api/v1/meetings", json=api_body(world), headers=api_token(user))
        assert_no_stack_trace(response)
        assert response.status_code == 403, (user.role, response.get_json())
        assert api_error(response)["code"] == "forbidden"
    # Those who cannot see it, and a partnership that does not exist: a 404, the same answer.
    for user, partnership_id in ((world.other_broker, world.partnership.id), (world.broker, world.other_partnership.id),
                                 (world.broker, 999_999)):
        response = client.post("/api/v1/meetings", json=api_body(world, partnership_id=partnership_id),
                               headers=api_token(user))
        assert_no_stack_trace(response)
        assert response.status_code == 404, response.get_json()
        error = api_error(response)
        assert error["code"] == "not_found"
        assert "Cardiff" not in error["message"] and "Conwy" not in error["message"]
    nothing_changed(before, smtp)


# --- The agenda: POST /api/v1/meetings/<id>/agenda and the agenda page ---------------------------


def test_api_agenda_bad_input(client: FlaskClient, api_token, world: World, smtp: CapturedMail) -> None:
    on_agenda = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[on_agenda])
    ok = accepted_referral(world)
    submitted = accepted_referral(world, status="submitted")
    closed = accepted_referral(world, status="closed")
    declined = accepted_referral(world, status="submitted")
    referral_service.decline(world.broker, declined, "Not eligible")
    sibling_referral = make_referral(partnership=world.sibling, referrer=world.sibling_staff, broker=world.broker,
                                     status="accepted")
    elsewhere = make_referral(partnership=world.other_partnership, referrer=world.outsider_staff,
                              broker=world.other_broker, status="accepted")
    db.session.commit()
    headers = api_token(world.broker)
    url = f"/api/v1/meetings/{meeting.id}/agenda"
    cases = [
        ({"referral_id": sibling_referral.id, "kind": "review"}, 422, "invalid", "referral_id",
         "Only referrals to this meeting's partnership"),
        ({"referral_id": elsewhere.id, "kind": "review"}, 422, "invalid", "referral_id", "no referral with that id"),
        ({"referral_id": 999_999, "kind": "review"}, 422, "invalid", "referral_id", "no referral with that id"),
        ({"referral_id": closed.id, "kind": "review"}, 422, "invalid", "referral_id", "Only accepted or active"),
        ({"referral_id": submitted.id, "kind": "new"}, 422, "invalid", "referral_id", "Only accepted or active"),
        ({"referral_id": declined.id, "kind": "new"}, 422, "invalid", "referral_id", "Only accepted or active"),
        ({"referral_id": on_agenda.id, "kind": "review"}, 422, "invalid", "referral_id", "already on the agenda"),
        ({"referral_id": ok.id, "kind": "review", "minutes_allotted": 0}, 400, "bad_request", "minutes_allotted", ""),
        ({"referral_id": ok.id, "kind": "review", "minutes_allotted": 500}, 400, "bad_request", "minutes_allotted",
         ""),
        ({"referral_id": ok.id, "kind": "review", "minutes_allotted": -5}, 400, "bad_request", "minutes_allotted", ""),
        ({"referral_id": ok.id, "kind": "urgent"}, 400, "bad_request", "kind", ""),
        ({"referral_id": str(ok.id), "kind": "review"}, 400, "bad_request", "referral_id", ""),
        ({"kind": "review"}, 400, "bad_request", "referral_id", ""),
        ({"referral_id": ok.id, "kind": "review", "notes": HUGE}, 400, "bad_request", "notes", ""),
    ]
    before, state = row_counts(), meeting_state(meeting.id)
    for body, status, code, field, message in cases:
        response = client.post(url, json=body, headers=headers)
        assert_no_stack_trace(response)
        assert response.status_code == status, (body, response.get_json())
        error = api_error(response)
        assert error["code"] == code and error["message"], body
        assert error["fields"] and any(name == field or name.startswith(field + ".") for name in error["fields"]), \
            (body, error)
        assert message.lower() in error["message"].lower(), (body, error)
    # Agency staff of a member agency see the meeting but may not build its agenda: 403; others 404.
    response = client.post(url, json={"referral_id": ok.id, "kind": "review"}, headers=api_token(world.yot_staff))
    assert response.status_code == 403 and api_error(response)["code"] == "forbidden"
    response = client.post(url, json={"referral_id": ok.id, "kind": "review"}, headers=api_token(world.other_broker))
    assert response.status_code == 404 and api_error(response)["code"] == "not_found"
    assert row_counts() == before and meeting_state(meeting.id) == state
    assert smtp.messages == []
    # The same request with good values goes through.
    response = client.post(url, json={"referral_id": ok.id, "kind": "review", "minutes_allotted": 240},
                           headers=headers)
    assert response.status_code == 201, response.get_json()


def _agenda_form(client: FlaskClient, meeting: PanelMeeting) -> dict[str, str]:
    """The CSRF token the agenda page's forms carry."""
    return {"csrf_token": csrf_token_from(client.get(f"/meetings/{meeting.id}/agenda").text)}


@pytest.mark.parametrize("minutes", ["0", "500", "-1"])
def test_agenda_page_refuses_minutes_out_of_range(client: FlaskClient, login_as, world: World,
                                                  minutes: str) -> None:
    referral = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker)
    db.session.commit()
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    data = {**_agenda_form(client, meeting), "referral_id": str(referral.id), "kind": "review",
            "minutes_allotted": minutes}
    response = client.post(f"/meetings/{meeting.id}/agenda", data=data)
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert "Give between 1 and 240 minutes" in response.text or "from 1 to 240" in response.text
    assert row_counts() == before and meeting_state(meeting.id) == state


def test_agenda_page_refuses_a_referral_it_does_not_offer(client: FlaskClient, login_as, world: World) -> None:
    on_agenda = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[on_agenda])
    submitted = accepted_referral(world, status="submitted")
    closed = accepted_referral(world, status="closed")
    sibling_referral = make_referral(partnership=world.sibling, referrer=world.sibling_staff, broker=world.broker,
                                     status="accepted")
    waiting = accepted_referral(world, status="active")
    db.session.commit()
    login_as(world.broker)
    page = BeautifulSoup(client.get(f"/meetings/{meeting.id}/agenda").text, "html.parser")
    offered = {int(o["value"]) for o in page.find(id="referral_id").find_all("option") if o.get("value")}
    assert offered == {waiting.id}
    before, state = row_counts(), meeting_state(meeting.id)
    for forged in (on_agenda.id, submitted.id, closed.id, sibling_referral.id, 999_999, "x"):
        data = {**_agenda_form(client, meeting), "referral_id": str(forged), "kind": "review"}
        response = client.post(f"/meetings/{meeting.id}/agenda", data=data)
        assert_no_stack_trace(response)
        assert response.status_code == 400, forged
        assert_summary_names(response, "Choose one of the options listed", "referral_id")
    assert row_counts() == before and meeting_state(meeting.id) == state


def test_agenda_form_errors_are_shown_on_the_form_with_the_error_summary(client: FlaskClient, login_as,
                                                                        world: World) -> None:
    """A refused agenda addition comes back as the agenda page, its error summary linking to the
    field, like every other form (not a bare error page the person has to navigate back from)."""
    referral = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker)
    db.session.commit()
    login_as(world.broker)
    data = {**_agenda_form(client, meeting), "referral_id": str(referral.id), "kind": "review",
            "minutes_allotted": "500"}
    response = client.post(f"/meetings/{meeting.id}/agenda", data=data)
    assert response.status_code == 400  # the form's own range check, before the service's
    assert_summary_names(response, "Give between 1 and 240 minutes", "minutes_allotted")


def test_agenda_item_minutes_out_of_range_change_nothing(client: FlaskClient, login_as, world: World) -> None:
    referral = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[referral])
    db.session.commit()
    item_id = meeting.items[0].id
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    for minutes, action in (("0", "minutes"), ("500", "minutes"), ("", "minutes"), ("20", "explode")):
        data = {**_agenda_form(client, meeting), "action": action, "minutes_allotted": minutes}
        response = client.post(f"/meetings/{meeting.id}/agenda/{item_id}", data=data)
        assert_no_stack_trace(response)
        assert response.status_code == 400, (minutes, action)
        assert row_counts() == before and meeting_state(meeting.id) == state


# --- A cancelled meeting can no longer change ----------------------------------------------------


def test_a_cancelled_meeting_cannot_be_changed(client: FlaskClient, login_as, api_token, world: World,
                                               smtp: CapturedMail) -> None:
    on_agenda = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[on_agenda],
                           online_link="https://meet.example.org/panel")
    to_add = accepted_referral(world)
    service.cancel(world.broker, meeting, "The venue flooded.")
    db.session.commit()
    item_id = meeting.items[0].id
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    day = future_day(8)

    # Editing: the form comes back with the message at the top.
    response = form_post(client, f"/meetings/{meeting.id}/edit", day=dmy(day), starts="10:00", ends="12:00",
                         location="Town hall", invited=[str(world.yot.id)])
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert any("This meeting was cancelled" in text for text, _href in error_summary(response))
    # Cancelling again.
    response = form_post(client, f"/meetings/{meeting.id}/cancel", reason="Again")
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert any("This meeting was cancelled" in text for text, _href in error_summary(response))
    # Adding to its agenda: the page and the API.
    data = {**_agenda_form(client, meeting), "referral_id": str(to_add.id), "kind": "review"}
    response = client.post(f"/meetings/{meeting.id}/agenda", data=data)
    assert_no_stack_trace(response)
    assert response.status_code == 422 and "This meeting was cancelled" in response.text
    response = client.post(f"/api/v1/meetings/{meeting.id}/agenda", json={"referral_id": to_add.id, "kind": "new"},
                           headers=api_token(world.broker))
    assert response.status_code == 422 and api_error(response)["code"] == "invalid"
    assert "cancelled" in api_error(response)["message"]
    # Removing from its agenda, notes, asking for updates, marking it held.
    data = {**_agenda_form(client, meeting), "action": "remove"}
    response = client.post(f"/meetings/{meeting.id}/agenda/{item_id}", data=data)
    assert_no_stack_trace(response)
    assert response.status_code == 422
    # Meeting mode offers no notes form on a cancelled meeting (the steps table says so); a post made
    # by hand is refused all the same.
    run = client.get(f"/meetings/{meeting.id}/run").text
    assert f"/items/{item_id}/notes" not in run and "This meeting was cancelled" in run
    notes = {f"item{item_id}-csrf_token": csrf_token_from(run), f"item{item_id}-version": str(meeting.items[0].version)}
    response = client.post(f"/meetings/{meeting.id}/items/{item_id}/notes",
                           data={**notes, f"item{item_id}-notes": "Late notes"})
    assert_no_stack_trace(response)
    assert response.status_code == 422
    response = form_post(client, f"/meetings/{meeting.id}/request-updates", due_on=dmy(future_day(1)))
    assert_no_stack_trace(response)
    assert response.status_code == 422
    # (The page offers no "mark as held" button on a cancelled meeting; a hand-made post is refused.)
    response = client.post(f"/meetings/{meeting.id}/held",
                           data={**_agenda_form(client, meeting), "version": str(meeting_by_id(meeting.id).version)})
    assert_no_stack_trace(response)
    assert response.status_code == 422 and "This meeting was cancelled" in response.text

    assert row_counts() == before and meeting_state(meeting.id) == state
    assert smtp.messages == []


# --- Holding the meeting and approving its minutes ------------------------------------------------


def test_a_meeting_not_yet_started_cannot_be_marked_held(client: FlaskClient, login_as, world: World) -> None:
    referral = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[referral],
                           starts_in=timedelta(hours=2))
    db.session.commit()
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    form = hidden_fields(client, f"/meetings/{meeting.id}", f"/meetings/{meeting.id}/held")
    response = client.post(f"/meetings/{meeting.id}/held", data=form)
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert "A meeting can be marked as held once it has started" in response.text
    assert row_counts() == before and meeting_state(meeting.id) == state
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).status is ReferralStatus.ACCEPTED


def test_minutes_of_a_meeting_not_held_cannot_be_approved(client: FlaskClient, login_as, world: World,
                                                          smtp: CapturedMail) -> None:
    referral = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[referral],
                           starts_in=-timedelta(hours=3))
    db.session.commit()
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    response = form_post(client, f"/meetings/{meeting.id}/minutes", minutes_notes="Next panel in May.",
                         approve="Approve and send to each agency")
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert any("Mark the meeting as held before approving its minutes" in text
               for text, _href in error_summary(response))
    # Not even the general notes typed with the refused approval are kept.
    assert row_counts() == before and meeting_state(meeting.id) == state
    assert smtp.messages == []


# --- Over-long text ------------------------------------------------------------------------------


def _meeting_with_a_case(world: World, **kwargs: Any) -> tuple[PanelMeeting, int]:
    referral = accepted_referral(world)
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[referral], **kwargs)
    db.session.commit()
    return meeting, meeting.items[0].id


@pytest.mark.parametrize("field", ["notes", "decisions"])
def test_huge_notes_are_refused(client: FlaskClient, login_as, world: World, field: str) -> None:
    meeting, item_id = _meeting_with_a_case(world)
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    form = hidden_fields(client, f"/meetings/{meeting.id}/run", f"/items/{item_id}/notes")
    response = client.post(f"/meetings/{meeting.id}/items/{item_id}/notes",
                           data={**form, f"item{item_id}-{field}": HUGE})
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert "Must be 20000 characters or fewer" in response.text
    assert row_counts() == before and meeting_state(meeting.id) == state


def test_huge_notes_sent_by_the_autosave_are_refused_in_json(client: FlaskClient, login_as, world: World) -> None:
    """The autosave script reads JSON back and shows ``error.message``: an HTML error page would
    leave it saying the text is "kept on this laptop" and retrying for ever."""
    meeting, item_id = _meeting_with_a_case(world)
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    form = hidden_fields(client, f"/meetings/{meeting.id}/run", f"/items/{item_id}/notes")
    response = client.post(f"/meetings/{meeting.id}/items/{item_id}/notes",
                           data={**form, f"item{item_id}-notes": HUGE}, headers={"Accept": "application/json"})
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert row_counts() == before and meeting_state(meeting.id) == state
    assert response.is_json, response.mimetype
    assert "20000 characters" in response.get_json()["error"]["message"] + str(response.get_json()["error"])


@pytest.mark.parametrize(
    ("path", "field", "limit"),
    [
        pytest.param("minutes", "minutes_notes", 20_000, id="minutes"),
        pytest.param("cancel", "reason", 2000, id="cancellation-reason"),
    ],
)
def test_huge_meeting_text_is_refused_on_the_form(client: FlaskClient, login_as, world: World,
                                                  smtp: CapturedMail, path: str, field: str, limit: int) -> None:
    meeting, _item_id = _meeting_with_a_case(world, starts_in=-timedelta(hours=1) if path == "minutes"
                                             else timedelta(days=7))
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    for button in ({"save": "Save draft"}, {"approve": "Approve"}) if path == "minutes" else ({},):
        response = form_post(client, f"/meetings/{meeting.id}/{path}", **{field: HUGE}, **button)
        assert_no_stack_trace(response)
        assert response.status_code == 400
        assert_summary_names(response, f"Must be {limit} characters or fewer", field)
    assert row_counts() == before and meeting_state(meeting.id) == state
    assert smtp.messages == []


def test_huge_views_update_and_attendance_are_refused(client: FlaskClient, login_as, world: World) -> None:
    referral = accepted_referral(world, shared_with=[(world.housing, None)])
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[referral])
    service.request_updates(world.broker, meeting, today())
    db.session.commit()
    item_id = meeting.items[0].id
    before, state = row_counts(), meeting_state(meeting.id)

    login_as(world.broker)
    response = form_post(client, f"/meetings/{meeting.id}/items/{item_id}/views", young_person_views=HUGE)
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert_summary_names(response, "Must be 20000 characters or fewer", "young_person_views")
    form = hidden_fields(client, f"/meetings/{meeting.id}/run", f"/meetings/{meeting.id}/attendance")
    response = client.post(f"/meetings/{meeting.id}/attendance",
                           data={**form, f"status_{world.yot.id}": "present", f"attendees_{world.yot.id}": HUGE})
    assert_no_stack_trace(response)
    assert response.status_code == 400

    client.post("/sign-out", data=hidden_fields(client, "/", "/sign-out"))
    sign_in(client, world.housing_staff.email)
    response = form_post(client, f"/meetings/{meeting.id}/items/{item_id}/update", update=HUGE)
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert_summary_names(response, "Must be 20000 characters or fewer", "update")
    assert row_counts() == before and meeting_state(meeting.id) == state
    db.session.expire_all()
    assert all(r.response is None for r in meeting_state_requests(meeting.id))


def meeting_state_requests(meeting_id: int) -> list[Any]:
    db.session.expire_all()
    meeting = db.session.get(PanelMeeting, meeting_id)
    assert meeting is not None
    return [request for item in meeting.items for request in item.update_requests]


def test_editing_with_bad_times_changes_nothing_and_sends_nothing(client: FlaskClient, login_as, world: World,
                                                                  smtp: CapturedMail) -> None:
    meeting = make_meeting(partnership=world.partnership, broker=world.broker)
    db.session.commit()
    login_as(world.broker)
    before, state = row_counts(), meeting_state(meeting.id)
    invited = [str(a.id) for a in world.partnership.agencies]
    cases = [
        ({"starts": "12:00", "ends": "10:00"}, 422, "The meeting must end after it starts", "ends"),
        ({"starts": "10:00", "ends": "10:00"}, 422, "The meeting must end after it starts", "ends"),
        ({"starts": "25:00", "ends": "10:00"}, 400, "Enter a time like 10:00 or 14:30", "starts"),
        ({"starts": "10:00", "ends": "12:00", "location": "", "online_link": ""}, 422,
         "Give a place, an online link, or both", "location"),
        ({"starts": "10:00", "ends": "12:00", "online_link": "javascript:alert(1)"}, 422,
         "The online link must start with https://", "online_link"),
        ({"starts": "10:00", "ends": "12:00", "day": ["29", "2", "2027"]}, 400, "Date must be a real date", "day-day"),
    ]
    for fields, status, message, field_id in cases:
        data = {"day": dmy(future_day(3)), "location": "Town hall", "invited": invited, **fields}
        response = form_post(client, f"/meetings/{meeting.id}/edit", **data)
        assert_no_stack_trace(response)
        assert response.status_code == status, fields
        assert_summary_names(response, message, field_id)
    assert row_counts() == before and meeting_state(meeting.id) == state
    assert smtp.messages == []


def test_a_stale_version_on_the_edit_and_cancel_forms_is_a_409(client: FlaskClient, login_as, world: World,
                                                               smtp: CapturedMail) -> None:
    meeting = make_meeting(partnership=world.partnership, broker=world.broker)
    db.session.commit()
    login_as(world.broker)
    stale = str(meeting.version)
    service.reschedule(world.broker, meeting, service.MeetingDetails(
        local(2027, 11, 2, 10), local(2027, 11, 2, 12), location="Town hall"))
    db.session.commit()
    before, state = row_counts(), meeting_state(meeting.id)
    for path, fields in (("edit", {"day": dmy(future_day(3)), "starts": "10:00", "ends": "12:00",
                                   "location": "Elsewhere", "invited": [str(world.yot.id)]}),
                         ("cancel", {"reason": "Clash"})):
        response = form_post(client, f"/meetings/{meeting.id}/{path}", version=stale, **fields)
        assert_no_stack_trace(response)
        assert response.status_code == 409, path
        assert any("Someone else changed this meeting" in text for text, _href in error_summary(response))
    assert row_counts() == before and meeting_state(meeting.id) == state
    assert meeting_state(meeting.id)[4] is MeetingStatus.SCHEDULED
    assert smtp.messages == []


def test_out_of_range_meeting_and_item_ids_are_404s(client: FlaskClient, login_as, api_token, world: World) -> None:
    meeting, item_id = _meeting_with_a_case(world)
    login_as(world.broker)
    for url in ("/meetings/999999", f"/meetings/{2**31}", f"/meetings/{2**63}", "/meetings/999999/run",
                f"/meetings/{meeting.id}/items/999999/views"):
        response = client.get(url)
        assert_no_stack_trace(response)
        assert response.status_code == 404, url
    for url in ("/api/v1/meetings/999999", f"/api/v1/meetings/{2**63}", "/api/v1/meetings/999999/invite.ics"):
        response = client.get(url, headers=api_token(world.broker))
        assert response.status_code == 404, url
    response = client.get(f"/meetings/{meeting.id}/pack.pdf?agency=abc")
    assert_no_stack_trace(response)
    assert response.status_code == 400
    response = client.get(f"/meetings/{meeting.id}/pack.pdf?agency={world.outsider.id}")
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert item_id in [item.id for item in meeting_by_id(meeting.id).items]
