"""Referral pages: refer, the list, the broker's triage queue, the referral page and its changes.

Each view loads the referral (``doors.load_referral``: only what the person may see, the read
audited, the step checked against policy.REFERRAL_STEPS) and lets the service act.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from panel_app import policy
from panel_app.doors import actor, load_referral
from panel_app.errors import BadRequest, Forbidden
from panel_app.models import ClosureReason, NeedRating, Referral, ReferralStatus, YoungPerson
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services import referral_views
from panel_app.services import referrals as service
from panel_app.web import forms
from panel_app.web.form_pages import form_page
from panel_app.web.pagination import page_number, pagination

referrals = Blueprint("referrals", __name__, url_prefix="/referrals")

PER_PAGE = 25


# --- Lists --------------------------------------------------------------------------------------


@referrals.route("/")
def index() -> ResponseReturnValue:
    viewer = actor()
    form = forms.ReferralFilterForm(request.args)
    partnerships = service.partnerships_to_refer_to(viewer)
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
    page = page_number()
    rows, total = service.find_referrals(viewer, filters, page=page, per_page=PER_PAGE)
    return render_template(
        "referrals/index.html",
        filter_form=form,
        rows=[(row, referral_views.flags(row, viewer)) for row in rows],
        total=total,
        pages=pagination(total, page, PER_PAGE),
        filtered=any(v for k, v in request.args.items() if k != "page"),
    ), status


@referrals.route("/triage")
def triage() -> ResponseReturnValue:
    broker = actor()
    rows = service.triage_queue(broker)
    return render_template("referrals/triage.html",
                           rows=[(row, referral_views.flags(row, broker)) for row in rows])


# --- Referring ----------------------------------------------------------------------------------


@referrals.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    referrer = actor()
    partnerships = service.partnerships_to_refer_to(referrer)
    if not partnerships:
        raise Forbidden(_("You are not in a partnership you can refer to. Ask the person who runs this service."))
    form = forms.ReferralForm()
    form.partnership_id.choices = [(p.id, p.name) for p in partnerships]
    agencies = sorted({a.id: a for p in partnerships for a in p.agencies}.values(), key=lambda a: a.name)
    form.consent_agencies.choices = [(a.id, a.name) for a in agencies]
    if policy.names_referring_agency(referrer):
        form.referring_agency_id.choices = [(a.id, a.name) for a in agencies]
    else:
        del form.referring_agency_id
    return form_page(form, names=forms.REFERRAL_FIELD_NAMES,
                     act=lambda: service.refer(referrer, form.new_referral(
                         form.referring_agency_id.data if "referring_agency_id" in form else None)),
                     done=_("Referral submitted. The broker will triage it."), then=_shown,
                     page=partial(render_template, "referrals/new.html", form=form, pathways=list(Pathway)))


# --- One referral -------------------------------------------------------------------------------


@referrals.route("/<int:referral_id>")
def show(referral_id: int) -> ResponseReturnValue:
    viewer = actor()
    referral = load_referral(referral_id)
    record = referral_views.referral_record(viewer, referral)
    actions = action_service.actions_of(viewer, referral)
    return render_template("referrals/show.html", record=record, referral=referral, actions=actions,
                           action_visible={a.id: policy.can_read_action(viewer, a) for a in actions},
                           accept_form=forms.ConfirmForm(version=referral.version))


def _shown(referral: Referral) -> str:
    return url_for(".show", referral_id=referral.id)


def _step_page(referral: Referral, form: FlaskForm, heading: str, act: Callable[[], object], done: str, *,
               template: str = "referrals/change.html", names: dict[str, str] | None = None,
               **extra: Any) -> ResponseReturnValue:
    """A form page that takes one step on a referral, and comes back to the referral when done."""
    return form_page(form, record=referral, act=act, done=done, then=_shown(referral), names=names,
                     page=partial(render_template, template, form=form, referral=referral, heading=heading, **extra))


@referrals.route("/<int:referral_id>/accept", methods=["GET", "POST"])
def accept(referral_id: int) -> ResponseReturnValue:
    """Accept a submitted referral. When the partnership already has a record with the young
    person's names and date of birth, the broker first says whether it is the same young person."""
    referral = load_referral(referral_id, "accept")
    done = _("Referral accepted. Share it with the agencies that will work with %(name)s.",
             name=referral.young_person.given_name)
    # Only while accepting is a step it may take now (a submitted referral): afterwards, no question.
    matches = service.possible_matches(referral) if "accept" in policy.referral_steps(actor(), referral) else []
    if matches:
        form = forms.AcceptForm()
        form.same_as.choices = [(str(person.id), _same_as_label(person)) for person in matches] + [
            ("new", _("No, a different young person: keep the details given with this referral"))]
        return _step_page(referral, form, _("Accept this referral"),
                          lambda: service.accept(actor(), referral, form.version_read(), same_as=(
                              None if form.same_as.data == "new" else int(form.same_as.data))),
                          done, template="referrals/accept.html", matches=matches)
    if request.method == "GET":
        return redirect(_shown(referral))
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        raise BadRequest(next(iter(form.version.errors), _("Reload the page and try again.")))
    service.accept(actor(), referral, form.version_read())
    flash(done, "success")
    return redirect(_shown(referral))


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
    referral = load_referral(referral_id, "decline")
    form = forms.DeclineForm()
    return _step_page(referral, form, _("Decline this referral"),
                      lambda: service.decline(actor(), referral, form.reason.data, form.version_read()),
                      _("Referral declined. The referring agency can see why."))


@referrals.route("/<int:referral_id>/request-information", methods=["GET", "POST"])
def request_information(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, "request_information")
    form = forms.QuestionForm()
    return _step_page(referral, form, _("Ask the referrer for more information"),
                      lambda: service.request_information(actor(), referral, form.question.data, form.version_read()),
                      _("Your question was sent to the referring agency."))


@referrals.route("/<int:referral_id>/provide-information", methods=["GET", "POST"])
def provide_information(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, "provide_information")
    form = forms.AnswerForm()
    return _step_page(referral, form, _("Answer the broker's question"),
                      lambda: service.provide_information(actor(), referral, form.answer.data, form.version_read()),
                      _("Your answer was sent to the broker."), template="referrals/answer.html")


@referrals.route("/<int:referral_id>/share", methods=["GET", "POST"])
def share(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, "share")
    form = forms.ShareForm()
    form.agency_id.choices = [
        (agency.id, agency.name) for agency in referral.partnership.agencies
        if agency.id != referral.referring_agency_id and policy.consent_covers(referral, agency.id)
    ]
    return _step_page(referral, form, _("Share with an agency"),
                      lambda: service.share(actor(), referral, form.agency_id.data,
                                            [Pathway(p) for p in form.pathways.data or []], form.version_read()),
                      _("Referral shared."), template="referrals/share.html", names={"agency_id": "agency_id"})


@referrals.route("/<int:referral_id>/stage", methods=["GET", "POST"])
def change_stage(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, "change_stage")
    form = forms.StageForm()
    form.stage.choices = list(enumerate(service.stages_of(referral.partnership_id), start=1))
    if request.method == "GET":
        form.stage.data = referral.stage
    return _step_page(referral, form, _("Change stage"),
                      lambda: service.change_stage(actor(), referral, form.stage.data, form.version_read()),
                      _("Stage changed."))


@referrals.route("/<int:referral_id>/needs", methods=["GET", "POST"])
def rate_needs(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, "rate_needs")
    form = forms.NeedsForm()
    if request.method == "GET":
        for need in referral.needs:
            sub = form.needs()[need.pathway]
            sub.rating.data = need.rating.value
            sub.note.data = need.note
    return _step_page(referral, form, _("Re-rate needs"),
                      lambda: service.rate_needs(actor(), referral, form.need_inputs(), form.version_read()),
                      _("Needs re-rated."), template="referrals/needs.html",
                      names={f"needs.{p.value}.note": f"need_{p.value}-note" for p in Pathway})


@referrals.route("/<int:referral_id>/close", methods=["GET", "POST"])
def close(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, "close")
    form = forms.CloseForm()
    return _step_page(referral, form, _("Close this referral"),
                      lambda: service.close(actor(), referral, ClosureReason(form.reason.data), form.note.data,
                                            form.version_read()),
                      _("Referral closed."))


@referrals.route("/<int:referral_id>/consent", methods=["GET", "POST"])
def record_consent(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, "record_consent")
    form = forms.ConsentForm()
    form.consent_agencies.choices = [(a.id, a.name) for a in referral.partnership.agencies]
    return _step_page(referral, form, _("Record consent"),
                      lambda: service.record_consent(actor(), referral, form.consent_input(), form.version_read()),
                      _("Consent recorded."), template="referrals/consent.html",
                      names={"consent.date": "consent_date", "consent.agency_ids": "consent_agencies",
                             "consent.review_on": "consent_review_on", "consent.scope_note": "scope_note"})


@referrals.route("/<int:referral_id>/consent/withdraw", methods=["GET", "POST"])
def withdraw_consent(referral_id: int) -> ResponseReturnValue:
    referral = load_referral(referral_id, "withdraw_consent")
    form = forms.WithdrawConsentForm()
    return _step_page(referral, form, _("Record that consent was withdrawn"),
                      lambda: service.withdraw_consent(actor(), referral, form.withdrawn_on.data, form.note.data,
                                                       form.version_read()),
                      _("Withdrawal of consent recorded. Only the referring agency and the broker now see this "
                        "referral."))
