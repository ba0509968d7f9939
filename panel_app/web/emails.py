"""The emails that have not gone: what a person sent, or answers for, that the mail server has not
taken yet or refused for good, and why."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from panel_app.doors import actor
from panel_app.services import outbox

emails = Blueprint("emails", __name__, url_prefix="/emails")


@emails.route("/undelivered")
def undelivered() -> ResponseReturnValue:
    shown, total = outbox.undelivered_emails(actor())
    return render_template("outbox/undelivered.html", emails=shown, total=total)
