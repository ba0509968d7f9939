"""The access matrix of the foundation's routes: endpoint x role -> status.

The expectations are written out here by hand, never derived from policy.py, so that a change of
rule has to be a change of this table too.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from panel_app.models import Role
from tests.conftest import csrf_token_from
from tests.factories import make_partnership, make_user

ANONYMOUS = "anonymous"
ROLES = [ANONYMOUS, "broker", "agency_staff", "strategic_lead", "admin"]

# (method, path, page or api) -> status per role, in the order of ROLES.
EXPECTED = {
    ("GET", "/", "page"): [302, 200, 200, 200, 200],
    ("GET", "/sign-in", "page"): [200, 302, 302, 302, 302],
    ("POST", "/sign-out", "page"): [302, 302, 302, 302, 302],
    # Single-use links and "Forgotten your password?" are for anybody holding the link or the address.
    ("GET", "/forgotten-password", "page"): [200, 200, 200, 200, 200],
    ("POST", "/forgotten-password", "page"): [400, 400, 400, 400, 400],  # only the CSRF token: no address
    ("GET", "/welcome/no-such-link", "page"): [404, 404, 404, 404, 404],
    ("GET", "/reset-password/no-such-link", "page"): [404, 404, 404, 404, 404],
    ("GET", "/healthz", "page"): [200, 200, 200, 200, 200],
    ("GET", "/static/app.js", "page"): [200, 200, 200, 200, 200],
    ("GET", "/api/v1/openapi.json", "api"): [200, 200, 200, 200, 200],
    ("GET", "/api/v1/me", "api"): [401, 200, 200, 200, 200],
    ("GET", "/api/v1/pathways", "api"): [401, 200, 200, 200, 200],
    ("GET", "/api/v1/partnerships", "api"): [401, 200, 200, 200, 200],
    ("POST", "/api/v1/auth/token", "api"): [400, 400, 400, 400, 400],  # an empty body, whoever asks
    # Everyone signed in has their own account page; what it lists is theirs alone (test_sessions.py).
    ("GET", "/account/", "page"): [302, 200, 200, 200, 200],
    ("POST", "/account/sign-out-everywhere-else", "page"): [302, 302, 302, 302, 302],
    ("POST", "/account/password", "page"): [302, 400, 400, 400, 400],  # only the CSRF token: fields missing
    # A token that is not the caller's (here nobody's): not found, whoever asks.
    ("POST", "/account/tokens/999999/revoke", "page"): [302, 404, 404, 404, 404],
    # Each sees only the emails of records in their scope (test_outbox.py), an empty list included.
    ("GET", "/emails/undelivered", "page"): [302, 200, 200, 200, 200],
}

CASES = [
    pytest.param(method, path, door, role, statuses[index], id=f"{method} {path} as {role}")
    for (method, path, door), statuses in EXPECTED.items()
    for index, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("method", "path", "door", "role", "expected"), CASES)
def test_access_matrix(client: FlaskClient, login_as, api_token, method, path, door, role, expected) -> None:
    headers: dict[str, str] = {}
    if role != ANONYMOUS:
        user = make_user(Role(role))
        make_partnership(brokers=[user] if user.role is Role.BROKER else [],
                         agencies=[user.agency] if user.agency else [])
        if door == "api":
            headers = api_token(user)
        else:
            login_as(user)
    data = None
    if method == "POST" and door == "page":
        source = client.get("/") if role != ANONYMOUS else client.get("/sign-in")
        data = {"csrf_token": csrf_token_from(source.text)}
    response = client.open(path, method=method, headers=headers, data=data,
                           json={} if door == "api" and method == "POST" else None)
    response.close()
    assert response.status_code == expected
    if door == "page" and expected == 302 and role == ANONYMOUS and path != "/sign-out":
        assert response.headers["Location"].startswith("/sign-in")
