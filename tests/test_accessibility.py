"""Every kind of page, as the people who use it see it, checked by axe-core in a real browser.

axe-core (from the npm registry, installed by scripts/setup with the other front-end packages) runs
the WCAG 2.2 A and AA rules and its best practices over the rendered page, the way an accessibility
auditor's browser extension would. The pages are those of the demo installation, as a broker, a
housing worker and a strategic lead; forms are also checked with their errors showing.

One best-practice rule is left out: ``region`` ("all content in landmarks") flags GOV.UK Frontend's
back link, which its page template places before <main> on purpose (it is not part of the content).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import LiveServer, signed_in_page

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "assets" / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
LEFT_OUT = {"region": {"enabled": False}}

# (who, path): {names} are filled in from the demo data, below.
PAGES = [
    ("broker.north", "/"),
    ("broker.north", "/referrals/"),
    ("broker.north", "/referrals/triage"),
    ("broker.north", "/referrals/new"),
    ("broker.north", "/referrals/{referral}"),
    ("broker.north", "/referrals/{referral}/needs"),
    ("broker.north", "/referrals/{referral}/share"),
    ("broker.north", "/referrals/{referral}/consent"),
    ("broker.north", "/referrals/{referral}/close"),
    ("broker.north", "/referrals/{referral}/plan"),
    ("broker.north", "/referrals/{referral}/actions/new"),
    ("broker.north", "/actions/follow-up"),
    ("broker.north", "/actions/{action}"),
    ("broker.north", "/meetings/"),
    ("broker.north", "/meetings/new"),
    ("broker.north", "/meetings/{meeting}"),
    ("broker.north", "/meetings/{meeting}/agenda"),
    ("broker.north", "/meetings/{meeting}/run"),
    ("broker.north", "/meetings/{meeting}/edit"),
    ("broker.north", "/meetings/{held}/minutes"),
    ("broker.north", "/gaps/"),
    ("broker.north", "/gaps/new"),
    ("broker.north", "/gaps/{gap}"),
    ("broker.north", "/gaps/dashboard"),
    ("broker.north", "/calendar/"),
    ("broker.north", "/account/"),
    ("broker.north", "/emails/undelivered"),
    ("housing.conwy", "/"),
    ("housing.conwy", "/actions/"),
    ("housing.conwy", "/referrals/"),
    ("housing.conwy", "/referrals/{referral}"),
    ("housing.conwy", "/meetings/{meeting}"),
    ("housing.conwy", "/gaps/{gap}"),
    ("lead.wales", "/"),
    ("lead.wales", "/gaps/review"),
    ("lead.wales", "/gaps/{gap}"),
    ("lead.wales", "/gaps/{gap}/respond"),
    ("lead.wales", "/gaps/dashboard"),
    ("admin", "/"),
    ("admin", "/admin/people/"),
    ("admin", "/admin/people/{person}"),
    ("admin", "/admin/people/{person}/deactivate"),
    ("admin", "/admin/people/invite"),
    ("admin", "/admin/agencies/"),
    ("admin", "/admin/agencies/new"),
    ("admin", "/admin/partnerships/"),
    ("admin", "/admin/partnerships/new"),
    ("broker.north", "/admin/people/invite"),
]
# Forms sent empty, to check the page with its error summary and error messages.
FORMS_WITH_ERRORS = [
    ("broker.north", "/referrals/new", "Submit referral"),
    ("broker.north", "/gaps/new", "Log the gap"),
    ("broker.north", "/meetings/new", "Schedule meeting"),
    ("broker.north", "/account/", "Change password"),
    ("admin", "/admin/people/invite", "Send invitation"),
    ("admin", "/admin/agencies/new", "Save agency"),
    ("admin", "/admin/partnerships/new", "Save partnership"),
]


def _records(live_server: LiveServer) -> dict[str, int]:
    """Records of the Conwy & Denbighshire demo partnership that housing, too, may see."""
    from panel_app.models import Action, MeetingStatus, PanelMeeting, Partnership, ServiceGap, User, db

    with live_server.app.app_context():
        conwy = db.session.scalar(select(Partnership).where(Partnership.name == "Conwy & Denbighshire"))
        housing_action = db.session.scalar(select(Action).where(
            Action.owner_agency.has(name="Conwy & Denbighshire Housing Solutions")).order_by(Action.id))
        meetings = {status: db.session.scalar(select(PanelMeeting.id).where(
            PanelMeeting.partnership_id == conwy.id, PanelMeeting.status == status).order_by(PanelMeeting.id))
            for status in (MeetingStatus.SCHEDULED, MeetingStatus.HELD)}
        gap = db.session.scalar(select(ServiceGap.id).where(ServiceGap.partnership_id == conwy.id,
                                                            ServiceGap.logged_by_agency.has(name=housing_action
                                                                                            .owner_agency.name)))
        housing_worker = db.session.scalar(select(User.id).where(User.email == "housing.conwy@demo.test"))
        return {"person": housing_worker, "referral": housing_action.referral_id, "action": housing_action.id, "gap": gap,
                "meeting": meetings[MeetingStatus.SCHEDULED], "held": meetings[MeetingStatus.HELD]}


@pytest.fixture(scope="module")
def signed_in(live_server: LiveServer, browser: Any) -> Iterator[Any]:
    """``signed_in(who)``: a page of a browser context signed in as that demo account (one each)."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/setup (it installs the front-end packages)")
    pages: dict[str, Any] = {}

    def page_for(who: str) -> Any:
        if who not in pages:
            # The pages' Content-Security-Policy forbids inline scripts; the checker is one.
            pages[who] = signed_in_page(browser, live_server, f"{who}@demo.test", bypass_csp=True)
        return pages[who]

    yield page_for
    for page in pages.values():
        page.context.close()


def violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async ([tags, rules]) => {
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, rules: rules});
            return result.violations.map(v => `${v.impact} ${v.id}: ${v.help} at ` +
                v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
        }""", [RULES, LEFT_OUT])
    return list(found)


@pytest.mark.parametrize(("who", "path"), PAGES, ids=[f"{who} {path}" for who, path in PAGES])
def test_the_page_passes_axe(live_server: LiveServer, signed_in: Any, who: str, path: str) -> None:
    page = signed_in(who)
    response = page.goto(live_server.url + path.format(**_records(live_server)))
    assert response is not None and response.status == 200, (path, response and response.status)
    assert violations(page) == []


@pytest.mark.parametrize(("who", "path", "button"), FORMS_WITH_ERRORS,
                         ids=[f"{who} {path}" for who, path, _button in FORMS_WITH_ERRORS])
def test_the_form_with_its_errors_passes_axe(live_server: LiveServer, signed_in: Any, who: str, path: str,
                                             button: str) -> None:
    page = signed_in(who)
    page.goto(live_server.url + path)
    page.get_by_role("button", name=button, exact=True).click()
    page.locator(".govuk-error-summary").wait_for()
    assert page.title().startswith("Error:")
    assert violations(page) == []


@pytest.mark.parametrize(("who", "path"), PAGES, ids=[f"{who} {path}" for who, path in PAGES])
def test_the_page_fits_a_phone_screen(live_server: LiveServer, signed_in: Any, who: str, path: str) -> None:
    """At 375 pixels wide (a small phone) nothing makes the page scroll sideways (WCAG 1.4.10, reflow):
    tables become labelled cards, fields stack, a wide table of figures scrolls inside its own region."""
    page = signed_in(who)
    page.set_viewport_size({"width": 375, "height": 800})
    try:
        page.goto(live_server.url + path.format(**_records(live_server)))
        too_wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5
                         && !e.closest('.app-scroll'))
            .slice(0, 3).map(e => e.tagName.toLowerCase() + '.' + e.className)""")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, too_wide
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
