"""Leak test: seeded referrals carry unique marker strings (names, YOT references, reasons, need
notes, restricted health and substance-misuse notes, past notes in the need history). For each
person, every GET route of the application is walked (the URL map, with the seeded referrals' ids
for its ``<int:...>`` parameters), as pages with a session and as API calls with a bearer token,
with searches and filters on the lists; the markers seen must be exactly the ones that person may
see, and the counts must count only what they may see.

What each person may see is written out here by hand from docs/domain.md ("Who may see what"), never
derived from policy.py.

The world every case runs in (built once per module; each case runs in a SAVEPOINT rolled back after
it, so every case meets the world as built):

* partnership P: a YOT (the referrer of MAIN and WITHDRAWN), a housing agency (MAIN shared with it
  for accommodation), a health agency (MAIN shared for health), a substance-misuse service (MAIN
  shared for substance misuse), an education provider (the referrer of OTHER-AGENCY) and a
  children's services team involved in nothing. Brokered by "broker".
* partnership Q: another YOT, the referrer of OTHER-PARTNERSHIP. Brokered by "other_broker".
* Both partnerships are in the strategic lead's region.
* WITHDRAWN was shared with housing and health, then the young person withdrew consent.
"""

from __future__ import annotations

import io

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pypdf
import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.models import NeedRating, Referral, Role, User, db
from panel_app.pathways import Pathway
from panel_app.services import referrals as service
from panel_app.services.referrals import NeedInput, YoungPersonDetails
from tests.conftest import built_once, sign_in
from tests.factories import make_agency, make_partnership, make_referral, make_region, make_user

SUFFIX = "7f3a"

MAIN = "MAIN"
OTHER_AGENCY = "OTHER-AGENCY"
OTHER_PARTNERSHIP = "OTHER-PARTNERSHIP"
WITHDRAWN = "WITHDRAWN"
REFERRALS = [MAIN, OTHER_AGENCY, OTHER_PARTNERSHIP, WITHDRAWN]

# The fields that carry a marker. OPEN: what everyone who sees the referral may read.
NAME, YOTREF, REASON, ACCOMMODATION = "NAME", "YOTREF", "REASON", "ACCOMMODATION-NOTE"
HEALTH, HEALTH_OLD = "HEALTH-NOTE", "HEALTH-OLD-NOTE"  # the current health note, and the one before it
SUBSTANCE, SUBSTANCE_OLD = "SUBSTANCE-NOTE", "SUBSTANCE-OLD-NOTE"
OPEN = frozenset({NAME, YOTREF, REASON, ACCOMMODATION})
ALL = OPEN | {HEALTH, HEALTH_OLD, SUBSTANCE, SUBSTANCE_OLD}


def marker(referral: str, field: str) -> str:
    return f"MARKER-{referral}-{field}-{SUFFIX}"


EVERY_MARKER = {marker(r, f) for r in REFERRALS for f in ALL}

# The people, and what each may see: referral -> the fields whose markers may reach them.
BROKER = "broker"
OTHER_BROKER = "other_broker"
REFERRER = "referrer"  # staff of the YOT that referred MAIN and WITHDRAWN
HOUSING = "housing"
HEALTH_STAFF = "health"
SUBSTANCE_STAFF = "substance_misuse"
EDUCATION = "education"  # staff of the agency that referred OTHER-AGENCY
UNINVOLVED = "uninvolved"  # staff of a member agency of P involved in nothing
ELSEWHERE = "elsewhere"  # staff of Q's YOT, the referrer of OTHER-PARTNERSHIP
LEAD = "strategic_lead"
ADMIN = "admin"

SEES: dict[str, dict[str, frozenset[str]]] = {
    BROKER: {MAIN: ALL, OTHER_AGENCY: ALL, WITHDRAWN: ALL},
    OTHER_BROKER: {OTHER_PARTNERSHIP: ALL},
    REFERRER: {MAIN: ALL, WITHDRAWN: ALL},
    HOUSING: {MAIN: OPEN},  # shared for accommodation: no health or substance-misuse note
    HEALTH_STAFF: {MAIN: OPEN | {HEALTH, HEALTH_OLD}},  # the health note, never the substance-misuse one
    SUBSTANCE_STAFF: {MAIN: OPEN | {SUBSTANCE, SUBSTANCE_OLD}},  # the substance-misuse note, never health
    EDUCATION: {OTHER_AGENCY: ALL},
    UNINVOLVED: {},
    ELSEWHERE: {OTHER_PARTNERSHIP: ALL},
    LEAD: {},
    ADMIN: {},
}

# The referral list page (and the API's ``total``): how many referrals each person counts, unfiltered.
LIST_COUNT = {BROKER: 3, OTHER_BROKER: 1, REFERRER: 2, HOUSING: 1, HEALTH_STAFF: 1, SUBSTANCE_STAFF: 1,
              EDUCATION: 1, UNINVOLVED: 0, ELSEWHERE: 1, LEAD: 0, ADMIN: 0}
# Leads and admins never open the list pages (403), whatever the query.
NO_LIST_PAGES = {LEAD, ADMIN}


@dataclass
class World:
    users: dict[str, int]  # role -> user id
    referrals: dict[str, int]  # key -> referral id
    partnership_ids: dict[str, int]


def _needs(referral: str, *, old: bool) -> dict[Pathway, tuple[NeedRating, str]]:
    health, substance = (HEALTH_OLD, SUBSTANCE_OLD) if old else (HEALTH, SUBSTANCE)
    return {
        Pathway.ACCOMMODATION: (NeedRating.RED, marker(referral, ACCOMMODATION)),
        Pathway.HEALTH: (NeedRating.RED, marker(referral, health)),
        Pathway.SUBSTANCE_MISUSE: (NeedRating.AMBER, marker(referral, substance)),
    }


def build_world() -> World:
    region = make_region(name="Leak region")
    yot = make_agency(type="yot", name="Leak YOT")
    housing = make_agency(type="housing", name="Leak Housing")
    health = make_agency(type="health", name="Leak Health Board")
    substance = make_agency(type="substance_misuse", name="Leak Substance Service")
    education = make_agency(type="education", name="Leak School")
    childrens = make_agency(type="childrens_services", name="Leak Children's Services")
    elsewhere_yot = make_agency(type="yot", name="Elsewhere YOT")
    broker = make_user(Role.BROKER, name="Leak Broker")
    other_broker = make_user(Role.BROKER, name="Elsewhere Broker")
    home = make_partnership(agencies=[yot, housing, health, substance, education, childrens], brokers=[broker],
                            region=region, name="Leak Partnership")
    other = make_partnership(agencies=[elsewhere_yot], brokers=[other_broker], region=region,
                             name="Elsewhere Partnership")
    users = {
        BROKER: broker,
        OTHER_BROKER: other_broker,
        REFERRER: make_user(Role.AGENCY_STAFF, agency=yot),
        HOUSING: make_user(Role.AGENCY_STAFF, agency=housing),
        HEALTH_STAFF: make_user(Role.AGENCY_STAFF, agency=health),
        SUBSTANCE_STAFF: make_user(Role.AGENCY_STAFF, agency=substance),
        EDUCATION: make_user(Role.AGENCY_STAFF, agency=education),
        UNINVOLVED: make_user(Role.AGENCY_STAFF, agency=childrens),
        ELSEWHERE: make_user(Role.AGENCY_STAFF, agency=elsewhere_yot),
        LEAD: make_user(Role.STRATEGIC_LEAD, region=region),
        ADMIN: make_user(Role.ADMIN),
    }

    def refer(key: str, partnership, referrer: User, status: str, shared_with=None) -> Referral:
        referral = make_referral(
            partnership=partnership, referrer=referrer, status=status, shared_with=shared_with,
            needs=_needs(key, old=True), reason=marker(key, REASON),
            young_person=YoungPersonDetails("Mali", marker(key, NAME), date(2009, 5, 17),
                                            yot_reference=marker(key, YOTREF)),
        )
        # Re-rated once: the earlier notes stay in the need history, the current ones on the page.
        partner_broker = broker if partnership is home else other_broker
        current = {pathway: NeedInput(rating, note) for pathway, (rating, note) in _needs(key, old=False).items()}
        service.rate_needs(partner_broker, referral, current)
        db.session.flush()
        return referral

    referrals = {
        MAIN: refer(MAIN, home, users[REFERRER], "accepted", shared_with=[
            (housing, [Pathway.ACCOMMODATION]), (health, [Pathway.HEALTH]), (substance, [Pathway.SUBSTANCE_MISUSE]),
        ]),
        OTHER_AGENCY: refer(OTHER_AGENCY, home, users[EDUCATION], "submitted"),
        OTHER_PARTNERSHIP: refer(OTHER_PARTNERSHIP, other, users[ELSEWHERE], "submitted"),
        WITHDRAWN: refer(WITHDRAWN, home, users[REFERRER], "accepted", shared_with=[
            (housing, [Pathway.ACCOMMODATION]), (health, [Pathway.HEALTH]),
        ]),
    }
    service.withdraw_consent(users[REFERRER], referrals[WITHDRAWN], None, "The young person asked us to stop sharing")
    db.session.flush()
    return World({role: user.id for role, user in users.items()},
                 {key: referral.id for key, referral in referrals.items()}, {"home": home.id, "other": other.id})


@pytest.fixture(scope="module")
def world(app: Flask, module_connection) -> World:
    return built_once(app, module_connection, build_world)


def user_of(world: World, role: str) -> User:
    """The person of that role, loaded in the case's own session."""
    return db.session.get(User, world.users[role])


def _text_of(response) -> str:
    """What a response says: a PDF's extracted text, otherwise its body."""
    if response.mimetype == "application/pdf":
        reader = pypdf.PdfReader(io.BytesIO(response.get_data()))
        return " ".join(page.extract_text() for page in reader.pages)
    return response.get_data(as_text=True)


# --- Walking the application --------------------------------------------------------------------


PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")  # <converter(args):name> in a rule


def get_urls(app: Flask, world: World) -> Iterator[str]:
    """Every GET route of the URL map (but static assets), each ``<int:...>`` filled with each seeded
    referral's id; then the lists again with searches and filters."""
    ids = list(world.referrals.values())
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or "GET" not in rule.methods:
            continue
        converters = dict((name, converter) for converter, name in PARAMETER.findall(rule.rule))
        # Ids are filled with each seeded referral's id; a calendar feed's secret, and a single-use
        # account link's, with one nobody has.
        secrets = {"token": "not-a-calendar-secret", "secret": "not-an-account-link"}
        assert all(converter == "int" or name in secrets for name, converter in converters.items()), (
            f"{rule.rule}: the leak walk does not know how to fill its parameters; teach it")
        if not rule.arguments:
            yield rule.rule
            continue
        for referral_id in ids:
            values = {name: secrets.get(name, referral_id) for name in rule.arguments}
            yield app.url_map.bind("localhost").build(rule.endpoint, values)
    # Searches by a part of each name and YOT reference (never a whole marker: the search box echoes it).
    searches = [f"marker-{key.lower()}-{field.lower()}" for key in REFERRALS for field in (NAME, YOTREF)]
    searches += ["marker", "mali", SUFFIX]
    home, other = world.partnership_ids["home"], world.partnership_ids["other"]
    for q in searches:
        yield f"/referrals/?q={q}"
        yield f"/api/v1/referrals?q={q}&per_page=100"
    page_filters = [f"partnership={home}", f"partnership={other}", "status=submitted", "status=accepted",
                    "status=active", "pathway=health", "pathway=substance_misuse&rating=amber", "rating=red",
                    "release_within=26", "stage=1", "page=2", f"q=mali&partnership={other}"]
    api_filters = [f"partnership_id={home}", f"partnership_id={other}", "status=submitted", "status=accepted",
                   "pathway=health", "pathway=substance_misuse&rating=amber", "rating=red", "stage=1",
                   "per_page=1", "per_page=1&page=2", "per_page=1&page=3", f"q=mali&partnership_id={other}"]
    for query in page_filters:
        yield f"/referrals/?{query}"
    for query in api_filters:
        yield f"/api/v1/referrals?{query}" + ("" if "per_page" in query else "&per_page=100")


def markers_in(text: str) -> set[str]:
    lowered = text.lower()
    return {m for m in EVERY_MARKER if m.lower() in lowered}


def allowed_markers(role: str) -> set[str]:
    return {marker(referral, field) for referral, fields in SEES[role].items() for field in fields}


def _sign_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    response = sign_in(client, user.email)
    assert response.status_code == 302, f"sign-in failed for {user.email}"
    return client


def test_the_markers_are_distinct() -> None:
    """No marker is part of another (or a hit for one would be a hit for both)."""
    for one in EVERY_MARKER:
        for other in EVERY_MARKER - {one}:
            assert one.lower() not in other.lower()
    assert len(EVERY_MARKER) == len(REFERRALS) * len(ALL) == 32


@pytest.mark.parametrize("role", list(SEES))
def test_every_get_route_shows_each_person_only_what_they_may_see(app: Flask, api_token, world: World,
                                                                 role: str) -> None:
    user = user_of(world, role)
    headers = api_token(user)
    client = _sign_in(app, user)

    seen: dict[str, set[str]] = {}  # url -> markers
    visited = 0
    for url in get_urls(app, world):
        if url.startswith("/api/"):
            response = client.get(url, headers=headers)
        else:
            response = client.get(url)
        visited += 1
        assert response.status_code < 500, f"{url} as {role}: {response.status_code}"
        body = _text_of(response) + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        found = markers_in(body)
        if found:
            seen[url] = found
        leaked = found - allowed_markers(role)
        assert not leaked, f"{url} as {role} ({response.status_code}) shows what {role} may not see: {sorted(leaked)}"

    # Everything they may see does reach them somewhere (the walk is not blind).
    assert set().union(*seen.values()) == allowed_markers(role)
    assert visited > 60
    print(f"\n{role}: {visited} GET requests, {len(allowed_markers(role))} markers seen where allowed, none elsewhere")


# One referral's page and API answer: who gets it (200), and who gets a 404.
@pytest.mark.parametrize("role", list(SEES))
def test_each_referral_page_and_answer_is_a_404_outside_scope(app: Flask, api_token, world: World, role: str) -> None:
    user = user_of(world, role)
    headers = api_token(user)
    client = _sign_in(app, user)
    for key, referral_id in world.referrals.items():
        expected = 200 if key in SEES[role] else 404
        page = client.get(f"/referrals/{referral_id}")
        answer = client.get(f"/api/v1/referrals/{referral_id}", headers=headers)
        assert (page.status_code, answer.status_code) == (expected, expected), f"{key} as {role}"
        if expected == 200:
            notes = answer.json["needs"]
            # A note the caller may not read is absent from the answer, not sent empty.
            assert ("note" in notes["health"]) == (HEALTH in SEES[role][key])
            assert ("note" in notes["substance_misuse"]) == (SUBSTANCE in SEES[role][key])
            assert notes["accommodation"]["note"] == marker(key, ACCOMMODATION)


COUNT_TEXT = re.compile(r'role="status">\s*(\d+) referrals?\s*<')


@pytest.mark.parametrize("role", list(SEES))
def test_lists_count_only_what_each_person_may_see(app: Flask, api_token, world: World, role: str) -> None:
    user = user_of(world, role)
    headers = api_token(user)
    client = _sign_in(app, user)
    visible = set(SEES[role])

    # Unfiltered, and searched by each referral's name and YOT reference.
    queries: list[tuple[str, str, int]] = [("", "", LIST_COUNT[role])]
    for key in REFERRALS:
        expected = 1 if key in visible else 0
        queries.append((f"q=marker-{key.lower()}-name", f"q=marker-{key.lower()}-name", expected))
        queries.append((f"q=marker-{key.lower()}-yotref", f"q=marker-{key.lower()}-yotref", expected))
    # The other partnership's id as a filter shows nothing of it to anyone outside it.
    other = world.partnership_ids["other"]
    queries.append((f"partnership={other}", f"partnership_id={other}", 1 if OTHER_PARTNERSHIP in visible else 0))
    for page_query, api_query, expected in queries:
        answer = client.get(f"/api/v1/referrals?{api_query}", headers=headers)
        assert answer.status_code == 200
        assert answer.json["total"] == expected, f"API total for ?{api_query} as {role}"
        assert len(answer.json["items"]) == expected
        page = client.get(f"/referrals/?{page_query}")
        if role in NO_LIST_PAGES:
            assert page.status_code == 403
            continue
        if page_query.startswith("partnership=") and OTHER_PARTNERSHIP not in visible:
            # The page's partnership filter offers only the caller's own partnerships, and refuses
            # another's id as it refuses an id that does not exist (the same 400 either way). What it
            # must never do is count or name the other partnership's referral: whatever it counts is
            # exactly the referrals it names, all of them the caller's.
            assert page.status_code == 400, f"page filter ?{page_query} as {role}"
            named = {key for key in REFERRALS if marker(key, NAME).lower() in page.text.lower()}
            assert named <= visible and OTHER_PARTNERSHIP not in named
            match = COUNT_TEXT.search(page.text)
            assert match is None or int(match.group(1)) == len(named)
            choices = BeautifulSoup(page.text, "html.parser").select('select[name="partnership"] option')
            assert str(other) not in {option.get("value") for option in choices}  # nor offered as a choice
            continue
        assert page.status_code == 200
        match = COUNT_TEXT.search(page.text)
        assert match, "the list says how many referrals match"
        assert int(match.group(1)) == expected, f"page count for ?{page_query} as {role}"


# The broker's triage queue: submitted referrals of the partnerships they broker, and no other.
@pytest.mark.parametrize(("role", "expected"), [(BROKER, {OTHER_AGENCY}), (OTHER_BROKER, {OTHER_PARTNERSHIP})])
def test_the_triage_queue_holds_only_the_brokers_own_partnerships(app: Flask, world: World, role: str,
                                                                  expected: set[str]) -> None:
    client = _sign_in(app, user_of(world, role))
    page = client.get("/referrals/triage")
    assert page.status_code == 200
    assert markers_in(page.text) == {marker(key, NAME) for key in expected}
    assert f"{len(expected)} referral waiting" in page.text


# The home page's caseload figures are counted within the same scope.
HOME_OPEN = {BROKER: 3, OTHER_BROKER: 1, REFERRER: 2, HOUSING: 1, HEALTH_STAFF: 1, SUBSTANCE_STAFF: 1,
             EDUCATION: 1, UNINVOLVED: 0, ELSEWHERE: 1}
OPEN_FIGURE = re.compile(r'app-card__figure">\s*(\d+)\s*</span>\s*open referrals?')


@pytest.mark.parametrize("role", list(SEES))
def test_the_home_page_counts_only_what_each_person_may_see(app: Flask, world: World, role: str) -> None:
    client = _sign_in(app, user_of(world, role))
    page = client.get("/")
    assert page.status_code == 200
    match = OPEN_FIGURE.search(page.text)
    if role in (LEAD, ADMIN):
        # Strategic leads and admins see no caseload of young people at all.
        assert match is None and "open referral" not in page.text
        return
    assert match, "the home page shows the open referrals figure"
    assert int(match.group(1)) == HOME_OPEN[role]


# --- Withdrawn consent --------------------------------------------------------------------------


# Its own people and referral, made beside the module's world (on its connection, as every test here).
@pytest.mark.usefixtures("world")
def test_withdrawn_consent_narrows_the_circle_to_the_referrer_and_the_broker(app: Flask, api_token) -> None:
    yot = make_agency(type="yot", name="Withdrawal YOT")
    housing = make_agency(type="housing", name="Withdrawal Housing")
    health = make_agency(type="health", name="Withdrawal Health")
    broker = make_user(Role.BROKER)
    partnership = make_partnership(agencies=[yot, housing, health], brokers=[broker])
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    people = {"broker": broker, "referrer": referrer,
              "housing": make_user(Role.AGENCY_STAFF, agency=housing),
              "health": make_user(Role.AGENCY_STAFF, agency=health)}
    name = marker("CONSENT", NAME)
    referral = make_referral(partnership=partnership, referrer=referrer, status="active",
                             shared_with=[(housing, None), (health, [Pathway.HEALTH])],
                             needs={Pathway.HEALTH: (NeedRating.RED, marker("CONSENT", HEALTH))},
                             young_person=YoungPersonDetails("Mali", name, date(2009, 5, 17)))
    referral_id = referral.id
    clients = {role: (_sign_in(app, user), api_token(user)) for role, user in people.items()}

    def what_each_sees() -> dict[str, tuple[int, int, bool, int, bool]]:
        result = {}
        for role, (client, headers) in clients.items():
            page = client.get(f"/referrals/{referral_id}")
            answer = client.get(f"/api/v1/referrals/{referral_id}", headers=headers)
            listed = client.get("/referrals/?q=marker-consent")
            items = client.get("/api/v1/referrals?q=marker-consent", headers=headers).json
            result[role] = (page.status_code, answer.status_code, name in listed.text, items["total"],
                            any(item["id"] == referral_id for item in items["items"]))
        return result

    before = what_each_sees()
    assert before == {role: (200, 200, True, 1, True) for role in people}

    db.session.expire_all()
    service.withdraw_consent(referrer, db.session.get(Referral, referral_id), None, None)
    db.session.commit()

    after = what_each_sees()
    assert after == {
        "broker": (200, 200, True, 1, True),
        "referrer": (200, 200, True, 1, True),
        "housing": (404, 404, False, 0, False),
        "health": (404, 404, False, 0, False),
    }
    # And none of the former circle finds a trace of the young person on any page walked.
    for role in ("housing", "health"):
        client, headers = clients[role]
        for url in (f"/referrals/{referral_id}/share", f"/referrals/{referral_id}/needs", "/referrals/",
                    "/referrals/?status=active", "/api/v1/referrals?pathway=health", "/"):
            response = client.get(url, headers=headers if url.startswith("/api/") else None)
            assert name.lower() not in response.text.lower(), f"{url} as {role}"
            assert marker("CONSENT", HEALTH).lower() not in response.text.lower()
