"""Panel meetings through the API: the same services and scoping as the pages."""

from __future__ import annotations

from collections.abc import Callable

from flask import jsonify
from flask.typing import ResponseReturnValue

from panel_app.api.base import api, documented, read_body, read_query
from panel_app.api.schemas import (
    AgendaIn,
    AgendaItemOut,
    CaseNoteOut,
    ErrorOut,
    MeetingIn,
    MeetingList,
    MeetingOut,
    MeetingQuery,
    RestrictedCaseOut,
    UpdateOut,
    YoungPersonOut,
)
from panel_app.doors import actor, download, load_meeting
from panel_app.models import PanelMeeting, User
from panel_app.services import meetings as service
from panel_app.throttling import pdf_per_person


def _meeting_body(viewer: User, meeting: PanelMeeting, rows: list[service.AgendaRow] | None = None) -> dict:
    rows = service.agenda(viewer, meeting) if rows is None else rows
    agenda = []
    for row in rows:
        item = row.item
        agenda.append(AgendaItemOut(
            id=item.id,
            position=item.position,
            kind=item.kind,
            minutes_allotted=item.minutes_allotted,
            referral_id=item.referral_id if row.full else None,
            young_person=YoungPersonOut.model_validate(item.referral.young_person) if row.full else None,
            restricted=None if row.full else RestrictedCaseOut(
                initials=row.initials, age=row.age, pathways_of_need=row.pathways_of_need),
            information_sent_by=[u.agency_id for u in row.updates if u.responded_at is not None],
            # row.notes and row.updates hold only what the caller may read (policy.can_read_text_about).
            notes=[CaseNoteOut(pathway=n.pathway, text=n.text) for n in row.notes],
            decisions=item.decisions if row.full else None,
            updates=[UpdateOut(agency_id=u.agency_id, pathway=u.pathway,
                               text=u.response, sent_at=u.responded_at)
                     for u in row.updates if u.responded_at is not None and u.response is not None],
        ))
    return MeetingOut(
        id=meeting.id, partnership_id=meeting.partnership_id, starts_at=meeting.starts_at, ends_at=meeting.ends_at,
        location=meeting.location, online_link=meeting.online_link, status=meeting.status,
        minutes_status=meeting.minutes_status, invited_agency_ids=[a.id for a in meeting.invited_agencies],
        uid=meeting.uid, sequence=meeting.sequence, agenda=agenda, version=meeting.version,
    ).model_dump(mode="json")


@api.route("/meetings", methods=["POST"])
@documented(
    "Schedule a panel meeting (or a series, with recurrence)",
    tag="Meetings",
    body=MeetingIn,
    responses={201: MeetingOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    description="Brokers of the partnership. Invitations with calendar files go to the invited agencies. With a "
    "recurrence, the answer is the first meeting of the series.",
)
def meeting_create() -> ResponseReturnValue:
    data = read_body(MeetingIn)
    caller = actor()
    details = service.MeetingDetails(data.starts_at, data.ends_at, data.location, data.online_link,
                                     data.invited_agency_ids)
    if data.recurrence:
        meeting = service.schedule_series(caller, data.partnership_id, details, data.recurrence)[0]
    else:
        meeting = service.schedule(caller, data.partnership_id, details)
    return jsonify(_meeting_body(caller, meeting)), 201


@api.route("/meetings")
@documented(
    "The meetings of the partnerships the caller is a member of",
    tag="Meetings",
    query={"page": "Page number, from 1", "per_page": "Items per page, at most 100",
           "partnership_id": "Only this partnership", "when": "upcoming or past"},
    responses={200: MeetingList, 400: ErrorOut, 401: ErrorOut},
)
def meetings_list() -> ResponseReturnValue:
    query = read_query(MeetingQuery)
    caller = actor()
    upcoming = {"upcoming": True, "past": False}.get(query.when or "")
    rows, total = service.find_meetings(caller, upcoming=upcoming, partnership_id=query.partnership_id,
                                        page=query.page, per_page=query.per_page)
    agendas = service.agendas(caller, rows)
    for meeting in rows:
        service.audit_view(caller, meeting, agendas[meeting.id])
    return jsonify(MeetingList(items=[_meeting_body(caller, m, agendas[m.id]) for m in rows], total=total)
                   .model_dump(mode="json"))


@api.route("/meetings/<int:meeting_id>")
@documented("One meeting, with its agenda as the caller may see it", tag="Meetings",
            responses={200: MeetingOut, 401: ErrorOut, 404: ErrorOut})
def meeting_detail(meeting_id: int) -> ResponseReturnValue:
    caller = actor()
    meeting = load_meeting(meeting_id)
    rows = service.agenda(caller, meeting)
    service.audit_view(caller, meeting, rows)
    return jsonify(_meeting_body(caller, meeting, rows))


@api.route("/meetings/<int:meeting_id>/agenda", methods=["POST"])
@documented(
    "Put a referral on the meeting's agenda",
    tag="Meetings",
    body=AgendaIn,
    responses={201: AgendaItemOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    description="Brokers of the meeting's partnership; the referral must be an accepted or active referral of the "
    "same partnership.",
)
def meeting_agenda_add(meeting_id: int) -> ResponseReturnValue:
    data = read_body(AgendaIn)
    caller = actor()
    meeting = load_meeting(meeting_id, "change_agenda")
    item = service.add_to_agenda(caller, meeting, data.referral_id, data.kind, data.minutes_allotted)
    row = next(r for r in service.agenda(caller, meeting) if r.item.id == item.id)
    return jsonify(_meeting_body(caller, meeting, [row])["agenda"][0]), 201


def _paper(meeting_id: int, build: Callable[[User, PanelMeeting], bytes], name: str) -> ResponseReturnValue:
    """One of a meeting's papers, as the caller's agency may see it."""
    meeting = load_meeting(meeting_id)
    return download(build(actor(), meeting), "application/pdf", f"{name}-{meeting.id}.pdf")


@api.route("/meetings/<int:meeting_id>/invite.ics")
@documented("The meeting as a calendar file (one VEVENT, stable UID, no young person's data)", tag="Meetings",
            responses={200: "text/calendar", 401: ErrorOut, 404: ErrorOut})
def meeting_invite(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id)
    return download(service.calendar_file(meeting), "text/calendar", f"panel-{meeting.id}.ics")


@api.route("/meetings/<int:meeting_id>/pack.pdf")
@pdf_per_person
@documented("The panel pack as the caller's agency may see it", tag="Meetings",
            responses={200: "application/pdf", 401: ErrorOut, 404: ErrorOut})
def meeting_pack(meeting_id: int) -> ResponseReturnValue:
    return _paper(meeting_id, service.pack_pdf, "panel-pack")


@api.route("/meetings/<int:meeting_id>/minutes.pdf")
@pdf_per_person
@documented("The minutes as the caller's agency may see them", tag="Meetings",
            responses={200: "application/pdf", 401: ErrorOut, 404: ErrorOut})
def meeting_minutes(meeting_id: int) -> ResponseReturnValue:
    return _paper(meeting_id, service.minutes_pdf, "minutes")
