"""The signed-in home page: what each role needs first."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from panel_app import policy
from panel_app.doors import actor
from panel_app.services import actions as action_service
from panel_app.services import gaps as gap_service
from panel_app.services import outbox
from panel_app.services import partnerships
from panel_app.services import referrals as referral_service

home = Blueprint("home", __name__)


@home.route("/")
def index() -> ResponseReturnValue:
    person = actor()
    if policy.runs_installation(person):
        return render_template("home/admin.html", figures=partnerships.installation_figures())
    rows, _total = partnerships.partnerships_for(person)
    caseload = None
    if policy.sees_young_people(person):
        overdue, other = action_service.overdue_and_due_counts(person)
        caseload = replace(referral_service.caseload(person), actions_overdue=overdue, actions_other=other)
    gap_counts = gap_service.counts(person) if policy.oversees_region(person) else (0, 0)
    return render_template(f"home/{policy.home_of(person)}.html", partnerships=rows, caseload=caseload,
                           escalated=gap_counts[0], unresolved=gap_counts[1],
                           emails_in_trouble=outbox.count_in_trouble(person))
