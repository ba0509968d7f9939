"""Hostile input gets a clear 4xx naming what is wrong, never a 500: JSON nested hundreds deep (before
sign-in), dates with a 20-digit day or a ten-digit year in every form that asks for a date, a
400-digit number of minutes; and a database that cannot be reached is a 503 (the JSON error on the
API, a plain page for people), never a stack trace.
"""

from __future__ import annotations

import inspect
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.models import AgendaItem, Partnership, Role, User, db
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services.clock import today
from panel_app.web import forms
from tests.conftest import PASSWORD, build_app, csrf_token_from, sign_in
from tests.factories import make_agency, make_gap, make_meeting, make_partnership, make_referral, make_user

TWENTY_DIGITS = "99999999999999999999"
TEN_DIGIT_YEAR = "2026000000"
FOUR_HUNDRED_DIGITS = "9" * 400


def assert_no_stack_trace(response: Any) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code < 500, text[:2000]
    assert "Traceback" not in text and 'File "/' not in text
    assert "sqlalchemy" not in text.lower() and "psycopg" not in text.lower()


# --- JSON nested hundreds deep -------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth  # depth 491 is 982 bytes


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/referrals", "/sign-in", "/no-such-page"])
@pytest.mark.parametrize("depth", [491, 500, 5000])
def test_deeply_nested_json_is_a_400_before_sign_in(client: FlaskClient, path: str, depth: int) -> None:
    response = client.post(path, data=nested(depth), content_type="application/json")
    assert_no_stack_trace(response)
    assert response.status_code == 400
    if path.startswith("/api/"):
        error = response.get_json()["error"]
        assert error["code"] == "bad_request"
        assert "The JSON is nested too deeply" in error["message"]
        assert error["fields"] == {"body": "Nested too deeply"}
    # Pages: the CSRF check (which reads no JSON) may refuse it first; a 400 either way.


def test_nesting_inside_an_object_and_brackets_inside_strings(client: FlaskClient) -> None:
    deep = '{"email": ' + '{"a": ' * 300 + "1" + "}" * 300 + ', "password": "x"}'
    response = client.post("/api/v1/auth/token", data=deep, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["error"]["message"]
    # Brackets inside strings are text, not nesting: this is an ordinary failed sign-in.
    make_user(Role.BROKER, email="brackets@example.org")
    response = client.post("/api/v1/auth/token", json={"email": "brackets@example.org", "password": "[" * 200})
    assert response.status_code == 401


def test_json_nested_a_few_levels_is_read_as_before(client: FlaskClient, api_token: Any) -> None:
    broker = make_user(Role.BROKER)
    headers = api_token(broker)
    # Ten levels is no problem of nesting: the body reaches the usual checks (and is refused by them).
    ten_deep = client.post("/api/v1/referrals", json={"needs": {"x": [[[[[[[[[[1]]]]]]]]]]}}, headers=headers)
    assert ten_deep.status_code == 400
    assert "nested too deeply" not in ten_deep.get_json()["error"]["message"]


# --- Dates: every form that asks for one ---------------------------------------------------------


@dataclass
class Scene:
    broker: User
    referrer: User
    lead: User
    partnership_id: int
    referral_id: int
    meeting_id: int
    item_id: int
    action_id: int
    version_id: int
    gap_id: int


@pytest.fixture
def scene() -> Scene:
    yot, housing = make_agency(type="yot"), make_agency(type="housing")
    broker = make_user(Role.BROKER)
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    partnership = make_partnership(agencies=[yot, housing], brokers=[broker])
    referral = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted")
    meeting = make_meeting(partnership=partnership, broker=broker, agenda=[referral])
    action = action_service.create_action(broker, referral, action_service.NewAction(
        pathway=Pathway.ACCOMMODATION, description="Find supported lodgings before release.",
        agency_id=housing.id, due_on=today() + timedelta(days=10)))
    version = action_service.save_plan_version(broker, referral)
    lead = make_user(Role.STRATEGIC_LEAD, region=partnership.region)
    gap = make_gap(partnership=partnership, by=broker, evidence=[referral], status="escalated")
    make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted")  # evidence to add
    db.session.commit()
    return Scene(broker, referrer, lead, partnership.id, referral.id, meeting.id, meeting.items[0].id, action.id, version.id, gap.id)


@dataclass(frozen=True)
class DateForm:
    form: type
    who: str  # "broker", "referrer" or "lead"
    page: str  # the page that shows the form
    posts_to: str  # the end of the URL the form posts to


def date_forms(s: Scene) -> list[DateForm]:
    r, m, a, g = s.referral_id, s.meeting_id, s.action_id, s.gap_id
    return [
        DateForm(forms.ReferralForm, "referrer", "/referrals/new", "/referrals/new"),
        DateForm(forms.ConsentForm, "broker", f"/referrals/{r}/consent", f"/referrals/{r}/consent"),
        DateForm(forms.WithdrawConsentForm, "broker", f"/referrals/{r}/consent/withdraw", "/consent/withdraw"),
        DateForm(forms.MeetingForm, "broker", "/meetings/new", "/meetings/new"),
        DateForm(forms.MeetingForm, "broker", f"/meetings/{m}/edit", f"/meetings/{m}/edit"),
        DateForm(forms.RequestUpdatesForm, "broker", f"/meetings/{m}/request-updates", "/request-updates"),
        DateForm(forms.ActionForm, "broker", f"/referrals/{r}/actions/new", f"/referrals/{r}/actions/new"),
        DateForm(forms.ActionForm, "broker", f"/meetings/{m}/run", f"/items/{s.item_id}/actions"),
        DateForm(forms.ActionUpdateForm, "broker", f"/actions/{a}", f"/actions/{a}/update"),
        DateForm(forms.MilestoneForm, "broker", f"/referrals/{r}/plan", "/plan/milestones"),
        DateForm(forms.PlanSharedForm, "broker", f"/referrals/{r}/plan", f"/plan/versions/{s.version_id}/shared"),
        DateForm(forms.EvidenceForm, "broker", f"/gaps/{g}", f"/gaps/{g}/evidence"),
        DateForm(forms.RespondForm, "lead", f"/gaps/{g}/respond", f"/gaps/{g}/respond"),
    ]


def _date_field_classes() -> set[type]:
    """Every form class of ours that has a date field (found by looking, so a new one is not missed)."""
    found = set()
    for _name, form_class in inspect.getmembers(forms, inspect.isclass):
        if not issubclass(form_class, forms.FlaskForm) or form_class is forms.FlaskForm:
            continue
        fields = [value for value in vars(form_class).values()] + [
            value for base in form_class.__mro__ for value in vars(base).values()]
        if any(getattr(field, "field_class", None) is forms.DayMonthYearField for field in fields):
            found.add(form_class)
    return found


def test_every_form_with_a_date_is_in_the_table(scene: Scene) -> None:
    assert _date_field_classes() == {case.form for case in date_forms(scene)}
    assert len(_date_field_classes()) >= 11


def _form_on(page_html: str, page_url: str, posts_to: str) -> Any:
    soup = BeautifulSoup(page_html, "html.parser")
    for form in soup.find_all("form"):
        action = form.get("action") or ""
        if action.split("?")[0].endswith(posts_to) or (not action and page_url.endswith(posts_to)):
            return form
    raise AssertionError(f"no form posting to ...{posts_to} on {page_url}")


def _date_fields(form: Any) -> dict[str, str]:
    """The form's date fields: name -> the question (the legend of the day/month/year boxes)."""
    fields = {}
    for fieldset in form.find_all("fieldset"):
        boxes = fieldset.find_all("input", attrs={"inputmode": "numeric"})
        names = {box["name"] for box in boxes}
        if len(boxes) == 3 and len(names) == 1:
            fields[names.pop()] = fieldset.find("legend").get_text(" ", strip=True)
    return fields


@pytest.mark.parametrize("boxes", [(TWENTY_DIGITS, "1", "2026"), ("1", TWENTY_DIGITS, "2026"), ("1", "1", TEN_DIGIT_YEAR)],
                         ids=["20-digit day", "20-digit month", "10-digit year"])
def test_a_date_too_large_is_a_4xx_naming_the_field_on_every_form(app: Flask, scene: Scene,
                                                                   boxes: tuple[str, str, str]) -> None:
    people = {"broker": scene.broker, "referrer": scene.referrer, "lead": scene.lead}
    clients: dict[str, FlaskClient] = {}
    for case in date_forms(scene):
        if case.who not in clients:
            clients[case.who] = app.test_client()
            assert sign_in(clients[case.who], people[case.who].email).status_code == 302
        client = clients[case.who]
        page = client.get(case.page)
        assert page.status_code == 200, case
        form = _form_on(page.text, case.page, case.posts_to)
        dates = _date_fields(form)
        assert dates, f"no date boxes in the form of {case}"
        data: dict[str, Any] = {i["name"]: i.get("value", "") for i in form.find_all("input", attrs={"type": "hidden"})}
        data.update({name: list(boxes) for name in dates})
        response = client.post(form.get("action") or case.page, data=data)
        assert_no_stack_trace(response)
        assert response.status_code == 400, (case, response.status_code)
        for name in dates:
            label = _label_of(case.form, name)
            assert f"{label} must be a real date" in response.text, (case, label)


def _label_of(form_class: type, name: str) -> str:
    """The question a date field asks (its label), from the form class; ``name`` may carry a prefix."""
    for base in form_class.__mro__:
        for attribute, value in vars(base).items():
            if getattr(value, "field_class", None) is forms.DayMonthYearField and name.split("-")[-1] == attribute:
                label = value.kwargs.get("label") or value.args[0]
                return str(label)
    raise AssertionError(f"{name} is not a date field of {form_class.__name__}")


def test_a_date_too_large_in_the_api_is_a_400_naming_the_field(client: FlaskClient, api_token: Any,
                                                                scene: Scene) -> None:
    headers = api_token(scene.broker)
    for value in (f"{TEN_DIGIT_YEAR}-01-01", f"2026-01-{TWENTY_DIGITS}", TWENTY_DIGITS):
        response = client.post(f"/api/v1/referrals/{scene.referral_id}/actions", headers=headers, json={
            "pathway": "accommodation", "description": "Find lodgings", "agency_id": 1, "due_date": value})
        assert_no_stack_trace(response)
        assert response.status_code == 400, response.get_json()
        assert "due_date" in response.get_json()["error"]["fields"]


# --- A 400-digit number ---------------------------------------------------------------------------


def test_four_hundred_digits_of_minutes_is_a_4xx_naming_the_field(app: Flask, scene: Scene, api_token: Any) -> None:
    client = app.test_client()
    assert sign_in(client, scene.broker.email).status_code == 302
    agenda = f"/meetings/{scene.meeting_id}/agenda"
    token = csrf_token_from(client.get(agenda).text)
    # Changing the time box of the item already on the agenda.
    changed = client.post(f"{agenda}/{scene.item_id}", data={"csrf_token": token, "action": "minutes",
                                                               "minutes_allotted": FOUR_HUNDRED_DIGITS})
    assert_no_stack_trace(changed)
    assert changed.status_code == 400
    assert "Enter a smaller whole number" in changed.text
    assert db.session.get(AgendaItem, scene.item_id).minutes_allotted == 20
    # Adding another referral with it.
    other = make_referral(partnership=db.session.get(Partnership, scene.partnership_id), broker=scene.broker,
                          referrer=scene.referrer,
                          status="accepted")
    db.session.commit()
    added = client.post(agenda, data={"csrf_token": token, "referral_id": str(other.id), "kind": "review",
                                      "minutes_allotted": FOUR_HUNDRED_DIGITS})
    assert_no_stack_trace(added)
    assert added.status_code == 400
    assert "Enter a smaller whole number" in added.text
    # And through the API.
    by_api = client.post(f"/api/v1/meetings/{scene.meeting_id}/agenda", headers=api_token(scene.broker),
                         data='{"referral_id": %d, "kind": "review", "minutes_allotted": %s}'
                         % (other.id, FOUR_HUNDRED_DIGITS), content_type="application/json")
    assert_no_stack_trace(by_api)
    assert by_api.status_code == 400
    assert "minutes_allotted" in by_api.get_json()["error"]["fields"]


# --- The database cannot be reached -------------------------------------------------------------


@pytest.fixture
def no_database() -> Flask:
    """The app pointed at a database server that refuses connections (a closed port on loopback)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when this block ends: nothing listens there
    url = f"postgresql+psycopg://nobody@127.0.0.1:{port}/panel_app?connect_timeout=2"
    return build_app(url)


def test_the_api_answers_503_with_the_json_error_when_the_database_is_down(no_database: Flask) -> None:
    client = no_database.test_client()
    for method, path, kwargs in (("get", "/api/v1/me", {"headers": {"Authorization": "Bearer abc"}}),
                                 ("post", "/api/v1/auth/token", {"json": {"email": "a@b.org", "password": "x"}})):
        response = getattr(client, method)(path, **kwargs)
        assert response.status_code == 503, response.get_data(as_text=True)[:2000]
        assert response.mimetype == "application/json"
        error = response.get_json()["error"]
        assert error["code"] == "unavailable"
        assert "cannot reach its database" in error["message"]
        assert_no_stack_trace_in(response)


def test_pages_answer_a_plain_503_page_when_the_database_is_down(no_database: Flask) -> None:
    # The CSRF token lives in the session, which lives in the database: without it no form could be
    # posted at all. Off for this app only, so that the sign-in reaches the database.
    no_database.config["WTF_CSRF_ENABLED"] = False
    client = no_database.test_client()
    assert client.get("/sign-in").status_code == 200  # the sign-in form itself needs no database
    signing_in = client.post("/sign-in", data={"email": "a@b.org", "password": PASSWORD})
    # A calendar program asking for its feed (public: the secret is in its address).
    feed = client.get("/calendar/" + "a" * 40 + ".ics")
    for response in (signing_in, feed):
        assert response.status_code == 503, response.get_data(as_text=True)[:2000]
        assert response.mimetype == "text/html"
        assert "Sorry, the service is unavailable" in response.text
        assert "cannot reach its database" in response.text
        assert "Retry-After" in response.headers
        assert_no_stack_trace_in(response)
    # Someone signed in before the database went: their session cannot be read. They are told the
    # service is unavailable, not sent to sign in (which would lose what they were doing).
    client.set_cookie("panel_session", "a" * 43)
    mid_work = client.get("/referrals/")
    assert mid_work.status_code == 503 and "cannot reach its database" in mid_work.text
    assert client.get("/healthz").status_code == 503


def assert_no_stack_trace_in(response: Any) -> None:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "/' not in text
    assert "sqlalchemy" not in text.lower() and "psycopg" not in text.lower() and "127.0.0.1" not in text
