"""Leak test for actions on a restricted pathway (docs/domain.md: "Health and substance-misuse details are
narrower still: visible to the broker, the referring case manager and the agencies working on that
pathway").

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after
it, so every case meets the world as built): partnership P with a YOT (the referrer), a housing agency
(the referral shared with it for accommodation), a health board and an education provider (a member
involved in nothing). On the young person's referral:

* HEALTH: an action on the health pathway owned by the health board (a named health worker), with a
  marker in its description, and a progress note with another marker;
* DONE: a second health action, agreed at the panel meeting and done, with markers in its
  description and its outcome;
* HOUSING: an accommodation action owned by housing (no marker: everyone involved reads it);
* a health milestone of the plan with a marker, and version 1 of the plan saved with all of it.

Who may read the markers is written out here by hand, never derived from policy.py: the broker, the
referring YOT and the health board read them; housing sees that the health actions exist (pathway,
owner, due date), never what they say; education gets a 404 on everything naming the referral.
The meeting's action list is each agency's own (the YOT owes nothing there, so its list carries no
marker); the broker's is every agency's.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import format_date

from panel_app.models import Action, ActionStatus, Role, User, db
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services.actions import ActionChange, NewAction
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import built_once, deliver_emails, sign_in
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_region, make_user

SUFFIX = "c41d"


def marker(field: str) -> str:
    return f"MARKER-ACTION-{field}-{SUFFIX}"


DESC, NOTE = marker("DESCRIPTION"), marker("NOTE")  # the open health action
DONE_DESC, OUTCOME = marker("DONEDESC"), marker("OUTCOME")  # the health action done
MILESTONE = marker("MILESTONE")  # the health milestone of the plan
EVERY_MARKER = {DESC, NOTE, DONE_DESC, OUTCOME, MILESTONE}

GIVEN, FAMILY = "Mali", "Leakactionfamily"
FULL_NAME = f"{GIVEN} {FAMILY}"

BROKER, REFERRER, HEALTH, HOUSING, EDUCATION = "broker", "referrer", "health", "housing", "education"
ROLES = [BROKER, REFERRER, HEALTH, HOUSING, EDUCATION]

ONE = {DESC, NOTE}  # the open health action's page and answer: description and note
DONE = {DONE_DESC, OUTCOME}  # the done one's: description and outcome
LIST = {DESC, DONE_DESC, OUTCOME}  # a list answer: descriptions and outcomes, no history
DESCS = {DESC, DONE_DESC}  # the descriptions alone
PLAN = {DESC, DONE_DESC, MILESTONE}
NONE: set[str] = set()

# url -> (status, markers) per role, in the order of ROLES. {r}: the referral, {a}: the open health
# action, {d}: the done one, {m}: the meeting, {health}/{housing}: the agencies.
EXPECTED: dict[str, list[tuple[int, set[str]]]] = {
    #                                            broker        referrer      health        housing      education
    "/actions/{a}":                            [(200, ONE),   (200, ONE),   (200, ONE),   (200, NONE), (404, NONE)],
    "/actions/{d}":                            [(200, DONE),  (200, DONE),  (200, DONE),  (200, NONE), (404, NONE)],
    "/api/v1/actions/{a}":                     [(200, ONE),   (200, ONE),   (200, ONE),   (200, NONE), (404, NONE)],
    "/api/v1/actions/{d}":                     [(200, DONE),  (200, DONE),  (200, DONE),  (200, NONE), (404, NONE)],
    "/api/v1/actions":                         [(200, LIST),  (200, LIST),  (200, LIST),  (200, NONE), (200, NONE)],
    "/api/v1/actions?assigned_to=my_agency":   [(200, NONE),  (200, NONE),  (200, LIST),  (200, NONE), (200, NONE)],
    "/referrals/{r}":                          [(200, DESCS), (200, DESCS), (200, DESCS), (200, NONE), (404, NONE)],
    "/api/v1/referrals/{r}":                   [(200, NONE),  (200, NONE),  (200, NONE),  (200, NONE), (404, NONE)],
    "/referrals/{r}/plan":                     [(200, PLAN),  (200, PLAN),  (200, PLAN),  (200, NONE), (404, NONE)],
    "/referrals/{r}/plan.pdf":                 [(200, PLAN),  (200, PLAN),  (200, PLAN),  (200, NONE), (404, NONE)],
    # The version the broker saved: housing reads it as housing, not as the broker who saved it.
    "/referrals/{r}/plan.pdf?version=1":       [(200, PLAN),  (200, PLAN),  (200, PLAN),  (200, NONE), (404, NONE)],
    # Each agency's own action list; the broker's is every agency's, or one agency's.
    "/meetings/{m}/actions.pdf":               [(200, DESCS), (200, NONE),  (200, DESCS), (200, NONE), (200, NONE)],
    "/meetings/{m}/actions.pdf?agency={health}":  [(200, DESCS), (403, NONE), (403, NONE), (403, NONE), (403, NONE)],
    "/meetings/{m}/actions.pdf?agency={housing}": [(200, NONE), (403, NONE), (403, NONE), (403, NONE), (403, NONE)],
    "/meetings/{m}":                           [(200, NONE),  (200, NONE),  (200, NONE),  (200, NONE), (200, NONE)],
    "/meetings/{m}/pack.pdf":                  [(200, NONE),  (200, NONE),  (200, NONE),  (200, NONE), (200, NONE)],
    # My actions: what the agency owes, and what it did in the last fortnight.
    "/actions/":                               [(403, NONE),  (200, NONE),  (200, DESCS), (200, NONE), (200, NONE)],
    "/actions/follow-up":                      [(200, NONE),  (403, NONE),  (403, NONE),  (403, NONE), (403, NONE)],
    "/":                                       [(200, NONE),  (200, NONE),  (200, NONE),  (200, NONE), (200, NONE)],
}


@dataclass
class World:
    users: dict[str, int]  # role -> user id
    referral_id: int
    meeting_id: int
    actions: dict[str, int]  # "a", "d", "housing"
    agencies: dict[str, int]
    contacts: dict[str, str]


def build_world() -> World:
    region = make_region(name="Action leak region")
    yot = make_agency(type="yot", name="Action Leak YOT", contact_email="yot@leak.example.org")
    housing = make_agency(type="housing", name="Action Leak Housing", contact_email="housing@leak.example.org")
    health = make_agency(type="health", name="Action Leak Health Board", contact_email="health@leak.example.org",
                         lead_contact_email="health-lead@leak.example.org")
    education = make_agency(type="education", name="Action Leak School", contact_email="school@leak.example.org")
    broker = make_user(Role.BROKER, name="Action Leak Broker", email="broker@leak.example.org")
    partnership = make_partnership(agencies=[yot, housing, health, education], brokers=[broker], region=region,
                                   name="Action Leak Partnership")
    users = {
        BROKER: broker,
        REFERRER: make_user(Role.AGENCY_STAFF, agency=yot),
        HEALTH: make_user(Role.AGENCY_STAFF, agency=health, email="nurse@leak.example.org"),
        HOUSING: make_user(Role.AGENCY_STAFF, agency=housing),
        EDUCATION: make_user(Role.AGENCY_STAFF, agency=education),
    }
    referral = make_referral(partnership=partnership, referrer=users[REFERRER], broker=broker, status="accepted",
                             shared_with=[(housing, [Pathway.ACCOMMODATION])],
                             young_person=YoungPersonDetails(GIVEN, FAMILY, date(2009, 5, 17)))
    meeting = make_meeting(partnership=partnership, broker=broker, agenda=[referral])

    open_action = action_service.create_action(broker, referral, NewAction(
        pathway=Pathway.HEALTH, description=f"Book the CAMHS assessment ({DESC})", agency_id=health.id,
        due_on=today() + timedelta(days=2), owner_user_id=users[HEALTH].id))
    done_action = action_service.create_action(broker, referral, NewAction(
        pathway=Pathway.HEALTH, description=f"Register with a GP ({DONE_DESC})", agency_id=health.id,
        due_on=today() + timedelta(days=5), meeting_id=meeting.id))
    housing_action = action_service.create_action(broker, referral, NewAction(
        pathway=Pathway.ACCOMMODATION, description="Find supported lodgings", agency_id=housing.id,
        due_on=today() + timedelta(days=1)))
    db.session.flush()
    action_service.update_action(users[HEALTH], open_action, ActionChange(
        version=open_action.version, status=ActionStatus.IN_PROGRESS, note=f"Referred on ({NOTE})"))
    action_service.update_action(users[HEALTH], done_action, ActionChange(
        version=done_action.version, status=ActionStatus.DONE, outcome=f"Registered ({OUTCOME})"))
    action_service.add_milestone(broker, referral, f"Sleeping better ({MILESTONE})", None, Pathway.HEALTH)
    action_service.save_plan_version(broker, referral)
    db.session.flush()
    return World({role: user.id for role, user in users.items()}, referral.id, meeting.id,
                 {"a": open_action.id, "d": done_action.id, "housing": housing_action.id},
                 {"yot": yot.id, "housing": housing.id, "health": health.id, "education": education.id},
                 {"yot": yot.contact_email, "housing": housing.contact_email, "health": health.contact_email,
                  "education": education.contact_email})


@pytest.fixture(scope="module")
def world(app: Flask, module_connection) -> World:
    return built_once(app, module_connection, build_world)


def user_of(world: World, role: str) -> User:
    """The person of that role, loaded in the case's own session."""
    return db.session.get(User, world.users[role])


def _fill(url: str, world: World) -> str:
    return url.format(r=world.referral_id, m=world.meeting_id, a=world.actions["a"], d=world.actions["d"],
                      health=world.agencies["health"], housing=world.agencies["housing"])


def _text_of(response: Any) -> str:
    if response.mimetype == "application/pdf":
        reader = pypdf.PdfReader(io.BytesIO(response.get_data()))
        return " ".join(page.extract_text() for page in reader.pages)
    return response.get_data(as_text=True)


def markers_in(text: str) -> set[str]:
    """The markers in a text, wherever a line was broken inside one (a PDF wraps long words)."""
    lowered = re.sub(r"\s+", "", text.lower())
    return {m for m in EVERY_MARKER if m.lower() in lowered}


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    response = sign_in(client, user.email)
    assert response.status_code == 302, f"sign-in failed for {user.email}"
    return client


@pytest.mark.parametrize("role", ROLES)
def test_restricted_action_details_reach_only_those_working_on_the_pathway(app: Flask, api_token, world: World,
                                                                          role: str) -> None:
    user = user_of(world, role)
    headers = api_token(user)
    client = _client(app, user)
    index = ROLES.index(role)

    problems = []
    for template, per_role in EXPECTED.items():
        status, expected = per_role[index]
        url = _fill(template, world)
        response = client.get(url, headers=headers if url.startswith("/api/") else None)
        found = markers_in(_text_of(response) + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items()))
        if (response.status_code, found) != (status, expected):
            problems.append(f"{template}: expected {status} {sorted(expected)}, got {response.status_code} "
                            f"{sorted(found)}")
    assert not problems, f"as {role}:\n" + "\n".join(problems)


def test_housing_sees_that_the_health_actions_exist_but_not_what_they_say(app: Flask, api_token, world: World) -> None:
    """Pathway, owner and due date: enough to know health is working on it."""
    housing = user_of(world, HOUSING)
    headers = api_token(housing)
    client = _client(app, housing)
    db.session.expire_all()
    action = db.session.get(Action, world.actions["a"])
    with app.test_request_context("/"):
        due = format_date(action.due_on, "d MMM yyyy")

    page = client.get(f"/actions/{world.actions['a']}")
    assert page.status_code == 200
    assert "Action Leak Health Board: Health</h1>" in page.text  # the owner and the pathway
    assert due in page.text
    assert "Restricted: an action on this pathway is shown only to those working on it." in page.text
    assert markers_in(page.text) == set()

    detail = client.get(f"/api/v1/actions/{world.actions['a']}", headers=headers).json
    assert (detail["pathway"], detail["agency"]["id"], detail["due_date"], detail["status"]) == (
        "health", world.agencies["health"], action.due_on.isoformat(), "in_progress")
    assert "description" not in detail
    assert detail["history"] and all(entry["note"] is None for entry in detail["history"])
    done = client.get(f"/api/v1/actions/{world.actions['d']}", headers=headers).json
    assert "description" not in done and done["outcome"] is None and done["status"] == "done"

    listed = client.get("/api/v1/actions", headers=headers).json
    by_id = {item["id"]: item for item in listed["items"]}
    assert set(by_id) == set(world.actions.values()) and listed["total"] == 3
    assert by_id[world.actions["a"]]["pathway"] == "health" and "description" not in by_id[world.actions["a"]]
    assert by_id[world.actions["housing"]]["description"] == "Find supported lodgings"

    referral_page = client.get(f"/referrals/{world.referral_id}")
    assert f'href="/actions/{world.actions["a"]}"' in referral_page.text
    assert "Find supported lodgings" in referral_page.text
    assert markers_in(referral_page.text) == set()


def test_an_uninvolved_agency_gets_a_404_on_every_record(app: Flask, api_token, world: World) -> None:
    staff = user_of(world, EDUCATION)
    headers = api_token(staff)
    client = _client(app, staff)
    for key in ("a", "d", "housing"):
        action_id = world.actions[key]
        assert client.get(f"/actions/{action_id}").status_code == 404
        assert client.get(f"/api/v1/actions/{action_id}", headers=headers).status_code == 404
        assert client.patch(f"/api/v1/actions/{action_id}", headers=headers,
                            json={"version": 1, "note": "Hello"}).status_code == 404
    for url in (f"/referrals/{world.referral_id}", f"/referrals/{world.referral_id}/plan",
                f"/referrals/{world.referral_id}/plan.pdf", f"/referrals/{world.referral_id}/plan.pdf?version=1"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert FAMILY not in response.text
    listed = client.get("/api/v1/actions", headers=headers).json
    assert listed == {"items": [], "total": 0}


# --- Emails -------------------------------------------------------------------------------------


def _text(message: EmailMessage) -> str:
    parts = [message["Subject"] or ""]
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = _text_of_bytes(content, part.get_content_type())
        parts.append(content)
    return " ".join(parts)


def _text_of_bytes(data: bytes, content_type: str) -> str:
    if content_type == "application/pdf":
        return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
    return data.decode("utf-8", "replace")


def test_assignment_and_reminder_emails_carry_neither_the_name_nor_the_restricted_details(app: Flask, smtp,
                                                                                          world: World) -> None:
    db.session.expire_all()
    due = db.session.get(Action, world.actions["a"]).due_on
    late = 1 + app.config["ACTION_ESCALATE_TO_BROKER_DAYS"]

    with app.test_request_context("/"):
        # The assignment emails the world's actions queued.
        db.session.commit()
        assigned = deliver_emails()
        # A digest of what falls due within three days; then, long after, every step of escalation.
        soon = action_service.send_reminders()
        db.session.commit()
        reminded = deliver_emails()
        overdue = action_service.send_reminders(due + timedelta(days=late))
        db.session.commit()
        escalated = deliver_emails()

    # The meeting's four invitations; the assignments: the health board twice and its named worker once,
    # housing once.
    assert assigned == 8
    assert sum(m["Subject"].strip().startswith("New action") for m in smtp.messages) == 4
    assert soon.due_soon == 2 and reminded == 2  # a digest each for health and housing
    # Each outstanding action, every step: health's to the board and its worker, its lead, the broker;
    # housing's to housing (which has no lead contact, so twice) and the broker.
    assert overdue.escalations == {1: 2, 2: 2, 3: 2} and escalated == 7
    assert len(smtp.messages) == assigned + reminded + escalated

    to_health = [m for m in smtp.messages if "health@leak.example.org" in m["To"]]
    assert any(m["Subject"].startswith("New action") for m in to_health)
    assert smtp.to("nurse@leak.example.org"), "the named worker is told"
    assert smtp.to("health-lead@leak.example.org"), "the agency's lead is told when it is still overdue"
    assert smtp.to("broker@leak.example.org"), "and then the broker"

    # The texts are read (each links to the action), so the checks below are not blind.
    about_actions = [m for m in smtp.messages if not m["Subject"].strip().startswith("Invitation")]
    assert len(about_actions) == 4 + 2 + 7
    assert all("http://panels.test/actions/" in _text(m) for m in about_actions)
    for message in smtp.messages:
        subject = message["Subject"].strip()
        assert FULL_NAME.lower() not in subject.lower() and FAMILY.lower() not in subject.lower(), subject
        if subject.startswith(("New action", "Overdue")):
            assert "ML" in subject.replace(",", " ").split(), subject  # the case is named by its initials
        assert markers_in(_text(message)) == set(), f"{subject} to {message['To']} carries a restricted detail"
