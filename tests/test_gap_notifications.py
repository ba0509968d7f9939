"""Gap notifications (issue 6, "Notifications"): strategic leads are emailed when a gap is escalated to
them; the broker and the raising agency when a lead responds. Delivered through a real SMTP server on
loopback (the ``smtp`` fixture), by the request that made the change, once it is stored.

The world: region R with partnership P (two active brokers and one whose account is closed; member
agencies: a YOT that referred every case, housing, an education provider); two active strategic
leads of R, one inactive, and a lead of another region. Young person X was referred twice (X1, 41
days ago; X2, 5 days ago) and Y once (Y1, 12 days ago), each shared with housing. Housing logged the
gap with the three referrals as evidence, so by hand: 2 young people affected (X counts once), the
longest wait 41 days (X1's). Every identity field of X and Y is a marker, and no email may carry one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from panel_app.models import NeedRating, Referral, Role, SentEmail, ServiceGap, User, db
from panel_app.pathways import Pathway
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import csrf_token_from, forget_queued_emails, sign_in
from tests.factories import make_agency, make_gap, make_partnership, make_referral, make_region, make_user

PARTNERSHIP = "Gap Mail Partnership"
TITLE = "No supported lodgings for 16-17 year olds"
NOTE = "Six young people waited more than 30 days for supported housing this year."
FIGURES_LINE = "Young people affected: 2. Longest wait: 41 days."
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

BORN = {"X": date(2009, 6, 23), "Y": date(2010, 2, 11)}


def marker(person: str, field: str) -> str:
    return f"GapMail{field}{person}Kw"


MARKERS = {marker(person, field) for person in BORN for field in
           ("Given", "Family", "Reference", "Phone", "Email", "Address", "Reason", "Note")}
DATES = {"2009-06-23", "23 June 2009", "23/06/2009", "23 Jun 2009", "2010-02-11", "11 February 2010",
         "11/02/2010", "11 Feb 2010"}


def identity_in(text: str) -> set[str]:
    lowered = " ".join(text.lower().split())
    squashed = "".join(lowered.split())
    return {m for m in MARKERS | DATES if m.lower() in lowered or "".join(m.lower().split()) in squashed}


def body(message: EmailMessage) -> str:
    """Every text part of an email (and, were there any, what its attachments hold)."""
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        content = part.get_content()
        parts.append(content.decode("utf-8", "replace") if isinstance(content, bytes) else content)
    return "\n".join(parts)


def subject(message: EmailMessage) -> str:
    return " ".join(message["Subject"].split())


def long_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


@dataclass
class World:
    brokers: list[User]  # active
    broker_gone: User
    leads: list[User]  # active, of R
    lead_gone: User
    lead_elsewhere: User
    other_broker: User  # of P2, in R as well
    staff: dict[str, User]
    contacts: dict[str, str]
    referrals: dict[str, int]
    gap_id: int


def build_world(*, status: str = "open", logged_by: str = "housing") -> World:
    region = make_region(name="Gap Mail Region")
    contacts = {"yot": "yot@gap-mail.example", "housing": "housing@gap-mail.example",
                "education": "school@gap-mail.example"}
    yot = make_agency(type="yot", name="Gap Mail YOT", contact_email=contacts["yot"])
    housing = make_agency(type="housing", name="Gap Mail Housing", contact_email=contacts["housing"])
    education = make_agency(type="education", name="Gap Mail School", contact_email=contacts["education"])
    brokers = [make_user(Role.BROKER, name="Gap Mail Broker One", email="broker.one@gap-mail.example"),
               make_user(Role.BROKER, name="Gap Mail Broker Two", email="broker.two@gap-mail.example")]
    broker_gone = make_user(Role.BROKER, name="Gap Mail Former Broker", email="broker.gone@gap-mail.example",
                            active=False)
    partnership = make_partnership(agencies=[yot, housing, education], brokers=[*brokers, broker_gone],
                                   region=region, name=PARTNERSHIP)
    other_broker = make_user(Role.BROKER, email="broker.valleys@gap-mail.example")
    make_partnership(agencies=[make_agency(type="yot")], brokers=[other_broker], region=region,
                     name="Gap Mail Valleys")
    leads = [make_user(Role.STRATEGIC_LEAD, region=region, name="Gap Mail Lead One", email="lead.one@gap-mail.example"),
             make_user(Role.STRATEGIC_LEAD, region=region, name="Gap Mail Lead Two", email="lead.two@gap-mail.example")]
    lead_gone = make_user(Role.STRATEGIC_LEAD, region=region, email="lead.gone@gap-mail.example", active=False)
    lead_elsewhere = make_user(Role.STRATEGIC_LEAD, region=make_region(name="Gap Mail Elsewhere"),
                               email="lead.elsewhere@gap-mail.example")
    staff = {"yot": make_user(Role.AGENCY_STAFF, agency=yot, email="case.manager@gap-mail.example"),
             "housing": make_user(Role.AGENCY_STAFF, agency=housing, email="housing.officer@gap-mail.example"),
             "education": make_user(Role.AGENCY_STAFF, agency=education, email="teacher@gap-mail.example")}

    def refer(person: str, days_ago: int) -> Referral:
        referral = make_referral(
            partnership=partnership, referrer=staff["yot"], broker=brokers[0], status="accepted",
            shared_with=[(housing, [Pathway.ACCOMMODATION])], reason=marker(person, "Reason"),
            needs={Pathway.ACCOMMODATION: (NeedRating.RED, marker(person, "Note"))},
            young_person=YoungPersonDetails(marker(person, "Given"), marker(person, "Family"), BORN[person],
                                            yot_reference=marker(person, "Reference"), phone=marker(person, "Phone"),
                                            email=f"{marker(person, 'Email')}@young.example",
                                            address=marker(person, "Address")))
        referral.referred_on = today() - timedelta(days=days_ago)
        db.session.flush()
        return referral

    referrals = {"X1": refer("X", 41), "X2": refer("X", 5), "Y1": refer("Y", 12)}
    assert referrals["X1"].young_person_id == referrals["X2"].young_person_id
    gap = make_gap(partnership=partnership, by=staff[logged_by] if logged_by != "broker" else brokers[0],
                   evidence=list(referrals.values()), status=status, title=TITLE, pathway=Pathway.ACCOMMODATION,
                   severity="critical")
    db.session.commit()
    # The escalation a world "escalated" is built with queued its own emails: not what the tests check.
    forget_queued_emails()
    return World(brokers, broker_gone, leads, lead_gone, lead_elsewhere, other_broker, staff, contacts,
                 {name: r.id for name, r in referrals.items()}, gap.id)


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    response = sign_in(client, user.email)
    assert response.status_code == 302, f"sign-in failed for {user.email}"
    return client


def _version(world: World) -> str:
    db.session.expire_all()
    gap = db.session.get(ServiceGap, world.gap_id)
    assert gap is not None
    return str(gap.version)


def _post_form(client: FlaskClient, url: str, data: dict[str, Any], world: World) -> Any:
    """GET the form (for its CSRF token), then POST it with the gap's current version."""
    form = client.get(url)
    assert form.status_code == 200, (url, form.status_code)
    return client.post(url, data={"csrf_token": csrf_token_from(form.text), "version": _version(world), **data})


def escalate_by_page(app: Flask, world: World, note: str = NOTE) -> Any:
    return _post_form(_client(app, world.brokers[0]), f"/gaps/{world.gap_id}/escalate", {"note": note}, world)


def escalate_by_api(client: FlaskClient, world: World, headers: dict[str, str], note: Any = NOTE) -> Any:
    return client.post(f"/api/v1/gaps/{world.gap_id}/escalate", headers=headers, json={"note": note})


def respond_by_page(app: Flask, world: World, lead: User, status: str, owner: str, target: date | None,
                    response: str = "The council will commission four places.") -> Any:
    target_parts = [str(target.day), str(target.month), str(target.year)] if target else ["", "", ""]
    return _post_form(_client(app, lead), f"/gaps/{world.gap_id}/respond",
                      {"response": response, "status": status, "owner": owner, "target_on": target_parts}, world)


def escalation_emails(smtp: Any) -> list[EmailMessage]:
    return [m for m in smtp.messages if subject(m).startswith("Service gap escalated")]


def check_escalation_email(message: EmailMessage, world: World) -> None:
    """One escalation email, read closely: it names the gap, the partnership, the pathway, the evidence
    as figures and links to the gap; nothing of a young person."""
    assert subject(message) == f"Service gap escalated: {TITLE} ({PARTNERSHIP})"
    text = body(message)
    lines = [line.strip() for line in text.splitlines()]
    assert f"{PARTNERSHIP} has escalated a service gap on the Accommodation pathway:" in lines
    assert TITLE in lines
    assert FIGURES_LINE in lines
    assert NOTE in lines
    assert f"Respond in the service: http://panels.test/gaps/{world.gap_id}" in lines
    assert identity_in(subject(message) + " " + text) == set()
    assert not re.search(r"/referrals/\d+", text)
    assert message.get_content_type() == "text/plain" and not list(message.iter_attachments())


def active_leads(world: World) -> list[str]:
    return sorted(lead.email for lead in world.leads)


# --- Escalation ---------------------------------------------------------------------------------


def test_escalating_through_the_page_emails_each_active_lead_of_the_region_once(app: Flask, smtp) -> None:
    world = build_world()
    response = escalate_by_page(app, world)
    assert response.status_code == 302 and response.headers["Location"] == f"/gaps/{world.gap_id}"

    assert sorted(m["To"] for m in smtp.messages) == active_leads(world), "the active leads of R, once each"
    for message in smtp.messages:
        check_escalation_email(message, world)
    db.session.expire_all()
    recorded = db.session.scalars(select(SentEmail).where(SentEmail.kind == "gap.escalated")).all()
    assert sorted(r.recipient for r in recorded) == active_leads(world)
    assert all(r.sent_at is not None and r.error is None for r in recorded)


def test_escalating_through_the_api_emails_each_active_lead_of_the_region_once(app: Flask, smtp, api_token) -> None:
    world = build_world()
    client = app.test_client()
    response = escalate_by_api(client, world, api_token(world.brokers[1]))
    assert response.status_code == 200 and response.json["status"] == "escalated"

    assert sorted(m["To"] for m in smtp.messages) == active_leads(world)
    for message in smtp.messages:
        check_escalation_email(message, world)
    for nobody in (world.lead_gone, world.lead_elsewhere, world.other_broker, *world.brokers, *world.staff.values()):
        assert smtp.to(nobody.email) == []
    assert all(smtp.to(address) == [] for address in world.contacts.values())


def test_escalating_again_after_a_reopen_emails_the_leads_again(app: Flask, smtp, api_token) -> None:
    world = build_world()
    assert escalate_by_page(app, world).status_code == 302
    assert len(escalation_emails(smtp)) == 2
    assert respond_by_page(app, world, world.leads[0], "resolved", "", None).status_code == 302
    reopened = _post_form(_client(app, world.brokers[0]), f"/gaps/{world.gap_id}/reopen",
                          {"note": "Two more young people are waiting again."}, world)
    assert reopened.status_code == 302
    assert len(escalation_emails(smtp)) == 2, "answering and reopening tell the leads nothing"

    response = escalate_by_api(app.test_client(), world, api_token(world.brokers[0]))
    assert response.status_code == 200 and response.json["status"] == "escalated"
    emails = escalation_emails(smtp)
    assert len(emails) == 4
    for lead in world.leads:
        assert len([m for m in emails if m["To"] == lead.email]) == 2, lead.email
    for message in emails:
        check_escalation_email(message, world)  # reopened, not closed: X1 has waited 41 days


def test_a_failed_escalation_sends_nothing(app: Flask, smtp, api_token) -> None:
    world = build_world()
    broker = _client(app, world.brokers[0])
    form = broker.get(f"/gaps/{world.gap_id}/escalate")
    token = csrf_token_from(form.text)
    headers = api_token(world.brokers[0])
    api = app.test_client()

    attempts = {
        "page, no note": broker.post(f"/gaps/{world.gap_id}/escalate",
                                     data={"csrf_token": token, "version": _version(world), "note": ""}),
        "page, only spaces": broker.post(f"/gaps/{world.gap_id}/escalate",
                                         data={"csrf_token": token, "version": _version(world), "note": "   "}),
        "page, a stale version": broker.post(f"/gaps/{world.gap_id}/escalate",
                                             data={"csrf_token": token, "version": "99", "note": NOTE}),
        "API, no note": escalate_by_api(api, world, headers, ""),
        "API, only spaces": escalate_by_api(api, world, headers, "   "),
        "API, a note that is not text": escalate_by_api(api, world, headers, 42),
        "API, by agency staff": escalate_by_api(api, world, api_token(world.staff["housing"])),
        "API, by a lead": escalate_by_api(api, world, api_token(world.leads[0])),
    }
    statuses = {name: response.status_code for name, response in attempts.items()}
    # (Which of 400 and 422 a bad note gets is the input tests' business; here: refused, nothing sent.)
    refused = {400, 422}
    expected: dict[str, set[int]] = {"page, no note": refused, "page, only spaces": refused,
                                     "page, a stale version": {409}, "API, no note": refused,
                                     "API, only spaces": refused, "API, a note that is not text": {400},
                                     "API, by agency staff": {403}, "API, by a lead": {403}}
    assert {name: status for name, status in statuses.items() if status not in expected[name]} == {}
    assert smtp.messages == []
    db.session.expire_all()
    assert db.session.get(ServiceGap, world.gap_id).status.value == "open"
    assert db.session.scalars(select(SentEmail).where(SentEmail.kind == "gap.escalated")).all() == []

    # Escalated once (two emails); escalating it again is refused, and sends nothing more.
    assert escalate_by_api(api, world, headers).status_code == 200
    assert len(smtp.messages) == 2
    again = escalate_by_api(api, world, headers)
    assert again.status_code == 422
    page_again = broker.post(f"/gaps/{world.gap_id}/escalate",
                             data={"csrf_token": token, "version": _version(world), "note": NOTE})
    assert page_again.status_code == 422
    assert len(smtp.messages) == 2


# --- Responses ----------------------------------------------------------------------------------


def response_emails(smtp: Any) -> list[EmailMessage]:
    return [m for m in smtp.messages if subject(m).startswith("Response to the service gap")]


def check_response_email(message: EmailMessage, world: World, lead: str, response: str, status: str, owner: str,
                         target: str) -> None:
    assert subject(message) == f"Response to the service gap: {TITLE}"
    text = body(message)
    lines = [line.strip() for line in text.splitlines()]
    assert f'{lead} responded to the service gap "{TITLE}":' in lines
    assert response in lines
    assert f"Status: {status}" in lines
    assert f"Owner: {owner}" in lines
    assert f"Target date: {target}" in lines
    assert f"http://panels.test/gaps/{world.gap_id}" in lines
    assert identity_in(subject(message) + " " + text) == set()
    assert not list(message.iter_attachments())


def test_a_response_through_the_page_emails_the_active_brokers_and_the_raising_agency(app: Flask, smtp) -> None:
    world = build_world(status="escalated")
    target = today() + timedelta(days=45)
    response = respond_by_page(app, world, world.leads[0], "in_progress", "Head of Housing, Conwy", target)
    assert response.status_code == 302 and response.headers["Location"] == f"/gaps/{world.gap_id}"

    expected = sorted([b.email for b in world.brokers] + [world.contacts["housing"]])
    assert sorted(m["To"] for m in smtp.messages) == expected, "one each, and nobody else"
    for message in smtp.messages:
        check_response_email(message, world, "Gap Mail Lead One", "The council will commission four places.",
                             "In progress", "Head of Housing, Conwy", long_date(target))
    db.session.expire_all()
    recorded = db.session.scalars(select(SentEmail).where(SentEmail.kind == "gap.response")).all()
    assert sorted(r.recipient for r in recorded) == expected
    assert all(r.sent_at is not None for r in recorded)


def test_a_response_through_the_api_emails_the_active_brokers_and_the_raising_agency(app: Flask, smtp,
                                                                                     api_token) -> None:
    world = build_world(status="escalated")
    answer = app.test_client().post(f"/api/v1/gaps/{world.gap_id}/response", headers=api_token(world.leads[1]), json={
        "response": "Accepted as a risk until the new scheme opens in April.", "status": "accepted",
        "owner": "Regional board"})
    assert answer.status_code == 200 and answer.json["status"] == "accepted"

    expected = sorted([b.email for b in world.brokers] + [world.contacts["housing"]])
    assert sorted(m["To"] for m in smtp.messages) == expected
    for message in smtp.messages:
        check_response_email(message, world, "Gap Mail Lead Two",
                             "Accepted as a risk until the new scheme opens in April.", "Accepted as a risk",
                             "Regional board", "–")
    for nobody in (world.broker_gone, world.other_broker, world.lead_gone, world.lead_elsewhere, *world.leads,
                   *world.staff.values()):
        assert smtp.to(nobody.email) == [], nobody.email
    assert smtp.to(world.contacts["yot"]) == [] and smtp.to(world.contacts["education"]) == []


def test_a_gap_the_broker_logged_has_no_raising_agency_to_tell(app: Flask, smtp) -> None:
    world = build_world(status="escalated", logged_by="broker")
    target = today() + timedelta(days=10)
    assert respond_by_page(app, world, world.leads[0], "in_progress", "Head of service", target).status_code == 302
    assert sorted(m["To"] for m in smtp.messages) == sorted(b.email for b in world.brokers)
    for message in smtp.messages:
        check_response_email(message, world, "Gap Mail Lead One", "The council will commission four places.",
                             "In progress", "Head of service", long_date(target))


def test_a_second_response_keeps_the_owner_and_target_and_emails_again(app: Flask, smtp, api_token) -> None:
    """A gap in progress is answered again (resolved): the owner and target date of the first answer
    stand, and the brokers and the raising agency hear of it again."""
    world = build_world(status="escalated")
    target = today() + timedelta(days=30)
    assert respond_by_page(app, world, world.leads[0], "in_progress", "Head of Housing", target).status_code == 302
    answer = app.test_client().post(f"/api/v1/gaps/{world.gap_id}/response", headers=api_token(world.leads[0]),
                                    json={"response": "Four places opened.", "status": "resolved"})
    assert answer.status_code == 200
    emails = response_emails(smtp)
    assert len(emails) == 6
    second = [m for m in emails if "Four places opened." in body(m)]
    assert sorted(m["To"] for m in second) == sorted([b.email for b in world.brokers] + [world.contacts["housing"]])
    for message in second:
        check_response_email(message, world, "Gap Mail Lead One", "Four places opened.", "Resolved",
                             "Head of Housing", long_date(target))


def test_a_failed_response_sends_nothing(app: Flask, smtp, api_token) -> None:
    world = build_world(status="escalated")
    lead = _client(app, world.leads[0])
    form = lead.get(f"/gaps/{world.gap_id}/respond")
    token = csrf_token_from(form.text)
    soon, past = today() + timedelta(days=20), today() - timedelta(days=1)

    def page(**data: Any) -> int:
        values = {"csrf_token": token, "version": _version(world), "response": "We will act.",
                  "status": "in_progress", "owner": "Head of service",
                  "target_on": [str(soon.day), str(soon.month), str(soon.year)]} | data
        return lead.post(f"/gaps/{world.gap_id}/respond", data=values).status_code

    api = app.test_client()
    headers = api_token(world.leads[0])

    def by_api(json: dict[str, Any], as_headers: dict[str, str] = headers) -> int:
        values = {"response": "We will act.", "status": "in_progress", "owner": "Head of service",
                  "target_date": soon.isoformat()} | json
        return api.post(f"/api/v1/gaps/{world.gap_id}/response", headers=as_headers, json=values).status_code

    statuses = {
        "page, no response": page(response=""),
        "page, in progress without an owner": page(owner=""),
        "page, in progress without a target date": page(target_on=["", "", ""]),
        "page, a target date in the past": page(target_on=[str(past.day), str(past.month), str(past.year)]),
        "page, no status": page(status=""),
        "page, a status a lead cannot give": page(status="open"),
        "page, a stale version": page(version="99"),
        "API, no response": by_api({"response": ""}),
        "API, in progress without an owner": by_api({"owner": None}),
        "API, in progress without a target date": by_api({"target_date": None}),
        "API, a target date in the past": by_api({"target_date": past.isoformat()}),
        "API, status escalated": by_api({"status": "escalated"}),
        "API, by a broker": by_api({}, api_token(world.brokers[0])),
        "API, by agency staff": by_api({}, api_token(world.staff["housing"])),
        "API, by a lead of another region": by_api({}, api_token(world.lead_elsewhere)),
    }
    # (Which of 400 and 422 each mistake gets is the input tests' business; here: refused, nothing sent.)
    refused = {400, 422}
    expected = {name: refused for name in statuses} | {
        "page, a stale version": {409}, "API, status escalated": {400}, "API, by a broker": {403},
        "API, by agency staff": {403}, "API, by a lead of another region": {404}}
    assert {name: status for name, status in statuses.items() if status not in expected[name]} == {}
    assert smtp.messages == []
    db.session.expire_all()
    assert db.session.get(ServiceGap, world.gap_id).status.value == "escalated"
    assert db.session.scalars(select(SentEmail).where(SentEmail.kind == "gap.response")).all() == []


def test_a_response_to_a_gap_not_escalated_is_refused_and_sends_nothing(app: Flask, smtp, api_token) -> None:
    world = build_world(status="open")
    answer = app.test_client().post(f"/api/v1/gaps/{world.gap_id}/response", headers=api_token(world.leads[0]), json={
        "response": "Fine", "status": "resolved"})
    assert answer.status_code == 422
    assert answer.json["error"]["code"] == "invalid"
    assert smtp.messages == []
