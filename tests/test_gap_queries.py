"""The gap pages, documents and API list cost a fixed number of SQL statements however many gaps,
young people, partnerships, agencies, panels and actions there are: every figure is counted in the
database, never by loading rows one by one.

Measured with a ``before_cursor_execute`` listener on the app's engine, for each page, first with 5 gaps
(2 partnerships, 3 agencies), then with 60 (4 partnerships, 5 agencies), each gap with evidence, in
every status, with panels (attendance, update requests) and actions (done, late, not done) behind the
scorecard.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.extensions import db
from panel_app.models import (
    ActionStatus,
    Agency,
    AgendaKind,
    AttendanceStatus,
    NeedRating,
    NotDoneReason,
    Partnership,
    Referral,
    Region,
    Role,
    User,
    utcnow,
)
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services import meetings as meeting_service
from panel_app.services.clock import today
from tests.conftest import client_for, counting_queries
from tests.factories import make_agency, make_gap, make_partnership, make_referral, make_region, make_user

STATUSES = ["open", "escalated", "in_progress", "resolved", "accepted"]
# No page may cost more than this, whatever the data.
CEILING = 40


# --- A crowd of gaps ----------------------------------------------------------------------------


@dataclass
class Crowd:
    region: Region
    broker: User
    lead: User
    housing: Agency
    housing_staff: User
    partnerships: list[Partnership] = field(default_factory=list)
    yot_staff: dict[int, User] = field(default_factory=dict)
    latest: dict[int, Referral] = field(default_factory=dict)


def make_crowd() -> Crowd:
    region = make_region(name="Query Region")
    housing = make_agency(type="housing", name="Query Housing")
    crowd = Crowd(region, make_user(Role.BROKER), make_user(Role.STRATEGIC_LEAD, region=region), housing,
                  make_user(Role.AGENCY_STAFF, agency=housing))
    add_partnerships(crowd, 2)
    return crowd


def add_partnerships(crowd: Crowd, count: int) -> None:
    """More partnerships of the region, each with a YOT of its own and the shared housing agency."""
    for _ in range(count):
        number = len(crowd.partnerships) + 1
        yot = make_agency(type="yot", name=f"Query YOT {number}")
        partnership = make_partnership(name=f"Query Partnership {number}", region=crowd.region,
                                       agencies=[yot, crowd.housing], brokers=[crowd.broker])
        crowd.partnerships.append(partnership)
        crowd.yot_staff[partnership.id] = make_user(Role.AGENCY_STAFF, agency=yot)


def hold_panel(crowd: Crowd, partnership: Partnership, referrals: list[Referral]) -> None:
    """A panel on these referrals: updates asked (the YOT answers, housing does not), then held last
    week, housing present and the YOT absent."""
    start = utcnow().replace(microsecond=0) + timedelta(days=7)
    meeting = meeting_service.schedule(crowd.broker, partnership.id, meeting_service.MeetingDetails(
        start, start + timedelta(hours=2), location="Council Chamber"))
    for referral in referrals:
        meeting_service.add_to_agenda(crowd.broker, meeting, referral.id, AgendaKind.REVIEW, 20)
    meeting_service.request_updates(crowd.broker, meeting, today() + timedelta(days=1))
    db.session.flush()
    yot_staff = crowd.yot_staff[partnership.id]
    for item in meeting.items:
        for request in item.update_requests:
            if request.agency_id == yot_staff.agency_id:
                meeting_service.send_update(yot_staff, request, "Our update")
    meeting.starts_at, meeting.ends_at = start - timedelta(days=14), start - timedelta(days=14, hours=-2)
    meeting_service.record_attendance(crowd.broker, meeting, {
        crowd.housing.id: (AttendanceStatus.PRESENT, None), yot_staff.agency_id: (AttendanceStatus.ABSENT, None)})
    meeting_service.mark_held(crowd.broker, meeting)


def add_gaps(crowd: Crowd, start: int, stop: int) -> None:
    """Gaps ``start`` to ``stop - 1`` across the partnerships, in every status, each with a new young
    person (a red need on its pathway) and the partnership's previous one as evidence; an action for
    housing on each (done, overdue and not acted on, or still to do); a panel every fifth gap."""
    pathways = list(Pathway)
    for number in range(start, stop):
        partnership = crowd.partnerships[number % len(crowd.partnerships)]
        pathway = pathways[number % len(pathways)]
        referral = make_referral(partnership=partnership, referrer=crowd.yot_staff[partnership.id],
                                 broker=crowd.broker, status="accepted", shared_with=[(crowd.housing, None)],
                                 needs={pathway: (NeedRating.RED, None)})
        evidence = [referral] + ([crowd.latest[partnership.id]] if partnership.id in crowd.latest else [])
        crowd.latest[partnership.id] = referral
        make_gap(partnership=partnership, by=crowd.housing_staff if number % 2 else crowd.broker,
                 evidence=evidence, status=STATUSES[number % len(STATUSES)], pathway=pathway,
                 severity=["low", "medium", "high", "critical"][number % 4], title=f"Query gap {number}",
                 lead=crowd.lead)
        action = action_service.create_action(crowd.broker, referral, action_service.NewAction(
            pathway, f"Action {number}", crowd.housing.id, today() + timedelta(days=3)))
        if number % 3 == 0:
            action_service.update_action(crowd.housing_staff, action, action_service.ActionChange(
                version=action.version, status=ActionStatus.DONE, outcome="Done"))
        elif number % 3 == 1:
            action.due_on = today() - timedelta(days=2)  # now overdue
            db.session.flush()
            action_service.record_not_done(crowd.broker, action, NotDoneReason.AGENCY_HAS_NOT_ACTED, None,
                                           action.version)
        if number % 5 == 4:
            hold_panel(crowd, partnership, evidence)
    db.session.commit()


# --- A fixed number of statements ---------------------------------------------------------------


def test_the_gap_pages_documents_and_api_list_issue_the_same_number_of_queries_for_5_and_60_gaps(
        app: Flask, api_token) -> None:
    crowd = make_crowd()
    db.session.commit()
    add_gaps(crowd, 0, 5)
    lead, broker, housing = (client_for(app, user) for user in (crowd.lead, crowd.broker, crowd.housing_staff))
    lead_api, broker_api, housing_api = (api_token(user) for user in (crowd.lead, crowd.broker, crowd.housing_staff))
    probes: dict[str, tuple[FlaskClient, str, dict[str, str] | None]] = {
        "GET /gaps/dashboard (strategic lead)": (lead, "/gaps/dashboard", None),
        "GET /gaps/dashboard (broker)": (broker, "/gaps/dashboard", None),
        "GET /gaps/ (broker)": (broker, "/gaps/", None),
        "GET /gaps/ (strategic lead)": (lead, "/gaps/", None),
        "GET /gaps/ (agency staff)": (housing, "/gaps/", None),
        "GET /gaps/?status=escalated&pathway=ete (broker)": (broker, "/gaps/?status=escalated&pathway=ete", None),
        "GET /gaps/review (strategic lead)": (lead, "/gaps/review", None),
        "GET /gaps/report.pdf (strategic lead)": (lead, "/gaps/report.pdf", None),
        "GET /gaps/register.csv (strategic lead)": (lead, "/gaps/register.csv", None),
        "GET /gaps/register.csv (broker)": (broker, "/gaps/register.csv", None),
        "GET /api/v1/gaps (strategic lead)": (lead, "/api/v1/gaps", lead_api),
        "GET /api/v1/gaps (broker)": (broker, "/api/v1/gaps", broker_api),
        "GET /api/v1/gaps (agency staff)": (housing, "/api/v1/gaps", housing_api),
        "GET /api/v1/gaps/report.pdf (broker)": (broker, "/api/v1/gaps/report.pdf", broker_api),
    }

    for client, headers in ((lead, lead_api), (broker, broker_api), (housing, housing_api)):
        # A first request may warm something up: that is not what is measured.
        assert client.get("/").status_code == 200
        assert client.get("/api/v1/me", headers=headers).status_code == 200

    def measure() -> tuple[dict[str, int], dict[str, Any]]:
        counts, responses = {}, {}
        for name, (client, url, headers) in probes.items():
            with counting_queries() as statements:
                response = client.get(url, headers=headers)
            assert response.status_code == 200, (name, response.status_code)
            counts[name] = len(statements)
            responses[name] = response
        return counts, responses

    small, small_pages = measure()
    check_what_was_shown(small_pages, gaps=5, escalated=1, csv_rows=5, page_rows=5, api_items=5)

    add_partnerships(crowd, 2)
    add_gaps(crowd, 5, 60)
    large, large_pages = measure()
    check_what_was_shown(large_pages, gaps=60, escalated=12, csv_rows=60, page_rows=50, api_items=25)

    print("\nSQL statements per request (5 gaps -> 60 gaps):")
    for name in probes:
        print(f"  {name}: {small[name]} -> {large[name]}")
    grew = {name: f"{small[name]} -> {large[name]}" for name in probes if large[name] != small[name]}
    assert grew == {}, "these cost more SQL statements with more data"
    for name, count in small.items():
        assert count <= CEILING, f"{name}: {count} statements"


def check_what_was_shown(pages: dict[str, Any], *, gaps: int, escalated: int, csv_rows: int, page_rows: int,
                         api_items: int) -> None:
    """The measured answers hold the data (so the counts compare pages that show it)."""
    register = BeautifulSoup(pages["GET /gaps/ (broker)"].text, "html.parser")
    assert register.find(attrs={"role": "status"}).get_text(strip=True) == f"{gaps} gaps"
    assert len(register.find("table").find("tbody").find_all("tr")) == page_rows
    filtered = BeautifulSoup(pages["GET /gaps/?status=escalated&pathway=ete (broker)"].text, "html.parser")
    assert filtered.find(attrs={"role": "status"}).get_text(strip=True) == (
        "1 gap" if gaps == 5 else "2 gaps")  # gap 1; gaps 1 and 36 (escalated: n % 5 == 1; ETE: n % 7 == 1)
    review = BeautifulSoup(pages["GET /gaps/review (strategic lead)"].text, "html.parser")
    assert len(review.find_all(class_="app-action")) == escalated
    rows = list(csv.reader(io.StringIO(pages["GET /gaps/register.csv (strategic lead)"].get_data(as_text=True))))
    assert len(rows) == 1 + csv_rows
    for name in ("GET /api/v1/gaps (strategic lead)", "GET /api/v1/gaps (broker)"):
        body = pages[name].get_json()
        assert body["total"] == gaps and len(body["items"]) == api_items, name
    dashboard = BeautifulSoup(pages["GET /gaps/dashboard (strategic lead)"].text, "html.parser")
    cards = [" ".join(card.get_text(" ", strip=True).split()) for card in dashboard.find_all(class_="app-card")]
    unresolved = sum(1 for n in range(gaps) if STATUSES[n % 5] in ("open", "escalated", "in_progress"))
    assert cards[0] == f"{unresolved} gaps unresolved"
    assert pages["GET /gaps/report.pdf (strategic lead)"].data.startswith(b"%PDF")


def test_the_register_costs_the_same_for_an_agency_on_2_or_6_panels(app: Flask) -> None:
    """A housing agency sits on many partnerships' panels (a national roll-out has 150+): its staff's
    register must not look each one up in turn."""
    crowd = make_crowd()
    add_gaps(crowd, 0, 4)
    housing = client_for(app, crowd.housing_staff)
    assert housing.get("/").status_code == 200

    def measure() -> tuple[int, Any]:
        with counting_queries() as statements:
            response = housing.get("/gaps/")
        assert response.status_code == 200
        return len(statements), response

    on_two, page = measure()
    assert BeautifulSoup(page.text, "html.parser").find(attrs={"role": "status"}).get_text(strip=True) == "4 gaps"
    add_partnerships(crowd, 4)
    db.session.commit()
    on_six, page = measure()
    assert BeautifulSoup(page.text, "html.parser").find(attrs={"role": "status"}).get_text(strip=True) == "4 gaps"
    assert on_six == on_two, f"{on_two} statements on 2 panels, {on_six} on 6"
