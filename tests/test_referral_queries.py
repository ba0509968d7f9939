"""The referral lists: a fixed number of SQL queries whatever the number of referrals, filters that
filter, and pagination.

The filters' cases run in one catalogue of referrals, built once per module (``catalogue``; each case
runs in a SAVEPOINT rolled back after it, so every case meets it as built); the other tests make their
own partnerships beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from panel_app.extensions import db
from panel_app.models import Agency, LegalStatus, NeedRating, Partnership, Referral, Role, User
from panel_app.pathways import Pathway
from panel_app.services.clock import today
from panel_app.services.referrals import ConsentInput, YoungPersonDetails
from tests.conftest import built_once, client_for, counting_queries, kept, loaded
from tests.factories import make_agency, make_partnership, make_referral, make_user

PER_PAGE = 25


# --- Helpers ------------------------------------------------------------------------------------


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def listed_ids(html: str) -> list[int]:
    """The referrals a list or triage page shows, in order."""
    table = BeautifulSoup(html, "html.parser").find("table", class_="govuk-table")
    if table is None:
        return []
    ids = []
    for row in table.find("tbody").find_all("tr"):
        link = row.find("a", href=re.compile(r"^/referrals/\d+$"))
        ids.append(int(link["href"].rsplit("/", 1)[1]))
    return ids


def shown_total(html: str) -> int:
    status = BeautifulSoup(html, "html.parser").find(attrs={"role": "status"})
    match = re.fullmatch(r"(\d+) referrals?", status.get_text(strip=True))
    assert match, status.get_text(strip=True)
    return int(match.group(1))


@dataclass
class Crowd:
    partnership: Partnership
    broker: User
    referrer: User
    housing: Agency
    housing_staff: User
    people: dict[int, YoungPersonDetails] = field(default_factory=dict)


def make_crowd() -> Crowd:
    yot = make_agency(type="yot", name="Crowd YOT")
    housing = make_agency(type="housing", name="Crowd Housing")
    health = make_agency(type="health", name="Crowd Health")
    broker = make_user(Role.BROKER)
    partnership = make_partnership(agencies=[yot, housing, health], brokers=[broker])
    crowd = Crowd(partnership, broker, make_user(Role.AGENCY_STAFF, agency=yot), housing,
                  make_user(Role.AGENCY_STAFF, agency=housing))
    db.session.commit()
    return crowd


def add_referrals(crowd: Crowd, start: int, stop: int) -> None:
    """Referrals ``start`` to ``stop - 1``, in a repeating mix of five: a submitted one in custody
    with a release coming; one accepted and shared with housing, a red health need; one active and
    shared, with a consent review due; a submitted re-referral of the first of its five; a closed one."""
    on = today()
    for number in range(start, stop):
        kind = number % 5
        details = YoungPersonDetails(f"Crowd{number}", f"Member{number}", years_before(on, 14 + number % 4),
                                     yot_reference=f"CR-{number:04d}")
        options: dict[str, Any] = {}
        if kind == 0:
            options = {"legal_status": LegalStatus.CUSTODY, "sentenced_on": on - timedelta(days=300),
                       "expected_release_on": on + timedelta(days=number % 60)}
        elif kind == 1:
            options = {"status": "accepted", "shared_with": [(crowd.housing, None)],
                       "needs": {Pathway.HEALTH: (NeedRating.RED, "Restricted note")}}
        elif kind == 2:
            options = {"status": "active", "shared_with": [(crowd.housing, [Pathway.ACCOMMODATION])],
                       "consent": ConsentInput(given=True, given_on=on - timedelta(days=350)),
                       "needs": {Pathway.ACCOMMODATION: (NeedRating.AMBER, None)}}
        elif kind == 3:
            details = crowd.people[number - 3]
            details = YoungPersonDetails(details.given_name, details.family_name, details.date_of_birth)
        else:
            options = {"status": "closed"}
        crowd.people[number] = details
        make_referral(partnership=crowd.partnership, referrer=crowd.referrer, broker=crowd.broker,
                      young_person=details, reason=f"Reason {number}", **options)
    db.session.commit()


# --- A fixed number of queries ------------------------------------------------------------------


# Beside the module's catalogue (on its connection, as every test here).
@pytest.mark.usefixtures("catalogue_records")
def test_list_pages_issue_the_same_number_of_queries_for_10_and_200_referrals(app: Flask, api_token) -> None:
    crowd = make_crowd()
    add_referrals(crowd, 0, 10)
    broker = client_for(app, crowd.broker)
    referrer = client_for(app, crowd.referrer)
    housing = client_for(app, crowd.housing_staff)
    broker_api = api_token(crowd.broker)
    housing_api = api_token(crowd.housing_staff)
    # A first request may write something once (a session's CSRF token, when a token was first used):
    # that is not what is measured.
    for client, headers in ((broker, broker_api), (housing, housing_api), (referrer, None)):
        assert client.get("/").status_code == 200
        if headers is not None:
            assert client.get("/api/v1/me", headers=headers).status_code == 200
    probes: dict[str, tuple[FlaskClient, str, dict[str, str] | None]] = {
        "GET /referrals/ (broker)": (broker, "/referrals/", None),
        "GET /referrals/?status=submitted&q=crowd (broker)": (broker, "/referrals/?status=submitted&q=crowd", None),
        "GET /referrals/ (referring agency staff)": (referrer, "/referrals/", None),
        "GET /referrals/ (agency staff it was shared with)": (housing, "/referrals/", None),
        "GET /referrals/triage (broker)": (broker, "/referrals/triage", None),
        "GET /api/v1/referrals (broker)": (broker, "/api/v1/referrals", broker_api),
        "GET /api/v1/referrals (agency staff it was shared with)": (housing, "/api/v1/referrals", housing_api),
    }

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
    assert len(listed_ids(small_pages["GET /referrals/ (broker)"].text)) == 10
    assert small_pages["GET /api/v1/referrals (broker)"].get_json()["total"] == 10
    assert len(listed_ids(small_pages["GET /referrals/ (agency staff it was shared with)"].text)) == 4

    add_referrals(crowd, 10, 200)
    large, large_pages = measure()

    print("\nSQL statements per request (10 referrals -> 200 referrals):")
    for name in probes:
        print(f"  {name}: {small[name]} -> {large[name]}")

    # Full pages are rendered from the larger set, so the counts compare like with like.
    for name in ("GET /referrals/ (broker)", "GET /referrals/ (referring agency staff)",
                 "GET /referrals/ (agency staff it was shared with)"):
        assert len(listed_ids(large_pages[name].text)) == PER_PAGE, name
    assert shown_total(large_pages["GET /referrals/ (broker)"].text) == 200
    assert shown_total(large_pages["GET /referrals/ (agency staff it was shared with)"].text) == 80
    assert len(listed_ids(large_pages["GET /referrals/triage (broker)"].text)) == 80
    for name, total in (("GET /api/v1/referrals (broker)", 200), ("GET /api/v1/referrals (agency staff it was "
                                                                  "shared with)", 80)):
        body = large_pages[name].get_json()
        assert body["total"] == total and len(body["items"]) == PER_PAGE, name
    # The page shows what the mix holds: release countdowns, re-referrals and consent reviews.
    listing = large_pages["GET /referrals/ (broker)"].text
    assert "Release in" in listing
    triage = large_pages["GET /referrals/triage (broker)"].text
    assert "Re-referral" in triage

    assert large == small
    for name, count in small.items():
        assert count <= 20, f"{name}: {count} statements"


# --- Filters ------------------------------------------------------------------------------------


@dataclass
class Catalogue:
    broker: User
    conwy: Partnership
    denbigh: Partnership
    by_name: dict[str, Referral]


def build_catalogue() -> Catalogue:
    on = today()
    yot = make_agency(type="yot", name="Filter YOT")
    broker = make_user(Role.BROKER)
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    conwy = make_partnership(name="Conwy", agencies=[yot], brokers=[broker])
    denbigh = make_partnership(name="Denbighshire", agencies=[yot], brokers=[broker])
    born = years_before(on, 16)

    def refer(key: str, family: str, partnership: Partnership = conwy, **options: Any) -> Referral:
        young_person = YoungPersonDetails(key.capitalize(), family, born, yot_reference=options.pop("ref", None))
        return make_referral(partnership=partnership, referrer=referrer, broker=broker, young_person=young_person,
                             **options)

    by_name = {
        "submitted": refer("submitted", "Owen"),
        "accepted": refer("accepted", "Parry", status="accepted"),
        "active": refer("active", "Pritchard", status="active", ref="CONWY-0042"),
        "closed": refer("closed", "Roberts", status="closed"),
        "health_red": refer("healthred", "Vaughan", status="accepted",
                            needs={Pathway.HEALTH: (NeedRating.RED, None), Pathway.ETE: (NeedRating.AMBER, None)}),
        "health_amber": refer("healthamber", "Williams", needs={Pathway.HEALTH: (NeedRating.AMBER, None)}),
        "ete_red": refer("etered", "Bowen", needs={Pathway.ETE: (NeedRating.RED, None)}),
        "release_3_weeks": refer("release3", "Davies", legal_status=LegalStatus.CUSTODY,
                                 sentenced_on=on - timedelta(days=100), expected_release_on=on + timedelta(weeks=3)),
        "release_10_weeks": refer("release10", "Edwards", legal_status=LegalStatus.CUSTODY,
                                  sentenced_on=on - timedelta(days=100), expected_release_on=on + timedelta(weeks=10)),
        "released": refer("released", "Griffiths", legal_status=LegalStatus.CUSTODY,
                          sentenced_on=on - timedelta(days=100), expected_release_on=on - timedelta(days=3)),
        "denbigh": refer("denbigh", "Pritchard-Jones", partnership=denbigh, ref="DENB-0007"),
    }
    db.session.commit()
    return Catalogue(broker, conwy, denbigh, by_name)


@pytest.fixture(scope="module")
def catalogue_records(app: Flask, module_connection: Any) -> dict[str, Any]:
    return built_once(app, module_connection, lambda: kept(build_catalogue()))


@pytest.fixture
def catalogue(catalogue_records: dict[str, Any]) -> Catalogue:
    """The catalogue (built once per module), its records loaded in the case's own session."""
    return loaded(Catalogue, catalogue_records)


def _ids(catalogue: Catalogue, *names: str) -> set[int]:
    return {catalogue.by_name[name].id for name in names}


def _filter_cases() -> list[Any]:
    return [
        pytest.param("status=accepted", "status=accepted", ("accepted", "health_red"), id="status"),
        pytest.param("status=closed", "status=closed", ("closed",), id="status-closed"),
        pytest.param("pathway=health&rating=red", "pathway=health&rating=red", ("health_red",), id="pathway-rating"),
        pytest.param("pathway=health", "pathway=health", ("health_red", "health_amber"), id="pathway-red-or-amber"),
        pytest.param("rating=red", "rating=red", ("health_red", "ete_red"), id="rating-on-any-pathway"),
        pytest.param("pathway=ete&rating=amber", "pathway=ete&rating=amber", ("health_red",), id="ete-amber"),
        pytest.param("release_within=4", "release_within_weeks=4", ("release_3_weeks",), id="release-within-4-weeks"),
        pytest.param("release_within=12", "release_within_weeks=12", ("release_3_weeks", "release_10_weeks"),
                     id="release-within-12-weeks"),
        pytest.param("q=pritchard", "q=pritchard", ("active", "denbigh"), id="family-name"),
        pytest.param("q=PRITCH", "q=PRITCH", ("active", "denbigh"), id="family-name-part-any-case"),
        pytest.param("q=conwy-0042", "q=conwy-0042", ("active",), id="yot-reference"),
        pytest.param("q=Active+Pritchard", "q=Active+Pritchard", ("active",), id="given-and-family-name"),
        pytest.param("q=nobody", "q=nobody", (), id="no-match"),
        pytest.param("q=%25", "q=%25", (), id="a-percent-sign-is-not-a-wildcard"),
        pytest.param("q=_", "q=_", (), id="an-underscore-is-not-a-wildcard"),
        pytest.param("partnership={denbigh}", "partnership_id={denbigh}", ("denbigh",), id="partnership"),
        pytest.param("partnership={conwy}&q=pritchard", "partnership_id={conwy}&q=pritchard", ("active",),
                     id="partnership-and-search"),
        pytest.param("status=submitted&release_within=4", "status=submitted&release_within_weeks=4",
                     ("release_3_weeks",), id="combined"),
    ]


@pytest.mark.parametrize(("web_query", "api_query", "expected"), _filter_cases())
def test_the_filters_filter(app: Flask, api_token, catalogue: Catalogue, web_query: str, api_query: str,
                            expected: tuple[str, ...]) -> None:
    ids = {"conwy": catalogue.conwy.id, "denbigh": catalogue.denbigh.id}
    web_query, api_query = web_query.format(**ids), api_query.format(**ids)
    wanted = _ids(catalogue, *expected)

    page = client_for(app, catalogue.broker).get(f"/referrals/?{web_query}")
    assert page.status_code == 200
    assert set(listed_ids(page.text)) == wanted
    assert shown_total(page.text) == len(wanted)
    if not wanted:
        assert "No referrals match." in page.text

    response = app.test_client().get(f"/api/v1/referrals?{api_query}", headers=api_token(catalogue.broker))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert {item["id"] for item in body["items"]} == wanted
    assert body["total"] == len(wanted)


def test_without_filters_the_broker_sees_every_referral_of_their_partnerships(app: Flask, api_token,
                                                                              catalogue: Catalogue) -> None:
    everything = {referral.id for referral in catalogue.by_name.values()}
    page = client_for(app, catalogue.broker).get("/referrals/")
    assert set(listed_ids(page.text)) == everything
    body = app.test_client().get("/api/v1/referrals", headers=api_token(catalogue.broker)).get_json()
    assert {item["id"] for item in body["items"]} == everything and body["total"] == len(everything)
    # Open referrals come first, the soonest release first; closed ones last.
    order = listed_ids(page.text)
    assert order[0] == catalogue.by_name["released"].id
    assert order[1] == catalogue.by_name["release_3_weeks"].id
    assert order[-1] == catalogue.by_name["closed"].id


def test_a_partnership_filter_outside_the_callers_scope_shows_nothing(app: Flask, api_token,
                                                                      catalogue: Catalogue) -> None:
    elsewhere = make_referral().partnership  # another partnership, another broker
    db.session.commit()
    page = client_for(app, catalogue.broker).get(f"/referrals/?partnership={elsewhere.id}")
    assert page.status_code == 400  # not one of the partnerships the filter offers
    assert listed_ids(page.text) == []
    response = app.test_client().get(f"/api/v1/referrals?partnership_id={elsewhere.id}",
                                     headers=api_token(catalogue.broker))
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "total": 0}


@pytest.mark.parametrize("query", ["status=lost", "pathway=housing", "rating=purple", "release_within=5",
                                   "release_within=soon", "q=" + "x" * 101])
def test_unknown_filter_values_are_a_400_on_the_page(app: Flask, catalogue: Catalogue, query: str) -> None:
    page = client_for(app, catalogue.broker).get(f"/referrals/?{query}")
    assert page.status_code == 400
    assert "Traceback" not in page.text
    assert BeautifulSoup(page.text, "html.parser").find(class_="govuk-error-summary") is not None


@pytest.mark.parametrize("query", ["status=lost", "pathway=housing", "rating=purple", "release_within_weeks=0",
                                   "release_within_weeks=soon", "stage=0", "partnership_id=abc", "colour=red",
                                   "q=" + "x" * 101])
def test_unknown_filter_values_are_a_400_in_the_api(app: Flask, api_token, catalogue: Catalogue, query: str) -> None:
    response = app.test_client().get(f"/api/v1/referrals?{query}", headers=api_token(catalogue.broker))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and error["fields"]


@pytest.mark.parametrize("query", ["partnership=2147483648", "partnership=9223372036854775808",
                                   "stage=9223372036854775808"])
def test_an_out_of_range_number_in_a_filter_is_not_a_500_on_the_page(app: Flask, catalogue: Catalogue,
                                                                      query: str) -> None:
    page = client_for(app, catalogue.broker).get(f"/referrals/?{query}")
    assert page.status_code == 400, page.status_code
    assert listed_ids(page.text) == []


@pytest.mark.parametrize("query", ["partnership_id=2147483648", "partnership_id=9223372036854775808",
                                   "stage=9223372036854775808"])
def test_an_out_of_range_number_in_a_filter_is_not_a_500_in_the_api(app: Flask, api_token, catalogue: Catalogue,
                                                                     query: str) -> None:
    response = app.test_client().get(f"/api/v1/referrals?{query}", headers=api_token(catalogue.broker))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "bad_request"


def test_a_nul_character_in_the_search_is_not_a_500(app: Flask, api_token, catalogue: Catalogue) -> None:
    page = client_for(app, catalogue.broker).get("/referrals/?q=Pri%00tchard")
    assert page.status_code == 400, page.status_code
    response = app.test_client().get("/api/v1/referrals?q=Pri%00tchard", headers=api_token(catalogue.broker))
    assert response.status_code == 400, response.status_code


# --- Pagination ---------------------------------------------------------------------------------


# Beside the module's catalogue (on its connection, as every test here).
@pytest.mark.usefixtures("catalogue_records")
def test_pages_hold_25_and_page_two_has_the_rest(app: Flask, api_token) -> None:
    yot = make_agency(type="yot")
    broker = make_user(Role.BROKER)
    referrer = make_user(Role.AGENCY_STAFF, agency=yot)
    partnership = make_partnership(agencies=[yot], brokers=[broker])
    made = {make_referral(partnership=partnership, referrer=referrer, broker=broker).id for _ in range(31)}
    db.session.commit()
    client = client_for(app, broker)

    first = client.get("/referrals/")
    second = client.get("/referrals/?page=2")
    assert first.status_code == second.status_code == 200
    one, two = listed_ids(first.text), listed_ids(second.text)
    assert len(one) == PER_PAGE and len(two) == 6
    assert set(one) | set(two) == made and not set(one) & set(two)
    assert shown_total(first.text) == shown_total(second.text) == 31
    pagination = BeautifulSoup(first.text, "html.parser").find(class_="govuk-pagination")
    assert pagination is not None and pagination.find("a", href=re.compile(r"page=2"))
    # Filters are kept when paging.
    filtered = client.get("/referrals/?status=submitted&page=2")
    assert listed_ids(filtered.text) == two
    links = BeautifulSoup(client.get("/referrals/?status=submitted").text, "html.parser").find(
        class_="govuk-pagination").find_all("a", href=re.compile(r"page=2"))
    assert links and all("status=submitted" in link["href"] for link in links)
    assert listed_ids(client.get("/referrals/?page=3").text) == []

    for bad in ("0", "abc", "-1", "1.5", ""):
        response = client.get(f"/referrals/?page={bad}")
        assert response.status_code == 400, bad
        assert "Traceback" not in response.text
        assert "The page number must be 1 or more." in response.text

    headers = api_token(broker)
    api = app.test_client()
    page_one = api.get("/api/v1/referrals", headers=headers).get_json()
    page_two = api.get("/api/v1/referrals?page=2", headers=headers).get_json()
    assert page_one["total"] == page_two["total"] == 31
    assert [item["id"] for item in page_one["items"]] == one
    assert [item["id"] for item in page_two["items"]] == two
    small_pages = api.get("/api/v1/referrals?per_page=10&page=4", headers=headers).get_json()
    assert len(small_pages["items"]) == 1 and small_pages["total"] == 31
    for bad in ("page=0", "page=abc", "per_page=0", "per_page=101"):
        response = api.get(f"/api/v1/referrals?{bad}", headers=headers)
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["code"] == "bad_request"
