"""Action pages: My actions (agency staff), the action page with its history, the broker's
follow-up, recording an action, and the young person's plan."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from panel_app import policy
from panel_app.doors import actor, all_or_nothing, download, load_action, load_referral
from panel_app.errors import BadRequest, PanelError
from panel_app.models import Action, ActionStatus, NotDoneReason, Referral
from panel_app.pathways import Pathway
from panel_app.services import actions as service
from panel_app.services import outbox
from panel_app.services import referrals as referral_service
from panel_app.throttling import pdf_per_person
from panel_app.web import forms
from panel_app.web.form_pages import form_page

actions = Blueprint("actions", __name__)


# --- My actions and the broker's follow-up ------------------------------------------------------


@actions.route("/actions/")
def mine() -> ResponseReturnValue:
    staff = actor()
    form = forms.ActionFilterForm(request.args)
    form.partnership.choices = [(0, _("Every partnership"))] + [
        (p.id, p.name) for p in referral_service.partnerships_to_refer_to(staff)]
    if request.args and not form.validate():
        return render_template("actions/mine.html", filter_form=form, form=form, groups=service.DueGroups(),
                               update_forms={}), 400
    groups = service.my_actions(staff, service.ActionFilters(
        pathway=Pathway(form.pathway.data) if form.pathway.data else None,
        partnership_id=form.partnership.data or None))
    update_forms = {action.id: forms.ActionUpdateForm(prefix=f"a{action.id}", status=action.status.value,
                                                      version=action.version)
                    for action in groups.overdue + groups.this_week + groups.later}
    return render_template("actions/mine.html", filter_form=form, groups=groups, update_forms=update_forms)


@actions.route("/actions/follow-up")
def follow_up() -> ResponseReturnValue:
    broker = actor()
    raw = request.args.get("partnership", "")
    if raw and not raw.isdigit():
        raise BadRequest(_("Choose a partnership from the list."))
    return render_template("actions/follow_up.html", agencies=service.follow_up(broker, int(raw) if raw else None),
                           review_form=forms.NotDoneForm(), partnerships=referral_service.partnerships_to_refer_to(broker),
                           chosen=int(raw) if raw else None)


# --- One action ---------------------------------------------------------------------------------


def _action_page(action: Action, form: forms.ActionUpdateForm | None = None,
                 review: forms.NotDoneForm | None = None) -> str:
    viewer = actor()
    steps = policy.action_steps(viewer, action)
    if form is None:
        form = forms.ActionUpdateForm(status=action.status.value, version=action.version,
                                      include_cancelled="cancel" in steps)
    extra = {"form": form} if form.errors else ({"form": review} if review is not None and review.errors else {})
    return render_template(
        "actions/show.html", action=action, update_form=form,
        review_form=review or forms.NotDoneForm(version=action.version), steps=steps,
        description_visible=policy.can_read_action(viewer, action),
        emails=outbox.emails_about(viewer, "action", action.id), **extra)


@actions.route("/actions/<int:action_id>")
def show(action_id: int) -> ResponseReturnValue:
    return _action_page(load_action(action_id))


@actions.route("/actions/<int:action_id>/update", methods=["POST"])
def update(action_id: int) -> ResponseReturnValue:
    """One step from the list or the action page: status, note, perhaps a new date or the outcome."""
    action = load_action(action_id, "update")
    from_list = request.form.get("from") == "list"
    form = forms.ActionUpdateForm(prefix=f"a{action.id}" if from_list else "",
                                  include_cancelled=policy.may_take(actor(), policy.ACTION_STEPS, "cancel", action))
    return form_page(
        form, record=action, done=_("Action updated."),
        act=lambda: service.update_action(actor(), action, service.ActionChange(
            version=int(form.version.data), status=ActionStatus(form.status.data), note=form.note.data,
            due_on=form.due_on.data, outcome=form.outcome.data)),
        then=url_for(".mine") + f"#action-{action.id}" if from_list else url_for(".show", action_id=action.id),
        page=lambda: _action_page(action, form))


@actions.route("/actions/<int:action_id>/review", methods=["POST"])
def review(action_id: int) -> ResponseReturnValue:
    action = load_action(action_id, "record_not_done")
    form = forms.NotDoneForm()
    return form_page(
        form, record=action, done=_("Reason recorded."),
        act=lambda: service.record_not_done(actor(), action, NotDoneReason(form.reason.data), form.note.data,
                                            int(form.version.data)),
        then=url_for(".follow_up") if request.form.get("next") == "follow-up" else url_for(".show",
                                                                                         action_id=action.id),
        page=lambda: _action_page(action, review=form))


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
    referral = load_referral(referral_id, "record_action")
    form = action_form_for(referral)
    return form_page(
        form,
        act=lambda: service.create_action(actor(), referral, service.NewAction(
            pathway=Pathway(form.pathway.data), description=form.description.data or "",
            agency_id=form.agency_id.data, due_on=form.due_on.data, owner_user_id=form.owner_user_id.data or None)),
        done=lambda action: _("Action recorded. An email to %(agency)s is queued and will be sent shortly.",
                              agency=action.owner_agency.name),
        then=url_for("referrals.show", referral_id=referral.id) + "#actions",
        page=partial(render_template, "actions/new.html", form=form, referral=referral,
                     heading=_("Record an action")))


# --- The young person's plan --------------------------------------------------------------------


def _plan_page(referral: Referral, milestone_form: forms.MilestoneForm | None = None,
               shared_form: forms.PlanSharedForm | None = None) -> str:
    plan = service.plan_for(actor(), referral)
    # The form whose errors the page's error summary lists (base.html shows ``form``'s errors).
    failed = next((f for f in (milestone_form, shared_form) if f is not None and f.errors), None)
    # Sharing is recorded for the newest version not yet shared: one form, so its fields' ids are unique.
    shareable = max((v.id for v in plan.versions if not v.shared_on), default=None)
    return render_template("actions/plan.html", plan=plan, referral=referral,
                           shareable=shareable,
                           milestone_form=milestone_form or forms.MilestoneForm(),
                           shared_form=shared_form or forms.PlanSharedForm(),
                           confirm=forms.PanelForm(), **({"form": failed} if failed else {}))


def _plan_url(referral: Referral) -> str:
    return url_for(".plan", referral_id=referral.id)


@actions.route("/referrals/<int:referral_id>/plan")
def plan(referral_id: int) -> ResponseReturnValue:
    return _plan_page(load_referral(referral_id, purpose="plan"))


@actions.route("/referrals/<int:referral_id>/plan/milestones", methods=["POST"])
def add_milestone(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, purpose="plan")
    policy.require_person(actor(), policy.PLAN_STEPS, "add_milestone", referral)
    form = forms.MilestoneForm()
    return form_page(
        form, done=_("Milestone added."), then=_plan_url(referral),
        act=lambda: service.add_milestone(actor(), referral, form.description.data or "", form.target_on.data,
                                          Pathway(form.pathway.data) if form.pathway.data else None),
        page=lambda: _plan_page(referral, form))


@actions.route("/referrals/<int:referral_id>/plan/milestones/<int:milestone_id>/achieved", methods=["POST"])
def milestone_achieved(referral_id: int, milestone_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, purpose="plan")
    if not forms.PanelForm().validate_on_submit():
        raise BadRequest(_("Reload the page and try again."))
    service.milestone_achieved(actor(), referral, milestone_id)
    flash(_("Milestone marked as achieved."), "success")
    return redirect(_plan_url(referral))


@actions.route("/referrals/<int:referral_id>/plan/versions", methods=["POST"])
def save_version(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, purpose="plan")
    if not forms.PanelForm().validate_on_submit():
        raise BadRequest(_("Reload the page and try again."))
    version = service.save_plan_version(actor(), referral)
    flash(_("Version %(number)d of the plan saved. Record when you share it with %(name)s.", number=version.number,
            name=referral.young_person.given_name), "success")
    return redirect(_plan_url(referral))


@actions.route("/referrals/<int:referral_id>/plan/versions/<int:version_id>/shared", methods=["POST"])
def plan_shared(referral_id: int, version_id: int) -> ResponseReturnValue:
    """Not a ``form_page``: a refusal (403, or a version that is not this plan's: 404) is an error
    page, not a problem shown beside the form, and so is a form that did not come from the page."""
    referral = load_referral(referral_id, purpose="plan")
    form = forms.PlanSharedForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            raise BadRequest(_("Reload the page and try again."))
        return _plan_page(referral, shared_form=form), 400
    try:
        with all_or_nothing():
            service.record_plan_shared(actor(), referral, version_id, form.shared_on.data, form.shared_how.data)
    except PanelError as error:
        if error.status in (403, 404):
            raise
        forms.apply_problems(form, error)
        return _plan_page(referral, shared_form=form), error.status
    flash(_("Recorded that the plan was shared."), "success")
    return redirect(_plan_url(referral))


@actions.route("/referrals/<int:referral_id>/plan.pdf")
@pdf_per_person
def plan_pdf(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, purpose="plan")
    raw = request.args.get("version")
    if raw is not None and not (raw.isdigit() and 0 < int(raw) < 10_000):
        raise BadRequest(_("The version must be a number."), {"version": _("Not a number")})
    return download(service.plan_pdf(actor(), referral, int(raw) if raw else None), "application/pdf",
                    f"plan-{referral.id}.pdf", inline=True)
