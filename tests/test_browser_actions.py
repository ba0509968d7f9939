"""The actions journey of the issue's "Done means", in a real browser against a real server with the demo
installation: housing opens My actions and sees what it owes, overdue first; updates an overdue action in
one step from the list and sees it leave the overdue group; the broker's follow-up shows housing one
overdue action fewer; and a second edit made on a stale copy is refused, showing the newer state.

The demo data is shared with the other browser tests of the session: the test reads the state it finds
rather than assume numbers, and makes what it needs if it is not there.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from panel_app.extensions import db
from panel_app.models import (
    OUTSTANDING,
    Action,
    ActionUpdate,
    Agency,
    Partnership,
    Referral,
    ReferralStatus,
    User,
)
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services.clock import today
from tests.conftest import ARTIFACTS, LiveServer, signed_in_page

pytestmark = pytest.mark.browser

HOUSING = "Conwy & Denbighshire Housing Solutions"
PARTNERSHIP = "Conwy & Denbighshire"




def _ensure_housing_owes(server: LiveServer, *, overdue: int, outstanding: int) -> None:
    """Make sure housing has at least ``overdue`` overdue actions and ``outstanding`` outstanding ones in
    all (other tests may have done some): the broker records more, dated back as the demo data does."""
    with server.app.app_context():
        housing = db.session.scalars(select(Agency).where(Agency.name == HOUSING)).one()
        owed = list(db.session.scalars(select(Action).where(Action.owner_agency_id == housing.id,
                                                            Action.status.in_(OUTSTANDING))))
        late = sum(1 for action in owed if action.due_on < today())
        missing_late, missing = max(0, overdue - late), max(0, outstanding - len(owed))
        if missing_late or missing:
            partnership = db.session.scalars(select(Partnership).where(Partnership.name == PARTNERSHIP)).one()
            broker = db.session.scalars(select(User).where(User.email == "broker.north@demo.test")).one()
            referral = db.session.scalars(select(Referral).where(
                Referral.partnership_id == partnership.id, Referral.status == ReferralStatus.ACTIVE)).first()
            for number in range(max(missing_late, missing)):
                action = action_service.create_action(broker, referral, action_service.NewAction(
                    Pathway.ACCOMMODATION, f"Browser test: chase the landlord ({number})", housing.id,
                    today() + timedelta(days=1)))
                if number < missing_late:
                    action.due_on = today() - timedelta(days=3 + number)
            db.session.commit()
        db.session.remove()


def _group_ids(page, group: str) -> list[int]:
    """The actions listed under a group heading of My actions (overdue, this-week, later), in order."""
    ids = page.evaluate(
        """(group) => {
            const ids = [];
            let node = document.getElementById(group).nextElementSibling;
            while (node && node.tagName !== 'H2') {
                if (node.id && node.id.startsWith('action-')) ids.push(Number(node.id.slice(7)));
                node = node.nextElementSibling;
            }
            return ids;
        }""", group)
    shown = re.search(r"\((\d+)\)", page.locator(f"h2#{group}").inner_text())
    assert shown and int(shown.group(1)) == len(ids)
    return ids


def _overdue_on_follow_up(page) -> int:
    """Housing's overdue count on the broker's follow-up page (absent from the table: none)."""
    rows = page.locator("table.govuk-table tbody tr").filter(has=page.get_by_role("rowheader", name=HOUSING))
    if rows.count() == 0:
        return 0
    return int(rows.first.locator("td").first.inner_text().strip())


def test_housing_updates_an_overdue_action_from_my_actions_and_the_broker_sees_it(
        live_server: LiveServer, browser) -> None:
    _ensure_housing_owes(live_server, overdue=1, outstanding=2)
    ARTIFACTS.mkdir(exist_ok=True)

    # The broker's follow-up, before.
    broker = signed_in_page(browser, live_server, "broker.north@demo.test")
    broker.get_by_role("navigation", name="Menu").get_by_role("link", name="Follow-up").click()
    expect(broker.get_by_role("heading", level=1)).to_have_text("Actions slipping")  # the new page, not home's
    overdue_before = _overdue_on_follow_up(broker)
    assert overdue_before >= 1

    # 1. Housing opens My actions: what it owes across its panels, the overdue group first.
    housing = signed_in_page(browser, live_server, "housing.conwy@demo.test")
    housing.get_by_role("navigation", name="Menu").get_by_role("link", name="My actions").click()
    housing.wait_for_selector("h2#overdue")
    assert housing.get_by_role("heading", level=1).inner_text() == "My actions"
    assert HOUSING in housing.inner_text("main")
    headings = housing.locator("main h2").all_inner_texts()
    assert headings[0].startswith("Overdue"), headings
    assert [h.split(" (")[0] for h in headings[:3]] == ["Overdue", "Due this week", "Later"]
    overdue = _group_ids(housing, "overdue")
    assert len(overdue) >= 1
    assert PARTNERSHIP in housing.locator(f"#action-{overdue[0]}").inner_text()
    assert "Overdue: was due" in housing.locator(f"#action-{overdue[0]}").inner_text()
    housing.screenshot(path=str(ARTIFACTS / "my-actions.png"), full_page=True)

    # 2. One step from the list: Done, a note, Update.
    chosen = overdue[0]
    row = housing.locator(f"#action-{chosen}")
    row.get_by_role("combobox").select_option(label="Done")
    row.get_by_role("textbox").fill("Lodgings confirmed with the landlord; address sent to the secure estate.")
    row.get_by_role("button", name=re.compile(r"^Update")).click()
    housing.wait_for_selector(".govuk-notification-banner--success")
    assert "Action updated" in housing.inner_text(".govuk-notification-banner--success")
    assert chosen not in _group_ids(housing, "overdue")
    assert len(_group_ids(housing, "overdue")) == len(overdue) - 1
    done_list = housing.get_by_role("heading", name="Done in the last two weeks")
    assert done_list.count() == 1
    assert housing.locator(f"main a[href='/actions/{chosen}']").count() >= 1

    # 3. The broker's follow-up shows housing one overdue action fewer.
    broker.reload()
    assert _overdue_on_follow_up(broker) == overdue_before - 1
    broker.screenshot(path=str(ARTIFACTS / "follow-up.png"), full_page=True)

    # 4. A second edit on a stale copy: two pages of the same action; update in the first, send the second.
    outstanding = _group_ids(housing, "overdue") + _group_ids(housing, "this-week") + _group_ids(housing, "later")
    assert outstanding, "housing has nothing outstanding left to edit"
    target = outstanding[0]
    first = housing
    second = housing.context.new_page()
    first.goto(f"{live_server.url}/actions/{target}")
    second.goto(f"{live_server.url}/actions/{target}")
    first.get_by_label("Status", exact=True).select_option(label="In progress")
    first.get_by_label("Note", exact=True).fill("First edit: viewing booked for Thursday.")
    first.get_by_role("button", name="Update").click()
    first.wait_for_selector(".govuk-notification-banner--success")

    second.get_by_label("Status", exact=True).select_option(label="Blocked")
    second.get_by_label("Note", exact=True).fill("Second edit: made on a stale copy.")
    with second.expect_response(re.compile(rf"/actions/{target}/update$")) as answer:
        second.get_by_role("button", name="Update").click()
    assert answer.value.status == 409
    second.wait_for_selector(".govuk-error-summary")
    assert "Someone else changed this action" in second.inner_text(".govuk-error-summary")
    history = second.inner_text(".app-timeline")
    assert "First edit: viewing booked for Thursday." in history  # the newer state
    assert "Second edit" not in history
    assert second.locator("h1 + p .govuk-tag").inner_text() == "In progress"
    second.screenshot(path=str(ARTIFACTS / "action-stale-edit.png"), full_page=True)

    with live_server.app.app_context():
        notes = set(db.session.scalars(select(ActionUpdate.note).where(ActionUpdate.action_id == target)))
        assert "First edit: viewing booked for Thursday." in notes
        assert "Second edit: made on a stale copy." not in notes
        db.session.remove()
