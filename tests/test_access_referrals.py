"""The access matrix of the referral routes: every route (page and API) x every role x the caller's
relation to the referral -> the status, and what the lists show.

The expectations are written out here by hand from docs/domain.md ("Who may see what") and docs/api.md, never
derived from policy.py, so that a change of rule has to be a change of this table too.

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after
it, so every case meets the world as built):

* partnership P (in the lead's region), member agencies: a YOT ("own agency", the referrer), a
  housing agency ("shared") and an education provider ("other agency", involved in nothing);
  brokered by "broker".
* partnership Q (another region), member agency: another YOT ("other partnership"); brokered by
  "other broker".
* referrals: ACCEPTED (P, referred by the YOT, accepted, shared with housing for accommodation),
  SUBMITTED (P, referred by the YOT, not yet triaged: housing does not see it) and ELSEWHERE (Q,
  referred by Q's YOT).

What "allowed in" means, route by route (the status an allowed caller gets in this world):

* GET of a page (list, form or record): 200.
* POST of a form page with only the CSRF token and the version: 400 (the form's required fields are
  missing), except the withdrawal of consent (no required field: the change is made, 302) and
  accept (302 on a submitted referral; 422 on one that is already accepted).
* POST /referrals/new with only the CSRF token: 400.
* API: GET 200; POST /api/v1/referrals with a valid body 201; POST .../share with a member agency
  200.

Refusals: anonymous 302 to /sign-in (pages) or 401 (API); a referral outside the caller's scope 404
everywhere (never 403); a caller who sees the referral but may not do the action 403; strategic
leads and admins 404 on every referral record route and 403 on the list and form pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.models import Role, User, db
from panel_app.pathways import Pathway
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import built_once, csrf_token_from
from tests.factories import make_agency, make_partnership, make_referral, make_region, make_user

ANONYMOUS = "anonymous"
BROKER = "broker"
OTHER_BROKER = "other_broker"
OWN = "own_agency"
SHARED = "shared_agency"
OTHER_AGENCY = "other_agency"
OTHER_PARTNERSHIP = "other_partnership"
LEAD = "strategic_lead"
ADMIN = "admin"
ROLES = [ANONYMOUS, BROKER, OTHER_BROKER, OWN, SHARED, OTHER_AGENCY, OTHER_PARTNERSHIP, LEAD, ADMIN]

# The referrals of the world, by the placeholder used in the paths below.
ACCEPTED = "accepted"
SUBMITTED = "submitted"
ELSEWHERE = "elsewhere"

NAMES = {
    ACCEPTED: ("Rhodri", "Matrixshared"),
    SUBMITTED: ("Seren", "Matrixsubmitted"),
    ELSEWHERE: ("Tomos", "Matrixelsewhere"),
}

# (method, path, door) -> status per role, in the order of ROLES:
#     anon broker other_broker own  shared other_agency other_partnership lead admin
EXPECTED: dict[tuple[str, str, str], list[int]] = {
    # --- Pages: lists and forms that name no referral.
    ("GET", "/referrals/", "page"):                          [302, 200, 200, 200, 200, 200, 200, 403, 403],
    ("GET", "/referrals/new", "page"):                       [302, 200, 200, 200, 200, 200, 200, 403, 403],
    ("POST", "/referrals/new", "page"):                      [302, 400, 400, 400, 400, 400, 400, 403, 403],
    ("GET", "/referrals/triage", "page"):                    [302, 200, 200, 403, 403, 403, 403, 403, 403],
    # --- Pages: one referral.
    ("GET", "/referrals/{accepted}", "page"):                [302, 200, 404, 200, 200, 404, 404, 404, 404],
    ("GET", "/referrals/{submitted}", "page"):               [302, 200, 404, 200, 404, 404, 404, 404, 404],
    # With no possible match to decide on, the accept page goes straight back to the referral.
    ("GET", "/referrals/{submitted}/accept", "page"):        [302, 302, 404, 403, 404, 404, 404, 404, 404],
    ("POST", "/referrals/{submitted}/accept", "page"):       [302, 302, 404, 403, 404, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/accept", "page"):        [302, 422, 404, 403, 403, 404, 404, 404, 404],
    ("GET", "/referrals/{accepted}/decline", "page"):        [302, 200, 404, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/decline", "page"):       [302, 400, 404, 403, 403, 404, 404, 404, 404],
    ("GET", "/referrals/{accepted}/request-information", "page"):
                                                             [302, 200, 404, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/request-information", "page"):
                                                             [302, 400, 404, 403, 403, 404, 404, 404, 404],
    # Only the referring agency answers the broker's question: the broker too gets a 403.
    ("GET", "/referrals/{accepted}/provide-information", "page"):
                                                             [302, 403, 404, 200, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/provide-information", "page"):
                                                             [302, 403, 404, 400, 403, 404, 404, 404, 404],
    ("GET", "/referrals/{accepted}/share", "page"):          [302, 200, 404, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/share", "page"):         [302, 400, 404, 403, 403, 404, 404, 404, 404],
    ("GET", "/referrals/{accepted}/stage", "page"):          [302, 200, 404, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/stage", "page"):         [302, 400, 404, 403, 403, 404, 404, 404, 404],
    ("GET", "/referrals/{accepted}/needs", "page"):          [302, 200, 404, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/needs", "page"):         [302, 400, 404, 403, 403, 404, 404, 404, 404],
    ("GET", "/referrals/{accepted}/close", "page"):          [302, 200, 404, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/close", "page"):         [302, 400, 404, 403, 403, 404, 404, 404, 404],
    ("GET", "/referrals/{accepted}/consent", "page"):        [302, 200, 404, 403, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/consent", "page"):       [302, 400, 404, 403, 403, 404, 404, 404, 404],
    # The broker or the referring agency records a withdrawal of consent.
    ("GET", "/referrals/{accepted}/consent/withdraw", "page"):
                                                             [302, 200, 404, 200, 403, 404, 404, 404, 404],
    ("POST", "/referrals/{accepted}/consent/withdraw", "page"):
                                                             [302, 302, 404, 302, 403, 404, 404, 404, 404],
    # --- API.
    ("GET", "/api/v1/referrals", "api"):                     [401, 200, 200, 200, 200, 200, 200, 200, 200],
    ("GET", "/api/v1/referrals/{accepted}", "api"):          [401, 200, 404, 200, 200, 404, 404, 404, 404],
    ("GET", "/api/v1/referrals/{submitted}", "api"):         [401, 200, 404, 200, 404, 404, 404, 404, 404],
    # Referring into P: its broker and staff of its member agencies. The strategic lead sees P (it is
    # in the lead's region: GET /api/v1/partnerships lists it) but may not refer: 403 (docs/api.md: "you
    # can see it but may not do this"). P is outside the scope of the other broker, of Q's agency and
    # of the admin: 404.
    ("POST", "/api/v1/referrals", "api"):                    [401, 201, 404, 201, 201, 201, 404, 403, 404],
    ("POST", "/api/v1/referrals/{accepted}/share", "api"):   [401, 200, 404, 403, 403, 404, 404, 404, 404],
    # Triage through the API: the broker only; declining an accepted referral is too late (422).
    ("POST", "/api/v1/referrals/{submitted}/accept", "api"): [401, 200, 404, 403, 404, 404, 404, 404, 404],
    ("POST", "/api/v1/referrals/{accepted}/decline", "api"): [401, 422, 404, 403, 403, 404, 404, 404, 404],
}

# The referrals each list shows each role who may open it (by the placeholders above).
LISTED: dict[tuple[str, str], dict[str, set[str]]] = {
    ("GET", "/referrals/"): {
        BROKER: {ACCEPTED, SUBMITTED}, OTHER_BROKER: {ELSEWHERE}, OWN: {ACCEPTED, SUBMITTED}, SHARED: {ACCEPTED},
        OTHER_AGENCY: set(), OTHER_PARTNERSHIP: {ELSEWHERE},
    },
    ("GET", "/referrals/triage"): {BROKER: {SUBMITTED}, OTHER_BROKER: {ELSEWHERE}},
    ("GET", "/api/v1/referrals"): {
        BROKER: {ACCEPTED, SUBMITTED}, OTHER_BROKER: {ELSEWHERE}, OWN: {ACCEPTED, SUBMITTED}, SHARED: {ACCEPTED},
        OTHER_AGENCY: set(), OTHER_PARTNERSHIP: {ELSEWHERE}, LEAD: set(), ADMIN: set(),
    },
}

CASES = [
    pytest.param(method, path, door, role, statuses[index], id=f"{method} {path} as {role}")
    for (method, path, door), statuses in EXPECTED.items()
    for index, role in enumerate(ROLES)
]

# 34 routes (rows of EXPECTED) x 9 callers, counted by hand.
EXPECTED_CASE_COUNT = 306


@dataclass(frozen=True)
class World:
    users: dict[str, int]  # role -> user id
    referrals: dict[str, int]  # placeholder -> referral id
    versions: dict[str, int]  # placeholder -> the referral's version as built
    partnership_id: int
    referring_agency_id: int
    uninvolved_member_agency_id: int


def build_world() -> World:
    home_region = make_region(name="Home region")
    yot = make_agency(type="yot", name="Referring YOT")
    housing = make_agency(type="housing", name="Shared Housing")
    education = make_agency(type="education", name="Uninvolved Education")
    broker = make_user(Role.BROKER, name="Home Broker")
    partnership = make_partnership(agencies=[yot, housing, education], brokers=[broker], region=home_region,
                                   name="Home Partnership")
    elsewhere_yot = make_agency(type="yot", name="Elsewhere YOT")
    other_broker = make_user(Role.BROKER, name="Elsewhere Broker")
    elsewhere = make_partnership(agencies=[elsewhere_yot], brokers=[other_broker], region=make_region(),
                                 name="Elsewhere Partnership")
    users = {
        BROKER: broker,
        OTHER_BROKER: other_broker,
        OWN: make_user(Role.AGENCY_STAFF, agency=yot),
        SHARED: make_user(Role.AGENCY_STAFF, agency=housing),
        OTHER_AGENCY: make_user(Role.AGENCY_STAFF, agency=education),
        OTHER_PARTNERSHIP: make_user(Role.AGENCY_STAFF, agency=elsewhere_yot),
        LEAD: make_user(Role.STRATEGIC_LEAD, region=home_region),
        ADMIN: make_user(Role.ADMIN),
    }

    def person(key: str) -> YoungPersonDetails:
        return YoungPersonDetails(*NAMES[key], date(2009, 5, 17))

    referrals = {
        ACCEPTED: make_referral(partnership=partnership, referrer=users[OWN], broker=broker, status="accepted",
                                shared_with=[(housing, [Pathway.ACCOMMODATION])], young_person=person(ACCEPTED)),
        SUBMITTED: make_referral(partnership=partnership, referrer=users[OWN], broker=broker,
                                 young_person=person(SUBMITTED)),
        ELSEWHERE: make_referral(partnership=elsewhere, referrer=users[OTHER_PARTNERSHIP], broker=other_broker,
                                 young_person=person(ELSEWHERE)),
    }
    return World({role: user.id for role, user in users.items()},
                 {key: referral.id for key, referral in referrals.items()},
                 {key: referral.version for key, referral in referrals.items()}, partnership.id, yot.id, education.id)


@pytest.fixture(scope="module")
def world(app: Flask, module_connection) -> World:
    return built_once(app, module_connection, build_world)


def _api_body(method: str, path: str, world: World, role: str) -> dict | None:
    if method != "POST":
        return None
    if path == "/api/v1/referrals":
        body = {
            "partnership_id": world.partnership_id,
            "young_person": {"given_name": "Nia", "family_name": "Matrixnew", "date_of_birth": "2010-03-04"},
            "reason": "Needs somewhere to live on release.",
            "consent": {"given": True},
        }
        if role in (BROKER, OTHER_BROKER):
            body["referring_agency_id"] = world.referring_agency_id  # brokers refer for a member agency
        return body
    if path.endswith("/share"):
        return {"agency_id": world.uninvolved_member_agency_id}
    if path.endswith("/accept"):
        return {}
    if path.endswith("/decline"):
        return {"reason": "Lives outside the partnership's area"}
    raise AssertionError(f"no body for {method} {path}")


def _names_in(text: str) -> set[str]:
    """The referrals whose young person is named in a page or an answer (family names are unique, and
    the API sends given and family names apart)."""
    return {key for key, (_given, family) in NAMES.items() if family in text}


@pytest.mark.parametrize(("method", "path", "door", "role", "expected"), CASES)
def test_referral_access_matrix(client: FlaskClient, login_as, api_token, world: World, method: str, path: str,
                                door: str, role: str, expected: int) -> None:
    user = db.session.get(User, world.users[role]) if role in world.users else None
    referral_placeholder = next((key for key in world.referrals if "{" + key + "}" in path), None)
    url = path.format(**world.referrals)
    version = str(world.versions[referral_placeholder]) if referral_placeholder else ""

    headers: dict[str, str] = {}
    if user is not None:
        if door == "api":
            headers = api_token(user)
        else:
            login_as(user)
    data = None
    if method == "POST" and door == "page":
        # The sign-out form of the header carries the session's CSRF token; anonymous: the sign-in form.
        token = csrf_token_from(client.get("/" if user is not None else "/sign-in").text)
        data = {"csrf_token": token}
        if referral_placeholder:
            data["version"] = version

    response = client.open(url, method=method, headers=headers, data=data,
                           json=_api_body(method, path, world, role) if door == "api" else None)
    response.close()

    assert response.status_code == expected, (
        f"{method} {path} as {role}: expected {expected}, got {response.status_code}: {response.text[:300]}")

    if expected == 302:
        location = response.headers["Location"]
        if role == ANONYMOUS:
            assert location.startswith("/sign-in"), location
        else:
            # An allowed change goes back to the referral's page, never to the sign-in page.
            assert location == f"/referrals/{world.referrals[referral_placeholder]}", location
    if expected == 201:
        # The caller's agency is the referring agency; a broker names one of the partnership's agencies.
        assert response.json["referring_agency"]["id"] == (
            world.referring_agency_id if user.agency_id is None else user.agency_id)
    if door == "api" and path.endswith("/share") and expected == 200:
        assert world.uninvolved_member_agency_id in {agency["id"] for agency in response.json["agencies"]}
    if expected == 401:
        assert response.json["error"]["code"] == "unauthorized"
    if door == "api" and expected in (403, 404):
        assert response.json["error"]["code"] == {403: "forbidden", 404: "not_found"}[expected]
    if expected in (302, 401, 403, 404):
        # A refusal (or a redirect) names no young person.
        assert _names_in(response.text) == set(), f"a refusal showed a young person's name: {_names_in(response.text)}"
    if expected == 200 and method == "GET" and referral_placeholder:
        # A page or answer about one referral names its young person, and no other.
        assert _names_in(response.text) == {referral_placeholder}

    listed = LISTED.get((method, path), {}).get(role)
    if listed is None:
        return
    if door == "api":
        body = response.json
        ids = {item["id"] for item in body["items"]}
        assert ids == {world.referrals[key] for key in listed}
        assert body["total"] == len(listed), f"total counts referrals the caller may not see: {body['total']}"
        return
    assert _names_in(response.text) == listed
    # The count the page shows counts only what the caller may see.
    soup = BeautifulSoup(response.text, "html.parser")
    count = len(listed)
    counted = f"{count} referral{'' if count == 1 else 's'}"
    if path == "/referrals/":
        assert soup.find(attrs={"role": "status"}).get_text(strip=True) == counted
    else:  # the triage queue
        text = soup.get_text(" ", strip=True)
        assert f"{counted} waiting" in text if count else "Nothing to triage" in text


def test_the_matrix_covers_every_referral_route_and_counts_its_cases(app: Flask) -> None:
    """Every referral route of the URL map (page and API, each method) has a row; the case count is
    the hand-computed one."""
    adapter = app.url_map.bind("localhost")
    covered = set()
    for method, path, _door in EXPECTED:
        endpoint, _args = adapter.match(path.format(accepted=1, submitted=1, elsewhere=1), method=method)
        covered.add((endpoint, method))
    declared = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("referrals.", "api.referral"))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert declared - covered == set(), "referral routes without a row in the access matrix"
    assert len(EXPECTED) == 34
    assert len(CASES) == EXPECTED_CASE_COUNT == len(EXPECTED) * len(ROLES)
    print(f"\nreferral access matrix: {len(CASES)} cases ({len(EXPECTED)} routes x {len(ROLES)} callers)")
