"""Invitations, single-use links and forgotten passwords, end to end: the email is delivered to a real
SMTP server on loopback, its link read out of the caught message and followed with the test client.

Links are made old by moving their row's ``expires_at`` back, never by sleeping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.errors import NotFound, RuleBroken
from panel_app.models import AccountLink, Agency, AuditEvent, LinkPurpose, OutboxEmail, Partnership, Role, User, db
from panel_app.models import utcnow
from panel_app.services import accounts, people
from tests.conftest import (
    PASSWORD,
    CapturedMail,
    assert_every_route_classified,
    client_for,
    csrf_token_from,
    deliver_emails,
    sign_in,
)
from tests.factories import make_agency, make_partnership, make_region, make_user

CHOSEN = "slate kettle orchard lantern"
NONCE = re.compile(r'nonce="[^"]+"')
LINK = re.compile(r"http://panels\.test(/(?:welcome|reset-password)/[A-Za-z0-9_-]+)")


@dataclass
class World:
    admin: User
    broker: User
    housing: Agency
    yot: Agency
    conwy: Partnership
    elsewhere: Agency
    other: Partnership


@pytest.fixture
def world() -> World:
    admin = make_user(Role.ADMIN, name="Ada Admin", email="ada.admin@example.org")
    broker = make_user(Role.BROKER, name="Bethan Broker", email="bethan.broker@example.org")
    housing = make_agency(type="housing", name="Conwy Housing Solutions")
    yot = make_agency(type="yot", name="Conwy YOT")
    conwy = make_partnership(name="Conwy & Denbighshire", agencies=[housing, yot], brokers=[broker])
    elsewhere = make_agency(type="housing", name="Cardiff Housing")
    other = make_partnership(name="Cardiff", agencies=[elsewhere])
    db.session.commit()
    return World(admin, broker, housing, yot, conwy, elsewhere, other)


def _only_email(smtp: CapturedMail, to: str) -> EmailMessage:
    deliver_emails()
    found = smtp.to(to)
    assert len(found) == 1, [m["To"] for m in smtp.messages]
    return found[0]


def _link_in(message: EmailMessage) -> str:
    links = LINK.findall(message.get_content())
    assert len(links) == 1, message.get_content()
    return links[0]


def _choose(client: FlaskClient, path: str, password: str = CHOSEN) -> object:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_token_from(page.text), "password": password})


def _heading(response: object) -> str:
    return BeautifulSoup(response.text, "html.parser").find("h1").get_text(strip=True)  # type: ignore[attr-defined]


def _counts() -> tuple[int, int, int]:
    return (db.session.scalar(select(func.count(User.id))) or 0,
            db.session.scalar(select(func.count(AccountLink.id))) or 0,
            db.session.scalar(select(func.count(OutboxEmail.id))) or 0)


# --- The invitation, end to end -----------------------------------------------------------------


def test_an_invited_worker_follows_the_emailed_link_chooses_a_password_and_is_signed_in(
        app: Flask, world: World, smtp: CapturedMail) -> None:
    person = people.invite(world.admin, email="  Nia.Hughes@Example.ORG ", name="Nia Hughes",
                           role=Role.AGENCY_STAFF, agency_id=world.housing.id, partnership_ids=[world.conwy.id])
    db.session.commit()
    assert person.email == "nia.hughes@example.org" and not person.has_password and person.active
    # Nothing leaves before the change is committed; the worker delivers it afterwards.
    message = _only_email(smtp, "nia.hughes@example.org")
    text = message.get_content()
    assert message["Subject"] == "Ada Admin has invited you to Resettlement panels"
    assert "Hello Nia Hughes," in text
    assert "Your role: Agency staff" in text
    assert "Your agency: Conwy Housing Solutions" in text
    assert "Partnerships: Conwy & Denbighshire" in text
    link = db.session.scalars(select(AccountLink).where(AccountLink.user_id == person.id)).one()
    assert link.purpose is LinkPurpose.INVITATION and link.created_by_id == world.admin.id
    assert link.expires_at - link.created_at == timedelta(hours=72)
    assert "The link works once, until " in text and "ask Ada Admin to send you a new invitation" in text
    path = _link_in(message)
    # The secret is not stored: only its digest.
    assert path.rsplit("/", 1)[1] not in {link.secret_digest}

    # The invited person cannot sign in with a password before choosing one.
    assert sign_in(app.test_client(), "nia.hughes@example.org", "").status_code == 400

    browser = app.test_client()
    page = browser.get(path)
    assert page.status_code == 200
    assert _heading(page) == "Choose your password"
    assert "nia.hughes@example.org" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    chosen = browser.post(path, data={"csrf_token": csrf_token_from(page.text), "password": CHOSEN})
    assert chosen.status_code == 302 and chosen.headers["Location"] == "/"
    home = browser.get("/")
    assert home.status_code == 200
    assert "Nia Hughes" in home.text and "Your password is saved and you are signed in." in home.text

    # Used: the same link again, from anywhere, is a 410 that names nobody.
    again = app.test_client().get(path)
    assert again.status_code == 410
    assert _heading(again) == "This link has already been used"
    assert "Nia" not in again.text and "nia.hughes" not in again.text
    # The password works on the sign-in page.
    assert sign_in(app.test_client(), "nia.hughes@example.org", CHOSEN).status_code == 302
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.record_id == person.id,
                                                                  AuditEvent.record_type == "user")).all()
    assert {"person.invited", "account_link.used"} <= set(actions)


def test_how_long_links_work_are_settings(app: Flask, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PANEL_INVITATION_HOURS", 5)
    monkeypatch.setitem(app.config, "PANEL_RESET_MINUTES", 15)
    person = people.invite(world.admin, email="brief@example.org", name="Brief Person", role=Role.AGENCY_STAFF,
                           agency_id=world.housing.id)
    accounts.change_password(person, CHOSEN)
    accounts.request_password_reset("brief@example.org")
    lifetimes = {link.purpose: link.expires_at - link.created_at
                 for link in db.session.scalars(select(AccountLink).where(AccountLink.user_id == person.id))}
    assert lifetimes == {LinkPurpose.INVITATION: timedelta(hours=5), LinkPurpose.PASSWORD_RESET: timedelta(minutes=15)}


def test_the_invitation_email_is_queued_with_the_change_and_goes_nowhere_if_it_is_undone(world: World) -> None:
    before = _counts()
    people.invite(world.admin, email="undone@example.org", name="Undone Person", role=Role.AGENCY_STAFF,
                  agency_id=world.housing.id)
    assert _counts() == (before[0] + 1, before[1] + 1, before[2] + 1)
    email = db.session.scalars(select(OutboxEmail).where(OutboxEmail.recipient == "undone@example.org")).one()
    assert email.sent_at is None and email.sent_by_id == world.admin.id
    db.session.rollback()
    assert _counts() == before


def test_a_broker_is_invited_into_the_partnerships_they_will_broker(app: Flask, world: World,
                                                                     smtp: CapturedMail) -> None:
    person = people.invite(world.admin, email="new.broker@example.org", name="Newydd Broker", role=Role.BROKER,
                           partnership_ids=[world.conwy.id, world.other.id, world.conwy.id])
    db.session.commit()
    assert [p.name for p in person.brokered_partnerships] == ["Cardiff", "Conwy & Denbighshire"]
    text = _only_email(smtp, "new.broker@example.org").get_content()
    assert "Your role: Resettlement broker" in text and "Partnerships: Cardiff, Conwy & Denbighshire" in text
    assert "Your agency" not in text


def test_a_strategic_lead_is_invited_to_oversee_a_region(world: World, smtp: CapturedMail) -> None:
    wales = make_region(name="Cymru")
    person = people.invite(world.admin, email="lead@example.org", name="Lowri Lead", role=Role.STRATEGIC_LEAD,
                           region_id=wales.id)
    db.session.commit()
    assert person.region_id == wales.id
    assert "Region: Cymru" in _only_email(smtp, "lead@example.org").get_content()


def test_the_inviter_sees_how_the_invitation_stands_but_never_its_link(app: Flask, world: World) -> None:
    """Whoever read the email's text could choose the invited person's password in their place."""
    people.invite(world.broker, email="waiting@example.org", name="Waiting Person", role=Role.AGENCY_STAFF,
                  agency_id=world.housing.id)
    db.session.commit()  # no mail server: the email waits in the outbox
    page = client_for(app, world.broker).get("/emails/undelivered")
    assert page.status_code == 200
    row = BeautifulSoup(page.text, "html.parser").find("tr", attrs={"data-email-status": "queued"})
    assert row is not None and "waiting@example.org" in row.get_text()
    assert row.find(attrs={"data-email-text": True}) is None
    assert "/welcome/" not in page.text


# --- What an invitation must say, and nothing half-saved ----------------------------------------


@pytest.mark.parametrize(("case", "field", "message"), [
    ("the same address in other letters", "email", "Someone already has an account with this email address"),
    ("a malformed address", "email", "Enter an email address in the correct format"),
    ("no name", "name", "Enter their name"),
    ("agency staff without an agency", "agency_id", "Choose the agency they work for"),
    ("a lead without a region", "region_id", "Choose the region they oversee"),
    ("a broker without partnerships", "partnership_ids", "Choose the partnerships they broker"),
    ("partnerships for a lead", "partnership_ids", "Only brokers and agency staff work in partnerships"),
    ("partnerships for an admin", "partnership_ids", "Only brokers and agency staff work in partnerships"),
    ("an agency for a broker", "agency_id", "Only agency staff belong to an agency"),
    ("a region for agency staff", "region_id", "Only strategic leads oversee a region"),
    ("a partnership the agency is not a member of", "partnership_ids",
     "Cardiff Housing is not a member of Conwy & Denbighshire"),
])
def test_a_wrong_invitation_says_what_to_put_right_and_saves_nothing(world: World, case: str, field: str,
                                                                     message: str) -> None:
    region = make_region()
    db.session.commit()
    good = {"email": f"good.{abs(hash(case))}@example.org", "name": "Good Name", "role": Role.AGENCY_STAFF,
            "agency_id": world.housing.id, "partnership_ids": [], "region_id": None}
    changes = {
        "the same address in other letters": {"email": "BETHAN.Broker@example.org"},
        "a malformed address": {"email": "not an address"},
        "no name": {"name": "   "},
        "agency staff without an agency": {"agency_id": None},
        "a lead without a region": {"role": Role.STRATEGIC_LEAD, "agency_id": None},
        "a broker without partnerships": {"role": Role.BROKER, "agency_id": None},
        "partnerships for a lead": {"role": Role.STRATEGIC_LEAD, "agency_id": None, "region_id": region.id,
                                    "partnership_ids": [world.conwy.id]},
        "partnerships for an admin": {"role": Role.ADMIN, "agency_id": None, "partnership_ids": [world.conwy.id]},
        "an agency for a broker": {"role": Role.BROKER, "partnership_ids": [world.conwy.id]},
        "a region for agency staff": {"region_id": region.id},
        "a partnership the agency is not a member of": {"agency_id": world.elsewhere.id,
                                                        "partnership_ids": [world.conwy.id]},
    }[case]
    before = _counts()
    with pytest.raises(RuleBroken) as refused:
        people.invite(world.admin, **{**good, **changes})
    assert refused.value.status == 422
    assert message in refused.value.fields[field]
    db.session.rollback()
    assert _counts() == before


def test_every_problem_is_named_at_once(world: World) -> None:
    with pytest.raises(RuleBroken) as refused:
        people.invite(world.admin, email="", name="", role=Role.STRATEGIC_LEAD)
    assert set(refused.value.fields) == {"email", "name", "region_id"}


@pytest.mark.parametrize("field", ["agency_id", "partnership_ids", "region_id"])
def test_an_id_that_names_nothing_is_a_404_on_its_field(world: World, field: str) -> None:
    given = {"agency_id": world.housing.id,
             field: [999_999] if field == "partnership_ids" else 999_999}
    with pytest.raises(NotFound) as missing:
        people.invite(world.admin, email="ghost@example.org", name="Ghost", role=Role.AGENCY_STAFF, **given)
    assert field in missing.value.fields


def test_a_second_invitation_to_an_address_taken_meanwhile_is_the_same_422(world: World,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Two invitations to one address at once: the unique index decides, and the loser hears why."""
    people.invite(world.admin, email="race@example.org", name="First", role=Role.AGENCY_STAFF,
                  agency_id=world.housing.id)
    monkeypatch.setattr(people, "_email_problem", lambda email: None)  # as if checked before the first saved
    with pytest.raises(RuleBroken) as refused:
        people.invite(world.admin, email="race@example.org", name="Second", role=Role.AGENCY_STAFF,
                      agency_id=world.housing.id)
    assert refused.value.fields == {"email": "Someone already has an account with this email address"}
    assert db.session.scalars(select(User.name).where(User.email == "race@example.org")).all() == ["First"]


# --- Resending and revoking ----------------------------------------------------------------------


def test_resending_sends_a_new_link_and_the_old_one_says_it_was_cancelled(app: Flask, world: World,
                                                                          smtp: CapturedMail) -> None:
    person = people.invite(world.broker, email="resent@example.org", name="Resent Person",
                           role=Role.AGENCY_STAFF, agency_id=world.housing.id)
    db.session.commit()
    first = _link_in(_only_email(smtp, "resent@example.org"))
    smtp.messages.clear()
    people.resend_invitation(world.broker, person)
    db.session.commit()
    second = _link_in(_only_email(smtp, "resent@example.org"))
    assert first != second
    old = app.test_client().get(first)
    assert old.status_code == 410 and _heading(old) == "This link has been cancelled"
    assert "ask the person who invited you" in old.text
    assert _choose(app.test_client(), second).status_code == 302
    # Once the password is chosen there is nothing to resend or revoke.
    with pytest.raises(RuleBroken):
        people.resend_invitation(world.broker, person)
    with pytest.raises(RuleBroken):
        people.revoke_invitation(world.broker, person)
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.invitation_resent")).one()
    assert audit.actor_user_id == world.broker.id and audit.detail["before"]["state"] == "live"


def test_a_revoked_invitation_cannot_be_followed_and_the_account_cannot_sign_in(app: Flask, world: World,
                                                                                 smtp: CapturedMail) -> None:
    person = people.invite(world.admin, email="revoked@example.org", name="Revoked Person",
                           role=Role.AGENCY_STAFF, agency_id=world.yot.id)
    db.session.commit()
    path = _link_in(_only_email(smtp, "revoked@example.org"))
    assert people.revoke_invitation(world.admin, person) == 1
    db.session.commit()
    refused = app.test_client().get(path)
    assert refused.status_code == 410 and _heading(refused) == "This link has been cancelled"
    client = app.test_client()
    token = csrf_token_from(client.get("/sign-in").text)
    assert client.post(path, data={"csrf_token": token, "password": CHOSEN}).status_code == 410
    db.session.refresh(person)
    assert not person.has_password
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.invitation_revoked")).one()
    assert event.detail == {"before": {"live_links": 1}, "after": {"live_links": 0}}


def test_an_expired_link_says_so_and_what_to_do(app: Flask, world: World, smtp: CapturedMail) -> None:
    person = people.invite(world.admin, email="late@example.org", name="Late Person", role=Role.AGENCY_STAFF,
                           agency_id=world.housing.id)
    db.session.commit()
    path = _link_in(_only_email(smtp, "late@example.org"))
    link = db.session.scalars(select(AccountLink).where(AccountLink.user_id == person.id)).one()
    link.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    expired = app.test_client().get(path)
    assert expired.status_code == 410
    assert _heading(expired) == "This link has expired"
    assert "Invitation links work for 72 hours." in expired.text
    assert "ask the person who invited you to send you a new invitation" in expired.text


@pytest.mark.parametrize("path", ["/welcome/not-a-link", "/welcome/" + "x" * 500, "/reset-password/nothing"])
def test_an_unknown_link_is_a_404_saying_what_to_check(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert _heading(response) == "This link is not valid"
    assert "copied the whole link" in response.text


def test_a_link_works_only_at_its_own_address(app: Flask, world: World, smtp: CapturedMail) -> None:
    people.invite(world.admin, email="purpose@example.org", name="Purpose Person", role=Role.AGENCY_STAFF,
                  agency_id=world.housing.id)
    db.session.commit()
    secret = _link_in(_only_email(smtp, "purpose@example.org")).rsplit("/", 1)[1]
    assert app.test_client().get(f"/reset-password/{secret}").status_code == 404


def test_a_deactivated_persons_invitation_stops_working(app: Flask, world: World, smtp: CapturedMail) -> None:
    person = people.invite(world.admin, email="gone@example.org", name="Gone Person", role=Role.AGENCY_STAFF,
                           agency_id=world.housing.id)
    db.session.commit()
    path = _link_in(_only_email(smtp, "gone@example.org"))
    accounts.deactivate(person, actor=world.admin)
    db.session.commit()
    assert app.test_client().get(path).status_code == 410


def test_a_refused_password_keeps_the_link_and_says_why(app: Flask, world: World, smtp: CapturedMail) -> None:
    people.invite(world.admin, email="picky@example.org", name="Picky Person", role=Role.AGENCY_STAFF,
                  agency_id=world.housing.id)
    db.session.commit()
    path = _link_in(_only_email(smtp, "picky@example.org"))
    client = app.test_client()
    for password, status, message in [
        ("short", 422, "Use at least 12 characters"),
        ("1qaz2wsx3edc", 422, "among the most common passwords"),
        ("Picky Person", 422, "not your email address or your name"),
        ("", 400, "Enter a password"),
    ]:
        response = _choose(client, path, password)
        assert response.status_code == status, password
        summary = BeautifulSoup(response.text, "html.parser").find(class_="govuk-error-summary")
        assert message in summary.get_text(" ", strip=True)
    assert _choose(client, path).status_code == 302


def test_a_signed_in_browser_following_an_invitation_becomes_the_invited_person_in_a_new_session(
        app: Flask, world: World, smtp: CapturedMail) -> None:
    browser = client_for(app, world.broker)
    old_cookie = browser.get_cookie("panel_session").value
    people.invite(world.broker, email="handover@example.org", name="Handover Person", role=Role.AGENCY_STAFF,
                  agency_id=world.housing.id)
    db.session.commit()
    assert _choose(browser, _link_in(_only_email(smtp, "handover@example.org"))).status_code == 302
    assert browser.get_cookie("panel_session").value != old_cookie
    assert "Handover Person" in browser.get("/").text
    replayed = app.test_client()
    replayed.set_cookie("panel_session", old_cookie)
    assert replayed.get("/").status_code == 302  # the broker's old session ended with the change of person


# --- Forgotten password -------------------------------------------------------------------------


def _ask_for_reset(client: FlaskClient, email: str) -> object:
    page = client.get("/forgotten-password")
    assert page.status_code == 200
    return client.post("/forgotten-password", data={"csrf_token": csrf_token_from(page.text), "email": email})


def test_a_forgotten_password_is_reset_from_the_emailed_link_and_everything_else_ends(
        app: Flask, world: World, smtp: CapturedMail) -> None:
    person = make_user(Role.AGENCY_STAFF, agency=world.housing, email="forgetful@example.org",
                       name="Forgetful Person")
    db.session.commit()
    laptop = client_for(app, person)
    token, _expires = accounts.issue_api_token(person)
    db.session.commit()
    sign_in_page = app.test_client().get("/sign-in")
    assert 'href="/forgotten-password"' in sign_in_page.text and "Forgotten your password?" in sign_in_page.text

    answer = _ask_for_reset(app.test_client(), "Forgetful@Example.org")
    assert answer.status_code == 200
    assert _heading(answer) == "Check your email"
    assert "If an account exists for that address, we have sent it a link" in answer.text
    # The request delivered it once committed (the worker runs at once in tests).
    [message] = smtp.to("forgetful@example.org")
    assert message["Subject"] == "Reset your Resettlement panels password"
    text = message.get_content()
    assert "signs you out everywhere else" in text and "If it was not you, ignore this email" in text
    path = _link_in(message)
    link = db.session.scalars(select(AccountLink).where(AccountLink.user_id == person.id)).one()
    assert link.purpose is LinkPurpose.PASSWORD_RESET and link.created_by_id is None
    assert link.expires_at - link.created_at == timedelta(minutes=60)

    browser = app.test_client()
    page = browser.get(path)
    assert _heading(page) == "Choose a new password"
    assert "signs you out everywhere else and ends your API tokens" in page.text
    chosen = browser.post(path, data={"csrf_token": csrf_token_from(page.text), "password": CHOSEN})
    assert chosen.status_code == 302
    home = browser.get("/")
    assert "Forgetful Person" in home.text and "You have been signed out everywhere else" in home.text
    assert laptop.get("/").status_code == 302
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert sign_in(app.test_client(), person.email, PASSWORD).status_code == 401
    assert sign_in(app.test_client(), person.email, CHOSEN).status_code == 302
    used = app.test_client().get(path)
    assert used.status_code == 410 and "Ask for a new password reset link" in used.text


def test_an_unknown_address_gets_the_same_answer_and_no_email(app: Flask, world: World, smtp: CapturedMail,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    make_user(Role.AGENCY_STAFF, agency=world.housing, email="known@example.org")
    invited = people.invite(world.admin, email="invited@example.org", name="Not Yet", role=Role.AGENCY_STAFF,
                            agency_id=world.housing.id)
    make_user(Role.AGENCY_STAFF, agency=world.housing, email="left@example.org", active=False)
    db.session.commit()
    deliver_emails()
    smtp.messages.clear()
    rendered: list[str] = []
    real_render = accounts.outbox.render_email
    monkeypatch.setattr(accounts.outbox, "render_email",
                        lambda template, **context: rendered.append(template) or real_render(template, **context))

    answers = {email: _ask_for_reset(app.test_client(), email)
               for email in ("known@example.org", "nobody@example.org", "invited@example.org", "left@example.org")}
    assert {answer.status_code for answer in answers.values()} == {200}
    # Word for word the same page (but the script nonce, new on every page).
    assert len({NONCE.sub("", answer.text) for answer in answers.values()}) == 1
    # The same work either way: each request wrote the reset email's text, sent or not.
    assert rendered == ["password_reset.txt"] * 4
    assert [m["To"] for m in smtp.messages] == ["known@example.org"]
    reasons = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "password_reset.requested")
                                 .order_by(AuditEvent.id)).all()
    assert [r.get("reason", "sent") for r in reasons] == ["sent", "unknown", "no_password", "inactive"]
    assert not invited.has_password


def test_asking_for_reset_links_is_limited_per_address_asked_about_and_per_client(
        app: Flask, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.test_client()
    for _ in range(3):
        assert _ask_for_reset(client, "someone@example.org").status_code == 200
    refused = _ask_for_reset(client, "SOMEONE@example.org")
    assert refused.status_code == 429
    assert "too many password reset links" in refused.text
    assert _ask_for_reset(client, "someone.else@example.org").status_code == 200

    monkeypatch.setitem(app.config, "PASSWORD_RESETS_PER_ADDRESS", "2 per hour")
    from panel_app.extensions import limiter

    limiter.reset()
    assert _ask_for_reset(client, "a@example.org").status_code == 200
    assert _ask_for_reset(client, "b@example.org").status_code == 200
    assert _ask_for_reset(client, "c@example.org").status_code == 429


def test_an_invited_person_cannot_get_a_token_or_sign_in_before_choosing_a_password(app: Flask, world: World) -> None:
    people.invite(world.admin, email="nopass@example.org", name="No Pass", role=Role.AGENCY_STAFF,
                  agency_id=world.housing.id)
    db.session.commit()
    for password in ("", "anything at all here", PASSWORD):
        answer = app.test_client().post("/api/v1/auth/token", json={"email": "nopass@example.org",
                                                                    "password": password})
        assert answer.status_code in (400, 401)
        assert sign_in(app.test_client(), "nopass@example.org", password).status_code in (400, 401)


def test_deactivating_a_person_who_joined_by_invitation_ends_their_session_and_token_at_the_next_request(
        app: Flask, world: World, smtp: CapturedMail) -> None:
    person = people.invite(world.admin, email="joined@example.org", name="Joined Person",
                           role=Role.AGENCY_STAFF, agency_id=world.housing.id)
    db.session.commit()
    browser = app.test_client()
    assert _choose(browser, _link_in(_only_email(smtp, "joined@example.org"))).status_code == 302
    assert "Joined Person" in browser.get("/").text
    token, _expires = accounts.issue_api_token(person)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 200
    accounts.deactivate(person, actor=world.admin)
    db.session.commit()
    assert browser.get("/").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401


# --- The routes are for the signed out, and show no young person ---------------------------------

# Every page of the auth. and account. blueprints, with why none shows or changes a young person's data.
NOT_PERSONAL = {
    ("auth.sign_in", "GET"): "the sign-in form", ("auth.sign_in", "POST"): "signing in (audited as sign_in)",
    ("auth.sign_out", "POST"): "signing out (audited as sign_out)",
    ("auth.welcome", "GET"): "the password form of an invitation link",
    ("auth.welcome", "POST"): "choosing a password (audited as account_link.used)",
    ("auth.reset_password", "GET"): "the password form of a reset link",
    ("auth.reset_password", "POST"): "choosing a new password (audited as account_link.used)",
    ("auth.forgotten_password", "GET"): "the form asking for an address",
    ("auth.forgotten_password", "POST"): "asking for a reset link (audited as password_reset.requested)",
    ("account.show", "GET"): "one's own sessions and tokens",
    ("account.sign_out_elsewhere", "POST"): "one's own sessions",
    ("account.revoke_token", "POST"): "one's own token",
    ("account.change_password", "POST"): "one's own password",
}


def test_every_account_route_is_classified(app: Flask) -> None:
    assert_every_route_classified(app, ("auth.", "account."), {}, NOT_PERSONAL)
