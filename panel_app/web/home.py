"""The signed-in home page: what each role needs first."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from panel_app import policy
from panel_app.doors import current_actor
from panel_app.services import actions as action_service
from panel_app.services import gaps as gap_service
from panel_app.services import outbox
from panel_app.services import partnerships
from panel_app.services import referrals as referral_service

home = Blueprint("home", __name__)


@home.route("/")
def index() -> ResponseReturnValue:
    actor = current_actor()
    assert actor is not None  # the route rule admits signed-in people only
    if policy.runs_installation(actor):
        return render_template("home/admin.html", figures=partnerships.installation_figures())
    rows, _total = partnerships.partnerships_for(actor)
    caseload = None
    if policy.sees_young_people(actor):
        overdue, other = action_service.overdue_and_due_counts(actor)
        caseload = replace(referral_service.caseload(actor), actions_overdue=overdue, actions_other=other)
    gap_counts = gap_service.counts(actor) if policy.oversees_region(actor) else (0, 0)
    return render_template(f"home/{policy.home_of(actor)}.html", partnerships=rows, caseload=caseload,
                           escalated=gap_counts[0], unresolved=gap_counts[1],
                           emails_in_trouble=outbox.count_in_trouble(actor))
