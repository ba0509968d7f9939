"""Invitations and password resets in a real browser (Debian's Chromium through Playwright) against a
real server with the demo installation: the email is delivered to an SMTP server on loopback, and the
link is read out of the caught message and followed in the browser.
"""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from panel_app.extensions import db
from panel_app.models import Agency, Role
from panel_app.services import accounts, outbox, people
from tests.conftest import ARTIFACTS, CapturedMail, LiveServer

pytestmark = pytest.mark.browser

CHOSEN = "marram dune lifeboat evening"




def _path_of_link(message: EmailMessage, route: str) -> str:
    [link] = re.findall(rf"https?://\S+/{route}/[A-Za-z0-9_-]+", message.get_content())
    return urlsplit(link).path


def test_an_invited_worker_follows_the_emailed_link_chooses_a_password_and_lands_signed_in(
        live_server: LiveServer, browser, inbox: CapturedMail) -> None:
    app = live_server.app
    address = f"new.housing.{uuid.uuid4().hex[:6]}@demo.test"
    with app.app_context():
        broker = accounts.user_with_email("broker.north@demo.test")
        housing = db.session.scalar(select(Agency).where(Agency.name == "Conwy & Denbighshire Housing Solutions"))
        people.invite(broker, email=address, name="Nia Newydd", role=Role.AGENCY_STAFF, agency_id=housing.id)
        db.session.commit()
        outbox.deliver_due()
    [message] = [m for m in inbox.messages if address in m["To"]]
    assert "has invited you to Resettlement panels" in message["Subject"]

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(live_server.url + _path_of_link(message, "welcome"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    password = page.get_by_label("Password", exact=True)
    assert password.get_attribute("autocomplete") == "new-password"
    assert "At least 12 characters" in page.locator(".govuk-hint").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "choose-password.png"), full_page=True)

    password.fill("password1234")  # among the most common: refused, said beside the field
    page.get_by_role("button", name="Save password and sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("among the most common passwords")
    page.get_by_label("Password", exact=True).fill(CHOSEN)
    page.get_by_role("button", name="Save password and sign in").click()
    page.wait_for_url(live_server.url + "/")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Your password is saved and you are signed in.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your agency's panels")
    assert "Nia Newydd" in page.locator(".app-header__account").inner_text()
    page.screenshot(path=str(ARTIFACTS / "invited-worker-home.png"), full_page=True)
    page.context.close()


def test_a_forgotten_password_is_reset_in_the_browser(live_server: LiveServer, browser, inbox: CapturedMail) -> None:
    app = live_server.app
    address = f"forgot.{uuid.uuid4().hex[:6]}@demo.test"
    with app.app_context():
        broker = accounts.user_with_email("broker.north@demo.test")
        housing = db.session.scalar(select(Agency).where(Agency.name == "Conwy & Denbighshire Housing Solutions"))
        person = people.invite(broker, email=address, name="Forgetful Fflur", role=Role.AGENCY_STAFF,
                               agency_id=housing.id)
        accounts.change_password(person, "an older passphrase for fflur")
        db.session.commit()
        outbox.deliver_due()
    inbox.messages.clear()

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(live_server.url + "/sign-in")
    page.get_by_role("link", name="Forgotten your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    page.screenshot(path=str(ARTIFACTS / "forgotten-password.png"), full_page=True)
    page.get_by_label("Email address").fill(address.upper())
    page.get_by_role("button", name="Send me a reset link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    page.screenshot(path=str(ARTIFACTS / "reset-requested.png"), full_page=True)

    [message] = [m for m in inbox.messages if address in m["To"]]
    page.goto(live_server.url + _path_of_link(message, "reset-password"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.screenshot(path=str(ARTIFACTS / "choose-new-password.png"), full_page=True)
    page.get_by_label("Password", exact=True).fill(CHOSEN)
    page.get_by_role("button", name="Save password and sign in").click()
    page.wait_for_url(live_server.url + "/")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You have been signed out everywhere else")

    page.goto(live_server.url + _path_of_link(message, "reset-password"))
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has already been used")
    page.screenshot(path=str(ARTIFACTS / "link-used.png"), full_page=True)
    page.context.close()
