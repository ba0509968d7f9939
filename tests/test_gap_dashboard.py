"""The strategic dashboard's figures, checked against a small world counted by hand.

The world is built through the real services, with the clock set for each step (the two clocks of
the app, ``clock.today`` and ``models.base.utcnow``, read one frozen instant the test moves), so
every gap, escalation, meeting, update and action has a known date. "Now" is Wednesday 16 July
2025, 10:00 in Wales (09:00 UTC): the dashboard's twelve months run from August 2024 to July 2025.

Every expected figure below was counted by hand from the fixtures, with the definitions of
``services/dashboard.py``:

- unresolved: open, escalated or in progress; closed: resolved or accepted as a risk;
- months are months in Wales (Europe/London), not UTC; a gap counts as closed in the month of its
  ``closed_at`` (a reopened gap has none);
- waiting: escalated and not yet answered, days = whole days since the escalation;
- needs against provision: distinct young people with a red need now, on open referrals (submitted,
  accepted, active) / every gap logged on the pathway, whatever its status or age;
- attendance: present / invited, over held panels; updates: answered by the panel's start / asked,
  over panels that have started; actions: done on or before the due date / due (past due, or done;
  never cancelled); not acted: "the agency has not acted" recorded at review.

The world
---------
Regions North (partnerships Conwy, Denbighshire) and South (Cardiff). Brokers: ``broker_a`` of
Conwy; ``broker_bc`` of Denbighshire *and* Cardiff (across regions). Strategic leads: ``lead_north``,
``lead_south``. Agencies: Conwy YOT (Conwy), Denbighshire YOT (Denbighshire), North Wales Housing
(Conwy and Denbighshire), North Wales Health (Conwy), Cardiff YOT and Cardiff Housing (Cardiff).

Referrals (referred on; needs; status now):
  rA1 2025-01-06 YP1 accommodation red, ETE amber, health red; active; shared with housing and health
  rA2 2025-02-17 YP2 accommodation red, families green; accepted, active once panel mA1 was held
  rA3 2025-06-02 YP1 again (a re-referral) accommodation red; submitted
  rA4 2025-01-20 YP4 accommodation red; closed
  rA5 2025-03-03 YP5 substance misuse red, accommodation amber; active
  rB1 2025-01-02 YP6 ETE red, accommodation red; active; shared with housing
  rB2 2025-01-10 YP7 ETE red; submitted
  rB3 2025-01-27 YP8 ETE amber, finance red, re-rated amber on 2025-05-01; accepted
  rC1 2025-02-24 YP9 accommodation red, health red; active; shared with Cardiff Housing
  rC2 2025-03-31 YP10 accommodation red; accepted
  rC3 2025-01-13 YP11 accommodation red; closed

Gaps (pathway, severity; logged; escalated; answered; status now; evidence):
  gA1 accommodation critical; 2025-03-10 by housing; 2025-06-05 08:00 UTC; -; escalated; rA1 (housing),
      rA2 (added by Conwy YOT on 2025-04-01)
  gA2 health high; 2025-05-20; 2025-06-20; in progress 2025-06-25 (Head of CAMHS, 2025-09-30); rA1
  gA3 accommodation medium; 2024-11-04; 2024-11-10; resolved 2025-02-14
  gA4 substance misuse medium; 2025-07-01; -; -; open; rA5
  gA5 accommodation low; 2024-06-15 (before the window); 2024-06-20; accepted 2024-09-03
  gA6 families low; 2025-04-30 23:30 UTC (= 1 May 00:30 in Wales); 2025-05-02; resolved 2025-05-10;
      reopened 2025-06-01: open
  gA7 accommodation medium; 2025-07-14 by housing; -; -; open; rA2
  gB1 ETE high; 2025-01-15 by Denbighshire YOT; 2025-07-06 08:00 UTC; -; escalated; rB1, rB2
  gB2 finance medium; 2025-02-03; 2025-02-10; accepted 2025-04-22; rB3
  gB3 ETE low; 2025-07-10; -; -; open
  gB4 accommodation high; 2024-07-31 23:30 UTC (= 1 August 00:30 in Wales); 2024-08-05;
      resolved 2025-06-30 23:30 UTC (= 1 July 00:30 in Wales)
  gC1 accommodation critical; 2025-04-02; 2025-04-07 08:00 UTC; -; escalated; rC1, rC2
  gC2 health high; 2025-06-11 by Cardiff YOT; 2025-06-12; in progress 2025-06-13; rC1
  gC3 accommodation medium; 2025-03-03; 2025-03-05; resolved 2025-05-20

Panels (10:00 in Wales; invited; attendance; agenda -> update requests and when answered):
  mA1 2025-05-13 held; Conwy YOT present, housing present, health apologies;
      rA1: Conwy YOT 05-08, housing 05-12, health never; rA2: Conwy YOT 05-09, housing 10:30 on the day (late)
  mA2 2025-06-10 held; invited Conwy YOT and housing only: YOT present, housing absent;
      rA1: Conwy YOT 06-05, housing never, health (asked, not invited) 06-06
  mA3 2025-07-22 scheduled (future): rA5: Conwy YOT 07-15 (not counted: the panel has not started)
  mB1 2025-06-17 held; Denbighshire YOT present, housing: nothing recorded;
      rB1: Denbighshire YOT 06-13, housing 09:45 on the day (before the start)
  mC1 2025-06-03 held; Cardiff YOT present, Cardiff Housing absent; rC1: Cardiff YOT 05-30, Cardiff
      Housing never

Actions (referral, agency; due; what happened):
  a1 rA1 housing; 06-30; done 06-28 (on time)          a2 rA1 health; 06-15; done 06-20 (late)
  a3 rA2 housing; 06-01; not done: agency has not acted a4 rA2 Conwy YOT; 07-01; not done: change of
                                                         circumstances
  a5 rA1 Conwy YOT; 08-01; open (not yet due)           a6 rA5 Conwy YOT; 08-15; done 07-10 (early)
  a7 rA2 housing; 06-10; cancelled 06-05                a8 rA1 housing; 05-20; done 05-20 18:00 (on the day)
  a9 rA5 Conwy YOT; 06-01; done 05-30
  b1 rB1 Denbighshire YOT; 07-01; done 07-01            b2 rB1 housing; 07-05; not done: agency has not acted
  b3 rB1 Denbighshire YOT; 07-15; in progress
  c1 rC1 Cardiff Housing; 06-20; done 06-25 (late)      c2 rC1 Cardiff YOT; 06-10; not done: agency has not acted
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bs4 import BeautifulSoup
from flask import Flask, current_app
from flask.testing import FlaskClient
from pypdf import PdfReader

import panel_app.models.base as model_base
import panel_app.clock as app_clock  # the one clock: services.clock and policy read it
from panel_app.models import (
    Action,
    ActionStatus,
    Agency,
    AgendaKind,
    AttendanceStatus,
    GapSeverity,
    GapStatus,
    NeedRating,
    NotDoneReason,
    PanelMeeting,
    Partnership,
    Referral,
    Role,
    ServiceGap,
    User,
    db,
)
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services import dashboard as dashboard_service
from panel_app.services import gaps as gap_service
from panel_app.services import meetings as meeting_service
from panel_app.services import referrals as referral_service
from tests.conftest import FreshDatabases, app_with_its_own_database, sign_in
from tests.factories import make_agency, make_partnership, make_referral, make_region, make_user

WALES = ZoneInfo("Europe/London")
NOW = datetime(2025, 7, 16, 9, 0, tzinfo=UTC)  # 10:00 in Wales

PATHWAYS = ["Accommodation", "ETE", "Health", "Substance misuse", "Families", "Finance", "Transitions"]


# --- A clock the test sets ----------------------------------------------------------------------


class Clock:
    """The one instant both of the app's clocks read."""

    def __init__(self) -> None:
        self.moment = NOW

    def wales(self, year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> None:
        self.moment = datetime(year, month, day, hour, minute, tzinfo=WALES).astimezone(UTC)

    def utc(self, year: int, month: int, day: int, hour: int, minute: int = 0) -> None:
        self.moment = datetime(year, month, day, hour, minute, tzinfo=UTC)

    def now(self) -> None:
        self.moment = NOW


def freeze(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Make the app's two clocks (``clock.today`` and ``models.base.utcnow``) read the returned Clock."""
    the_clock = Clock()

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return the_clock.moment.astimezone(tz) if tz is not None else the_clock.moment.replace(tzinfo=None)

    monkeypatch.setattr(app_clock, "datetime", Frozen)
    monkeypatch.setattr(model_base, "datetime", Frozen)
    return the_clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    yield freeze(monkeypatch)


def test_the_frozen_clock_is_what_the_app_reads(clock: Clock) -> None:
    assert app_clock.today() == date(2025, 7, 16)
    assert model_base.utcnow() == NOW
    clock.utc(2025, 4, 30, 23, 30)
    assert app_clock.today() == date(2025, 5, 1)


# --- The world ----------------------------------------------------------------------------------


@dataclass
class World:
    conwy: Partnership
    denbigh: Partnership
    cardiff: Partnership
    broker_a: User
    broker_bc: User
    lead_north: User
    lead_south: User
    agencies: dict[str, Agency]
    staff: dict[str, User]
    referrals: dict[str, Referral] = field(default_factory=dict)
    gaps: dict[str, ServiceGap] = field(default_factory=dict)
    meetings: dict[str, PanelMeeting] = field(default_factory=dict)
    actions: dict[str, Action] = field(default_factory=dict)


def _details(name: str, family: str) -> referral_service.YoungPersonDetails:
    return referral_service.YoungPersonDetails(name, family, date(2009, 5, 17))


def build_world(clock: Clock) -> World:
    north, south = make_region(name="North Wales"), make_region(name="South Wales")
    agencies = {
        "yot_a": make_agency(name="Conwy YOT", type="yot", contact_email="yot@conwy.example"),
        "yot_b": make_agency(name="Denbighshire YOT", type="yot", contact_email="yot@denbighshire.example"),
        "yot_c": make_agency(name="Cardiff YOT", type="yot", contact_email="yot@cardiff.example"),
        "housing_n": make_agency(name="North Wales Housing", type="housing", contact_email="housing@north.example"),
        "health_n": make_agency(name="North Wales Health", type="health", contact_email="health@north.example"),
        "housing_c": make_agency(name="Cardiff Housing", type="housing", contact_email="housing@cardiff.example"),
    }
    broker_a, broker_bc = make_user(Role.BROKER, name="Broker Conwy"), make_user(Role.BROKER, name="Broker BC")
    conwy = make_partnership(name="Conwy", area="Conwy", region=north, brokers=[broker_a],
                             agencies=[agencies["yot_a"], agencies["housing_n"], agencies["health_n"]])
    denbigh = make_partnership(name="Denbighshire", area="Denbighshire", region=north, brokers=[broker_bc],
                               agencies=[agencies["yot_b"], agencies["housing_n"]])
    cardiff = make_partnership(name="Cardiff", area="Cardiff", region=south, brokers=[broker_bc],
                               agencies=[agencies["yot_c"], agencies["housing_c"]])
    staff = {key: make_user(Role.AGENCY_STAFF, agency=agency, name=f"Worker of {agency.name}")
             for key, agency in agencies.items()}
    world = World(conwy, denbigh, cardiff, broker_a, broker_bc,
                  make_user(Role.STRATEGIC_LEAD, region=north, name="Lead North"),
                  make_user(Role.STRATEGIC_LEAD, region=south, name="Lead South"), agencies, staff)
    _refer(world, clock)
    _log_gaps(world, clock)
    _hold_panels(world, clock)
    _agree_actions(world, clock)
    clock.now()
    db.session.commit()
    return world


def _refer(world: World, clock: Clock) -> None:
    a, R = world.agencies, NeedRating.RED
    plan = [
        # key, day, partnership, referrer, broker, young person, status, needs, shared with
        ("rA1", (2025, 1, 6), world.conwy, "yot_a", world.broker_a, ("Aled", "Jones"), "active",
         {Pathway.ACCOMMODATION: R, Pathway.ETE: NeedRating.AMBER, Pathway.HEALTH: R}, ["housing_n", "health_n"]),
        ("rA2", (2025, 2, 17), world.conwy, "yot_a", world.broker_a, ("Bethan", "Hughes"), "accepted",
         {Pathway.ACCOMMODATION: R, Pathway.FAMILIES: NeedRating.GREEN}, ["housing_n"]),
        ("rA3", (2025, 6, 2), world.conwy, "yot_a", world.broker_a, ("Aled", "Jones"), "submitted",
         {Pathway.ACCOMMODATION: R}, []),
        ("rA4", (2025, 1, 20), world.conwy, "yot_a", world.broker_a, ("Cai", "Evans"), "closed",
         {Pathway.ACCOMMODATION: R}, []),
        ("rA5", (2025, 3, 3), world.conwy, "yot_a", world.broker_a, ("Dylan", "Roberts"), "active",
         {Pathway.SUBSTANCE_MISUSE: R, Pathway.ACCOMMODATION: NeedRating.AMBER}, []),
        ("rB1", (2025, 1, 2), world.denbigh, "yot_b", world.broker_bc, ("Efa", "Lloyd"), "active",
         {Pathway.ETE: R, Pathway.ACCOMMODATION: R}, ["housing_n"]),
        ("rB2", (2025, 1, 10), world.denbigh, "yot_b", world.broker_bc, ("Ffion", "Morgan"), "submitted",
         {Pathway.ETE: R}, []),
        ("rB3", (2025, 1, 27), world.denbigh, "yot_b", world.broker_bc, ("Gethin", "Price"), "accepted",
         {Pathway.ETE: NeedRating.AMBER, Pathway.FINANCE: R}, []),
        ("rC1", (2025, 2, 24), world.cardiff, "yot_c", world.broker_bc, ("Huw", "Thomas"), "active",
         {Pathway.ACCOMMODATION: R, Pathway.HEALTH: R}, ["housing_c"]),
        ("rC2", (2025, 3, 31), world.cardiff, "yot_c", world.broker_bc, ("Iolo", "Davies"), "accepted",
         {Pathway.ACCOMMODATION: R}, []),
        ("rC3", (2025, 1, 13), world.cardiff, "yot_c", world.broker_bc, ("Jac", "Owen"), "closed",
         {Pathway.ACCOMMODATION: R}, []),
    ]
    for key, day, partnership, referrer, broker, (given, family), status, needs, shared in plan:
        clock.wales(*day)
        world.referrals[key] = make_referral(
            partnership=partnership, referrer=world.staff[referrer], broker=broker, status=status,
            young_person=_details(given, family), needs={p: (r, None) for p, r in needs.items()},
            shared_with=[(a[s], None) for s in shared])
    # rB3's finance need is re-rated amber.
    clock.wales(2025, 5, 1)
    referral_service.rate_needs(world.broker_bc, world.referrals["rB3"],
                                {Pathway.FINANCE: referral_service.NeedInput(NeedRating.AMBER)})
    db.session.flush()


def _log(world: World, clock: Clock, key: str, when: tuple[int, ...], by: User, partnership: Partnership,
         pathway: Pathway, severity: str, evidence: list[str] = ()) -> ServiceGap:
    (clock.utc if len(when) == 5 else clock.wales)(*when)
    gap = gap_service.log_gap(by, gap_service.NewGap(
        partnership_id=partnership.id, pathway=pathway, title=f"{key}: {partnership.name} {pathway.value} gap",
        description="What is missing.", severity=GapSeverity(severity),
        referral_ids=[world.referrals[r].id for r in evidence]))
    db.session.flush()
    world.gaps[key] = gap
    return gap


def _escalate(world: World, clock: Clock, key: str, when: tuple[int, ...], by: User) -> None:
    (clock.utc if len(when) == 5 else clock.wales)(*when)
    gap_service.escalate(by, world.gaps[key], "Please act on this.")
    db.session.flush()


def _respond(world: World, clock: Clock, key: str, when: tuple[int, ...], lead: User, status: GapStatus,
             owner: str | None = None, target: date | None = None) -> None:
    (clock.utc if len(when) == 5 else clock.wales)(*when)
    gap_service.respond(lead, world.gaps[key], "Our answer.", status, owner, target)
    db.session.flush()


def _log_gaps(world: World, clock: Clock) -> None:
    s, ACC = world.staff, Pathway.ACCOMMODATION
    north, south = world.lead_north, world.lead_south
    # Conwy
    _log(world, clock, "gA1", (2025, 3, 10), s["housing_n"], world.conwy, ACC, "critical", ["rA1"])
    clock.wales(2025, 4, 1)
    gap_service.add_evidence(s["yot_a"], world.gaps["gA1"], world.referrals["rA2"].id)
    _escalate(world, clock, "gA1", (2025, 6, 5, 8, 0), world.broker_a)
    _log(world, clock, "gA2", (2025, 5, 20), world.broker_a, world.conwy, Pathway.HEALTH, "high", ["rA1"])
    _escalate(world, clock, "gA2", (2025, 6, 20), world.broker_a)
    _respond(world, clock, "gA2", (2025, 6, 25), north, GapStatus.IN_PROGRESS, "Head of CAMHS", date(2025, 9, 30))
    _log(world, clock, "gA3", (2024, 11, 4), world.broker_a, world.conwy, ACC, "medium")
    _escalate(world, clock, "gA3", (2024, 11, 10), world.broker_a)
    _respond(world, clock, "gA3", (2025, 2, 14), north, GapStatus.RESOLVED)
    _log(world, clock, "gA4", (2025, 7, 1), world.broker_a, world.conwy, Pathway.SUBSTANCE_MISUSE, "medium", ["rA5"])
    _log(world, clock, "gA5", (2024, 6, 15), world.broker_a, world.conwy, ACC, "low")
    _escalate(world, clock, "gA5", (2024, 6, 20), world.broker_a)
    _respond(world, clock, "gA5", (2024, 9, 3), north, GapStatus.ACCEPTED)
    _log(world, clock, "gA6", (2025, 4, 30, 23, 30), world.broker_a, world.conwy, Pathway.FAMILIES, "low")
    _escalate(world, clock, "gA6", (2025, 5, 2), world.broker_a)
    _respond(world, clock, "gA6", (2025, 5, 10), north, GapStatus.RESOLVED)
    clock.wales(2025, 6, 1)
    gap_service.reopen(world.broker_a, world.gaps["gA6"], "It is back.")
    _log(world, clock, "gA7", (2025, 7, 14), s["housing_n"], world.conwy, ACC, "medium", ["rA2"])
    # Denbighshire
    _log(world, clock, "gB1", (2025, 1, 15), s["yot_b"], world.denbigh, Pathway.ETE, "high", ["rB1", "rB2"])
    _escalate(world, clock, "gB1", (2025, 7, 6, 8, 0), world.broker_bc)
    _log(world, clock, "gB2", (2025, 2, 3), world.broker_bc, world.denbigh, Pathway.FINANCE, "medium", ["rB3"])
    _escalate(world, clock, "gB2", (2025, 2, 10), world.broker_bc)
    _respond(world, clock, "gB2", (2025, 4, 22), north, GapStatus.ACCEPTED)
    _log(world, clock, "gB3", (2025, 7, 10), world.broker_bc, world.denbigh, Pathway.ETE, "low")
    _log(world, clock, "gB4", (2024, 7, 31, 23, 30), world.broker_bc, world.denbigh, ACC, "high")
    _escalate(world, clock, "gB4", (2024, 8, 5), world.broker_bc)
    _respond(world, clock, "gB4", (2025, 6, 30, 23, 30), north, GapStatus.RESOLVED)
    # Cardiff
    _log(world, clock, "gC1", (2025, 4, 2), world.broker_bc, world.cardiff, ACC, "critical", ["rC1", "rC2"])
    _escalate(world, clock, "gC1", (2025, 4, 7, 8, 0), world.broker_bc)
    _log(world, clock, "gC2", (2025, 6, 11), s["yot_c"], world.cardiff, Pathway.HEALTH, "high", ["rC1"])
    _escalate(world, clock, "gC2", (2025, 6, 12), world.broker_bc)
    _respond(world, clock, "gC2", (2025, 6, 13), south, GapStatus.IN_PROGRESS, "Cardiff CAMHS lead",
             date(2025, 10, 31))
    _log(world, clock, "gC3", (2025, 3, 3), world.broker_bc, world.cardiff, ACC, "medium")
    _escalate(world, clock, "gC3", (2025, 3, 5), world.broker_bc)
    _respond(world, clock, "gC3", (2025, 5, 20), south, GapStatus.RESOLVED)


def _schedule(world: World, clock: Clock, key: str, day: tuple[int, int, int], broker: User,
              partnership: Partnership, agenda: list[str], invited: list[str] | None = None) -> PanelMeeting:
    start = datetime(*day, 10, 0, tzinfo=WALES)
    clock.moment = (start - timedelta(days=14)).astimezone(UTC)
    meeting = meeting_service.schedule(broker, partnership.id, meeting_service.MeetingDetails(
        start, start + timedelta(hours=2), location="Council Chamber",
        invited_agency_ids=[world.agencies[k].id for k in invited] if invited is not None else None))
    for referral in agenda:
        meeting_service.add_to_agenda(broker, meeting, world.referrals[referral].id, AgendaKind.REVIEW, 20)
    clock.moment = (start - timedelta(days=10)).astimezone(UTC)
    meeting_service.request_updates(broker, meeting, start.date() - timedelta(days=1))
    db.session.flush()
    world.meetings[key] = meeting
    return meeting


def _answer(world: World, clock: Clock, meeting: str, referral: str, agency: str, when: tuple[int, ...]) -> None:
    clock.wales(*when)
    item = next(i for i in world.meetings[meeting].items if i.referral_id == world.referrals[referral].id)
    request = next(r for r in item.update_requests if r.agency_id == world.agencies[agency].id)
    meeting_service.send_update(world.staff[agency], request, f"Update from {agency}")
    db.session.flush()


def _held(world: World, clock: Clock, meeting: str, broker: User,
          attendance: dict[str, AttendanceStatus]) -> None:
    panel = world.meetings[meeting]
    clock.moment = panel.starts_at + timedelta(hours=2, minutes=30)
    meeting_service.record_attendance(broker, panel, {world.agencies[k].id: (status, None)
                                                      for k, status in attendance.items()})
    meeting_service.mark_held(broker, panel)
    db.session.flush()


def _hold_panels(world: World, clock: Clock) -> None:
    P, A, X = AttendanceStatus.PRESENT, AttendanceStatus.APOLOGIES, AttendanceStatus.ABSENT
    _schedule(world, clock, "mA1", (2025, 5, 13), world.broker_a, world.conwy, ["rA1", "rA2"])
    _answer(world, clock, "mA1", "rA1", "yot_a", (2025, 5, 8))
    _answer(world, clock, "mA1", "rA2", "yot_a", (2025, 5, 9))
    _answer(world, clock, "mA1", "rA1", "housing_n", (2025, 5, 12))
    _answer(world, clock, "mA1", "rA2", "housing_n", (2025, 5, 13, 10, 30))  # after the panel began
    _held(world, clock, "mA1", world.broker_a, {"yot_a": P, "housing_n": P, "health_n": A})

    _schedule(world, clock, "mA2", (2025, 6, 10), world.broker_a, world.conwy, ["rA1"], invited=["yot_a", "housing_n"])
    _answer(world, clock, "mA2", "rA1", "yot_a", (2025, 6, 5))
    _answer(world, clock, "mA2", "rA1", "health_n", (2025, 6, 6))
    _held(world, clock, "mA2", world.broker_a, {"yot_a": P, "housing_n": X})

    _schedule(world, clock, "mA3", (2025, 7, 22), world.broker_a, world.conwy, ["rA5"])
    _answer(world, clock, "mA3", "rA5", "yot_a", (2025, 7, 15))

    _schedule(world, clock, "mB1", (2025, 6, 17), world.broker_bc, world.denbigh, ["rB1"])
    _answer(world, clock, "mB1", "rB1", "yot_b", (2025, 6, 13))
    _answer(world, clock, "mB1", "rB1", "housing_n", (2025, 6, 17, 9, 45))  # a quarter of an hour early
    _held(world, clock, "mB1", world.broker_bc, {"yot_b": P})

    _schedule(world, clock, "mC1", (2025, 6, 3), world.broker_bc, world.cardiff, ["rC1"])
    _answer(world, clock, "mC1", "rC1", "yot_c", (2025, 5, 30))
    _held(world, clock, "mC1", world.broker_bc, {"yot_c": P, "housing_c": X})


def _agree_actions(world: World, clock: Clock) -> None:
    plan = [
        # key, agreed on, referral, agency, pathway, due
        ("a1", (2025, 5, 13), "rA1", "housing_n", Pathway.ACCOMMODATION, date(2025, 6, 30)),
        ("a2", (2025, 5, 13), "rA1", "health_n", Pathway.HEALTH, date(2025, 6, 15)),
        ("a3", (2025, 5, 13), "rA2", "housing_n", Pathway.ACCOMMODATION, date(2025, 6, 1)),
        ("a4", (2025, 5, 13), "rA2", "yot_a", Pathway.FAMILIES, date(2025, 7, 1)),
        ("a5", (2025, 6, 10), "rA1", "yot_a", Pathway.ETE, date(2025, 8, 1)),
        ("a6", (2025, 6, 10), "rA5", "yot_a", Pathway.SUBSTANCE_MISUSE, date(2025, 8, 15)),
        ("a7", (2025, 5, 13), "rA2", "housing_n", Pathway.FINANCE, date(2025, 6, 10)),
        ("a8", (2025, 5, 13), "rA1", "housing_n", Pathway.TRANSITIONS, date(2025, 5, 20)),
        ("a9", (2025, 5, 13), "rA5", "yot_a", Pathway.ACCOMMODATION, date(2025, 6, 1)),
        ("b1", (2025, 6, 17), "rB1", "yot_b", Pathway.ETE, date(2025, 7, 1)),
        ("b2", (2025, 6, 17), "rB1", "housing_n", Pathway.ACCOMMODATION, date(2025, 7, 5)),
        ("b3", (2025, 6, 17), "rB1", "yot_b", Pathway.FAMILIES, date(2025, 7, 15)),
        ("c1", (2025, 6, 3), "rC1", "housing_c", Pathway.ACCOMMODATION, date(2025, 6, 20)),
        ("c2", (2025, 6, 3), "rC1", "yot_c", Pathway.ETE, date(2025, 6, 10)),
    ]
    for key, day, referral, agency, pathway, due in plan:
        clock.wales(*day, 14, 0)
        referral_obj = world.referrals[referral]
        broker = next(iter(referral_obj.partnership.brokers))
        world.actions[key] = action_service.create_action(broker, referral_obj, action_service.NewAction(
            pathway, f"Action {key}", world.agencies[agency].id, due))

    def change(key: str, when: tuple[int, ...], by: User, **change: Any) -> None:
        clock.wales(*when)
        action = world.actions[key]
        action_service.update_action(by, action, action_service.ActionChange(version=action.version, **change))

    def not_done(key: str, when: tuple[int, ...], broker: User, reason: NotDoneReason) -> None:
        clock.wales(*when)
        action = world.actions[key]
        action_service.record_not_done(broker, action, reason, "At review", action.version)
        db.session.flush()

    s, DONE = world.staff, ActionStatus.DONE
    change("a1", (2025, 6, 28), s["housing_n"], status=DONE, outcome="Done")
    change("a2", (2025, 6, 20), s["health_n"], status=DONE, outcome="Done")
    not_done("a3", (2025, 6, 10), world.broker_a, NotDoneReason.AGENCY_HAS_NOT_ACTED)
    not_done("a4", (2025, 7, 2), world.broker_a, NotDoneReason.CHANGE_OF_CIRCUMSTANCES)
    change("a6", (2025, 7, 10), s["yot_a"], status=DONE, outcome="Done")
    change("a7", (2025, 6, 5), world.broker_a, status=ActionStatus.CANCELLED, note="Not needed")
    change("a8", (2025, 5, 20, 18, 0), s["housing_n"], status=DONE, outcome="Done")
    change("a9", (2025, 5, 30), s["yot_a"], status=DONE, outcome="Done")
    change("b1", (2025, 7, 1, 12, 0), s["yot_b"], status=DONE, outcome="Done")
    not_done("b2", (2025, 7, 8), world.broker_bc, NotDoneReason.AGENCY_HAS_NOT_ACTED)
    change("b3", (2025, 7, 1), s["yot_b"], status=ActionStatus.IN_PROGRESS, note="Started")
    change("c1", (2025, 6, 25), s["housing_c"], status=DONE, outcome="Done")
    not_done("c2", (2025, 6, 12), world.broker_bc, NotDoneReason.AGENCY_HAS_NOT_ACTED)


@dataclass(frozen=True)
class Facts:
    """What the tests need to know of the world once it is stored: who is who, and the gaps' titles."""

    users: dict[str, tuple[int, str]]  # viewer -> (id, email)
    titles: dict[str, str]  # gap key -> title
    gap_ids: dict[str, int]
    partnerships: dict[int, str]  # id -> name
    areas_of_gaps: dict[str, str]  # gap key -> partnership name

    def email(self, who: str) -> str:
        return self.users[who][1]

    def user(self, who: str) -> User:
        found = db.session.get(User, self.users[who][0])
        assert found is not None
        return found


@pytest.fixture(scope="module")
def dashboard_app(databases: FreshDatabases) -> Iterator[Flask]:
    """The world is built once, in a database of its own, committed for real: the tests only read it."""
    with app_with_its_own_database(databases, "dashboard") as application:
        yield application


@pytest.fixture(scope="module")
def facts(dashboard_app: Flask) -> Facts:
    with pytest.MonkeyPatch.context() as monkeypatch, dashboard_app.app_context():
        world = build_world(freeze(monkeypatch))
        found = Facts(
            users={who: (getattr(world, who).id, getattr(world, who).email) for who in VIEWERS},
            titles={key: gap.title for key, gap in world.gaps.items()},
            gap_ids={key: gap.id for key, gap in world.gaps.items()},
            partnerships={p.id: p.name for p in (world.conwy, world.denbigh, world.cardiff)},
            areas_of_gaps={key: gap.partnership.name for key, gap in world.gaps.items()})
        db.session.remove()
    return found


# --- The figures, counted by hand ---------------------------------------------------------------

# Unresolved gaps per area and pathway, in the order of PATHWAYS.
HEAT = {
    "Conwy": [2, 0, 1, 1, 1, 0, 0],         # gA1 gA7 | gA2 | gA4 | gA6 (reopened)
    "Denbighshire": [0, 2, 0, 0, 0, 0, 0],  # gB1 gB3
    "Cardiff": [1, 0, 1, 0, 0, 0, 0],       # gC1 | gC2
}

# Young people with a red need now (open referrals) / gaps ever logged, per area and pathway.
NEEDS = {
    # accommodation: YP1 (rA1, rA3), YP2 / gA1 gA3 gA5 gA7; health YP1 / gA2; substance YP5 / gA4;
    # families - / gA6
    "Conwy": ["2 / 4", "0 / 0", "1 / 1", "1 / 1", "0 / 1", "0 / 0", "0 / 0"],
    # accommodation YP6 / gB4; ETE YP6 YP7 / gB1 gB3; finance (re-rated amber) / gB2
    "Denbighshire": ["1 / 1", "2 / 2", "0 / 0", "0 / 0", "0 / 0", "0 / 1", "0 / 0"],
    # accommodation YP9 YP10 / gC1 gC3; health YP9 / gC2
    "Cardiff": ["2 / 2", "0 / 0", "1 / 1", "0 / 0", "0 / 0", "0 / 0", "0 / 0"],
}

# Logged and closed per month, August 2024 to July 2025.
MONTHS = ["August 2024", "September 2024", "October 2024", "November 2024", "December 2024", "January 2025",
          "February 2025", "March 2025", "April 2025", "May 2025", "June 2025", "July 2025"]
OVER_TIME = {
    # Conwy and Denbighshire: logged gB4 (1 Aug in Wales), gA3, gB1, gB2, gA1, gA2 + gA6 (1 May in Wales),
    # gA4 + gA7 + gB3; closed gA5, gA3, gB2, gB4 (1 July in Wales). gA5 was logged before the window;
    # gA6 was resolved in May, then reopened.
    "lead_north": [(1, 0), (0, 1), (0, 0), (1, 0), (0, 0), (1, 0), (1, 1), (1, 0), (0, 1), (2, 0), (0, 0), (3, 1)],
    # Denbighshire and Cardiff: logged gB4, gB1, gB2, gC3, gC1, gC2, gB3; closed gB2, gC3, gB4.
    "broker_bc": [(1, 0), (0, 0), (0, 0), (0, 0), (0, 0), (1, 0), (1, 0), (1, 0), (1, 1), (0, 1), (1, 0), (1, 1)],
    # Conwy: logged gA3, gA1, gA2 + gA6, gA4 + gA7; closed gA5, gA3.
    "broker_a": [(0, 0), (0, 1), (0, 0), (1, 0), (0, 0), (0, 0), (0, 1), (1, 0), (0, 0), (2, 0), (0, 0), (2, 0)],
    # Cardiff: logged gC3, gC1, gC2; closed gC3.
    "lead_south": [(0, 0)] * 7 + [(1, 0), (1, 0), (0, 1), (1, 0), (0, 0)],
}

# Unresolved now, and resolved or accepted.
TOTALS = {"lead_north": (7, 4), "broker_bc": (4, 3), "broker_a": (5, 2), "lead_south": (2, 1)}

# Escalations waiting for a response, the longest first: (gap, area, days since escalated).
WAITING = {
    "lead_north": [("gA1", "Conwy", 41), ("gB1", "Denbighshire", 10)],
    "broker_bc": [("gC1", "Cardiff", 100), ("gB1", "Denbighshire", 10)],
    "broker_a": [("gA1", "Conwy", 41)],
    "lead_south": [("gC1", "Cardiff", 100)],
}

# Per agency: (present, invited), (updates in time, asked), (done on time, due), not done because the
# agency did not act.
SCORECARDS = {
    "lead_north": {
        # mA1 mA2 present | mA1 rA1 rA2, mA2 rA1 all in time | a6 a9 on time, a4 not (a5 not yet due)
        "Conwy YOT": ((2, 2), (3, 3), (2, 3), 0),
        # mB1 present | mB1 in time | b1 on time, b3 overdue
        "Denbighshire YOT": ((1, 1), (1, 1), (1, 2), 0),
        # mA1 apologies | mA1 never, mA2 (asked, not invited) in time | a2 late
        "North Wales Health": ((0, 1), (1, 2), (0, 1), 0),
        # mA1 present, mA2 absent, mB1 nothing recorded | mA1 rA1 in time, rA2 late, mA2 never, mB1 in time |
        # a1 a8 on time, a3 b2 not (a7 cancelled) | a3 b2
        "North Wales Housing": ((1, 3), (2, 4), (2, 4), 2),
    },
    "broker_bc": {
        "Cardiff Housing": ((0, 1), (0, 1), (0, 1), 0),     # mC1 absent | never | c1 late
        "Cardiff YOT": ((1, 1), (1, 1), (0, 1), 1),         # mC1 present | in time | c2 not acted
        "Denbighshire YOT": ((1, 1), (1, 1), (1, 2), 0),
        "North Wales Housing": ((0, 1), (1, 1), (0, 1), 1),  # only Denbighshire's panel and actions: mB1, b2
    },
    "broker_a": {
        "Conwy YOT": ((2, 2), (3, 3), (2, 3), 0),
        "North Wales Health": ((0, 1), (1, 2), (0, 1), 0),
        "North Wales Housing": ((1, 2), (1, 3), (2, 3), 1),  # Conwy only: mA1 mA2 | mA1 x2, mA2 | a1 a8, a3
    },
    "lead_south": {
        "Cardiff Housing": ((0, 1), (0, 1), (0, 1), 0),
        "Cardiff YOT": ((1, 1), (1, 1), (0, 1), 1),
    },
}

AREAS = {"lead_north": ["Conwy", "Denbighshire"], "broker_bc": ["Cardiff", "Denbighshire"],
         "broker_a": ["Conwy"], "lead_south": ["Cardiff"]}
OUT_OF_SCOPE = {
    "lead_north": ["Cardiff"],
    "broker_bc": ["Conwy", "North Wales Health"],
    "broker_a": ["Denbighshire", "Cardiff"],
    "lead_south": ["Conwy", "Denbighshire", "North Wales"],
}
VIEWERS = list(AREAS)


def percent(part: int, whole: int) -> str:
    return "–" if whole == 0 else f"{round(100 * part / whole)}% ({part}/{whole})"


def test_the_percentages_written_out() -> None:
    # The page writes a share as a rounded percentage with the figures beside it.
    assert percent(1, 3) == "33% (1/3)" and percent(2, 3) == "67% (2/3)" and percent(0, 0) == "–"


# --- In the service's result --------------------------------------------------------------------


def service_figures(facts: Facts, data: dashboard_service.Dashboard) -> dict[str, Any]:
    """The service's result in the shape of the tables above."""
    names = facts.partnerships
    areas = [p.name for p in data.partnerships]
    titles = {title: key for key, title in facts.titles.items()}
    return {
        "areas": areas,
        "heat": {area: [data.heat.get((pid, pathway), 0) for pathway in Pathway]
                 for pid, area in names.items() if area in areas},
        "needs": {area: [f"{data.red_needs.get((pid, pathway), 0)} / {data.gaps_logged.get((pid, pathway), 0)}"
                         for pathway in Pathway] for pid, area in names.items() if area in areas},
        "months": [month.strftime("%B %Y") for month, _logged, _closed in data.over_time],
        "over_time": [(logged, closed) for _month, logged, closed in data.over_time],
        "totals": (data.open_now, data.resolved_total),
        "waiting": [(titles[w.title], w.partnership, w.days) for w in data.waiting],
        "scorecards": {card.agency.name: ((card.meetings_present, card.meetings_invited),
                                          (card.updates_sent_in_time, card.updates_requested),
                                          (card.actions_done_on_time, card.actions_due), card.actions_not_acted)
                       for card in data.scorecards},
        "scorecard_order": [card.agency.name for card in data.scorecards],
        # Every key the service counted, whatever its value: none may name a partnership outside scope.
        "keyed_areas": {names.get(pid, f"partnership {pid}") for pid, _pathway in
                        [*data.heat, *data.red_needs, *data.gaps_logged]},
    }


def test_the_dashboard_service_gives_the_hand_counted_figures(dashboard_app: Flask, facts: Facts,
                                                              clock: Clock) -> None:
    for who in VIEWERS:
        with dashboard_app.test_request_context():
            found = service_figures(facts, dashboard_service.dashboard(facts.user(who)))
            db.session.rollback()
        assert found["areas"] == AREAS[who], who
        assert found["heat"] == {area: HEAT[area] for area in AREAS[who]}, who
        assert found["needs"] == {area: NEEDS[area] for area in AREAS[who]}, who
        assert found["months"] == MONTHS, who
        assert found["over_time"] == OVER_TIME[who], who
        assert found["totals"] == TOTALS[who], who
        assert found["waiting"] == WAITING[who], who
        assert found["scorecards"] == SCORECARDS[who], who
        assert found["scorecard_order"] == sorted(SCORECARDS[who]), who
        assert found["keyed_areas"] <= set(AREAS[who]), who


# --- On the page --------------------------------------------------------------------------------


def client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def _tables(soup: BeautifulSoup, caption: str) -> Any:
    for table in soup.find_all("table"):
        found = table.find("caption")
        if found is not None and found.get_text(" ", strip=True).startswith(caption):
            return table
    raise AssertionError(f"no table captioned {caption!r}")


def table_by_caption(soup: BeautifulSoup, caption: str) -> list[list[str]]:
    """A table's body rows, each as its cells' text (the row header first), found by its caption."""
    return [[" ".join(cell.get_text(" ", strip=True).split()) for cell in row.find_all(["th", "td"])]
            for row in _tables(soup, caption).find("tbody").find_all("tr")]


def header_of(soup: BeautifulSoup, caption: str) -> list[str]:
    return [cell.get_text(" ", strip=True) for cell in _tables(soup, caption).find("thead").find_all("th")]


def expected_tables(facts: Facts, who: str) -> dict[str, list[list[str]]]:
    """Each data table of the dashboard as it must read, from the hand-counted figures."""
    titles = facts.titles
    waiting = [[titles[key], area, str(days)] for key, area, days in WAITING[who]] or [
        ["None: every escalation has had a response."]]
    return {
        "Unresolved gaps by area and pathway": [[area, *map(str, HEAT[area])] for area in AREAS[who]],
        "Gaps logged and closed, by month": [[month, str(a), str(b)] for month, (a, b) in zip(MONTHS, OVER_TIME[who])],
        "Escalations waiting for a response": waiting,
        "Needs against provision": [[area, *NEEDS[area]] for area in AREAS[who]],
        "Partner accountability scorecard": [
            [name, percent(*attended), percent(*updates), percent(*actions), str(not_acted)]
            for name, (attended, updates, actions, not_acted) in sorted(SCORECARDS[who].items())],
    }


def test_the_dashboard_page_tables_show_the_hand_counted_figures(dashboard_app: Flask, facts: Facts,
                                                                 clock: Clock) -> None:
    for who in VIEWERS:
        response = client_for(dashboard_app, facts.email(who)).get("/gaps/dashboard")
        assert response.status_code == 200, who
        soup = BeautifulSoup(response.text, "html.parser")
        for caption, rows in expected_tables(facts, who).items():
            assert table_by_caption(soup, caption) == rows, (who, caption)
        assert header_of(soup, "Unresolved gaps by area and pathway") == ["Area", *PATHWAYS]
        assert header_of(soup, "Needs against provision") == ["Area", *PATHWAYS]
        # The three figures at the top.
        cards = [" ".join(card.get_text(" ", strip=True).split()) for card in soup.find_all(class_="app-card")]
        unresolved, resolved = TOTALS[who]
        waiting = len(WAITING[who])
        assert cards == [f"{unresolved} gaps unresolved",
                         f"{waiting} escalation{'s' if waiting != 1 else ''} waiting",
                         f"{resolved} resolved or accepted"], who
        # Each chart is an SVG image with words for those who cannot see it.
        charts = soup.find_all("img", src=re.compile(r"^data:image/svg\+xml;base64,"))
        assert len(charts) == 4 and all(img.get("alt") for img in charts), who
        # Nothing of a partnership outside the viewer's scope, anywhere on the page.
        text = soup.get_text(" ")
        for word in outside_words(facts, who):
            assert word not in text, (who, word)


def outside_words(facts: Facts, who: str) -> list[str]:
    """Names that only a figure from outside the viewer's scope could bring onto a page."""
    return OUT_OF_SCOPE[who] + [title for key, title in facts.titles.items()
                                if facts.areas_of_gaps[key] not in AREAS[who]]


# --- In the PDF ---------------------------------------------------------------------------------

_RUNNING_HEAD = re.compile(r"Service gaps report, 16 July 2025 Official – sensitive Page \d+ / \d+ ?")


def pdf_text(data: bytes) -> str:
    """The PDF's text, its words separated by single spaces, without the running heads and feet."""
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
    return _RUNNING_HEAD.sub("", text)


# The heat map chart's own words (an SVG drawn into the PDF, its text extractable like the rest): the
# same figures as the table, so they are taken out before the table is looked for.
_HEAT_CHART = re.compile(r"Unresolved service gaps by area and pathway Accommodation ETE Health Substancemisuse "
                         r"Families Finance Transitions(?: (?:Conwy|Denbighshire|Cardiff)(?: \d+){7})*")

# The report's sections, in order: each holds one chart and one table.
PDF_SECTIONS = ["Where the gaps are", "Over time", "Waiting for a response", "Needs against provision",
                "Partner accountability", "The register"]


def pdf_tables(text: str) -> list[str]:
    """The text of each section that holds a table, found in order."""
    positions, at = [], 0
    for heading in PDF_SECTIONS:
        at = text.index(heading, at)
        positions.append(at)
    return [text[start:end] + " " for start, end in zip(positions, positions[1:])]


def rows_in_order(region: str, rows: list[list[str]]) -> list[str]:
    """The expected rows found, in order, in a section (a page break may put a repeated header or a
    chart's words between two rows, never inside one)."""
    found, position = [], 0
    for row in rows:
        line = " ".join(row)
        at = region.find(" " + line + " ", position)
        if at < 0:
            break
        found.append(line)
        position = at + len(line) + 1
    return found


@pytest.mark.parametrize("who", ["lead_north", "broker_bc"])
def test_the_report_pdf_shows_the_hand_counted_figures_and_nothing_from_outside(dashboard_app: Flask, facts: Facts,
                                                                                clock: Clock, who: str) -> None:
    response = client_for(dashboard_app, facts.email(who)).get("/gaps/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf", who
    text = pdf_text(response.data)
    unresolved, resolved = TOTALS[who]
    assert (f"{unresolved} gaps unresolved, {len(WAITING[who])} escalations waiting for a response, "
            f"{resolved} resolved or accepted as a risk.") in text, who
    sections = pdf_tables(_HEAT_CHART.sub(" ", text))
    for region, (caption, rows) in zip(sections, expected_tables(facts, who).items()):
        assert caption in region, (who, caption)
        assert rows_in_order(region, rows) == [" ".join(row) for row in rows], (who, caption, region)
    for word in outside_words(facts, who):
        assert word not in text, (who, word)
    for key, title in facts.titles.items():
        if facts.areas_of_gaps[key] in AREAS[who]:
            assert title in text, (who, title)


# --- In the CSV ---------------------------------------------------------------------------------

CSV_HEADER = ["id", "partnership", "pathway", "title", "severity", "status", "logged on", "escalated on",
              "young people affected", "longest wait (days)", "agencies raising it", "owner", "target date"]

# Lead North's register, in its order (unresolved first, the most severe first, the oldest first):
# partnership, pathway, severity, status, logged on, escalated on, young people, longest wait, agencies
# raising it, owner, target. Waits run to today (16 July 2025) or to the day the gap closed, from the
# earliest "waiting since" (the date the referral was made).
REGISTER_NORTH = [
    # rA1 (6 Jan) and rA2: 191 days; raised by housing (logged, rA1) and Conwy YOT (rA2)
    ("gA1", "Conwy", "Accommodation", "critical", "escalated", "2025-03-10", "2025-06-05", 2, 191, 2, "", ""),
    # rB1 (2 Jan) and rB2: 195 days; Denbighshire YOT
    ("gB1", "Denbighshire", "Education, Training & Employment", "high", "escalated", "2025-01-15", "2025-07-06",
     2, 195, 1, "", ""),
    # rA1: 191 days; logged by the broker, who is no agency
    ("gA2", "Conwy", "Health", "high", "in_progress", "2025-05-20", "2025-06-20", 1, 191, 0, "Head of CAMHS",
     "2025-09-30"),
    # rA5 (3 March): 135 days
    ("gA4", "Conwy", "Substance misuse", "medium", "open", "2025-07-01", "", 1, 135, 0, "", ""),
    # rA2 (17 February): 149 days; housing
    ("gA7", "Conwy", "Accommodation", "medium", "open", "2025-07-14", "", 1, 149, 1, "", ""),
    # logged 1 May 00:30 in Wales; reopened, so no longer escalated
    ("gA6", "Conwy", "Families", "low", "open", "2025-05-01", "", 0, 0, 0, "", ""),
    ("gB3", "Denbighshire", "Education, Training & Employment", "low", "open", "2025-07-10", "", 0, 0, 0, "", ""),
    # logged 1 August 2024 00:30 in Wales
    ("gB4", "Denbighshire", "Accommodation", "high", "resolved", "2024-08-01", "2024-08-05", 0, 0, 0, "", ""),
    ("gA3", "Conwy", "Accommodation", "medium", "resolved", "2024-11-04", "2024-11-10", 0, 0, 0, "", ""),
    # rB3 (27 January) to the day it was accepted as a risk (22 April): 85 days
    ("gB2", "Denbighshire", "Finance, Benefits & Debt", "medium", "accepted", "2025-02-03", "2025-02-10", 1, 85, 0,
     "", ""),
    ("gA5", "Conwy", "Accommodation", "low", "accepted", "2024-06-15", "2024-06-20", 0, 0, 0, "", ""),
]
# The two gaps logged just after midnight in Wales (still the day before in UTC): their "logged on" is
# checked on its own, below.
AFTER_MIDNIGHT = {"gA6", "gB4"}


def read_csv(app: Flask, email: str) -> list[list[str]]:
    response = client_for(app, email).get("/gaps/register.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def key_of(row: list[str]) -> str:
    return row[3].split(":")[0]


def test_the_register_csv_gives_each_gaps_hand_counted_evidence(dashboard_app: Flask, facts: Facts,
                                                               clock: Clock) -> None:
    rows = read_csv(dashboard_app, facts.email("lead_north"))
    assert rows[0] == CSV_HEADER
    found = [[*row[:6], "-" if key_of(row) in AFTER_MIDNIGHT else row[6], *row[7:]] for row in rows[1:]]
    expected = [[str(facts.gap_ids[key]), area, pathway, facts.titles[key], severity, status,
                 "-" if key in AFTER_MIDNIGHT else logged, escalated, str(people), str(wait), str(agencies), owner,
                 target]
                for key, area, pathway, severity, status, logged, escalated, people, wait, agencies, owner, target
                in REGISTER_NORTH]
    assert found == expected
    # The heat map's figures are the register's unresolved gaps counted per area and pathway.
    counted: dict[tuple[str, str], int] = {}
    for row in rows[1:]:
        if row[5] in ("open", "escalated", "in_progress"):
            counted[(row[1], row[2])] = counted.get((row[1], row[2]), 0) + 1
    labels = dict(zip(PATHWAYS, [p.label for p in Pathway]))
    assert counted == {(area, labels[name]): n for area in AREAS["lead_north"]
                       for name, n in zip(PATHWAYS, HEAT[area]) if n}

    # The others see their own partnerships' gaps only. gC1: rC1 (24 February) and rC2, 142 days, raised by
    # no agency (the broker logged it with both); gC2: rC1, raised by Cardiff YOT; gC3 has no evidence.
    for who, keys in (("broker_bc", ["gB1", "gB2", "gB3", "gB4", "gC1", "gC2", "gC3"]),
                      ("broker_a", ["gA1", "gA2", "gA3", "gA4", "gA5", "gA6", "gA7"]),
                      ("lead_south", ["gC1", "gC2", "gC3"])):
        rows = read_csv(dashboard_app, facts.email(who))[1:]
        assert sorted(key_of(row) for row in rows) == keys, who
        by_key = {key_of(row): row for row in rows}
        if "gC1" in by_key:
            assert by_key["gC1"][5:] == ["escalated", "2025-04-02", "2025-04-07", "2", "142", "0", "", ""]
            assert by_key["gC2"][5:] == ["in_progress", "2025-06-11", "2025-06-12", "1", "142", "1",
                                         "Cardiff CAMHS lead", "2025-10-31"]
            assert by_key["gC3"][5:] == ["resolved", "2025-03-03", "2025-03-05", "0", "0", "0", "", ""]
        spreadsheet = "\n".join(",".join(row) for row in rows)
        for word in outside_words(facts, who):
            assert word not in spreadsheet, (who, word)


def test_the_register_csv_gives_the_day_a_gap_was_logged_in_wales(dashboard_app: Flask, facts: Facts,
                                                                  clock: Clock) -> None:
    """gA6 was logged at 00:30 on 1 May in Wales (23:30 on 30 April in UTC), gB4 at 00:30 on 1 August
    2024: the dashboard counts them in May and August, and the register must give those days too, not
    the UTC ones (the register page does)."""
    rows = {key_of(row): row for row in read_csv(dashboard_app, facts.email("lead_north"))[1:]}
    assert (rows["gA6"][6], rows["gB4"][6]) == ("2025-05-01", "2024-08-01")


# --- Scope: nobody sees figures of partnerships outside theirs ---------------------------------


def test_a_lead_of_the_north_never_counts_cardiff(dashboard_app: Flask, facts: Facts, clock: Clock) -> None:
    """Everything in Cardiff (South) would show if counted: the lead of the North's totals stay those of
    Conwy and Denbighshire alone, and the lead of the South's those of Cardiff alone."""
    cardiff = next(pid for pid, name in facts.partnerships.items() if name == "Cardiff")
    with dashboard_app.test_request_context():
        north = dashboard_service.dashboard(facts.user("lead_north"))
        south = dashboard_service.dashboard(facts.user("lead_south"))
        across = dashboard_service.dashboard(facts.user("broker_bc"))
        assert cardiff not in {pid for pid, _p in [*north.heat, *north.red_needs, *north.gaps_logged]}
        assert {pid for pid, _p in [*south.heat, *south.red_needs, *south.gaps_logged]} == {cardiff}
        assert sum(logged for _m, logged, _c in north.over_time) == 10  # 11 gaps, gA5 before the window
        assert sum(logged for _m, logged, _c in south.over_time) == 3
        assert {card.agency.name for card in north.scorecards}.isdisjoint({"Cardiff YOT", "Cardiff Housing"})
        # North Wales Housing sits on Conwy's and Denbighshire's panels: the lead of the North counts both,
        # the broker of Denbighshire and Cardiff only Denbighshire's.
        housing = {card.agency.name: card for card in north.scorecards}["North Wales Housing"]
        assert (housing.meetings_invited, housing.updates_requested, housing.actions_due) == (3, 4, 4)
        housing = {card.agency.name: card for card in across.scorecards}["North Wales Housing"]
        assert (housing.meetings_invited, housing.updates_requested, housing.actions_due) == (1, 1, 1)
        db.session.rollback()


# --- Definitions at their edges (small worlds of their own, in the test's rolled-back transaction) --


@dataclass
class Panel:
    partnership: Partnership
    broker: User
    yot: Agency
    housing: Agency
    yot_staff: User
    housing_staff: User
    referral: Referral


def small_panel(clock: Clock) -> Panel:
    """One partnership (a YOT and housing), one accepted referral shared with housing, made in January 2025."""
    clock.wales(2025, 1, 6)
    yot = make_agency(type="yot", name="Edge YOT")
    housing = make_agency(type="housing", name="Edge Housing")
    broker = make_user(Role.BROKER)
    partnership = make_partnership(name="Edge", agencies=[yot, housing], brokers=[broker])
    yot_staff = make_user(Role.AGENCY_STAFF, agency=yot)
    referral = make_referral(partnership=partnership, referrer=yot_staff, broker=broker, status="accepted",
                             shared_with=[(housing, None)])
    return Panel(partnership, broker, yot, housing, yot_staff, make_user(Role.AGENCY_STAFF, agency=housing),
                 referral)


def scorecard_of(panel: Panel, agency: Agency) -> dashboard_service.Scorecard:
    with current_app.test_request_context():
        cards = {card.agency.id: card for card in dashboard_service.dashboard(panel.broker).scorecards}
    return cards[agency.id]


def test_an_action_done_after_midnight_in_wales_on_the_day_after_it_was_due_is_late(clock: Clock) -> None:
    """Two actions due Sunday 1 June 2025: one done at 23:30 that Sunday in Wales (on time), one at 00:30
    on Monday 2 June in Wales, which is still 23:30 on the Sunday in UTC. For the panel the second was a
    day late: Wales's calendar decides, as everywhere else in the service ("today" is today in Wales)."""
    panel = small_panel(clock)
    clock.wales(2025, 5, 20)
    actions = [action_service.create_action(panel.broker, panel.referral, action_service.NewAction(
        Pathway.ACCOMMODATION, f"Viewing {n}", panel.housing.id, date(2025, 6, 1))) for n in (1, 2)]
    for action, when in zip(actions, [(2025, 6, 1, 23, 30), (2025, 6, 2, 0, 30)]):
        clock.wales(*when)
        action_service.update_action(panel.housing_staff, action, action_service.ActionChange(
            version=action.version, status=ActionStatus.DONE, outcome="Viewed"))
    clock.now()
    db.session.commit()
    card = scorecard_of(panel, panel.housing)
    assert (card.actions_done_on_time, card.actions_due) == (1, 2)


def test_an_update_asked_for_a_panel_that_was_then_cancelled_does_not_count_against_the_agency(
        clock: Clock) -> None:
    """Updates were asked for a panel on 10 June (both sent in time) and for one on 24 June, which was
    cancelled on 20 June before anyone answered: there was no panel to send them before, so each agency
    sent 1 update of the 1 it owed."""
    panel = small_panel(clock)
    for day, cancelled in (((2025, 6, 10), False), ((2025, 6, 24), True)):
        start = datetime(*day, 10, 0, tzinfo=WALES)
        clock.moment = (start - timedelta(days=14)).astimezone(UTC)
        meeting = meeting_service.schedule(panel.broker, panel.partnership.id, meeting_service.MeetingDetails(
            start, start + timedelta(hours=2), location="Council Chamber"))
        meeting_service.add_to_agenda(panel.broker, meeting, panel.referral.id, AgendaKind.REVIEW, 20)
        meeting_service.request_updates(panel.broker, meeting, start.date() - timedelta(days=1))
        db.session.flush()
        clock.moment = (start - timedelta(days=4)).astimezone(UTC)
        if cancelled:
            meeting_service.cancel(panel.broker, meeting, "The chair is ill")
            continue
        for request in meeting.items[0].update_requests:
            staff = panel.yot_staff if request.agency_id == panel.yot.id else panel.housing_staff
            meeting_service.send_update(staff, request, "Our update")
    clock.now()
    db.session.commit()
    for agency in (panel.yot, panel.housing):
        card = scorecard_of(panel, agency)
        assert (card.updates_sent_in_time, card.updates_requested) == (1, 1), agency.name
