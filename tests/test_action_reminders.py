"""Action emails, received by a real SMTP server on loopback: the assignment when an action is recorded,
the daily digest of actions falling due, and the step-by-step escalation of overdue actions (owner
agency, then its lead, then the partnership's brokers). Idempotent (a second run the same day sends
nothing more), recorded (``SentEmail``, ``ActionEscalation``), and never about an action that is done,
cancelled, or whose agency may no longer see the referral. Subjects name a young person by initials only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from sqlalchemy import func, select

from panel_app.models import (
    Action,
    ActionEscalation,
    ActionStatus,
    Agency,
    Referral,
    Role,
    SentEmail,
    User,
    db,
)
from panel_app.pathways import Pathway
from panel_app.services import actions as service
from panel_app.services import referrals as referral_service
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import CapturedMail, csrf_token_from, deliver_emails
from tests.factories import make_agency, make_partnership, make_referral, make_user

GIVEN, FAMILY = "Bethan", "Llewellyn"
INITIALS = "BL"


# --- The world ----------------------------------------------------------------------------------


@dataclass
class World:
    housing: Agency
    yot: Agency
    broker: User
    second_broker: User
    retired_broker: User
    worker: User
    referrer: User
    referral: Referral


@pytest.fixture
def world() -> World:
    housing = make_agency(type="housing", name="Reminder Housing", contact_email="housing.team@example.org",
                          lead_contact_email="housing.lead@example.org")
    yot = make_agency(type="yot", name="Reminder YOT", contact_email="yot.team@example.org",
                      lead_contact_email="yot.lead@example.org")
    broker = make_user(Role.BROKER, email="broker.one@example.org")
    second = make_user(Role.BROKER, email="broker.two@example.org")
    retired = make_user(Role.BROKER, email="broker.retired@example.org")
    worker = make_user(Role.AGENCY_STAFF, agency=housing, email="named.worker@example.org", name="Nia Worker")
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    partnership = make_partnership(agencies=[yot, housing], brokers=[broker, second, retired])
    referral = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted",
                             young_person=YoungPersonDetails(GIVEN, FAMILY, date(2009, 3, 14)))
    retired.active = False
    db.session.commit()
    return World(housing, yot, broker, second, retired, worker, referrer, referral)


def new_action(world: World, *, due_on: date, agency: Agency | None = None, worker: User | None = None,
               pathway: Pathway = Pathway.ACCOMMODATION, referral: Referral | None = None) -> Action:
    """An action recorded through the service. A due date in the past is set afterwards (as if it had
    been recorded earlier)."""
    action = service.create_action(world.broker, referral or world.referral, service.NewAction(
        pathway=pathway, description=f"Secret detail about {GIVEN} {FAMILY}",
        agency_id=(agency or world.housing).id, due_on=max(due_on, today()),
        owner_user_id=worker.id if worker else None))
    action.due_on = due_on
    db.session.flush()
    return action


def settle(smtp: CapturedMail | None = None) -> None:
    """Commit what the test set up and send its queued emails (the assignments), then forget them."""
    db.session.commit()
    deliver_emails()
    if smtp is not None:
        smtp.messages.clear()


def remind(app: Flask, on: date) -> service.ReminderRun:
    """What the daily command does, as if run on ``on``."""
    with app.test_request_context():
        run = service.send_reminders(on=on)
        db.session.commit()
        deliver_emails()
    return run


def subjects(messages: list[EmailMessage]) -> list[str]:
    return [str(message["Subject"]) for message in messages]


def assert_initials_only(messages: list[EmailMessage]) -> None:
    """No subject carries the young person's given or family name."""
    for subject in subjects(messages):
        assert GIVEN.lower() not in subject.lower(), subject
        assert FAMILY.lower() not in subject.lower(), subject
    recorded = db.session.scalars(select(SentEmail.subject)).all()
    for subject in recorded:
        assert GIVEN.lower() not in subject.lower() and FAMILY.lower() not in subject.lower(), subject


def sent_rows(kind_prefix: str) -> list[SentEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(SentEmail).where(SentEmail.kind.startswith(kind_prefix))
                                   .order_by(SentEmail.id)))


def escalations(action: Action) -> list[int]:
    return sorted(db.session.scalars(select(ActionEscalation.level).where(ActionEscalation.action_id == action.id)))


def recipients(messages: list[EmailMessage]) -> list[str]:
    return sorted(str(message["To"]) for message in messages)


# --- The assignment -----------------------------------------------------------------------------


def test_recording_an_action_emails_the_agency_and_the_named_worker(app: Flask, world: World, api_token,
                                                                    smtp: CapturedMail) -> None:
    headers = api_token(world.broker)
    smtp.messages.clear()
    due = today() + timedelta(days=9)
    response = app.test_client().post(f"/api/v1/referrals/{world.referral.id}/actions", headers=headers, json={
        "pathway": "accommodation", "description": f"Find {GIVEN} a room in supported lodgings",
        "agency_id": world.housing.id, "due_date": due.isoformat(), "owner_user_id": world.worker.id})
    assert response.status_code == 201, response.get_json()

    assert recipients(smtp.messages) == ["housing.team@example.org", "named.worker@example.org"]
    for message in smtp.messages:
        subject = str(message["Subject"])
        assert subject.startswith("New action for Reminder Housing:"), subject
        assert INITIALS in subject
        body = message.get_content()
        assert f"/actions/{response.get_json()['id']}" in body
        assert "Find" not in body  # the promise itself is read in the service, not in a mailbox
    assert_initials_only(smtp.messages)

    rows = sent_rows("action.assigned")
    assert sorted(row.recipient for row in rows) == ["housing.team@example.org", "named.worker@example.org"]
    assert all(row.sent_at is not None and row.error is None and row.agency_id == world.housing.id for row in rows)


def test_recording_an_action_through_the_page_emails_the_agency_once(app: Flask, client, login_as, world: World,
                                                                     smtp: CapturedMail) -> None:
    login_as(world.broker)
    smtp.messages.clear()
    prefix = f"r{world.referral.id}-"
    page = client.get(f"/referrals/{world.referral.id}/actions/new")
    assert page.status_code == 200
    due = today() + timedelta(days=4)
    response = client.post(f"/referrals/{world.referral.id}/actions/new", data={
        f"{prefix}csrf_token": csrf_token_from(page.text),
        f"{prefix}pathway": "ete", f"{prefix}description": "Find a college place",
        f"{prefix}agency_id": str(world.yot.id), f"{prefix}owner_user_id": "0",
        f"{prefix}due_on": [str(due.day), str(due.month), str(due.year)]})
    assert response.status_code == 302, BeautifulSoup(response.text, "html.parser").get_text(" ", strip=True)[:2000]
    assert recipients(smtp.messages) == ["yot.team@example.org"]
    assert_initials_only(smtp.messages)


# --- The digest of actions falling due ----------------------------------------------------------


def test_send_reminders_sends_one_digest_per_agency_of_what_falls_due_within_three_days(
        app: Flask, world: World, smtp: CapturedMail) -> None:
    on = today()
    soon = [new_action(world, due_on=on + timedelta(days=days)) for days in (0, 1, 3)]
    new_action(world, due_on=on + timedelta(days=4))  # not yet
    new_action(world, due_on=on + timedelta(days=10))  # not yet
    new_action(world, due_on=on + timedelta(days=2), agency=world.yot, pathway=Pathway.FAMILIES)
    settle(smtp)

    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    assert "due-soon digests: 2" in result.output, result.output
    assert "Emails queued: 2" in result.output, result.output

    by_recipient = {str(m["To"]): m for m in smtp.messages}
    assert sorted(by_recipient) == ["housing.team@example.org", "yot.team@example.org"]
    housing_digest = by_recipient["housing.team@example.org"]
    assert str(housing_digest["Subject"]).startswith("3 actions for Reminder Housing fall due by")
    body = housing_digest.get_content()
    for action in soon:
        assert f"/actions/{action.id}" in body
    assert body.count(f"{INITIALS}, ") == 3
    assert str(by_recipient["yot.team@example.org"]["Subject"]).startswith("1 action for Reminder YOT falls due by")
    assert_initials_only(smtp.messages)

    # The same day again: nothing more.
    again = app.test_cli_runner().invoke(args=["send-reminders"])
    assert again.exit_code == 0, again.output
    assert "due-soon digests: 0" in again.output and "Emails queued: 0" in again.output, again.output
    assert len(smtp.messages) == 2
    rows = sent_rows("action.due_soon")
    assert len(rows) == 2 and all(row.sent_at is not None for row in rows)


def test_the_digest_is_sent_again_the_next_day_but_once(app: Flask, world: World, smtp: CapturedMail) -> None:
    on = today()
    new_action(world, due_on=on + timedelta(days=3))
    settle(smtp)
    assert remind(app, on).due_soon == 1
    assert remind(app, on).due_soon == 0
    assert remind(app, on + timedelta(days=1)).due_soon == 1
    assert remind(app, on + timedelta(days=1)).due_soon == 0
    assert recipients(smtp.messages) == ["housing.team@example.org"] * 2


# --- Escalating an overdue action, step by step -------------------------------------------------


def test_an_overdue_action_is_escalated_step_by_step_and_each_step_once(app: Flask, world: World,
                                                                        smtp: CapturedMail) -> None:
    lead_days = app.config["ACTION_ESCALATE_TO_LEAD_DAYS"]
    broker_days = app.config["ACTION_ESCALATE_TO_BROKER_DAYS"]
    assert 1 < lead_days < broker_days
    due = today() + timedelta(days=5)
    action = new_action(world, due_on=due, worker=world.worker)
    settle(smtp)

    def overdue_mail() -> list[EmailMessage]:
        return [m for m in smtp.messages if str(m["Subject"]).startswith("Overdue")]

    # The due date itself: not overdue yet.
    remind(app, due)
    assert overdue_mail() == [] and escalations(action) == []

    # The day after: the owner agency and the named worker.
    run = remind(app, due + timedelta(days=1))
    assert run.escalations == {1: 1, 2: 0, 3: 0}
    assert recipients(overdue_mail()) == ["housing.team@example.org", "named.worker@example.org"]
    assert all(str(m["Subject"]) == f"Overdue (1 days): Reminder Housing action for {INITIALS}, Accommodation"
               for m in overdue_mail()), subjects(overdue_mail())
    assert escalations(action) == [1]

    # The same day again, and the days before the lead's step: nothing more.
    for later in (1, lead_days):
        assert remind(app, due + timedelta(days=later)).escalations == {1: 0, 2: 0, 3: 0}
    assert len(overdue_mail()) == 2

    # ACTION_ESCALATE_TO_LEAD_DAYS later: the agency's lead.
    assert remind(app, due + timedelta(days=1 + lead_days)).escalations == {1: 0, 2: 1, 3: 0}
    assert recipients(overdue_mail()[2:]) == ["housing.lead@example.org"]
    assert "You are its agency's lead" in overdue_mail()[2].get_content()
    assert escalations(action) == [1, 2]
    assert remind(app, due + timedelta(days=1 + lead_days)).escalations == {1: 0, 2: 0, 3: 0}
    assert remind(app, due + timedelta(days=broker_days)).escalations == {1: 0, 2: 0, 3: 0}
    assert len(overdue_mail()) == 3

    # ACTION_ESCALATE_TO_BROKER_DAYS later: the partnership's (active) brokers.
    assert remind(app, due + timedelta(days=1 + broker_days)).escalations == {1: 0, 2: 0, 3: 1}
    assert recipients(overdue_mail()[3:]) == ["broker.one@example.org", "broker.two@example.org"]
    assert "broker.retired@example.org" not in recipients(smtp.messages)
    assert escalations(action) == [1, 2, 3]

    # And never again.
    assert remind(app, due + timedelta(days=1 + broker_days)).escalations == {1: 0, 2: 0, 3: 0}
    assert remind(app, due + timedelta(days=60)).escalations == {1: 0, 2: 0, 3: 0}
    assert len(overdue_mail()) == 5
    assert_initials_only(smtp.messages)

    rows = sent_rows("action.overdue")
    assert [(row.kind, row.recipient) for row in rows] == [
        ("action.overdue.1", "housing.team@example.org"), ("action.overdue.1", "named.worker@example.org"),
        ("action.overdue.2", "housing.lead@example.org"),
        ("action.overdue.3", "broker.one@example.org"), ("action.overdue.3", "broker.two@example.org")]
    assert all(row.sent_at is not None and row.error is None for row in rows)
    assert db.session.scalar(select(func.count()).select_from(ActionEscalation)
                             .where(ActionEscalation.action_id == action.id)) == 3


def test_the_command_escalates_an_action_whose_due_date_has_passed(app: Flask, world: World,
                                                                   smtp: CapturedMail) -> None:
    action = new_action(world, due_on=today() - timedelta(days=1))
    settle(smtp)
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    assert "to the owner agency 1, to its lead 0, to the broker 0" in result.output, result.output
    assert recipients(smtp.messages) == ["housing.team@example.org"]
    assert str(smtp.messages[0]["Subject"]).startswith("Overdue (1 days): Reminder Housing action for BL")

    again = app.test_cli_runner().invoke(args=["send-reminders"])
    assert "to the owner agency 0, to its lead 0, to the broker 0" in again.output, again.output
    assert "Emails queued: 0" in again.output
    assert len(smtp.messages) == 1
    assert escalations(action) == [1]


def test_an_agency_without_a_lead_contact_has_its_team_told_at_the_second_step(app: Flask, world: World,
                                                                               smtp: CapturedMail) -> None:
    world.yot.lead_contact_email = None
    due = today() + timedelta(days=1)
    new_action(world, due_on=due, agency=world.yot, pathway=Pathway.FAMILIES)
    settle(smtp)
    remind(app, due + timedelta(days=1))
    remind(app, due + timedelta(days=1 + app.config["ACTION_ESCALATE_TO_LEAD_DAYS"]))
    assert [(str(m["To"]), str(m["Subject"])[:12]) for m in smtp.messages if "Overdue" in str(m["Subject"])] == [
        ("yot.team@example.org", "Overdue (1 d"), ("yot.team@example.org", "Overdue (8 d")]


# --- What is not reminded -----------------------------------------------------------------------


def test_done_cancelled_and_no_longer_visible_actions_are_not_reminded(app: Flask, world: World,
                                                                       smtp: CapturedMail) -> None:
    on = today()
    control = new_action(world, due_on=on + timedelta(days=2))
    done = new_action(world, due_on=on + timedelta(days=2))
    cancelled = new_action(world, due_on=on + timedelta(days=2))
    service.update_action(world.worker, done, service.ActionChange(
        version=done.version, status=ActionStatus.DONE, outcome="Room found"))
    service.update_action(world.broker, cancelled, service.ActionChange(
        version=cancelled.version, status=ActionStatus.CANCELLED, note="No longer needed"))
    # A second young person, whose consent is then withdrawn: housing loses access to the referral.
    withdrawn_referral = make_referral(partnership=world.referral.partnership, broker=world.broker,
                                       referrer=world.referrer, status="accepted",
                                       young_person=YoungPersonDetails("Carys", "Pugh", date(2008, 7, 1)))
    withdrawn = new_action(world, due_on=on + timedelta(days=2), referral=withdrawn_referral)
    referral_service.withdraw_consent(world.broker, withdrawn_referral, None, "Withdrawn at the review")
    settle(smtp)
    db.session.refresh(withdrawn)

    # Falling due: only the control is in the digest.
    remind(app, on)
    digest = [m for m in smtp.messages if " due by " in str(m["Subject"])]
    assert len(digest) == 1
    body = digest[0].get_content()
    assert f"/actions/{control.id}" in body
    for quiet in (done, cancelled, withdrawn):
        assert f"/actions/{quiet.id}" not in body, quiet.status
    assert str(digest[0]["Subject"]).startswith("1 action for")

    # Overdue, step by step: only the control is escalated.
    later = on + timedelta(days=3 + app.config["ACTION_ESCALATE_TO_BROKER_DAYS"])
    run = remind(app, later)
    assert run.escalations == {1: 1, 2: 1, 3: 1}
    assert escalations(control) == [1, 2, 3]
    for quiet in (done, cancelled, withdrawn):
        assert escalations(quiet) == []
    overdue = [m for m in smtp.messages if "Overdue" in str(m["Subject"])]
    assert all(f"/actions/{control.id}" in m.get_content() for m in overdue)
    assert all("Carys" not in s and "Pugh" not in s for s in subjects(smtp.messages))
    assert_initials_only(smtp.messages)


def test_an_agency_without_a_contact_email_gets_no_digest_and_nothing_breaks(app: Flask, world: World,
                                                                             smtp: CapturedMail) -> None:
    world.yot.contact_email = None
    new_action(world, due_on=today() + timedelta(days=1), agency=world.yot, pathway=Pathway.FAMILIES)
    new_action(world, due_on=today() + timedelta(days=1))
    settle(smtp)
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    assert recipients(smtp.messages) == ["housing.team@example.org"]


def test_an_agency_no_longer_on_the_panel_is_not_reminded(app: Flask, world: World, smtp: CapturedMail) -> None:
    """An agency taken off the partnership no longer sees its referrals (docs/domain.md): nor is it reminded
    of them."""
    due = today() + timedelta(days=2)
    action = new_action(world, due_on=due)
    settle(smtp)
    world.referral.partnership.agencies.remove(world.housing)
    settle(smtp)
    remind(app, today())
    remind(app, due + timedelta(days=1 + app.config["ACTION_ESCALATE_TO_BROKER_DAYS"]))
    assert [(str(m["To"]), str(m["Subject"])) for m in smtp.messages if str(m["To"]).startswith("housing.")] == []
    assert 1 not in escalations(action) and 2 not in escalations(action)


def test_a_named_worker_whose_account_was_closed_is_not_emailed(app: Flask, world: World,
                                                                smtp: CapturedMail) -> None:
    """Someone who has left the agency gets no more emails about its young people (as a retired broker)."""
    due = today() + timedelta(days=2)
    new_action(world, due_on=due, worker=world.worker)
    settle(smtp)
    world.worker.active = False
    settle(smtp)
    remind(app, due + timedelta(days=1))
    assert recipients(smtp.messages) == ["housing.team@example.org"]
