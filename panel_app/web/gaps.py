"""Service gap pages: the register, logging a gap (from a referral, a blocked action or meeting
mode), the gap page, escalation, the strategic lead's review queue and response, the dashboard, and
the quarterly report (PDF) and register (CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from panel_app import policy
from panel_app.doors import all_or_nothing, current_actor
from panel_app.errors import BadRequest, Conflict, Forbidden, PanelError
from panel_app.models import GapSeverity, GapStatus, ServiceGap, User
from panel_app.pathways import Pathway
from panel_app.services import gap_reports
from panel_app.services import outbox
from panel_app.services import gaps as service
from panel_app.throttling import pdf_per_person
from panel_app.web import forms
from panel_app.web.pagination import pagination

gaps = Blueprint("gaps", __name__, url_prefix="/gaps")

PER_PAGE = 50


def _actor() -> User:
    actor = current_actor()
    assert actor is not None
    return actor


# --- The register -------------------------------------------------------------------------------


@gaps.route("/")
def register() -> ResponseReturnValue:
    actor = _actor()
    form = forms.GapFilterForm(request.args)
    form.partnership.choices = [(0, _("Every partnership"))] + [(p.id, p.name) for p in gap_reports.scope(actor)]
    raw_page = request.args.get("page", "1")
    if not raw_page.isdigit() or int(raw_page) < 1:
        raise BadRequest(_("The page number must be 1 or more."))
    page = int(raw_page)
    if request.args and not form.validate():
        return render_template("gaps/register.html", filter_form=form, form=form, rows=[], total=0, pages=None,
                               can_log=False, can_report=policy.can_get_gap_report(actor)), 400
    rows, total = service.register(actor, service.GapFilters(
        partnership_id=form.partnership.data or None,
        pathway=Pathway(form.pathway.data) if form.pathway.data else None,
        status=GapStatus(form.status.data) if form.status.data else None,
        severity=GapSeverity(form.severity.data) if form.severity.data else None), page=page, per_page=PER_PAGE)
    return render_template("gaps/register.html", filter_form=form, rows=rows, total=total,
                           pages=pagination(total, page, PER_PAGE),
                           can_log=bool(service.partnerships_to_log_in(actor)),
                           can_report=policy.can_get_gap_report(actor))


# --- Logging a gap ------------------------------------------------------------------------------


@gaps.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    actor = _actor()
    partnerships = service.partnerships_to_log_in(actor)
    if not partnerships:
        raise Forbidden(_("You are not in a partnership whose gaps you can log."))
    form = forms.GapForm()
    form.partnership_id.choices = [(p.id, p.name) for p in partnerships]
    # Where it comes from: a referral, a blocked action, a meeting (the links fill the form in).
    source = service.prefill(actor, request.args.get("referral"), request.args.get("action"),
                             request.args.get("meeting"))
    # The evidence offered is the chosen partnership's young people: chosen by the source (a referral,
    # an action, a meeting), by ?partnership= (the chooser above the form, no JavaScript needed), or the first.
    mine = {p.id for p in partnerships}
    asked = service.record_id_from(request.args.get("partnership"))
    chosen = form.partnership_id.data if request.method == "POST" else (
        source.partnership_id or (asked if asked in mine else partnerships[0].id))
    candidates = service.referrals_for_evidence(actor, chosen) if chosen in mine else []
    form.referral_ids.choices = [(r.id, r.young_person.full_name) for r in candidates]
    if request.method == "GET":
        form.partnership_id.data = chosen
        form.referral_ids.data = source.referral_ids
        if source.pathway is not None:
            form.pathway.data = source.pathway.value
        form.action_id.data = str(source.action_id or "")
        form.meeting_id.data = str(source.meeting_id or "")
        if source.title:
            form.title.data = source.title
    status = 200
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                gap = service.log_gap(actor, service.NewGap(
                    partnership_id=form.partnership_id.data, pathway=Pathway(form.pathway.data),
                    title=form.title.data or "", description=form.description.data or "",
                    severity=GapSeverity(form.severity.data), referral_ids=list(form.referral_ids.data or []),
                    action_id=form._id(form.action_id), meeting_id=form._id(form.meeting_id)))
        except PanelError as error:
            # The action and meeting it comes from are hidden fields: their problems head the summary,
            # unlinked, rather than pointing at an input no one can see.
            unseen = [error.fields.pop(name) for name in ("action_id", "meeting_id") if name in error.fields]
            forms.apply_problems(form, error)
            form.form_errors.extend(unseen)
            status = error.status
        else:
            flash(_("Service gap logged. The broker can escalate it to the strategic lead."), "success")
            return redirect(url_for(".show", gap_id=gap.id))
    elif request.method == "POST":
        status = 400
    return render_template("gaps/new.html", form=form, heading=_("Log a service gap"), source=source,
                           partnerships=partnerships,
                           chosen=chosen if chosen in mine else partnerships[0].id,
                           can_choose=len(partnerships) > 1 and source.partnership_id is None), status


# --- One gap ------------------------------------------------------------------------------------


def _gap_page(actor: User, gap: ServiceGap, form: Any = None, status: int = 200) -> ResponseReturnValue:
    view = service.view_of(actor, gap)
    # A refused "add a young person" shows that form again, open, with its errors beside its fields.
    evidence_form = form if isinstance(form, forms.EvidenceForm) else forms.EvidenceForm()
    if "add_evidence" in view.steps:
        already = {e.referral_id for e in gap.evidence}
        evidence_form.referral_id.choices = [(r.id, r.young_person.full_name) for r in
                                             service.referrals_for_evidence(actor, gap.partnership_id)
                                             if r.id not in already]
    extra = {"form": form} if form is not None and form.errors else {}
    return render_template("gaps/show.html", view=view, gap=gap, evidence_form=evidence_form,
                           reopen_form=forms.ReopenForm(version=gap.version),
                           emails=outbox.emails_about(actor, "gap", gap.id), **extra), status


@gaps.route("/<int:gap_id>")
def show(gap_id: int) -> ResponseReturnValue:
    actor = _actor()
    return _gap_page(actor, service.get_gap(actor, gap_id))


@gaps.route("/<int:gap_id>/evidence", methods=["POST"])
def add_evidence(gap_id: int) -> ResponseReturnValue:
    actor = _actor()
    gap = service.get_gap(actor, gap_id)
    policy.require_person(actor, policy.GAP_STEPS, "add_evidence", gap)
    form = forms.EvidenceForm()
    form.referral_id.choices = [(r.id, r.young_person.full_name)
                                for r in service.referrals_for_evidence(actor, gap.partnership_id)]
    if not form.validate_on_submit():
        return _gap_page(actor, gap, form, 400)
    try:
        with all_or_nothing():
            service.add_evidence(actor, gap, form.referral_id.data, form.waiting_since.data)
    except PanelError as error:
        forms.apply_problems(form, error, {"referral_ids": "referral_id"})
        return _gap_page(actor, gap, form, error.status)
    flash(_("Evidence added."), "success")
    return redirect(url_for(".show", gap_id=gap.id))


def _gap_form_page(gap_id: int, form_class: type, *, step: str,
                   act: Callable[[User, ServiceGap, Any], object], done: str, heading: str,
                   template: str = "gaps/form.html") -> ResponseReturnValue:
    actor = _actor()
    gap = service.get_gap(actor, gap_id)
    policy.require_person(actor, policy.GAP_STEPS, step, gap)
    form = form_class()
    if request.method == "GET":
        form.version.data = gap.version
    status = 200
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                act(actor, gap, form)
        except PanelError as error:
            forms.apply_problems(form, error)
            status = error.status
            if isinstance(error, Conflict):
                gap = service.get_gap(actor, gap_id)
                form.version.data = gap.version
        else:
            flash(done, "success")
            return redirect(url_for(".show", gap_id=gap.id))
    elif request.method == "POST":
        status = 400
    return render_template(template, form=form, gap=gap, heading=heading,
                           evidence=service.evidence_of([gap.id])[gap.id]), status


@gaps.route("/<int:gap_id>/escalate", methods=["GET", "POST"])
def escalate(gap_id: int) -> ResponseReturnValue:
    return _gap_form_page(gap_id, forms.EscalateForm, step="escalate",
                          act=lambda actor, gap, form: service.escalate(actor, gap, form.note.data, form.version_read()),
                          done=_("Escalated. An email to the region's strategic leads is queued and will be sent shortly: the "
                                 "emails below show when it has gone."),
                          heading=_("Escalate to the strategic lead"))


@gaps.route("/<int:gap_id>/respond", methods=["GET", "POST"])
def respond(gap_id: int) -> ResponseReturnValue:
    return _gap_form_page(
        gap_id, forms.RespondForm, step="respond",
        act=lambda actor, gap, form: service.respond(actor, gap, form.response.data or "", GapStatus(form.status.data),
                                                     form.owner.data, form.target_on.data, form.version_read()),
        done=_("Response saved. An email to the broker and the agency that raised it is queued and will be sent "
               "shortly."),
        heading=_("Respond to this gap"))


@gaps.route("/<int:gap_id>/reopen", methods=["GET", "POST"])
def reopen(gap_id: int) -> ResponseReturnValue:
    return _gap_form_page(gap_id, forms.ReopenForm, step="reopen",
                          act=lambda actor, gap, form: service.reopen(actor, gap, form.note.data, form.version_read()),
                          done=_("Gap reopened."), heading=_("Reopen this gap"))


# --- Strategic leads ----------------------------------------------------------------------------


@gaps.route("/review")
def review() -> ResponseReturnValue:
    actor = _actor()
    return render_template("gaps/review.html", rows=service.review_queue(actor))


@gaps.route("/dashboard")
def dashboard() -> ResponseReturnValue:
    actor = _actor()
    report = gap_reports.build(actor)
    return render_template("gaps/dashboard.html", report=report)


@gaps.route("/report.pdf")
@pdf_per_person
def report_pdf() -> ResponseReturnValue:
    actor = _actor()
    response = Response(gap_reports.report_pdf(actor), mimetype="application/pdf")
    response.headers["Content-Disposition"] = 'inline; filename="service-gaps-report.pdf"'
    return response


@gaps.route("/register.csv")
def register_csv() -> ResponseReturnValue:
    actor = _actor()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in gap_reports.register_rows(actor):
        writer.writerow(row)
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="service-gaps.csv"'
    return response
