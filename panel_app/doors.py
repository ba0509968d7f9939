"""What every door (page, API call) shares: who is calling, the route's rule, the transaction, and
how errors are answered.

* Before a view runs, the caller is identified (session cookie for pages, bearer token for the API,
  never the other way round) and the endpoint's rule from ``policy.ROUTE_RULES`` is enforced. An
  endpoint without a rule is refused: the application fails closed.
* A view naming a record loads it here (``load_referral``, ``load_meeting``...): through the
  service, within the caller's scope, and authorised against the policy's steps table.
* The request owns the transaction: services only flush; after the view returns, the request
  commits once. Any error rolls everything back, so nothing is half-saved.
* Errors are answered in the door's language: a page for people, the uniform JSON error of docs/api.md
  for the API, never a stack trace.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import IntegerConverter, Map

from panel_app import audit, jobs, policy, session_store
from panel_app.errors import PanelError
from panel_app.extensions import db, login_manager
from panel_app.models import Action, AgendaItem, PanelMeeting, Referral, ServiceGap, User
from panel_app.models.base import MAX_ID
from panel_app.services import accounts, outbox
from panel_app.services import actions as action_service
from panel_app.services import gaps as gap_service
from panel_app.services import meetings as meeting_service
from panel_app.services import people as people_service
from panel_app.services import referrals as referral_service

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

LoadedT = TypeVar("LoadedT")


def configure_database(engine: Engine) -> None:
    """SQLite needs telling to enforce foreign keys and to let SQLAlchemy manage transactions
    (so SAVEPOINTs work); PostgreSQL needs nothing."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite's own transaction handling is off
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


class RecordIdConverter(IntegerConverter):
    """``<int:...>`` in our URLs: a record id, from 1 to ``MAX_ID``; anything else matches no route."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _nul_paths(value: Any, path: str = "") -> list[str]:
    """Where a NUL character hides in a parsed JSON document, as dotted field names."""
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _nul_paths(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _nul_paths(item, f"{path}.{index}" if path else str(index))]
    return []


def _refuse_nul_characters() -> Response | None:
    """No text we store may hold a NUL character (PostgreSQL refuses it; nobody types one).

    Query strings and JSON bodies are checked here, naming the field; forms check their own fields
    (``web.forms.PanelForm``) so that the error shows on the form.
    """
    fields = {name: _("Remove the NUL character") for name, value in request.args.items(multi=True) if "\x00" in value}
    if request.is_json:
        fields |= {name: _("Remove the NUL character") for name in _nul_paths(request.get_json(silent=True))}
    if fields:
        return error_response(400, "bad_request", _("Text cannot contain the NUL character. Remove it and try again."),
                              fields)
    return None


# Deeper than any document of docs/api.md (a few levels); Python's parser, and the walks over a parsed
# document, recurse once per level and run out of stack near a thousand.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')  # possessive: no backtracking on long strings
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """How deeply a JSON document nests arrays and objects, counted without parsing it (brackets inside
    strings do not count). Hand-written because no parser we have stops at a depth before recursing."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _refuse_deeply_nested_json() -> Response | None:
    """Before anything parses the body (the NUL check, the sign-in throttle, the views): a JSON body
    nested deeper than ``MAX_JSON_DEPTH`` is a 400, on every route, signed in or not."""
    if not request.is_json:
        return None
    body = request.get_data(cache=True)
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return None  # cannot be too deep: no need to scan
    if json_depth(body) > MAX_JSON_DEPTH:
        return error_response(400, "bad_request",
                              _("The JSON is nested too deeply (more than %(limit)d levels). Send a flatter document.",
                                limit=MAX_JSON_DEPTH),
                              {"body": _("Nested too deeply")})
    return None


def install(app: Flask) -> None:
    login_manager.user_loader(_load_user)
    login_manager.session_protection = "strong"
    app.before_request(_refuse_when_the_session_is_unreadable)
    app.before_request(_refuse_deeply_nested_json)
    app.before_request(_refuse_nul_characters)
    app.before_request(_enforce_route_rule)
    app.after_request(_commit_the_request)
    app.after_request(_record_refused_access)  # after_request runs last-registered first: before the commit
    app.after_request(_security_headers)
    app.register_error_handler(PanelError, _answer_panel_error)
    app.register_error_handler(StaleDataError, _answer_stale_data)
    app.register_error_handler(DataError, _answer_unstorable_data)
    app.register_error_handler(OperationalError, _answer_database_unreachable)
    app.register_error_handler(InterfaceError, _answer_database_unreachable)
    app.register_error_handler(CSRFError, _answer_csrf_error)
    app.register_error_handler(HTTPException, _answer_http_error)
    app.register_error_handler(Exception, _answer_unexpected_error)


def _load_user(user_id: str) -> User | None:
    """The person signed in to this request's session: only while its stored row is live and
    belongs to them (session_store ends rows on sign-out, timeouts and by admins), and only while
    the person is active."""
    record = session_store.current_record()
    try:
        wanted = int(user_id)
    except ValueError:
        return None
    if record is None or record.user_id != wanted or not session_store.is_live(record):
        return None
    user = db.session.get(User, wanted)
    if user is None or not user.active:
        # A deactivated account's session ends at its next request, whatever deactivated it.
        session_store.end_session(record)
        return None
    return user


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def current_actor() -> User | None:
    """The person making this request: from the bearer token on the API, the session on pages."""
    return g.get("actor")


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _enforce_route_rule() -> Response | None:
    if request.endpoint == "static":
        return None  # public assets: no need to look anybody up
    if is_api_request():
        token = _bearer_token()
        g.actor = accounts.user_for_api_token(token) if token else None
        g.token_was_sent = token is not None
    else:
        g.actor = current_user._get_current_object() if current_user.is_authenticated else None

    if request.routing_exception is not None:
        return None  # an unknown URL or method: Flask answers 404/405 itself
    rule = policy.route_rule(request.endpoint)
    if rule is None:
        log.error("endpoint %s has no rule in policy.ROUTE_RULES; refused", request.endpoint)
        return error_response(404, "not_found", _("Page not found"))

    if rule.admits(g.actor):
        return None
    if g.actor is None:
        if is_api_request():
            message = (
                _("The token has expired or is not valid. Ask for a new one at POST /api/v1/auth/token.")
                if g.get("token_was_sent")
                else _("Send a bearer token: Authorization: Bearer <token>, from POST /api/v1/auth/token.")
            )
            response = error_response(401, "unauthorized", message)
            response.headers["WWW-Authenticate"] = 'Bearer realm="panel_app"'
            return response
        return redirect(url_for("auth.sign_in", next=_relative_path()))
    if rule.refusal == 404:
        return error_response(404, "not_found", _default_messages()[404])
    return error_response(403, "forbidden", _("You do not have permission to do this."))


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """Run a change inside a SAVEPOINT: if it raises, everything it did is undone, while what the
    request did before (the audit row of the read that showed the form) is kept."""
    savepoint = db.session.begin_nested()
    try:
        yield
    except BaseException:
        # Also when a failed flush has already deactivated it (it is still the session's current
        # SAVEPOINT): rolling it back makes the session usable for the page that explains the problem.
        if savepoint.session.get_nested_transaction() is savepoint:
            savepoint.rollback()  # and with it the emails it queued: they are rows of the outbox
        raise
    else:
        savepoint.commit()


def _relative_path() -> str:
    path = request.full_path
    return path[:-1] if path.endswith("?") else path


def safe_next(target: str | None) -> str | None:
    """``next`` is followed only when it stays on this site: a path, no scheme, no host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _commit_the_request(response: Response) -> Response:
    if response.status_code >= 500:
        _roll_back()
        return response
    try:
        db.session.commit()
    except StaleDataError:
        _roll_back()
        return error_response(409, "conflict", _stale_message())
    except IntegrityError:
        _roll_back()
        log.warning("commit refused by a database constraint", exc_info=True)
        return error_response(409, "conflict", _stale_message())
    except SQLAlchemyError:
        _roll_back()
        log.exception("commit failed")
        return error_response(503, "unavailable", _("The service could not save your change. Try again shortly."))
    # Only now, with the change and its emails safely stored, ask the worker to deliver them.
    if outbox.queued_in_this_request():
        jobs.deliver_soon()
    return response


_RECORD_ID = re.compile(r"<int:(\w+)>")


def _record_refused_access(response: Response) -> Response:
    """A signed-in person refused a record (a 404 or 403 on a route with a record id) leaves an
    ``access.refused`` row, so somebody trying ids one after another shows up in the audit trail.

    The request's own work is rolled back (it was refused); the row is committed on its own.
    Unknown URLs and routes without a record id leave none: there is no record to name.
    """
    actor = g.get("actor")
    rule = request.url_rule
    if response.status_code not in (403, 404) or actor is None or rule is None:
        return response
    ids = {name: (request.view_args or {}).get(name) for name in _RECORD_ID.findall(rule.rule)}
    ids = {name: value for name, value in ids.items() if isinstance(value, int)}
    if not ids:
        return response
    _roll_back()
    try:
        audit.refused_access(actor, response.status_code, rule.rule, ids)
        db.session.commit()
    except SQLAlchemyError:
        # The answer stands; only its record failed. Say so in the log.
        db.session.rollback()
        log.exception("could not record a refused access to %s", request.path)
    return response


def _roll_back() -> None:
    db.session.rollback()


def csp_nonce() -> str:
    """A fresh nonce per request for the one inline script of the page template."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _security_headers(response: Response) -> Response:
    # Pages hold children's personal data: never cached by a shared proxy or the back button of a
    # shared computer, never framed, no outside scripts.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        f"script-src 'self' 'nonce-{csp_nonce()}'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
    )
    # No page of ours uses the camera, microphone, location, payment or sensors: no page may ask.
    response.headers.setdefault(
        "Permissions-Policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
        "payment=(), usb=(), interest-cohort=()",
    )
    if current_app.config["PRODUCTION"]:
        # Production is served over HTTPS only (behind the reverse proxy): browsers must never try plain
        # http:// for a year. Not in development, which runs on http://127.0.0.1.
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    # The Server header is the WSGI server's, written after the app's headers and not replaceable from
    # here: gunicorn.conf.py makes gunicorn's name no product. (Werkzeug's server, development only,
    # still names itself.)
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- Error answers ------------------------------------------------------------------------------

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "server_error",
    503: "unavailable",
}


def _titles() -> dict[int, str]:
    return {
        400: _("There is a problem with what was sent"),
        401: _("Sign in to continue"),
        403: _("You do not have permission to do this"),
        404: _("Page not found"),
        405: _("This action is not available here"),
        409: _("Someone else changed this"),
        410: _("This link can no longer be used"),
        413: _("What you sent is too large"),
        422: _("There is a problem"),
        429: _("Too many attempts"),
        500: _("Sorry, there is a problem with the service"),
        503: _("Sorry, the service is unavailable"),
    }


def _default_messages() -> dict[int, str]:
    return {
        400: _("Check what you entered and try again."),
        403: _("If you think you should be able to do this, ask your partnership's broker."),
        404: _("If you typed the web address, check it is correct. If you followed a link, the record may have "
               "been removed or you may not have access to it."),
        405: _("Go back and try again from the page."),
        413: _("Send less at once, or a smaller file."),
        429: _("You have tried too many times. Wait 15 minutes, then try again."),
        500: _("Try again later. Nothing you entered in this last step was saved."),
        503: _("Try again in a few minutes."),
    }


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Response:
    if is_api_request():
        body: dict[str, Any] = {"code": code, "message": message}
        if fields:
            body["fields"] = fields
        response = jsonify({"error": body})
        response.status_code = status
        return response
    title = _titles().get(status, _("There is a problem"))
    html = render_template("errors/error.html", status=status, title=title, message=message, fields=fields or {})
    return Response(html, status=status, mimetype="text/html")


def _stale_message() -> str:
    return _("Someone else changed this at the same time. Reload the page to see their change, then try again.")


def _answer_stale_data(error: StaleDataError) -> Response:
    # Two people saved the same record at once; the second save names a version that is gone.
    _roll_back()
    return error_response(409, "conflict", _stale_message())


def _answer_unstorable_data(error: DataError) -> Response:
    # A last line of defence: the checks should have refused the value before the database did.
    _roll_back()
    log.warning("the database refused a value", exc_info=True)
    return error_response(400, "bad_request", _("Some of what you sent cannot be stored. Check the values and try again."))


def _refuse_when_the_session_is_unreadable() -> Response | None:
    # The health check answers the outage in its own words (for the load balancer).
    if request.environ.get(session_store.SESSION_UNREADABLE) and request.endpoint != "meta.healthz":
        return _database_unreachable_response()
    return None


def _answer_database_unreachable(error: OperationalError | InterfaceError) -> Response:
    """The database cannot be reached (down, restarting, refusing connections): a 503, the JSON error
    on the API and a page of its own for people (the usual page shows the signed-in person, whom we
    cannot load now). SQLite's "database is locked" is an OperationalError too: also worth a retry."""
    log.error("the database could not be reached: %s", error.orig or error)
    return _database_unreachable_response()


def _database_unreachable_response() -> Response:
    try:
        _roll_back()
    except SQLAlchemyError:
        pass  # nothing to roll back on a connection that never opened
    message = _("The service cannot reach its database just now. Nothing was saved. Try again in a few minutes.")
    if is_api_request():
        response = error_response(503, "unavailable", message)
    else:
        # Nothing on the page may need the database: no signed-in person to load (Flask-Login keeps
        # the current user in g._login_user; its template context would otherwise try again).
        g.actor = None
        g._login_user = login_manager.anonymous_user()
        html = render_template("errors/unavailable.html", title=_titles()[503], message=message)
        response = Response(html, status=503, mimetype="text/html")
    response.headers["Retry-After"] = "60"
    return response


def _answer_panel_error(error: PanelError) -> Response:
    _roll_back()
    return error_response(error.status, error.code, error.message, error.fields)


def _answer_csrf_error(error: CSRFError) -> Response:
    _roll_back()
    return error_response(
        400,
        "bad_request",
        _("This form has expired or did not come from this service. Go back, reload the page and try again."),
    )


def _no_such_record(error: MethodNotAllowed) -> bool:
    """Werkzeug checks a route's methods before its converters, so ``PATCH /api/v1/actions/0`` is
    a 405 "use GET" although ``GET`` of it is a 404: no record has id 0. Ask with an allowed method."""
    try:
        adapter = current_app.url_map.bind_to_environ(request.environ)
        adapter.match(method=sorted(error.valid_methods or ["GET"])[0])
    except NotFound:
        return True
    except HTTPException:
        return False
    return False


def _answer_http_error(error: HTTPException) -> Response:
    _roll_back()
    if isinstance(error, MethodNotAllowed) and _no_such_record(error):
        error = NotFound()
    status = error.code or 500
    if status == 429:
        # Our limits (panel_app.throttling) each say what was too much and how long to wait.
        limit = getattr(error, "limit", None) if isinstance(error, RateLimitExceeded) else None
        message = error.description if limit is not None and limit.error_message else _default_messages()[429]
    elif is_api_request() and status == 400:
        message = error.description or _default_messages()[400]
    else:
        message = _default_messages().get(status, error.description or "")
    response = error_response(status, _CODES.get(status, "error"), message)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _answer_unexpected_error(error: Exception) -> Response:
    _roll_back()
    log.exception("unexpected error on %s %s", request.method, request.path)
    return error_response(500, "server_error", _default_messages()[500])


# --- The record a view names: load it, then authorise --------------------------------------------
# Every view naming a record starts here (docs/architecture.md, "Load, authorise, act"): the service
# finds it only within the caller's scope (a 404 otherwise, on pages and in the API alike); given a
# step, the policy's steps table says whether the caller is one who may take it (a 403 with the
# table's own words). Whether the record's state allows the step now (a 422) is asked by the service
# as it acts, after it has checked that the form was read from the current version.


def actor() -> User:
    """The caller, in a view whose route rule admits only signed-in people."""
    user = current_actor()
    assert user is not None
    return user


def load_referral(referral_id: int, step: str | None = None, *, purpose: str = "view") -> Referral:
    """A referral the caller may see (its read audited as ``purpose``), and may take ``step`` on."""
    referral = referral_service.get_referral(actor(), referral_id, purpose=purpose)
    return _authorised(referral, policy.REFERRAL_STEPS, step)


def load_meeting(meeting_id: int, step: str | None = None) -> PanelMeeting:
    """A meeting of the caller's partnerships, which the caller may take ``step`` on."""
    return _authorised(meeting_service.get_meeting(actor(), meeting_id), policy.MEETING_STEPS, step)


def load_agenda_item(meeting_id: int, item_id: int, step: str | None = None) -> AgendaItem:
    """A case on the agenda of a meeting of the caller's partnerships (``item.meeting``), and the
    meeting's ``step`` the caller may take on it."""
    item = meeting_service.item_of(meeting_service.get_meeting(actor(), meeting_id), item_id)
    _authorised(item.meeting, policy.MEETING_STEPS, step)
    return item


def load_action(action_id: int, step: str | None = None) -> Action:
    """An action the caller may see (its read audited), and may take ``step`` on."""
    return _authorised(action_service.get_action(actor(), action_id), policy.ACTION_STEPS, step)


def load_gap(gap_id: int, step: str | None = None) -> ServiceGap:
    """A service gap of the caller's partnerships (or region), which the caller may take ``step`` on."""
    return _authorised(gap_service.get_gap(actor(), gap_id), policy.GAP_STEPS, step)


def load_person(person_id: int, step: str | None = None) -> User:
    """A person whose account the caller looks after, on whose account the caller may take ``step``."""
    return _authorised(people_service.get_person(actor(), person_id), policy.PERSON_STEPS, step)


def _authorised(record: LoadedT, table: policy.StepTable, step: str | None) -> LoadedT:
    if step is not None:
        policy.require_person(actor(), table, step, record)
    return record


def download(data: bytes | str, mimetype: str, name: str, *, inline: bool = False) -> Response:
    """A document (a PDF, a calendar file, a spreadsheet) under its file name: shown in the browser
    where ``inline``, saved otherwise."""
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{name}"'
    return response
