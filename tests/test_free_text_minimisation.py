"""Free text says which pathway it is about, and health and substance-misuse text reaches only its
readers (issue 9, "Trust").

The health board's pre-panel update appeared in education's and housing's packs, and the chair's
note "Health: CAMHS assessment booked" went in full into housing's minutes. Now an update and a
discussion note say which pathway they are about (or "general"); those about health or substance
misuse go only to the broker, the referring agency and the agencies working on that pathway, on
every surface: the meeting page, meeting mode, the pack and the minutes (PDF text extracted, as
downloaded and as emailed) and the API. A general note goes to everyone who sees the case, as before.

Who reads what is written out here by hand, never derived from policy.py.

The world: one partnership with a YOT (the referrer), housing (shared for accommodation), a school
(shared for ETE), a health board (shared for health), a substance-misuse service (shared for
substance misuse) and the police (invited, involved in nothing). One case on one meeting's agenda.
Before the panel: the health board sends a health update, housing a general one, the substance
service an update it marks as about health. In meeting mode the chair writes a general note, a
health note, a substance-misuse note and the decisions.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pypdf
import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app import policy
from panel_app.models import Agency, AgendaItem, AgendaNote, Referral, Role, UpdateRequest, User, db
from panel_app.pathways import Pathway
from panel_app.services import meetings as service
from panel_app.services import referrals as referral_service
from panel_app.services.clock import today
from tests.conftest import csrf_token_from, deliver_emails, forget_queued_emails, sign_in
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_user

# The texts, each a marker that names what it is.
HEALTH_UPDATE = "CamhsAssessmentUpdateMarker"  # the health board's update, about health
GENERAL_UPDATE = "HousingGeneralUpdateMarker"  # housing's update, general
OWN_HEALTH_UPDATE = "SubstanceServiceHealthUpdateMarker"  # the substance service's update, about health
GENERAL_NOTE = "GeneralDiscussionMarker"  # the chair's general note
HEALTH_NOTE = "CamhsBookedNoteMarker"  # the chair's note about health
SUBSTANCE_NOTE = "SubstanceNoteMarker"  # the chair's note about substance misuse
DECISION = "DecisionMarker"  # the decisions: general
UPDATES = {HEALTH_UPDATE, GENERAL_UPDATE, OWN_HEALTH_UPDATE}
NOTES = {GENERAL_NOTE, HEALTH_NOTE, SUBSTANCE_NOTE, DECISION}
EVERY = UPDATES | NOTES

BROKER, YOT, HOUSING, SCHOOL, HEALTH, SUBSTANCE, POLICE = (
    "broker", "yot", "housing", "school", "health", "substance", "police")
AGENCIES = [YOT, HOUSING, SCHOOL, HEALTH, SUBSTANCE, POLICE]
NAMES = {YOT: "FT Youth Justice", HOUSING: "FT Housing", SCHOOL: "FT School", HEALTH: "FT Health Board",
         SUBSTANCE: "FT Substance Service", POLICE: "FT Police"}
TYPES = {YOT: "yot", HOUSING: "housing", SCHOOL: "education", HEALTH: "health", SUBSTANCE: "substance_misuse",
         POLICE: "police"}

# What each reader may read. General text: everyone who sees the case. Health: the broker, the
# referrer, the health board; and the substance service its own update. Substance misuse: the broker,
# the referrer, the substance service. The police see the case as initials only: nothing.
GENERAL = {GENERAL_UPDATE, GENERAL_NOTE, DECISION}
READS: dict[str, set[str]] = {
    BROKER: set(EVERY),
    YOT: set(EVERY),
    HEALTH: GENERAL | {HEALTH_UPDATE, OWN_HEALTH_UPDATE, HEALTH_NOTE},
    SUBSTANCE: GENERAL | {OWN_HEALTH_UPDATE, SUBSTANCE_NOTE},
    HOUSING: set(GENERAL),
    SCHOOL: set(GENERAL),
    POLICE: set(),
}


@dataclass
class World:
    broker: User
    staff: dict[str, User]
    agencies: dict[str, Agency]
    referral: Referral
    meeting_id: int
    item_id: int


def build_world(*, held: bool = True) -> World:
    agencies = {key: make_agency(type=TYPES[key], name=NAMES[key], contact_email=f"{key}@free-text.example")
                for key in AGENCIES}
    broker = make_user(Role.BROKER, name="FT Broker")
    partnership = make_partnership(agencies=list(agencies.values()), brokers=[broker], name="FT Partnership")
    staff = {key: make_user(Role.AGENCY_STAFF, agency=agency) for key, agency in agencies.items()}
    referral = make_referral(
        partnership=partnership, referrer=staff[YOT], broker=broker, status="accepted",
        shared_with=[(agencies[HOUSING], [Pathway.ACCOMMODATION]), (agencies[SCHOOL], [Pathway.ETE]),
                     (agencies[HEALTH], [Pathway.HEALTH]), (agencies[SUBSTANCE], [Pathway.SUBSTANCE_MISUSE])])
    meeting = make_meeting(partnership=partnership, broker=broker, agenda=[referral])
    item = meeting.items[0]
    service.request_updates(broker, meeting, today() + timedelta(days=1))
    db.session.flush()

    def request(key: str) -> UpdateRequest:
        return next(r for r in item.update_requests if r.agency_id == agencies[key].id)

    service.send_update(staff[HEALTH], request(HEALTH), f"Health: {HEALTH_UPDATE}", Pathway.HEALTH)
    service.send_update(staff[HOUSING], request(HOUSING), f"Housing: {GENERAL_UPDATE}")
    service.send_update(staff[SUBSTANCE], request(SUBSTANCE), f"Seen by CAMHS: {OWN_HEALTH_UPDATE}", Pathway.HEALTH)
    db.session.flush()
    service.save_notes(broker, item, f"General: {GENERAL_NOTE}", f"Agreed: {DECISION}", item.version,
                       {Pathway.HEALTH: f"Health: CAMHS assessment booked {HEALTH_NOTE}",
                        Pathway.SUBSTANCE_MISUSE: f"Substance misuse: {SUBSTANCE_NOTE}"})
    if held:
        meeting.starts_at = meeting.starts_at - timedelta(days=7, hours=3)
        meeting.ends_at = meeting.starts_at + timedelta(hours=2)
        db.session.flush()
        service.mark_held(broker, meeting)
    db.session.flush()
    return World(broker, staff, agencies, referral, meeting.id, item.id)


def reader(world: World, key: str) -> User:
    return world.broker if key == BROKER else world.staff[key]


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


def pdf_text(data: bytes) -> str:
    pdf = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in pdf.pages)


def found(text: str, among: set[str] = EVERY) -> set[str]:
    return {marker for marker in among if marker in text}


def pdf_attachment(message: EmailMessage) -> str:
    [pdf] = [part.get_content() for part in message.iter_attachments()
             if part.get_content_type() == "application/pdf" and "actions-" not in (part.get_filename() or "")]
    return pdf_text(pdf)


# --- The rule itself ----------------------------------------------------------------------------


def test_who_may_read_text_about_each_pathway() -> None:
    world = build_world(held=False)
    referral = world.referral
    # reader -> (general, accommodation, health, substance misuse), written out by hand.
    expected = {
        YOT: (True, True, True, True),  # the referring agency reads all
        HOUSING: (True, True, False, False),
        SCHOOL: (True, True, False, False),
        HEALTH: (True, True, True, False),  # works on health here, and a health board may read it
        SUBSTANCE: (True, True, False, True),
        POLICE: (False, False, False, False),  # not involved in the case at all
    }
    pathways = (None, Pathway.ACCOMMODATION, Pathway.HEALTH, Pathway.SUBSTANCE_MISUSE)
    for key, answers in expected.items():
        for pathway, answer in zip(pathways, answers):
            assert policy.can_read_text_about(world.agencies[key], referral, pathway) is answer, (key, pathway)
            assert policy.can_read_text_about(world.staff[key], referral, pathway) is answer, (key, pathway)
    assert all(policy.can_read_text_about(world.broker, referral, p) for p in pathways)
    stranger = make_user(Role.BROKER)  # brokers another partnership
    make_partnership(brokers=[stranger])
    assert not any(policy.can_read_text_about(stranger, referral, p) for p in pathways)
    for role in (Role.STRATEGIC_LEAD, Role.ADMIN):
        assert not any(policy.can_read_text_about(make_user(role), referral, p) for p in pathways)


def test_a_grant_on_health_lets_an_agency_read_health_only_if_its_type_may() -> None:
    world = build_world(held=False)
    # Housing is now asked to work on health too: housing staff still never read health text.
    referral_service.share(world.broker, world.referral, world.agencies[HOUSING].id, [Pathway.HEALTH])
    db.session.flush()
    assert not policy.can_read_text_about(world.agencies[HOUSING], world.referral, Pathway.HEALTH)
    assert policy.can_read_text_about(world.agencies[HOUSING], world.referral, None)


def test_withdrawn_consent_takes_the_health_board_out_of_the_circle() -> None:
    world = build_world(held=False)
    referral_service.withdraw_consent(world.broker, world.referral, today(), None)
    db.session.flush()
    for pathway in (None, Pathway.HEALTH):
        assert not policy.can_read_text_about(world.agencies[HEALTH], world.referral, pathway)
        assert policy.can_read_text_about(world.agencies[YOT], world.referral, pathway)
        assert policy.can_read_text_about(world.broker, world.referral, pathway)


# --- The panel pack -----------------------------------------------------------------------------


def test_the_pack_carries_a_health_update_only_to_its_readers(app: Flask) -> None:
    world = build_world(held=False)
    broker = signed_in(app, world.broker)
    for key in AGENCIES:
        preview = broker.get(f"/meetings/{world.meeting_id}/pack.pdf?agency={world.agencies[key].id}")
        own = signed_in(app, world.staff[key]).get(f"/meetings/{world.meeting_id}/pack.pdf")
        for response in (preview, own):
            assert response.status_code == 200
            assert found(pdf_text(response.data)) == READS[key] & UPDATES, key
    assert found(pdf_text(broker.get(f"/meetings/{world.meeting_id}/pack.pdf").data)) == UPDATES
    # Where the update was written, so it was not lost: housing's and the school's packs.
    housing = pdf_text(broker.get(f"/meetings/{world.meeting_id}/pack.pdf?agency={world.agencies[HOUSING].id}").data)
    assert HEALTH_UPDATE not in housing and "Housing: " + GENERAL_UPDATE in housing


def test_the_packs_emailed_to_each_agency_carry_only_what_it_may_read(app: Flask, smtp) -> None:
    world = build_world(held=False)
    client = signed_in(app, world.broker)
    page = BeautifulSoup(client.get(f"/meetings/{world.meeting_id}").text, "html.parser")
    form = next(f for f in page.find_all("form") if (f.get("action") or "").endswith("/send-packs"))
    hidden = {i["name"]: i.get("value", "") for i in form.find_all("input", attrs={"type": "hidden"})}
    response = client.post(f"/meetings/{world.meeting_id}/send-packs", data=hidden)
    assert response.status_code == 302
    for key in AGENCIES:
        [message] = [m for m in smtp.to(f"{key}@free-text.example") if "Panel pack" in str(m["Subject"])]
        text = pdf_attachment(message)
        assert found(text) == READS[key] & UPDATES, key
        assert found(message.get_body(preferencelist=("plain",)).get_content()) == set()


# --- The minutes --------------------------------------------------------------------------------


def test_the_minutes_carry_a_health_note_only_to_its_readers(app: Flask, api_token) -> None:
    world = build_world()
    broker = signed_in(app, world.broker)
    for key in AGENCIES:
        preview = broker.get(f"/meetings/{world.meeting_id}/minutes.pdf?agency={world.agencies[key].id}")
        own = signed_in(app, world.staff[key]).get(f"/meetings/{world.meeting_id}/minutes.pdf")
        api = app.test_client().get(f"/api/v1/meetings/{world.meeting_id}/minutes.pdf",
                                    headers=api_token(world.staff[key]))
        for response in (preview, own, api):
            assert response.status_code == 200
            assert found(pdf_text(response.data)) == READS[key] & NOTES, key
    own = pdf_text(broker.get(f"/meetings/{world.meeting_id}/minutes.pdf").data)
    assert found(own) == NOTES
    assert f"Health: Health: CAMHS assessment booked {HEALTH_NOTE}" in own  # labelled with its pathway
    # The broker's minutes page shows every note, each under its pathway.
    page = BeautifulSoup(broker.get(f"/meetings/{world.meeting_id}/minutes").text, "html.parser").get_text(" ")
    assert found(page) == NOTES


def test_approved_minutes_emailed_to_each_agency_carry_only_what_it_may_read(app: Flask, smtp) -> None:
    world = build_world()
    forget_queued_emails()  # the world's invitations: these tests read the minutes
    with app.test_request_context("/"):
        meeting = service.get_meeting(world.broker, world.meeting_id)
        assert service.approve_minutes(world.broker, meeting, "Next panel in a month.") == len(AGENCIES)
        db.session.commit()
        deliver_emails()
    for key in AGENCIES:
        [message] = smtp.to(f"{key}@free-text.example")
        assert found(pdf_attachment(message)) == READS[key] & NOTES, key


def test_a_general_note_goes_to_everyone_invited_who_sees_the_case_as_before(app: Flask, smtp) -> None:
    world = build_world()
    forget_queued_emails()  # the world's invitations: these tests read the minutes
    with app.test_request_context("/"):
        meeting = service.get_meeting(world.broker, world.meeting_id)
        service.approve_minutes(world.broker, meeting, None)
        db.session.commit()
        deliver_emails()
    involved = [YOT, HOUSING, SCHOOL, HEALTH, SUBSTANCE]
    for key in involved:
        text = pdf_attachment(smtp.to(f"{key}@free-text.example")[0])
        assert f"General: {GENERAL_NOTE}" in text and DECISION in text, key
    # The police are invited but not involved: the case as initials, no discussion, as before.
    police = pdf_attachment(smtp.to(f"{POLICE}@free-text.example")[0])
    assert found(police) == set() and "Your agency is not involved in this case" in police


# --- The meeting page, meeting mode and the API -------------------------------------------------


def test_the_meeting_page_shows_each_update_only_to_its_readers(app: Flask) -> None:
    world = build_world(held=False)
    for key in [BROKER, *AGENCIES]:
        response = signed_in(app, reader(world, key)).get(f"/meetings/{world.meeting_id}")
        assert response.status_code == 200
        text = BeautifulSoup(response.text, "html.parser").get_text(" ")
        assert found(text) == READS[key] & UPDATES, key
    # Meeting mode (the broker's) shows every update, each saying what it is about.
    run = signed_in(app, world.broker).get(f"/meetings/{world.meeting_id}/run")
    text = " ".join(BeautifulSoup(run.text, "html.parser").get_text(" ").split())
    assert found(text) == EVERY
    assert f"{NAMES[HEALTH]} (about Health): Health: {HEALTH_UPDATE}" in text


def test_the_api_gives_each_caller_only_the_text_it_may_read(app: Flask, api_token) -> None:
    world = build_world()
    for key in [BROKER, *AGENCIES]:
        headers = api_token(reader(world, key))
        client = app.test_client()
        detail = client.get(f"/api/v1/meetings/{world.meeting_id}", headers=headers)
        listing = client.get("/api/v1/meetings", headers=headers)
        pack = client.get(f"/api/v1/meetings/{world.meeting_id}/pack.pdf", headers=headers)
        assert (detail.status_code, listing.status_code, pack.status_code) == (200, 200, 200)
        assert found(detail.get_data(as_text=True)) == READS[key], key
        assert found(listing.get_data(as_text=True)) == READS[key], key
        assert found(pdf_text(pack.data)) == READS[key] & UPDATES, key
    body = app.test_client().get(f"/api/v1/meetings/{world.meeting_id}", headers=api_token(world.staff[HEALTH])).json
    [item] = body["agenda"]
    assert [note["pathway"] for note in item["notes"]] == [None, "health"]
    assert {(u["agency_id"], u["pathway"]) for u in item["updates"]} == {
        (world.agencies[HEALTH].id, "health"), (world.agencies[HOUSING].id, None),
        (world.agencies[SUBSTANCE].id, "health")}
    assert item["decisions"] == f"Agreed: {DECISION}"


def _goes_to(soup: BeautifulSoup, field_id: str) -> set[str]:
    hint = soup.find(id=f"{field_id}-hint")
    assert hint is not None, f"no hint under {field_id}"
    text = " ".join(hint.get_text().split())
    assert text.startswith("Goes to: "), text
    return set(text.removeprefix("Goes to: ").split(", "))


def test_meeting_mode_shows_the_chair_who_each_note_goes_to(app: Flask) -> None:
    world = build_world(held=False)
    page = signed_in(app, world.broker).get(f"/meetings/{world.meeting_id}/run")
    soup = BeautifulSoup(page.text, "html.parser")
    prefix = f"item{world.item_id}"
    everyone = {"the broker", *(NAMES[key] for key in (YOT, HOUSING, SCHOOL, HEALTH, SUBSTANCE))}
    assert _goes_to(soup, f"{prefix}-notes") == everyone
    assert _goes_to(soup, f"{prefix}-decisions") == everyone
    assert _goes_to(soup, f"{prefix}-note_health") == {"the broker", NAMES[YOT], NAMES[HEALTH]}
    assert _goes_to(soup, f"{prefix}-note_substance_misuse") == {"the broker", NAMES[YOT], NAMES[SUBSTANCE]}
    assert _goes_to(soup, f"{prefix}-note_accommodation") == everyone
    # The notes already written are in their boxes.
    assert HEALTH_NOTE in soup.find(id=f"{prefix}-note_health").get_text()
    assert soup.find(id=f"{prefix}-note_health").find_parent("form").has_attr("data-autosave")


# --- Writing the notes and the updates ----------------------------------------------------------


def _notes_hidden(client: FlaskClient, world: World) -> dict[str, str]:
    page = client.get(f"/meetings/{world.meeting_id}/run")
    soup = BeautifulSoup(page.text, "html.parser")
    form = next(f for f in soup.find_all("form") if (f.get("action") or "").endswith(f"/items/{world.item_id}/notes"))
    return {i["name"]: i.get("value", "") for i in form.find_all("input", attrs={"type": "hidden"})}


def _pathway_notes(item_id: int) -> dict[Pathway, str]:
    db.session.expire_all()
    item = db.session.get(AgendaItem, item_id)
    assert item is not None
    return {note.pathway: note.text for note in item.pathway_notes}


def _autosave(client: FlaskClient, world: World, hidden: dict[str, str], **fields: str) -> Any:
    data = {**hidden, **{f"item{world.item_id}-{name}": value for name, value in fields.items()}}
    return client.post(f"/meetings/{world.meeting_id}/items/{world.item_id}/notes", data=data,
                       headers={"Accept": "application/json"})


def test_pathway_notes_save_as_the_chair_types_and_clash_like_the_others(app: Flask) -> None:
    world = build_world(held=False)
    client = signed_in(app, world.broker)
    hidden = _notes_hidden(client, world)
    version_field = f"item{world.item_id}-version"
    version = int(hidden[version_field])
    # Only the health note changes: it is saved and the case's version goes up.
    response = _autosave(client, world, hidden, notes=f"General: {GENERAL_NOTE}", decisions=f"Agreed: {DECISION}",
                         note_health="CAMHS assessment moved to Friday")
    assert response.status_code == 200, response.text
    assert response.json["version"] == version + 1
    assert _pathway_notes(world.item_id) == {Pathway.HEALTH: "CAMHS assessment moved to Friday",
                                             Pathway.SUBSTANCE_MISUSE: f"Substance misuse: {SUBSTANCE_NOTE}"}
    # A request without the pathways' fields (an older page) leaves their notes as they were;
    # an emptied field removes its note.
    response = _autosave(client, world, {**hidden, version_field: str(version + 1)}, notes="Shorter", decisions="",
                         note_substance_misuse="")
    assert response.status_code == 200
    assert _pathway_notes(world.item_id) == {Pathway.HEALTH: "CAMHS assessment moved to Friday"}
    # A laptop still on the first version gets the conflict, with the health note to compare.
    response = _autosave(client, world, hidden, notes="Typed over", note_health="Typed over")
    assert response.status_code == 409
    assert response.json["current"]["note_health"] == "CAMHS assessment moved to Friday"
    assert response.json["current"]["notes"] == "Shorter"
    assert _pathway_notes(world.item_id) == {Pathway.HEALTH: "CAMHS assessment moved to Friday"}


def test_a_pathway_note_too_long_is_refused_and_nothing_is_saved(app: Flask) -> None:
    world = build_world(held=False)
    client = signed_in(app, world.broker)
    hidden = _notes_hidden(client, world)
    before = _pathway_notes(world.item_id)
    response = _autosave(client, world, hidden, notes="Changed", note_health="x" * 20_001)
    assert response.status_code == 400
    assert response.json["error"]["fields"] == {"note_health": "Must be 20000 characters or fewer"}
    assert _pathway_notes(world.item_id) == before
    db.session.expire_all()
    assert db.session.get(AgendaItem, world.item_id).notes == f"General: {GENERAL_NOTE}"


def test_an_agency_says_what_its_update_is_about_on_the_update_page(app: Flask) -> None:
    world = build_world(held=False)
    client = signed_in(app, world.staff[HEALTH])
    url = f"/meetings/{world.meeting_id}/items/{world.item_id}/update"
    page = client.get(url)
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.find("input", attrs={"name": "about", "value": "health"}).has_attr("checked")
    token = csrf_token_from(page.text)
    # A choice that is not offered: a clear 400, nothing changed.
    response = client.post(url, data={"csrf_token": token, "about": "gossip", "update": "Changed"})
    assert response.status_code == 400
    assert "Choose one of the options listed" in response.text

    def saved() -> tuple[Any, str | None]:
        db.session.expire_all()
        request = db.session.query(UpdateRequest).filter_by(agenda_item_id=world.item_id,
                                                            agency_id=world.agencies[HEALTH].id).one()
        return request.pathway, request.response

    assert saved() == (Pathway.HEALTH, f"Health: {HEALTH_UPDATE}")
    response = client.post(url, data={"csrf_token": token, "about": "general", "update": "Attending school again"})
    assert response.status_code == 302
    assert saved() == (None, "Attending school again")
    # Now general: housing reads it.
    housing = signed_in(app, world.staff[HOUSING]).get(f"/meetings/{world.meeting_id}").text
    assert "Attending school again" in housing
    response = client.post(url, data={"csrf_token": token, "about": "substance_misuse", "update": "Drug worker seen"})
    assert response.status_code == 302
    assert saved() == (Pathway.SUBSTANCE_MISUSE, "Drug worker seen")
    assert "Drug worker seen" not in signed_in(app, world.staff[HOUSING]).get(f"/meetings/{world.meeting_id}").text


def test_deleting_a_case_from_the_agenda_deletes_its_pathway_notes() -> None:
    world = build_world(held=False)
    item = db.session.get(AgendaItem, world.item_id)
    service.change_agenda_item(world.broker, item, remove=True)
    db.session.flush()
    assert db.session.query(AgendaNote).filter_by(agenda_item_id=world.item_id).count() == 0


# --- In a real browser: the health note saves as the chair types ---------------------------------


@pytest.mark.browser
def test_the_health_note_saves_as_the_chair_types_in_a_real_browser(live_server, browser) -> None:
    from sqlalchemy import select

    from panel_app.models import MeetingStatus, PanelMeeting, Partnership, utcnow
    from tests.conftest import signed_in_page

    app = live_server.app
    with app.app_context():
        meeting = db.session.scalar(
            select(PanelMeeting).join(Partnership).where(
                Partnership.name == "Conwy & Denbighshire", PanelMeeting.status == MeetingStatus.SCHEDULED,
                PanelMeeting.starts_at > utcnow(), PanelMeeting.items.any())
            .order_by(PanelMeeting.starts_at))
        assert meeting is not None, "the demo has an upcoming Conwy panel with cases on its agenda"
        meeting_id, item_id = meeting.id, meeting.items[0].id
    page = signed_in_page(browser, live_server, "broker.north@demo.test")
    page.goto(f"{live_server.url}/meetings/{meeting_id}/run")
    case = page.locator(f"#item-{item_id}")
    health = case.get_by_label("About Health only")
    assert "Goes to: the broker" in case.locator(f"#item{item_id}-note_health-hint").inner_text()
    health.fill("CAMHS assessment booked for Tuesday.")
    case.locator("[data-autosave-status]").filter(has_text="Saved at").wait_for(timeout=15000)
    with app.app_context():
        notes = db.session.scalars(select(AgendaNote).where(AgendaNote.agenda_item_id == item_id)).all()
        assert {(n.pathway, n.text) for n in notes} >= {(Pathway.HEALTH, "CAMHS assessment booked for Tuesday.")}
    page.reload()
    assert page.locator(f"#item{item_id}-note_health").input_value() == "CAMHS assessment booked for Tuesday."
