"""The strategic picture as pages, a quarterly PDF for a board, and a CSV of the register: built once
from the dashboard's figures, so the page, the PDF and the file always agree. Figures only."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import format_date
from flask_babel import gettext as _

from panel_app import audit, policy
from panel_app.documents import charts
from panel_app.documents.pdf import render_pdf
from panel_app.models import Partnership, User, db, utcnow
from panel_app.pathways import Pathway
from panel_app.services import dashboard as figures
from panel_app.services import gaps as gap_service
from panel_app.services.clock import local_date


def scope(actor: User) -> list[Partnership]:
    """The partnerships whose gaps the actor sees."""
    return list(db.session.scalars(db.select(Partnership).where(
        Partnership.id.in_(policy.gap_partnership_ids(actor))).order_by(Partnership.name)))


@dataclass
class Report:
    dashboard: figures.Dashboard
    pathways: list[Pathway]
    heat_rows: list[list[int]]
    heat_chart: str
    time_chart: str
    waiting_chart: str | None
    # Per area: for each pathway, (young people with a red need, gaps logged).
    needs_rows: list[tuple[str, list[tuple[int, int]]]]
    needs_chart: str
    register: list[tuple[object, gap_service.Evidence]]


def build(actor: User) -> Report:
    """The dashboard's figures, its charts (SVG, each with a table of the same figures) and the register."""
    data = figures.dashboard(actor)
    pathways = list(Pathway)
    heat_rows = [[data.heat.get((p.id, pathway), 0) for pathway in pathways] for p in data.partnerships]
    heat_chart = charts.heat_map(_("Unresolved service gaps by area and pathway"),
                                 [p.name for p in data.partnerships], [pw.short_label for pw in pathways], heat_rows)
    labels = [format_date(month, "MMM yy") for month, _logged, _closed in data.over_time]
    time_chart = charts.line_chart(_("Gaps logged and closed, by month"), labels, {
        _("Logged"): [logged for _month, logged, _closed in data.over_time],
        _("Resolved or accepted"): [closed for _month, _logged, closed in data.over_time]})
    waiting_chart = charts.bar_chart(_("Escalations waiting for a response (days)"),
                                     [w.title[:40] for w in data.waiting[:10]],
                                     {_("Days waiting"): [w.days for w in data.waiting[:10]]},
                                     horizontal=True) if data.waiting else None
    needs_rows = [(p.name, [(data.red_needs.get((p.id, pathway), 0), data.gaps_logged.get((p.id, pathway), 0))
                            for pathway in pathways]) for p in data.partnerships]
    needs_chart = charts.bar_chart(_("Needs against provision, by pathway"), [pw.short_label for pw in pathways], {
        _("Young people with a red need"): [sum(cells[i][0] for _name, cells in needs_rows) for i in range(len(pathways))],
        _("Service gaps logged"): [sum(cells[i][1] for _name, cells in needs_rows) for i in range(len(pathways))]})
    rows, _total = gap_service.register(actor, gap_service.GapFilters(), per_page=500)
    return Report(data, pathways, heat_rows, heat_chart, time_chart, waiting_chart, needs_rows, needs_chart, rows)


def report_pdf(actor: User) -> bytes:
    """The quarterly report for a board: the dashboard and the register, as a PDF. Audited."""
    report = build(actor)
    pdf = render_pdf("pdf/gaps_report.html", report=report, audience=actor.name, generated_at=utcnow())
    audit.record("gaps.report.export", actor=actor, detail={"gap_ids": [gap.id for gap, _e in report.register]})
    return pdf


def register_rows(actor: User) -> list[list[object]]:
    """The register as rows for a CSV file: figures, never a young person. Audited."""
    rows, _total = gap_service.register(actor, gap_service.GapFilters(), per_page=10_000)
    header = [_("id"), _("partnership"), _("pathway"), _("title"), _("severity"), _("status"), _("logged on"),
              _("escalated on"), _("young people affected"), _("longest wait (days)"), _("agencies raising it"),
              _("owner"), _("target date")]
    body = [[_cell(value) for value in [gap.id, gap.partnership.name, gap.pathway.label, gap.title, gap.severity.value, gap.status.value,
             local_date(gap.logged_at).isoformat(), local_date(gap.escalated_at).isoformat() if gap.escalated_at else "",
             evidence.young_people, evidence.longest_wait_days, evidence.agencies, gap.owner or "",
             gap.target_on.isoformat() if gap.target_on else ""]] for gap, evidence in rows]
    audit.record("gaps.register.export", actor=actor, detail={"gap_ids": [gap.id for gap, _e in rows]})
    return [header, *body]


def _cell(value: object) -> object:
    """A spreadsheet must not take a title for a formula (CSV injection): text starting =, +, - or @ is
    prefixed with an apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
