#!/usr/bin/env python
"""Benchmark: how long the panel pack PDF takes to render for a full panel.

Builds, in a fresh database, one partnership with its member agencies and a future panel meeting
whose agenda holds 30 cases (accepted and active referrals with needs rated on every pathway, notes,
consent, key dates, agencies they were shared with, update requests answered, the young person's
views), all through the services, exactly as the pages would. Then renders the pack
(``services.meetings.pack_pdf``) several times for the broker (every case in full) and for one
member agency (only the cases it is involved in in full), and prints min / median / max seconds and
the page count.

    .venv/bin/python scripts/benchmark_pack.py                 # SQLite in a temporary directory
    DATABASE_URL=postgresql://root@127.0.0.1:5432/test .venv/bin/python scripts/benchmark_pack.py

With ``DATABASE_URL`` (a PostgreSQL server), a fresh database is created on that server for the run
and dropped afterwards: the database the URL names is never written to.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, time as clock_time, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarking import fresh_database, settings, time_runs  # noqa: E402

GIVEN = ["Lowri", "Cai", "Elis", "Mali", "Osian", "Ffion", "Tomos", "Seren", "Iwan", "Nia", "Gethin", "Alaw",
         "Rhodri", "Carys", "Dafydd", "Efa", "Harri", "Cerys", "Jac", "Megan", "Aled", "Llinos", "Morgan", "Sioned",
         "Ianto", "Betsan", "Owain", "Tesni", "Huw", "Anwen"]
FAMILY = ["Hughes", "Jenkins", "Parry", "Roberts", "Griffiths", "Pritchard", "Evans", "Morgan", "Lloyd", "Bevan",
          "Rowlands", "Price", "Howells", "Tudor", "Maddox", "Owen", "Williams", "Davies", "Thomas", "Jones",
          "Edwards", "Vaughan", "Powell", "Rees", "Llewellyn", "Bowen", "Probert", "Cadwaladr", "Meredith", "Gwyn"]
REASONS = [
    "Due for release from the secure children's home in six weeks with no settled address. Previous placement broke "
    "down after a missing episode; mum's tenancy is at risk and she cannot have him back on licence conditions.",
    "On a community order after a robbery with two older peers. Excluded from school in Year 10, no education "
    "since; the YOT case manager is worried about criminal exploitation and county lines contact.",
    "Returning from the YOI on a DTO licence. Diagnosed ADHD, medication stopped in custody; lives with nan who is "
    "struggling and asking for support. Wants to finish a construction course started inside.",
    "Recalled twice in a year for missed appointments. Cannabis use daily, some cocaine; no GP registration since "
    "moving between authorities. Has a baby daughter and wants contact arranged through children's services.",
]
NEED_NOTES = {
    "accommodation": ["Supported lodgings referral made, no place offered yet; emergency B&B is the fallback.",
                      "Staying with an aunt; overcrowded, she has said it is for a few weeks only.",
                      "Housing register application in, banding awaited; 16-17 protocol assessment booked."],
    "ete": ["College place for September if he starts on the bridging course in June; needs a bus pass.",
            "Level 1 construction started in custody; employer mentor identified through the careers service.",
            "Out of education since Year 10; alternative provision panel meets next week."],
    "health": ["CAMHS assessment requested; low mood reported by the secure estate's nurse.",
               "ADHD medication to restart; GP registration needed before the first prescription.",
               "Dental treatment outstanding; asthma reviewed in custody."],
    "substance_misuse": ["Daily cannabis; agreed to meet the young people's substance service before release.",
                         "Some cocaine use at weekends; harm-reduction work started in custody.",
                         "Alcohol use when with older peers; brief intervention offered."],
    "families": ["Contact with mum is good; relationship with step-father is not. Family group conference offered.",
                 "Wants contact with his daughter; children's services to arrange supervised contact.",
                 "Grandparents are the main support; respite for them being looked at."],
    "finance": ["No bank account or ID; birth certificate ordered. Universal Credit claim ready to go on release.",
                "Owes a fine; payment plan to be agreed. Needs help with a budget for the lodgings.",
                "Discretionary assistance application for a starter pack on release."],
    "transitions": ["Turns 18 in the spring: handover to probation and adult services planned for March.",
                    "Intensive support for the first six weeks after release, daily contact in week one.",
                    "Transfer of the order to the new area once the address is confirmed."],
}
RATINGS = ["red", "amber", "amber", "green", "none"]
UPDATES = [
    "Seen last week: settled, attending every session. No new concerns.",
    "Missed Tuesday's appointment; rearranged for Friday with mum present. Engagement otherwise good.",
    "Place confirmed from the 3rd; key worker named. Needs ID before the tenancy can be signed.",
]
VIEWS = [
    "I want to live near my nan and go back to college. I don't want to go back to the B&B.",
    "I'm worried about who I'll see when I get out. I want a job, not just courses.",
]


def build_panel(cases: int) -> tuple[Any, Any, Any]:
    """The partnership, its agencies and staff, and a future meeting with ``cases`` on its agenda.
    Returns (broker, meeting, the agency whose pack is timed)."""
        from panel_app.models import Agency, AgendaKind, LegalStatus, NeedRating, Partnership, Region, Role, db
    from panel_app.pathways import Pathway
    from panel_app.services import meetings, referrals
    from panel_app.services.accounts import create_user
    from panel_app.services.clock import local_timezone, today

    password = "benchmark-password-" + uuid.uuid4().hex
    region = Region(name="Wales")
    partnership = Partnership(name="Conwy & Denbighshire", area="Conwy and Denbighshire", region=region)
    db.session.add(partnership)
    kinds = [("yot", "Conwy & Denbighshire Youth Justice Service"), ("housing", "Conwy Housing Solutions"),
             ("education", "Conwy Education Inclusion Service"), ("health", "North Wales Health Board"),
             ("substance_misuse", "North Wales Young People's Substance Service"),
             ("employment", "Gyrfa Gogledd Careers"), ("third_sector", "Llwybr Newydd Mentoring"),
             ("childrens_services", "Conwy Children's Services"), ("police", "North Wales Police")]
    agencies: dict[str, Agency] = {}
    staff = {}
    for kind, name in kinds:
        agencies[kind] = Agency(name=name, type=kind, contact_email=f"{kind}@panels.example")
        partnership.agencies.append(agencies[kind])
        staff[kind] = create_user(email=f"{kind}@staff.example", name=f"{name} worker", password=password,
                                  role=Role.AGENCY_STAFF, agency=agencies[kind])
    broker = create_user(email="broker@panels.example", name="Gwen Pritchard", password=password, role=Role.BROKER)
    partnership.brokers.append(broker)
    db.session.flush()

    day = today()
    referring = ["yot", "yot", "yot", "childrens_services", "education"]
    shares = [["housing", "health"], ["housing", "substance_misuse", "employment"], ["education", "health"],
              ["third_sector", "housing"], ["employment"]]
    made = []
    for n in range(cases):
        referrer = staff[referring[n % len(referring)]]
        custody = n % 3 != 2
        needs = {
            pathway: referrals.NeedInput(NeedRating(RATINGS[(n + index) % len(RATINGS)]),
                                         NEED_NOTES[pathway.value][(n + index) % 3])
            for index, pathway in enumerate(Pathway)
        }
        referral = referrals.refer(referrer, referrals.NewReferral(
            partnership_id=partnership.id,
            young_person=referrals.YoungPersonDetails(
                GIVEN[n % len(GIVEN)], FAMILY[(n * 7) % len(FAMILY)],
                day.replace(year=day.year - 15 - n % 3) - timedelta(days=17 * n + 3),
                pronouns="he/him" if n % 2 else "she/her", preferred_language="Welsh" if n % 4 == 0 else "English",
                yot_reference=f"CD-{24000 + n}", address=f"{n + 3} Ffordd y Parc, Colwyn Bay"),
            reason=REASONS[n % len(REASONS)],
            consent=referrals.ConsentInput(given=True, given_on=day - timedelta(days=20 + n)),
            legal_status=LegalStatus.CUSTODY if custody else LegalStatus.COMMUNITY_ORDER,
            sentenced_on=day - timedelta(days=120 + n) if custody else None,
            expected_release_on=day + timedelta(days=10 + 3 * n) if custody else None,
            order_ends_on=None if custody else day + timedelta(days=200 + n),
            needs=needs,
        ))
        referrals.accept(broker, referral)
        for kind in shares[n % len(shares)]:
            referrals.share(broker, referral, agencies[kind].id)
        if n % 2:
            referrals.change_stage(broker, referral, 2 + n % 4)
        made.append(referral)

    first_tuesday = next(d for d in (day + timedelta(days=14 + i) for i in range(7)) if d.weekday() == 1)
    starts = datetime.combine(first_tuesday, clock_time(10, 0), tzinfo=local_timezone())
    meeting = meetings.schedule(broker, partnership.id, meetings.MeetingDetails(
        starts, starts + timedelta(hours=3), location="Colwyn Bay Youth Justice Service offices",
        online_link="https://meet.example.org/conwy-panel"))
    for n, referral in enumerate(made):
        item = meetings.add_to_agenda(broker, meeting, referral.id,
                                      AgendaKind.NEW if n % 3 == 0 else AgendaKind.REVIEW, 10 + 5 * (n % 3))
        if n % 4 == 0:
            meetings.record_views(broker, item, VIEWS[n % len(VIEWS)])
    meetings.request_updates(broker, meeting, first_tuesday - timedelta(days=2))
    for n, item in enumerate(meeting.items):
        for m, request in enumerate(item.update_requests):
            if (n + m) % 2 == 0:
                member = next(user for user in staff.values() if user.agency_id == request.agency_id)
                meetings.send_update(member, request, UPDATES[(n + m) % len(UPDATES)])
    db.session.commit()
    return broker, meeting, agencies["housing"]


def pages_of(data: bytes) -> int | str:
    try:
        import pypdf
    except ImportError:  # pypdf comes with the test extras
        return "?"
    return len(pypdf.PdfReader(io.BytesIO(data)).pages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="renders per audience (default 5)")
    parser.add_argument("--cases", type=int, default=30, help="cases on the agenda (default 30)")
    args = parser.parse_args()
    if args.runs < 1 or not 1 <= args.cases <= 200:
        parser.error("--runs must be 1 or more and --cases from 1 to 200")

    from flask_migrate import upgrade

    from panel_app import create_app, policy
    from panel_app.extensions import db
    from panel_app.services import meetings

    with tempfile.TemporaryDirectory(prefix="panel-benchmark-") as tmp, fresh_database(Path(tmp)) as (url, where):
        app = create_app(settings(url))
        with app.app_context():
            upgrade()
            with app.test_request_context("/"):
                started = time.perf_counter()
                broker, meeting, agency = build_panel(args.cases)
                built = time.perf_counter() - started
                meeting_id, agency_id, agency_name = meeting.id, agency.id, agency.name
                in_full = sum(1 for row in meetings.agenda(policy.agency_viewer(agency), meeting) if row.full)

                def for_broker() -> bytes:
                    return meetings.pack_pdf(broker, meetings.get_meeting(broker, meeting_id))

                def for_agency() -> bytes:
                    return meetings.pack_pdf(broker, meetings.get_meeting(broker, meeting_id), agency_id=agency_id)

                for_broker()  # warm up: templates compiled, fonts loaded
                db.session.rollback()
                results = [("broker (every case in full)", *time_runs(for_broker, args.runs)),
                           (f"{agency_name} ({in_full} of {args.cases} cases in full)",
                            *time_runs(for_agency, args.runs))]
            db.session.remove()
            db.engine.dispose()

    print(f"Panel pack benchmark: {args.cases} cases on the agenda, {args.runs} runs each, {where}")
    print(f"  data built through the services in {built:.1f} s")
    print(f"  {'audience':<58} {'min':>7} {'median':>7} {'max':>7}  pages  size")
    for label, seconds, data in results:
        print(f"  {label:<58} {min(seconds):7.2f} {statistics.median(seconds):7.2f} {max(seconds):7.2f}"
              f"  {pages_of(data):>5}  {len(data) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
