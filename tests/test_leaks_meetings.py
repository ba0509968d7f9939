"""Leak test for panel meetings: nothing of a young person reaches anyone through a meeting (its page,
its API answers, its panel pack and minutes as PDFs, its calendar files, the calendar feed, the
emails it sends) beyond what that person, or that agency, may see.

docs/domain.md: "a per-agency panel pack carries full details only of the cases that agency is involved
in"; the other cases on the agenda appear as initials, age and the pathways of need, never a name;
health and substance-misuse notes are read only by the broker, the referring agency and the
agencies working on that pathway; calendar files and email subjects name no young person.

What each person and agency may see is written out here by hand, never derived from policy.py.

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after
it, so every case meets the world as built):

* partnership P: a YOT (the referrer of both cases), a housing agency and an education provider;
  brokered by "broker". Each agency has a contact email.
* INSIDE: accepted, shared with housing for accommodation; a red accommodation need (an open note)
  and a red health need (a restricted note).
* OUTSIDE: accepted, shared with nobody (housing and education are not involved in it); a red ETE
  need (an open note), an amber families need, a green health need (a restricted note).
* One meeting of P with both cases on its agenda: the young people's views attached, updates asked
  for (housing sent its update on INSIDE, the YOT on OUTSIDE), notes and decisions recorded in
  meeting mode. Most cases then move it into the past, record the attendance and mark it as held,
  the minutes in draft (the ``world`` fixture, in the case's own SAVEPOINT); the others need it still to
  come.

Every field of each case carries a unique marker (the young person's names are markers too).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage

import pypdf
import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import select

from panel_app.models import AttendanceStatus, NeedRating, PanelMeeting, Referral, Role, SentEmail, User, db
from panel_app.pathways import Pathway
from panel_app.services import accounts
from panel_app.services import meetings as service
from panel_app.services import referrals as referral_service
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import built_once, csrf_token_from, deliver_emails, forget_queued_emails, sign_in
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_region, make_user

INSIDE = "Inside"  # housing is involved (shared for accommodation)
OUTSIDE = "Outside"  # housing is not involved
CASES = [INSIDE, OUTSIDE]

GIVEN, FAMILY = "Given", "Family"
REASON = "Reason"
OPEN_NOTE = "OpenNote"  # INSIDE: the accommodation note; OUTSIDE: the ETE note
HEALTH_NOTE = "HealthNote"  # restricted
VIEWS = "Views"  # the young person's views, attached to the agenda item
UPDATE = "Update"  # the update an agency sent before the panel
DISCUSSION, DECISION = "Discussion", "Decision"  # recorded in meeting mode
NAME = frozenset({GIVEN, FAMILY})
FIELDS = [GIVEN, FAMILY, REASON, OPEN_NOTE, HEALTH_NOTE, VIEWS, UPDATE, DISCUSSION, DECISION]
ALL = frozenset(FIELDS)

# The young people's names are markers; their initials differ (IJ and MM) so that a restricted row
# can be told apart, and so do their ages (17 and 15).
SPECIAL = {
    (INSIDE, GIVEN): "IwanMarkerInsideGiven",
    (INSIDE, FAMILY): "JonesMarkerInsideFamily",
    (OUTSIDE, GIVEN): "MarkerOutsideGiven",
    (OUTSIDE, FAMILY): "MarkerOutsideFamily",
}
INITIALS = {INSIDE: "IJ", OUTSIDE: "MM"}
AGES = {INSIDE: 17, OUTSIDE: 15}
# The pathways rated red or amber, as the pages and PDFs name them, and as the API keys them.
NEED_LABELS = {INSIDE: "Accommodation, Health", OUTSIDE: "ETE, Families"}
NEED_KEYS = {INSIDE: ["accommodation", "health"], OUTSIDE: ["ete", "families"]}


def marker(case: str, field: str) -> str:
    return SPECIAL.get((case, field), f"Marker{case}{field}")


EVERY_MARKER = {marker(case, field) for case in CASES for field in FIELDS}

# The people, and what each may see: case -> the fields whose markers may reach them.
BROKER = "broker"
REFERRER = "referrer"  # staff of the YOT that referred both cases
HOUSING = "housing"  # involved in INSIDE (accommodation), not in OUTSIDE
EDUCATION = "education"  # a member agency involved in no case on the agenda
ROLES = [BROKER, REFERRER, HOUSING, EDUCATION]

SEES: dict[str, dict[str, frozenset[str]]] = {
    BROKER: {INSIDE: ALL, OUTSIDE: ALL},
    REFERRER: {INSIDE: ALL, OUTSIDE: ALL},
    HOUSING: {INSIDE: ALL - {HEALTH_NOTE}},  # shared for accommodation: never the health note
    EDUCATION: {},
}
# Each agency receives (by email, or as the broker's preview) what its staff may see.
AGENCY_ROLE = {"yot": REFERRER, "housing": HOUSING, "education": EDUCATION}

# What each document shows of a case given in full (the reader's restricted notes left out).
# The meeting page: the name, linked to the referral, and the updates sent before the panel (issue 9).
PAGE_FIELDS = NAME | {UPDATE}
# The API's meeting: the name, the updates, the discussion notes and the decisions.
API_FIELDS = NAME | {UPDATE, DISCUSSION, DECISION}
PACK_FIELDS = NAME | {REASON, OPEN_NOTE, HEALTH_NOTE, VIEWS, UPDATE}
MINUTES_FIELDS = NAME | {DISCUSSION, DECISION}


def allowed(role: str) -> set[str]:
    return {marker(case, field) for case, fields in SEES[role].items() for field in fields}


def expected_in(role: str, document_fields: frozenset[str]) -> set[str]:
    """The markers a document shows this person: the fields it shows, of the cases they see, that
    they may read."""
    return {marker(case, field) for case, fields in SEES[role].items() for field in fields & document_fields}


def restricted_cases(role: str) -> list[str]:
    return [case for case in CASES if case not in SEES[role]]


def markers_in(text: str) -> set[str]:
    """The markers found in a text, also where a line break (a PDF's, a calendar file's) split one."""
    lowered = text.lower()
    joined = "".join(lowered.split())
    return {m for m in EVERY_MARKER if m.lower() in lowered or m.lower() in joined}


NAME_MARKERS = {marker(case, field) for case in CASES for field in NAME}


def names_in(text: str) -> set[str]:
    """The young people's names found in a text."""
    return markers_in(text) & NAME_MARKERS


# --- The world ----------------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, int]  # role -> user id
    agencies: dict[str, int]  # "yot", "housing", "education" -> id
    contacts: dict[str, str]  # the same -> contact email
    meeting_id: int
    meeting_uid: str
    items: dict[str, int]  # case -> agenda item id
    referrals: dict[str, int]


def _born(age: int) -> date:
    """A date of birth giving this age on any day within two months of today."""
    now = today()
    return date(now.year - age, now.month, min(now.day, 28)) - timedelta(days=70)


def build_world() -> World:
    region = make_region(name="Meeting leak region")
    contacts = {"yot": "yot@leak-meeting.example", "housing": "housing@leak-meeting.example",
                "education": "school@leak-meeting.example"}
    yot = make_agency(type="yot", name="Leak Meeting YOT", contact_email=contacts["yot"])
    housing = make_agency(type="housing", name="Leak Meeting Housing", contact_email=contacts["housing"])
    education = make_agency(type="education", name="Leak Meeting School", contact_email=contacts["education"])
    broker = make_user(Role.BROKER, name="Leak Meeting Broker")
    partnership = make_partnership(agencies=[yot, housing, education], brokers=[broker], region=region,
                                   name="Leak Meeting Partnership")
    users = {
        BROKER: broker,
        REFERRER: make_user(Role.AGENCY_STAFF, agency=yot),
        HOUSING: make_user(Role.AGENCY_STAFF, agency=housing),
        EDUCATION: make_user(Role.AGENCY_STAFF, agency=education),
    }
    inside = make_referral(
        partnership=partnership, referrer=users[REFERRER], broker=broker, status="accepted",
        shared_with=[(housing, [Pathway.ACCOMMODATION])], reason=marker(INSIDE, REASON),
        needs={Pathway.ACCOMMODATION: (NeedRating.RED, marker(INSIDE, OPEN_NOTE)),
               Pathway.HEALTH: (NeedRating.RED, marker(INSIDE, HEALTH_NOTE))},
        young_person=YoungPersonDetails(marker(INSIDE, GIVEN), marker(INSIDE, FAMILY), _born(AGES[INSIDE])),
    )
    outside = make_referral(
        partnership=partnership, referrer=users[REFERRER], broker=broker, status="accepted",
        reason=marker(OUTSIDE, REASON),
        needs={Pathway.ETE: (NeedRating.RED, marker(OUTSIDE, OPEN_NOTE)),
               Pathway.FAMILIES: (NeedRating.AMBER, None),
               Pathway.HEALTH: (NeedRating.GREEN, marker(OUTSIDE, HEALTH_NOTE))},
        young_person=YoungPersonDetails(marker(OUTSIDE, GIVEN), marker(OUTSIDE, FAMILY), _born(AGES[OUTSIDE])),
    )
    referrals = {INSIDE: inside, OUTSIDE: outside}
    meeting = make_meeting(partnership=partnership, broker=broker, agenda=[inside, outside])
    items = {case: next(i for i in meeting.items if i.referral_id == referrals[case].id) for case in CASES}
    for case, item in items.items():
        service.record_views(broker, item, marker(case, VIEWS))
    # Asked of every agency involved in each case: the YOT (both) and housing (INSIDE).
    service.request_updates(broker, meeting, today() + timedelta(days=1))
    db.session.flush()

    def request(case: str, agency_id: int):
        return next(r for r in items[case].update_requests if r.agency_id == agency_id)

    service.send_update(users[HOUSING], request(INSIDE, housing.id), marker(INSIDE, UPDATE))
    service.send_update(users[REFERRER], request(OUTSIDE, yot.id), marker(OUTSIDE, UPDATE))
    db.session.flush()
    for case, item in items.items():
        service.save_notes(broker, item, marker(case, DISCUSSION), marker(case, DECISION), item.version)
    db.session.flush()
    return World({role: user.id for role, user in users.items()},
                 {"yot": yot.id, "housing": housing.id, "education": education.id}, contacts,
                 meeting.id, meeting.uid, {case: item.id for case, item in items.items()},
                 {case: referral.id for case, referral in referrals.items()})


@pytest.fixture(scope="module")
def world_to_come(app: Flask, module_connection) -> World:
    """The world, its meeting still to come."""
    return built_once(app, module_connection, build_world)


@pytest.fixture
def world(world_to_come: World) -> World:
    """The world, its meeting held: moved into the past, the attendance recorded, marked as held (in the
    case's SAVEPOINT, like anything the case does)."""
    world = world_to_come
    broker = user_of(world, BROKER)
    meeting = db.session.get(PanelMeeting, world.meeting_id)
    meeting.starts_at = meeting.starts_at - timedelta(days=7, hours=3)
    meeting.ends_at = meeting.starts_at + timedelta(hours=2)
    db.session.flush()
    agencies = world.agencies
    service.record_attendance(broker, meeting, {
        agencies["yot"]: (AttendanceStatus.PRESENT, "Case manager"),
        agencies["housing"]: (AttendanceStatus.INFORMATION_SENT, None),
        agencies["education"]: (AttendanceStatus.APOLOGIES, None),
    })
    service.mark_held(broker, meeting)
    db.session.commit()
    return world


def user_of(world: World, role: str) -> User:
    """The person of that role, loaded in the case's own session."""
    return db.session.get(User, world.users[role])


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    response = sign_in(client, user.email)
    assert response.status_code == 302, f"sign-in failed for {user.email}"
    return client


# --- Reading what comes back --------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() for page in reader.pages)
    metadata = " ".join(str(value) for value in (reader.metadata or {}).values())
    return " ".join(f"{text} {metadata}".split())


def calendar_text(data: bytes) -> str:
    """Every value of every component of a calendar file, and the file unfolded (a long line is
    folded over two, which could split a marker)."""
    calendar = Calendar.from_ical(data)
    values = [str(value) for component in calendar.walk() for _name, value in component.property_items()]
    return " ".join(values) + " " + data.decode().replace("\r\n ", "").replace("\r\n\t", "")


def readable(response) -> str:
    """What a person reads in an answer, whatever its type, with its headers (file names)."""
    headers = " ".join(f"{key}: {value}" for key, value in response.headers.items())
    if response.mimetype == "application/pdf":
        return pdf_text(response.data) + " " + headers
    if response.mimetype == "text/calendar":
        return calendar_text(response.data) + " " + headers
    return response.get_data(as_text=True) + " " + headers


def restricted_texts(case: str, document: str) -> list[str]:
    """How a case outside the reader's circle appears in a document: initials, age (and, where the
    document lists them, the pathways of need)."""
    short = f"{INITIALS[case]}, aged {AGES[case]}"
    if document == "pack":
        return [f"{short}. Pathways of need: {NEED_LABELS[case]}"]
    if document == "page":
        return [short, f"Pathways of need: {NEED_LABELS[case]}"]
    return [short]  # the minutes


def test_the_markers_are_distinct() -> None:
    """No marker is part of another (or a hit for one would be a hit for both)."""
    for one in EVERY_MARKER:
        for other in EVERY_MARKER - {one}:
            assert one.lower() not in other.lower()
    assert len(EVERY_MARKER) == len(CASES) * len(FIELDS) == 18


# --- Walking every meeting route ----------------------------------------------------------------


PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def meeting_urls(app: Flask, world: World, token: str) -> Iterator[tuple[str, str | None]]:
    """Every GET route of the meeting, calendar and meeting-API endpoints, with the world's meeting,
    each agenda item, the person's calendar secret; the documents again as each agency's preview.
    Yields (url, the agency key whose view a preview shows, or None)."""
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith(("meetings.", "calendar.", "api.meeting")) or "GET" not in rule.methods:
            continue
        names = {name for _converter, name in PARAMETER.findall(rule.rule)}
        assert names <= {"meeting_id", "item_id", "token"}, f"{rule.rule}: teach the walk its parameters"
        item_ids = list(world.items.values()) if "item_id" in names else [None]
        for item_id in item_ids:
            values = {"meeting_id": world.meeting_id, "item_id": item_id, "token": token}
            url = adapter.build(rule.endpoint, {name: values[name] for name in names})
            yield url, None
            if rule.endpoint in ("meetings.pack_pdf", "meetings.minutes_pdf"):
                for agency in world.agencies:
                    yield f"{url}?agency={world.agencies[agency]}", agency


@pytest.mark.parametrize("role", ROLES)
def test_every_meeting_route_shows_each_person_only_what_they_may_see(app: Flask, api_token, role: str,
                                                                      world: World) -> None:
    user = user_of(world, role)
    token = accounts.new_calendar_token(user)
    db.session.commit()
    headers = api_token(user)
    client = _client(app, user)

    seen: set[str] = set()
    visited = 0
    for url, preview_of in meeting_urls(app, world, token):
        response = client.get(url, headers=headers if url.startswith("/api/") else None)
        visited += 1
        assert response.status_code < 500, f"{url} as {role}: {response.status_code}"
        found = markers_in(readable(response))
        # A broker's preview of an agency's document shows what that agency may see, no more.
        may_see = allowed(AGENCY_ROLE[preview_of]) if preview_of else allowed(role)
        leaked = found - may_see
        assert not leaked, f"{url} as {role} ({response.status_code}) shows what it may not: {sorted(leaked)}"
        if preview_of is None:
            seen |= found
    # Everything the person may see does reach them somewhere: the walk is not blind.
    assert seen == allowed(role), f"{role} never saw {sorted(allowed(role) - seen)}"
    assert visited >= 25
    print(f"\n{role}: {visited} GET requests, {len(seen)} markers seen where allowed, none elsewhere")


# --- Each document, read closely ----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_meeting_page_and_api_name_only_the_cases_the_person_is_involved_in(app: Flask, api_token,
                                                                              role: str, world: World) -> None:
    user = user_of(world, role)
    headers = api_token(user)
    client = _client(app, user)

    page = client.get(f"/meetings/{world.meeting_id}")
    assert page.status_code == 200
    text = " ".join(BeautifulSoup(page.text, "html.parser").get_text(" ").split())
    assert markers_in(text) == expected_in(role, PAGE_FIELDS)
    for case in restricted_cases(role):
        for restricted in restricted_texts(case, "page"):
            assert restricted in text, f"{case} as {role}: {restricted!r} missing from the meeting page"

    detail = client.get(f"/api/v1/meetings/{world.meeting_id}", headers=headers)
    listing = client.get("/api/v1/meetings", headers=headers)
    assert (detail.status_code, listing.status_code) == (200, 200)
    assert listing.json["total"] == 1
    for meeting in (detail.json, listing.json["items"][0]):
        assert meeting["id"] == world.meeting_id
        assert markers_in(str(meeting)) == expected_in(role, API_FIELDS)
        by_item = {item["id"]: item for item in meeting["agenda"]}
        assert set(by_item) == set(world.items.values())
        for case in CASES:
            item = by_item[world.items[case]]
            if case in SEES[role]:
                assert item["referral_id"] == world.referrals[case]
                assert (item["young_person"]["given_name"], item["young_person"]["family_name"]) == (
                    marker(case, GIVEN), marker(case, FAMILY))
                assert item["restricted"] is None
            else:
                assert item["referral_id"] is None and item["young_person"] is None
                assert item["restricted"] == {"initials": INITIALS[case], "age": AGES[case],
                                              "pathways_of_need": NEED_KEYS[case]}
                assert item["information_sent_by"] == []


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("door", ["page", "api"])
def test_the_pack_and_minutes_pdfs_give_in_full_only_the_readers_cases(app: Flask, api_token, role: str,
                                                                       door: str, world: World) -> None:
    user = user_of(world, role)
    headers = api_token(user)
    client = _client(app, user)
    prefix = "/api/v1" if door == "api" else ""
    for document, fields in (("pack", PACK_FIELDS), ("minutes", MINUTES_FIELDS)):
        response = client.get(f"{prefix}/meetings/{world.meeting_id}/{document}.pdf",
                              headers=headers if door == "api" else None)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        text = pdf_text(response.data)
        assert markers_in(text) == expected_in(role, fields), f"{document}.pdf as {role}"
        for case in restricted_cases(role):
            for restricted in restricted_texts(case, document):
                assert restricted in text, f"{document}.pdf as {role}: {restricted!r} missing"
        if role == HOUSING:
            # The restricted health note of the case housing works on stays out; the note is marked as held back.
            assert marker(INSIDE, HEALTH_NOTE) not in text
            if document == "pack":
                assert "Restricted note" in text


@pytest.mark.parametrize("agency", ["yot", "housing", "education"])
def test_the_brokers_preview_of_an_agencys_documents_is_what_that_agency_may_see(app: Flask, agency: str,
                                                                                 world: World) -> None:
    client = _client(app, user_of(world, BROKER))
    role = AGENCY_ROLE[agency]
    for document, fields in (("pack", PACK_FIELDS), ("minutes", MINUTES_FIELDS)):
        response = client.get(f"/meetings/{world.meeting_id}/{document}.pdf?agency={world.agencies[agency]}")
        assert response.status_code == 200
        text = pdf_text(response.data)
        assert markers_in(text) == expected_in(role, fields), f"{document}.pdf previewed for {agency}"
        for case in restricted_cases(role):
            for restricted in restricted_texts(case, document):
                assert restricted in text


@pytest.mark.parametrize("role", ROLES)
def test_calendar_files_and_the_feed_carry_no_young_persons_data(app: Flask, api_token, role: str,
                                                                 world: World) -> None:
    user = user_of(world, role)
    token = accounts.new_calendar_token(user)
    db.session.commit()
    headers = api_token(user)
    client = _client(app, user)
    for url in (f"/meetings/{world.meeting_id}/invite.ics", f"/api/v1/meetings/{world.meeting_id}/invite.ics"):
        response = client.get(url, headers=headers if url.startswith("/api/") else None)
        assert response.status_code == 200 and response.mimetype == "text/calendar"
        calendar = Calendar.from_ical(response.data)
        events = calendar.walk("VEVENT")
        assert len(events) == 1, url
        assert str(events[0]["UID"]) == world.meeting_uid
        assert markers_in(readable(response)) == set(), url
        assert names_in(readable(response)) == set()
    anonymous = app.test_client()  # a calendar program: no session, only the secret link
    feed = anonymous.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200
    assert world.meeting_uid in {str(event["UID"]) for event in Calendar.from_ical(feed.data).walk("VEVENT")}
    assert markers_in(readable(feed)) == set()


def test_the_update_page_shows_an_agency_only_the_case_it_was_asked_about(app: Flask, world_to_come: World) -> None:
    client = _client(app, user_of(world_to_come, HOUSING))
    asked = client.get(f"/meetings/{world_to_come.meeting_id}/items/{world_to_come.items[INSIDE]}/update")
    assert asked.status_code == 200
    assert markers_in(asked.text) <= allowed(HOUSING)
    assert {marker(INSIDE, GIVEN), marker(INSIDE, FAMILY)} <= markers_in(asked.text)
    not_asked = client.get(f"/meetings/{world_to_come.meeting_id}/items/{world_to_come.items[OUTSIDE]}/update")
    assert not_asked.status_code == 404
    assert markers_in(not_asked.text) == set()


def test_withdrawn_consent_turns_the_case_back_into_initials_for_the_agency_it_was_shared_with(
        app: Flask, api_token, world_to_come: World) -> None:
    """docs/domain.md: withdrawn consent narrows the circle back to the referring agency and the broker."""
    referral = db.session.get(Referral, world_to_come.referrals[INSIDE])
    referral_service.withdraw_consent(user_of(world_to_come, REFERRER), referral, None,
                                      "The young person asked us to stop")
    db.session.commit()

    def documents(role: str) -> dict[str, str]:
        user = user_of(world_to_come, role)
        headers = api_token(user)
        client = _client(app, user)
        base = f"/meetings/{world_to_come.meeting_id}"
        return {
            "page": client.get(base).text,
            "api": client.get(f"/api/v1{base}", headers=headers).get_data(as_text=True),
            "list": client.get("/api/v1/meetings", headers=headers).get_data(as_text=True),
            "pack": pdf_text(client.get(f"{base}/pack.pdf").data),
            "minutes": pdf_text(client.get(f"{base}/minutes.pdf").data),
        }

    housing = documents(HOUSING)
    for name, text in housing.items():
        assert markers_in(text) == set(), f"{name} as housing after the withdrawal: {sorted(markers_in(text))}"
    for name in ("page", "pack", "minutes"):
        assert f"{INITIALS[INSIDE]}, aged {AGES[INSIDE]}" in housing[name], name
    [inside] = [item for item in json.loads(housing["api"])["agenda"] if item["id"] == world_to_come.items[INSIDE]]
    assert inside["young_person"] is None and inside["referral_id"] is None
    assert inside["restricted"]["initials"] == INITIALS[INSIDE]
    for role in (BROKER, REFERRER):
        pack = documents(role)["pack"]
        assert {marker(INSIDE, GIVEN), marker(INSIDE, HEALTH_NOTE)} <= markers_in(pack), role


# --- Emails -------------------------------------------------------------------------------------


def _attachments(message: EmailMessage, content_type: str) -> list[bytes]:
    return [part.get_content() for part in message.iter_attachments() if part.get_content_type() == content_type]


def _message_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return f"{message['Subject']} {body.get_content() if body is not None else ''}"


def _approve_minutes_through_the_page(app: Flask, world: World) -> None:
    forget_queued_emails()  # the world's invitations and update requests: these tests check the minutes
    client = _client(app, user_of(world, BROKER))
    page = client.get(f"/meetings/{world.meeting_id}/minutes")
    assert page.status_code == 200
    version = re.search(r'name="version" type="hidden" value="(\d+)"|name="version" value="(\d+)"', page.text)
    assert version, "the minutes form carries the meeting's version"
    response = client.post(f"/meetings/{world.meeting_id}/minutes", data={
        "csrf_token": csrf_token_from(page.text), "version": version.group(1) or version.group(2),
        "minutes_notes": "The next panel is on the first Tuesday of next month.",
        "approve": "Approve and send to each agency",
    })
    assert response.status_code == 302, response.text[:500]
    assert response.headers["Location"] == f"/meetings/{world.meeting_id}"


def test_each_agency_is_emailed_minutes_naming_only_its_own_cases(app: Flask, smtp, world: World) -> None:
    _approve_minutes_through_the_page(app, world)

    minutes = [m for m in smtp.messages if _attachments(m, "application/pdf")]
    assert sorted(m["To"] for m in minutes) == sorted(world.contacts.values()), "one email per agency"
    for agency, address in world.contacts.items():
        [message] = smtp.to(address)
        role = AGENCY_ROLE[agency]
        assert names_in(message["Subject"]) == set() and markers_in(message["Subject"]) == set()
        assert all(INITIALS[case] not in message["Subject"].split() for case in CASES)
        assert markers_in(_message_text(message)) == set(), f"the email to {agency} names a young person"
        [pdf] = _attachments(message, "application/pdf")
        text = pdf_text(pdf)
        assert markers_in(text) == expected_in(role, MINUTES_FIELDS), f"the minutes emailed to {agency}"
        for case in restricted_cases(role):
            assert f"{INITIALS[case]}, aged {AGES[case]}" in text
    # The agency with no case gets the minutes with initials only.
    [school] = smtp.to(world.contacts["education"])
    text = pdf_text(_attachments(school, "application/pdf")[0])
    assert names_in(text) == set()
    assert all(f"{INITIALS[case]}, aged {AGES[case]}" in text for case in CASES)
    # And the record of what was sent agrees.
    db.session.expire_all()
    recorded = db.session.scalars(select(SentEmail).where(SentEmail.meeting_id == world.meeting_id,
                                                          SentEmail.kind == "meeting.minutes")).all()
    assert sorted(r.recipient for r in recorded) == sorted(world.contacts.values())
    assert all(r.sent_at is not None and r.error is None for r in recorded)
    assert all(markers_in(r.subject) == set() for r in recorded)


def test_minutes_approved_through_the_service_are_delivered_the_same_way(app: Flask, smtp, world: World) -> None:
    forget_queued_emails()  # the world's invitations and update requests: not this test's business
    broker = user_of(world, BROKER)
    with app.test_request_context("/"):
        meeting = service.get_meeting(broker, world.meeting_id)
        sent = service.approve_minutes(broker, meeting, "Next panel in a month.")
        db.session.commit()
        delivered = deliver_emails()
    assert sent == delivered == 3
    for agency, address in world.contacts.items():
        [message] = smtp.to(address)
        text = pdf_text(_attachments(message, "application/pdf")[0])
        assert markers_in(text) == expected_in(AGENCY_ROLE[agency], MINUTES_FIELDS), agency
        assert markers_in(message["Subject"]) == set()


def test_each_agency_is_emailed_a_pack_naming_only_its_own_cases(app: Flask, smtp, world_to_come: World) -> None:
    client = _client(app, user_of(world_to_come, BROKER))
    page = client.get(f"/meetings/{world_to_come.meeting_id}")
    db.session.expire_all()
    version = db.session.get(PanelMeeting, world_to_come.meeting_id).version
    response = client.post(f"/meetings/{world_to_come.meeting_id}/send-packs",
                           data={"csrf_token": csrf_token_from(page.text), "version": str(version)})
    assert response.status_code == 302, response.text[:500]

    packs = [m for m in smtp.messages if _attachments(m, "application/pdf")]
    assert sorted(m["To"] for m in packs) == sorted(world_to_come.contacts.values())
    for agency, address in world_to_come.contacts.items():
        [message] = [m for m in packs if address in m["To"]]
        role = AGENCY_ROLE[agency]
        assert markers_in(_message_text(message)) == set(), f"the email to {agency} names a young person"
        text = pdf_text(_attachments(message, "application/pdf")[0])
        assert markers_in(text) == expected_in(role, PACK_FIELDS), f"the pack emailed to {agency}"
        for case in restricted_cases(role):
            for restricted in restricted_texts(case, "pack"):
                assert restricted in text


def test_invitations_and_update_requests_name_no_young_person(app: Flask, smtp, world_to_come: World) -> None:
    """The emails of scheduling and of asking for updates: no name, no marker, in the subject, the
    text or the calendar files; update requests name the cases by initials, each agency its own."""
    with app.test_request_context("/"):
        db.session.commit()
        delivered = deliver_emails()
    assert delivered == len(smtp.messages) == 5  # three invitations, two update requests
    for message in smtp.messages:
        assert markers_in(_message_text(message)) == set(), message["Subject"]
        for ics in _attachments(message, "text/calendar"):
            assert markers_in(calendar_text(ics if isinstance(ics, bytes) else ics.encode())) == set()
        assert _attachments(message, "application/pdf") == []
    requests = {m["To"]: _message_text(m) for m in smtp.messages if "Update needed" in m["Subject"]}
    assert set(requests) == {world_to_come.contacts["yot"], world_to_come.contacts["housing"]}
    assert INITIALS[INSIDE] in requests[world_to_come.contacts["housing"]].split()
    assert INITIALS[OUTSIDE] not in requests[world_to_come.contacts["housing"]].split()
    to_yot = requests[world_to_come.contacts["yot"]]
    assert {INITIALS[INSIDE], INITIALS[OUTSIDE]} <= set(to_yot.replace(",", " ").split())
