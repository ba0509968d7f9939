"""Referral pages: refer, the list, the broker's triage queue, the referral page and its changes.

Each view loads the referral through the service (which only finds what the person may see, and
audits the read), asks policy whether the person may use the form, and lets the service act.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, ngettext
from flask_babel import gettext as _

from panel_app import policy
from panel_app.doors import all_or_nothing, current_actor
from panel_app.errors import BadRequest, Conflict, Forbidden, PanelError
from panel_app.models import ClosureReason, NeedRating, Referral, ReferralStatus, User, YoungPerson
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services import referral_views
from panel_app.services import referrals as service
from panel_app.web import forms
from panel_app.web.pagination import pagination

referrals = Blueprint("referrals", __name__, url_prefix="/referrals")

PER_PAGE = 25


def _actor() -> User:
    actor = current_actor()
    assert actor is not None  # the route rules admit signed-in case workers only
    return actor


# --- Lists --------------------------------------------------------------------------------------


@referrals.route("/")
def index() -> ResponseReturnValue:
    actor = _actor()
    form = forms.ReferralFilterForm(request.args)
    partnerships = service.partnerships_to_refer_to(actor)
    form.partnership.choices = [(0, _("Every partnership"))] + [(p.id, p.name) for p in partnerships]
    form.stage.choices = [(0, _("Any stage"))] + [
        (number, _("%(number)d. %(name)s", number=number, name=str(name)))
        for number, name in enumerate(service.DEFAULT_STAGES, start=1)
    ]
    status = 200
    filters = service.ReferralFilters()
    if request.args and not form.validate():
        # Show the problems and no results, rather than results that ignore what was asked for.
        return render_template("referrals/index.html", filter_form=form, rows=[], total=0, pages=None,
                               filtered=True), 400
    else:
        filters = service.ReferralFilters(
            partnership_id=form.partnership.data or None,
            status=ReferralStatus(form.status.data) if form.status.data else None,
            stage=form.stage.data or None,
            pathway=Pathway(form.pathway.data) if form.pathway.data else None,
            rating=NeedRating(form.rating.data) if form.rating.data else None,
            release_within_weeks=form.release_within.data or None,
            search=form.q.data or None,
        )
    page = _page_number()
    rows, total = service.find_referrals(actor, filters, page=page, per_page=PER_PAGE)
    return render_template(
        "referrals/index.html",
        filter_form=form,
        rows=[(row, referral_views.flags(row, actor)) for row in rows],
        total=total,
        pages=pagination(total, page, PER_PAGE),
        filtered=any(v for k, v in request.args.items() if k != "page"),
    ), status


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        abort(400)
    return int(raw)


@referrals.route("/triage")
def triage() -> ResponseReturnValue:
    actor = _actor()
    rows = service.triage_queue(actor)
    return render_template("referrals/triage.html",
                           rows=[(row, referral_views.flags(row, actor)) for row in rows])


# --- Referring ----------------------------------------------------------------------------------


@referrals.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    actor = _actor()
    partnerships = service.partnerships_to_refer_to(actor)
    if not partnerships:
        raise Forbidden(_("You are not in a partnership you can refer to. Ask the person who runs this service."))
    form = forms.ReferralForm()
    form.partnership_id.choices = [(p.id, p.name) for p in partnerships]
    agencies = sorted({a.id: a for p in partnerships for a in p.agencies}.values(), key=lambda a: a.name)
    form.consent_agencies.choices = [(a.id, a.name) for a in agencies]
    if policy.names_referring_agency(actor):
        form.referring_agency_id.choices = [(a.id, a.name) for a in agencies]
    else:
        del form.referring_agency_id
    status = 200
    if form.validate_on_submit():
        referring = form.referring_agency_id.data if "referring_agency_id" in form else None
        try:
            with all_or_nothing():
                referral = service.refer(actor, form.new_referral(referring))
        except PanelError as error:
            forms.apply_problems(form, error, forms.REFERRAL_FIELD_NAMES)
            status = error.status
        else:
            flash(_("Referral submitted. The broker will triage it."), "success")
            return redirect(url_for(".show", referral_id=referral.id))
    elif request.method == "POST":
        status = 400
    return render_template("referrals/new.html", form=form, pathways=list(Pathway)), status


# --- One referral -------------------------------------------------------------------------------


@referrals.route("/<int:referral_id>")
def show(referral_id: int) -> ResponseReturnValue:
    actor = _actor()
    referral = service.get_referral(actor, referral_id)
    record = referral_views.referral_record(actor, referral)
    actions = action_service.actions_of(actor, referral)
    return render_template("referrals/show.html", record=record, referral=referral, actions=actions,
                           action_visible={a.id: policy.can_read_action(actor, a) for a in actions},
                           accept_form=forms.ConfirmForm(version=referral.version))


def _change(
    referral_id: int,
    form_class: type[forms.ConfirmForm],
    *,
    step: str,
    act: Callable[[User, Referral, Any], object],
    done: str,
    heading: str,
    template: str = "referrals/change.html",
    setup: Callable[[Any, Referral], None] | None = None,
    names: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    loaded: Referral | None = None,
) -> ResponseReturnValue:
    """A form page that takes one step on a referral: load (404 outside scope), check the person may
    take the step (403; policy.REFERRAL_STEPS), act (the service checks the referral's state).
    ``loaded``: the referral, when the view has already loaded it (one read, one audit row)."""
    actor = _actor()
    referral = loaded if loaded is not None else service.get_referral(actor, referral_id, purpose="view")
    policy.require_person(actor, policy.REFERRAL_STEPS, step, referral)
    form = form_class()
    if setup is not None:
        setup(form, referral)
    if request.method == "GET":
        form.version.data = referral.version
    status = 200
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                act(actor, referral, form)
        except PanelError as error:
            forms.apply_problems(form, error, names)
            status = error.status
            if isinstance(error, Conflict):
                # Show the newer state; sending again now applies the change to it, knowingly.
                referral = service.get_referral(actor, referral_id)
                form.version.data = referral.version
        else:
            flash(done, "success")
            return redirect(url_for(".show", referral_id=referral.id))
    elif request.method == "POST":
        status = 400
    return render_template(template, form=form, referral=referral, heading=heading, **(extra or {})), status


@referrals.route("/<int:referral_id>/accept", methods=["GET", "POST"])
def accept(referral_id: int) -> ResponseReturnValue:
    """Accept a submitted referral. When the partnership already has a record with the young
    person's names and date of birth, the broker first says whether it is the same young person."""
    actor = _actor()
    referral = service.get_referral(actor, referral_id)
    policy.require_person(actor, policy.REFERRAL_STEPS, "accept", referral)
    done = _("Referral accepted. Share it with the agencies that will work with %(name)s.",
             name=referral.young_person.given_name)
    # Only while accepting is a step it may take now (a submitted referral): afterwards, no question.
    matches = service.possible_matches(referral) if "accept" in policy.referral_steps(actor, referral) else []
    if matches:
        def choices(form: forms.AcceptForm, referral: Referral) -> None:
            form.same_as.choices = [(str(person.id), _same_as_label(person)) for person in matches] + [
                ("new", _("No, a different young person: keep the details given with this referral"))]

        return _change(referral_id, forms.AcceptForm, step="accept",
                       act=lambda actor, referral, form: service.accept(
                           actor, referral, form.version_read(),
                           same_as=None if form.same_as.data == "new" else int(form.same_as.data)),
                       done=done, heading=_("Accept this referral"), template="referrals/accept.html",
                       setup=choices, extra={"matches": matches}, loaded=referral)
    if request.method == "GET":
        return redirect(url_for(".show", referral_id=referral.id))
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        raise BadRequest(next(iter(form.version.errors), _("Reload the page and try again.")))
    service.accept(actor, referral, form.version_read())
    flash(done, "success")
    return redirect(url_for(".show", referral_id=referral.id))


def _same_as_label(person: YoungPerson) -> str:
    latest = person.referrals[-1] if person.referrals else None
    if latest is None:
        return _("Yes, the same as %(name)s, born %(born)s", name=person.full_name,
                 born=format_date(person.date_of_birth, "d MMMM yyyy"))
    return ngettext("Yes, the same as %(name)s, born %(born)s (%(num)d referral, the latest on %(date)s)",
                    "Yes, the same as %(name)s, born %(born)s (%(num)d referrals, the latest on %(date)s)",
                    len(person.referrals), name=person.full_name,
                    born=format_date(person.date_of_birth, "d MMMM yyyy"),
                    date=format_date(latest.referred_on, "d MMMM yyyy"))


@referrals.route("/<int:referral_id>/decline", methods=["GET", "POST"])
def decline(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.DeclineForm, step="decline",
                   act=lambda actor, referral, form: service.decline(actor, referral, form.reason.data,
                                                                      form.version_read()),
                   done=_("Referral declined. The referring agency can see why."),
                   heading=_("Decline this referral"))


@referrals.route("/<int:referral_id>/request-information", methods=["GET", "POST"])
def request_information(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.QuestionForm, step="request_information",
                   act=lambda actor, referral, form: service.request_information(
                       actor, referral, form.question.data, form.version_read()),
                   done=_("Your question was sent to the referring agency."),
                   heading=_("Ask the referrer for more information"))


@referrals.route("/<int:referral_id>/provide-information", methods=["GET", "POST"])
def provide_information(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.AnswerForm, step="provide_information",
                   act=lambda actor, referral, form: service.provide_information(
                       actor, referral, form.answer.data, form.version_read()),
                   done=_("Your answer was sent to the broker."),
                   heading=_("Answer the broker's question"), template="referrals/answer.html")


def _share_choices(form: forms.ShareForm, referral: Referral) -> None:
    form.agency_id.choices = [
        (agency.id, agency.name) for agency in referral.partnership.agencies
        if agency.id != referral.referring_agency_id and policy.consent_covers(referral, agency.id)
    ]


@referrals.route("/<int:referral_id>/share", methods=["GET", "POST"])
def share(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.ShareForm, step="share", setup=_share_choices,
                   act=lambda actor, referral, form: service.share(
                       actor, referral, form.agency_id.data, [Pathway(p) for p in form.pathways.data or []],
                       form.version_read()),
                   done=_("Referral shared."), heading=_("Share with an agency"),
                   template="referrals/share.html", names={"agency_id": "agency_id"})


def _stage_choices(form: forms.StageForm, referral: Referral) -> None:
    form.stage.choices = [(number, name) for number, name in
                          enumerate(service.stages_of(referral.partnership_id), start=1)]
    if request.method == "GET":
        form.stage.data = referral.stage


@referrals.route("/<int:referral_id>/stage", methods=["GET", "POST"])
def change_stage(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.StageForm, step="change_stage", setup=_stage_choices,
                   act=lambda actor, referral, form: service.change_stage(actor, referral, form.stage.data,
                                                                           form.version_read()),
                   done=_("Stage changed."), heading=_("Change stage"))


def _current_needs(form: forms.NeedsForm, referral: Referral) -> None:
    if request.method != "GET":
        return
    for need in referral.needs:
        sub = form.needs()[need.pathway]
        sub.rating.data = need.rating.value
        sub.note.data = need.note


@referrals.route("/<int:referral_id>/needs", methods=["GET", "POST"])
def rate_needs(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.NeedsForm, step="rate_needs", setup=_current_needs,
                   act=lambda actor, referral, form: service.rate_needs(actor, referral, form.need_inputs(),
                                                                         form.version_read()),
                   done=_("Needs re-rated."), heading=_("Re-rate needs"), template="referrals/needs.html",
                   names={f"needs.{p.value}.note": f"need_{p.value}-note" for p in Pathway})


@referrals.route("/<int:referral_id>/close", methods=["GET", "POST"])
def close(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.CloseForm, step="close",
                   act=lambda actor, referral, form: service.close(
                       actor, referral, ClosureReason(form.reason.data), form.note.data, form.version_read()),
                   done=_("Referral closed."), heading=_("Close this referral"))


def _consent_choices(form: forms.ConsentForm, referral: Referral) -> None:
    form.consent_agencies.choices = [(a.id, a.name) for a in referral.partnership.agencies]


@referrals.route("/<int:referral_id>/consent", methods=["GET", "POST"])
def record_consent(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.ConsentForm, step="record_consent", setup=_consent_choices,
                   act=lambda actor, referral, form: service.record_consent(actor, referral, form.consent_input(),
                                                                             form.version_read()),
                   done=_("Consent recorded."), heading=_("Record consent"), template="referrals/consent.html",
                   names={"consent.date": "consent_date", "consent.agency_ids": "consent_agencies",
                          "consent.review_on": "consent_review_on", "consent.scope_note": "scope_note"})


@referrals.route("/<int:referral_id>/consent/withdraw", methods=["GET", "POST"])
def withdraw_consent(referral_id: int) -> ResponseReturnValue:
    return _change(referral_id, forms.WithdrawConsentForm, step="withdraw_consent",
                   act=lambda actor, referral, form: service.withdraw_consent(
                       actor, referral, form.withdrawn_on.data, form.note.data, form.version_read()),
                   done=_("Withdrawal of consent recorded. Only the referring agency and the broker now see "
                          "this referral."),
                   heading=_("Record that consent was withdrawn"))
