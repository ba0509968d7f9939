"""The personal calendar feed: a secret URL a calendar program subscribes to, with the meetings of
the person's partnerships (no young person's data: only times, places and links)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from panel_app.doors import actor, download
from panel_app.services import accounts
from panel_app.services import meetings as meeting_service
from panel_app.web.forms import CalendarForm

calendar = Blueprint("calendar", __name__, url_prefix="/calendar")


@calendar.route("/", methods=["GET", "POST"])
def settings() -> ResponseReturnValue:
    person = actor()
    form = CalendarForm()
    link = None
    if form.validate_on_submit():
        token = accounts.new_calendar_token(person)
        link = url_for(".feed", token=token, _external=True)
    elif request.method == "POST":
        abort(400)
    return render_template("calendar/settings.html", form=form, link=link,
                           has_link=person.calendar_token_digest is not None, heading=_("Your calendar feed"))


@calendar.route("/<token>.ics")
def feed(token: str) -> ResponseReturnValue:
    user = accounts.user_for_calendar_token(token)
    if user is None:
        abort(404)
    return download(meeting_service.calendar_feed(user), "text/calendar", "panels.ics", inline=True)
