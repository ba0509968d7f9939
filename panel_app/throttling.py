"""Throttling: how often one account, one address or one person may knock.

Every limit here is *shared* (Flask-Limiter's ``shared_limit``): the sign-in page and the API's token
endpoint count into the same buckets, so an account gets the documented number of failures whichever
door is tried, not that number per door. With ``RATELIMIT_STORAGE_URI=redis://...`` the buckets live
in Redis and every worker process counts into the same ones; with the default ``memory://`` each
process keeps its own counts (fine for one process, as in development).

* Sign-in: failed attempts per account (the lower-cased email address) and per client address.
* "Forgotten your password?": every request per address asked about and per client address (each
  may send an email; counting only those that did would tell which addresses have an account).
* The API: requests per signed-in person (``API_RATE_LIMIT``).
* PDFs: documents per signed-in person, page and API together (``PDF_RATE_LIMIT``): a PDF costs a
  second or more of a worker, so one person asking for many at once would slow everybody.

The person is the caller the doors identified (``g.actor``), so the per-person limits are checked
after the doors' route guard (``create_app`` binds the limiter after the doors for that reason).
"""

from __future__ import annotations

from flask import current_app, g, request
from flask.wrappers import Response
from flask_babel import gettext as _

from panel_app.extensions import limiter
from panel_app.services import accounts


def _failed_sign_in(response: Response) -> bool:
    # Only failures count: a person who signs in often is not throttled.
    return response.status_code == 401


def _attempted_account() -> str:
    """The account a sign-in names, from the page's form or the API's JSON body alike."""
    email = request.form.get("email")
    if email is None:
        payload = request.get_json(silent=True) if request.is_json else None
        email = payload.get("email") if isinstance(payload, dict) else None
    return "account:" + (accounts.normalise_email(email)[:254] if isinstance(email, str) else "")


def _client_address() -> str:
    return "address:" + (request.remote_addr or "unknown")


def _person() -> str:
    actor = g.get("actor")
    return f"person:{actor.id}" if actor is not None else ""


def _anonymous() -> bool:
    return g.get("actor") is None


def _sign_in_message() -> str:
    return _("You have tried too many times. Wait 15 minutes, then try again.")


def _reset_message() -> str:
    return _("You have asked for too many password reset links. Wait an hour, then try again.")


def _api_message() -> str:
    return _("You have sent too many requests in a short time. Wait a minute, then try again.")


def _pdf_message() -> str:
    return _("You have asked for too many documents in a short time. Wait a minute, then try again.")


sign_in_per_account = limiter.shared_limit(
    lambda: current_app.config["SIGN_IN_FAILURES_PER_ACCOUNT"], scope="sign-in-account",
    key_func=_attempted_account, methods=["POST"], deduct_when=_failed_sign_in, error_message=_sign_in_message)

sign_in_per_address = limiter.shared_limit(
    lambda: current_app.config["SIGN_IN_FAILURES_PER_ADDRESS"], scope="sign-in-address",
    key_func=_client_address, methods=["POST"], deduct_when=_failed_sign_in, error_message=_sign_in_message)

reset_per_account = limiter.shared_limit(
    lambda: current_app.config["PASSWORD_RESETS_PER_ACCOUNT"], scope="reset-account",
    key_func=_attempted_account, methods=["POST"], error_message=_reset_message)

reset_per_address = limiter.shared_limit(
    lambda: current_app.config["PASSWORD_RESETS_PER_ADDRESS"], scope="reset-address",
    key_func=_client_address, methods=["POST"], error_message=_reset_message)

# Applied to the whole API blueprint (``api.base``); anonymous calls are the sign-in limits' business.
api_per_person = limiter.shared_limit(
    lambda: current_app.config["API_RATE_LIMIT"], scope="api-person", key_func=_person,
    exempt_when=_anonymous, error_message=_api_message)

# On every view that makes a PDF, page or API. ``override_defaults=False``: on an API view the
# per-person API limit still counts too.
pdf_per_person = limiter.shared_limit(
    lambda: current_app.config["PDF_RATE_LIMIT"], scope="pdf-person", key_func=_person,
    exempt_when=_anonymous, override_defaults=False, error_message=_pdf_message)
