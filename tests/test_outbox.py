"""The outbox: an email is kept with the change it is about, delivered by the worker exactly once
however the mail server behaves (refusing, silent, back again), retried with back-off, and shown for
what it is (queued, sent, failed and why) on the record's page. A page never says "sent" before it
is; a change that is rolled back leaves nothing in the outbox.

The mail server is real (aiosmtpd on loopback, behind a gate that can go silent); the worker's job
runs at once in the request (``JOBS_URL=memory://``), or, where a test says so, from a real SQLite
queue of jobs.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app import jobs
from panel_app.doors import all_or_nothing
from panel_app.errors import RuleBroken
from panel_app.models import GapStatus, OutboxEmail, Role, ServiceGap, User, db, utcnow
from panel_app.services import meetings as meeting_service
from panel_app.services import outbox
from tests.conftest import ControllableMailServer, csrf_token_from, sign_in
from tests.factories import make_agency, make_gap, make_meeting, make_partnership, make_region, make_user

NOTE = "Four young people waited more than a month for a supported lodging."


@dataclass
class World:
    broker: User
    other_broker: User  # brokers another partnership
    staff: User  # of a member agency
    leads: list[User]
    gap_id: int


@pytest.fixture
def world() -> World:
    region = make_region(name="Outbox Region")
    housing = make_agency(name="Outbox Housing", contact_email="housing@outbox.example")
    broker = make_user(Role.BROKER, email="broker@outbox.example")
    partnership = make_partnership(name="Outbox Partnership", region=region, agencies=[housing], brokers=[broker])
    other_broker = make_user(Role.BROKER, email="other.broker@outbox.example")
    make_partnership(name="Another Partnership", region=make_region(), brokers=[other_broker])
    staff = make_user(Role.AGENCY_STAFF, agency=housing, email="worker@outbox.example")
    leads = [make_user(Role.STRATEGIC_LEAD, region=region, email=f"lead{n}@outbox.example") for n in (1, 2)]
    gap = make_gap(partnership=partnership, by=broker, title="No supported lodgings for 16-17 year olds")
    db.session.commit()
    return World(broker, other_broker, staff, leads, gap.id)


def client_of(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


def escalate(app: Flask, world: World) -> tuple[FlaskClient, object]:
    client = client_of(app, world.broker)
    form = client.get(f"/gaps/{world.gap_id}/escalate")
    db.session.expire_all()
    version = db.session.get(ServiceGap, world.gap_id).version
    response = client.post(f"/gaps/{world.gap_id}/escalate", data={
        "csrf_token": csrf_token_from(form.text), "version": str(version), "note": NOTE})
    return client, response


def escalation_emails() -> list[OutboxEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "gap.escalated")
                                   .order_by(OutboxEmail.recipient)))


def lead_addresses(world: World) -> list[str]:
    return sorted(lead.email for lead in world.leads)


def later(minutes: float) -> object:
    return utcnow() + timedelta(minutes=minutes)


def email_rows(html: str) -> list[tuple[str, str, str]]:
    """(recipient, status, status text) of each row of the page's Emails table."""
    table = BeautifulSoup(html, "html.parser").find("table", attrs={"data-emails": True})
    if table is None:
        return []
    rows = []
    for row in table.find_all("tr", attrs={"data-email-status": True}):
        cells = row.find_all("td")
        rows.append((cells[0].get_text(strip=True), row["data-email-status"], " ".join(cells[-1].get_text().split())))
    return rows


# --- A mail server that refuses, then accepts ---------------------------------------------------


@pytest.mark.parametrize("refuse", ["recipients", "messages"])
def test_a_refusing_mail_server_loses_nothing_and_each_email_goes_once_it_accepts(
        app: Flask, world: World, mail_server: ControllableMailServer, refuse: str) -> None:
    if refuse == "recipients":
        mail_server.refuse_recipients("451 4.3.0 Mailbox temporarily unavailable")
        reason = "451 4.3.0 Mailbox temporarily unavailable"
    else:
        mail_server.refuse_messages("554 5.6.0 Transaction failed")
        reason = "554 5.6.0 Transaction failed"

    client, response = escalate(app, world)
    assert response.status_code == 302
    assert mail_server.messages == []
    emails = escalation_emails()
    assert [e.recipient for e in emails] == lead_addresses(world)
    for email in emails:
        assert email.sent_at is None and email.failed_at is None and email.attempts == 1
        assert reason in email.error
        assert email.body_text and NOTE in email.body_text  # the body is kept for the next attempt
    # The gap's page says so, with the reason, and does not say sent.
    page = client.get(f"/gaps/{world.gap_id}")
    rows = email_rows(page.text)
    assert sorted(r[0] for r in rows) == lead_addresses(world)
    assert all(status == "queued" and reason in text and "Sent" not in text for _to, status, text in rows)

    # Not due again yet: nothing is tried, no attempt spent.
    assert outbox.deliver_due().sent == 0
    assert [e.attempts for e in escalation_emails()] == [1, 1]

    mail_server.come_back()
    run = outbox.deliver_due(now=later(2))
    assert run.sent == 2
    assert sorted(str(m["To"]) for m in mail_server.messages) == lead_addresses(world)
    assert outbox.deliver_due(now=later(500)).sent == 0  # and never again
    assert len(mail_server.messages) == 2
    emails = escalation_emails()
    assert all(e.sent_at is not None and e.error is None and e.attempts == 2 for e in emails)
    assert sorted(str(m["Message-ID"]) for m in mail_server.messages) == sorted(e.message_id for e in emails)
    rows = email_rows(client.get(f"/gaps/{world.gap_id}").text)
    assert [status for _to, status, _text in rows] == ["sent", "sent"]


# --- A silent mail server -----------------------------------------------------------------------


def test_a_silent_mail_server_costs_one_timeout_and_each_email_goes_exactly_once_when_it_answers(
        app: Flask, world: World, mail_server: ControllableMailServer) -> None:
    mail_server.go_silent()
    _client, response = escalate(app, world)
    assert response.status_code == 302  # the change is saved, whatever the mail server does
    gap = db.session.get(ServiceGap, world.gap_id)
    assert gap.status is GapStatus.ESCALATED
    emails = escalation_emails()
    assert len(emails) == 2
    # The run stopped at the first timeout: one attempt spent, the other email untouched.
    timed_out = [e for e in emails if e.attempts == 1]
    assert len(timed_out) == 1 and "did not answer within 1 second" in timed_out[0].error
    assert all(e.sent_at is None and e.failed_at is None for e in emails)
    assert mail_server.gate.connections == 1

    # Still silent a minute later: the other email times out too, on its own attempt.
    outbox.deliver_due(now=later(0.5))
    assert sorted(e.attempts for e in escalation_emails()) == [1, 1]
    assert mail_server.messages == []

    mail_server.come_back()
    assert outbox.deliver_due(now=later(2)).sent == 2
    assert outbox.deliver_due(now=later(60)).sent == 0
    assert outbox.deliver_due(now=later(600)).sent == 0
    assert sorted(str(m["To"]) for m in mail_server.messages) == lead_addresses(world)  # exactly once each
    assert all(e.sent_at is not None for e in escalation_emails())


def test_an_email_being_tried_by_one_worker_is_not_taken_by_another(
        app: Flask, world: World, mail_server: ControllableMailServer) -> None:
    mail_server.go_silent()
    escalate(app, world)  # queued; the attempt made in the request timed out
    mail_server.come_back()
    # Another worker has claimed both and is still trying them (its lease runs for a few minutes).
    for email in escalation_emails():
        email.claimed_until = utcnow() + timedelta(minutes=3)
        email.next_attempt_at = utcnow()
    db.session.commit()
    assert outbox.deliver_due(now=later(1)).sent == 0
    assert mail_server.messages == []
    # That worker died: once its lease is over, each email is taken, and goes, once.
    assert outbox.deliver_due(now=later(4)).sent == 2
    assert outbox.deliver_due(now=later(5)).sent == 0
    assert sorted(str(m["To"]) for m in mail_server.messages) == lead_addresses(world)


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("queue", ["sqlite", "redis"])
def test_a_request_only_queues_the_job_and_the_worker_delivers_it(
        app: Flask, world: World, mail_server: ControllableMailServer, tmp_path: Path, queue: str) -> None:
    """With a real queue of jobs (SQLite, as the demo runs; Redis, as production does), a silent mail
    server does not hold the request: the request commits and asks the worker; the worker's job
    delivers."""
    if queue == "redis" and not _redis_answers():
        if os.environ.get("CI"):
            pytest.fail("CI must run a Redis at 127.0.0.1:6379 (.ci/run starts one)")
        pytest.skip("no Redis at 127.0.0.1:6379")
    mail_server.go_silent()
    name = jobs.huey.name
    if queue == "sqlite":
        jobs.configure(f"sqlite:///{tmp_path / 'jobs.db'}")
    else:
        jobs.huey.name = f"panel-test-{uuid.uuid4().hex}"  # a queue of this test's own on the shared Redis
        jobs.configure("redis://127.0.0.1:6379/15")
    try:
        _client, response = escalate(app, world)
        assert response.status_code == 302
        assert mail_server.gate.connections == 0  # the request never spoke to the mail server
        assert jobs.huey.pending_count() == 1
        assert [e.attempts for e in escalation_emails()] == [0, 0]
        mail_server.come_back()
        task = jobs.huey.dequeue()
        jobs.huey.execute(task)  # what huey_consumer does
        assert jobs.huey.pending_count() == 0
    finally:
        if queue == "redis":
            jobs.huey.storage.flush_all()
        jobs.huey.name = name
        jobs.configure(app.config["JOBS_URL"])
    assert sorted(str(m["To"]) for m in mail_server.messages) == lead_addresses(world)
    assert all(e.sent_at is not None and e.attempts == 1 for e in escalation_emails())


# --- Back-off, giving up, and who hears of it ---------------------------------------------------


def test_the_worker_backs_off_then_gives_up_and_the_people_concerned_see_why(
        app: Flask, world: World, mail_server: ControllableMailServer) -> None:
    mail_server.refuse_recipients("550 5.1.1 No such mailbox")
    escalate(app, world)
    waits = []
    now = utcnow()
    for _attempt in range(outbox.MAX_ATTEMPTS + 2):
        emails = escalation_emails()
        if all(e.failed_at is not None for e in emails):
            break
        due = max(e.next_attempt_at for e in emails)
        waits.append(round((due - now).total_seconds() / 60))
        now = due + timedelta(seconds=1)
        outbox.deliver_due(now=now)
    assert waits == list(outbox.RETRY_AFTER_MINUTES)  # 1, 5, 15, 60 and 240 minutes
    emails = escalation_emails()
    assert all(e.status.value == "failed" and e.attempts == outbox.MAX_ATTEMPTS and e.next_attempt_at is None
               and "550 5.1.1 No such mailbox" in e.error for e in emails)
    mail_server.come_back()
    assert outbox.deliver_due(now=now + timedelta(days=1)).sent == 0  # given up: not tried again

    broker = client_of(app, world.broker)
    rows = sorted(email_rows(broker.get(f"/gaps/{world.gap_id}").text))
    assert [(to, status) for to, status, _text in rows] == [(a, "failed") for a in lead_addresses(world)]
    assert all("550 5.1.1 No such mailbox" in text for _to, _status, text in rows)
    home = broker.get("/").text
    assert "2 emails could not be delivered." in " ".join(home.split())
    undelivered = broker.get("/emails/undelivered")
    assert undelivered.status_code == 200
    assert sorted(to for to, _s, _t in email_rows(undelivered.text)) == lead_addresses(world)

    # Another partnership's broker and a member agency's worker: none of it.
    for outsider in (world.other_broker, world.staff):
        client = client_of(app, outsider)
        assert email_rows(client.get("/emails/undelivered").text) == []
        assert "could not be delivered" not in client.get("/").text
    # The strategic leads of the region see emails about their region's gaps.
    lead = client_of(app, world.leads[0])
    assert len(email_rows(lead.get("/emails/undelivered").text)) == 2


# --- Header injection ---------------------------------------------------------------------------


def test_a_line_break_in_a_gap_title_no_longer_breaks_escalation(
        app: Flask, world: World, mail_server: ControllableMailServer) -> None:
    gap = db.session.get(ServiceGap, world.gap_id)
    gap.title = "Beds\r\nBcc: everyone@outbox.example\r\n\r\nfor 16-17 year olds"
    db.session.commit()

    _client, response = escalate(app, world)
    assert response.status_code == 302, response.text[:300]
    db.session.expire_all()
    assert db.session.get(ServiceGap, world.gap_id).status is GapStatus.ESCALATED  # the change is kept
    emails = escalation_emails()
    assert [e.recipient for e in emails] == lead_addresses(world)  # and every email of it
    assert all("\r" not in e.subject and "\n" not in e.subject for e in emails)
    assert sorted(str(m["To"]) for m in mail_server.messages) == lead_addresses(world)
    for message in mail_server.messages:
        assert message["Bcc"] is None
        assert str(message["Subject"]).startswith(
            "Service gap escalated: Beds Bcc: everyone@outbox.example for 16-17 year olds")


def test_header_values_are_one_line_of_printable_text() -> None:
    assert outbox.clean_header("Minutes\r\nBcc: x@y\tfor\x00 Conwy\u2028!") == "Minutes Bcc: x@y for Conwy !"
    assert outbox.clean_header("a" * 300) == "a" * 255


# --- Nothing is written when the change rolls back ----------------------------------------------


def test_a_change_that_is_rolled_back_leaves_nothing_in_the_outbox(app: Flask, world: World) -> None:
    before = db.session.scalar(select(func.count(OutboxEmail.id)))
    with app.test_request_context("/"):
        with pytest.raises(RuleBroken):
            with all_or_nothing():
                gap = db.session.get(ServiceGap, world.gap_id)
                outbox.queue("lead1@outbox.example", "Service gap escalated", "text", kind="gap.escalated",
                             about=("gap", gap.id), sent_by=world.broker)
                db.session.flush()
                raise RuleBroken("a rule the change broke after queueing its email")
        db.session.commit()
    assert db.session.scalar(select(func.count(OutboxEmail.id))) == before


def test_a_request_that_fails_leaves_nothing_in_the_outbox(app: Flask, world: World) -> None:
    """An escalation refused (no note): nothing saved, nothing queued."""
    client = client_of(app, world.broker)
    form = client.get(f"/gaps/{world.gap_id}/escalate")
    response = client.post(f"/gaps/{world.gap_id}/escalate", data={
        "csrf_token": csrf_token_from(form.text), "version": str(db.session.get(ServiceGap, world.gap_id).version),
        "note": ""})
    assert response.status_code == 400  # the note is a required field of the form
    assert escalation_emails() == []


# --- What the pages say after approving minutes -------------------------------------------------


def test_approving_minutes_says_queued_and_the_meeting_page_shows_each_email_until_it_goes(
        app: Flask, mail_server: ControllableMailServer) -> None:
    agencies = [make_agency(name=f"Minutes Agency {n}", contact_email=f"team{n}@minutes.example") for n in (1, 2, 3)]
    broker = make_user(Role.BROKER, email="broker@minutes.example")
    partnership = make_partnership(name="Minutes Partnership", agencies=agencies, brokers=[broker])
    meeting = make_meeting(partnership=partnership, broker=broker, starts_in=-timedelta(hours=2))
    member = make_user(Role.AGENCY_STAFF, agency=agencies[0], email="member@minutes.example")
    with app.test_request_context("/"):
        meeting_service.mark_held(broker, meeting)
    db.session.commit()
    outbox.deliver_due()  # the invitations
    mail_server.messages.clear()
    mail_server.refuse_recipients()

    client = client_of(app, broker)
    page = client.get(f"/meetings/{meeting.id}/minutes")
    version = re.search(r'name="version" type="hidden" value="(\d+)"|name="version" value="(\d+)"', page.text)
    response = client.post(f"/meetings/{meeting.id}/minutes", data={
        "csrf_token": csrf_token_from(page.text), "version": version.group(1) or version.group(2),
        "minutes_notes": "Next panel in a month.", "approve": "Approve and send to each agency"}, follow_redirects=True)
    assert response.status_code == 200
    text = " ".join(BeautifulSoup(response.text, "html.parser").get_text().split())
    assert "Minutes approved and queued for 3 agencies" in text
    assert "will be sent shortly" in text
    assert not re.search(r"\bsent to\b|\bhave been sent\b|\bwere sent\b", text)
    assert mail_server.messages == []
    rows = [r for r in email_rows(response.text) if "Minutes" in r[2] or r[1] == "queued"]
    minutes_rows = [r for r in email_rows(response.text) if r[1] == "queued"]
    assert sorted(to for to, _s, _t in minutes_rows) == sorted(a.contact_email for a in agencies)
    assert all("Not sent yet" in t and "451" in t for _to, _s, t in minutes_rows), rows

    mail_server.come_back()
    result = app.test_cli_runner().invoke(args=["deliver-emails"])
    assert result.exit_code == 0, result.output
    assert "Emails: 0 sent" in result.output  # not due yet: the first wait is a minute
    assert outbox.deliver_due(now=later(2)).sent == 3
    assert sorted(str(m["To"]) for m in mail_server.messages) == sorted(a.contact_email for a in agencies)
    statuses = [s for _to, s, _t in email_rows(client.get(f"/meetings/{meeting.id}").text)]
    assert statuses and set(statuses) == {"sent"}
    # A member agency's worker sees the meeting, not the other agencies' emails.
    page = client_of(app, member).get(f"/meetings/{meeting.id}")
    assert page.status_code == 200 and email_rows(page.text) == []


def test_with_no_mail_server_emails_wait_queued_and_no_page_says_sent(app: Flask, world: World) -> None:
    assert app.config["MAIL_SERVER"] == ""
    client, response = escalate(app, world)
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    text = " ".join(BeautifulSoup(page.text, "html.parser").get_text().split())
    assert "queued and will be sent shortly" in text
    rows = email_rows(page.text)
    assert [s for _to, s, _t in rows] == ["queued", "queued"]
    assert all("no mail server set up yet" in t for _to, _s, t in rows)
    assert all(e.attempts == 0 and e.error is None for e in escalation_emails())
