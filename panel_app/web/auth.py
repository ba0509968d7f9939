"""Signing in and out of the pages."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from panel_app.doors import current_actor, safe_next
from panel_app.services import accounts
from panel_app.throttling import sign_in_per_account, sign_in_per_address
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
