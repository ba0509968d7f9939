"""Meeting mode and minutes: notes that save as the broker types (and never overwrite someone
else's), attendance per invited agency, marking the meeting held, and approving the minutes: each
agency is sent its own PDF naming only the cases it is involved in, once, and the record is then
closed to change."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pypdf
import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.models import (
    Agency,
    AgendaItem,
    AttendanceStatus,
    MeetingStatus,
    MinutesStatus,
    PanelMeeting,
    Partnership,
    Referral,
    ReferralStatus,
    Role,
    SentEmail,
    User,
    db,
)
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import (ARTIFACTS, PASSWORD, CapturedMail, LiveServer, csrf_token_from, forget_queued_emails,
                            sign_in)
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_user
from tests.meeting_helpers import (
    form_post,
    hidden_fields,
    meeting_by_id,
    meeting_state,
    message_text,
    row_counts,
    subject,
)
from tests.test_referral_input import assert_no_stack_trace, error_summary

# Three young people whose names show who may read what.
ALYS = ("Zephyrine", "Quillfeather")  # referred by the YOT, shared with housing
BRYN = ("Ignatius", "Wolstenholme")  # referred by the YOT, shared with health
CERI = ("Marigold", "Featherstonehaugh")  # referred by health, shared with nobody


@dataclass
class World:
    broker: User
    co_broker: User  # a second broker of the same partnership, on another laptop
    partnership: Partnership
    yot: Agency
    housing: Agency
    health: Agency
    police: Agency  # invited, involved in no case
    education: Agency  # invited, no contact email
    yot_staff: User
    health_staff: User
    alys: Referral
    bryn: Referral
    ceri: Referral


def _person(names: tuple[str, str]) -> YoungPersonDetails:
    return YoungPersonDetails(names[0], names[1], date(2009, 5, 17))


@pytest.fixture
def world() -> World:
    yot = make_agency(type="yot", name="Conwy YOT", contact_email="yot@conwy.example.org")
    housing = make_agency(type="housing", name="Conwy Housing", contact_email="housing@conwy.example.org")
    health = make_agency(type="health", name="North Wales Health", contact_email="health@nhs.example.org")
    police = make_agency(type="police", name="North Wales Police", contact_email="police@nwp.example.org")
    education = make_agency(type="education", name="Conwy College", contact_email=None)
    broker = make_user(Role.BROKER, name="Bethan Broker")
    co_broker = make_user(Role.BROKER, name="Cai Co-broker")
    partnership = make_partnership(name="Conwy", agencies=[yot, housing, health, police, education],
                                   brokers=[broker, co_broker])
    yot_staff = make_user(Role.AGENCY_STAFF, agency=yot)
    health_staff = make_user(Role.AGENCY_STAFF, agency=health)
    alys = make_referral(partnership=partnership, referrer=yot_staff, broker=broker, status="accepted",
                         shared_with=[(housing, None)], young_person=_person(ALYS))
    bryn = make_referral(partnership=partnership, referrer=yot_staff, broker=broker, status="accepted",
                         shared_with=[(health, None)], young_person=_person(BRYN))
    ceri = make_referral(partnership=partnership, referrer=health_staff, broker=broker, status="active",
                         young_person=_person(CERI))
    db.session.commit()
    return World(broker, co_broker, partnership, yot, housing, health, police, education, yot_staff, health_staff,
                 alys, bryn, ceri)


def started_meeting(world: World) -> PanelMeeting:
    """The panel, started an hour ago, with the three cases on its agenda."""
    meeting = make_meeting(partnership=world.partnership, broker=world.broker,
                           agenda=[world.alys, world.bryn, world.ceri], starts_in=-timedelta(hours=1))
    db.session.commit()
    forget_queued_emails()  # its invitations: the tests here count the minutes' emails
    return meeting


def item_for(meeting: PanelMeeting, referral: Referral) -> AgendaItem:
    return next(item for item in meeting_by_id(meeting.id).items if item.referral_id == referral.id)


def notes_form(client: FlaskClient, meeting: PanelMeeting, item: AgendaItem) -> dict[str, str]:
    """The hidden fields of a case's notes form in meeting mode, as the page gave them."""
    return hidden_fields(client, f"/meetings/{meeting.id}/run", f"/items/{item.id}/notes")


def save_notes(client: FlaskClient, meeting: PanelMeeting, item: AgendaItem, form: dict[str, str], notes: str,
               decisions: str = "", *, json: bool = True) -> Any:
    data = {**form, f"item{item.id}-notes": notes, f"item{item.id}-decisions": decisions}
    headers = {"Accept": "application/json"} if json else {}
    return client.post(f"/meetings/{meeting.id}/items/{item.id}/notes", data=data, headers=headers)


def second_client(app: Flask, user: User) -> FlaskClient:
    other = app.test_client()
    response = sign_in(other, user.email)
    assert response.status_code == 302
    return other


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


# --- Autosave -----------------------------------------------------------------------------------


def test_autosave_saves_and_returns_the_new_version(client: FlaskClient, login_as, world: World) -> None:
    meeting = started_meeting(world)
    item = item_for(meeting, world.alys)
    version = item.version
    login_as(world.broker)
    form = notes_form(client, meeting, item)
    assert form[f"item{item.id}-version"] == str(version)
    response = save_notes(client, meeting, item, form, "Lodgings place confirmed for release.", "Housing to confirm.")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    body = response.get_json()
    assert body["version"] == version + 1
    assert body["message"].startswith("Saved at ") and body["message"].endswith(body["saved_at"])
    saved = item_for(meeting, world.alys)
    assert (saved.notes, saved.decisions, saved.version) == ("Lodgings place confirmed for release.",
                                                             "Housing to confirm.", version + 1)
    assert saved.updated_by_id == world.broker.id
    # The next save names the version the page now holds.
    form[f"item{item.id}-version"] = str(body["version"])
    response = save_notes(client, meeting, item, form, "Lodgings place confirmed. Start date 3 May.",
                          "Housing to confirm.")
    assert response.status_code == 200 and response.get_json()["version"] == version + 2
    assert item_for(meeting, world.alys).notes == "Lodgings place confirmed. Start date 3 May."
    # The page shows the saved text, and the version to send next.
    assert notes_form(client, meeting, item)[f"item{item.id}-version"] == str(version + 2)
    page = BeautifulSoup(client.get(f"/meetings/{meeting.id}/run").text, "html.parser")
    assert page.find("textarea", attrs={"name": f"item{item.id}-notes"}).get_text() == \
        "Lodgings place confirmed. Start date 3 May."


def test_autosave_conflict_keeps_the_first_text_and_shows_it_to_the_second(app: Flask, client: FlaskClient,
                                                                          login_as, world: World) -> None:
    meeting = started_meeting(world)
    item = item_for(meeting, world.bryn)
    first = login_as(world.broker)
    second = second_client(app, world.co_broker)
    first_form = notes_form(first, meeting, item)
    second_form = notes_form(second, meeting, item)  # both laptops opened meeting mode at the same version
    assert first_form[f"item{item.id}-version"] == second_form[f"item{item.id}-version"]

    response = save_notes(first, meeting, item, first_form, "Bethan's notes: CAMHS appointment booked.",
                          "Review in May")
    assert response.status_code == 200
    saved_version = response.get_json()["version"]

    before, state = row_counts(), meeting_state(meeting.id)
    response = save_notes(second, meeting, item, second_form, "Cai's notes: typed over the top.")
    assert_no_stack_trace(response)
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"]["code"] == "conflict"
    assert "Bethan Broker saved these notes" in body["error"]["message"]
    assert body["current"] == {"notes": "Bethan's notes: CAMHS appointment booked.", "decisions": "Review in May",
                               "version": saved_version}
    # Nothing of the second text was saved.
    assert row_counts() == before and meeting_state(meeting.id) == state
    saved = item_for(meeting, world.bryn)
    assert (saved.notes, saved.version, saved.updated_by_id) == ("Bethan's notes: CAMHS appointment booked.",
                                                                 saved_version, world.broker.id)
    # Having seen the other text, the second broker saves on top of it knowingly.
    second_form[f"item{item.id}-version"] = str(body["current"]["version"])
    response = save_notes(second, meeting, item, second_form, "Both: CAMHS booked; Cai adds the school visit.",
                          "Review in May")
    assert response.status_code == 200
    assert item_for(meeting, world.bryn).updated_by_id == world.co_broker.id


def test_a_conflict_without_javascript_is_a_409_page_with_the_message(app: Flask, client: FlaskClient, login_as,
                                                                     world: World) -> None:
    meeting = started_meeting(world)
    item = item_for(meeting, world.ceri)
    first = login_as(world.broker)
    second = second_client(app, world.co_broker)
    first_form, second_form = notes_form(first, meeting, item), notes_form(second, meeting, item)
    assert save_notes(first, meeting, item, first_form, "First text", json=False).status_code == 302
    before, state = row_counts(), meeting_state(meeting.id)
    response = save_notes(second, meeting, item, second_form, "Second text", json=False)
    assert_no_stack_trace(response)
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    text = BeautifulSoup(response.text, "html.parser").find("main").get_text(" ", strip=True)
    assert "Bethan Broker saved these notes" in text and "after you opened them" in text
    assert row_counts() == before and meeting_state(meeting.id) == state
    assert item_for(meeting, world.ceri).notes == "First text"


def test_only_the_partnerships_brokers_can_save_notes(client: FlaskClient, login_as, world: World) -> None:
    meeting = started_meeting(world)
    item = item_for(meeting, world.alys)
    login_as(world.broker)
    form = notes_form(client, meeting, item)
    client.post("/sign-out", data=hidden_fields(client, "/", "/sign-out"))
    sign_in(client, world.yot_staff.email)
    form["csrf_token"] = csrf_token_from(client.get("/").text)  # a valid form: what refuses it is the role
    before, state = row_counts(), meeting_state(meeting.id)
    assert client.get(f"/meetings/{meeting.id}/run").status_code == 403
    response = save_notes(client, meeting, item, form, "Not mine to write")
    assert_no_stack_trace(response)
    assert response.status_code == 403
    assert row_counts() == before and meeting_state(meeting.id) == state


# --- Recording an action in place ----------------------------------------------------------------


@pytest.mark.parametrize(("due", "description", "field", "message", "status"), [
    pytest.param(-1, "Find a place before release", "due_on", "The due date must be today or later", 422,
                 id="due-yesterday"),
    pytest.param(7, "", "description", "Say what the agency will do", 400, id="no-description"),
])
def test_a_refused_action_in_meeting_mode_keeps_what_was_typed_on_the_meeting_page(
        client: FlaskClient, login_as, world: World, due: int, description: str, field: str, message: str,
        status: int) -> None:
    """In a live panel a refusal must not lose the broker's typing nor leave the meeting page: the page
    comes back with the error summary, and the case's action form open with what was typed."""
    meeting = started_meeting(world)
    item = item_for(meeting, world.alys)
    login_as(world.broker)
    prefix = f"r{world.alys.id}-"
    fields = hidden_fields(client, f"/meetings/{meeting.id}/run", f"/items/{item.id}/actions")
    day = date.today() + timedelta(days=due)
    before = row_counts()
    response = client.post(f"/meetings/{meeting.id}/items/{item.id}/actions", data={
        **fields, f"{prefix}pathway": "accommodation", f"{prefix}description": description,
        f"{prefix}agency_id": str(world.housing.id), f"{prefix}owner_user_id": "0",
        f"{prefix}due_on": [str(day.day), str(day.month), str(day.year)]})
    assert_no_stack_trace(response)
    assert response.status_code == status
    assert row_counts() == before
    page = BeautifulSoup(response.text, "html.parser")
    assert page.title.get_text().startswith("Error: Meeting mode")  # still the meeting page
    summary = error_summary(response)
    assert any(message in text and (link or "").startswith(f"#{prefix}{field}") for text, link in summary), summary
    form = page.find("form", action=f"/meetings/{meeting.id}/items/{item.id}/actions")
    assert form.find_parent("details").has_attr("open")
    if description:
        assert form.find("textarea", attrs={"name": f"{prefix}description"}).get_text().strip() == description


# --- Attendance and holding the meeting -----------------------------------------------------------


def test_attendance_is_recorded_per_invited_agency(client: FlaskClient, login_as, world: World) -> None:
    meeting = started_meeting(world)
    outsider = make_agency(name="Cardiff Housing")
    db.session.commit()
    login_as(world.broker)
    form = hidden_fields(client, f"/meetings/{meeting.id}/run", f"/meetings/{meeting.id}/attendance")
    statuses = {world.yot: ("present", "Sam Jones, case manager"), world.housing: ("apologies", ""),
                world.health: ("information_sent", ""), world.police: ("absent", "")}
    # As a browser sends the form: every select, "" for "Not recorded".
    data = {**form, f"status_{world.education.id}": "", f"attendees_{world.education.id}": "",
            f"status_{outsider.id}": "present", f"attendees_{outsider.id}": "Gatecrasher"}
    for agency, (status, attendees) in statuses.items():
        data[f"status_{agency.id}"] = status
        data[f"attendees_{agency.id}"] = attendees
    response = client.post(f"/meetings/{meeting.id}/attendance", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    recorded = {row.agency_id: (row.status, row.attendees) for row in meeting_by_id(meeting.id).attendance}
    assert recorded == {
        world.yot.id: (AttendanceStatus.PRESENT, "Sam Jones, case manager"),
        world.housing.id: (AttendanceStatus.APOLOGIES, None),
        world.health.id: (AttendanceStatus.INFORMATION_SENT, None),
        world.police.id: (AttendanceStatus.ABSENT, None),
    }  # education left "not recorded"; the agency not invited is not recorded at all
    # Meeting mode shows what was recorded.
    page = BeautifulSoup(client.get(f"/meetings/{meeting.id}/run").text, "html.parser")
    chosen = page.find("select", attrs={"name": f"status_{world.health.id}"}).find("option", selected=True)
    assert chosen["value"] == "information_sent"

    # Changed later in the meeting: housing arrives, the police row is cleared.
    data.update({f"status_{world.housing.id}": "present", f"attendees_{world.housing.id}": "Rhian (late)",
                 f"status_{world.police.id}": ""})
    data.update(hidden_fields(client, f"/meetings/{meeting.id}/run", f"/meetings/{meeting.id}/attendance"))
    assert client.post(f"/meetings/{meeting.id}/attendance", data=data).status_code == 302
    recorded = {row.agency_id: (row.status, row.attendees) for row in meeting_by_id(meeting.id).attendance}
    assert recorded[world.housing.id] == (AttendanceStatus.PRESENT, "Rhian (late)")
    assert world.police.id not in recorded and len(recorded) == 3

    # A status that is not one of the choices changes nothing.
    before, state = row_counts(), meeting_state(meeting.id)
    data.update(hidden_fields(client, f"/meetings/{meeting.id}/run", f"/meetings/{meeting.id}/attendance"))
    data[f"status_{world.yot.id}"] = "asleep"
    response = client.post(f"/meetings/{meeting.id}/attendance", data=data)
    assert_no_stack_trace(response)
    assert response.status_code == 400
    assert row_counts() == before and meeting_state(meeting.id) == state


def test_marking_held_makes_accepted_referrals_on_the_agenda_active(client: FlaskClient, login_as,
                                                                   world: World) -> None:
    meeting = started_meeting(world)
    waiting = make_referral(partnership=world.partnership, referrer=world.yot_staff, broker=world.broker,
                            status="accepted")  # accepted, but not on this agenda
    db.session.commit()
    login_as(world.broker)
    form = hidden_fields(client, f"/meetings/{meeting.id}/run", f"/meetings/{meeting.id}/held")
    response = client.post(f"/meetings/{meeting.id}/held", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"].endswith(f"/meetings/{meeting.id}/minutes")
    held = meeting_by_id(meeting.id)
    assert held.status is MeetingStatus.HELD and held.held_at is not None
    statuses = {r.id: db.session.get(Referral, r.id).status for r in (world.alys, world.bryn, world.ceri, waiting)}
    assert statuses == {world.alys.id: ReferralStatus.ACTIVE, world.bryn.id: ReferralStatus.ACTIVE,
                        world.ceri.id: ReferralStatus.ACTIVE, waiting.id: ReferralStatus.ACCEPTED}
    # Held once only.
    before, state = row_counts(), meeting_state(meeting.id)
    response = client.post(f"/meetings/{meeting.id}/held", data={**form, "version": str(held.version)})
    assert_no_stack_trace(response)
    assert response.status_code == 422 and "already marked as held" in response.text
    assert row_counts() == before and meeting_state(meeting.id) == state


# --- Minutes --------------------------------------------------------------------------------------

NOTES = {ALYS: "marker-alys-notes: lodgings confirmed", BRYN: "marker-bryn-notes: CAMHS booked",
         CERI: "marker-ceri-notes: detox place found"}


def held_meeting_with_notes(client: FlaskClient, login_as, world: World) -> PanelMeeting:
    meeting = started_meeting(world)
    login_as(world.broker)
    for referral, names in ((world.alys, ALYS), (world.bryn, BRYN), (world.ceri, CERI)):
        item = item_for(meeting, referral)
        assert save_notes(client, meeting, item, notes_form(client, meeting, item), NOTES[names]).status_code == 200
    form = hidden_fields(client, f"/meetings/{meeting.id}/run", f"/meetings/{meeting.id}/attendance")
    statuses = {f"status_{a.id}": "" for a in world.partnership.agencies}
    response = client.post(f"/meetings/{meeting.id}/attendance", data={
        **form, **statuses, f"status_{world.yot.id}": "present", f"status_{world.police.id}": "apologies"})
    assert response.status_code == 302
    held = client.post(f"/meetings/{meeting.id}/held",
                       data=hidden_fields(client, f"/meetings/{meeting.id}/run", f"/meetings/{meeting.id}/held"))
    assert held.status_code == 302
    return meeting


def approve(client: FlaskClient, meeting: PanelMeeting, notes: str = "Next panel on 4 May.") -> Any:
    return form_post(client, f"/meetings/{meeting.id}/minutes", minutes_notes=notes,
                     approve="Approve and send to each agency")


def test_approving_the_minutes_sends_each_agency_its_own_pdf(client: FlaskClient, login_as, world: World,
                                                             smtp: CapturedMail) -> None:
    meeting = held_meeting_with_notes(client, login_as, world)
    assert smtp.messages == []
    response = approve(client, meeting)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    approved = meeting_by_id(meeting.id)
    assert approved.minutes_status is MinutesStatus.APPROVED and approved.minutes_approved_by_id == world.broker.id

    # Who may read which case in full.
    involved = {world.yot: {ALYS, BRYN}, world.housing: {ALYS}, world.health: {BRYN, CERI}, world.police: set()}
    assert sorted(m["To"] for m in smtp.messages) == sorted(a.contact_email for a in involved)  # not education
    for agency, cases in involved.items():
        [message] = smtp.to(agency.contact_email)
        assert subject(message).startswith("Minutes: Conwy resettlement panel")
        pdfs = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
        assert len(pdfs) == 1 and len(list(message.iter_attachments())) == 1
        text = pdf_text(pdfs[0].get_content())
        assert agency.name in text and "Next panel on 4 May." in text
        for names in (ALYS, BRYN, CERI):
            full_name = f"{names[0]} {names[1]}"
            if names in cases:
                assert full_name in text, (agency.name, full_name)
                assert NOTES[names] in text, (agency.name, full_name)
            else:
                assert names[0] not in text and names[1] not in text, (agency.name, full_name)
                assert NOTES[names] not in text, (agency.name, full_name)
                assert f"{names[0][0]}{names[1][0]}, aged" in text  # initials and age only
        # Nobody is named in the email itself.
        email_text = message_text(message)
        for names in (ALYS, BRYN, CERI):
            assert names[0] not in email_text and names[1] not in email_text
    db.session.expire_all()
    records = db.session.query(SentEmail).filter_by(meeting_id=meeting.id, kind="meeting.minutes").all()
    assert sorted(r.recipient for r in records) == sorted(a.contact_email for a in involved)
    assert all(r.sent_at is not None for r in records)


def test_approving_twice_is_refused(client: FlaskClient, login_as, world: World, smtp: CapturedMail) -> None:
    meeting = held_meeting_with_notes(client, login_as, world)
    # The minutes page open in two tabs (or the button pressed twice): the same form sent twice.
    page = BeautifulSoup(client.get(f"/meetings/{meeting.id}/minutes").text, "html.parser")
    fields = {"csrf_token": csrf_token_from(str(page)),
              "version": page.find("input", attrs={"name": "version"})["value"],
              "minutes_notes": "Next panel on 4 May.", "approve": "Approve and send to each agency"}
    assert client.post(f"/meetings/{meeting.id}/minutes", data=fields).status_code == 302
    sent = len(smtp.messages)
    assert sent == 4
    before, state = row_counts(), meeting_state(meeting.id)
    response = client.post(f"/meetings/{meeting.id}/minutes", data={**fields, "minutes_notes": "Changed"})
    assert_no_stack_trace(response)
    assert response.status_code == 409  # the version it was read at is no longer the meeting's
    assert error_summary(response)
    # Sent with the meeting's current version, it is refused for what it is.
    current = {**fields, "version": str(meeting_by_id(meeting.id).version)}
    response = client.post(f"/meetings/{meeting.id}/minutes", data={**current, "minutes_notes": "Changed"})
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert any("already approved" in text for text, _href in error_summary(response))
    draft = {k: v for k, v in current.items() if k != "approve"}
    response = client.post(f"/meetings/{meeting.id}/minutes", data={**draft, "save": "Save draft",
                                                                     "minutes_notes": "A draft after approval"})
    assert response.status_code == 422
    assert len(smtp.messages) == sent
    assert row_counts() == before and meeting_state(meeting.id) == state
    assert meeting_by_id(meeting.id).minutes_notes == "Next panel on 4 May."


def test_after_approval_the_notes_and_agenda_can_no_longer_change(client: FlaskClient, login_as, api_token,
                                                                  world: World) -> None:
    meeting = held_meeting_with_notes(client, login_as, world)
    item = item_for(meeting, world.alys)
    form = notes_form(client, meeting, item)
    assert approve(client, meeting).status_code == 302
    late = make_referral(partnership=world.partnership, referrer=world.yot_staff, broker=world.broker,
                         status="accepted")
    db.session.commit()
    before, state = row_counts(), meeting_state(meeting.id)

    response = save_notes(client, meeting, item, form, "Rewritten after approval")
    assert_no_stack_trace(response)
    assert response.status_code == 422
    response = save_notes(client, meeting, item, form, "Rewritten after approval", json=False)
    assert response.status_code == 422 and "The minutes are approved" in response.text
    token = {"csrf_token": csrf_token_from(client.get(f"/meetings/{meeting.id}/agenda").text)}
    response = client.post(f"/meetings/{meeting.id}/agenda", data={**token, "referral_id": str(late.id),
                                                                   "kind": "review"})
    assert_no_stack_trace(response)
    assert response.status_code == 422
    response = client.post(f"/api/v1/meetings/{meeting.id}/agenda", json={"referral_id": late.id, "kind": "review"},
                           headers=api_token(world.broker))
    assert response.status_code == 422 and "approved" in response.get_json()["error"]["message"]
    for action in ("remove", "down"):
        response = client.post(f"/meetings/{meeting.id}/agenda/{item.id}", data={**token, "action": action})
        assert_no_stack_trace(response)
        assert response.status_code == 422, action
    response = client.post(f"/meetings/{meeting.id}/agenda/{item.id}",
                           data={**token, "action": "minutes", "minutes_allotted": "30"})
    assert response.status_code == 422
    assert row_counts() == before and meeting_state(meeting.id) == state


def test_after_approval_the_pages_offer_no_way_to_change_the_agenda_or_the_notes(client: FlaskClient, login_as,
                                                                                  world: World) -> None:
    """The buttons follow the steps tables: once the minutes are approved the agenda page and meeting
    mode show what was agreed, say why it can no longer change, and offer no control that would only
    be refused. (Needs stay re-ratable: they are the referral's, open while the referral is.)"""
    meeting = held_meeting_with_notes(client, login_as, world)
    item = item_for(meeting, world.alys)
    assert approve(client, meeting).status_code == 302

    agenda = BeautifulSoup(client.get(f"/meetings/{meeting.id}/agenda").text, "html.parser")
    main = agenda.find("main")
    assert "The minutes of this meeting are approved: its agenda can no longer change." in main.get_text(" ")
    assert main.find("form") is None, "the closed agenda still offers a form"
    assert world.alys.young_person.full_name in main.get_text(" ")  # what was on it is still shown

    run = BeautifulSoup(client.get(f"/meetings/{meeting.id}/run").text, "html.parser")
    case = run.find(id=f"item-{item.id}")
    assert "The minutes are approved: the notes can no longer change." in case.get_text(" ")
    assert case.find("form", action=f"/meetings/{meeting.id}/items/{item.id}/notes") is None
    assert NOTES[ALYS] in case.get_text(" ")  # the notes as approved, to read


def test_after_approval_the_attendance_can_no_longer_change(client: FlaskClient, login_as, world: World) -> None:
    """Attendance is part of the approved minutes, and the minutes PDF is rebuilt from it at every
    download: changed afterwards, it would no longer be what was approved and sent."""
    meeting = held_meeting_with_notes(client, login_as, world)
    assert approve(client, meeting).status_code == 302
    before, state = row_counts(), meeting_state(meeting.id)
    form = hidden_fields(client, f"/meetings/{meeting.id}/run", f"/meetings/{meeting.id}/attendance")
    response = client.post(f"/meetings/{meeting.id}/attendance",
                           data={**form, **{f"status_{a.id}": "" for a in world.partnership.agencies},
                                 f"status_{world.yot.id}": "present", f"status_{world.police.id}": "apologies",
                                 f"status_{world.housing.id}": "present",
                                 f"attendees_{world.housing.id}": "Added afterwards"})
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert row_counts() == before and meeting_state(meeting.id) == state


def test_after_approval_the_young_persons_views_can_no_longer_change(client: FlaskClient, login_as,
                                                                     world: World) -> None:
    meeting = held_meeting_with_notes(client, login_as, world)
    item = item_for(meeting, world.alys)
    assert approve(client, meeting).status_code == 302
    before, state = row_counts(), meeting_state(meeting.id)
    response = form_post(client, f"/meetings/{meeting.id}/items/{item.id}/views",
                         young_person_views="Added afterwards")
    assert_no_stack_trace(response)
    assert response.status_code == 422
    assert row_counts() == before and meeting_state(meeting.id) == state


# --- In a real browser ----------------------------------------------------------------------------


@pytest.mark.browser
def test_meeting_mode_autosaves_and_keeps_text_through_a_dropped_connection(live_server: LiveServer,
                                                                           browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + "/sign-in")
    page.get_by_label("Email address").fill("broker.north@demo.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")

    # The next Conwy & Denbighshire panel still to be held, with cases on its agenda, from the meetings
    # page (other browser tests may have added and held panels of their own).
    page.goto(live_server.url + "/meetings/")
    upcoming = page.get_by_role("table", name="Coming up")
    rows = upcoming.locator("tbody tr").filter(has_text="Conwy & Denbighshire").filter(has_text="Scheduled")
    cases = [int(text) for text in rows.locator("td[data-label='Cases']").all_inner_texts()]
    assert any(cases), cases
    row = rows.nth(next(index for index, count in enumerate(cases) if count))
    row.locator("a[href^='/meetings/']").click()  # the date links to the meeting (the other, to join online)
    page.get_by_role("link", name="Run the meeting").click()
    page.wait_for_url("**/run")
    assert page.get_by_role("heading", level=1).inner_text() == "Meeting mode"

    case = page.locator("section.app-case[id^='item-']").first
    case.wait_for()
    discussion = case.get_by_label("Discussion")
    status = case.locator("[data-autosave-status]")
    typed = "Settled at the lodgings; college start agreed (browser autosave check)."
    discussion.fill("")
    discussion.press_sequentially(typed, delay=5)
    page.wait_for_function("el => el.textContent.startsWith('Saved at')", arg=status.element_handle(),
                           timeout=15000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "meeting-mode-autosave.png"), full_page=True)

    page.reload()
    case = page.locator("section.app-case[id^='item-']").first
    assert case.get_by_label("Discussion").input_value() == typed

    # The connection drops: what is typed is kept on this laptop, and saved when it returns.
    context.set_offline(True)
    more = " Offline addition: mentor to call on Friday."
    discussion = case.get_by_label("Discussion")
    discussion.focus()
    page.keyboard.press("Control+End")  # carry on typing at the end of the saved text
    discussion.press_sequentially(more, delay=5)
    status = case.locator("[data-autosave-status]")
    page.wait_for_function("el => el.textContent.includes('kept on this laptop')", arg=status.element_handle(),
                           timeout=15000)
    key = case.locator("form[data-autosave]").get_attribute("data-autosave-key")
    kept = page.evaluate("key => localStorage.getItem('panel-notes:' + key)", key)
    assert kept is not None and more.strip() in kept
    page.screenshot(path=str(ARTIFACTS / "meeting-mode-offline.png"), full_page=True)

    context.set_offline(False)
    page.wait_for_function("el => el.textContent.startsWith('Saved at')", arg=status.element_handle(),
                           timeout=20000)
    assert page.evaluate("key => localStorage.getItem('panel-notes:' + key)", key) is None
    page.reload()
    case = page.locator("section.app-case[id^='item-']").first
    assert case.get_by_label("Discussion").input_value() == typed + more
    context.close()
