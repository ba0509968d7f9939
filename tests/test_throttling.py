"""Throttling: failed sign-ins are counted once per account and per address whichever door is used (the
page or the API's token endpoint), and in one place for every worker process when the counts live in
Redis; one person's API calls and PDFs are limited so that they cannot slow everybody else.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from panel_app.extensions import db, limiter
from panel_app.models import Role
from tests.conftest import PASSWORD, FreshDatabases, build_app, csrf_token_from, sign_in
from tests.factories import make_user

WRONG = "the wrong password entirely"
ROOT = Path(__file__).resolve().parents[1]
REDIS = ("127.0.0.1", 6379)


def api_sign_in(client: FlaskClient, email: str, password: str) -> Any:
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


@pytest.fixture
def limits(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set a limit for this test only (the limits are read from the config at each request)."""

    def _set(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setitem(app.config, name, value)

    return _set


# --- Sign-in: one count across the page and the API -----------------------------------------------


def test_failures_on_the_page_and_the_api_add_up_for_one_account(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="target@example.org")
    # 5 failures are allowed (the documented default), whichever door they come through.
    assert [sign_in(client, "target@example.org", WRONG).status_code for _ in range(3)] == [401] * 3
    # The API is told the address in another case: still the same account.
    assert [api_sign_in(client, "Target@Example.org ", WRONG).status_code for _ in range(2)] == [401] * 2

    by_api = api_sign_in(client, "target@example.org", PASSWORD)
    assert by_api.status_code == 429
    assert by_api.get_json()["error"]["code"] == "too_many_requests"
    assert "Wait 15 minutes" in by_api.get_json()["error"]["message"]
    assert "Retry-After" in by_api.headers
    by_page = sign_in(client, "target@example.org", PASSWORD)
    assert by_page.status_code == 429
    assert "Too many attempts" in by_page.text and "Traceback" not in by_page.text


def test_failures_on_the_page_and_the_api_add_up_for_one_address(client: FlaskClient, limits: Any) -> None:
    limits(SIGN_IN_FAILURES_PER_ADDRESS="4 per 15 minutes")
    accounts = [make_user(Role.BROKER, email=f"someone{n}@example.org").email for n in range(5)]
    # Four different accounts, two through each door, from one address.
    assert sign_in(client, accounts[0], WRONG).status_code == 401
    assert api_sign_in(client, accounts[1], WRONG).status_code == 401
    assert sign_in(client, accounts[2], WRONG).status_code == 401
    assert api_sign_in(client, accounts[3], WRONG).status_code == 401
    # A fifth account, never tried before, is refused at both doors: the address has had its four.
    assert api_sign_in(client, accounts[4], PASSWORD).status_code == 429
    assert sign_in(client, accounts[4], PASSWORD).status_code == 429


# --- Per person: the API and PDFs ----------------------------------------------------------------


def test_one_persons_api_calls_are_limited_and_others_are_not(client: FlaskClient, api_token: Any,
                                                               limits: Any) -> None:
    limits(API_RATE_LIMIT="3 per minute")
    busy, other = make_user(Role.BROKER), make_user(Role.BROKER)
    busy_headers, other_headers = api_token(busy), api_token(other)
    assert [client.get("/api/v1/me", headers=busy_headers).status_code for _ in range(3)] == [200] * 3
    refused = client.get("/api/v1/me", headers=busy_headers)
    assert refused.status_code == 429
    assert refused.mimetype == "application/json"
    error = refused.get_json()["error"]
    assert error["code"] == "too_many_requests"
    assert error["message"] == "You have sent too many requests in a short time. Wait a minute, then try again."
    assert "Retry-After" in refused.headers
    # Another route is the same person's same allowance.
    assert client.get("/api/v1/referrals", headers=busy_headers).status_code == 429
    # Somebody else is not slowed.
    assert client.get("/api/v1/me", headers=other_headers).status_code == 200


def test_one_persons_pdfs_are_limited_across_the_page_and_the_api(app: Flask, api_token: Any, limits: Any) -> None:
    limits(PDF_RATE_LIMIT="2 per minute")
    lead, other_lead = make_user(Role.STRATEGIC_LEAD), make_user(Role.STRATEGIC_LEAD)
    page = app.test_client()
    assert sign_in(page, lead.email).status_code == 302
    headers = api_token(lead)

    assert page.get("/gaps/report.pdf").status_code == 200
    assert page.get("/api/v1/gaps/report.pdf", headers=headers).status_code == 200

    refused_page = page.get("/gaps/report.pdf")
    assert refused_page.status_code == 429
    assert refused_page.mimetype == "text/html"
    assert "You have asked for too many documents in a short time. Wait a minute" in refused_page.text
    assert "Traceback" not in refused_page.text
    refused_api = page.get("/api/v1/gaps/report.pdf", headers=headers)
    assert refused_api.status_code == 429
    assert refused_api.get_json()["error"]["code"] == "too_many_requests"
    assert "too many documents" in refused_api.get_json()["error"]["message"]
    # The person's other API calls go on (the PDF allowance is not the API allowance).
    assert page.get("/api/v1/me", headers=headers).status_code == 200

    other = app.test_client()
    assert sign_in(other, other_lead.email).status_code == 302
    assert other.get("/gaps/report.pdf").status_code == 200


def test_sixteen_pdfs_asked_for_at_once_by_one_person_start_four(client: FlaskClient, login_as: Any,
                                                                 limits: Any) -> None:
    # The default burst limit (PDF_RATE_LIMIT): of 16 packs asked for at once, the 5th onwards are
    # refused at once instead of each holding a worker. (Packs of a meeting that does not exist: the
    # limit is counted before the meeting is looked up, so no PDF needs drawing here.)
    from panel_app.config import settings_from_environment

    limits(PDF_RATE_LIMIT=settings_from_environment("/tmp", {})["PDF_RATE_LIMIT"])
    login_as(make_user(Role.BROKER))
    statuses = [client.get("/meetings/999999/pack.pdf").status_code for _ in range(16)]
    assert statuses == [404] * 4 + [429] * 12


def test_the_api_description_says_any_signed_in_call_may_be_a_429(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "429" in paths["/me"]["get"]["responses"]
    assert "429" in paths["/meetings/{meeting_id}/pack.pdf"]["get"]["responses"]


def test_with_redis_unreachable_the_service_still_answers_and_still_counts(
        app: Flask, databases: FreshDatabases) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once this block ends
    cut_off = build_app(databases.new("redis_down"), RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}")
    try:
        with cut_off.app_context():
            upgrade()
            make_user(Role.BROKER, email="cut-off@example.org")
            db.session.commit()
        client = cut_off.test_client()
        # Counted in the process's memory meanwhile: the same limit, and no 500.
        assert [api_sign_in(client, "cut-off@example.org", WRONG).status_code for _ in range(5)] == [401] * 5
        assert api_sign_in(client, "cut-off@example.org", PASSWORD).status_code == 429
    finally:
        with cut_off.app_context():
            db.engine.dispose()
        limiter.init_app(app)  # the limiter is one object for every app: give the suite's storage back


def test_the_limits_are_settings_with_the_documented_defaults() -> None:
    from panel_app.config import settings_from_environment

    settings = settings_from_environment("/tmp", {})
    assert settings["SIGN_IN_FAILURES_PER_ACCOUNT"] == "5 per 15 minutes"
    assert settings["SIGN_IN_FAILURES_PER_ADDRESS"] == "30 per 15 minutes"
    assert settings["API_RATE_LIMIT"] == "300 per minute"
    assert settings["PDF_RATE_LIMIT"] == "4 per 10 seconds; 10 per minute"
    # The settings are documented in docs/operations.md ("Settings"), moved there from the README.
    settings_doc = (ROOT / "docs" / "operations.md").read_text()
    for line in ("| `API_RATE_LIMIT` | `300 per minute` |", "| `PDF_RATE_LIMIT` | `4 per 10 seconds; 10 per minute` |"):
        assert line in settings_doc


# --- Several worker processes sharing the counts in Redis -----------------------------------------


def _redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path


@dataclass
class Answer:
    status: int
    headers: Any
    text: str


class Visitor:
    """One browser (its own cookies) talking to one server process over real HTTP."""

    def __init__(self, server: Server) -> None:
        self.url = server.url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirects())

    def send(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return Answer(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers, error.read().decode())

    def page_sign_in(self, email: str, password: str) -> int:
        token = csrf_token_from(self.send("/sign-in").text)
        body = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token}).encode()
        return self.send("/sign-in", body, {"Content-Type": "application/x-www-form-urlencoded"}).status

    def api_sign_in(self, email: str, password: str) -> int:
        body = json.dumps({"email": email, "password": password}).encode()
        return self.send("/api/v1/auth/token", body, {"Content-Type": "application/json"}).status


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture(scope="module")
def two_processes(databases: FreshDatabases, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[Server, Server, str]]:
    """Two gunicorn processes of the app, on one database, counting in the local Redis under a key
    prefix of their own; and the address of an account in that database."""
    if not _redis_answers():
        if os.environ.get("CI"):
            pytest.fail("CI must run a Redis at 127.0.0.1:6379 for the throttling test")
        pytest.skip("no Redis at 127.0.0.1:6379")
    url = databases.new("throttle")
    application = build_app(url)
    with application.app_context():
        upgrade()
        email = make_user(Role.BROKER, email="shared@example.org").email
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    prefix = f"panel-test-{uuid.uuid4().hex}"
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "x" * 40, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
           "RATELIMIT_KEY_PREFIX": prefix, "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8",
           "ARGON2_PARALLELISM": "1", "MAIL_SERVER": "", "PYTHONPATH": str(ROOT)}
    servers = []
    logs = tmp_path_factory.mktemp("gunicorn")
    for number in range(2):
        port = _free_port()
        log = logs / f"{number}.log"
        with log.open("wb") as log_file:  # the child keeps its own handle on it
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--workers", "1",
                 "--bind", f"127.0.0.1:{port}", "panel_app:create_app()"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        servers.append(Server(f"http://127.0.0.1:{port}", process, log))
    try:
        for server in servers:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(server.url + "/healthz", timeout=2):
                        break
                except (OSError, urllib.error.URLError):
                    if server.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(server.log.read_text())
                    time.sleep(0.2)
        yield servers[0], servers[1], email
    finally:
        for server in servers:
            server.process.send_signal(signal.SIGTERM)
        for server in servers:
            server.process.wait(timeout=30)
        import redis

        client = redis.Redis(*REDIS)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


def test_two_worker_processes_share_one_count_in_redis(two_processes: tuple[Server, Server, str]) -> None:
    first, second, email = two_processes
    a, b = Visitor(first), Visitor(second)
    # Five failures, the documented number, spread over both processes and both doors.
    statuses = [a.page_sign_in(email, WRONG), b.api_sign_in(email, WRONG), b.page_sign_in(email, WRONG),
                a.api_sign_in(email, WRONG), b.page_sign_in(email, WRONG)]
    assert statuses == [401] * 5
    # The account is now locked on every process and every door, the right password included.
    assert a.page_sign_in(email, PASSWORD) == 429
    assert a.api_sign_in(email, PASSWORD) == 429
    assert b.page_sign_in(email, PASSWORD) == 429
    assert b.api_sign_in(email, PASSWORD) == 429


def test_gunicorn_names_no_product_in_the_server_header(two_processes: tuple[Server, Server, str]) -> None:
    answer = Visitor(two_processes[0]).send("/healthz")
    assert answer.status == 200
    assert "gunicorn" not in answer.headers.get("Server", "").lower()


def test_gunicorn_refuses_several_workers_counting_in_their_own_memory() -> None:
    env = {**os.environ, "RATELIMIT_STORAGE_URI": "memory://", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--workers", "2",
         "--bind", f"127.0.0.1:{_free_port()}", "panel_app:create_app()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "RATELIMIT_STORAGE_URI=redis://" in result.stderr + result.stdout
