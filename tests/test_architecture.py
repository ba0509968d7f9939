"""The shape of the house: the floors hold, and every route declares its rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask import Blueprint, Flask

from panel_app import policy
from tests.conftest import build_app

ROOT = Path(__file__).resolve().parents[1]


def test_the_floors_of_the_architecture_are_respected() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_endpoint_declares_its_rule_in_policy(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    undeclared = sorted(endpoints - policy.ROUTE_RULES.keys())
    assert undeclared == [], f"endpoints without a rule in policy.ROUTE_RULES: {undeclared}"


def test_policy_declares_no_endpoint_that_does_not_exist(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    stale = sorted(policy.ROUTE_RULES.keys() - endpoints)
    assert stale == [], f"rules for endpoints that no longer exist: {stale}"


def test_public_endpoints_are_exactly_the_expected_few() -> None:
    # Written out by hand: a new public endpoint must be a deliberate change here too.
    expected = {"static", "meta.healthz", "auth.sign_in", "api.issue_token", "api.openapi_document",
                "calendar.feed",  # the calendar feed authenticates by the secret in its URL
                # so do the single-use account links; asking for a reset link is for the signed out
                "auth.welcome", "auth.reset_password", "auth.forgotten_password"}
    public = {endpoint for endpoint, rule in policy.ROUTE_RULES.items() if rule.public}
    assert public == expected


def test_a_route_without_a_rule_is_refused_at_run_time() -> None:
    """Fail closed: even if the url_map test were skipped, an undeclared view never runs."""
    app = build_app("sqlite://")
    extra = Blueprint("undeclared", __name__)
    ran = []

    @extra.route("/undeclared")
    def undeclared() -> str:
        ran.append(True)
        return "secret"

    app.register_blueprint(extra)
    response = app.test_client().get("/undeclared")
    assert response.status_code == 404
    assert "secret" not in response.text
    assert ran == []
