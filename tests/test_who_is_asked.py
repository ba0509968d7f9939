"""Who is asked for an update before a panel follows who may see the case (docs/domain.md: agency
staff see a referral while their agency holds a live grant on it *and* still sits on the
partnership). An agency taken off the panel, whose grant was never revoked, is neither asked nor
emailed the case's initials: it could not open the case to answer.

The expectations are written out by hand, never derived from policy.py.
"""

from __future__ import annotations

from sqlalchemy import select

from panel_app.models import OutboxEmail, Role, UpdateRequest, db
from panel_app.pathways import Pathway
from panel_app.services import meetings as meeting_service
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_user


def test_an_agency_no_longer_on_the_panel_is_not_asked_for_its_update(app) -> None:  # type: ignore[no-untyped-def]
    yot = make_agency(type="yot", name="Conwy YOT", contact_email="yot@conwy.example.org")
    housing = make_agency(type="housing", name="Conwy Housing", contact_email="housing@conwy.example.org")
    health = make_agency(type="health", name="North Wales Health", contact_email="health@nhs.example.org")
    broker = make_user(Role.BROKER, name="Bethan Broker")
    partnership = make_partnership(name="Conwy", agencies=[yot, housing, health], brokers=[broker])
    referrer = make_user(Role.AGENCY_STAFF, agency=yot, name="Rhian Referrer")
    referral = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted",
                             shared_with=[(housing, [Pathway.ACCOMMODATION]), (health, [Pathway.HEALTH])])
    meeting = make_meeting(partnership=partnership, broker=broker, agenda=[referral])
    partnership.agencies.remove(health)
    db.session.flush()

    made = meeting_service.request_updates(broker, meeting, meeting.starts_at.date())

    assert made == 2
    asked = db.session.scalars(select(UpdateRequest.agency_id).where(
        UpdateRequest.agenda_item_id == meeting.items[0].id)).all()
    assert sorted(asked) == sorted([yot.id, housing.id])
    emailed = db.session.scalars(select(OutboxEmail.recipient).where(
        OutboxEmail.kind == "meeting.update_request")).all()
    assert sorted(emailed) == ["housing@conwy.example.org", "yot@conwy.example.org"]
