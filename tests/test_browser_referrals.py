"""The referral journey of the issue's "Done means", in a real browser against a real server:
an agency worker refers through the page, the broker triages and shares with housing, housing sees
it without the health note, an agency not involved gets a 404, and the audit trail shows the reads.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from panel_app.extensions import db
from panel_app.models import AuditEvent, Referral, User, YoungPerson
from panel_app.services.clock import today
from tests.conftest import ARTIFACTS, LiveServer, signed_in_page

pytestmark = pytest.mark.browser

HEALTH_NOTE = "Waiting for a CAMHS appointment (marker-health-4821)"
HOUSING_NOTE = "Needs supported lodgings on release (marker-housing-4821)"




def _fill_date(page, legend: str, value) -> None:
    group = page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(str(value.day))
    group.get_by_label("Month").fill(str(value.month))
    group.get_by_label("Year").fill(str(value.year))


def test_refer_triage_share_and_see_only_what_each_agency_may(live_server: LiveServer, browser) -> None:
    with live_server.app.app_context():
        release = today() + timedelta(days=30)
        born = today().replace(year=today().year - 16) - timedelta(days=40)

    # 1. The YOT case manager refers through the page.
    yot = signed_in_page(browser, live_server, "yot.conwy@demo.test")
    yot.get_by_role("navigation", name="Menu").get_by_role("link", name="Refer a young person").click()
    yot.get_by_label("First name").fill("Gethin")
    yot.get_by_label("Last name").fill("Browser-Test")
    _fill_date(yot, "Date of birth", born)
    yot.get_by_label("Why are you referring this young person?").fill("Release in a month with nowhere to live.")
    yot.get_by_role("group", name="Legal status").get_by_label("In custody").check()
    _fill_date(yot, "Expected release date", release)
    yot.get_by_role("group", name="1. Accommodation").get_by_label("Red: high need, not met").check()
    yot.get_by_label("Accommodation: note (optional)").fill(HOUSING_NOTE)
    yot.get_by_role("group", name="3. Health").get_by_label("Amber: some need, partly met").check()
    yot.get_by_label("Health: note (optional)").fill(HEALTH_NOTE)
    yot.get_by_role("group", name="Has the young person agreed to share their information with the panel?") \
        .get_by_label("Yes").check()
    yot.get_by_role("button", name="Submit referral").click()
    yot.wait_for_selector(".govuk-notification-banner--success")
    assert "Referral submitted" in yot.inner_text(".govuk-notification-banner--success")
    assert yot.get_by_role("heading", level=1).inner_text() == "Gethin Browser-Test"
    referral_url = yot.url
    assert HEALTH_NOTE in yot.inner_text("main")  # the referrer reads its own restricted notes
    yot.screenshot(path=str(ARTIFACTS / "referral-as-referrer.png"), full_page=True)

    # 2. The broker triages and shares it with housing.
    broker = signed_in_page(browser, live_server, "broker.north@demo.test")
    broker.get_by_role("link", name="Triage", exact=True).click()
    broker.get_by_role("link", name="Gethin Browser-Test").click()
    broker.get_by_role("button", name="Accept referral").click()
    broker.wait_for_selector(".govuk-notification-banner--success")
    broker.get_by_role("link", name="Share with an agency").click()
    broker.get_by_label("Conwy & Denbighshire Housing Solutions").check()
    broker.get_by_role("button", name="Share referral").click()
    broker.wait_for_selector(".govuk-notification-banner--success")
    assert "Conwy & Denbighshire Housing Solutions" in broker.inner_text("main")
    assert HEALTH_NOTE in broker.inner_text("main")

    # 3. Housing sees it, with the accommodation note and without the health note.
    housing = signed_in_page(browser, live_server, "housing.conwy@demo.test")
    housing.get_by_role("navigation", name="Menu").get_by_role("link", name="Referrals").click()
    housing.get_by_role("link", name="Gethin Browser-Test").click()
    text = housing.inner_text("main")
    assert HOUSING_NOTE in text
    assert HEALTH_NOTE not in text and "marker-health-4821" not in housing.content()
    assert "Restricted: only the broker" in text
    housing.screenshot(path=str(ARTIFACTS / "referral-as-housing.png"), full_page=True)

    # 4. An agency on the panel but not involved: a 404, and nothing in its list.
    education = signed_in_page(browser, live_server, "education.conwy@demo.test")
    response = education.goto(referral_url)
    assert response.status == 404
    assert "Gethin" not in education.content()
    education.goto(live_server.url + "/referrals/?q=Browser-Test")
    assert "Gethin" not in education.content() and "0 referrals" in education.inner_text("main")

    # 5. The audit trail shows each of those reads and changes.
    with live_server.app.app_context():
        referral = db.session.scalars(
            select(Referral).join(YoungPerson).where(YoungPerson.family_name == "Browser-Test")).one()
        rows = db.session.execute(
            select(AuditEvent.action, User.email).join(User, AuditEvent.actor_user_id == User.id)
            .where(AuditEvent.record_type == "referral", AuditEvent.record_id == referral.id)
        ).all()
        events = {(action, email) for action, email in rows}
        assert ("referral.create", "yot.conwy@demo.test") in events
        assert ("referral.view", "yot.conwy@demo.test") in events
        assert ("referral.view", "broker.north@demo.test") in events
        assert ("referral.accept", "broker.north@demo.test") in events
        assert ("referral.share", "broker.north@demo.test") in events
        assert ("referral.view", "housing.conwy@demo.test") in events
        # Education read nothing; its attempt on the referral's address is on record as refused.
        assert {action for action, email in rows if email == "education.conwy@demo.test"} == {"access.refused"}
        listed = db.session.scalars(
            select(AuditEvent).join(User, AuditEvent.actor_user_id == User.id)
            .where(AuditEvent.action == "referral.list", User.email == "housing.conwy@demo.test")).all()
        assert any(referral.id in (event.detail or {}).get("referral_ids", []) for event in listed)
