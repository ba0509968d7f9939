"""Every email the service sends comes from a template under ``templates/emails/``, its links built on
``PANEL_BASE_URL`` (inside a request or from the command line alike), its text not HTML-escaped; and
the text of an email about an action can be read on that action's page by those who may see it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import Flask, has_request_context
from sqlalchemy import select

from panel_app.models import Action, Agency, OutboxEmail, PanelMeeting, Referral, Role, ServiceGap, User, db, utcnow
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services import gaps as gap_service
from panel_app.services import outbox
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import sign_in
from tests.factories import make_agency, make_gap, make_meeting, make_partnership, make_referral, make_region, make_user

ROOT = Path(__file__).resolve().parents[1]
EMAILS = ROOT / "templates" / "emails"
# An address with a path, as behind a council's reverse proxy: links must keep the path.
BASE = "https://panels.example.org/resettlement"
LINK = re.compile(r"https?://[^\s,]+")
SECRET = "a-single-use_secret"


# --- (a) No email is written by hand ------------------------------------------------------------


def _queue_calls(tree: ast.AST) -> list[tuple[int, str | None]]:
    """(line, enclosing function) of each call of ``outbox.queue(...)`` or of a bare ``queue(...)``."""
    found: list[tuple[int, str | None]] = []

    def walk(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                called = child.func
                if (isinstance(called, ast.Attribute) and called.attr == "queue"
                        and isinstance(called.value, ast.Name) and called.value.id == "outbox") \
                        or (isinstance(called, ast.Name) and called.id == "queue"):
                    found.append((child.lineno, function))
            walk(child, inner)

    walk(tree, None)
    return found


def test_every_email_is_queued_through_the_template_helper() -> None:
    offenders = []
    for path in sorted((ROOT / "panel_app").rglob("*.py")):
        for line, function in _queue_calls(ast.parse(path.read_text(), str(path))):
            if path.name == "outbox.py" and function == "queue_template":
                continue
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == [], "emails written outside outbox.queue_template (use a template)"


def test_the_scan_finds_a_hand_written_email() -> None:
    written_by_hand = "def notify():\n    outbox.queue('a@example.org', 'Hello', 'Text', kind='x')\n"
    assert _queue_calls(ast.parse(written_by_hand)) == [(2, "notify")]


def test_every_template_named_by_the_services_exists() -> None:
    named = set()
    for path in (ROOT / "panel_app" / "services").glob("*.py"):
        named |= set(re.findall(r'queue_template\(\s*"([a-z_]+\.txt)"', path.read_text()))
        named |= {f"meeting_{kind}.txt" for kind in re.findall(r'kind="(invitation|update|cancellation)"',
                                                                 path.read_text())}
    assert named and all((EMAILS / name).is_file() for name in named), named


# --- (b) Each template renders, with links on PANEL_BASE_URL --------------------------------------


@dataclass
class World:
    housing: Agency
    broker: User
    referral: Referral
    action: Action
    meeting: PanelMeeting
    gap: ServiceGap


@pytest.fixture
def world() -> World:
    region = make_region(name="Gogledd")
    housing = make_agency(type="housing", name="Tai & Cartrefi", contact_email="tai@example.org")
    yot = make_agency(type="yot", name="Template YOT", contact_email="template.yot@example.org")
    broker = make_user(Role.BROKER, email="template.broker@example.org", name="Gwen Broker")
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    make_user(Role.AGENCY_STAFF, agency=housing, name="Harri Housing", email="harri@example.org")
    partnership = make_partnership(name="Bae", region=region, agencies=[yot, housing], brokers=[broker])
    referral = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted",
                             shared_with=[(housing, [Pathway.ACCOMMODATION])],
                             young_person=YoungPersonDetails("Bethan", "Llewellyn", date(2009, 3, 14)))
    action = action_service.create_action(broker, referral, action_service.NewAction(
        pathway=Pathway.ACCOMMODATION, description="Find a supported flat", agency_id=housing.id,
        due_on=today() + timedelta(days=2)))
    meeting = make_meeting(partnership=partnership, agenda=[referral], location="Neuadd y Dref")
    gap = make_gap(partnership=partnership, evidence=[referral], title="Beds & <b>support</b> for 16-17s",
                   status="escalated")
    db.session.commit()
    return World(housing, broker, referral, action, meeting, gap)


def _contexts(world: World) -> dict[str, dict]:
    """Realistic context for every email template (all of them, by name: a new template needs one)."""
    meeting, housing = world.meeting, world.housing
    evidence = gap_service.evidence_of([world.gap.id])[world.gap.id]
    label = action_service.label(world.action)
    return {
        "action_assigned.txt": {"action": world.action, "agency": housing, "label": label},
        "action_due_soon.txt": {"actions": [world.action], "agency": housing, "by": today() + timedelta(days=3),
                                "label": action_service.label},
        "action_overdue.txt": {"action": world.action, "level": 2, "days_late": 4, "label": label},
        "meeting_invitation.txt": {"agency": housing, "meetings": [meeting]},
        "meeting_update.txt": {"agency": housing, "meetings": [meeting]},
        "meeting_cancellation.txt": {"agency": housing, "meetings": [meeting]},
        "meeting_update_request.txt": {"agency": housing, "meeting": meeting, "due_on": today() + timedelta(days=5),
                                       "initials": ["BL", "GJ"]},
        "meeting_pack.txt": {"agency": housing, "meeting": meeting},
        "meeting_minutes.txt": {"agency": housing, "meeting": meeting},
        "gap_escalated.txt": {"gap": world.gap, "evidence": evidence, "note": "Please commission 4 beds & a key worker."},
        "gap_response.txt": {"gap": world.gap, "responder": world.broker, "response": "Commissioning <now> & soon"},
        "invitation.txt": {"person": world.housing.staff[0], "inviter": world.broker,
                           "partnerships": world.housing.partnerships, "secret": SECRET,
                           "expires_at": utcnow() + timedelta(hours=72)},
        "password_reset.txt": {"person": world.broker, "secret": SECRET, "expires_at": utcnow() + timedelta(hours=1)},
    }


EXPECTED_LINK = {
    "action_assigned.txt": "/actions/{action}", "action_due_soon.txt": "/actions/{action}",
    "action_overdue.txt": "/actions/{action}", "meeting_invitation.txt": "/meetings/{meeting}",
    "meeting_update.txt": "/meetings/{meeting}", "meeting_cancellation.txt": "/meetings/{meeting}",
    "meeting_update_request.txt": "/meetings/{meeting}", "meeting_pack.txt": "/meetings/{meeting}",
    "meeting_minutes.txt": "/meetings/{meeting}", "gap_escalated.txt": "/gaps/{gap}", "gap_response.txt": "/gaps/{gap}",
    "invitation.txt": "/welcome/{secret}", "password_reset.txt": "/reset-password/{secret}",
}


def test_every_email_template_is_checked_here() -> None:
    """A new email template must be added to EXPECTED_LINK (and to _contexts) to be rendered below."""
    templates = {path.name for path in EMAILS.glob("*.txt") if not path.name.startswith("_")}
    assert templates == set(EXPECTED_LINK)


@pytest.mark.parametrize("template", sorted(EXPECTED_LINK))
def test_each_email_renders_outside_a_request_with_links_on_the_base_url(
        app: Flask, world: World, template: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PANEL_BASE_URL", BASE)
    assert not has_request_context()  # as when ``flask send-reminders`` runs from cron
    subject, text = outbox.render_email(template, **_contexts(world)[template])
    assert subject and "\n" not in subject and "{" not in subject
    assert text and "{{" not in text and "{%" not in text
    expected = BASE + EXPECTED_LINK[template].format(action=world.action.id, meeting=world.meeting.id,
                                                     gap=world.gap.id, secret=SECRET)
    assert LINK.findall(text) == [expected]
    # Names the young person by initials only.
    assert "Bethan" not in subject + text and "Llewellyn" not in subject + text


def test_links_follow_the_base_url_even_in_a_request_to_another_host(app: Flask, world: World,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PANEL_BASE_URL", BASE)
    with app.test_request_context("/", base_url="http://internal-host:8000"):
        _subject, text = outbox.render_email("action_assigned.txt", **_contexts(world)["action_assigned.txt"])
    assert LINK.findall(text) == [f"{BASE}/actions/{world.action.id}"]


def test_the_words_of_the_emails_are_as_before(app: Flask, world: World) -> None:
    contexts = _contexts(world)
    due = world.action.due_on
    subject, text = outbox.render_email("action_assigned.txt", **contexts["action_assigned.txt"])
    assert subject == f"New action for Tai & Cartrefi: BL, Accommodation, due {due.day} {due:%B}"
    assert text == (
        "The Bae panel agreed an action for Tai & Cartrefi:\n\n"
        "  Accommodation: see the service for the details\n"
        f"Due: {due:%A} {due.day} {due:%B %Y}\n\n"
        f"Sign in to see it and update it: http://panels.test/actions/{world.action.id}")
    assert "Find a supported flat" not in text  # what the action is stays in the service

    subject, text = outbox.render_email("action_overdue.txt", **contexts["action_overdue.txt"])
    assert subject == "Overdue (4 days): Tai & Cartrefi action for BL, Accommodation"
    assert text.splitlines()[1:] == [
        "You are its agency's lead: the owner has been reminded and it is still overdue.", "",
        f"Sign in to see it: http://panels.test/actions/{world.action.id}"]

    subject, text = outbox.render_email("meeting_cancellation.txt", **contexts["meeting_cancellation.txt"])
    lines = text.splitlines()
    assert subject.startswith("Cancelled: Bae resettlement panel, ")
    assert lines[:2] == ["Dear colleagues at Tai & Cartrefi,", ""]
    assert lines[2].startswith("- CANCELLED ") and lines[2].endswith(", Neuadd y Dref")
    assert lines[3:] == [f"  http://panels.test/meetings/{world.meeting.id}", "",
                         "The calendar file attached updates your calendar. Sign in to the service to see the agenda "
                         "and papers: cases are not named in emails."]

    _subject, text = outbox.render_email("meeting_update_request.txt", **contexts["meeting_update_request.txt"])
    assert text.splitlines()[1:] == ["", "BL, GJ", "",
                                     f"Sign in and open the meeting to send each update: "
                                     f"http://panels.test/meetings/{world.meeting.id}"]


def test_text_emails_are_not_html_escaped(app: Flask, world: World) -> None:
    contexts = _contexts(world)
    subject, text = outbox.render_email("gap_escalated.txt", **contexts["gap_escalated.txt"])
    assert subject == "Service gap escalated: Beds & <b>support</b> for 16-17s (Bae)"
    assert "\n\nBeds & <b>support</b> for 16-17s\n\n" in text
    assert "Please commission 4 beds & a key worker." in text
    _subject, text = outbox.render_email("gap_response.txt", **contexts["gap_response.txt"])
    assert 'Gwen Broker responded to the service gap "Beds & <b>support</b> for 16-17s":' in text
    assert "Commissioning <now> & soon" in text
    assert "&amp;" not in text and "&lt;" not in text and "&#34;" not in text


def test_the_daily_command_writes_links_on_the_base_url(app: Flask, world: World,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PANEL_BASE_URL", BASE)
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    digest = db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "action.due_soon")).one()
    assert digest.recipient == "tai@example.org"
    assert digest.subject.startswith("1 action for Tai & Cartrefi falls due by ")
    assert LINK.findall(digest.body_text) == [f"{BASE}/actions/{world.action.id}"]


def test_a_template_without_a_subject_is_refused(app: Flask, world: World) -> None:
    # The shared part of the meeting emails sets no subject of its own: it is not an email by itself.
    with pytest.raises(LookupError):
        outbox.render_email("_meeting_dates.txt", agency=world.housing, meetings=[world.meeting], cancelling=False)


# --- (c) The text can be read on the action's page --------------------------------------------------


def test_the_broker_reads_the_action_email_on_the_action_page_and_another_agency_cannot(
        app: Flask, world: World) -> None:
    email = db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "action.assigned",
                                                         OutboxEmail.record_id == world.action.id)).one()
    assert email.body_text.startswith("The Bae panel agreed an action for Tai & Cartrefi:")

    broker = app.test_client()
    assert sign_in(broker, "template.broker@example.org").status_code == 302
    page = broker.get(f"/actions/{world.action.id}")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    table = soup.find("table", attrs={"data-emails": True})
    assert table is not None
    row = table.find("tr", attrs={"data-email-status": True})
    cells = [cell.get_text(" ", strip=True) for cell in row.find_all("td")]
    assert cells[0] == "tai@example.org"
    assert email.subject in cells[2]
    shown = row.find(attrs={"data-email-text": True})
    assert shown is not None and shown.get_text() == email.body_text
    assert cells[1]  # when it was written

    outsider_agency = make_agency(type="health", name="Not On This Case", contact_email="other@example.org")
    make_user(Role.AGENCY_STAFF, agency=outsider_agency, email="outsider@example.org")
    world.referral.partnership.agencies.append(outsider_agency)
    other_broker = make_user(Role.BROKER, email="other.broker@example.org")
    make_partnership(brokers=[other_broker])
    db.session.commit()
    for address in ("outsider@example.org", "other.broker@example.org"):
        client = app.test_client()
        assert sign_in(client, address).status_code == 302
        refused = client.get(f"/actions/{world.action.id}")
        assert refused.status_code == 404, address
        assert "see the service for the details" not in refused.text
        assert email.subject not in refused.text
