"""The action lists: a fixed number of SQL queries whatever the number of actions (10 or 500); My
actions groups what an agency owes (overdue, due this week, later), filters by pathway and
partnership, and says when it shows only the first 500."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.extensions import db
from panel_app.models import Action, ActionStatus, Agency, Partnership, Referral, Role, User
from panel_app.pathways import Pathway
from panel_app.services import actions as service
from panel_app.services.clock import today
from tests.conftest import client_for, counting_queries
from tests.factories import make_agency, make_partnership, make_referral, make_user

FIRST_500 = "Showing the first 500: filter to see the rest."


# --- Helpers ------------------------------------------------------------------------------------


def groups_of(html: str) -> dict[str, list[int]]:
    """My actions: the action ids under each group heading, in order."""
    page = BeautifulSoup(html, "html.parser")
    found: dict[str, list[int]] = {}
    for group in ("overdue", "this-week", "later"):
        heading = page.find("h2", id=group)
        assert heading is not None, f"no {group} group"
        ids = []
        for sibling in heading.find_next_siblings():
            if sibling.name == "h2":
                break
            if sibling.get("id", "").startswith("action-"):
                ids.append(int(sibling["id"].removeprefix("action-")))
        found[group] = ids
        shown = re.search(r"\((\d+)\)", heading.get_text())
        assert shown and int(shown.group(1)) == len(ids), (group, heading.get_text())
    return found


def group_order(html: str) -> list[str]:
    page = BeautifulSoup(html, "html.parser")
    return [h2["id"] for h2 in page.find_all("h2", id=True) if h2["id"] in ("overdue", "this-week", "later")]


def follow_up_counts(html: str) -> dict[str, tuple[int, int, int]]:
    """The broker's follow-up table: agency -> (overdue, blocked, not acted)."""
    table = BeautifulSoup(html, "html.parser").find("table", class_="govuk-table")
    if table is None:
        return {}
    counts = {}
    for row in table.find("tbody").find_all("tr"):
        cells = [cell.get_text(strip=True) for cell in row.find_all("td")]
        counts[row.find("th").get_text(strip=True)] = tuple(int(cell) for cell in cells)
    return counts


# --- A load of actions --------------------------------------------------------------------------


@dataclass
class Load:
    conwy: Partnership
    denbigh: Partnership
    broker: User
    referrer: User
    housing: Agency
    health: Agency
    housing_staff: User
    crowded: Referral
    referrals: list[Referral] = field(default_factory=list)
    housing_actions: list[Action] = field(default_factory=list)
    other_actions: list[Action] = field(default_factory=list)


def make_load() -> Load:
    yot = make_agency(type="yot", name="Load YOT")
    housing = make_agency(type="housing", name="Load Housing")
    health = make_agency(type="health", name="Load Health")
    broker = make_user(Role.BROKER)
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    conwy = make_partnership(name="Load Conwy", agencies=[yot, housing, health], brokers=[broker])
    denbigh = make_partnership(name="Load Denbighshire", agencies=[yot, housing, health], brokers=[broker])
    crowded = make_referral(partnership=conwy, referrer=referrer, broker=broker, status="active")
    db.session.commit()
    return Load(conwy, denbigh, broker, referrer, housing, health, make_user(Role.AGENCY_STAFF, agency=housing),
                crowded)


HOUSING_PATHWAYS = (Pathway.ACCOMMODATION, Pathway.FINANCE, Pathway.ETE, Pathway.FAMILIES)
STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS, ActionStatus.BLOCKED)


def add_actions(load: Load, count: int) -> None:
    """``count`` more actions owed by housing: half on the crowded referral, the rest five to a referral
    across both partnerships; overdue, this week and later; open, in progress and blocked; named
    worker or not. Each fifth referral also gets a health action (a restricted pathway, not housing's)."""
    on = today()
    start = len(load.housing_actions)
    for number in range(start, start + count):
        if number % 2 == 0:
            referral = load.crowded
        else:
            if not load.referrals or sum(1 for a in load.housing_actions if a.referral is load.referrals[-1]) >= 5:
                partnership = load.conwy if len(load.referrals) % 2 else load.denbigh
                load.referrals.append(make_referral(partnership=partnership, referrer=load.referrer,
                                                    broker=load.broker, status="accepted"))
                if len(load.referrals) % 5 == 1:
                    load.other_actions.append(_action(load, load.referrals[-1], load.health, Pathway.HEALTH,
                                                      on - timedelta(days=10), None))
            referral = load.referrals[-1]
        due = on + timedelta(days=(number % 21) - 7)  # from a week overdue to a fortnight ahead
        action = _action(load, referral, load.housing, HOUSING_PATHWAYS[number % 4], due,
                         load.housing_staff if number % 3 == 0 else None)
        status = STATUSES[number % 3]
        if status is not ActionStatus.OPEN:
            service.update_action(load.housing_staff, action, service.ActionChange(
                version=action.version, status=status, note="Under way" if status is ActionStatus.IN_PROGRESS
                else "Waiting for a place"))
        load.housing_actions.append(action)
    db.session.commit()


def _action(load: Load, referral: Referral, agency: Agency, pathway: Pathway, due: date,
            worker: User | None) -> Action:
    action = service.create_action(load.broker, referral, service.NewAction(
        pathway=pathway, description=f"Action {pathway.value} for referral {referral.id}", agency_id=agency.id,
        due_on=max(due, today()), owner_user_id=worker.id if worker else None))
    action.due_on = due
    db.session.flush()
    return action


# --- A fixed number of queries ------------------------------------------------------------------


Probes = dict[str, tuple[FlaskClient, str, dict[str, str] | None]]


def measure(probes: Probes) -> tuple[dict[str, int], dict[str, Any]]:
    # A first request may write something once (a session's CSRF token, when a token was first used):
    # that is not what is measured.
    for client, _url, headers in probes.values():
        assert client.get("/").status_code == 200
        if headers is not None:
            assert client.get("/api/v1/me", headers=headers).status_code == 200
    counts, responses = {}, {}
    for name, (client, url, headers) in probes.items():
        with counting_queries() as statements:
            response = client.get(url, headers=headers)
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(statements)
        responses[name] = response
    return counts, responses


def report(small: dict[str, int], large: dict[str, int]) -> None:
    print("\nSQL statements per request (10 actions -> 500 actions):")
    for name in small:
        print(f"  {name}: {small[name]} -> {large[name]}")


def test_action_lists_issue_the_same_number_of_queries_for_10_and_500_actions(app: Flask, api_token) -> None:
    load = make_load()
    add_actions(load, 10)
    housing = client_for(app, load.housing_staff)
    broker = client_for(app, load.broker)
    housing_api = api_token(load.housing_staff)
    broker_api = api_token(load.broker)
    probes: Probes = {
        "GET /actions/ (housing: My actions)": (housing, "/actions/", None),
        "GET /actions/?pathway=accommodation (housing)": (housing, "/actions/?pathway=accommodation", None),
        "GET /actions/follow-up (broker)": (broker, "/actions/follow-up", None),
        "GET /api/v1/actions?assigned_to=my_agency&per_page=100 (housing)":
            (housing, "/api/v1/actions?assigned_to=my_agency&per_page=100", housing_api),
        "GET /api/v1/actions?per_page=100 (broker)": (broker, "/api/v1/actions?per_page=100", broker_api),
        "GET /referrals/<crowded> (broker)": (broker, f"/referrals/{load.crowded.id}", None),
        "GET /referrals/<crowded> (housing)": (housing, f"/referrals/{load.crowded.id}", None),
        "GET /referrals/<crowded>/plan (broker)": (broker, f"/referrals/{load.crowded.id}/plan", None),
    }

    small, small_pages = measure(probes)
    assert sum(len(ids) for ids in groups_of(small_pages["GET /actions/ (housing: My actions)"].text).values()) == 10
    assert small_pages["GET /api/v1/actions?assigned_to=my_agency&per_page=100 (housing)"].get_json()["total"] == 10

    add_actions(load, 490)
    large, large_pages = measure(probes)
    report(small, large)

    # The larger pages really hold the larger set.
    mine = large_pages["GET /actions/ (housing: My actions)"].text
    assert sum(len(ids) for ids in groups_of(mine).values()) == 500
    assert FIRST_500 not in mine
    assert large_pages["GET /api/v1/actions?assigned_to=my_agency&per_page=100 (housing)"].get_json()["total"] == 500
    assert len(large_pages["GET /api/v1/actions?assigned_to=my_agency&per_page=100 (housing)"]
               .get_json()["items"]) == 100
    for name in ("GET /referrals/<crowded> (broker)", "GET /referrals/<crowded> (housing)"):
        assert len(BeautifulSoup(large_pages[name].text, "html.parser").select("li.app-action")) == 250, name
    assert follow_up_counts(large_pages["GET /actions/follow-up (broker)"].text)["Load Housing"][0] > 0

    assert large == small, {name: (small[name], large[name]) for name in probes if small[name] != large[name]}
    for name, count in small.items():
        assert count <= 25, f"{name}: {count} statements"

    # One more: the page says it shows only the first 500.
    add_actions(load, 1)
    with counting_queries() as statements:
        page = housing.get("/actions/")
    assert page.status_code == 200
    assert FIRST_500 in page.text
    assert sum(len(ids) for ids in groups_of(page.text).values()) == 500
    assert len(statements) == small["GET /actions/ (housing: My actions)"]
    # Filtering brings the rest into view.
    filtered = housing.get(f"/actions/?partnership={load.denbigh.id}")
    assert FIRST_500 not in filtered.text


def test_the_api_list_of_every_visible_action_issues_the_same_number_of_queries_for_10_and_500(
        app: Flask, api_token) -> None:
    """Agency staff see every action on the referrals they are involved in, including other agencies'
    actions on a restricted pathway (health), whose description they may not read: deciding that must
    not cost a query per referral."""
    load = make_load()
    add_actions(load, 10)
    housing = client_for(app, load.housing_staff)
    probes: Probes = {"GET /api/v1/actions?per_page=100 (housing: every action it may see)":
                      (housing, "/api/v1/actions?per_page=100", api_token(load.housing_staff))}
    small, small_pages = measure(probes)
    add_actions(load, 490)
    large, large_pages = measure(probes)
    report(small, large)
    (name,) = probes
    items = large_pages[name].get_json()["items"]
    restricted = [item for item in items if item["agency"]["id"] == load.health.id]
    assert len({item["referral_id"] for item in restricted}) == len(load.other_actions) >= 10
    assert all("description" not in item for item in restricted)  # housing does not read health's actions
    assert large == small, "one more query for each referral holding another agency's restricted action"


# --- Grouping and filters -----------------------------------------------------------------------


@dataclass
class Owed:
    load: Load
    by_name: dict[str, Action]


@pytest.fixture
def owed() -> Owed:
    on = today()
    load = make_load()
    conwy_one = make_referral(partnership=load.conwy, referrer=load.referrer, broker=load.broker, status="accepted")
    denbigh_one = make_referral(partnership=load.denbigh, referrer=load.referrer, broker=load.broker,
                                status="accepted")
    yot = next(a for a in load.conwy.agencies if a.type == "yot")
    plan = {
        "overdue_long": (conwy_one, load.housing, Pathway.ACCOMMODATION, -30),
        "overdue_yesterday": (denbigh_one, load.housing, Pathway.FINANCE, -1),
        "today": (conwy_one, load.housing, Pathway.FINANCE, 0),
        "in_a_week": (denbigh_one, load.housing, Pathway.ACCOMMODATION, 7),
        "in_eight_days": (conwy_one, load.housing, Pathway.ACCOMMODATION, 8),
        "in_forty_days": (denbigh_one, load.housing, Pathway.ETE, 40),
        "done": (conwy_one, load.housing, Pathway.ACCOMMODATION, -3),
        "cancelled": (conwy_one, load.housing, Pathway.FINANCE, -3),
        "yots": (conwy_one, yot, Pathway.TRANSITIONS, -3),
    }
    by_name = {name: _action(load, referral, agency, pathway, on + timedelta(days=days), None)
               for name, (referral, agency, pathway, days) in plan.items()}
    service.update_action(load.housing_staff, by_name["done"], service.ActionChange(
        version=by_name["done"].version, status=ActionStatus.DONE, outcome="Room found"))
    service.update_action(load.broker, by_name["cancelled"], service.ActionChange(
        version=by_name["cancelled"].version, status=ActionStatus.CANCELLED, note="Not needed"))
    service.update_action(load.housing_staff, by_name["in_a_week"], service.ActionChange(
        version=by_name["in_a_week"].version, status=ActionStatus.BLOCKED, note="No places"))
    db.session.commit()
    return Owed(load, by_name)


def _ids(owed: Owed, *names: str) -> list[int]:
    return [owed.by_name[name].id for name in names]


def test_my_actions_groups_overdue_first_then_this_week_then_later(app: Flask, owed: Owed) -> None:
    page = client_for(app, owed.load.housing_staff).get("/actions/")
    assert page.status_code == 200
    assert group_order(page.text) == ["overdue", "this-week", "later"]
    groups = groups_of(page.text)
    assert groups["overdue"] == _ids(owed, "overdue_long", "overdue_yesterday")  # the oldest first
    assert groups["this-week"] == _ids(owed, "today", "in_a_week")
    assert groups["later"] == _ids(owed, "in_eight_days", "in_forty_days")
    # Done and cancelled actions, and other agencies' actions, are not owed.
    shown = set(itertools.chain.from_iterable(groups.values()))
    assert not shown & set(_ids(owed, "done", "cancelled", "yots"))
    soup = BeautifulSoup(page.text, "html.parser")
    assert "Overdue: was due" in soup.find(id=f"action-{owed.by_name['overdue_long'].id}").get_text()
    assert "Blocked" in soup.find(id=f"action-{owed.by_name['in_a_week'].id}").get_text()
    # What was done lately is listed apart.
    done_heading = soup.find("h2", string=re.compile("Done in the last two weeks"))
    assert done_heading is not None
    assert f"/actions/{owed.by_name['done'].id}" in str(done_heading.find_next("ul"))


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param("pathway=accommodation", ("overdue_long", "in_a_week", "in_eight_days"), id="pathway"),
    pytest.param("pathway=finance", ("overdue_yesterday", "today"), id="pathway-finance"),
    pytest.param("pathway=health", (), id="pathway-with-none"),
    pytest.param("partnership={conwy}", ("overdue_long", "today", "in_eight_days"), id="partnership"),
    pytest.param("partnership={denbigh}", ("overdue_yesterday", "in_a_week", "in_forty_days"),
                 id="other-partnership"),
    pytest.param("pathway=accommodation&partnership={denbigh}", ("in_a_week",), id="both"),
    pytest.param("partnership=0&pathway=", ("overdue_long", "overdue_yesterday", "today", "in_a_week",
                                             "in_eight_days", "in_forty_days"), id="every"),
])
def test_my_actions_filters_by_pathway_and_partnership(app: Flask, owed: Owed, query: str,
                                                       expected: tuple[str, ...]) -> None:
    query = query.format(conwy=owed.load.conwy.id, denbigh=owed.load.denbigh.id)
    page = client_for(app, owed.load.housing_staff).get(f"/actions/?{query}")
    assert page.status_code == 200
    shown = sorted(itertools.chain.from_iterable(groups_of(page.text).values()))
    assert shown == sorted(_ids(owed, *expected))


@pytest.mark.parametrize("query", ["pathway=housing", "partnership=abc", "partnership={elsewhere}",
                                   "partnership=99999999999999999999"])
def test_unknown_filters_are_a_400_showing_nothing(app: Flask, owed: Owed, query: str) -> None:
    elsewhere = make_partnership()
    db.session.commit()
    page = client_for(app, owed.load.housing_staff).get(f"/actions/?{query.format(elsewhere=elsewhere.id)}")
    assert page.status_code == 400, page.status_code
    assert "Traceback" not in page.text
    assert BeautifulSoup(page.text, "html.parser").find(class_="govuk-error-summary") is not None
    assert not any(groups_of(page.text).values())


def test_the_api_lists_what_the_agency_owes_and_every_action_it_may_see(app: Flask, api_token, owed: Owed) -> None:
    headers = api_token(owed.load.housing_staff)
    mine = app.test_client().get("/api/v1/actions?assigned_to=my_agency", headers=headers).get_json()
    housing_ids = _ids(owed, "overdue_long", "overdue_yesterday", "today", "in_a_week", "in_eight_days",
                       "in_forty_days", "done", "cancelled")
    assert sorted(item["id"] for item in mine["items"]) == sorted(housing_ids)
    assert mine["total"] == len(housing_ids)
    assert {item["agency"]["id"] for item in mine["items"]} == {owed.load.housing.id}
    every = app.test_client().get("/api/v1/actions", headers=headers).get_json()
    assert owed.by_name["yots"].id in {item["id"] for item in every["items"]}
    for bad in ("assigned_to=someone", "per_page=101", "page=0", "colour=red"):
        response = app.test_client().get(f"/api/v1/actions?{bad}", headers=headers)
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["code"] == "bad_request"


def test_the_follow_up_counts_overdue_and_blocked_by_agency(app: Flask, owed: Owed) -> None:
    page = client_for(app, owed.load.broker).get("/actions/follow-up")
    assert page.status_code == 200
    counts = follow_up_counts(page.text)
    assert counts["Load Housing"] == (2, 1, 0)
    assert counts["Load YOT"] == (1, 0, 0)
    assert list(counts) == ["Load Housing", "Load YOT"]  # the agency slipping most first
    only_conwy = follow_up_counts(client_for(app, owed.load.broker)
                                  .get(f"/actions/follow-up?partnership={owed.load.conwy.id}").text)
    assert only_conwy == {"Load Housing": (1, 0, 0), "Load YOT": (1, 0, 0)}
    for bad in ("abc", "-1"):
        response = client_for(app, owed.load.broker).get(f"/actions/follow-up?partnership={bad}")
        assert response.status_code == 400 and "Traceback" not in response.text
