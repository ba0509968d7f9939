"""Bad input to service gaps (issue 6, "Bad input"): "A gap linked to a referral the caller cannot
see, a response by someone who is not a strategic lead, [...]: a clear message, nothing saved."

(Out-of-order status changes and escalating a resolved gap are in test_access_gaps.py, OUT_OF_ORDER.)

Each case goes through both doors where the door has the field: the HTML pages (signed in, with the
CSRF token) and the JSON API (bearer token). Every answer must be a refusal below 500 with no stack
trace; it names the field at fault (the API's ``error.fields``; on a page, a GOV.UK error summary whose
links land on an element of the page); and nothing is saved: no gap, evidence, history, email or
audit row of a change, and no existing gap touched. A referral the caller may not see is refused in
exactly the words used for an id that does not exist, so refusals never confirm that a record exists.

The expected statuses and messages are written out here by hand, not derived from the code.

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after it,
so every case meets the world as built): region R1 holds partnership P (member agencies: a YOT and
housing; broker B) and P2 (member: housing; its own broker); region R2 holds Q (its own YOT and broker). A
lead of R1 and a lead of R2. Referrals: ALPHA (P, by the YOT, shared with housing), BRAVO (P, by the YOT,
shared with nobody: housing cannot see it), ECHO (P, by housing), DELTA (P2, by housing), CHARLIE (Q).
Actions: housing's open action on ALPHA, the YOT's blocked action on BRAVO (hidden from housing),
housing's blocked action on DELTA (P2). A meeting of Q. Gaps of P: OPEN (evidence ALPHA) and ESCALATED
(evidence ALPHA and BRAVO).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from sqlalchemy import func, select

from panel_app.models import (ActionStatus, AuditEvent, GapEvent, GapReferral, Referral, Role, SentEmail, ServiceGap,
                              User, db)
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services.actions import ActionChange, NewAction
from panel_app.services.clock import today
from tests.conftest import built_once, csrf_token_from
from tests.factories import make_agency, make_gap, make_meeting, make_partnership, make_referral, make_region, make_user

BROKER, YOT, HOUSING, LEAD, OTHER_LEAD = "broker", "yot", "housing", "lead", "other_lead"
CHOOSE = "Choose one of the options listed"  # the pages' answer to any value not among a field's choices
NO_SUCH_REFERRAL = "There is no referral {id} that you can see"  # the service's, for hidden and absent alike
HUGE = 9223372036854775808  # 2**63: more than any database integer holds
# The audit rows a change of a gap writes (reads, such as gap.view on a re-rendered page, are allowed).
CHANGE_AUDITS = ("gap.log", "gap.evidence", "gap.escalate", "gap.respond", "gap.reopen")
API_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 422: "invalid"}


@dataclass
class World:
    users: dict[str, int]  # role -> user id
    ids: dict[str, int]


def build_world() -> World:
    r1, r2 = make_region(), make_region()
    yot, housing, q_yot = make_agency(type="yot"), make_agency(type="housing"), make_agency(type="yot")
    broker, p2_broker, q_broker = make_user(Role.BROKER), make_user(Role.BROKER), make_user(Role.BROKER)
    p = make_partnership(agencies=[yot, housing], brokers=[broker], region=r1)
    p2 = make_partnership(agencies=[housing], brokers=[p2_broker], region=r1)
    q = make_partnership(agencies=[q_yot], brokers=[q_broker], region=r2)
    users = {BROKER: broker, YOT: make_user(Role.AGENCY_STAFF, agency=yot),
             HOUSING: make_user(Role.AGENCY_STAFF, agency=housing),
             LEAD: make_user(Role.STRATEGIC_LEAD, region=r1), OTHER_LEAD: make_user(Role.STRATEGIC_LEAD, region=r2)}
    alpha = make_referral(partnership=p, referrer=users[YOT], broker=broker, status="accepted",
                          shared_with=[(housing, [Pathway.ACCOMMODATION])])
    bravo = make_referral(partnership=p, referrer=users[YOT], broker=broker, status="accepted")
    echo = make_referral(partnership=p, referrer=users[HOUSING], broker=broker)
    delta = make_referral(partnership=p2, referrer=users[HOUSING], broker=p2_broker, status="accepted")
    charlie = make_referral(partnership=q, referrer=make_user(Role.AGENCY_STAFF, agency=q_yot), broker=q_broker)
    def action(by: User, referral: Referral, agency_id: int) -> Any:
        return action_service.create_action(by, referral, NewAction(Pathway.ACCOMMODATION, "Find a place",
                                                                    agency_id, today() + timedelta(days=5)))

    open_action, hidden_action, p2_action = (action(broker, alpha, housing.id), action(broker, bravo, yot.id),
                                             action(p2_broker, delta, housing.id))
    db.session.flush()
    for who, action in ((users[YOT], hidden_action), (users[HOUSING], p2_action)):
        action_service.update_action(who, action, ActionChange(action.version, ActionStatus.BLOCKED, "No places"))
    gaps = {"open_gap": make_gap(partnership=p, evidence=[alpha]),
            "escalated_gap": make_gap(partnership=p, evidence=[alpha, bravo], status="escalated")}
    q_meeting = make_meeting(partnership=q)
    db.session.flush()
    ids = {"P": p.id, "P2": p2.id, "Q": q.id, "alpha": alpha.id, "bravo": bravo.id, "echo": echo.id,
           "delta": delta.id, "charlie": charlie.id, "open_action": open_action.id,
           "hidden_action": hidden_action.id, "p2_action": p2_action.id, "q_meeting": q_meeting.id,
           **{key: gap.id for key, gap in gaps.items()}}
    ids["absent"] = db.session.scalar(select(func.max(Referral.id))) + 1  # the next id: no referral has it
    return World({role: user.id for role, user in users.items()}, ids)


def resolve(value: Any, world: World) -> Any:
    """``"{bravo}"`` -> BRAVO's id; lists and dicts item by item; anything else as it is."""
    if isinstance(value, dict):
        return {key: resolve(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, world) for item in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world.ids[value[1:-1]]
    return value


def as_form(values: dict[str, Any]) -> dict[str, Any]:
    return {key: [str(v) for v in value] if isinstance(value, list) else str(value) for key, value in values.items()}


def snapshot() -> dict[str, Any]:
    """Everything a refused call could have saved."""
    db.session.expire_all()

    def count(model: Any) -> int:
        return db.session.scalar(select(func.count()).select_from(model))

    gaps = db.session.execute(select(ServiceGap.id, ServiceGap.status, ServiceGap.version, ServiceGap.owner,
                                     ServiceGap.target_on, ServiceGap.escalated_at, ServiceGap.responded_at)
                              .order_by(ServiceGap.id)).all()
    audits = db.session.scalar(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action.in_(CHANGE_AUDITS)))
    return {"gaps": [tuple(row) for row in gaps], "evidence": count(GapReferral), "events": count(GapEvent),
            "emails": count(SentEmail), "audits": audits}


def gap(world: World, key: str) -> ServiceGap:
    """A gap of the world as stored now."""
    db.session.expire_all()
    return db.session.get(ServiceGap, world.ids[key])


def checked(response: Any, status: int) -> str:
    """Every answer: below 500, no stack trace, the expected status."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500 and "Traceback" not in body, body[:500]
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {body[:500]}"
    return body


def api_fields(response: Any, status: int) -> dict[str, str]:
    error = response.json["error"]
    assert error["code"] == API_CODES[status] and error["message"], error
    return error.get("fields") or {}


def summary_links(html: str, *, presentation: bool = True) -> dict[str, str]:
    """The GOV.UK error summary as {id of the element linked to: message}. Each link lands on an element
    of the page; with ``presentation``, not one folded away in a closed <details>, and a field a person
    can see shows the message beside itself too (the GOV.UK pattern; a hidden field such as action_id
    cannot)."""
    soup = BeautifulSoup(html, "html.parser")
    summary = soup.select_one(".govuk-error-summary")
    assert summary is not None, "the page has no error summary"
    links = {a["href"][1:]: a.get_text(" ", strip=True) for a in summary.select("a[href^='#']")}
    inline = [e.get_text(" ", strip=True) for e in soup.select(".govuk-error-message")]
    for target, message in links.items():
        element = soup.find(id=target)
        assert element is not None, f"the error summary links to #{target}, which is not on the page"
        if presentation:
            folded = element.find_parent("details")
            assert folded is None or folded.has_attr("open"), f"#{target} is inside a closed <details>"
            if element.get("type") != "hidden":
                assert any(message in text for text in inline), f"#{target} does not show its error: {message}"
    return links


@pytest.fixture(scope="module")
def world(app: Flask, module_connection: Any) -> World:
    return built_once(app, module_connection, build_world)


def user_of(world: World, role: str) -> User:
    """The person of that role, loaded in the case's own session."""
    return db.session.get(User, world.users[role])


@pytest.fixture
def send(client: Any, login_as: Any, api_token: Any, world: World) -> Any:
    """``send(door, role, url, data)``: one POST through a door, as a role -> (the answer, the state just
    before it). A page POST carries the session's CSRF token, read from the header's sign-out form."""
    signed_in: list[str] = []

    def _send(door: str, role: str, url: str, data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if door == "page":
            if role not in signed_in:  # once: a signed-in client is sent away from the sign-in page
                assert not signed_in, "one role per test on the pages"
                login_as(user_of(world, role))
                signed_in.append(role)
            token = csrf_token_from(client.get("/").text)
            before = snapshot()
            return client.post(url, data={"csrf_token": token, **as_form(data)}), before
        headers = api_token(user_of(world, role))
        before = snapshot()
        return client.post(url, json=data, headers=headers), before
    return _send


# --- 1. Logging a gap with evidence the caller may not cite ------------------------------------------

VALID_GAP = {"partnership_id": "{P}", "pathway": "families", "title": "No family mediation within reach",
             "description": "The only family mediation service closed in March.", "severity": "medium",
             "referral_ids": ["{alpha}"]}

# Housing logs a gap in P citing... -> API (status, field, message or None for the schema's own), page
# status. The page offers as choices only the open referrals of P housing may see (ALPHA, ECHO): anything
# else is "not one of the options", whether it exists or not.
LOG_EVIDENCE = [
    ("visible but of another partnership", ["{delta}"],
     (422, "referral_ids", "Evidence must be referrals of the gap's partnership"), 400),
    ("hidden, of another region", ["{charlie}"], (422, "referral_ids", NO_SUCH_REFERRAL), 400),
    ("hidden, of the same partnership", ["{bravo}"], (422, "referral_ids", NO_SUCH_REFERRAL), 400),
    # The visible one must not be half-saved as evidence of a gap that was refused.
    ("a visible one and a hidden one", ["{alpha}", "{bravo}"], (422, "referral_ids", NO_SUCH_REFERRAL), 400),
    ("an id no referral has", ["{absent}"], (422, "referral_ids", NO_SUCH_REFERRAL), 400),
    ("zero", [0], (400, "referral_ids.0", None), 400),
    ("negative", [-1], (400, "referral_ids.0", None), 400),
    ("2**63", [HUGE], (400, "referral_ids.0", None), 400),
    ("not a number", ["abc"], (400, "referral_ids.0", None), 400),
]


@pytest.mark.parametrize("door", ["page", "api"])
@pytest.mark.parametrize(("referral_ids", "api", "page"),
                         [pytest.param(*case[1:], id=case[0]) for case in LOG_EVIDENCE])
def test_logging_a_gap_with_evidence_the_caller_may_not_cite(world: World, send: Any, door: str,
                                                             referral_ids: list, api: tuple, page: int) -> None:
    cited = resolve(referral_ids, world)
    response, before = send(door, HOUSING, "/gaps/new" if door == "page" else "/api/v1/gaps",
                            {**resolve(VALID_GAP, world), "referral_ids": cited})
    html = checked(response, page if door == "page" else api[0])
    assert snapshot() == before, "something was saved"
    if door == "page":
        assert summary_links(html).get("referral_ids") == CHOOSE
    else:
        status, field, message = api
        fields = api_fields(response, status)
        assert field in fields, fields
        if message is not None:  # the refused id is the hidden one, BRAVO, when the caller cites two
            assert fields[field] == message.format(id=world.ids["bravo"] if "{bravo}" in referral_ids else cited[0])


# (what is logged or added, door). A referral the caller may not see, and one of another region, get the
# very answer an id that no referral has gets (the id the caller sent aside), and never the young
# person's name.
@pytest.mark.parametrize(("where", "door"), [("log", "page"), ("log", "api"), ("evidence", "page")])
def test_a_hidden_referral_is_refused_exactly_like_one_that_does_not_exist(world: World, send: Any, where: str,
                                                                           door: str) -> None:
    answers = {}
    for key in ("bravo", "charlie", "absent"):
        referral_id = world.ids[key]
        if where == "log":
            url, data = ("/gaps/new" if door == "page" else "/api/v1/gaps",
                         {**resolve(VALID_GAP, world), "referral_ids": [referral_id]})
        else:
            url, data = f"/gaps/{world.ids['open_gap']}/evidence", {"referral_id": referral_id}
        response, before = send(door, HOUSING, url, data)
        text = checked(response, response.status_code)
        assert snapshot() == before, "something was saved"
        if door == "api":
            answers[key] = (response.status_code, json.dumps(response.json).replace(str(referral_id), "<id>"))
        else:
            answers[key] = (response.status_code, summary_links(text, presentation=False))
        if key != "absent":
            assert db.session.get(Referral, referral_id).young_person.family_name not in text
    assert answers["bravo"] == answers["absent"] == answers["charlie"]
    # The page offers only what may be cited (anything else: "choose one of the options", 400); the API
    # checks the id against what the caller sees (422).
    assert answers["absent"][0] == (400 if door == "page" else 422)


def test_another_regions_partnership_is_refused_exactly_like_one_that_does_not_exist(world: World,
                                                                                     send: Any) -> None:
    answers = []
    for partnership_id in (world.ids["Q"], 2**31 - 1):
        response, before = send("api", HOUSING, "/api/v1/gaps", {**resolve(VALID_GAP, world), "referral_ids": [],
                                                                 "partnership_id": partnership_id})
        checked(response, 404)
        assert snapshot() == before, "something was saved"
        assert api_fields(response, 404) == {"partnership_id": "Not found"}
        answers.append(response.json)
    assert answers[0] == answers[1]


# --- 2. The other fields of a new gap -------------------------------------------------------------------

TOO_LONG_TITLE, TOO_LONG_TEXT = "x" * 201, "x" * 10_001
# (id, change to the valid gap, API (status, field), page (status, element linked to, message)). The API
# has no action_id or meeting_id: a body naming one is refused as an unknown field.
LOG_FIELDS = [
    ("blank title", {"title": ""}, (400, "title"), (400, "title", "Give the gap a short title")),
    ("title of spaces", {"title": "   "}, (400, "title"), (422, "title", "Give the gap a short title")),
    ("title too long", {"title": TOO_LONG_TITLE}, (400, "title"), (400, "title", "Must be 200 characters or fewer")),
    ("NUL in title", {"title": "No beds\x00"}, (400, "title"), (400, "title", "Remove the NUL character")),
    ("empty description", {"description": ""}, (400, "description"), (400, "description", "Describe the gap")),
    ("description too long", {"description": TOO_LONG_TEXT}, (400, "description"),
     (400, "description", "Must be 10000 characters or fewer")),
    ("unknown severity", {"severity": "urgent"}, (400, "severity"), (400, "severity", CHOOSE)),
    ("unknown pathway", {"pathway": "housing"}, (400, "pathway"), (400, "pathway", CHOOSE)),
    ("partnership of another region", {"partnership_id": "{Q}", "referral_ids": []}, (404, "partnership_id"),
     (400, "partnership_id", CHOOSE)),
    ("partnership id 0", {"partnership_id": 0, "referral_ids": []}, (400, "partnership_id"),
     (400, "partnership_id", CHOOSE)),
    ("action not blocked", {"action_id": "{open_action}"}, (400, "action_id"),
     (422, "action_id", "Only a blocked action becomes a service gap")),
    ("action the caller cannot see", {"action_id": "{hidden_action}"}, (400, "action_id"),
     (422, "action_id", "There is no action with that id that you can see")),
    ("action of another partnership", {"action_id": "{p2_action}"}, (400, "action_id"),
     (422, "action_id", "The action must be one of this partnership's")),
    ("meeting of another partnership", {"meeting_id": "{q_meeting}"}, (400, "meeting_id"),
     (422, "meeting_id", "There is no meeting of this partnership with that id that you can see")),
]


@pytest.mark.parametrize("door", ["page", "api"])
@pytest.mark.parametrize(("change", "api", "page"), [pytest.param(*case[1:], id=case[0]) for case in LOG_FIELDS])
def test_logging_a_gap_with_a_bad_field(world: World, send: Any, door: str, change: dict, api: tuple,
                                        page: tuple) -> None:
    response, before = send(door, HOUSING, "/gaps/new" if door == "page" else "/api/v1/gaps",
                            resolve({**VALID_GAP, **change}, world))
    html = checked(response, page[0] if door == "page" else api[0])
    assert snapshot() == before, "something was saved"
    if door == "page" and page[1] in HIDDEN_FIELDS:
        # Nothing to link to that anyone can see: the message heads the summary, unlinked.
        summary = BeautifulSoup(html, "html.parser").select_one(".govuk-error-summary")
        assert page[2] in [item.get_text(" ", strip=True) for item in summary.select("li")]
        assert page[1] not in summary_links(html)
    elif door == "page":
        assert summary_links(html).get(page[1]) == page[2]
    else:
        assert api[1] in api_fields(response, api[0])


HIDDEN_FIELDS = {"action_id", "meeting_id"}  # carried from the source (a blocked action, a meeting)


# --- 3. Adding evidence to a gap (a page only: the API has no such call) --------------------------------

# (id, who, referral_id, waiting_since (days from today, "31 February", or None), status, element, message).
# Housing may cite only what it sees (ALPHA, already evidence, and ECHO); the broker sees every referral of P.
EVIDENCE = [
    ("hidden referral", HOUSING, "{bravo}", None, 400, "referral_id", CHOOSE),
    ("another region's referral", HOUSING, "{charlie}", None, 400, "referral_id", CHOOSE),
    ("an id no referral has", HOUSING, "{absent}", None, 400, "referral_id", CHOOSE),
    ("not a number", BROKER, "abc", None, 400, "referral_id", CHOOSE),
    ("2**63", BROKER, HUGE, None, 400, "referral_id", CHOOSE),
    ("already evidence", BROKER, "{alpha}", None, 422, "referral_id",
     "This young person is already evidence of the gap"),
    ("waiting since tomorrow", BROKER, "{bravo}", 1, 422, "waiting_since-day", "The date must be today or in the past"),
    ("waiting since 31 February", BROKER, "{bravo}", "31 February", 400, "waiting_since-day",
     "Waiting since (optional) must be a real date"),
]


def date_boxes(when: Any) -> list[str]:
    """The day, month and year boxes of a date field: ``when`` days from today, "31 February" (of next
    year), or None (empty)."""
    if when is None:
        return ["", "", ""]
    if when == "31 February":
        return ["31", "2", str(today().year + 1)]
    day = today() + timedelta(days=when)
    return [str(day.day), str(day.month), str(day.year)]


@pytest.mark.parametrize(("role", "referral", "waiting", "status", "target", "message"),
                         [pytest.param(*case[1:], id=case[0]) for case in EVIDENCE])
def test_adding_bad_evidence_to_a_gap(world: World, send: Any, role: str, referral: Any, waiting: Any,
                                      status: int, target: str, message: str) -> None:
    response, before = send("page", role, f"/gaps/{world.ids['open_gap']}/evidence",
                            {"referral_id": resolve(referral, world), "waiting_since": date_boxes(waiting)})
    html = checked(response, status)
    assert snapshot() == before, "something was saved"
    assert summary_links(html).get(target) == message


# --- 4. Responses: only a strategic lead of the gap's region, and only with good fields --------------

def response_body(world: World, door: str, change: dict[str, Any]) -> dict[str, Any]:
    """A complete, valid response to ESCALATED ("in progress", target in 90 days), with ``change``
    applied; ``target`` is days from today, "31 February" (next year) or None, written as each door
    writes a date. A page form also says which version of the gap it read."""
    values = {"response": "A tender goes out next month.", "status": "in_progress", "owner": "Head of education",
              "target": 90, **change}
    target = values.pop("target")
    if door == "page":
        return {**values, "target_on": date_boxes(target), "version": gap(world, "escalated_gap").version}
    if target == "31 February":
        return {**values, "target_date": f"{today().year + 1}-02-31"}
    return {**values, "target_date": None if target is None else (today() + timedelta(days=target)).isoformat()}


def respond_url(world: World, door: str) -> str:
    gap_id = world.ids["escalated_gap"]
    return f"/gaps/{gap_id}/respond" if door == "page" else f"/api/v1/gaps/{gap_id}/response"


# Who may not respond to ESCALATED (of P, in R1) -> (page, API). The page's respond route is for strategic
# leads only and names a record: every other role gets the 404 an absent gap gets (as in the access
# matrix). The API answers 403 to those who see the gap (its broker, its member agencies) and 404 to
# those who do not (a lead of another region).
RESPONSE_REFUSED = {BROKER: (404, 403), HOUSING: (404, 403), OTHER_LEAD: (404, 404)}


@pytest.mark.parametrize("door", ["page", "api"])
@pytest.mark.parametrize("role", list(RESPONSE_REFUSED))
def test_a_response_by_someone_who_is_not_the_regions_lead_is_refused(world: World, send: Any, role: str,
                                                                      door: str) -> None:
    response, before = send(door, role, respond_url(world, door), response_body(world, door, {}))
    status = RESPONSE_REFUSED[role][door == "api"]
    text = checked(response, status)
    assert snapshot() == before and gap(world, "escalated_gap").status.value == "escalated"
    if door == "api":
        api_fields(response, status)
    if status == 404:  # a refusal that says "not found" does not name the gap either
        assert gap(world, "escalated_gap").title not in text


# The region's lead, with one bad field: (id, change, API (status, field), page (status, element, message)).
# The API names the date "target_date" (docs/api.md); the page "target_on", linked to its day box.
RESPONSE_FIELDS = [
    ("status open", {"status": "open"}, (400, "status"), (400, "status", CHOOSE)),
    ("status escalated", {"status": "escalated"}, (400, "status"), (400, "status", CHOOSE)),
    ("empty response", {"response": ""}, (400, "response"), (400, "response", "Write your response")),
    ("response of spaces", {"response": "   "}, (400, "response"), (422, "response", "Write your response")),
    ("NUL in response", {"response": "Soon\x00"}, (400, "response"), (400, "response", "Remove the NUL character")),
    ("target date yesterday", {"target": -1}, (422, "target_date"),
     (422, "target_on-day", "The target date must be today or later")),
    ("target date 31 February", {"target": "31 February"}, (400, "target_date"),
     (400, "target_on-day", "Target date must be a real date")),
    ("in progress with no target date", {"target": None}, (422, "target_date"),
     (422, "target_on-day", "Give a target date")),
    ("owner too long", {"owner": TOO_LONG_TITLE}, (400, "owner"), (400, "owner", "Must be 200 characters or fewer")),
]


@pytest.mark.parametrize("door", ["page", "api"])
@pytest.mark.parametrize(("change", "api", "page"), [pytest.param(*case[1:], id=case[0]) for case in RESPONSE_FIELDS])
def test_a_response_with_a_bad_field_is_refused(world: World, send: Any, door: str, change: dict, api: tuple,
                                                page: tuple) -> None:
    response, before = send(door, LEAD, respond_url(world, door), response_body(world, door, change))
    html = checked(response, page[0] if door == "page" else api[0])
    assert snapshot() == before and gap(world, "escalated_gap").status.value == "escalated"
    if door == "page" and page[1] in HIDDEN_FIELDS:
        # Nothing to link to that anyone can see: the message heads the summary, unlinked.
        summary = BeautifulSoup(html, "html.parser").select_one(".govuk-error-summary")
        assert page[2] in [item.get_text(" ", strip=True) for item in summary.select("li")]
        assert page[1] not in summary_links(html)
    elif door == "page":
        assert summary_links(html).get(page[1]) == page[2]
    else:
        assert api[1] in api_fields(response, api[0])



@pytest.mark.parametrize("status", ["open", "escalated", "closed"])
def test_a_response_status_the_api_refuses_names_the_three_it_takes(world: World, send: Any, status: str) -> None:
    # The enum has five statuses; a response may leave the gap at only three, and the message says which.
    response, before = send("api", LEAD, respond_url(world, "api"), response_body(world, "api", {"status": status}))
    checked(response, 400)
    assert snapshot() == before
    assert api_fields(response, 400)["status"] == "Input should be 'in_progress', 'resolved' or 'accepted'"

# --- 5. The escalation note --------------------------------------------------------------------------

# (id, note, API status, page (status, message)): never a 500, even for a NUL that PostgreSQL refuses.
ESCALATION_NOTES = [
    ("note too long", TOO_LONG_TEXT, 400, (400, "Must be 10000 characters or fewer")),
    ("NUL in note", "Please commission places\x00", 400, (400, "Remove the NUL character")),
    ("blank note", "", 400, (400, "Say what you are asking for")),
]


def escalation(world: World, door: str, note: str) -> tuple[str, dict[str, Any]]:
    """The broker escalating OPEN: the URL and the form or body (a form also names the version read)."""
    gap_id = world.ids["open_gap"]
    if door == "page":
        return f"/gaps/{gap_id}/escalate", {"note": note, "version": gap(world, "open_gap").version}
    return f"/api/v1/gaps/{gap_id}/escalate", {"note": note}


@pytest.mark.parametrize("door", ["page", "api"])
@pytest.mark.parametrize(("note", "api", "page"), [pytest.param(*case[1:], id=case[0]) for case in ESCALATION_NOTES])
def test_an_escalation_with_a_bad_note_is_refused(world: World, send: Any, door: str, note: str, api: int,
                                                  page: tuple) -> None:
    response, before = send(door, BROKER, *escalation(world, door, note))
    html = checked(response, page[0] if door == "page" else api)
    assert snapshot() == before and gap(world, "open_gap").status.value == "open"
    if door == "page":
        assert summary_links(html).get("note") == page[1]
    else:
        assert "note" in api_fields(response, api)


# --- The valid calls every case above spoils one field of --------------------------------------------

# So that each refusal above is down to its one bad field, not to a base that was never valid.
@pytest.mark.parametrize(("what", "door"), [("log", "page"), ("log", "api"), ("evidence", "page"),
                                            ("respond", "page"), ("respond", "api"), ("escalate", "page"),
                                            ("escalate", "api")])
def test_the_valid_calls_the_cases_start_from_are_accepted(world: World, send: Any, what: str, door: str) -> None:
    url, data, role = {
        "log": ("/gaps/new" if door == "page" else "/api/v1/gaps", resolve(VALID_GAP, world), HOUSING),
        "evidence": (f"/gaps/{world.ids['open_gap']}/evidence",
                     {"referral_id": world.ids["echo"], "waiting_since": date_boxes(-3)}, HOUSING),
        "respond": (respond_url(world, door), response_body(world, door, {}), LEAD),
        "escalate": (*escalation(world, door, "Please commission places."), BROKER),
    }[what]
    response, before = send(door, role, url, data)
    checked(response, {"page": 302, "api": 201 if what == "log" else 200}[door])
    assert snapshot() != before


# --- Choosing the partnership first ---------------------------------------------------------------


@pytest.mark.parametrize(("asked", "offered"), [
    pytest.param("P2", {"delta"}, id="its-second-partnership"),
    pytest.param("P", {"alpha", "echo"}, id="its-first-partnership"),
    pytest.param("Q", None, id="another-regions-partnership-is-ignored"),
    pytest.param("absent", None, id="no-such-partnership-is-ignored"),
])
def test_the_evidence_offered_is_the_chosen_partnerships_young_people(client: Any, login_as: Any, world: World,
                                                                     asked: str, offered: set[str] | None) -> None:
    """Housing sits on P and P2: choosing a partnership above the form (a plain GET, no JavaScript)
    offers only that partnership's young people housing may see, and posts that partnership. A
    partnership it does not sit on is never offered: the page falls back to its first one."""
    login_as(user_of(world, HOUSING))
    response = client.get(f"/gaps/new?partnership={world.ids[asked]}")
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    chooser = page.find("select", attrs={"name": "partnership"})
    choices = {int(option["value"]) for option in chooser.find_all("option")}
    assert choices == {world.ids["P"], world.ids["P2"]}
    posted = int(page.find("input", attrs={"name": "partnership_id"})["value"])
    shown = {int(box["value"]) for box in page.find_all("input", attrs={"name": "referral_ids"})}
    if offered is None:  # the first of its partnerships, whichever it is
        assert posted in choices
        offered = {"alpha", "echo"} if posted == world.ids["P"] else {"delta"}
    else:
        assert posted == world.ids[asked]
    assert shown == {world.ids[key] for key in offered}
    assert int(chooser.find("option", selected=True)["value"]) == posted
