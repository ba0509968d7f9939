"""The gap journey of the issue's "Done means", in a real browser against a real server with the demo
installation: a housing worker turns a blocked action into a service gap, the broker escalates it,
the strategic lead sees it in the queue with its evidence as figures, responds with an owner and a
target date, and the quarterly PDF shows it on the heat map.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pypdf
import pytest
from sqlalchemy import func, select

from panel_app.extensions import db
from panel_app.models import (
    Action,
    Agency,
    GapReferral,
    GapStatus,
    Partnership,
    Referral,
    ServiceGap,
    YoungPerson,
)
from panel_app.pathways import Pathway
from panel_app.services.clock import today
from tests.conftest import ARTIFACTS, LiveServer, signed_in_page

pytestmark = pytest.mark.browser




def _heat_cell(text: str, area: str, column: int) -> int:
    """The figure of an area's row in the report's heat-map table (pathways in their order). The
    extracted text may wrap a long area name over lines, so the name is matched across any spacing."""
    name = r"\s+".join(re.escape(word) for word in area.split())
    row = re.search(name + r"\s+((?:\d+\s+){6}\d+)", text)
    assert row, f"no heat-map row for {area}"
    return int(row.group(1).split()[column])


def _report_text(page, url: str) -> str:
    response = page.request.get(url)
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/pdf")
    return " \n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.body())).pages)


def test_a_blocked_action_becomes_a_gap_that_the_lead_answers(live_server: LiveServer, browser) -> None:
    app = live_server.app
    with app.app_context():
        housing = db.session.scalar(select(Agency).where(Agency.name == "Conwy & Denbighshire Housing Solutions"))
        action = db.session.scalar(select(Action).join(Referral).join(YoungPerson).where(
            Action.owner_agency_id == housing.id, Action.pathway == Pathway.ACCOMMODATION,
            YoungPerson.family_name == "Jenkins"))
        action_id = action.id
        conwy_unresolved_before = db.session.scalar(select(func.count(ServiceGap.id)).join(Partnership).where(
            Partnership.name == "Conwy & Denbighshire", ServiceGap.pathway == Pathway.ACCOMMODATION,
            ServiceGap.status.in_([GapStatus.OPEN, GapStatus.ESCALATED, GapStatus.IN_PROGRESS])))

    # 1. The housing worker marks the action blocked (one step, from My actions) and turns it into a gap.
    worker = signed_in_page(browser, live_server, "housing.conwy@demo.test")
    worker.goto(live_server.url + "/actions/")
    row = worker.locator(f"#action-{action_id}")
    row.get_by_label("Status of the action for Cai Jenkins").select_option(label="Blocked")
    row.get_by_label("Note for the action for Cai Jenkins").fill("No supported lodgings place anywhere in the county.")
    row.get_by_role("button", name="Update").click()
    worker.wait_for_selector(".govuk-notification-banner--success")
    worker.goto(live_server.url + f"/actions/{action_id}")
    worker.get_by_role("link", name="Turn it into a service gap").click()
    assert worker.get_by_label("Pathway").input_value() == "accommodation"
    worker.get_by_label("Short title").fill("Browser test: no lodgings for care leavers on release")
    worker.get_by_label("What is missing, full or out of reach?").fill(
        "Every supported lodgings place in the county is taken; young people leave custody with nowhere.")
    worker.get_by_role("group", name="How severe is it?").get_by_label("High").check()
    evidence = worker.get_by_role("group", name="Young people affected (the evidence)")
    for name in ("Cai Jenkins", "Lowri Hughes", "Ffion Price"):
        evidence.get_by_label(re.compile(name)).check()
    worker.get_by_role("button", name="Log the gap").click()
    worker.wait_for_selector(".govuk-notification-banner--success")
    gap_url = worker.url
    gap_id = int(gap_url.rstrip("/").split("/")[-1])

    with app.app_context():
        gap = db.session.get(ServiceGap, gap_id)
        assert gap.source_action_id == action_id and gap.status is GapStatus.OPEN
        waits = [(today() - e.waiting_since).days for e in db.session.scalars(
            select(GapReferral).where(GapReferral.gap_id == gap_id))]
        assert len(waits) == 3
        longest = max(waits)

    # 2. The broker escalates it.
    broker = signed_in_page(browser, live_server, "broker.north@demo.test")
    broker.goto(gap_url)
    broker.get_by_role("link", name="Escalate to the strategic lead").click()
    broker.get_by_label("What are you asking the strategic lead for?").fill("A commissioning decision, please.")
    broker.get_by_role("button", name="Escalate").click()
    broker.wait_for_selector(".govuk-notification-banner--success")

    # 3. The strategic lead sees it in the queue, with its evidence as figures and no one named.
    lead = signed_in_page(browser, live_server, "lead.wales@demo.test")
    lead.get_by_role("link", name="Escalated gaps", exact=True).first.click()
    entry = lead.locator(".app-action", has_text="Browser test: no lodgings for care leavers on release")
    summary = entry.inner_text()
    assert "3 young people affected" in summary
    assert f"longest wait {longest} days" in summary
    for name in ("Cai", "Jenkins", "Lowri", "Hughes", "Ffion", "Price"):
        assert name not in lead.content()
    lead.screenshot(path=str(ARTIFACTS / "gaps-review.png"), full_page=True)

    # 4. The lead responds with an owner and a target date.
    entry.get_by_role("link", name=re.compile("Respond")).click()
    lead.get_by_label("Your response").fill("The regional board will commission six places.")
    lead.get_by_role("group", name="Where does it stand now?").get_by_label(re.compile("In progress")).check()
    lead.get_by_label("Owner").fill("Head of Housing, Conwy County Borough Council")
    target = today() + timedelta(days=90)
    group = lead.get_by_role("group", name="Target date")
    group.get_by_label("Day").fill(str(target.day))
    group.get_by_label("Month").fill(str(target.month))
    group.get_by_label("Year").fill(str(target.year))
    lead.get_by_role("button", name="Send response").click()
    lead.wait_for_selector(".govuk-notification-banner--success")
    assert "Head of Housing, Conwy County Borough Council" in lead.inner_text("main")
    with app.app_context():
        gap = db.session.get(ServiceGap, gap_id)
        assert gap.status is GapStatus.IN_PROGRESS and gap.target_on == target

    # 5. The quarterly PDF shows it on the heat map (Conwy & Denbighshire, Accommodation: one more).
    text = _report_text(lead, live_server.url + "/gaps/report.pdf")
    assert "Browser test: no lodgings for care leavers on release" in text
    assert _heat_cell(text.split("Unresolved gaps by area and pathway")[-1], "Conwy & Denbighshire", 0) == conwy_unresolved_before + 1
    for name in ("Jenkins", "Hughes", "Price"):
        assert name not in text
    lead.goto(live_server.url + "/gaps/dashboard")
    lead.screenshot(path=str(ARTIFACTS / "gaps-dashboard.png"), full_page=True)
