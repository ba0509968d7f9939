"""The layout, the home page of each role, the health check and the error pages."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from flask import Blueprint
from flask.testing import FlaskClient

from panel_app import policy
from panel_app.models import Role
from tests.conftest import build_app
from tests.factories import make_agency, make_partnership, make_region, make_user


def _page(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def test_the_layout_carries_no_gov_uk_branding_and_no_outside_assets(client: FlaskClient, login_as) -> None:
    login_as(make_user(Role.BROKER))
    html = client.get("/").text
    page = BeautifulSoup(html, "html.parser")
    assert "GOV.UK" not in html and "crown" not in html.lower() and "GDS Transport" not in html
    for tag, attribute in (("link", "href"), ("script", "src"), ("img", "src")):
        for element in page.find_all(tag):
            if element.get(attribute):
                assert element[attribute].startswith("/static/"), element
    # One h1, a skip link to main content, the service navigation labelled.
    assert len(page.find_all("h1")) == 1
    assert page.find("a", class_="govuk-skip-link")["href"] == "#main-content"
    assert page.find("nav", attrs={"aria-label": "Menu"}) is not None


def test_the_compiled_stylesheet_uses_no_gds_transport_font(client: FlaskClient) -> None:
    response = client.get("/static/dist/panel.css")
    css = response.get_data(as_text=True)
    response.close()
    assert response.status_code == 200
    assert "govuk-button" in css
    assert "GDS Transport" not in css


def test_pages_are_not_cached_and_not_framed(client: FlaskClient) -> None:
    response = client.get("/sign-in")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    inline = [s for s in _page(response).find_all("script") if not s.get("src")]
    assert inline and all(s["nonce"] == nonce for s in inline)


def test_each_role_has_a_home_page_of_its_own(client: FlaskClient, login_as) -> None:
    wales = make_region(name="Wales")
    housing = make_agency(name="Conwy Housing", type="housing")
    broker = make_user(Role.BROKER, name="Gwen Broker")
    make_partnership(name="Conwy & Denbighshire", region=wales, brokers=[broker], agencies=[housing])
    make_partnership(name="Cardiff", region=wales)
    cases = {
        broker: ("Your partnerships", ["Conwy & Denbighshire"]),
        make_user(Role.AGENCY_STAFF, agency=housing): ("Your agency's panels", ["Conwy & Denbighshire"]),
        make_user(Role.STRATEGIC_LEAD, region=wales): ("Partnerships in your region", ["Cardiff", "Conwy & Denbighshire"]),
        make_user(Role.ADMIN): ("This installation", []),
    }
    for user, (heading, partnerships) in cases.items():
        login_as(user)
        page = _page(client.get("/"))
        assert page.h1.get_text(strip=True) == heading
        assert [h.get_text(strip=True) for h in page.find_all("h3")] == partnerships
        client.post("/sign-out", data={"csrf_token": page.find("input", attrs={"name": "csrf_token"})["value"]})


def test_the_admin_home_counts_the_installation_not_cases(client: FlaskClient, login_as) -> None:
    make_partnership(agencies=[make_agency(), make_agency()])
    make_user(Role.BROKER, active=False)
    make_user(Role.BROKER)
    admin = make_user(Role.ADMIN)
    login_as(admin)
    page = _page(client.get("/"))
    figures = [f.get_text(strip=True) for f in page.find_all(class_="app-card__figure")]
    assert figures == ["1", "2", "2"]  # partnerships, agencies, active accounts
    assert "1 account is deactivated." in page.get_text()


def test_healthz_answers_200_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_when_the_database_does_not() -> None:
    app = build_app("postgresql+psycopg://nobody@127.0.0.1:9/nowhere?connect_timeout=2")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_an_unknown_page_is_a_friendly_404(client: FlaskClient, login_as) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert _page(response).h1.get_text(strip=True) == "Page not found"
    # Signed in, the 404 keeps the person's header and navigation, and a way home.
    login_as(make_user(Role.BROKER, name="Nia Broker"))
    page = _page(client.get("/no/such/page"))
    assert "Nia Broker" in page.header.get_text()
    assert page.find("a", string="Go to your home page")["href"] == "/"


@pytest.fixture
def exploding_app(monkeypatch: pytest.MonkeyPatch):
    app = build_app("sqlite://")
    boom = Blueprint("boom", __name__)

    @boom.route("/boom")
    def explode() -> str:
        raise RuntimeError("secret internals: password=hunter2")

    @boom.route("/api/v1/boom")
    def explode_api() -> str:
        raise RuntimeError("secret internals: password=hunter2")

    app.register_blueprint(boom)
    monkeypatch.setitem(policy.ROUTE_RULES, "boom.explode", policy.PUBLIC)
    monkeypatch.setitem(policy.ROUTE_RULES, "boom.explode_api", policy.PUBLIC)
    return app


def test_an_unexpected_error_is_a_500_page_without_internals(exploding_app, caplog) -> None:
    caplog.set_level("CRITICAL", logger="panel_app.doors")  # the test provokes the error on purpose
    response = exploding_app.test_client().get("/boom")
    assert response.status_code == 500
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert "Sorry, there is a problem with the service" in response.text
    api = exploding_app.test_client().get("/api/v1/boom")
    assert api.status_code == 500
    assert api.get_json() == {"error": {"code": "server_error",
                                        "message": "Try again later. Nothing you entered in this last step was saved."}}
