"""Sessions that can be ended: server-side sessions, sign-out, timeouts, "sign out everywhere else",
revocable API tokens, deactivation, the calendar feed link and the development secret key.

The clock is moved by editing the stored session's timestamps, never by sleeping.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.config import settings_from_environment
from panel_app.models import ApiToken, AuditEvent, Role, User, UserSession, db, utcnow
from panel_app.services import accounts
from tests.conftest import PASSWORD, build_app, client_for, counting_queries, csrf_token_from, sign_in
from tests.factories import make_user

COOKIE = "panel_session"
NEW_PASSWORD = "a brand new passphrase 2026"


# --- Helpers ------------------------------------------------------------------------------------


def _person(email: str, name: str = "Siân Cadwaladr", role: Role = Role.BROKER) -> User:
    user = make_user(role, email=email, name=name)
    db.session.commit()
    return user


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "the client holds no session cookie"
    return cookie.value


def _row(cookie_value: str) -> UserSession | None:
    return db.session.scalars(
        select(UserSession).where(UserSession.id == hashlib.sha256(cookie_value.encode()).hexdigest())
        .execution_options(populate_existing=True)
    ).one_or_none()


def _client_with_cookie(app: Flask, cookie_value: str) -> FlaskClient:
    """Another client (another browser, another machine) holding a copied cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, cookie_value)
    return other


def _signed_in_page(client: FlaskClient, name: str) -> bool:
    """Whether the client gets the home page as the named person."""
    response = client.get("/")
    return response.status_code == 200 and name in response.text


def _gets_no_page(client: FlaskClient, name: str) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")
    assert name not in response.text


def _move_clock(cookie_value: str, **changes: Any) -> None:
    """Make a stored session older: set its timestamps back, as time passing would."""
    row = _row(cookie_value)
    assert row is not None
    for column, ago in changes.items():
        setattr(row, column, utcnow() - ago)
    db.session.commit()


def _post_from_account_page(client: FlaskClient, url: str, **data: str) -> Any:
    page = client.get("/account/")
    assert page.status_code == 200
    return client.post(url, data={"csrf_token": csrf_token_from(page.text), **data})


def _issue_token(user: User) -> dict[str, str]:
    token, _expires = accounts.issue_api_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _calendar_link(user: User) -> str:
    token = accounts.new_calendar_token(user)
    db.session.commit()
    return f"/calendar/{token}.ics"


@contextmanager
def _settings(app: Flask, **values: Any) -> Iterator[None]:
    saved = {key: app.config[key] for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)


def _cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


# --- Stored on the server -----------------------------------------------------------------------


def test_the_cookie_holds_only_a_secret_whose_digest_names_the_stored_session(app: Flask) -> None:
    user = _person("stored@example.org")
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302  # the real form makes the row
    secret = _cookie(client)
    assert len(secret) >= 43 and "stored" not in secret and "_user_id" not in secret
    row = _row(secret)
    assert row is not None and row.id != secret
    assert row.user_id == user.id and row.ended_at is None
    assert row.data["_user_id"] == str(user.id)
    assert row.ip == "127.0.0.1" and row.user_agent  # shown on the account page


def test_anonymous_pages_store_no_session_and_signing_in_starts_a_new_one(app: Flask) -> None:
    user = _person("fixation@example.org")
    client = app.test_client()
    before = db.session.scalar(select(func.count()).select_from(UserSession))
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get_cookie(COOKIE) is None
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == before

    client.get("/sign-in")  # the form's CSRF token needs a session: one anonymous row
    anonymous = _cookie(client)
    assert _row(anonymous).user_id is None
    assert sign_in(client, user.email).status_code == 302
    signed_in = _cookie(client)
    assert signed_in != anonymous
    assert _row(anonymous) is None  # nobody's row: deleted, so its secret is worth nothing
    assert _row(signed_in).user_id == user.id


def test_flashed_messages_survive_the_round_trip_through_the_database(app: Flask) -> None:
    user = _person("flash@example.org")
    client = client_for(app, user)
    _issue_token(user)
    [token] = accounts.api_tokens_of(user)
    response = _post_from_account_page(client, f"/account/tokens/{token.id}/revoke")
    assert response.status_code == 302
    page = client.get("/account/")
    banner = BeautifulSoup(page.text, "html.parser").find(class_="govuk-notification-banner")
    assert "The API token is revoked" in banner.get_text(" ", strip=True)
    assert "The API token is revoked" not in client.get("/account/").text  # shown once


# --- Signing out ---------------------------------------------------------------------------------


def test_a_cookie_replayed_after_sign_out_gets_no_page_from_this_client_or_another(app: Flask) -> None:
    user = _person("replay@example.org", name="Gwenllian Replay")
    client = client_for(app, user)
    stolen = _cookie(client)
    assert _signed_in_page(client, "Gwenllian Replay")
    assert _signed_in_page(_client_with_cookie(app, stolen), "Gwenllian Replay")  # a copy works while live

    page = client.get("/")
    assert client.post("/sign-out", data={"csrf_token": csrf_token_from(page.text)}).status_code == 302
    assert _row(stolen).ended_at is not None

    replaying = app.test_client()
    replaying.set_cookie(COOKIE, stolen)
    _gets_no_page(replaying, "Gwenllian Replay")
    _gets_no_page(_client_with_cookie(app, stolen), "Gwenllian Replay")
    assert replaying.get("/account/").status_code == 302


def test_a_session_whose_stored_person_differs_from_its_data_signs_nobody_in(app: Flask) -> None:
    """The user loader believes the row's owner, not what the session's data says."""
    victim = _person("victim@example.org", name="Victim Person")
    intruder = _person("intruder@example.org", name="Intruder Person")
    client = client_for(app, intruder)
    row = _row(_cookie(client))
    row.data = {**row.data, "_user_id": str(victim.id)}
    db.session.commit()
    for _attempt in range(2):  # nor does the session that replaces it
        response = client.get("/")
        assert "Victim Person" not in response.text
        assert response.status_code == 302
    owners = db.session.scalars(select(UserSession.user_id).where(UserSession.ended_at.is_(None)))
    assert victim.id not in set(owners)


def test_a_page_view_within_a_minute_writes_nothing_to_the_session(app: Flask) -> None:
    user = _person("quiet@example.org", name="Quiet Person")
    client = client_for(app, user)
    with _settings(app, SESSION_TOUCH_SECONDS=60):
        _a_page_view_within_a_minute_writes_nothing(client)


def _a_page_view_within_a_minute_writes_nothing(client: FlaskClient) -> None:
    assert _signed_in_page(client, "Quiet Person")
    with counting_queries() as statements:
        assert _signed_in_page(client, "Quiet Person")
    writes = [s for s in statements if "user_session" in s and not s.lstrip().upper().startswith("SELECT")]
    assert writes == []
    _move_clock(_cookie(client), last_seen_at=timedelta(minutes=2))
    with counting_queries() as statements:
        assert _signed_in_page(client, "Quiet Person")
    assert [s for s in statements if s.lstrip().upper().startswith("UPDATE USER_SESSION")]
    assert utcnow() - _row(_cookie(client)).last_seen_at < timedelta(minutes=1)


# --- Timeouts ------------------------------------------------------------------------------------


def test_a_session_idle_past_the_timeout_ends(app: Flask) -> None:
    user = _person("idle@example.org", name="Idle Person")
    client = client_for(app, user)
    secret = _cookie(client)
    _move_clock(secret, last_seen_at=timedelta(minutes=29))
    assert _signed_in_page(client, "Idle Person")  # 29 minutes idle: still signed in
    _move_clock(secret, last_seen_at=timedelta(minutes=31))
    _gets_no_page(client, "Idle Person")
    assert _row(secret).ended_at is not None
    _gets_no_page(_client_with_cookie(app, secret), "Idle Person")


def test_a_session_in_use_ends_at_its_absolute_lifetime(app: Flask) -> None:
    user = _person("lifetime@example.org", name="Busy Person")
    client = client_for(app, user)
    secret = _cookie(client)
    _move_clock(secret, created_at=timedelta(hours=9, minutes=59), last_seen_at=timedelta(minutes=1))
    assert _signed_in_page(client, "Busy Person")
    _move_clock(secret, created_at=timedelta(hours=10, minutes=1), last_seen_at=timedelta(minutes=1))
    _gets_no_page(client, "Busy Person")
    assert _row(secret).ended_at is not None


def test_the_timeouts_are_settings(app: Flask, tmp_path: Path) -> None:
    defaults = settings_from_environment(str(tmp_path), {})
    assert (defaults["SESSION_IDLE_MINUTES"], defaults["SESSION_LIFETIME_HOURS"]) == (30, 10)
    chosen = settings_from_environment(str(tmp_path), {"SESSION_IDLE_MINUTES": "15", "SESSION_LIFETIME_HOURS": "8"})
    assert (chosen["SESSION_IDLE_MINUTES"], chosen["SESSION_LIFETIME_HOURS"]) == (15, 8)

    user = _person("short@example.org", name="Short Person")
    client = client_for(app, user)
    _move_clock(_cookie(client), last_seen_at=timedelta(minutes=6))
    with _settings(app, SESSION_IDLE_MINUTES=5):
        _gets_no_page(client, "Short Person")


def test_a_session_in_use_never_idles_out_between_two_writes_of_its_last_use(app: Flask) -> None:
    """However rarely "last used" is written, it is written at least every half idle timeout."""
    user = _person("steady@example.org", name="Steady Person")
    client = client_for(app, user)
    with _settings(app, SESSION_TOUCH_SECONDS=24 * 3600):
        _move_clock(_cookie(client), last_seen_at=timedelta(minutes=16))
        assert _signed_in_page(client, "Steady Person")
        assert utcnow() - _row(_cookie(client)).last_seen_at < timedelta(minutes=1)


def test_the_cookie_expires_with_the_absolute_lifetime(app: Flask) -> None:
    user = _person("expiry@example.org")
    client = app.test_client()
    response = sign_in(client, user.email)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=") and "Expires" in h
                  and "1970" not in h)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    row = _row(_cookie(client))
    expires = client.get_cookie(COOKIE).expires
    assert abs((expires - (row.created_at + timedelta(hours=10))).total_seconds()) < 5


# --- Your account: sessions, sign out everywhere else --------------------------------------------


def test_the_account_page_lists_only_your_sessions_and_marks_this_one(app: Flask) -> None:
    user = _person("lister@example.org")
    other = _person("someone.else@example.org")
    here = client_for(app, user)
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = "Phone browser 1.0"
    assert sign_in(phone, user.email).status_code == 302
    client_for(app, other)

    page = BeautifulSoup(here.get("/account/").text, "html.parser")
    table = page.find("table")
    rows = table.find("tbody").find_all("tr")
    assert len(rows) == 2
    assert table.find("caption").get_text(strip=True) == "2 signed-in sessions"
    marked = [row for row in rows if row.find(string="This session")]
    assert len(marked) == 1 and "Phone browser 1.0" not in marked[0].get_text()
    assert any("Phone browser 1.0" in row.get_text() for row in rows)


def test_sign_out_everywhere_else_ends_the_other_sessions_only(app: Flask) -> None:
    user = _person("everywhere@example.org", name="Many Devices")
    colleague = _person("colleague@example.org", name="Colleague Person")
    here = client_for(app, user)
    laptop = client_for(app, user)
    phone = client_for(app, user)
    colleague_client = client_for(app, colleague)
    headers = _issue_token(user)
    colleague_headers = _issue_token(colleague)

    response = _post_from_account_page(here, "/account/sign-out-everywhere-else")
    assert response.status_code == 302 and response.headers["Location"] == "/account/"

    assert _signed_in_page(here, "Many Devices")
    _gets_no_page(laptop, "Many Devices")
    _gets_no_page(phone, "Many Devices")
    assert _signed_in_page(colleague_client, "Colleague Person")
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    assert app.test_client().get("/api/v1/me", headers=colleague_headers).status_code == 200
    assert len(accounts.sessions_of(user)) == 1
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sessions.ended"))
    assert event.detail == {"why": "sign_out_everywhere_else", "sessions": 2, "tokens": 1}


def test_sign_out_everywhere_else_needs_the_form_token(app: Flask) -> None:
    user = _person("nocsrf@example.org", name="No Token")
    here = client_for(app, user)
    laptop = client_for(app, user)
    assert here.post("/account/sign-out-everywhere-else").status_code == 400
    assert _signed_in_page(laptop, "No Token")


# --- API tokens ----------------------------------------------------------------------------------


def test_a_revoked_token_gets_401_and_others_keep_working(app: Flask) -> None:
    user = _person("tokens@example.org")
    client = client_for(app, user)
    first = _issue_token(user)
    second = _issue_token(user)
    api = app.test_client()
    assert api.get("/api/v1/me", headers=first).status_code == 200

    tokens = accounts.api_tokens_of(user)
    page = BeautifulSoup(client.get("/account/").text, "html.parser")
    assert len(page.find(id="api-tokens").find_next("table").find("tbody").find_all("tr")) == 2
    first_row = next(t for t in tokens if t.last_used_at is not None)  # the one just used
    assert _post_from_account_page(client, f"/account/tokens/{first_row.id}/revoke").status_code == 302

    response = api.get("/api/v1/me", headers=first)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert api.get("/api/v1/me", headers=second).status_code == 200
    assert [t.id for t in accounts.api_tokens_of(user)] != [first_row.id]


def test_someone_elses_token_cannot_be_revoked(app: Flask) -> None:
    owner = _person("owner@example.org")
    other = _person("other@example.org")
    headers = _issue_token(owner)
    [token] = accounts.api_tokens_of(owner)
    client = client_for(app, other)
    assert _post_from_account_page(client, f"/account/tokens/{token.id}/revoke").status_code == 404
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 200


def test_a_person_holds_a_limited_number_of_live_tokens(app: Flask) -> None:
    user = _person("many.tokens@example.org")
    issued = [_issue_token(user) for _ in range(6)]
    api = app.test_client()
    assert api.get("/api/v1/me", headers=issued[0]).status_code == 401  # the oldest was revoked
    assert all(api.get("/api/v1/me", headers=h).status_code == 200 for h in issued[1:])
    assert len(accounts.api_tokens_of(user)) == 5


def test_the_token_records_when_it_was_last_used(app: Flask) -> None:
    user = _person("used@example.org")
    headers = _issue_token(user)
    [token] = accounts.api_tokens_of(user)
    assert token.last_used_at is None
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 200
    db.session.refresh(token)
    assert token.last_used_at is not None and utcnow() - token.last_used_at < timedelta(minutes=1)


# --- Deactivation, reactivation, and the admin's commands ----------------------------------------


def test_deactivation_ends_sessions_tokens_and_the_calendar_feed_and_reactivation_revives_none(app: Flask) -> None:
    user = _person("leaver@example.org", name="Leaving Person")
    client = client_for(app, user)
    secret = _cookie(client)
    headers = _issue_token(user)
    feed = _calendar_link(user)
    api = app.test_client()
    assert api.get(feed).status_code == 200
    assert api.get("/api/v1/me", headers=headers).status_code == 200

    result = _cli(app, "users", "deactivate", "LEAVER@example.org")
    assert result.exit_code == 0, result.output
    _gets_no_page(client, "Leaving Person")
    assert api.get("/api/v1/me", headers=headers).status_code == 401
    assert api.get(feed).status_code == 404

    result = _cli(app, "users", "reactivate", "leaver@example.org")
    assert result.exit_code == 0, result.output
    _gets_no_page(_client_with_cookie(app, secret), "Leaving Person")
    assert api.get("/api/v1/me", headers=headers).status_code == 401
    assert api.get(feed).status_code == 404
    assert _signed_in_page(client_for(app, user), "Leaving Person")  # signing in afresh works


def test_an_account_switched_off_by_any_path_is_signed_out_at_its_next_request(app: Flask) -> None:
    """Even if the flag is flipped without the service, the session ends at the next request and
    does not come back when the flag is flipped back."""
    user = _person("flag@example.org", name="Flag Person")
    client = client_for(app, user)
    secret = _cookie(client)
    user.active = False
    db.session.commit()
    _gets_no_page(client, "Flag Person")
    assert _row(secret).ended_at is not None
    user.active = True
    db.session.commit()
    _gets_no_page(_client_with_cookie(app, secret), "Flag Person")


def test_the_admin_can_end_a_persons_sessions_and_tokens(app: Flask) -> None:
    user = _person("lost.phone@example.org", name="Lost Phone")
    bystander = _person("bystander@example.org", name="Bystander Person")
    client = client_for(app, user)
    other_client = client_for(app, bystander)
    headers = _issue_token(user)
    result = _cli(app, "users", "end-sessions", "lost.phone@example.org")
    assert result.exit_code == 0, result.output
    _gets_no_page(client, "Lost Phone")
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    assert _signed_in_page(other_client, "Bystander Person")


def test_the_commands_name_an_unknown_address_clearly(app: Flask) -> None:
    for command in ("deactivate", "reactivate", "end-sessions"):
        result = _cli(app, "users", command, "nobody@example.org")
        assert result.exit_code == 1
        assert "There is no account with the email address 'nobody@example.org'" in result.output


def test_purging_deletes_only_sessions_nobody_can_use(app: Flask) -> None:
    user = _person("purge@example.org")
    live = _cookie(client_for(app, user))
    stale = _cookie(client_for(app, user))
    anonymous = app.test_client()
    anonymous.get("/sign-in")
    abandoned = _cookie(anonymous)
    _move_clock(stale, last_seen_at=timedelta(days=31))
    _move_clock(abandoned, last_seen_at=timedelta(hours=1))
    result = _cli(app, "users", "purge-sessions")
    assert result.exit_code == 0, result.output
    assert _row(live) is not None
    assert _row(stale) is None and _row(abandoned) is None


# --- Password change -----------------------------------------------------------------------------


def test_changing_your_password_ends_your_other_sessions_and_tokens(app: Flask) -> None:
    user = _person("changer@example.org", name="Changing Person")
    here = client_for(app, user)
    laptop = client_for(app, user)
    headers = _issue_token(user)
    response = _post_from_account_page(here, "/account/password", current_password=PASSWORD,
                                       new_password=NEW_PASSWORD)
    assert response.status_code == 302
    assert _signed_in_page(here, "Changing Person")
    _gets_no_page(laptop, "Changing Person")
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    assert sign_in(app.test_client(), user.email, PASSWORD).status_code == 401
    assert sign_in(app.test_client(), user.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "status", "message"),
    [
        ("not my password at all", NEW_PASSWORD, 422, "Your current password is not right"),
        (PASSWORD, "short", 422, "Use at least 12 characters"),
        (PASSWORD, PASSWORD, 422, "Choose a password different from your current one"),
        ("", NEW_PASSWORD, 400, "Enter your current password"),
        (PASSWORD, "x" * 1001, 400, "Password must be 1000 characters or fewer"),
        (PASSWORD, "Qwerty123456", 422, "this one is among the most common passwords"),
        (PASSWORD, "refused@example.org", 422, "Choose a password that is not your email address or your name"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(app: Flask, current: str, new: str, status: int,
                                                               message: str) -> None:
    user = _person("refused@example.org", name="Refused Person")
    here = client_for(app, user)
    laptop = client_for(app, user)
    response = _post_from_account_page(here, "/account/password", current_password=current, new_password=new)
    assert response.status_code == status
    summary = BeautifulSoup(response.text, "html.parser").find(class_="govuk-error-summary")
    assert message in summary.get_text(" ", strip=True)
    assert _signed_in_page(laptop, "Refused Person")
    assert sign_in(app.test_client(), user.email, PASSWORD).status_code == 302


# --- The calendar feed link ----------------------------------------------------------------------


def test_renewing_the_calendar_link_ends_the_old_one(app: Flask) -> None:
    user = _person("feed@example.org")
    old = _calendar_link(user)
    client = client_for(app, user)
    page = BeautifulSoup(client.get("/account/").text, "html.parser")
    assert page.find(id="renew-calendar-link").get_text(strip=True) == "Renew the calendar link"
    response = _post_from_account_page(client, "/calendar/")
    assert response.status_code == 200
    link = BeautifulSoup(response.text, "html.parser").find(class_="govuk-panel__body").get_text(strip=True)
    new = link.removeprefix("http://panels.test")
    feeds = app.test_client()
    assert feeds.get(old).status_code == 404
    assert feeds.get(new).status_code == 200


# --- The development secret key ------------------------------------------------------------------


def test_development_makes_a_random_secret_key_per_instance_and_keeps_it(tmp_path: Path) -> None:
    first_instance = tmp_path / "one" / "instance"  # the folder is made when missing
    first = settings_from_environment(str(first_instance), {})["SECRET_KEY"]
    again = settings_from_environment(str(first_instance), {})["SECRET_KEY"]
    other = settings_from_environment(str(tmp_path / "two"), {})["SECRET_KEY"]
    assert first == again
    assert first != other
    assert len(first) >= 43 and "development" not in first
    key_file = first_instance / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert [p.name for p in first_instance.iterdir()] == ["secret_key"]  # no draft left behind
    # An empty key file (a disk that filled up) is replaced by a good key.
    (tmp_path / "four").mkdir()
    (tmp_path / "four" / "secret_key").write_text("")
    replaced = settings_from_environment(str(tmp_path / "four"), {})["SECRET_KEY"]
    assert len(replaced) >= 43 and (tmp_path / "four" / "secret_key").read_text().strip() == replaced
    # A key given in the environment wins, and nothing is written.
    given = settings_from_environment(str(tmp_path / "three"), {"SECRET_KEY": "k" * 40})
    assert given["SECRET_KEY"] == "k" * 40
    assert not (tmp_path / "three" / "secret_key").exists()


# --- The database unavailable --------------------------------------------------------------------


def test_with_the_database_down_a_browser_with_a_session_still_gets_an_answer() -> None:
    """Reading the session happens before any view; a database outage there must not become a bare
    server error: the health check still says 503, a page still gets the service's own error page."""
    app = build_app("postgresql+psycopg://nobody@127.0.0.1:9/nowhere?connect_timeout=2")
    browser = app.test_client()
    browser.set_cookie(COOKIE, "a" * 43)
    health = browser.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["status"] == "unavailable"
    page = browser.get("/")
    assert page.status_code == 503 and "cannot reach its database" in page.text
    assert "Traceback" not in page.text
