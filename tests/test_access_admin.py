"""The access matrix of the administrator's pages (people): every route x every role -> the status,
written out by hand from docs/domain.md and issue 11, never derived from policy.py.

The administrator reaches every people, agency and partnership page (and still no young person: test_access_referrals). A
broker reaches the invitation form only, to invite the staff of their partnerships' member
agencies; agency staff and strategic leads reach no administrator's page (403).

The world (built afresh per case; the database is rolled back after each): partnership P with member
agency A, brokered by "broker"; partnership Q with member agency B. People: one admin (the only
one, so the last active administrator), staff of A ("staff"), staff of A invited and not yet
joined ("invited"), staff of B deactivated ("deactivated"), a strategic lead.

What "allowed in" means: GET of a page 200; POST of a step with only the CSRF token 302 back to the
person's page; POST of the invitation, agency or partnership form with only the CSRF token 400 (its fields are
missing);
deactivating the last active administrator 422 (the state refuses it, whoever asks).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.models import AuditEvent, Role, User, db
from panel_app.services import people
from tests.conftest import client_for, csrf_token_from
from tests.factories import make_agency, make_partnership, make_region, make_user

ANONYMOUS, ADMIN, BROKER, STAFF, LEAD = "anonymous", "admin", "broker", "staff", "strategic_lead"
ROLES = [ANONYMOUS, ADMIN, BROKER, STAFF, LEAD]

# (method, path) -> status per role, in the order of ROLES:
#      anon admin broker staff lead
EXPECTED: dict[tuple[str, str], list[int]] = {
    ("GET", "/admin/people/"):                                  [302, 200, 403, 403, 403],
    ("GET", "/admin/people/?q=staff&role=agency_staff&state=active"): [302, 200, 403, 403, 403],
    ("GET", "/admin/people/{staff}"):                           [302, 200, 403, 403, 403],
    ("GET", "/admin/people/{invited}"):                         [302, 200, 403, 403, 403],
    ("GET", "/admin/people/invite"):                            [302, 200, 200, 403, 403],
    ("POST", "/admin/people/invite"):                           [302, 400, 400, 403, 403],
    ("GET", "/admin/people/{invited}/resend-invitation"):       [302, 200, 403, 403, 403],
    ("POST", "/admin/people/{invited}/resend-invitation"):      [302, 302, 403, 403, 403],
    ("GET", "/admin/people/{invited}/revoke-invitation"):       [302, 200, 403, 403, 403],
    ("POST", "/admin/people/{invited}/revoke-invitation"):      [302, 302, 403, 403, 403],
    ("GET", "/admin/people/{staff}/deactivate"):                [302, 200, 403, 403, 403],
    ("POST", "/admin/people/{staff}/deactivate"):               [302, 302, 403, 403, 403],
    ("POST", "/admin/people/{admin}/deactivate"):               [302, 422, 403, 403, 403],
    ("GET", "/admin/people/{deactivated}/reactivate"):          [302, 200, 403, 403, 403],
    ("POST", "/admin/people/{deactivated}/reactivate"):         [302, 302, 403, 403, 403],
    # Reactivating someone active, re-sending to someone who has a password: the state refuses it.
    ("POST", "/admin/people/{staff}/reactivate"):               [302, 422, 403, 403, 403],
    ("POST", "/admin/people/{staff}/resend-invitation"):        [302, 422, 403, 403, 403],
    # --- Agencies: the administrator's alone.
    ("GET", "/admin/agencies/"):                                [302, 200, 403, 403, 403],
    ("GET", "/admin/agencies/new"):                             [302, 200, 403, 403, 403],
    ("POST", "/admin/agencies/new"):                            [302, 400, 403, 403, 403],
    ("GET", "/admin/agencies/{agency_a}"):                      [302, 200, 403, 403, 403],
    ("POST", "/admin/agencies/{agency_a}"):                     [302, 400, 403, 403, 403],
    # --- Partnerships: the administrator's alone.
    ("GET", "/admin/partnerships/"):                            [302, 200, 403, 403, 403],
    ("GET", "/admin/partnerships/new"):                         [302, 200, 403, 403, 403],
    ("POST", "/admin/partnerships/new"):                        [302, 400, 403, 403, 403],
    ("GET", "/admin/partnerships/{own}"):                       [302, 200, 403, 403, 403],
    ("POST", "/admin/partnerships/{own}"):                      [302, 400, 403, 403, 403],
}

CASES = [
    pytest.param(method, path, role, statuses[index], id=f"{method} {path} as {role}")
    for (method, path), statuses in EXPECTED.items()
    for index, role in enumerate(ROLES)
]

# 27 routes (rows of EXPECTED) x 5 callers, counted by hand.
EXPECTED_CASE_COUNT = 135


@dataclass
class World:
    users: dict[str, User]
    agency_a_id: int
    agency_b_id: int
    own_partnership_id: int
    other_partnership_id: int


def build_world() -> World:
    region = make_region(name="Admin matrix region")
    agency_a = make_agency(type="housing", name="Matrix Housing A")
    agency_b = make_agency(type="housing", name="Matrix Housing B")
    broker = make_user(Role.BROKER, name="Matrix Broker")
    own = make_partnership(name="Matrix P", agencies=[agency_a], brokers=[broker], region=region)
    other = make_partnership(name="Matrix Q", agencies=[agency_b], brokers=[make_user(Role.BROKER)])
    admin = make_user(Role.ADMIN, name="Matrix Admin")
    invited = people.invite(admin, email="invited@example.org", name="Matrix Invited", role=Role.AGENCY_STAFF,
                            agency_id=agency_a.id)
    users = {
        ADMIN: admin,
        BROKER: broker,
        STAFF: make_user(Role.AGENCY_STAFF, agency=agency_a, name="Matrix Staff"),
        LEAD: make_user(Role.STRATEGIC_LEAD, region=region),
        "invited": invited,
        "deactivated": make_user(Role.AGENCY_STAFF, agency=agency_b, active=False, name="Matrix Deactivated"),
    }
    db.session.commit()
    return World(users=users, agency_a_id=agency_a.id, agency_b_id=agency_b.id, own_partnership_id=own.id,
                 other_partnership_id=other.id)


def test_the_matrix_has_every_case() -> None:
    assert len(CASES) == EXPECTED_CASE_COUNT


@pytest.mark.parametrize(("method", "path", "role", "expected"), CASES)
def test_admin_access_matrix(client: FlaskClient, login_as, method: str, path: str, role: str,
                             expected: int) -> None:
    world = build_world()
    user = world.users.get(role)
    url = path.format(agency_a=world.agency_a_id, own=world.own_partnership_id, **{key: person.id for key, person in world.users.items()})
    if user is not None:
        login_as(user)
    data = None
    if method == "POST":
        token = csrf_token_from(client.get("/" if user is not None else "/sign-in").text)
        data = {"csrf_token": token}
    response = client.open(url, method=method, data=data)
    assert response.status_code == expected, (
        f"{method} {path} as {role}: expected {expected}, got {response.status_code}: {response.text[:300]}")
    if expected == 302:
        location = response.headers["Location"]
        if role == ANONYMOUS:
            assert location.startswith("/sign-in"), location
        else:
            person_path = url.rsplit("/", 1)[0]
            assert location == person_path, location
    if expected == 422:
        assert "govuk-error-summary" in response.text


def test_an_unknown_person_is_404_to_the_admin(client: FlaskClient, login_as) -> None:
    world = build_world()
    login_as(world.users[ADMIN])
    assert client.get("/admin/people/987654").status_code == 404
    assert client.get("/admin/people/987654/deactivate").status_code == 404


def test_the_last_active_admin_is_told_why(client: FlaskClient, login_as) -> None:
    world = build_world()
    admin = world.users[ADMIN]
    login_as(admin)
    token = csrf_token_from(client.get(f"/admin/people/{admin.id}/deactivate").text)
    response = client.post(f"/admin/people/{admin.id}/deactivate", data={"csrf_token": token})
    assert response.status_code == 422
    assert "last active administrator" in response.text
    db.session.expire_all()
    assert db.session.get(User, admin.id).active


def test_the_menu_offers_the_admin_pages_to_the_admin_only(app, client: FlaskClient, login_as) -> None:
    world = build_world()
    for role, offered in ((ADMIN, True), (BROKER, False), (STAFF, False), (LEAD, False)):
        page = client_for(app, world.users[role]).get("/").text
        assert ('href="/admin/people/"' in page) is offered, role
        assert ('href="/admin/agencies/"' in page) is offered, role
        assert ('href="/admin/partnerships/"' in page) is offered, role
        # A broker is offered the invitation form from their home page (an admin from People); staff
        # and leads are not.
        assert ('href="/admin/people/invite"' in page) is (role == BROKER), role


def _invite(client: FlaskClient, **fields) -> object:
    token = csrf_token_from(client.get("/admin/people/invite").text)
    return client.post("/admin/people/invite", data={"csrf_token": token, **fields})


def _people() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


# Who invites whom through the form, written by hand: a broker invites staff of their own
# partnerships' member agencies only. The form offers a broker only those agencies, their own
# partnerships and the role of agency staff, so anything else is not one of its choices (400, nothing
# saved; the service behind it answers 404 or 403: test_access_people).
@pytest.mark.parametrize(("role", "invitation", "expected"), [
    (ADMIN, "staff of A", 302),
    (ADMIN, "a broker of Q", 302),
    (BROKER, "staff of A", 302),
    (BROKER, "staff of A in P", 302),
    (BROKER, "staff of B", 400),
    (BROKER, "staff of A in Q", 400),
    (BROKER, "a broker of Q", 400),
])
def test_inviting_through_the_form(client: FlaskClient, login_as, role: str, invitation: str, expected: int) -> None:
    world = build_world()
    fields = {
        "staff of A": {"role": "agency_staff", "agency_id": world.agency_a_id},
        "staff of A in P": {"role": "agency_staff", "agency_id": world.agency_a_id,
                            "partnership_ids": world.own_partnership_id},
        "staff of B": {"role": "agency_staff", "agency_id": world.agency_b_id},
        "staff of A in Q": {"role": "agency_staff", "agency_id": world.agency_a_id,
                            "partnership_ids": world.other_partnership_id},
        "a broker of Q": {"role": "broker", "partnership_ids": world.other_partnership_id},
    }[invitation]
    login_as(world.users[role])
    before = _people()
    response = _invite(client, email="New.Person@Example.org", name="New Person", **fields)
    assert response.status_code == expected, response.text[:500]
    db.session.expire_all()
    if expected == 302:
        person = db.session.scalar(select(User).where(User.email == "new.person@example.org"))
        assert person is not None and not person.has_password
        assert response.headers["Location"] == (f"/admin/people/{person.id}" if role == ADMIN else "/")
    else:
        assert "Choose one of the options listed" in response.text
        assert _people() == before


@pytest.mark.parametrize(("fields", "message"), [
    ({"email": "MATRIX-STAFF@example.org"}, "Someone already has an account with this email address"),
    ({"partnership_ids": "other"}, "is not a member of Matrix Q"),
    ({"role": "wizard"}, "Choose one of the options listed"),
    ({"email": "not an address"}, "Enter an email address in the correct format"),
])
def test_bad_invitations_say_why_and_save_nothing(client: FlaskClient, login_as, fields: dict, message: str) -> None:
    world = build_world()
    staff = world.users[STAFF]
    staff.email = "matrix-staff@example.org"
    db.session.commit()
    login_as(world.users[ADMIN])
    data = {"email": "someone@example.org", "name": "Some One", "role": "agency_staff",
            "agency_id": world.agency_a_id, **fields}
    if data.get("partnership_ids") == "other":
        data["partnership_ids"] = world.other_partnership_id
    before = _people()
    response = _invite(client, **data)
    assert 400 <= response.status_code < 500
    assert message in response.text
    assert "govuk-error-summary" in response.text
    db.session.expire_all()
    assert _people() == before


def test_deactivating_through_the_page_ends_their_session_and_is_audited(app, client: FlaskClient, login_as) -> None:
    world = build_world()
    staff = world.users[STAFF]
    their_client = client_for(app, staff)
    assert their_client.get("/").status_code == 200
    login_as(world.users[ADMIN])
    token = csrf_token_from(client.get(f"/admin/people/{staff.id}/deactivate").text)
    assert client.post(f"/admin/people/{staff.id}/deactivate", data={"csrf_token": token}).status_code == 302
    response = their_client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.deactivated",
                                                       AuditEvent.record_id == staff.id))
    assert event.detail["before"] == {"active": True} and event.detail["after"] == {"active": False}


def test_the_list_is_searched_filtered_and_paged_in_sql(client: FlaskClient, login_as) -> None:
    world = build_world()
    login_as(world.users[ADMIN])
    page = client.get("/admin/people/?q=MATRIX").text
    assert "Matrix Staff" in page and "Matrix Invited" in page and "Matrix Admin" in page
    page = client.get("/admin/people/?state=invited").text
    assert "Matrix Invited" in page and "Matrix Staff" not in page
    page = client.get("/admin/people/?state=deactivated").text
    assert "Matrix Deactivated" in page and "Matrix Staff" not in page
    page = client.get(f"/admin/people/?partnership={world.other_partnership_id}").text
    assert "Matrix Deactivated" in page and "Matrix Staff" not in page
    page = client.get(f"/admin/people/?agency={world.agency_a_id}&role=agency_staff").text
    assert "Matrix Staff" in page and "Matrix Broker" not in page
    assert client.get("/admin/people/?role=wizard").status_code == 400
    bad_page = client.get("/admin/people/?page=0")
    assert bad_page.status_code == 400 and "The page number must be 1 or more." in bad_page.text


def test_a_person_page_names_the_emails_but_never_their_text(client: FlaskClient, login_as) -> None:
    from panel_app.models import OutboxEmail

    world = build_world()
    invited = world.users["invited"]
    login_as(world.users[ADMIN])
    page = client.get(f"/admin/people/{invited.id}").text
    email = db.session.scalar(select(OutboxEmail).where(OutboxEmail.record_id == invited.id,
                                                         OutboxEmail.record_type == "user"))
    assert email.subject in page
    assert "/welcome/" not in page and email.body_text[:80] not in page


def _save_agency(client: FlaskClient, path: str, **fields) -> object:
    token = csrf_token_from(client.get(path).text)
    return client.post(path, data={"csrf_token": token, **fields})


def _agencies() -> int:
    from panel_app.models import Agency

    return db.session.scalar(select(func.count()).select_from(Agency)) or 0


def test_adding_and_changing_an_agency_is_audited_before_and_after(client: FlaskClient, login_as) -> None:
    from panel_app.models import Agency

    world = build_world()
    login_as(world.users[ADMIN])
    response = _save_agency(client, "/admin/agencies/new", name="Wrexham Careers", type="employment",
                            area="Wrexham", contact_email="Team@Careers.example", active="y")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/agencies/"
    agency = db.session.scalar(select(Agency).where(Agency.name == "Wrexham Careers"))
    assert (agency.type, agency.area, agency.contact_email, agency.active) == (
        "employment", "Wrexham", "team@careers.example", True)
    response = _save_agency(client, f"/admin/agencies/{agency.id}", name="Wrexham Careers", type="employment",
                            area="Wrexham", lead_contact_email="lead@careers.example")
    assert response.status_code == 302
    db.session.expire_all()
    agency = db.session.get(Agency, agency.id)
    assert agency.active is False and agency.lead_contact_email == "lead@careers.example"
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.record_type == "agency",
                                                              AuditEvent.record_id == agency.id)
                                     .order_by(AuditEvent.id)))
    assert [event.action for event in events] == ["agency.created", "agency.changed"]
    assert events[0].detail["before"] is None and events[0].detail["after"]["area"] == "Wrexham"
    assert events[1].detail["before"]["active"] is True and events[1].detail["after"]["active"] is False
    assert "Wrexham Careers" in client.get("/admin/agencies/").text


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "matrix housing a"}, "There is already an agency called matrix housing a"),
    ({"type": "wizardry"}, "Choose one of the types of agency listed"),
    ({"contact_email": "not an address"}, "Enter an email address in the correct format"),
    ({"name": ""}, "Enter the agency&#39;s name"),
])
def test_bad_agencies_say_why_and_save_nothing(client: FlaskClient, login_as, fields: dict, message: str) -> None:
    world = build_world()
    login_as(world.users[ADMIN])
    before = _agencies()
    response = _save_agency(client, "/admin/agencies/new", **{"name": "New Agency", "type": "housing", **fields})
    assert 400 <= response.status_code < 500
    assert message in response.text and "govuk-error-summary" in response.text
    db.session.expire_all()
    assert _agencies() == before


def test_renaming_an_agency_to_another_agencys_name_is_refused(client: FlaskClient, login_as) -> None:
    from panel_app.models import Agency

    world = build_world()
    login_as(world.users[ADMIN])
    response = _save_agency(client, f"/admin/agencies/{world.agency_b_id}", name="MATRIX HOUSING A", type="housing")
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Agency, world.agency_b_id).name == "Matrix Housing B"


def _save_partnership(client: FlaskClient, path: str, **fields) -> object:
    token = csrf_token_from(client.get(path).text)
    return client.post(path, data={"csrf_token": token, **fields})


def test_adding_and_changing_a_partnership_is_audited_before_and_after(client: FlaskClient, login_as) -> None:
    from panel_app.models import Partnership
    from panel_app.services.referrals import stages_of

    world = build_world()
    broker = world.users[BROKER]
    login_as(world.users[ADMIN])
    response = _save_partnership(client, "/admin/partnerships/new", name="Matrix R", area="Conwy",
                                 region="A new region", agency_ids=[world.agency_a_id, world.agency_b_id],
                                 broker_ids=broker.id, stages="First\nSecond\n\nThird")
    assert response.status_code == 302, response.text[:2000]
    partnership = db.session.scalar(select(Partnership).where(Partnership.name == "Matrix R"))
    assert {a.id for a in partnership.agencies} == {world.agency_a_id, world.agency_b_id}
    assert [b.id for b in partnership.brokers] == [broker.id] and partnership.region.name == "A new region"
    assert stages_of(partnership.id) == ["First", "Second", "Third"]
    response = _save_partnership(client, f"/admin/partnerships/{partnership.id}", name="Matrix R", area="Conwy",
                                 region="a new REGION", agency_ids=[world.agency_a_id], broker_ids=broker.id,
                                 stages="")
    assert response.status_code == 302
    db.session.expire_all()
    partnership = db.session.get(Partnership, partnership.id)
    assert [a.id for a in partnership.agencies] == [world.agency_a_id]
    assert partnership.region.name == "A new region"  # found by name whatever its case, not added twice
    assert len(stages_of(partnership.id)) == 5  # none given: the Kalix five
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.record_type == "partnership",
                                                              AuditEvent.record_id == partnership.id)
                                     .order_by(AuditEvent.id)))
    assert [event.action for event in events] == ["partnership.created", "partnership.changed"]
    assert events[1].detail["before"]["agency_ids"] == sorted([world.agency_a_id, world.agency_b_id])
    assert events[1].detail["after"]["agency_ids"] == [world.agency_a_id]
    assert events[1].detail["before"]["stages"] == ["First", "Second", "Third"]


@pytest.mark.parametrize(("fields", "message", "status"), [
    ({"name": "matrix p"}, "There is already a partnership called matrix p", 422),
    ({"broker_ids": None}, "Choose at least one broker, or confirm", 422),
    ({"broker_ids": "staff"}, "Choose only brokers listed", 400),
    ({"stages": "Same\nSame"}, "Two stages cannot have the same name", 422),
    ({"area": ""}, "Enter the area the partnership covers", 400),
])
def test_bad_partnerships_say_why_and_save_nothing(client: FlaskClient, login_as, fields: dict, message: str,
                                                    status: int) -> None:
    from panel_app.models import Partnership

    world = build_world()
    login_as(world.users[ADMIN])
    data = {"name": "Matrix S", "area": "Conwy", "region": "Admin matrix region", "agency_ids": world.agency_a_id,
            "broker_ids": world.users[BROKER].id, **fields}
    if data["broker_ids"] == "staff":
        data["broker_ids"] = world.users[STAFF].id
    data = {key: value for key, value in data.items() if value is not None}
    before = db.session.scalar(select(func.count()).select_from(Partnership))
    response = _save_partnership(client, "/admin/partnerships/new", **data)
    assert response.status_code == status, response.text[:1500]
    assert message in response.text and "govuk-error-summary" in response.text
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Partnership)) == before


def test_a_partnership_without_a_broker_needs_confirming(client: FlaskClient, login_as) -> None:
    world = build_world()
    login_as(world.users[ADMIN])
    response = _save_partnership(client, f"/admin/partnerships/{world.other_partnership_id}", name="Matrix Q",
                                 area="Q area", region="Admin matrix region", agency_ids=world.agency_b_id)
    assert response.status_code == 422
    response = _save_partnership(client, f"/admin/partnerships/{world.other_partnership_id}", name="Matrix Q",
                                 area="Q area", region="Admin matrix region", agency_ids=world.agency_b_id,
                                 without_broker="y")
    assert response.status_code == 302
