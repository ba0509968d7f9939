"""Fixtures: a real database (SQLite, or PostgreSQL when TEST_DATABASE_URL names a server), the app
built once per run with the schema made by the real migrations, and each test inside one outer
transaction that is rolled back afterwards; or, in a module whose world is built once
(``module_connection``), inside a SAVEPOINT of the module's outer transaction, rolled back after each
case.

``TEST_DATABASE_URL`` names a PostgreSQL server (any database on it); the suite creates a fresh
database of its own on that server and drops it at the end. There, as in production (docs/operations.md,
"PostgreSQL with two roles"), the migrations run as the owner (the role of ``TEST_DATABASE_URL``) and the app
logs in as a role of its own, made for the run and given its rights by ``flask db-roles grant``: it
may only SELECT and INSERT on the audit trail.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from panel_app import create_app
from panel_app.extensions import Base, db, limiter
from panel_app.models import User

PASSWORD = "correct horse battery staple"

T = TypeVar("T")

# Cheap argon2 parameters: tests check behaviour, not cost.
TEST_SETTINGS: dict[str, Any] = {
    "TESTING": True,
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 8,
    "ARGON2_PARALLELISM": 1,
    "RATELIMIT_STORAGE_URI": "memory://",
    # Tests of what a page shows fetch many PDFs and API answers as one person within a second; the
    # per-person limits are tested (with their defaults) in test_throttling.py.
    "API_RATE_LIMIT": "10000 per minute",
    "PDF_RATE_LIMIT": "10000 per minute",
    "PANEL_DEMO_PASSWORD": PASSWORD,
    "MAIL_SERVER": "",
    # Jobs run at once, in the request that asked for them: a test sees their effect when it returns.
    "JOBS_URL": "memory://",
    "PANEL_BASE_URL": "http://panels.test",
    # Sessions' and tokens' "last used" times are rewritten at most every 15 minutes here (half the
    # idle timeout), so that a slow test crossing a minute does not add a write to the statements it
    # counts (tests of it set their own).
    "SESSION_TOUCH_SECONDS": 900,
}


# --- Databases ----------------------------------------------------------------------------------


def _postgres_server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        return None
    if not url.startswith(("postgresql", "postgres")):
        raise pytest.UsageError("TEST_DATABASE_URL must name a PostgreSQL server (postgresql://...)")
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class FreshDatabases:
    """Creates empty databases for the run (on the PostgreSQL server, or as SQLite files) and
    removes them at the end."""

    def __init__(self, tmp_dir: Path) -> None:
        self.server_url = _postgres_server_url()
        self.tmp_dir = tmp_dir
        self.created: list[str] = []
        # The role the app logs in as on PostgreSQL (created on first use, dropped at the end).
        self.app_role = f"panel_app_test_{uuid.uuid4().hex[:8]}"
        self._app_role_created = False

    @property
    def dialect(self) -> str:
        return "postgresql" if self.server_url else "sqlite"

    def new(self, label: str) -> str:
        name = f"panel_test_{label}_{uuid.uuid4().hex[:8]}"
        if self.server_url is None:
            return f"sqlite:///{self.tmp_dir / (name + '.sqlite')}"
        admin = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        self.created.append(name)
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def for_the_app(self, label: str) -> str:
        """A fresh database migrated by its owner, and the URL the app logs in with: on PostgreSQL
        the app's own role, granted its rights by ``flask db-roles grant`` (SQLite has no roles)."""
        owner_url = self.new(label)
        owner = build_app(owner_url)
        with owner.app_context():
            upgrade()
            if self.server_url is not None:
                self._create_app_role()
                result = owner.test_cli_runner().invoke(args=["db-roles", "grant", self.app_role])
                assert result.exit_code == 0, result.output
            db.engine.dispose()
        if self.server_url is None:
            return owner_url
        return make_url(owner_url).set(username=self.app_role, password=None).render_as_string(hide_password=False)

    def as_owner(self, url: str) -> str:
        """The same database, logged in as the owner of its tables."""
        if self.server_url is None:
            return url
        server = make_url(self.server_url)
        return make_url(url).set(username=server.username, password=server.password).render_as_string(
            hide_password=False)

    def _create_app_role(self) -> None:
        if self._app_role_created:
            return
        admin = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE ROLE "{self.app_role}" LOGIN')
        admin.dispose()
        self._app_role_created = True

    def drop_all(self) -> None:
        if self.server_url is None:
            return
        admin = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in self.created:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if self._app_role_created:  # its rights went with the databases
                connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{self.app_role}"')
        admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshDatabases]:
    fresh = FreshDatabases(tmp_path_factory.mktemp("databases"))
    yield fresh
    fresh.drop_all()


class FreshContextClient(FlaskClient):
    """A test client whose every request runs in its own application context.

    Flask reuses an application context that is already pushed (the test's own), which would let
    ``g`` (the caller, cached CSRF tokens, Flask-Login's user) leak from one request to the next.
    Real requests never share one, so neither do ours.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        context = self.application.app_context()
        context.push()
        try:
            return super().open(*args, **kwargs)
        finally:
            context.pop()


def build_app(database_url: str, **overrides: Any) -> Flask:
    application = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    application.test_client_class = FreshContextClient
    return application


@contextmanager
def app_with_its_own_database(databases: FreshDatabases, label: str) -> Iterator[Flask]:
    """An app on a fresh database of its own, built by the migrations (run as the owner), for tests
    whose data must be committed for real: races between requests, worlds built once and only read."""
    application = build_app(databases.new(label))
    with application.app_context():
        upgrade()
    try:
        yield application
    finally:
        with application.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def app(databases: FreshDatabases) -> Iterator[Flask]:
    # The schema comes from the migrations, run by the owner, exactly as in production.
    application = build_app(databases.for_the_app("main"))
    yield application
    with application.app_context():
        db.engine.dispose()


@contextmanager
def session_on(application: Flask, connection: sa.Connection) -> Iterator[None]:
    """``db.session``, in an application context of its own, bound to ``connection``: each commit
    releases a SAVEPOINT of the transaction open there (SQLAlchemy's "join a session into an external
    transaction" recipe), so the session never commits for real."""
    with application.app_context():
        db.session.remove()
        db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
        context = application.app_context()
        context.push()
        try:
            yield
        finally:
            context.pop()  # Flask-SQLAlchemy removes (and so rolls back) that context's session
            db.session.remove()
            db.session.configure(bind=None)


@pytest.fixture(scope="module")
def module_connection(app: Flask) -> Iterator[sa.Connection]:
    """One connection and outer transaction for a whole module, rolled back at its end, for a module
    whose world is built once (see ``built_once``); every test that uses it (through its module's world
    fixture) runs inside a SAVEPOINT of it that is rolled back after the test."""
    with app.app_context():
        connection = db.engine.connect()
    outer = connection.begin()
    try:
        yield connection
    finally:
        outer.rollback()
        connection.close()


def built_once(application: Flask, connection: sa.Connection, build: Callable[[], T]) -> T:
    """What ``build`` makes, committed into the module's outer transaction (the session's commit releases
    its SAVEPOINT there). The session is gone afterwards, so ``build`` returns ids and plain values, never
    ORM objects (or a ``kept`` world): each case loads what it needs in its own session."""
    with session_on(application, connection):
        made = build()
        db.session.commit()
    return made


class _Record(NamedTuple):
    model: type
    id: int


def _keep(value: Any) -> Any:
    if isinstance(value, list):
        return [_keep(item) for item in value]
    if isinstance(value, dict):
        return {key: _keep(item) for key, item in value.items()}
    return _Record(type(value), value.id) if isinstance(value, Base) else value


def _load(value: Any) -> Any:
    if isinstance(value, list):
        return [_load(item) for item in value]
    if isinstance(value, dict):
        return {key: _load(item) for key, item in value.items()}
    return db.session.get(value.model, value.id) if isinstance(value, _Record) else value


def kept(world: Any) -> dict[str, Any]:
    """A world (a dataclass) of ORM records and plain values, as what outlives the session that built
    it: each record (also in a list or a dict) by its model and id, anything else as it is. ``loaded``
    makes it again in a case's own session."""
    return {field.name: _keep(getattr(world, field.name)) for field in fields(world)}


def loaded(world_class: Callable[..., T], kept_world: dict[str, Any]) -> T:
    """The world that ``kept`` kept, each record loaded in the current (the case's own) session."""
    return world_class(**{name: _load(value) for name, value in kept_world.items()})


@pytest.fixture(autouse=True)
def _each_test_rolled_back(app: Flask, request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs inside a transaction that is rolled back, whatever it committed: its own
    connection's outer transaction, or, when it uses its module's world (``module_connection``), a
    SAVEPOINT of the module's, so that the next case meets the world exactly as it was built.

    Requests and the test body share that connection; each session's commit releases a SAVEPOINT
    (SQLAlchemy's "join a session into an external transaction" recipe). The rate limits start afresh
    for each test; ``g`` and Flask-Login's user live in each request's own application context
    (``FreshContextClient``) and the test's own.
    """
    if "module_connection" in request.fixturenames:
        connection = request.getfixturevalue("module_connection")
        transaction = connection.begin_nested()
        own_connection = False
    else:
        with app.app_context():
            connection = db.engine.connect()
        transaction = connection.begin()
        own_connection = True
    try:
        with session_on(app, connection):
            limiter.reset()
            yield
    finally:
        transaction.rollback()
        if own_connection:
            connection.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- Signing in ---------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


def assert_every_route_classified(app: Flask, prefixes: tuple[str, ...], audited: dict, not_personal: dict) -> None:
    """Each route (endpoint, method) whose endpoint starts with one of ``prefixes`` is in exactly one
    of the two tables: it shows or changes a young person's data (audited), or it does not."""
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(prefixes)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    classified = set(audited) | set(not_personal)
    assert routes - classified == set(), "classify these routes: do they show or change a young person's data?"
    assert classified - routes == set(), "these classified routes no longer exist"
    assert not set(audited) & set(not_personal)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    """Sign in through the real sign-in form (with its CSRF token)."""
    page = client.get("/sign-in")
    return client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": csrf_token_from(page.text)}
    )


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    """Every statement sent to the database meanwhile (the app's engine, all sessions)."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def write_session(client: FlaskClient, user: User) -> FlaskClient:
    """Sign ``user`` in on ``client`` by writing the session the sign-in form would have made: a
    ``user_session`` row holding what Flask-Login keeps, and the cookie with its secret. Two requests
    and a password check fewer per case; the sign-in form keeps its own tests through the real page
    (``sign_in``). The row is in the test's transaction, so it goes with the rollback."""
    from flask_login.utils import _create_identifier

    from panel_app.models import UserSession
    from panel_app.models.base import utcnow
    from panel_app.session_store import digest

    app = client.application
    with app.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()  # what "strong" session protection compares each request
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(UserSession(id=digest(secret), user_id=user.id, created_at=now, last_seen_at=now,
                               ip=client.environ_base.get("REMOTE_ADDR"),
                               user_agent=client.environ_base.get("HTTP_USER_AGENT"),
                               data={"_user_id": str(user.id), "_fresh": True, "_id": identifier}))
    db.session.commit()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], secret)
    return client


def client_for(app: Flask, user: User) -> FlaskClient:
    return write_session(app.test_client(), user)


@pytest.fixture
def login_as(client: FlaskClient) -> Callable[[User], FlaskClient]:
    def _login(user: User) -> FlaskClient:
        return write_session(client, user)

    return _login


@pytest.fixture
def api_token() -> Callable[[User], dict[str, str]]:
    """Authorization headers with a real token for the user, issued by the service."""
    from panel_app.services.accounts import issue_api_token

    def _headers(user: User) -> dict[str, str]:
        token, _expires = issue_api_token(user)
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return _headers


# --- A real SMTP server on loopback ------------------------------------------------------------


@dataclass
class CapturedMail:
    """The messages a real SMTP server (aiosmtpd on 127.0.0.1) received during the test."""

    messages: list[EmailMessage]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=email_policy.default).parsebytes(envelope.content)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(app: Flask) -> Iterator[CapturedMail]:
    """Point the app at a real SMTP server on loopback for this test, and give what it received."""
    from aiosmtpd.controller import Controller

    collector = _Collector()
    with socket.socket() as probe:  # aiosmtpd needs a real port number to check itself on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {key: app.config[key] for key in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    try:
        yield CapturedMail(collector.messages)
    finally:
        app.config.update(saved)
        controller.stop()


class _Moody(_Collector):
    """A collector that can refuse: a recipient (e.g. "451 ..." at RCPT) or the message ("554 ..." at
    DATA), until told to accept again."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_rcpt: str | None = None
        self.refuse_data: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data
        return await super().handle_DATA(server, session, envelope)


class _Gate:
    """A TCP port in front of the SMTP server. Open, it passes bytes both ways; silent, it accepts
    connections and never says a word (a hung mail server), and never passes them on: an attempt cut
    off by its timeout can never be completed behind the client's back."""

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.silent = False
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._start(self._accept)

    def _start(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            self.sockets.append(client)
            if self.silent:
                continue  # held open, never answered
            upstream = socket.create_connection(("127.0.0.1", self.backend_port))
            self.sockets.append(upstream)
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)  # pass the end of the conversation on
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        self.listener.close()
        for each in self.sockets:
            try:
                each.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            each.close()
        for thread in self.threads:
            thread.join(timeout=5)


@dataclass
class ControllableMailServer(CapturedMail):
    """A real SMTP server on loopback (aiosmtpd) that a test can make refuse or go silent, then
    bring back."""

    handler: _Moody
    gate: _Gate
    config: Any  # the app's settings: a silent server is given up on sooner

    SILENT_TIMEOUT = 1  # seconds: short, so a test waits little for a server that never answers
    TIMEOUT = 5  # seconds: long enough for a loaded machine's loopback server to answer

    def refuse_recipients(self, reply: str = "451 4.3.0 Mailbox temporarily unavailable") -> None:
        self.handler.refuse_rcpt = reply

    def refuse_messages(self, reply: str = "554 5.6.0 Transaction failed") -> None:
        self.handler.refuse_data = reply

    def go_silent(self) -> None:
        self.gate.silent = True
        self.config["MAIL_TIMEOUT"] = self.SILENT_TIMEOUT

    def come_back(self) -> None:
        self.handler.refuse_rcpt = self.handler.refuse_data = None
        self.gate.silent = False
        self.config["MAIL_TIMEOUT"] = self.TIMEOUT


@pytest.fixture
def mail_server(app: Flask) -> Iterator[ControllableMailServer]:
    """Like ``smtp``, but the test decides how the server behaves (and, silent, gives up after 1 second)."""
    from aiosmtpd.controller import Controller

    handler = _Moody()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    gate = _Gate(port)
    saved = {key: app.config[key] for key in ("MAIL_SERVER", "MAIL_PORT", "MAIL_TIMEOUT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=gate.port, MAIL_TIMEOUT=ControllableMailServer.TIMEOUT)
    try:
        yield ControllableMailServer(handler.messages, handler, gate, app.config)
    finally:
        app.config.update(saved)
        gate.close()
        controller.stop()


@pytest.fixture(autouse=True)
def _no_real_email(app: Flask) -> Iterator[None]:
    """A test never sends real email: outside the ``smtp`` fixture the app has no mail server (emails
    are recorded, not sent), and a test that points it anywhere but loopback fails."""
    yield
    assert app.config["MAIL_SERVER"] in ("", "127.0.0.1"), "a test pointed the app at a real mail server"


# --- A real server and a real browser ----------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@dataclass
class LiveServer:
    """The app with the demo installation, served over HTTP on a free port of 127.0.0.1."""

    url: str
    app: Flask


@pytest.fixture(scope="session")
def live_server(databases: FreshDatabases) -> Iterator[LiveServer]:
    application = build_app(databases.for_the_app("browser"))
    with application.app_context():
        result = application.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.server_port}", application)
    server.shutdown()
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def inbox(live_server: LiveServer) -> Iterator[CapturedMail]:
    """A real SMTP server on loopback for the live server: what the app sends from now on. The demo's
    own emails waited in the outbox for a mail server; they go first, unread."""
    from aiosmtpd.controller import Controller

    from panel_app.services import outbox

    collector = _Collector()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    live_server.app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    with live_server.app.app_context():
        outbox.deliver_due(limit=10_000)
    collector.messages.clear()
    try:
        yield CapturedMail(collector.messages)
    finally:
        live_server.app.config.update(MAIL_SERVER="")
        controller.stop()


def signed_in_page(browser: Any, server: LiveServer, email: str, **context_options: Any) -> Any:
    """A page of a new browser context, signed in through the real sign-in page as ``email``."""
    options = {"viewport": {"width": 1280, "height": 900}, **context_options}
    page = browser.new_context(**options).new_page()
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")
    return page


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser). Missing: a skip here, a
    failure in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (apt-get install -y chromium) for the browser tests")
        pytest.skip("Debian's chromium is not installed here (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that drives Chromium carries the ``browser`` marker, so that ``-m "not browser"`` is a
    quick run without it."""
    unmarked = [item.nodeid for item in items
                if "browser" in getattr(item, "fixturenames", ()) and item.get_closest_marker("browser") is None]
    if unmarked:
        raise pytest.UsageError("these tests drive Chromium: mark them @pytest.mark.browser: " + ", ".join(unmarked))


def pytest_report_header(config: pytest.Config) -> str:
    server = _postgres_server_url()
    return f"database: {'PostgreSQL at ' + make_url(server).render_as_string() if server else 'SQLite'}"


# --- The outbox ---------------------------------------------------------------------------------


def deliver_emails() -> int:
    """What the worker does: deliver every email that is due now. Returns how many went."""
    from panel_app.services import outbox

    return outbox.deliver_due().sent


def forget_queued_emails() -> None:
    """Take out of the outbox the emails a test's setting-up queued and that it does not check."""
    from panel_app.models import OutboxAttachment, OutboxEmail

    queued = sa.select(OutboxEmail.id).where(OutboxEmail.sent_at.is_(None))
    # Attachments first, explicitly: SQLite reuses a deleted row's id, and an attachment left behind
    # would ride along with the next email given that id.
    db.session.execute(sa.delete(OutboxAttachment).where(OutboxAttachment.email_id.in_(queued)))
    db.session.execute(sa.delete(OutboxEmail).where(OutboxEmail.id.in_(queued)))
    db.session.commit()
