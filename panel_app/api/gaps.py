"""Service gaps through the API: strategic leads get figures (young_people_affected) and never a
young person's name, date of birth or reference."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask.typing import ResponseReturnValue

from panel_app import policy
from panel_app.api.base import api, documented, fields_named, read_body, read_query, values_of
from panel_app.api.schemas import EscalateIn, ErrorOut, GapIn, GapList, GapOut, GapQuery, ResponseIn
from panel_app.doors import actor, download, load_gap
from panel_app.errors import Forbidden
from panel_app.models import GapSeverity, GapStatus, ServiceGap, User
from panel_app.services import gap_reports
from panel_app.services import gaps as service
from panel_app.throttling import pdf_per_person


def _body(viewer: User, gap: ServiceGap, evidence: service.Evidence, named: list[int] | None = None) -> dict:
    body = GapOut(
        id=gap.id, partnership_id=gap.partnership_id, pathway=gap.pathway, title=gap.title,
        description=gap.description, severity=gap.severity, status=gap.status, logged_at=gap.logged_at,
        escalated_at=gap.escalated_at, owner=gap.owner, target_date=gap.target_on,
        young_people_affected=evidence.young_people, longest_wait_days=evidence.longest_wait_days,
        agencies_raising=evidence.agencies, version=gap.version,
        **({"referral_ids": named} if named is not None and policy.sees_young_people(viewer) else {}),
    )
    return body.model_dump(mode="json", exclude_unset=True)


def _answer(gap: ServiceGap) -> ResponseReturnValue:
    """The gap as the caller may see it: a strategic lead gets its figures, never the referrals named."""
    view = service.view_of(actor(), gap)
    return jsonify(_body(actor(), gap, view.evidence, [r.id for r in view.named]))


@api.route("/gaps", methods=["POST"])
@documented(
    "Log a service gap, with the referrals that are its evidence",
    tag="Gaps",
    body=GapIn,
    responses={201: GapOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    description="Brokers and staff of a member agency. Each referral must be one the caller may see.",
)
def gap_create() -> ResponseReturnValue:
    data = read_body(GapIn)
    gap = service.log_gap(actor(), service.NewGap(
        partnership_id=data.partnership_id, pathway=data.pathway, title=data.title,
        description=data.description, severity=data.severity, referral_ids=data.referral_ids))
    return _answer(load_gap(gap.id)), 201


@api.route("/gaps")
@documented(
    "The gap register of the caller's partnerships (a strategic lead: their region)",
    tag="Gaps",
    query={"page": "Page number, from 1", "per_page": "Items per page, at most 100",
           "partnership_id": "Only this partnership", "pathway": "Only this pathway",
           "status": values_of(GapStatus), "severity": values_of(GapSeverity)},
    responses={200: GapList, 400: ErrorOut, 401: ErrorOut},
)
def gaps_list() -> ResponseReturnValue:
    query = read_query(GapQuery)
    caller = actor()
    rows, total = service.register(caller, service.GapFilters(
        partnership_id=query.partnership_id, pathway=query.pathway, status=query.status, severity=query.severity),
        page=query.page, per_page=query.per_page)
    return jsonify(GapList(items=[_body(caller, gap, evidence) for gap, evidence in rows], total=total)
                   .model_dump(mode="json", exclude_unset=True))


@api.route("/gaps/<int:gap_id>")
@documented("One service gap, with its evidence as figures", tag="Gaps",
            responses={200: GapOut, 401: ErrorOut, 404: ErrorOut})
def gap_detail(gap_id: int) -> ResponseReturnValue:
    return _answer(load_gap(gap_id))


@api.route("/gaps/<int:gap_id>/escalate", methods=["POST"])
@documented("Escalate a gap to the region's strategic leads", tag="Gaps", body=EscalateIn,
            responses={200: GapOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
            description="Brokers of the gap's partnership; the gap must be open.")
def gap_escalate(gap_id: int) -> ResponseReturnValue:
    data = read_body(EscalateIn)
    gap = load_gap(gap_id, "escalate")
    service.escalate(actor(), gap, data.note)
    return _answer(gap)


@api.route("/gaps/<int:gap_id>/response", methods=["POST"])
@documented("A strategic lead's response: owner, target date, new status", tag="Gaps", body=ResponseIn,
            responses={200: GapOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
            description="Strategic leads of the gap's region; the gap must be escalated or in progress.")
def gap_response(gap_id: int) -> ResponseReturnValue:
    data = read_body(ResponseIn)
    gap = load_gap(gap_id, "respond")
    with fields_named(target_on="target_date"):
        service.respond(actor(), gap, data.response, data.status, data.owner, data.target_date)
    return _answer(gap)


@api.route("/gaps/report.pdf")
@pdf_per_person
@documented("The gap register and the dashboard as a PDF report", tag="Gaps",
            responses={200: "application/pdf", 401: ErrorOut, 403: ErrorOut})
def gaps_report() -> ResponseReturnValue:
    caller = actor()
    if not policy.can_get_gap_report(caller):
        raise Forbidden(_("Only brokers and strategic leads get the report."))
    return download(gap_reports.report_pdf(caller), "application/pdf", "service-gaps-report.pdf")
