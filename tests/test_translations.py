"""Every user-facing string is marked for translation.

The strings are extracted with Babel exactly as a translator's ``pybabel extract`` would, turned
into a pseudo-translation that wraps each one in ⟦ ⟧, and pages are rendered in it: any visible
text left unwrapped (other than the records' own data) was never marked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from bs4 import BeautifulSoup, Comment, Doctype
from flask import Flask
from flask.testing import FlaskClient

from panel_app.extensions import db
from panel_app.models import Role
from tests.conftest import FreshDatabases, build_app, csrf_token_from, sign_in
from tests.factories import make_agency, make_partnership, make_region, make_user

ROOT = Path(__file__).resolve().parents[1]
PSEUDO = "eo"  # a locale this service will never ship, used only for this check
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
WRAPPED = re.compile(r"⟦[^⟦⟧]*⟧")  # innermost first: translated text can hold translated text


def _pseudo(text: str) -> str:
    return f"⟦{text}⟧"


@pytest.fixture(scope="module")
def pseudo_translations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    catalog = Catalog(locale=PSEUDO)
    # What the real extraction reads (babel.cfg: the Python of panel_app/ and agencies/, templates/).
    with open(ROOT / "babel.cfg") as config:
        methods, options = parse_mapping_cfg(config)
    for _filename, _line, message, _comments, context in extract_from_dir(ROOT, methods, options, keywords=KEYWORDS):
        if isinstance(message, tuple):
            catalog.add(message, tuple(_pseudo(m) for m in message[:2]), context=context)
        else:
            catalog.add(message, _pseudo(message), context=context)
    assert len(catalog) > 50, "extraction found suspiciously few strings"
    directory = tmp_path_factory.mktemp("translations")
    (directory / PSEUDO / "LC_MESSAGES").mkdir(parents=True)
    with open(directory / PSEUDO / "LC_MESSAGES" / "messages.mo", "wb") as handle:
        write_mo(handle, catalog)
    return directory


@pytest.fixture(scope="module")
def pseudo_app(databases: FreshDatabases, pseudo_translations: Path) -> Iterator[Flask]:
    from flask_migrate import upgrade

    app = build_app(databases.new("pseudo"), BABEL_DEFAULT_LOCALE=PSEUDO,
                    BABEL_TRANSLATION_DIRECTORIES=str(pseudo_translations))
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def _unmarked(html: str, data: set[str]) -> list[str]:
    page = BeautifulSoup(html, "html.parser")
    for hidden in page(["script", "style"]):
        hidden.decompose()
    texts = [node for node in page.find_all(string=True) if not isinstance(node, (Doctype, Comment))]
    texts += [element[attribute] for attribute in ("aria-label", "alt", "title", "placeholder")
              for element in page.find_all(attrs={attribute: True})]
    problems = []
    for text in texts:
        rest, previous = str(text), None
        while rest != previous:
            rest, previous = WRAPPED.sub("", rest), rest
        for value in sorted(data, key=len, reverse=True):
            rest = rest.replace(value, "")
        if re.sub(r"[\s\W\d_]+", "", rest):
            problems.append(str(text).strip())
    return problems


def test_every_string_on_the_pages_is_marked_for_translation(pseudo_app: Flask) -> None:
    with pseudo_app.app_context():
        wales = make_region(name="Wales")
        housing = make_agency(name="Conwy Housing", type="housing")
        broker = make_user(Role.BROKER, name="Gwen Broker", email="gwen@example.org")
        partnership = make_partnership(name="Conwy", area="Conwy county", region=wales, brokers=[broker],
                                       agencies=[housing])
        people = [broker, make_user(Role.AGENCY_STAFF, agency=housing, name="Harri Housing"),
                  make_user(Role.STRATEGIC_LEAD, region=wales, name="Lowri Lead"),
                  make_user(Role.ADMIN, name="Ada Admin")]
        db.session.commit()
        data = {"Wales", "Conwy Housing", "Conwy", "Conwy county", partnership.name, "Resettlement panels"}
        data |= {person.name for person in people} | {person.email for person in people}
        emails = [person.email for person in people]

    client: FlaskClient = pseudo_app.test_client()
    pages = {"sign-in": client.get("/sign-in").text, "404": client.get("/missing").text}
    pages["sign-in failed"] = sign_in(client, "nobody@example.org", "wrong password!").text
    pages["csrf"] = client.post("/sign-in", data={}).text
    for email in emails:
        assert sign_in(client, email).status_code == 302
        home = client.get("/")
        pages[f"home of {email}"] = home.text
        pages[f"undelivered emails of {email}"] = client.get("/emails/undelivered").text
        client.post("/sign-out", data={"csrf_token": csrf_token_from(home.text)})

    # The service's own name is data too, but it must still be marked: check it separately.
    assert "⟦Resettlement panels⟧" in pages["sign-in"]
    problems = {name: _unmarked(html, data) for name, html in pages.items()}
    assert {name: found for name, found in problems.items() if found} == {}


def test_every_string_on_the_account_link_pages_is_marked_for_translation(pseudo_app: Flask) -> None:
    """Choosing a password (an invitation, a reset), a link that cannot be used, forgotten password."""
    from datetime import timedelta

    from panel_app.models import AccountLink, LinkPurpose, utcnow
    from panel_app.services import account_links

    with pseudo_app.app_context():
        housing = make_agency(name="Tai Gwynedd", type="housing")
        invited = make_user(Role.AGENCY_STAFF, agency=housing, name="Iolo Invited", email="iolo@example.org",
                            password=None)
        resetting = make_user(Role.BROKER, name="Rhys Reset", email="rhys@example.org")
        welcome, _link = account_links.issue(invited, LinkPurpose.INVITATION, by=None)
        reset, _link = account_links.issue(resetting, LinkPurpose.PASSWORD_RESET, by=None)
        expired, old = account_links.issue(make_user(Role.BROKER), LinkPurpose.INVITATION, by=None)
        old.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    data = {"Iolo Invited", "iolo@example.org", "Rhys Reset", "rhys@example.org", "Resettlement panels"}
    data |= _locale_words()
    client: FlaskClient = pseudo_app.test_client()
    pages = {path: client.get(path) for path in (
        f"/welcome/{welcome}", f"/reset-password/{reset}", f"/welcome/{expired}", "/welcome/unknown",
        "/reset-password/unknown", "/forgotten-password")}
    token = csrf_token_from(pages["/forgotten-password"].text)
    pages["refused password"] = client.post(f"/welcome/{welcome}", data={"csrf_token": token, "password": "short"})
    pages["reset asked"] = client.post("/forgotten-password", data={"csrf_token": token, "email": "x@example.org"})
    assert pages["refused password"].status_code == 422 and pages[f"/welcome/{expired}"].status_code == 410
    problems = {name: _unmarked(page.text, data) for name, page in pages.items()}
    assert {name: found for name, found in problems.items() if found} == {}


def test_api_error_messages_are_marked_for_translation(pseudo_app: Flask) -> None:
    client = pseudo_app.test_client()
    answers = [
        client.get("/api/v1/me").get_json(),
        client.post("/api/v1/auth/token", data="{", content_type="application/json").get_json(),
        client.get("/api/v1/missing").get_json(),
    ]
    for answer in answers:
        assert answer["error"]["message"].startswith("⟦"), answer


def _locale_words() -> set[str]:
    """Month and day names as Babel writes them in the pseudo locale: locale data, not our strings."""
    from babel.dates import get_day_names, get_month_names

    words: set[str] = set()
    for width in ("wide", "abbreviated"):
        words |= set(get_month_names(width, locale=PSEUDO).values()) | set(get_day_names(width, locale=PSEUDO).values())
        words |= set(get_month_names(width, context="stand-alone", locale=PSEUDO).values())
    return words


def test_every_string_on_the_case_and_meeting_pages_is_marked_for_translation(pseudo_app: Flask) -> None:
    from datetime import timedelta

    from panel_app.models import NeedRating, utcnow
    from panel_app.pathways import Pathway
    from panel_app.services import meetings
    from panel_app.services.referrals import YoungPersonDetails
    from tests.factories import make_referral

    with pseudo_app.app_context(), pseudo_app.test_request_context("/"):
        region = make_region(name="Gogledd")
        yot = make_agency(name="Bae YOT", type="yot", contact_email="bae.yot@example.org")
        housing = make_agency(name="Bae Housing", type="housing", contact_email="bae.housing@example.org")
        broker = make_user(Role.BROKER, name="Gwen Broker", email="gwen.broker@example.org")
        staff = make_user(Role.AGENCY_STAFF, agency=yot, name="Rhys Yot", email="rhys.bae.yot@example.org")
        partnership = make_partnership(name="Bae", area="Bae county", region=region, brokers=[broker],
                                       agencies=[yot, housing])
        referral = make_referral(partnership=partnership, referrer=staff, broker=broker, status="active",
                                 shared_with=[(housing, [Pathway.ACCOMMODATION])],
                                 young_person=YoungPersonDetails("Gethin", "Jones", utcnow().date().replace(
                                     year=utcnow().year - 16)),
                                 reason="Needs a home", needs={Pathway.ACCOMMODATION: (NeedRating.RED, "No home")})
        submitted = make_referral(partnership=partnership, referrer=staff, broker=broker,
                                  young_person=YoungPersonDetails("Elin", "Parry", utcnow().date().replace(
                                      year=utcnow().year - 15)), reason="Exclusion")
        start = utcnow().replace(microsecond=0) + timedelta(days=10)
        meeting = meetings.schedule(broker, partnership.id, meetings.MeetingDetails(
            start, start + timedelta(hours=2), location="Town hall"))
        meetings.add_to_agenda(broker, meeting, referral.id, meetings.AgendaKind.REVIEW, 20)
        db.session.commit()
        ids = {"referral": referral.id, "submitted": submitted.id, "meeting": meeting.id}

    data = {"Gogledd", "Bae YOT", "Bae Housing", "Gwen Broker", "Rhys Yot", "Bae", "Bae county", "Gethin",
            "Jones", "Gethin Jones", "Elin", "Parry", "Elin Parry", "Needs a home", "No home", "Exclusion",
            "Town hall", "GJ", "EP", "Resettlement panels", "gwen.broker@example.org", "rhys.bae.yot@example.org",
            "bae.yot@example.org", "bae.housing@example.org", "#"} | _locale_words()
    # The meeting page shows the invitations' text as sent: its link is data, its words are marked.
    data.add(f"http://panels.test/meetings/{ids['meeting']}")
    broker_pages = ["/", "/referrals/", "/referrals/triage", "/referrals/new", f"/referrals/{ids['referral']}",
                    f"/referrals/{ids['submitted']}", f"/referrals/{ids['referral']}/share",
                    f"/referrals/{ids['referral']}/stage", f"/referrals/{ids['referral']}/needs",
                    f"/referrals/{ids['referral']}/close", f"/referrals/{ids['referral']}/consent",
                    f"/referrals/{ids['referral']}/consent/withdraw", f"/referrals/{ids['submitted']}/decline",
                    f"/referrals/{ids['submitted']}/request-information", "/meetings/", "/meetings/new",
                    f"/meetings/{ids['meeting']}", f"/meetings/{ids['meeting']}/agenda",
                    f"/meetings/{ids['meeting']}/run", f"/meetings/{ids['meeting']}/minutes",
                    f"/meetings/{ids['meeting']}/edit", f"/meetings/{ids['meeting']}/cancel",
                    f"/meetings/{ids['meeting']}/request-updates", "/calendar/"]
    client: FlaskClient = pseudo_app.test_client()
    assert sign_in(client, "gwen.broker@example.org").status_code == 302
    problems = {}
    for path in broker_pages:
        response = client.get(path)
        assert response.status_code == 200, path
        found = _unmarked(response.text, data)
        if found:
            problems[path] = found
    assert problems == {}


def test_every_string_on_the_account_page_is_marked_for_translation(pseudo_app: Flask) -> None:
    from panel_app.services import accounts

    with pseudo_app.app_context():
        person = make_user(Role.BROKER, name="Mali Account", email="mali.account@example.org")
        accounts.issue_api_token(person)
        accounts.new_calendar_token(person)
        db.session.commit()
    client: FlaskClient = pseudo_app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "Example browser"
    assert sign_in(client, "mali.account@example.org").status_code == 302
    page = client.get("/account/")
    assert page.status_code == 200
    refused = client.post("/account/password", data={"csrf_token": csrf_token_from(page.text),
                                                      "current_password": "", "new_password": "short"})
    assert refused.status_code == 400
    data = {"Mali Account", "mali.account@example.org", "Example browser", "127.0.0.1", "Resettlement panels"}
    data |= _locale_words()
    problems = {name: _unmarked(html, data) for name, html in
                {"account": page.text, "account with errors": refused.text}.items()}
    assert {name: found for name, found in problems.items() if found} == {}
