"""A real browser (Debian's Chromium, driven by Playwright) against a real server with the demo data."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, PASSWORD, LiveServer

pytestmark = pytest.mark.browser


def test_a_broker_signs_in_through_the_real_page(live_server: LiveServer, browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live_server.url + "/")
    assert page.url == live_server.url + "/sign-in?next=/"

    # The first thing a keyboard user reaches is the skip link.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"

    page.get_by_label("Email address").fill("broker.north@demo.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")

    assert page.get_by_role("heading", level=1).inner_text() == "Your partnerships"
    names = page.get_by_role("heading", level=3).all_inner_texts()
    assert names == ["Conwy & Denbighshire", "Flintshire", "Gwynedd & Ynys Môn", "Wrexham"]
    # The stylesheet loaded and applied (GOV.UK Frontend's grid, our system font, not GDS Transport).
    font = page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
    assert "GDS Transport" not in font and "system-ui" in font
    assert page.evaluate("document.body.classList.contains('govuk-frontend-supported')")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "broker-home.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in?signed_out=1")
    assert "You have signed out." in page.inner_text("main")
    page.close()


def test_a_wrong_password_shows_the_error_summary_focused(live_server: LiveServer, browser) -> None:
    page = browser.new_page()
    page.goto(live_server.url + "/sign-in")
    page.get_by_label("Email address").fill("broker.north@demo.test")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    summary = page.locator(".govuk-error-summary")
    summary.wait_for()
    assert "Enter a correct email address and password" in summary.inner_text()
    # GOV.UK Frontend moves focus to the summary so screen-reader users hear it first (once its
    # script module has run; the wait fails the test if it never happens). A function, not an
    # expression: Playwright polls an expression with eval, which the page's CSP rightly refuses.
    page.wait_for_function("() => document.activeElement.classList.contains('govuk-error-summary')",
                           timeout=15000)
    assert page.title().startswith("Error:")
    page.close()
