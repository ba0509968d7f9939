"""Service gap pages: the register, logging a gap (from a referral, a blocked action or meeting
mode), the gap page, escalation, the strategic lead's review queue and response, the dashboard, and
the quarterly report (PDF) and register (CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from panel_app import policy
from panel_app.doors import actor, download, load_gap
from panel_app.errors import Forbidden
from panel_app.models import GapSeverity, GapStatus, ServiceGap
from panel_app.pathways import Pathway
from panel_app.services import gap_reports
from panel_app.services import outbox
from panel_app.services import gaps as service
from panel_app.throttling import pdf_per_person
from panel_app.web import forms
from panel_app.web.form_pages import form_page
from panel_app.web.pagination import page_number, pagination

gaps = Blueprint("gaps", __name__, url_prefix="/gaps")

PER_PAGE = 50


# --- The register -------------------------------------------------------------------------------


@gaps.route("/")
def register() -> ResponseReturnValue:
    reader = actor()
    form = forms.GapFilterForm(request.args)
    form.partnership.choices = [(0, _("Every partnership"))] + [(p.id, p.name) for p in gap_reports.scope(reader)]
    page = page_number()
    if request.args and not form.validate():
        return render_template("gaps/register.html", filter_form=form, form=form, rows=[], total=0, pages=None,
                               can_log=False, can_report=policy.can_get_gap_report(reader)), 400
    rows, total = service.register(reader, service.GapFilters(
        partnership_id=form.partnership.data or None,
        pathway=Pathway(form.pathway.data) if form.pathway.data else None,
        status=GapStatus(form.status.data) if form.status.data else None,
        severity=GapSeverity(form.severity.data) if form.severity.data else None), page=page, per_page=PER_PAGE)
    return render_template("gaps/register.html", filter_form=form, rows=rows, total=total,
                           pages=pagination(total, page, PER_PAGE),
                           can_log=bool(service.partnerships_to_log_in(reader)),
                           can_report=policy.can_get_gap_report(reader))


# --- Logging a gap ------------------------------------------------------------------------------


@gaps.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    member = actor()
    partnerships = service.partnerships_to_log_in(member)
    if not partnerships:
        raise Forbidden(_("You are not in a partnership whose gaps you can log."))
    form = forms.GapForm()
    form.partnership_id.choices = [(p.id, p.name) for p in partnerships]
    # Where it comes from: a referral, a blocked action, a meeting (the links fill the form in).
    source = service.prefill(member, request.args.get("referral"), request.args.get("action"),
                             request.args.get("meeting"))
    # The evidence offered is the chosen partnership's young people: chosen by the source (a referral,
    # an action, a meeting), by ?partnership= (the chooser above the form, no JavaScript needed), or the first.
    mine = {p.id for p in partnerships}
    asked = service.record_id_from(request.args.get("partnership"))
    chosen = form.partnership_id.data if request.method == "POST" else (
        source.partnership_id or (asked if asked in mine else partnerships[0].id))
    candidates = service.referrals_for_evidence(member, chosen) if chosen in mine else []
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

    def log() -> ServiceGap:
        return service.log_gap(member, service.NewGap(
            partnership_id=form.partnership_id.data, pathway=Pathway(form.pathway.data),
            title=form.title.data or "", description=form.description.data or "",
            severity=GapSeverity(form.severity.data), referral_ids=list(form.referral_ids.data or []),
            action_id=form._id(form.action_id), meeting_id=form._id(form.meeting_id)))

    return form_page(
        form, act=log, done=_("Service gap logged. The broker can escalate it to the strategic lead."),
        then=lambda gap: url_for(".show", gap_id=gap.id),
        page=partial(render_template, "gaps/new.html", form=form, heading=_("Log a service gap"), source=source,
                     partnerships=partnerships, chosen=chosen if chosen in mine else partnerships[0].id,
                     can_choose=len(partnerships) > 1 and source.partnership_id is None))


# --- One gap ------------------------------------------------------------------------------------


def _gap_page(gap: ServiceGap, form: Any = None) -> str:
    reader = actor()
    view = service.view_of(reader, gap)
    # A refused "add a young person" shows that form again, open, with its errors beside its fields.
    evidence_form = form if isinstance(form, forms.EvidenceForm) else forms.EvidenceForm()
    if "add_evidence" in view.steps:
        already = {e.referral_id for e in gap.evidence}
        evidence_form.referral_id.choices = [(r.id, r.young_person.full_name) for r in
                                             service.referrals_for_evidence(reader, gap.partnership_id)
                                             if r.id not in already]
    extra = {"form": form} if form is not None and form.errors else {}
    return render_template("gaps/show.html", view=view, gap=gap, evidence_form=evidence_form,
                           reopen_form=forms.ReopenForm(version=gap.version),
                           emails=outbox.emails_about(reader, "gap", gap.id), **extra)


def _shown(gap: ServiceGap) -> str:
    return url_for(".show", gap_id=gap.id)


@gaps.route("/<int:gap_id>")
def show(gap_id: int) -> ResponseReturnValue:
    return _gap_page(load_gap(gap_id))


@gaps.route("/<int:gap_id>/evidence", methods=["POST"])
def add_evidence(gap_id: int) -> ResponseReturnValue:
    gap = load_gap(gap_id, "add_evidence")
    form = forms.EvidenceForm()
    form.referral_id.choices = [(r.id, r.young_person.full_name)
                                for r in service.referrals_for_evidence(actor(), gap.partnership_id)]
    return form_page(form, names={"referral_ids": "referral_id"}, done=_("Evidence added."), then=_shown(gap),
                     act=lambda: service.add_evidence(actor(), gap, form.referral_id.data, form.waiting_since.data),
                     page=lambda: _gap_page(gap, form))


def _step_page(gap: ServiceGap, form: forms.ConfirmForm, heading: str, act: Callable[[], object],
               done: str) -> ResponseReturnValue:
    """A form page that takes one step on a gap, and comes back to the gap when done."""
    return form_page(form, record=gap, act=act, done=done, then=_shown(gap),
                     page=lambda: render_template("gaps/form.html", form=form, gap=gap, heading=heading,
                                                  evidence=service.evidence_of([gap.id])[gap.id]))


@gaps.route("/<int:gap_id>/escalate", methods=["GET", "POST"])
def escalate(gap_id: int) -> ResponseReturnValue:
    gap = load_gap(gap_id, "escalate")
    form = forms.EscalateForm()
    return _step_page(gap, form, _("Escalate to the strategic lead"),
                      lambda: service.escalate(actor(), gap, form.note.data, form.version_read()),
                      _("Escalated. An email to the region's strategic leads is queued and will be sent shortly: the "
                        "emails below show when it has gone."))


@gaps.route("/<int:gap_id>/respond", methods=["GET", "POST"])
def respond(gap_id: int) -> ResponseReturnValue:
    gap = load_gap(gap_id, "respond")
    form = forms.RespondForm()
    return _step_page(gap, form, _("Respond to this gap"),
                      lambda: service.respond(actor(), gap, form.response.data or "", GapStatus(form.status.data),
                                              form.owner.data, form.target_on.data, form.version_read()),
                      _("Response saved. An email to the broker and the agency that raised it is queued and will be "
                        "sent shortly."))


@gaps.route("/<int:gap_id>/reopen", methods=["GET", "POST"])
def reopen(gap_id: int) -> ResponseReturnValue:
    gap = load_gap(gap_id, "reopen")
    form = forms.ReopenForm()
    return _step_page(gap, form, _("Reopen this gap"),
                      lambda: service.reopen(actor(), gap, form.note.data, form.version_read()), _("Gap reopened."))


# --- Strategic leads ----------------------------------------------------------------------------


@gaps.route("/review")
def review() -> ResponseReturnValue:
    return render_template("gaps/review.html", rows=service.review_queue(actor()))


@gaps.route("/dashboard")
def dashboard() -> ResponseReturnValue:
    return render_template("gaps/dashboard.html", report=gap_reports.build(actor()))


@gaps.route("/report.pdf")
@pdf_per_person
def report_pdf() -> ResponseReturnValue:
    return download(gap_reports.report_pdf(actor()), "application/pdf", "service-gaps-report.pdf", inline=True)


@gaps.route("/register.csv")
def register_csv() -> ResponseReturnValue:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(gap_reports.register_rows(actor()))
    return download(buffer.getvalue(), "text/csv", "service-gaps.csv")
