"""The access matrix of the panel-meeting routes: every route (page and API) x every kind of caller
-> the status, and what the lists and the calendar feed show.

The expectations are written out here by hand from docs/domain.md ("Who may see what") and docs/api.md, never
derived from policy.py, so that a change of rule has to be a change of this table too.

The rules, as written for meetings:

* A meeting is visible to the members of its partnership: its brokers and the staff of its member
  agencies. Everyone else (the broker or an agency of another partnership, a strategic lead, an
  admin) gets a 404 on anything naming the meeting, page and API alike: never a 403, which would
  confirm that it exists.
* A member who may not do an action gets a 403: agency staff on the broker's pages (edit, cancel,
  the agenda, asking for updates, the young person's views, meeting mode, attendance, notes, needs,
  recording an action in meeting mode, marking as held, sending the packs, the minutes, an agency's
  pack, minutes or action list previewed with ``?agency=``), and the broker on the page where an
  asked agency sends its own update (as on a referral, where only the referring agency answers the
  broker's question: the broker gets a 403).
  The update page is about one case: staff of an agency involved in none of the cases get the 404
  of a referral they may not see (docs/domain.md: "not even that they exist").
* Scheduling (``/meetings/new``) is for brokers: other roles get a 403 there (it names no record).
  Strategic leads and admins get a 403 on the meetings list page, as on the referral list; the API
  list answers them with an empty list.
* ``POST /api/v1/meetings`` for partnership P: P's broker 201; callers who see P but may not
  schedule its panels (its member agencies' staff; the strategic lead, whose region holds P) 403;
  callers to whom P is unknown 404.
* The meeting's action list (``actions.pdf``) is for its members: each gets the actions its own
  agency owes on the meeting's cases; the broker every agency's, and with ``?agency=`` one agency's.
* Anonymous: a redirect to /sign-in on pages, a 401 on the API. The calendar feed is public (its URL
  is the secret): 404 for an unknown secret, 200 for a real one, whoever asks.

What "allowed in" means, route by route (the status an allowed caller gets in this world): GET 200;
a POST of a form with only the CSRF token (and the meeting's version) 400 where the form has a
required field, a redirect (302) where it has none (cancel, the young person's views, a draft of the
minutes, sending the packs), 422 for "mark as held" (the meeting has not started yet); the API:
GET 200, POST 201.

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after
it, so every case meets the world as built):

* partnership P (in the lead's region), member agencies: a YOT (the referrer), a housing agency
  (AGENDA shared with it for accommodation: "involved") and an education provider (involved in
  nothing: "uninvolved"); brokered by "broker".
* partnership Q (another region), member agency: another YOT ("other partnership"); brokered by
  "other broker".
* referrals of P: AGENDA (accepted, shared with housing, on the meeting's agenda) and WAITING
  (accepted, not on any agenda, shared with nobody).
* actions on AGENDA: one owed by housing, one owed by the YOT.
* meetings: MEETING (P, in a week, AGENDA on its agenda, updates asked of the YOT and housing),
  PAST (P, two weeks ago) and ELSEWHERE (Q, in a week).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta

import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar

from panel_app.models import Role, User, db, utcnow
from panel_app.pathways import Pathway
from panel_app.services import accounts
from panel_app.services import actions as action_service
from panel_app.services import meetings as meeting_service
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import built_once, csrf_token_from
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_region, make_user

ANONYMOUS = "anonymous"
BROKER = "broker"
OTHER_BROKER = "other_broker"
INVOLVED = "involved_agency"
UNINVOLVED = "uninvolved_agency"
OTHER_PARTNERSHIP = "other_partnership"
LEAD = "strategic_lead"
ADMIN = "admin"
ROLES = [ANONYMOUS, BROKER, OTHER_BROKER, INVOLVED, UNINVOLVED, OTHER_PARTNERSHIP, LEAD, ADMIN]

# The meetings of the world.
MEETING = "meeting"
PAST = "past"
ELSEWHERE = "elsewhere"

# The young people of the world (family names are unique: a name found in a page is theirs).
AGENDA_CASE, WAITING_CASE = "agenda_case", "waiting_case"
NAMES = {AGENDA_CASE: ("Rhodri", "Meetmatrixagenda"), WAITING_CASE: ("Seren", "Meetmatrixwaiting")}
# The actions on AGENDA, by the words of their descriptions.
HOUSING_PROMISE, YOT_PROMISE = "Meetmatrixhousingpromise", "Meetmatrixyotpromise"
# Whose names a caller may ever read, on any page or answer of this matrix.
MAY_READ = {BROKER: {AGENDA_CASE, WAITING_CASE}, INVOLVED: {AGENDA_CASE}}

# (method, path, door) -> status per role, in the order of ROLES:
#  anon broker other_broker involved uninvolved other_partnership lead admin
EXPECTED: dict[tuple[str, str, str], list[int]] = {
    # --- Pages that name no meeting.
    ("GET", "/meetings/", "page"):                                  [302, 200, 200, 200, 200, 200, 403, 403],
    ("GET", "/meetings/new", "page"):                               [302, 200, 200, 403, 403, 403, 403, 403],
    ("POST", "/meetings/new", "page"):                              [302, 400, 400, 403, 403, 403, 403, 403],
    # --- One meeting: members see it.
    ("GET", "/meetings/{meeting}", "page"):                         [302, 200, 404, 200, 200, 404, 404, 404],
    ("GET", "/meetings/{meeting}/pack.pdf", "page"):                [302, 200, 404, 200, 200, 404, 404, 404],
    ("GET", "/meetings/{meeting}/minutes.pdf", "page"):             [302, 200, 404, 200, 200, 404, 404, 404],
    ("GET", "/meetings/{meeting}/actions.pdf", "page"):             [302, 200, 404, 200, 200, 404, 404, 404],
    ("GET", "/meetings/{meeting}/invite.ics", "page"):              [302, 200, 404, 200, 200, 404, 404, 404],
    # --- One meeting: the broker's pages.
    ("GET", "/meetings/{meeting}/pack.pdf?agency={housing}", "page"):
                                                                    [302, 200, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/minutes.pdf?agency={housing}", "page"):
                                                                    [302, 200, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/actions.pdf?agency={housing}", "page"):
                                                                    [302, 200, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/edit", "page"):                    [302, 200, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/edit", "page"):                   [302, 400, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/cancel", "page"):                  [302, 200, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/cancel", "page"):                 [302, 302, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/agenda", "page"):                  [302, 200, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/agenda", "page"):                 [302, 400, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/agenda/{item}", "page"):          [302, 400, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/request-updates", "page"):         [302, 200, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/request-updates", "page"):        [302, 400, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/items/{item}/views", "page"):      [302, 200, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/items/{item}/views", "page"):     [302, 302, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/run", "page"):                     [302, 200, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/attendance", "page"):             [302, 400, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/items/{item}/notes", "page"):     [302, 400, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/items/{item}/needs", "page"):     [302, 400, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/items/{item}/actions", "page"):   [302, 400, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/held", "page"):                   [302, 422, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/send-packs", "page"):             [302, 302, 404, 403, 403, 404, 404, 404],
    ("GET", "/meetings/{meeting}/minutes", "page"):                 [302, 200, 404, 403, 403, 404, 404, 404],
    ("POST", "/meetings/{meeting}/minutes", "page"):                [302, 302, 404, 403, 403, 404, 404, 404],
    # --- One meeting: the page where an asked agency sends its update on one case.
    ("GET", "/meetings/{meeting}/items/{item}/update", "page"):     [302, 403, 404, 200, 404, 404, 404, 404],
    ("POST", "/meetings/{meeting}/items/{item}/update", "page"):    [302, 403, 404, 400, 404, 404, 404, 404],
    # --- The calendar feed: settings for anyone signed in; the feed by its secret, whoever asks.
    ("GET", "/calendar/", "page"):                                  [302, 200, 200, 200, 200, 200, 200, 200],
    ("POST", "/calendar/", "page"):                                 [302, 200, 200, 200, 200, 200, 200, 200],
    ("GET", "/calendar/not-a-calendar-secret.ics", "page"):         [404, 404, 404, 404, 404, 404, 404, 404],
    ("GET", "/calendar/{token}.ics", "page"):                       [200, 200, 200, 200, 200, 200, 200, 200],
    # --- API.
    ("GET", "/api/v1/meetings", "api"):                             [401, 200, 200, 200, 200, 200, 200, 200],
    ("GET", "/api/v1/meetings?partnership_id={partnership}", "api"): [401, 200, 200, 200, 200, 200, 200, 200],
    ("POST", "/api/v1/meetings", "api"):                            [401, 201, 404, 403, 403, 404, 403, 404],
    ("GET", "/api/v1/meetings/{meeting}", "api"):                   [401, 200, 404, 200, 200, 404, 404, 404],
    ("POST", "/api/v1/meetings/{meeting}/agenda", "api"):           [401, 201, 404, 403, 403, 404, 404, 404],
    ("GET", "/api/v1/meetings/{meeting}/invite.ics", "api"):        [401, 200, 404, 200, 200, 404, 404, 404],
    ("GET", "/api/v1/meetings/{meeting}/pack.pdf", "api"):          [401, 200, 404, 200, 200, 404, 404, 404],
    ("GET", "/api/v1/meetings/{meeting}/minutes.pdf", "api"):       [401, 200, 404, 200, 200, 404, 404, 404],
}

# Where an allowed change sends the browser.
REDIRECTS = {
    ("POST", "/meetings/{meeting}/cancel"): "/meetings/{meeting}",
    ("POST", "/meetings/{meeting}/items/{item}/views"): "/meetings/{meeting}#item-{item}",
    ("POST", "/meetings/{meeting}/send-packs"): "/meetings/{meeting}",
    ("POST", "/meetings/{meeting}/minutes"): "/meetings/{meeting}/minutes",
}

# What the lists (and the calendar feed) show each caller, by the meetings' placeholders.
P_MEETINGS = {MEETING, PAST}
Q_MEETINGS = {ELSEWHERE}
LISTED: dict[tuple[str, str], dict[str, set[str]]] = {
    ("GET", "/meetings/"): {
        BROKER: P_MEETINGS, OTHER_BROKER: Q_MEETINGS, INVOLVED: P_MEETINGS, UNINVOLVED: P_MEETINGS,
        OTHER_PARTNERSHIP: Q_MEETINGS,
    },
    ("GET", "/api/v1/meetings"): {
        BROKER: P_MEETINGS, OTHER_BROKER: Q_MEETINGS, INVOLVED: P_MEETINGS, UNINVOLVED: P_MEETINGS,
        OTHER_PARTNERSHIP: Q_MEETINGS, LEAD: set(), ADMIN: set(),
    },
    # Filtering by P's id shows P's meetings to P's members, and nothing to anyone else.
    ("GET", "/api/v1/meetings?partnership_id={partnership}"): {
        BROKER: P_MEETINGS, OTHER_BROKER: set(), INVOLVED: P_MEETINGS, UNINVOLVED: P_MEETINGS,
        OTHER_PARTNERSHIP: set(), LEAD: set(), ADMIN: set(),
    },
    # The feed of the caller's own secret (anonymous: holding the broker's link).
    ("GET", "/calendar/{token}.ics"): {
        ANONYMOUS: P_MEETINGS, BROKER: P_MEETINGS, OTHER_BROKER: Q_MEETINGS, INVOLVED: P_MEETINGS,
        UNINVOLVED: P_MEETINGS, OTHER_PARTNERSHIP: Q_MEETINGS, LEAD: set(), ADMIN: set(),
    },
}

CASES = [
    pytest.param(method, path, door, role, statuses[index], id=f"{method} {path} as {role}")
    for (method, path, door), statuses in EXPECTED.items()
    for index, role in enumerate(ROLES)
]

# The actions each caller finds in the meeting's action list: its own agency's; the broker's, every
# agency's; the broker's preview of housing's, housing's.
ACTIONS_LISTED: dict[tuple[str, str], dict[str, set[str]]] = {
    ("GET", "/meetings/{meeting}/actions.pdf"): {
        BROKER: {HOUSING_PROMISE, YOT_PROMISE}, INVOLVED: {HOUSING_PROMISE}, UNINVOLVED: set()},
    ("GET", "/meetings/{meeting}/actions.pdf?agency={housing}"): {BROKER: {HOUSING_PROMISE}},
}

# 45 routes (rows of EXPECTED: 37 pages, 8 API) x 8 callers, counted by hand.
EXPECTED_ROW_COUNT = 45
EXPECTED_CASE_COUNT = 360


@dataclass
class World:
    users: dict[str, int]  # role -> user id
    meetings: dict[str, int]  # key -> meeting id
    meeting_uids: dict[str, str]  # key -> the meeting's calendar UID
    meeting_version: int  # MEETING's, as built
    referrals: dict[str, int]
    partnership_id: int
    housing_id: int
    item_id: int


def build_world() -> World:
    home_region = make_region(name="Meeting home region")
    yot = make_agency(type="yot", name="Meeting YOT")
    housing = make_agency(type="housing", name="Meeting Housing")
    education = make_agency(type="education", name="Meeting School")
    broker = make_user(Role.BROKER, name="Meeting Broker")
    home = make_partnership(agencies=[yot, housing, education], brokers=[broker], region=home_region,
                            name="Meeting Home Partnership")
    elsewhere_yot = make_agency(type="yot", name="Elsewhere YOT")
    other_broker = make_user(Role.BROKER, name="Elsewhere Broker")
    elsewhere = make_partnership(agencies=[elsewhere_yot], brokers=[other_broker], region=make_region(),
                                 name="Elsewhere Partnership")
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    users = {
        BROKER: broker,
        OTHER_BROKER: other_broker,
        INVOLVED: make_user(Role.AGENCY_STAFF, agency=housing),
        UNINVOLVED: make_user(Role.AGENCY_STAFF, agency=education),
        OTHER_PARTNERSHIP: make_user(Role.AGENCY_STAFF, agency=elsewhere_yot),
        LEAD: make_user(Role.STRATEGIC_LEAD, region=home_region),
        ADMIN: make_user(Role.ADMIN),
    }

    def person(key: str) -> YoungPersonDetails:
        return YoungPersonDetails(*NAMES[key], date(2009, 5, 17))

    referrals = {
        AGENDA_CASE: make_referral(partnership=home, referrer=referrer, broker=broker, status="accepted",
                                   shared_with=[(housing, [Pathway.ACCOMMODATION])], young_person=person(AGENDA_CASE)),
        WAITING_CASE: make_referral(partnership=home, referrer=referrer, broker=broker, status="accepted",
                                    young_person=person(WAITING_CASE)),
    }
    meeting = make_meeting(partnership=home, broker=broker, agenda=[referrals[AGENDA_CASE]])
    for agency, promise in ((housing, HOUSING_PROMISE), (yot, YOT_PROMISE)):
        action_service.create_action(broker, referrals[AGENDA_CASE], action_service.NewAction(
            pathway=Pathway.ACCOMMODATION, description=f"{promise} to be kept", agency_id=agency.id,
            due_on=today() + timedelta(days=10)))
    # The agencies involved in the case (the YOT that referred it, housing) are asked for updates.
    meeting_service.request_updates(broker, meeting, today() + timedelta(days=1))
    meetings = {
        MEETING: meeting,
        PAST: make_meeting(partnership=home, broker=broker, starts_in=-timedelta(days=14)),
        ELSEWHERE: make_meeting(partnership=elsewhere, broker=other_broker),
    }
    db.session.flush()
    return World({role: user.id for role, user in users.items()}, {key: m.id for key, m in meetings.items()},
                 {key: m.uid for key, m in meetings.items()}, meeting.version,
                 {key: referral.id for key, referral in referrals.items()}, home.id, housing.id, meeting.items[0].id)


@pytest.fixture(scope="module")
def world(app: Flask, module_connection) -> World:
    return built_once(app, module_connection, build_world)


def _fill(path: str, world: World, token: str = "") -> str:
    return path.format(meeting=world.meetings[MEETING], item=world.item_id, housing=world.housing_id,
                       partnership=world.partnership_id, token=token)


def _api_body(method: str, path: str, world: World) -> dict | None:
    if method != "POST":
        return None
    if path == "/api/v1/meetings":
        start = utcnow().replace(microsecond=0) + timedelta(days=10)
        return {"partnership_id": world.partnership_id, "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(), "location": "Town Hall"}
    if path.endswith("/agenda"):
        return {"referral_id": world.referrals[WAITING_CASE], "kind": "review"}
    raise AssertionError(f"no body for {method} {path}")


def _readable(response) -> str:
    """What a person reads in an answer: a PDF's text, or the body as text."""
    if response.mimetype == "application/pdf":
        reader = pypdf.PdfReader(io.BytesIO(response.data))
        return " ".join(page.extract_text() for page in reader.pages)
    return response.get_data(as_text=True)


def _names_in(text: str) -> set[str]:
    lowered = text.lower()
    return {key for key, (_given, family) in NAMES.items() if family.lower() in lowered}


_MEETING_LINK = re.compile(r'href="/meetings/(\d+)"')


def _feed_uids(data: bytes) -> set[str]:
    calendar = Calendar.from_ical(data)
    return {str(event["UID"]) for event in calendar.walk("VEVENT")}


@pytest.mark.parametrize(("method", "path", "door", "role", "expected"), CASES)
def test_meeting_access_matrix(client: FlaskClient, login_as, api_token, world: World, method: str, path: str,
                               door: str, role: str, expected: int) -> None:
    user = db.session.get(User, world.users[role]) if role in world.users else None
    # Each caller's own calendar link; anonymous holds the broker's (the link is the credential).
    token = accounts.new_calendar_token(user if user is not None else db.session.get(User, world.users[BROKER]))
    db.session.commit()
    url = _fill(path, world, token)

    headers: dict[str, str] = {}
    if user is not None:
        if door == "api":
            headers = api_token(user)
        else:
            login_as(user)
    data = None
    if method == "POST" and door == "page":
        # The sign-out form of the header carries the session's CSRF token; anonymous: the sign-in form.
        data = {"csrf_token": csrf_token_from(client.get("/" if user is not None else "/sign-in").text)}
        if "{meeting}" in path:
            data["version"] = str(world.meeting_version)

    response = client.open(url, method=method, headers=headers, data=data,
                           json=_api_body(method, path, world) if door == "api" else None)
    response.close()

    assert response.status_code == expected, (
        f"{method} {path} as {role}: expected {expected}, got {response.status_code}: {response.text[:300]}")

    if expected == 302:
        location = response.headers["Location"]
        if role == ANONYMOUS:
            assert location.startswith("/sign-in"), location
        else:
            assert location == _fill(REDIRECTS[(method, path)], world), location
    if expected == 401:
        assert response.json["error"]["code"] == "unauthorized"
    if door == "api" and expected in (403, 404):
        assert response.json["error"]["code"] == {403: "forbidden", 404: "not_found"}[expected]
    if expected == 201 and path == "/api/v1/meetings":
        assert response.json["partnership_id"] == world.partnership_id
    if expected == 201 and path.endswith("/agenda"):
        assert response.json["referral_id"] == world.referrals[WAITING_CASE]
    if expected == 200 and path.endswith(".pdf"):
        assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    if expected == 200 and path.endswith(".ics"):
        assert response.mimetype == "text/calendar"
        calendar = Calendar.from_ical(response.data)
        if "invite" in path:
            assert [str(e["UID"]) for e in calendar.walk("VEVENT")] == [world.meeting_uids[MEETING]]

    # Nobody reads a name they may not read, whatever the answer; a refusal names nobody.
    names = _names_in(_readable(response))
    assert names <= MAY_READ.get(role, set()), f"{method} {path} as {role} names {names}"
    if expected in (302, 401, 403, 404):
        assert names == set(), f"a refusal named a young person: {names}"
    if expected == 200 and path in ("/meetings/{meeting}", "/api/v1/meetings/{meeting}"):
        # The case on the agenda is named to those involved in it, and to nobody else.
        assert names == ({AGENDA_CASE} if role in (BROKER, INVOLVED) else set())

    promised = ACTIONS_LISTED.get((method, path), {}).get(role)
    if promised is not None:
        text = _readable(response)
        assert {p for p in (HOUSING_PROMISE, YOT_PROMISE) if p in text} == promised, f"{method} {path} as {role}"

    listed = LISTED.get((method, path), {}).get(role)
    if listed is None:
        return
    ids = {world.meetings[key] for key in listed}
    if path.startswith("/calendar/"):
        assert _feed_uids(response.data) == {world.meeting_uids[key] for key in listed}
    elif door == "api":
        body = response.json
        assert {item["id"] for item in body["items"]} == ids
        assert body["total"] == len(listed), f"total counts meetings the caller may not see: {body['total']}"
    else:
        assert {int(found) for found in _MEETING_LINK.findall(response.text)} == ids


def test_the_matrix_covers_every_meeting_route_and_counts_its_cases(app: Flask) -> None:
    """Every meeting route of the URL map (pages, the calendar, the API; each method) has a row; the
    case count is the hand-computed one."""
    adapter = app.url_map.bind("localhost")
    covered = set()
    for method, path, _door in EXPECTED:
        filled = path.split("?")[0].format(meeting=1, item=1, housing=1, partnership=1, token="secret")
        endpoint, _args = adapter.match(filled, method=method)
        covered.add((endpoint, method))
    declared = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("meetings.", "calendar.", "api.meeting"))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert declared - covered == set(), "meeting routes without a row in the access matrix"
    assert covered - declared == set(), "rows of the access matrix for routes that no longer exist"
    assert len(EXPECTED) == EXPECTED_ROW_COUNT
    assert len(CASES) == EXPECTED_CASE_COUNT == len(EXPECTED) * len(ROLES)
    print(f"\nmeeting access matrix: {len(CASES)} cases ({len(EXPECTED)} routes x {len(ROLES)} callers)")
