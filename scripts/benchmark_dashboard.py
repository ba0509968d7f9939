#!/usr/bin/env python
"""Benchmark: how long the strategic lead's pages take as the gap register grows.

Builds, in a fresh database, one region of six partnerships (each with its broker and seven member
agencies), referrals with needs rated on every pathway, service gaps with one to four young people
each as evidence, logged over the past year, a third of them escalated and half of those answered
by the strategic lead, held panels with attendance and actions: all through the services, as the
pages would (only the dates are moved back afterwards, as the demo data does). Then times, as the
strategic lead signed in through the sign-in page: the dashboard, the review queue, the register,
the board report (PDF), the register as CSV and the API's gap list, and counts the SQL queries each
issues, for a small and a large register, so that a count that grows with the data shows.

    .venv/bin/python scripts/benchmark_dashboard.py                 # SQLite in a temporary directory
    DATABASE_URL=postgresql://root@127.0.0.1:5432/test .venv/bin/python scripts/benchmark_dashboard.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarking import fresh_database, settings  # noqa: E402

AREAS = ["Cardiff", "Conwy & Denbighshire", "Flintshire", "Gwynedd & Ynys Môn", "Wrexham", "Swansea"]
KINDS = ["yot", "housing", "education", "health", "substance_misuse", "employment", "third_sector"]
RATINGS = ["red", "amber", "green", "red", "none"]
PAGES = [("dashboard", "/gaps/dashboard"), ("review queue", "/gaps/review"), ("register", "/gaps/"),
         ("report (PDF)", "/gaps/report.pdf"), ("register (CSV)", "/gaps/register.csv"),
         ("API gap list", "/api/v1/gaps?per_page=100")]


@contextmanager
def counting_queries(engine: Any) -> Iterator[list[str]]:
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


class Region:
    """The region and its people, built once; ``grow`` adds gaps (and the cases behind them)."""

    def __init__(self, password: str) -> None:
        from panel_app.models import Agency, Partnership, Region as RegionRow, Role, db
        from panel_app.services.accounts import create_user

        self.password = password
        region = RegionRow(name="Wales")
        self.partnerships: list[Any] = []
        self.staff: dict[tuple[int, str], Any] = {}
        for index, area in enumerate(AREAS):
            partnership = Partnership(name=area, area=area, region=region)
            db.session.add(partnership)
            for kind in KINDS:
                agency = Agency(name=f"{area} {kind}", type=kind, contact_email=f"{kind}{index}@panels.example")
                partnership.agencies.append(agency)
                db.session.flush()
                self.staff[(index, kind)] = create_user(email=f"{kind}{index}@staff.example", name=f"{kind} {index}",
                                                        password=password, role=Role.AGENCY_STAFF, agency=agency)
            partnership.brokers.append(create_user(email=f"broker{index}@panels.example", name=f"Broker {index}",
                                                   password=password, role=Role.BROKER))
            self.partnerships.append(partnership)
        self.lead = create_user(email="lead@panels.example", name="Siân Maddox", password=password,
                                role=Role.STRATEGIC_LEAD, region=region)
        db.session.flush()
        self.gaps = 0
        self.referrals: dict[int, list[Any]] = {index: [] for index in range(len(AREAS))}

    def grow(self, gaps: int) -> None:
        """Add ``gaps`` gaps across the partnerships, with two new referrals behind each, an action on
        every other one, and a held panel per partnership for every 20 gaps."""
        from panel_app.models import AttendanceStatus, GapSeverity, GapStatus, NeedRating, db, utcnow
        from panel_app.pathways import Pathway
        from panel_app.services import actions, gaps as gap_service, meetings, referrals
        from panel_app.services.clock import today

        pathways = list(Pathway)
        for n in range(self.gaps, self.gaps + gaps):
            index = n % len(AREAS)
            partnership = self.partnerships[index]
            broker = partnership.brokers[0]
            yot = self.staff[(index, "yot")]
            for k in range(2):
                referral = referrals.refer(yot, referrals.NewReferral(
                    partnership_id=partnership.id,
                    young_person=referrals.YoungPersonDetails(f"Young{n}x{k}", f"Person{n}x{k}",
                                                              today() - timedelta(days=16 * 365 + n * 3 + k)),
                    reason="Leaving custody with nowhere settled to live.",
                    consent=referrals.ConsentInput(given=True),
                    needs={p: referrals.NeedInput(NeedRating(RATINGS[(n + k + i) % len(RATINGS)]), None)
                           for i, p in enumerate(pathways)}))
                referrals.accept(broker, referral)
                self.referrals[index].append(referral)
            pool = self.referrals[index]
            evidence = [r.id for r in pool[-(1 + n % 4):]]
            if n % 2 == 0:
                action = actions.create_action(broker, pool[-1], actions.NewAction(
                    pathway=pathways[n % 7], description="Find a supported lodgings place",
                    agency_id=self.staff[(index, "housing")].agency_id, due_on=today() + timedelta(days=14)))
                action.due_on = today() - timedelta(days=n % 40)
            gap = gap_service.log_gap(broker, gap_service.NewGap(
                partnership_id=partnership.id, pathway=pathways[n % 7], title=f"Gap {n}: no places for 16-17s",
                description="Provision is full; young people wait.", severity=list(GapSeverity)[n % 4],
                referral_ids=evidence))
            if n % 3 == 0:
                gap_service.escalate(broker, gap, "Please commission more places.")
                if n % 6 == 0:
                    gap_service.respond(self.lead, gap, "Commissioning review under way.",
                                        [GapStatus.IN_PROGRESS, GapStatus.RESOLVED, GapStatus.ACCEPTED][n % 3],
                                        "Head of service", today() + timedelta(days=90))
            gap.logged_at = utcnow() - timedelta(days=(n * 7) % 360)
            if n % 20 == index:
                meeting = meetings.schedule(broker, partnership.id, meetings.MeetingDetails(
                    utcnow() + timedelta(days=30), utcnow() + timedelta(days=30, hours=2), location="Offices"))
                meeting.starts_at, meeting.ends_at = utcnow() - timedelta(days=30), utcnow() - timedelta(days=30) + timedelta(hours=2)
                for referral in pool[-3:]:
                    meetings.add_to_agenda(broker, meeting, referral.id, meetings.AgendaKind.REVIEW, 20)
                meetings.record_attendance(broker, meeting, {
                    agency.id: (AttendanceStatus.PRESENT if agency.id % 3 else AttendanceStatus.APOLOGIES, None)
                    for agency in meeting.invited_agencies})
                meetings.mark_held(broker, meeting)
        self.gaps += gaps
        db.session.commit()


def measure(app: Any, client: Any, runs: int) -> dict[str, tuple[list[float], int, int]]:
    """Per page: the seconds of each run, the queries of one request, the size of the answer."""
    from panel_app.models import db

    results = {}
    for label, path in PAGES:
        client.get(path)  # warm up: templates compiled, fonts loaded
        with counting_queries(db.engine) as statements:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        seconds = []
        for _run in range(runs):
            started = time.perf_counter()
            client.get(path)
            seconds.append(time.perf_counter() - started)
        results[label] = (seconds, len(statements), len(response.data))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="requests per page (default 5)")
    parser.add_argument("--small", type=int, default=30, help="gaps in the small register (default 30)")
    parser.add_argument("--large", type=int, default=600, help="gaps in the large register (default 600)")
    args = parser.parse_args()
    if args.runs < 1 or not 1 <= args.small < args.large <= 5000:
        parser.error("--runs must be 1 or more, and 1 <= --small < --large <= 5000")

    from flask_migrate import upgrade

    from panel_app import create_app
        from panel_app.extensions import db

    password = "benchmark-password-" + uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="panel-benchmark-") as tmp, fresh_database(Path(tmp)) as (url, where):
        app = create_app({**settings(url), "WTF_CSRF_ENABLED": False})
        with app.app_context():
            upgrade()
            with app.test_request_context("/"):
                region = Region(password)
                started = time.perf_counter()
                region.grow(args.small)
                built_small = time.perf_counter() - started
            client = app.test_client()
            client.post("/sign-in", data={"email": "lead@panels.example", "password": password})
            token = client.post("/api/v1/auth/token", json={"email": "lead@panels.example", "password": password})
            client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + token.get_json()["token"]
            small = measure(app, client, args.runs)
            with app.test_request_context("/"):
                started = time.perf_counter()
                region.grow(args.large - args.small)
                built_large = time.perf_counter() - started
            large = measure(app, client, args.runs)
            db.session.remove()
            db.engine.dispose()

    print(f"Strategic lead benchmark: 6 partnerships, {args.runs} requests per page, {where}")
    print(f"  data built through the services: {args.small} gaps in {built_small:.1f} s, "
          f"then {args.large} in {built_large:.1f} s more")
    print(f"  {'page':<16} {'gaps':>5} {'min':>7} {'median':>7} {'max':>7} {'queries':>8} {'size':>9}")
    for label, _path in PAGES:
        for gaps, results in ((args.small, small), (args.large, large)):
            seconds, queries, size = results[label]
            print(f"  {label:<16} {gaps:>5} {min(seconds):7.3f} {statistics.median(seconds):7.3f} "
                  f"{max(seconds):7.3f} {queries:>8} {size / 1024:>6.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
