"""What may be done to a record is decided in policy.py alone, and everything follows it.

(a) No template, web view or API view compares a role or a status itself: a scan of their source.
    Nor do the services and documents compare a role, or judge a loaded record's status in Python
    (the shape of a step's state rule), but for the few lines listed with the reason they are not an
    access decision.
(b) Changing who may take a step in the referral table (close to nobody, close to the referrer too,
    accept to nobody, decline to the referrer) changes the service, the page's button, the form's
    POST and the API together, with no other edit. The same for the agenda's cases (remove, notes,
    needs in meeting mode, an agency's update) and the young person's plan.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app import policy
from panel_app.errors import Forbidden, RuleBroken
from panel_app.models import (
    Agency,
    AgendaItem,
    ClosureReason,
    Milestone,
    NeedRating,
    PanelMeeting,
    Partnership,
    Referral,
    ReferralStatus,
    Role,
    User,
    db,
)
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services import meetings as meeting_service
from panel_app.services import referrals as service
from tests.conftest import client_for, csrf_token_from
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_user

ROOT = Path(__file__).resolve().parents[1]
SCANNED = [ROOT / "templates", ROOT / "panel_app" / "web", ROOT / "panel_app" / "api"]

# The project's hook, and the other shapes a role or status decision takes in Python and Jinja.
FORBIDDEN_SHAPES = {
    "a role or status value compared": re.compile(r"(role|status)\.value\s*(==|!=|in\b|not in\b)"),
    "a role compared by identity": re.compile(r"\.role\s+is\s+(not\s+)?Role\."),
    "a role compared by equality": re.compile(r"\brole\s*(==|!=)"),
    "a role looked up in a list": re.compile(r"\brole\s+(not\s+)?in\s*[(\[{]"),
    "a status compared by identity": re.compile(r"\.status\s+is\s+(not\s+)?\w*Status\."),
    "a record's status compared by equality": re.compile(r"\.status\s*(==|!=)\s*\w*Status\."),
    "a record's status looked up in a list": re.compile(r"\.status\s+(not\s+)?in\s*[(\[{]\s*\w*Status\."),
}


def _scanned_files() -> list[Path]:
    return sorted(path for folder in SCANNED for path in folder.rglob("*") if path.suffix in {".py", ".html"})


# The services and documents: a role compared in any shape, and a loaded record's status judged in
# Python (``referral.status is ReferralStatus.SUBMITTED``: the shape of a step's state rule). A list's
# SQL filter on a model's column (``Action.status == ActionStatus.BLOCKED``: which of the records in
# the person's scope a list or a figure counts) chooses what to show, not who may see or do what, so
# the status shapes here look only at a lower-case name before ``.status``.
SCANNED_BELOW = [ROOT / "panel_app" / "services", ROOT / "panel_app" / "documents"]
SERVICE_SHAPES = {
    "a role or status value compared": FORBIDDEN_SHAPES["a role or status value compared"],
    "a role compared by identity": re.compile(r"\brole\s+is\s+(not\s+)?Role\."),
    "a role compared by equality": FORBIDDEN_SHAPES["a role compared by equality"],
    "a role looked up in a list": FORBIDDEN_SHAPES["a role looked up in a list"],
    "a loaded record's status compared by identity":
        re.compile(r"\b[a-z_]\w*(\.\w+)*\.status\s+is\s+(not\s+)?\w*Status\."),
    "a loaded record's status compared by equality":
        re.compile(r"\b[a-z_]\w*(\.\w+)*\.status\s*(==|!=)\s*\w*Status\."),
    "a loaded record's status looked up in a list":
        re.compile(r"\b[a-z_]\w*(\.\w+)*\.status\s+(not\s+)?in\s*[(\[{]\s*\w*Status\."),
}
# The lines of the services that match and are not an access decision: (file, the line) -> why.
NOT_ACCESS_DECISIONS = {
    ("panel_app/services/accounts.py", "if role is Role.AGENCY_STAFF and agency is None:"):
        "what an account is when it is created (staff belong to an agency), not what it may do",
    ("panel_app/services/accounts.py", "if role is Role.STRATEGIC_LEAD and region is None:"):
        "what an account is when it is created (a lead oversees a region), not what it may do",
    ("panel_app/services/meetings.py", "if item.referral.status is ReferralStatus.ACCEPTED:"):
        "a consequence of a meeting being held (a case discussed for the first time becomes active), "
        "not a step anyone takes",
    ("panel_app/services/people.py", "query = query.where(User.role == filters.role)"):
        "the people list's filter on the role the administrator asked for, within policy.managed_people",
    ("panel_app/services/dashboard.py", ".where(gaps.c.status == GapStatus.ESCALATED.value)"):
        "a figure (escalations waiting), counted in SQL on an aliased table within the person's scope",
}


def _service_lines() -> list[tuple[str, int, str]]:
    return [(path.relative_to(ROOT).as_posix(), number, line.strip())
            for folder in SCANNED_BELOW for path in sorted(folder.rglob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)]


def test_the_scan_reads_the_folders_it_means_to() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in _scanned_files()}
    assert {"templates/referrals/show.html", "panel_app/web/referrals.py", "panel_app/api/referrals.py"} <= names
    below = {name for name, _number, _line in _service_lines()}
    assert {"panel_app/services/referrals.py", "panel_app/services/meetings.py",
            "panel_app/documents/calendar.py"} <= below


@pytest.mark.parametrize("shape", sorted(FORBIDDEN_SHAPES))
def test_no_template_or_view_compares_a_role_or_a_status(shape: str) -> None:
    pattern = FORBIDDEN_SHAPES[shape]
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in _scanned_files()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if pattern.search(line)]
    assert found == [], f"{shape} outside policy.py (ask policy for the record's steps instead):\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    '{%- if referral.status.value == "submitted" %}',
    "if actor.role is Role.BROKER:",
    "if user.role in (Role.BROKER, Role.AGENCY_STAFF):",
    "if action.status is ActionStatus.DONE:",
    "manage = actor.role == 'broker'",
])
def test_the_scan_catches_what_it_is_for(line: str) -> None:
    assert any(pattern.search(line) for pattern in FORBIDDEN_SHAPES.values())


@pytest.mark.parametrize("shape", sorted(SERVICE_SHAPES))
def test_no_service_decides_access_by_a_role_or_a_status(shape: str) -> None:
    pattern = SERVICE_SHAPES[shape]
    found = [f"{name}:{number}: {line}" for name, number, line in _service_lines()
             if pattern.search(line) and (name, line) not in NOT_ACCESS_DECISIONS]
    assert found == [], f"{shape} in a service (a rule for policy.py, or a line for NOT_ACCESS_DECISIONS with "\
                        "the reason it is not an access decision):\n" + "\n".join(found)


def test_every_line_let_through_is_still_there_and_still_matches() -> None:
    lines = {(name, line) for name, _number, line in _service_lines()}
    for (name, line), why in NOT_ACCESS_DECISIONS.items():
        assert (name, line) in lines, f"{name}: {line!r} is gone: take it off the list"
        assert any(pattern.search(line) for pattern in SERVICE_SHAPES.values()), f"{line!r} matches no shape"
        assert why


@pytest.mark.parametrize("line, caught", [
    ("if actor.role is Role.AGENCY_STAFF:", True),
    ("if role is Role.BROKER:", True),
    ("select(User).where(User.role == Role.STRATEGIC_LEAD)", True),
    ("if not referral.is_open or referral.status is ReferralStatus.SUBMITTED:", True),
    ("if item.referral.status is ReferralStatus.ACCEPTED:", True),
    ("ok = action.status in (ActionStatus.OPEN, ActionStatus.BLOCKED)", True),
    ('if referral.status.value == "submitted":', True),
    # A list's filter on a column, and the status a person asks for, are not a record's state.
    (".where(Action.status == ActionStatus.BLOCKED)", False),
    ("if status is ActionStatus.DONE and not outcome:", False),
    ("if filters.status is not None:", False),
])
def test_the_service_scan_catches_what_it_is_for(line: str, caught: bool) -> None:
    assert any(pattern.search(line) for pattern in SERVICE_SHAPES.values()) is caught


# --- One edit in the table changes the page, the form, the service and the API ------------------


@dataclasses.dataclass
class World:
    partnership: Partnership
    yot: Agency
    referrer: User
    broker: User
    accepted: Referral
    submitted: Referral


@pytest.fixture
def world() -> World:
    yot = make_agency(type="yot", name="Gwynedd YOT")
    broker = make_user(Role.BROKER, name="Bethan Broker")
    partnership = make_partnership(name="Gwynedd", agencies=[yot], brokers=[broker])
    referrer = make_user(Role.AGENCY_STAFF, agency=yot, name="Rhian Referrer")
    accepted = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted")
    submitted = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="submitted")
    db.session.commit()
    return World(partnership, yot, referrer, broker, accepted, submitted)


def _buttons(client: FlaskClient, referral: Referral) -> set[str]:
    response = client.get(f"/referrals/{referral.id}")
    assert response.status_code == 200
    group = BeautifulSoup(response.text, "html.parser").find(class_="app-actions")
    if group is None:
        return set()
    return {element.get_text(" ", strip=True) for element in group.find_all(["a", "button"])}


def _post_close(client: FlaskClient, referral: Referral) -> int:
    page = client.get(f"/referrals/{referral.id}/close")
    token = csrf_token_from(page.text) if page.status_code == 200 else csrf_token_from(
        client.get(f"/referrals/{referral.id}").text)
    response = client.post(f"/referrals/{referral.id}/close",
                           data={"csrf_token": token, "version": str(referral.version), "reason": "completed"})
    return response.status_code


def _close_allowed_to(monkeypatch: pytest.MonkeyPatch, *people: User) -> None:
    """The one edit: who may close a referral (in whatever state the table already allows)."""
    ids = {person.id for person in people}
    monkeypatch.setitem(policy.REFERRAL_STEPS, "close", dataclasses.replace(
        policy.REFERRAL_STEPS["close"], who=lambda user, referral: user.id in ids))


def test_as_shipped_the_broker_closes_and_the_referrer_does_not(app: Flask, world: World) -> None:
    broker, referrer = client_for(app, world.broker), client_for(app, world.referrer)
    assert "Close" in _buttons(broker, world.accepted)
    assert "Close" not in _buttons(referrer, world.accepted)
    assert referrer.get(f"/referrals/{world.accepted.id}/close").status_code == 403
    assert _post_close(referrer, world.accepted) == 403
    assert _post_close(broker, world.accepted) == 302
    db.session.refresh(world.accepted)
    assert world.accepted.status is ReferralStatus.CLOSED


def test_closing_allowed_to_nobody_takes_the_button_the_form_and_the_service_away(
        app: Flask, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _close_allowed_to(monkeypatch)
    broker = client_for(app, world.broker)
    buttons = _buttons(broker, world.accepted)
    assert "Close" not in buttons
    assert "Share with an agency" in buttons  # only the edited step went
    assert broker.get(f"/referrals/{world.accepted.id}/close").status_code == 403
    assert _post_close(broker, world.accepted) == 403
    with pytest.raises(Forbidden):
        service.close(world.broker, world.accepted, ClosureReason.COMPLETED, None)
    db.session.rollback()
    db.session.refresh(world.accepted)
    assert world.accepted.status is ReferralStatus.ACCEPTED


def test_closing_allowed_to_the_referrer_too_gives_them_the_button_and_the_form(
        app: Flask, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _close_allowed_to(monkeypatch, world.broker, world.referrer)
    referrer = client_for(app, world.referrer)
    assert "Close" in _buttons(referrer, world.accepted)
    # The state half of the table still holds: nobody closes a submitted referral.
    assert "Close" not in _buttons(referrer, world.submitted)
    assert referrer.get(f"/referrals/{world.accepted.id}/close").status_code == 200
    assert _post_close(referrer, world.accepted) == 302
    db.session.refresh(world.accepted)
    assert world.accepted.status is ReferralStatus.CLOSED
    assert _post_close(referrer, world.submitted) == 422


def test_the_api_follows_the_table(app: Flask, world: World, monkeypatch: pytest.MonkeyPatch,
                                   api_token) -> None:  # type: ignore[no-untyped-def]
    api = app.test_client()
    ids_nobody: set[int] = set()
    monkeypatch.setitem(policy.REFERRAL_STEPS, "accept", dataclasses.replace(
        policy.REFERRAL_STEPS["accept"], who=lambda user, referral: user.id in ids_nobody))
    referrer_may_decline = {world.broker.id, world.referrer.id}
    monkeypatch.setitem(policy.REFERRAL_STEPS, "decline", dataclasses.replace(
        policy.REFERRAL_STEPS["decline"], who=lambda user, referral: user.id in referrer_may_decline))

    broker_page = client_for(app, world.broker)
    assert "Accept referral" not in _buttons(broker_page, world.submitted)
    refused = api.post(f"/api/v1/referrals/{world.submitted.id}/accept", json={}, headers=api_token(world.broker))
    assert refused.status_code == 403

    assert "Decline" in _buttons(client_for(app, world.referrer), world.submitted)
    declined = api.post(f"/api/v1/referrals/{world.submitted.id}/decline", json={"reason": "Withdrawn by the YOT"},
                        headers=api_token(world.referrer))
    assert declined.status_code == 200
    assert declined.get_json()["status"] == "declined"


# --- The agenda's cases and the young person's plan follow their tables too --------------------


@dataclasses.dataclass
class Panel:
    broker: User
    referrer: User
    housing: User  # staff of an agency the case is shared with: asked for an update
    education: User  # staff of a member agency involved in nothing: not asked
    referral: Referral
    meeting: PanelMeeting
    item: AgendaItem


@pytest.fixture
def panel() -> Panel:
    yot = make_agency(type="yot", name="Gwynedd YOT")
    housing = make_agency(type="housing", name="Gwynedd Housing")
    education = make_agency(type="education", name="Gwynedd College")
    broker = make_user(Role.BROKER, name="Bethan Broker")
    partnership = make_partnership(name="Gwynedd", agencies=[yot, housing, education], brokers=[broker])
    referrer = make_user(Role.AGENCY_STAFF, agency=yot, name="Rhian Referrer")
    referral = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted",
                             shared_with=[(housing, [Pathway.ACCOMMODATION])])
    meeting = make_meeting(partnership=partnership, broker=broker, agenda=[referral])
    meeting_service.request_updates(broker, meeting, meeting.starts_at.date())
    db.session.commit()
    return Panel(broker, referrer, make_user(Role.AGENCY_STAFF, agency=housing, name="Huw Housing"),
                 make_user(Role.AGENCY_STAFF, agency=education, name="Elin Education"), referral, meeting,
                 meeting.items[0])


def _row_steps(viewer: User, meeting: PanelMeeting) -> frozenset[str]:
    [row] = meeting_service.agenda(viewer, meeting)
    return row.steps


def _nobody(table: dict, step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(table, step, dataclasses.replace(table[step], who=lambda user, record: False))


def test_as_shipped_each_person_may_do_their_part_to_a_case_on_the_agenda(panel: Panel) -> None:
    assert _row_steps(panel.broker, panel.meeting) == {"move", "time_box", "remove", "record_views", "write_notes",
                                                       "rate_needs"}
    assert _row_steps(panel.housing, panel.meeting) == {"send_update"}
    assert _row_steps(panel.referrer, panel.meeting) == {"send_update"}  # the referrer is involved too
    assert _row_steps(panel.education, panel.meeting) == frozenset()  # a case it may not see


def test_removing_a_case_allowed_to_nobody_refuses_it_and_leaves_the_time_box(
        app: Flask, panel: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    _nobody(policy.AGENDA_ITEM_STEPS, "remove", monkeypatch)
    assert "remove" not in _row_steps(panel.broker, panel.meeting)
    broker = client_for(app, panel.broker)
    token = csrf_token_from(broker.get(f"/meetings/{panel.meeting.id}/agenda").text)
    refused = broker.post(f"/meetings/{panel.meeting.id}/agenda/{panel.item.id}",
                          data={"csrf_token": token, "action": "remove"})
    assert refused.status_code == 403
    with pytest.raises(Forbidden):
        meeting_service.change_agenda_item(panel.broker, panel.item, remove=True)
    db.session.rollback()
    meeting_service.change_agenda_item(panel.broker, panel.item, minutes_allotted=35)
    db.session.commit()
    assert [(item.id, item.minutes_allotted) for item in db.session.get_one(PanelMeeting, panel.meeting.id).items] \
        == [(panel.item.id, 35)]


def test_a_meeting_step_edited_in_its_table_holds_on_every_case(panel: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    """The notes on a case are the meeting's step "write_notes": one edit there closes them on every case."""
    _nobody(policy.MEETING_STEPS, "write_notes", monkeypatch)
    assert "write_notes" not in _row_steps(panel.broker, panel.meeting)
    with pytest.raises(Forbidden):
        meeting_service.save_notes(panel.broker, panel.item, "Discussed", None, panel.item.version)


def test_an_agencys_update_follows_the_table(app: Flask, panel: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    housing = client_for(app, panel.housing)
    page = f"/meetings/{panel.meeting.id}/items/{panel.item.id}/update"
    assert housing.get(page).status_code == 200
    # The broker sees the case but is not asked (403); an agency not asked may not see it (404).
    assert client_for(app, panel.broker).get(page).status_code == 403
    assert client_for(app, panel.education).get(page).status_code == 404

    _nobody(policy.AGENDA_ITEM_STEPS, "send_update", monkeypatch)
    assert "send_update" not in _row_steps(panel.housing, panel.meeting)
    token = csrf_token_from(housing.get(page).text)
    assert housing.post(page, data={"csrf_token": token, "update": "A room from the day of release."}).status_code \
        == 403


def test_needs_in_meeting_mode_follow_the_agenda_table_and_the_referrals_state(
        app: Flask, panel: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    needs = {Pathway.ACCOMMODATION: service.NeedInput(NeedRating.GREEN, "Moved in")}
    _nobody(policy.AGENDA_ITEM_STEPS, "rate_needs", monkeypatch)
    assert "rate_needs" not in _row_steps(panel.broker, panel.meeting)
    with pytest.raises(Forbidden):
        meeting_service.rate_needs(panel.broker, panel.item, needs)
    db.session.rollback()
    monkeypatch.undo()

    service.close(panel.broker, panel.referral, ClosureReason.COMPLETED, None)
    db.session.commit()
    assert "rate_needs" not in _row_steps(panel.broker, panel.meeting)
    with pytest.raises(RuleBroken):
        meeting_service.rate_needs(panel.broker, panel.item, needs)


def _milestones(referral: Referral) -> list[str]:
    return list(db.session.scalars(db.select(Milestone.description).where(Milestone.referral_id == referral.id)))


def test_the_plan_follows_its_table(app: Flask, panel: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    referrer = client_for(app, panel.referrer)
    plan = f"/referrals/{panel.referral.id}/plan"

    def add(name: str) -> int:
        token = csrf_token_from(referrer.get(plan).text)
        return referrer.post(f"{plan}/milestones", data={"csrf_token": token, "description": name}).status_code

    assert action_service.plan_for(panel.referrer, panel.referral).steps == frozenset()
    assert action_service.plan_for(panel.broker, panel.referral).steps == set(policy.PLAN_STEPS)
    assert add("Settled in lodgings") == 403

    may_add = {panel.broker.id, panel.referrer.id}
    monkeypatch.setitem(policy.PLAN_STEPS, "add_milestone", dataclasses.replace(
        policy.PLAN_STEPS["add_milestone"], who=lambda user, referral: user.id in may_add))
    assert action_service.plan_for(panel.referrer, panel.referral).steps == {"add_milestone"}
    assert add("Settled in lodgings") == 302
    assert _milestones(panel.referral) == ["Settled in lodgings"]
    with pytest.raises(Forbidden):  # only the edited step moved
        action_service.save_plan_version(panel.referrer, panel.referral)
