"""Factory functions with valid defaults: ``make_x(**overrides)``. They flush, never commit."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from panel_app.models import (
    Agency,
    AgendaKind,
    ClosureReason,
    NeedRating,
    PanelMeeting,
    Partnership,
    Referral,
    Region,
    Role,
    User,
    db,
    utcnow,
)
from panel_app.pathways import Pathway
from panel_app.services.accounts import create_user
from panel_app.services.referrals import ConsentInput

from tests.conftest import PASSWORD

_numbers = itertools.count(1)


def _n() -> int:
    return next(_numbers)


def make_region(**overrides: Any) -> Region:
    region = Region(**{"name": f"Region {_n()}", **overrides})
    db.session.add(region)
    db.session.flush()
    return region


def make_agency(**overrides: Any) -> Agency:
    number = _n()
    values = {"name": f"Agency {number}", "type": "housing", "contact_email": f"agency{number}@example.org"}
    agency = Agency(**{**values, **overrides})
    db.session.add(agency)
    db.session.flush()
    return agency


def make_partnership(*, agencies: list[Agency] | None = None, brokers: list[User] | None = None,
                     **overrides: Any) -> Partnership:
    number = _n()
    values: dict[str, Any] = {"name": f"Partnership {number}", "area": f"Area {number}"}
    values.update(overrides)
    if "region" not in values:
        values["region"] = make_region()
    partnership = Partnership(**values)
    db.session.add(partnership)
    partnership.agencies.extend(agencies or [])
    partnership.brokers.extend(brokers or [])
    db.session.flush()
    return partnership


def make_user(role: Role = Role.AGENCY_STAFF, **overrides: Any) -> User:
    number = _n()
    values: dict[str, Any] = {"email": f"person{number}@example.org", "name": f"Person {number}",
                              "password": PASSWORD, "role": role}
    if role is Role.AGENCY_STAFF and "agency" not in overrides:
        values["agency"] = make_agency()
    if role is Role.STRATEGIC_LEAD and "region" not in overrides:
        values["region"] = make_region()
    values.update(overrides)
    active = values.pop("active", True)
    user = create_user(**values)
    user.active = active
    db.session.flush()
    return user


def make_referral(
    *,
    partnership: Partnership | None = None,
    referrer: User | None = None,
    broker: User | None = None,
    status: str = "submitted",
    shared_with: list[tuple[Agency, list[Pathway] | None]] | None = None,
    needs: dict[Pathway, tuple[NeedRating, str | None]] | None = None,
    consent: ConsentInput | None = None,
    **overrides: Any,
) -> Referral:
    """A referral made through the real service, with valid defaults.

    ``status``: "submitted", "accepted", "active" (stage 2) or "closed". ``shared_with`` shares it
    (as the broker) with agencies, each for the given pathways (``None``: the agency's usual ones).
    Any other keyword overrides a field of ``NewReferral`` (or, for ``young_person``, replaces it).
    """
    from panel_app.services import referrals as service

    number = _n()
    if referrer is None:
        referrer = make_user(Role.AGENCY_STAFF, agency=make_agency(type="yot", name=f"YOT {number}"))
    if partnership is None:
        partnership = make_partnership(agencies=[referrer.agency] if referrer.agency else [])
    if broker is None:
        broker = next(iter(partnership.brokers), None) or make_user(Role.BROKER)
        if broker not in partnership.brokers:
            partnership.brokers.append(broker)
            db.session.flush()
    new = service.NewReferral(
        partnership_id=partnership.id,
        young_person=service.YoungPersonDetails(f"Young{number}", f"Person{number}", date(2009, 5, 17)),
        reason=f"Reason for referral {number}",
        consent=consent or service.ConsentInput(given=True),
        needs={p: service.NeedInput(r, n) for p, (r, n) in (needs or {}).items()},
        referring_agency_id=referrer.agency_id if referrer.role is Role.BROKER else None,
    )
    for name, value in overrides.items():
        setattr(new, name, value)
    referral = service.refer(referrer, new)
    if status in ("accepted", "active", "closed"):
        service.accept(broker, referral)
        for agency, pathways in shared_with or []:
            if agency not in partnership.agencies:
                partnership.agencies.append(agency)
                db.session.flush()
            service.share(broker, referral, agency.id, pathways)
        if status == "active":
            service.change_stage(broker, referral, 2)
        if status == "closed":
            service.close(broker, referral, ClosureReason.COMPLETED, None)
    db.session.flush()
    return referral


# --- Panel meetings -----------------------------------------------------------------------------


def make_meeting(
    *,
    partnership: Partnership | None = None,
    broker: User | None = None,
    agenda: list[Referral] | None = None,
    starts_in: timedelta = timedelta(days=7),
    length: timedelta = timedelta(hours=2),
    location: str | None = "Council Chamber",
    online_link: str | None = None,
) -> PanelMeeting:
    """A panel meeting scheduled through the real service (its invitations recorded, not sent), with
    the ``agenda`` referrals (accepted or active, of the same partnership) put on it as reviews, in
    order. ``broker``: the partnership's first broker unless given.

    Only future meetings can be scheduled: a ``starts_in`` of zero or less schedules it a week ahead,
    builds its agenda, then moves it into the past (as the demo data does), ready to be marked as held.
    """
    from panel_app.services import meetings as service

    if partnership is None:
        partnership = make_partnership(agencies=[make_agency()], brokers=[broker or make_user(Role.BROKER)])
    if broker is None:
        broker = next(iter(partnership.brokers))
    ahead = starts_in if starts_in > timedelta(0) else timedelta(days=7)
    start = utcnow().replace(microsecond=0) + ahead
    meeting = service.schedule(broker, partnership.id, service.MeetingDetails(
        start, start + length, location=location, online_link=online_link))
    for referral in agenda or []:
        service.add_to_agenda(broker, meeting, referral.id, AgendaKind.REVIEW, 20)
    if starts_in <= timedelta(0):
        meeting.starts_at = utcnow().replace(microsecond=0) + starts_in
        meeting.ends_at = meeting.starts_at + length
    db.session.flush()
    return meeting


# --- Service gaps -------------------------------------------------------------------------------


def make_gap(
    *,
    partnership: Partnership | None = None,
    by: User | None = None,
    evidence: list[Referral] | None = None,
    status: str = "open",
    pathway: Pathway = Pathway.ACCOMMODATION,
    severity: str = "high",
    title: str | None = None,
    lead: User | None = None,
) -> Any:
    """A service gap logged through the real service (by ``by``: the partnership's first broker unless
    given), with the ``evidence`` referrals (of that partnership, visible to ``by``).

    ``status``: "open", "escalated" (by the broker), or "in_progress", "resolved", "accepted" (the
    broker escalates, then ``lead``, a strategic lead of the partnership's region made if not given,
    responds).
    """
    from panel_app.models import GapSeverity, GapStatus
    from panel_app.services import gaps as service
    from panel_app.services.clock import today

    if partnership is None:
        partnership = evidence[0].partnership if evidence else make_partnership(brokers=[make_user(Role.BROKER)])
    broker = next(iter(partnership.brokers), None)
    if broker is None:
        broker = make_user(Role.BROKER)
        partnership.brokers.append(broker)
        db.session.flush()
    gap = service.log_gap(by or broker, service.NewGap(
        partnership_id=partnership.id, pathway=pathway, title=title or f"Gap {_n()}",
        description="What is missing, full or out of reach.", severity=GapSeverity(severity),
        referral_ids=[r.id for r in evidence or []]))
    if status != "open":
        service.escalate(broker, gap, "Please commission more places.")
    if status not in ("open", "escalated"):
        lead = lead or make_user(Role.STRATEGIC_LEAD, region=partnership.region)
        service.respond(lead, gap, "We will act on it.", GapStatus(status), "Head of service",
                        today() + timedelta(days=90) if status == "in_progress" else None)
    db.session.flush()
    return gap
