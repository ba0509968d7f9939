"""Signing in and out of the pages; choosing a password through a single-use link (an invitation,
the first administrator's sign-in, a password reset), and asking for a reset link."""

from __future__ import annotations

from collections.abc import Collection

from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from panel_app import session_store
from panel_app.doors import all_or_nothing, current_actor, safe_next
from panel_app.errors import NotFound, PanelError
from panel_app.models import LinkPurpose
from panel_app.services import account_links, accounts
from panel_app.throttling import reset_per_account, reset_per_address, sign_in_per_account, sign_in_per_address
from panel_app.web import forms
from panel_app.web.forms import SignInForm

auth = Blueprint("auth", __name__)


@auth.route("/sign-in", methods=["GET", "POST"])
# The same counts as the API's token endpoint: failures through either door add up.
@sign_in_per_account
@sign_in_per_address
def sign_in() -> ResponseReturnValue:
    if current_actor() is not None:
        return redirect(url_for("home.index"))
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            # A fresh session: nothing from before sign-in carries over, and the stored session
            # starts a new row with a new secret (session fixation; see session_store).
            session.clear()
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("home.index"))
        # One message whether the address is unknown or the password wrong.
        form.email.errors = [_("Enter a correct email address and password")]
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/sign_in.html", form=form), status


@auth.route("/sign-out", methods=["POST"])
def sign_out() -> ResponseReturnValue:
    actor = current_actor()
    if actor is not None:
        accounts.record_sign_out(actor)
    logout_user()
    # Emptied, the stored session's row is ended: its cookie, replayed from anywhere, opens nothing.
    session.clear()
    return redirect(url_for("auth.sign_in", signed_out=1))


# --- Single-use links ---------------------------------------------------------------------------


@auth.route("/welcome/<secret>", methods=["GET", "POST"])
def welcome(secret: str) -> ResponseReturnValue:
    """An invitation, or the first administrator's sign-in link: choose a password, be signed in."""
    return _choose_password(secret, accounts.WELCOME)


@auth.route("/reset-password/<secret>", methods=["GET", "POST"])
def reset_password(secret: str) -> ResponseReturnValue:
    """A password reset link: choose a new password; every other session and API token ends."""
    return _choose_password(secret, accounts.RESET)


def _choose_password(secret: str, purposes: Collection[LinkPurpose]) -> ResponseReturnValue:
    """The page behind every single-use link. A link that cannot be followed gets a page saying
    what to do instead: 404 for one that names no link (nothing about whose it might be), 410 for
    one used, cancelled or expired. Once the password is chosen the person is signed in, in a new
    session (as the sign-in form does), and lands on their home page. (Not ``form_page``: a link that
    stops working between the form and its answer gets that page rather than a problem on the form,
    and success signs a person in.)"""
    form = forms.ChoosePasswordForm()
    try:
        link = accounts.link_to_follow(secret, purposes)
    except (NotFound, account_links.LinkNotUsable) as problem:
        return _link_problem(problem, purposes)
    resetting = LinkPurpose.PASSWORD_RESET in purposes
    status = 200
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                person = accounts.choose_password(secret, purposes, form.password.data or "")
        except (NotFound, account_links.LinkNotUsable) as problem:
            return _link_problem(problem, purposes)  # used meanwhile, from another tab or by someone else
        except PanelError as problem:
            forms.apply_problems(form, problem)
            status = problem.status
        else:
            session.clear()
            session_store.start_afresh()
            login_user(person)
            flash(_("Your password is changed and you are signed in. You have been signed out everywhere else, and "
                    "your API tokens have ended.") if resetting
                  else _("Your password is saved and you are signed in."), "success")
            return _no_referrer(redirect(url_for("home.index")))
    elif request.method == "POST":
        status = 400
    page = render_template("auth/choose_password.html", form=form, person=link.user, resetting=resetting,
                           expires_at=link.expires_at)
    return _no_referrer((page, status))


def _link_problem(problem: PanelError, purposes: Collection[LinkPurpose]) -> ResponseReturnValue:
    state = problem.state if isinstance(problem, account_links.LinkNotUsable) else None
    page = render_template("auth/link_problem.html", state=state,
                           resetting=LinkPurpose.PASSWORD_RESET in purposes)
    return _no_referrer((page, problem.status))


def _no_referrer(answer: ResponseReturnValue) -> ResponseReturnValue:
    """The link's secret is in this page's address: no request from it names the address."""
    response = make_response(answer)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@auth.route("/forgotten-password", methods=["GET", "POST"])
@reset_per_account
@reset_per_address
def forgotten_password() -> ResponseReturnValue:
    """Ask for a reset link by email. The answer is the same whether or not the address has an
    account (``accounts.request_password_reset`` does the same work either way)."""
    form = forms.ForgottenPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data or "")
        return render_template("auth/reset_requested.html")
    return render_template("auth/forgotten_password.html", form=form), 400 if request.method == "POST" else 200
