"""The signed-in person's own account: where they are signed in, their API tokens, their calendar
feed link and their password, each of which they can end or renew."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext

from panel_app.doors import actor
from panel_app.errors import BadRequest
from panel_app.services import accounts
from panel_app.session_store import current_record
from panel_app.web import forms
from panel_app.web.form_pages import form_page

account = Blueprint("account", __name__, url_prefix="/account")


def _page(password_form: forms.ChangePasswordForm | None = None) -> str:
    person = actor()
    this_session = current_record()
    password_form = password_form or forms.ChangePasswordForm()
    return render_template(
        "account/show.html",
        sessions=accounts.sessions_of(person),
        this_session_id=this_session.id if this_session is not None else None,
        tokens=accounts.api_tokens_of(person),
        revoke_form=forms.RevokeTokenForm(),
        elsewhere_form=forms.SignOutElsewhereForm(),
        calendar_form=forms.CalendarForm(),
        has_calendar_link=person.calendar_token_digest is not None,
        password_form=password_form,
        form=password_form,  # the page's error summary shows this form's errors
    )


@account.route("/")
def show() -> ResponseReturnValue:
    return _page()


@account.route("/sign-out-everywhere-else", methods=["POST"])
def sign_out_elsewhere() -> ResponseReturnValue:
    if not forms.SignOutElsewhereForm().validate_on_submit():
        raise BadRequest(_("Go back, reload the page and try again."))
    sessions, tokens = accounts.sign_out_everywhere_else(actor(), current_record())
    flash(_("You are signed out everywhere else (%(sessions)s) and your API tokens have ended (%(tokens)s).",
            sessions=ngettext("%(num)d session", "%(num)d sessions", sessions),
            tokens=ngettext("%(num)d token", "%(num)d tokens", tokens)), "success")
    return redirect(url_for(".show"))


@account.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def revoke_token(token_id: int) -> ResponseReturnValue:
    if not forms.RevokeTokenForm().validate_on_submit():
        raise BadRequest(_("Go back, reload the page and try again."))
    accounts.revoke_api_token(actor(), token_id)
    flash(_("The API token is revoked: programs using it can no longer sign in with it."), "success")
    return redirect(url_for(".show"))


@account.route("/password", methods=["POST"])
def change_password() -> ResponseReturnValue:
    form = forms.ChangePasswordForm()
    return form_page(
        form, names={"password": "new_password"}, then=url_for(".show"),
        act=lambda: accounts.change_own_password(actor(), form.current_password.data or "",
                                                 form.new_password.data or "", keep=current_record()),
        done=_("Your password is changed. You are signed out everywhere else and your API tokens have ended."),
        page=lambda: _page(form))
