"""Security headers on every answer: a Permissions-Policy always, HSTS in production only. (That the
Server header names no product under gunicorn is checked against real gunicorn processes in
test_throttling.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from panel_app.extensions import db
from panel_app.models import Role
from tests.conftest import build_app
from tests.factories import make_user

PATHS = ["/sign-in", "/healthz", "/api/v1/openapi.json", "/api/v1/me", "/no-such-page", "/static/app.js"]


def headers_of(client: FlaskClient, path: str, **kwargs: object) -> dict[str, str]:
    response = client.get(path, **kwargs)
    response.close()  # a static file is streamed from disk
    return dict(response.headers)


@pytest.fixture(scope="module")
def production_app(app: Flask) -> Iterator[Flask]:
    """The app with production settings, on the suite's database (read-only use)."""
    production = build_app(app.config["SQLALCHEMY_DATABASE_URI"], PRODUCTION=True, PANEL_ENV="production",
                           SECRET_KEY="p" * 40, SESSION_COOKIE_SECURE=True)
    yield production
    with production.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("path", PATHS)
def test_every_answer_has_a_permissions_policy(client: FlaskClient, path: str) -> None:
    policy = headers_of(client, path).get("Permissions-Policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy


@pytest.mark.parametrize("path", PATHS)
def test_no_hsts_in_development(client: FlaskClient, path: str) -> None:
    # Development runs on plain http://127.0.0.1: HSTS there would lock a browser out of it.
    assert "Strict-Transport-Security" not in headers_of(client, path)


@pytest.mark.parametrize("path", PATHS)
def test_hsts_in_production(production_app: Flask, path: str) -> None:
    headers = headers_of(production_app.test_client(), path, base_url="https://panels.example")
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Permissions-Policy" in headers


def test_errors_and_signed_in_pages_carry_the_headers_too(client: FlaskClient, login_as) -> None:
    login_as(make_user(Role.BROKER))
    for response in (client.get("/"), client.get("/referrals/999999"), client.post("/api/v1/auth/token", json=[])):
        assert "Permissions-Policy" in response.headers
        assert response.headers["X-Frame-Options"] == "DENY"
