"""Signing in and out through the page."""

from __future__ import annotations

from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy import select

from panel_app.models import AuditEvent, Role, db
from tests.conftest import PASSWORD, csrf_token_from, sign_in
from tests.factories import make_user

WRONG = "the wrong password entirely"


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_the_sign_in_page_is_accessible_by_construction(client: FlaskClient) -> None:
    page = BeautifulSoup(client.get("/sign-in").text, "html.parser")
    assert page.html["lang"] == "en"
    assert page.find("a", class_="govuk-skip-link")["href"] == "#main-content"
    assert page.find("main")["id"] == "main-content"
    assert [h.get_text(strip=True) for h in page.find_all("h1")] == ["Sign in"]
    for field_id, autocomplete in (("email", "username"), ("password", "current-password")):
        field = page.find("input", id=field_id)
        assert field["autocomplete"] == autocomplete
        assert page.find("label", attrs={"for": field_id}).get_text(strip=True)
    assert page.title.get_text(strip=True) == "Sign in – Resettlement panels"


def test_signing_in_goes_home_and_starts_a_fresh_session(client: FlaskClient) -> None:
    broker = make_user(Role.BROKER, email="gwen@example.org")
    with client.session_transaction() as session:
        session["planted_before_sign_in"] = "attacker"
    response = sign_in(client, "GWEN@example.org ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert "planted_before_sign_in" not in session
        assert session["_user_id"] == str(broker.id)
    assert client.get("/").status_code == 200
    [event] = _audit("sign_in")
    assert event.actor_user_id == broker.id and event.actor_role == "broker" and event.ip_address
    db.session.refresh(broker)
    assert broker.last_signed_in_at is not None


def test_the_session_cookie_is_httponly_and_samesite(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="cookie@example.org")
    response = sign_in(client, "cookie@example.org")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("panel_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_unknown_email_and_wrong_password_get_the_same_answer(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="known@example.org")
    wrong_password = sign_in(client, "known@example.org", WRONG)
    unknown_email = sign_in(client, "nobody@example.org", WRONG)
    assert wrong_password.status_code == unknown_email.status_code == 401

    def message(response) -> str:
        page = BeautifulSoup(response.text, "html.parser")
        return page.find(class_="govuk-error-summary").get_text(" ", strip=True)

    assert message(wrong_password) == message(unknown_email)
    assert "Enter a correct email address and password" in message(wrong_password)
    reasons = [event.detail["reason"] for event in _audit("sign_in.failed")]
    assert reasons == ["password", "unknown"]
    assert [event.actor_email for event in _audit("sign_in.failed")] == ["known@example.org", "nobody@example.org"]


def test_a_deactivated_account_cannot_sign_in(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="left@example.org", active=False)
    assert sign_in(client, "left@example.org").status_code == 401
    assert [event.detail["reason"] for event in _audit("sign_in.failed")] == ["inactive"]


def test_a_deactivated_account_loses_its_open_session(client: FlaskClient, login_as) -> None:
    user = make_user(Role.BROKER)
    login_as(user)
    user.active = False
    db.session.commit()
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def test_missing_fields_and_over_long_input_are_a_400_with_messages(client: FlaskClient) -> None:
    token = csrf_token_from(client.get("/sign-in").text)
    empty = client.post("/sign-in", data={"csrf_token": token, "email": "", "password": ""})
    assert empty.status_code == 400
    assert "Enter your email address" in empty.text and "Enter your password" in empty.text
    assert BeautifulSoup(empty.text, "html.parser").title.get_text().startswith("Error:")
    huge = client.post("/sign-in", data={"csrf_token": token, "email": "a" * 300 + "@x.org", "password": "p"})
    assert huge.status_code == 400
    assert "254 characters or fewer" in huge.text


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="csrf@example.org")
    response = client.post("/sign-in", data={"email": "csrf@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert "Traceback" not in response.text
    assert _audit("sign_in") == []


def test_repeated_failures_are_throttled_even_with_the_right_password_after(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="target@example.org")
    statuses = [sign_in(client, "target@example.org", WRONG).status_code for _ in range(5)]
    assert statuses == [401] * 5
    blocked = sign_in(client, "target@example.org", PASSWORD)
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.text
    assert "Retry-After" in blocked.headers
    # Another account from the same address is not locked out by this one's failures.
    make_user(Role.BROKER, email="bystander@example.org")
    assert sign_in(client, "bystander@example.org").status_code == 302


def test_successful_sign_ins_are_not_counted_as_failures(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="often@example.org")
    for _ in range(7):
        assert sign_in(client, "often@example.org").status_code == 302
        client.post("/sign-out", data={"csrf_token": csrf_token_from(client.get("/").text)})


def test_next_is_followed_only_within_the_site(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="next@example.org")
    for target, expected in (("/healthz", "/healthz"), ("https://evil.example/", "/"), ("//evil.example/", "/"),
                             ("/\\evil.example", "/")):
        page = client.get("/sign-in")
        response = client.post(
            "/sign-in?next=" + target,
            data={"email": "next@example.org", "password": PASSWORD, "csrf_token": csrf_token_from(page.text)},
        )
        assert response.status_code == 302
        assert response.headers["Location"] == expected, target
        client.post("/sign-out", data={"csrf_token": csrf_token_from(client.get("/").text)})


def test_a_page_asks_anonymous_visitors_to_sign_in_and_comes_back(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/"


def test_sign_out_ends_the_session_and_is_a_post(client: FlaskClient, login_as) -> None:
    user = make_user(Role.BROKER)
    login_as(user)
    assert client.get("/sign-out").status_code == 405
    token = csrf_token_from(client.get("/").text)
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302
    assert "You have signed out" in client.get(response.headers["Location"]).text
    assert client.get("/").status_code == 302
    assert [event.actor_user_id for event in _audit("sign_out")] == [user.id]
