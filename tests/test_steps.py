"""What may be done to a record is decided in policy.py alone, and everything follows it.

(a) No template, web view or API view compares a role or a status itself: a scan of their source.
(b) Changing who may take a step in the referral table (close to nobody, close to the referrer too,
    accept to nobody, decline to the referrer) changes the service, the page's button, the form's
    POST and the API together, with no other edit.
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
from panel_app.errors import Forbidden
from panel_app.models import Agency, ClosureReason, Partnership, Referral, ReferralStatus, Role, User, db
from panel_app.services import referrals as service
from tests.conftest import client_for, csrf_token_from
from tests.factories import make_agency, make_partnership, make_referral, make_user

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


def test_the_scan_reads_the_folders_it_means_to() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in _scanned_files()}
    assert {"templates/referrals/show.html", "panel_app/web/referrals.py", "panel_app/api/referrals.py"} <= names


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
