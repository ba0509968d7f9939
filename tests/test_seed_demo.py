"""The demo installation: every account of docs/api.md signs in, through the page and the API, with its role."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask_migrate import upgrade

from panel_app.extensions import db
from tests.conftest import PASSWORD, FreshDatabases, build_app, csrf_token_from

# From docs/api.md, written out by hand.
ACCOUNTS = {
    "broker.north@demo.test": ("broker", None),
    "broker.south@demo.test": ("broker", None),
    "yot.conwy@demo.test": ("agency_staff", "yot"),
    "housing.conwy@demo.test": ("agency_staff", "housing"),
    "health.north@demo.test": ("agency_staff", "health"),
    "education.conwy@demo.test": ("agency_staff", "education"),
    "yot.cardiff@demo.test": ("agency_staff", "yot"),
    "lead.wales@demo.test": ("strategic_lead", None),
    "admin@demo.test": ("admin", None),
}


@pytest.fixture(scope="module")
def demo_app(databases: FreshDatabases) -> Flask:
    app = build_app(databases.new("demo"))
    with app.app_context():
        upgrade()
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        assert "Demo installation loaded" in result.output
    yield app
    with app.app_context():
        db.engine.dispose()


def _partnerships(app: Flask, token: str) -> dict[str, list[str]]:
    body = app.test_client().get("/api/v1/partnerships?per_page=100",
                                 headers={"Authorization": f"Bearer {token}"}).get_json()
    return {item["name"]: sorted(agency["type"] for agency in item["agencies"]) for item in body["items"]}


@pytest.mark.parametrize("email", ACCOUNTS)
def test_every_demo_account_signs_in_through_the_page_and_the_api(demo_app: Flask, email: str) -> None:
    role, agency_type = ACCOUNTS[email]
    client = demo_app.test_client()
    page = client.get("/sign-in")
    signed_in = client.post("/sign-in", data={"email": email, "password": PASSWORD,
                                              "csrf_token": csrf_token_from(page.text)})
    assert signed_in.status_code == 302
    assert client.get("/").status_code == 200

    token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.get_json()['token']}"}).get_json()
    assert me["role"] == role
    assert (me["agency"] or {}).get("type") == agency_type


def test_the_demo_partnerships_are_as_api_md_describes(demo_app: Flask) -> None:
    client = demo_app.test_client()

    def token(email: str) -> str:
        return client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD}).get_json()["token"]

    every_type = sorted(["yot", "housing", "health", "education", "employment", "substance_misuse", "third_sector"])
    north = _partnerships(demo_app, token("broker.north@demo.test"))
    assert set(north) == {"Conwy & Denbighshire", "Flintshire", "Gwynedd & Ynys Môn", "Wrexham"}
    assert all(types == every_type for types in north.values())
    assert set(_partnerships(demo_app, token("broker.south@demo.test"))) == {"Cardiff"}
    assert set(_partnerships(demo_app, token("yot.conwy@demo.test"))) == {"Conwy & Denbighshire"}
    assert set(_partnerships(demo_app, token("yot.cardiff@demo.test"))) == {"Cardiff"}
    assert "Conwy & Denbighshire" in _partnerships(demo_app, token("health.north@demo.test"))
    assert "Conwy & Denbighshire" in _partnerships(demo_app, token("housing.conwy@demo.test"))
    assert len(_partnerships(demo_app, token("lead.wales@demo.test"))) == 5
    assert _partnerships(demo_app, token("admin@demo.test")) == {}


def test_seeding_again_changes_nothing(demo_app: Flask) -> None:
    with demo_app.app_context():
        result = demo_app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0
    assert "already loaded" in result.output


def test_demo_data_is_refused_under_production_settings(databases: FreshDatabases) -> None:
    app = build_app(databases.new("production"), PRODUCTION=True, PANEL_ENV="production")
    with app.app_context():
        upgrade()
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        db.engine.dispose()
    assert result.exit_code != 0
    assert re.search(r"cannot be loaded with PANEL_ENV=production", result.output)
