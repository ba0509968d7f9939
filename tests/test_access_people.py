"""Who may invite whom, and re-send or revoke whose invitation: expectations written out by hand
(docs/domain.md and issue 11), never derived from policy.py.

An admin invites anyone, into any role. A broker invites agency staff only, into the member agencies
of the partnerships they broker: an agency or partnership outside those is a 404 (anything outside
a person's scope is a 404), another role a 403. Agency staff and strategic leads invite nobody (403).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from panel_app import policy
from panel_app.errors import Forbidden, NotFound, PanelError
from panel_app.models import Agency, Partnership, Region, Role, User, db
from panel_app.services import people
from tests.factories import make_agency, make_partnership, make_region, make_user


@dataclass
class World:
    admin: User
    broker: User
    staff: User
    lead: User
    own_agency: Agency  # a member agency of the broker's partnership
    own: Partnership
    other_agency: Agency  # a member of another partnership only
    other: Partnership
    region: Region


@pytest.fixture
def world() -> World:
    region = make_region(name="Gogledd")
    own_agency = make_agency(type="housing", name="Own Housing")
    other_agency = make_agency(type="housing", name="Other Housing")
    broker = make_user(Role.BROKER, name="Own Broker")
    own = make_partnership(name="Own", agencies=[own_agency], brokers=[broker], region=region)
    other = make_partnership(name="Other", agencies=[other_agency], brokers=[make_user(Role.BROKER)])
    world = World(admin=make_user(Role.ADMIN), broker=broker, staff=make_user(Role.AGENCY_STAFF, agency=own_agency),
                  lead=make_user(Role.STRATEGIC_LEAD, region=region), own_agency=own_agency, own=own,
                  other_agency=other_agency, other=other, region=region)
    db.session.commit()
    return world


ALLOWED, FORBIDDEN, NOT_FOUND = "allowed", 403, 404

# (who invites, the invitation) -> what happens. Written by hand.
CASES = [
    ("admin", "staff of the broker's member agency", ALLOWED),
    ("admin", "staff of another partnership's agency", ALLOWED),
    ("admin", "a broker", ALLOWED),
    ("admin", "a strategic lead", ALLOWED),
    ("admin", "an admin", ALLOWED),
    ("broker", "staff of the broker's member agency", ALLOWED),
    ("broker", "staff of the broker's member agency, naming the broker's partnership", ALLOWED),
    ("broker", "staff of another partnership's agency", NOT_FOUND),
    ("broker", "staff of the broker's member agency, naming another partnership", NOT_FOUND),
    ("broker", "a broker", FORBIDDEN),
    ("broker", "a strategic lead", FORBIDDEN),
    ("broker", "an admin", FORBIDDEN),
    ("agency staff", "staff of the broker's member agency", FORBIDDEN),
    ("agency staff", "a broker", FORBIDDEN),
    ("strategic lead", "staff of the broker's member agency", FORBIDDEN),
    ("strategic lead", "a strategic lead", FORBIDDEN),
]


def _invitation(world: World, what: str) -> dict:
    return {
        "staff of the broker's member agency": {"role": Role.AGENCY_STAFF, "agency_id": world.own_agency.id},
        "staff of the broker's member agency, naming the broker's partnership": {
            "role": Role.AGENCY_STAFF, "agency_id": world.own_agency.id, "partnership_ids": [world.own.id]},
        "staff of the broker's member agency, naming another partnership": {
            "role": Role.AGENCY_STAFF, "agency_id": world.own_agency.id, "partnership_ids": [world.other.id]},
        "staff of another partnership's agency": {"role": Role.AGENCY_STAFF, "agency_id": world.other_agency.id},
        "a broker": {"role": Role.BROKER, "partnership_ids": [world.own.id]},
        "a strategic lead": {"role": Role.STRATEGIC_LEAD, "region_id": world.region.id},
        "an admin": {"role": Role.ADMIN},
    }[what]


def _inviter(world: World, who: str) -> User:
    return {"admin": world.admin, "broker": world.broker, "agency staff": world.staff,
            "strategic lead": world.lead}[who]


@pytest.mark.parametrize(("who", "what", "expected"), CASES, ids=[f"{w} invites {t}" for w, t, _e in CASES])
def test_who_may_invite_whom(world: World, who: str, what: str, expected: object) -> None:
    people_before = db.session.scalar(select(func.count(User.id)))
    try:
        person = people.invite(_inviter(world, who), email="invitee@example.org", name="Invitee",
                               **_invitation(world, what))
    except PanelError as refused:
        assert refused.status == expected, refused.message
        assert isinstance(refused, Forbidden if expected == FORBIDDEN else NotFound)
        db.session.rollback()
        assert db.session.scalar(select(func.count(User.id))) == people_before
    else:
        assert expected == ALLOWED
        assert person.id is not None and not person.has_password


def test_the_refusals_say_what_to_do(world: World) -> None:
    with pytest.raises(Forbidden) as refused:
        people.invite(world.broker, email="b@example.org", name="B", role=Role.BROKER,
                      partnership_ids=[world.own.id])
    assert "brokers invite the staff of their partnerships' member agencies" in refused.value.message
    with pytest.raises(NotFound) as hidden:
        people.invite(world.broker, email="s@example.org", name="S", role=Role.AGENCY_STAFF,
                      agency_id=world.other_agency.id)
    assert hidden.value.fields == {"agency_id": "There is no agency you can invite people into with that id."}


# Resending and revoking: (who, whose invitation) -> what happens.
MANAGE_CASES = [
    ("admin", "own agency's invitee", ALLOWED),
    ("admin", "other agency's invitee", ALLOWED),
    ("admin", "a broker invitee", ALLOWED),
    ("broker", "own agency's invitee", ALLOWED),
    ("broker", "other agency's invitee", NOT_FOUND),
    ("broker", "a broker invitee", NOT_FOUND),
    ("agency staff", "own agency's invitee", NOT_FOUND),
    ("strategic lead", "own agency's invitee", NOT_FOUND),
]


@pytest.mark.parametrize("step", ["resend", "revoke"])
@pytest.mark.parametrize(("who", "whose", "expected"), MANAGE_CASES,
                         ids=[f"{w} on {t}" for w, t, _e in MANAGE_CASES])
def test_who_may_resend_or_revoke_an_invitation(world: World, step: str, who: str, whose: str,
                                                 expected: object) -> None:
    invitation = {"own agency's invitee": {"role": Role.AGENCY_STAFF, "agency_id": world.own_agency.id},
                  "other agency's invitee": {"role": Role.AGENCY_STAFF, "agency_id": world.other_agency.id},
                  "a broker invitee": {"role": Role.BROKER, "partnership_ids": [world.own.id]}}[whose]
    invitee = people.invite(world.admin, email="managed@example.org", name="Managed", **invitation)
    db.session.commit()
    actor = _inviter(world, who)
    try:
        person = people.get_person(actor, invitee.id)
        if step == "resend":
            people.resend_invitation(actor, person)
        else:
            people.revoke_invitation(actor, person)
    except PanelError as refused:
        assert refused.status == expected, refused.message
    else:
        assert expected == ALLOWED


def test_the_forms_can_offer_what_each_person_may_name(world: World) -> None:
    """The scopes a page or the API will offer: written out by hand per person."""
    def names(query: object) -> list[str]:
        return [row.name for row in db.session.scalars(query)]  # type: ignore[arg-type]

    assert policy.invitable_roles(world.admin) == frozenset(Role)
    assert policy.invitable_roles(world.broker) == {Role.AGENCY_STAFF}
    assert policy.invitable_roles(world.staff) == frozenset() and policy.invitable_roles(world.lead) == frozenset()
    assert names(policy.invitable_agencies(world.broker)) == ["Own Housing"]
    assert {"Own Housing", "Other Housing"} <= set(names(policy.invitable_agencies(world.admin)))
    assert names(policy.invitable_agencies(world.staff)) == [] and names(policy.invitable_agencies(world.lead)) == []
    assert names(policy.invitable_partnerships(world.broker)) == ["Own"]
    assert names(policy.invitable_regions(world.broker)) == []
    assert "Gogledd" in names(policy.invitable_regions(world.admin))
