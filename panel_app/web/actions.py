"""Action pages: My actions (agency staff), the action page with its history, the broker's
follow-up, recording an action, and the young person's plan."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from panel_app import policy
from panel_app.doors import all_or_nothing, current_actor
from panel_app.errors import BadRequest, Conflict, PanelError
from panel_app.models import Action, ActionStatus, NotDoneReason, Referral, User
from panel_app.pathways import Pathway
from panel_app.services import actions as service
from panel_app.services import outbox
from panel_app.services import referrals as referral_service
from panel_app.throttling import pdf_per_person
from panel_app.web import forms

actions = Blueprint("actions", __name__)


def _actor() -> User:
    actor = current_actor()
    assert actor is not None  # the route rules admit signed-in case workers only
    return actor


# --- My actions and the broker's follow-up ------------------------------------------------------


@actions.route("/actions/")
def mine() -> ResponseReturnValue:
    actor = _actor()
    form = forms.ActionFilterForm(request.args)
    form.partnership.choices = [(0, _("Every partnership"))] + [
        (p.id, p.name) for p in referral_service.partnerships_to_refer_to(actor)]
    if request.args and not form.validate():
        return render_template("actions/mine.html", filter_form=form, form=form, groups=service.DueGroups(),
                               update_forms={}), 400
    groups = service.my_actions(actor, service.ActionFilters(
        pathway=Pathway(form.pathway.data) if form.pathway.data else None,
        partnership_id=form.partnership.data or None))
    update_forms = {action.id: forms.ActionUpdateForm(prefix=f"a{action.id}", status=action.status.value,
                                                      version=action.version)
                    for action in groups.overdue + groups.this_week + groups.later}
    return render_template("actions/mine.html", filter_form=form, groups=groups, update_forms=update_forms)


@actions.route("/actions/follow-up")
def follow_up() -> ResponseReturnValue:
    actor = _actor()
    raw = request.args.get("partnership", "")
    if raw and not raw.isdigit():
        raise BadRequest(_("Choose a partnership from the list."))
    return render_template("actions/follow_up.html", agencies=service.follow_up(actor, int(raw) if raw else None),
                           review_form=forms.NotDoneForm(), partnerships=referral_service.partnerships_to_refer_to(actor),
                           chosen=int(raw) if raw else None)


# --- One action ---------------------------------------------------------------------------------


def _action_page(actor: User, action: Action, form: forms.ActionUpdateForm | None = None,
                 review: forms.NotDoneForm | None = None, status: int = 200) -> ResponseReturnValue:
    steps = policy.action_steps(actor, action)
    if form is None:
        form = forms.ActionUpdateForm(status=action.status.value, version=action.version,
                                      include_cancelled="cancel" in steps)
    extra = {"form": form} if form.errors else ({"form": review} if review is not None and review.errors else {})
    return render_template(
        "actions/show.html", action=action, update_form=form,
        review_form=review or forms.NotDoneForm(version=action.version), steps=steps,
        description_visible=policy.can_read_action(actor, action),
        emails=outbox.emails_about(actor, "action", action.id), **extra), status


@actions.route("/actions/<int:action_id>")
def show(action_id: int) -> ResponseReturnValue:
    actor = _actor()
    return _action_page(actor, service.get_action(actor, action_id))


@actions.route("/actions/<int:action_id>/update", methods=["POST"])
def update(action_id: int) -> ResponseReturnValue:
    """One step from the list or the action page: status, note, perhaps a new date or the outcome."""
    actor = _actor()
    action = service.get_action(actor, action_id)
    policy.require_person(actor, policy.ACTION_STEPS, "update", action)
    from_list = request.form.get("from") == "list"
    form = forms.ActionUpdateForm(prefix=f"a{action.id}" if from_list else "",
                                  include_cancelled=policy.may_take(actor, policy.ACTION_STEPS, "cancel", action))
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                service.update_action(actor, action, service.ActionChange(
                    version=int(form.version.data), status=ActionStatus(form.status.data), note=form.note.data,
                    due_on=form.due_on.data, outcome=form.outcome.data))
        except PanelError as error:
            forms.apply_problems(form, error)
            if isinstance(error, Conflict):
                # Show the newer state; the form now names its version, so sending again is deliberate.
                action = service.get_action(actor, action_id)
                form.version.data = action.version
            return _action_page(actor, action, form, status=error.status)
        flash(_("Action updated."), "success")
        return redirect(url_for(".mine") + f"#action-{action.id}" if from_list else url_for(".show", action_id=action.id))
    return _action_page(actor, action, form, status=400)


@actions.route("/actions/<int:action_id>/review", methods=["POST"])
def review(action_id: int) -> ResponseReturnValue:
    actor = _actor()
    action = service.get_action(actor, action_id)
    policy.require_person(actor, policy.ACTION_STEPS, "record_not_done", action)
    form = forms.NotDoneForm()
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                service.record_not_done(actor, action, NotDoneReason(form.reason.data), form.note.data,
                                        int(form.version.data))
        except PanelError as error:
            forms.apply_problems(form, error)
            return _action_page(actor, action, review=form, status=error.status)
        flash(_("Reason recorded."), "success")
        back = url_for(".follow_up") if request.form.get("next") == "follow-up" else url_for(".show",
                                                                                             action_id=action.id)
        return redirect(back)
    return _action_page(actor, action, review=form, status=400)


# --- Recording an action ------------------------------------------------------------------------


def action_form_for(referral: Referral) -> forms.ActionForm:
    """The form to record an action on a referral: the panel's agencies the young person agreed to share
    with (and the referrer), their workers."""
    form = forms.ActionForm(prefix=f"r{referral.id}")
    agencies = [a for a in referral.partnership.agencies if policy.may_hold_action(referral, a.id)]
    form.agency_id.choices = [(a.id, a.name) for a in agencies]
    form.owner_user_id.choices = [(0, _("No one in particular"))] + [
        (worker.id, f"{worker.name} ({agency.name})") for agency in agencies for worker in agency.staff if worker.active]
    return form


@actions.route("/referrals/<int:referral_id>/actions/new", methods=["GET", "POST"])
def create(referral_id: int) -> ResponseReturnValue:
    actor = _actor()
    referral = referral_service.get_referral(actor, referral_id)
    policy.require_person(actor, policy.REFERRAL_STEPS, "record_action", referral)
    form = action_form_for(referral)
    status = 200
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                action = service.create_action(actor, referral, service.NewAction(
                    pathway=Pathway(form.pathway.data), description=form.description.data or "",
                    agency_id=form.agency_id.data, due_on=form.due_on.data,
                    owner_user_id=form.owner_user_id.data or None))
        except PanelError as error:
            forms.apply_problems(form, error, {"due_on": "due_on"})
            status = error.status
        else:
            flash(_("Action recorded. An email to %(agency)s is queued and will be sent shortly.",
                    agency=action.owner_agency.name), "success")
            return redirect(url_for("referrals.show", referral_id=referral.id) + "#actions")
    elif request.method == "POST":
        status = 400
    return render_template("actions/new.html", form=form, referral=referral, heading=_("Record an action")), status


# --- The young person's plan --------------------------------------------------------------------


def _plan_page(actor: User, referral: Referral, milestone_form: forms.MilestoneForm | None = None,
               status: int = 200, shared_form: forms.PlanSharedForm | None = None) -> ResponseReturnValue:
    plan = service.plan_for(actor, referral)
    # The form whose errors the page's error summary lists (base.html shows ``form``'s errors).
    failed = next((f for f in (milestone_form, shared_form) if f is not None and f.errors), None)
    # Sharing is recorded for the newest version not yet shared: one form, so its fields' ids are unique.
    shareable = max((v.id for v in plan.versions if not v.shared_on), default=None)
    return render_template("actions/plan.html", plan=plan, referral=referral,
                           manage=policy.can_manage_referral(actor, referral), shareable=shareable,
                           milestone_form=milestone_form or forms.MilestoneForm(),
                           shared_form=shared_form or forms.PlanSharedForm(),
                           confirm=forms.PanelForm(), **({"form": failed} if failed else {})), status


@actions.route("/referrals/<int:referral_id>/plan")
def plan(referral_id: int) -> ResponseReturnValue:
    actor = _actor()
    return _plan_page(actor, referral_service.get_referral(actor, referral_id, purpose="plan"))


@actions.route("/referrals/<int:referral_id>/plan/milestones", methods=["POST"])
def add_milestone(referral_id: int) -> ResponseReturnValue:
    actor = _actor()
    referral = referral_service.get_referral(actor, referral_id, purpose="plan")
    policy.require_person(actor, policy.PLAN_STEPS, "add_milestone", referral)
    form = forms.MilestoneForm()
    if not form.validate_on_submit():
        return _plan_page(actor, referral, form, 400)
    try:
        with all_or_nothing():
            service.add_milestone(actor, referral, form.description.data or "", form.target_on.data,
                                  Pathway(form.pathway.data) if form.pathway.data else None)
    except PanelError as error:
        forms.apply_problems(form, error)
        return _plan_page(actor, referral, form, error.status)
    flash(_("Milestone added."), "success")
    return redirect(url_for(".plan", referral_id=referral.id))


@actions.route("/referrals/<int:referral_id>/plan/milestones/<int:milestone_id>/achieved", methods=["POST"])
def milestone_achieved(referral_id: int, milestone_id: int) -> ResponseReturnValue:
    actor = _actor()
    referral = referral_service.get_referral(actor, referral_id, purpose="plan")
    if not forms.PanelForm().validate_on_submit():
        raise BadRequest(_("Reload the page and try again."))
    service.milestone_achieved(actor, referral, milestone_id)
    flash(_("Milestone marked as achieved."), "success")
    return redirect(url_for(".plan", referral_id=referral.id))


@actions.route("/referrals/<int:referral_id>/plan/versions", methods=["POST"])
def save_version(referral_id: int) -> ResponseReturnValue:
    actor = _actor()
    referral = referral_service.get_referral(actor, referral_id, purpose="plan")
    if not forms.PanelForm().validate_on_submit():
        raise BadRequest(_("Reload the page and try again."))
    version = service.save_plan_version(actor, referral)
    flash(_("Version %(number)d of the plan saved. Record when you share it with %(name)s.", number=version.number,
            name=referral.young_person.given_name), "success")
    return redirect(url_for(".plan", referral_id=referral.id))


@actions.route("/referrals/<int:referral_id>/plan/versions/<int:version_id>/shared", methods=["POST"])
def plan_shared(referral_id: int, version_id: int) -> ResponseReturnValue:
    actor = _actor()
    referral = referral_service.get_referral(actor, referral_id, purpose="plan")
    form = forms.PlanSharedForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            raise BadRequest(_("Reload the page and try again."))
        return _plan_page(actor, referral, status=400, shared_form=form)
    try:
        with all_or_nothing():
            service.record_plan_shared(actor, referral, version_id, form.shared_on.data, form.shared_how.data)
    except PanelError as error:
        if error.status in (403, 404):
            raise
        forms.apply_problems(form, error)
        return _plan_page(actor, referral, status=error.status, shared_form=form)
    flash(_("Recorded that the plan was shared."), "success")
    return redirect(url_for(".plan", referral_id=referral.id))


@actions.route("/referrals/<int:referral_id>/plan.pdf")
@pdf_per_person
def plan_pdf(referral_id: int) -> ResponseReturnValue:
    actor = _actor()
    referral = referral_service.get_referral(actor, referral_id, purpose="plan")
    raw = request.args.get("version")
    if raw is not None and not (raw.isdigit() and 0 < int(raw) < 10_000):
        raise BadRequest(_("The version must be a number."), {"version": _("Not a number")})
    response = Response(service.plan_pdf(actor, referral, int(raw) if raw else None), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="plan-{referral.id}.pdf"'
    return response
