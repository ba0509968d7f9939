"""Panel meeting pages: the list, scheduling, the meeting page, the agenda builder, update requests,
meeting mode, minutes, and the documents (pack, minutes, calendar file).

Each view loads the meeting (``doors.load_meeting``, ``doors.load_agenda_item``: only meetings of the
person's partnerships, the step checked against policy.MEETING_STEPS) and lets the service act.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from functools import partial
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import ngettext

from panel_app import policy
from panel_app.doors import actor, all_or_nothing, download, load_agenda_item, load_meeting, load_referral
from panel_app.errors import BadRequest, Conflict, Forbidden, PanelError
from panel_app.models import AgendaItem, AgendaKind, AttendanceStatus, PanelMeeting
from panel_app.pathways import Pathway
from panel_app.services import outbox
from panel_app.services import actions as action_service
from panel_app.services import meetings as service
from panel_app.services.clock import local_timezone
from panel_app.throttling import pdf_per_person
from panel_app.web import actions as action_pages
from panel_app.web import forms
from panel_app.web.form_pages import form_page
from panel_app.web.pagination import page_number, pagination

meetings = Blueprint("meetings", __name__, url_prefix="/meetings")

PER_PAGE = 20


def _shown(meeting: PanelMeeting, anchor: str | None = None) -> str:
    return url_for(".show", meeting_id=meeting.id) + (f"#{anchor}" if anchor else "")


# --- Lists and scheduling -----------------------------------------------------------------------


@meetings.route("/")
def index() -> ResponseReturnValue:
    member = actor()
    page = page_number()
    upcoming, _total = service.find_meetings(member, upcoming=True, per_page=50)
    past, past_total = service.find_meetings(member, upcoming=False, page=page, per_page=PER_PAGE)
    return render_template("meetings/index.html", upcoming=upcoming, past=past,
                           pages=pagination(past_total, page, PER_PAGE),
                           can_schedule=policy.may_open(member, "meetings.new"))


def _local_moment(day: Any, clock: str) -> datetime:
    hours, minutes = (int(part) for part in clock.replace(".", ":").split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=local_timezone())


def _details(form: forms.MeetingForm) -> service.MeetingDetails:
    return service.MeetingDetails(
        starts_at=_local_moment(form.day.data, form.starts.data),
        ends_at=_local_moment(form.day.data, form.ends.data),
        location=form.location.data,
        online_link=form.online_link.data,
        invited_agency_ids=list(form.invited.data or []),
    )


_MEETING_FIELDS = {"starts_at": "starts", "ends_at": "ends", "invited_agency_ids": "invited",
                   "recurrence": "repeat", "partnership_id": "partnership_id"}


@meetings.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    broker = actor()
    partnerships = service.partnerships_to_schedule(broker)
    if not partnerships:
        raise Forbidden(_("You do not broker a partnership."))
    form = forms.MeetingForm()
    form.partnership_id.choices = [(p.id, p.name) for p in partnerships]
    agencies = sorted({a.id: a for p in partnerships for a in p.agencies}.values(), key=lambda a: a.name)
    form.invited.choices = [(a.id, a.name) for a in agencies]
    if request.method == "GET":
        form.invited.data = [a.id for a in agencies]
    del form.version

    def schedule() -> list[PanelMeeting]:
        details = _details(form)
        chosen = next(p for p in partnerships if p.id == form.partnership_id.data)
        # Agencies ticked that are not on this partnership's panel are simply not invited to it.
        panel = {a.id for a in chosen.agencies}
        details.invited_agency_ids = [i for i in details.invited_agency_ids or [] if i in panel]
        rule = service.series_rule(form.repeat.data, details.starts_at, form.occurrences.data or 0)
        if rule is None:
            return [service.schedule(broker, chosen.id, details)]
        return service.schedule_series(broker, chosen.id, details, rule)

    # Which partnerships each agency sits on, so the page can offer only the chosen panel's agencies.
    sits_on = [" ".join(str(p.id) for p in partnerships if agency in p.agencies) for agency in agencies]
    return form_page(
        form, act=schedule, names=_MEETING_FIELDS, then=lambda created: _shown(created[0]),
        done=lambda created: _(
            "Meeting scheduled. Calendar invitations to the invited agencies are queued and will be sent shortly: "
            "the meeting's page shows when they have gone.") if len(created) == 1 else _(
            "%(count)d meetings scheduled. Calendar invitations to the invited agencies are queued and will be sent "
            "shortly: the meeting's page shows when they have gone.", count=len(created)),
        page=partial(render_template, "meetings/new.html", form=form, heading=_("Schedule a panel meeting"),
                     sits_on=sits_on))


# --- One meeting --------------------------------------------------------------------------------


@meetings.route("/<int:meeting_id>")
def show(meeting_id: int) -> ResponseReturnValue:
    member = actor()
    meeting = load_meeting(meeting_id)
    rows = service.agenda(member, meeting)
    service.audit_view(member, meeting, rows)
    return render_template(
        "meetings/show.html", meeting=meeting, rows=rows,
        steps=policy.meeting_steps(member, meeting),
        my_requests=service.requests_for(member, meeting), confirm=forms.ConfirmForm(version=meeting.version),
        attendance={row.agency_id: row for row in meeting.attendance},
        emails=outbox.emails_about(member, "meeting", meeting.id),
    )


@meetings.route("/<int:meeting_id>/edit", methods=["GET", "POST"])
def edit(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id, "reschedule")
    form = forms.MeetingForm()
    form.invited.choices = [(a.id, a.name) for a in meeting.partnership.agencies]
    del form.partnership_id
    del form.repeat
    del form.occurrences
    form.submit.label.text = _("Save changes")
    if request.method == "GET":
        zone = local_timezone()
        form.day.data = meeting.starts_at.astimezone(zone).date()
        form.starts.data = meeting.starts_at.astimezone(zone).strftime("%H:%M")
        form.ends.data = meeting.ends_at.astimezone(zone).strftime("%H:%M")
        form.location.data = meeting.location
        form.online_link.data = meeting.online_link
        form.invited.data = [a.id for a in meeting.invited_agencies]
    return form_page(
        form, record=meeting, names=_MEETING_FIELDS, then=_shown(meeting),
        act=lambda: service.reschedule(actor(), meeting, _details(form), forms._version(form)),
        done=_("Meeting changed. A calendar update for the invited agencies is queued and will be sent shortly."),
        page=partial(render_template, "meetings/new.html", form=form, meeting=meeting,
                     heading=_("Change the meeting")))


@meetings.route("/<int:meeting_id>/cancel", methods=["GET", "POST"])
def cancel(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id, "cancel")
    form = forms.CancelMeetingForm()
    return form_page(
        form, record=meeting, then=_shown(meeting),
        act=lambda: service.cancel(actor(), meeting, form.reason.data, form.version_read()),
        done=_("Meeting cancelled. A cancellation for the invited agencies' calendars is queued and will be sent "
               "shortly."),
        page=partial(render_template, "meetings/form.html", form=form, meeting=meeting,
                     heading=_("Cancel this meeting")))


# --- The agenda ---------------------------------------------------------------------------------


def _agenda_page(meeting: PanelMeeting, form: forms.AgendaAddForm | None = None) -> str:
    rows = service.agenda(actor(), meeting)
    service.audit_view(actor(), meeting, rows, purpose="agenda")
    if form is None:
        form = forms.AgendaAddForm()
        form.referral_id.choices = _referral_choices(meeting)
    total = sum(row.item.minutes_allotted or 0 for row in rows)
    # ``form`` too when it has problems: the layout then shows the error summary and "Error:" in the title.
    extra = {"form": form} if form.errors else {}
    return render_template("meetings/agenda.html", meeting=meeting, rows=rows, add_form=form, total=total,
                           proposals=service.proposals(actor(), meeting), item_form=forms.AgendaItemForm(),
                           closed=policy.why_not_now(policy.MEETING_STEPS, "change_agenda", meeting), **extra)


def _referral_choices(meeting: PanelMeeting) -> list[tuple[int, str]]:
    return [(r.id, r.young_person.full_name) for r in service.referrals_to_add(actor(), meeting)]


def _agenda_url(meeting: PanelMeeting) -> str:
    return url_for(".agenda", meeting_id=meeting.id)


@meetings.route("/<int:meeting_id>/agenda")
def agenda(meeting_id: int) -> ResponseReturnValue:
    return _agenda_page(load_meeting(meeting_id, "change_agenda"))


@meetings.route("/<int:meeting_id>/agenda", methods=["POST"])
def agenda_add(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id, "change_agenda")
    form = forms.AgendaAddForm()
    form.referral_id.choices = _referral_choices(meeting)
    return form_page(form, then=_agenda_url(meeting), done=_("Added to the agenda."),
                     act=lambda: service.add_to_agenda(actor(), meeting, form.referral_id.data,
                                                       AgendaKind(form.kind.data), form.minutes_allotted.data),
                     page=lambda: _agenda_page(meeting, form))


@meetings.route("/<int:meeting_id>/agenda/<int:item_id>", methods=["POST"])
def agenda_item(meeting_id: int, item_id: int) -> ResponseReturnValue:
    item = load_agenda_item(meeting_id, item_id, "change_agenda")
    meeting = item.meeting  # a removed item no longer has one
    form = forms.AgendaItemForm()
    if not form.validate_on_submit():
        if form.minutes_allotted.errors:
            raise BadRequest(_("Enter a number of minutes from 1 to 240."),
                             {"minutes_allotted": str(form.minutes_allotted.errors[0])})
        raise BadRequest(_("Reload the agenda and try again."))
    action = form.action.data
    if action == "remove":
        service.change_agenda_item(actor(), item, remove=True)
    elif action == "minutes":
        if form.minutes_allotted.data is None:
            raise BadRequest(_("Enter a number of minutes from 1 to 240."), {"minutes_allotted": _("Enter minutes")})
        service.change_agenda_item(actor(), item, minutes_allotted=form.minutes_allotted.data)
    else:
        service.change_agenda_item(actor(), item, move=action)
    return redirect(_agenda_url(meeting) + (f"#item-{item.id}" if action != "remove" else ""))


@meetings.route("/<int:meeting_id>/request-updates", methods=["GET", "POST"])
def request_updates(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id, "request_updates")
    form = forms.RequestUpdatesForm()
    return form_page(
        form, record=meeting, then=_shown(meeting), done=_("Each involved agency has been asked for its update."),
        act=lambda: service.request_updates(actor(), meeting, form.due_on.data),
        page=partial(render_template, "meetings/request_updates.html", form=form, meeting=meeting,
                     heading=_("Ask the involved agencies for updates")))


@meetings.route("/<int:meeting_id>/items/<int:item_id>/update", methods=["GET", "POST"])
def send_update(meeting_id: int, item_id: int) -> ResponseReturnValue:
    item = load_agenda_item(meeting_id, item_id, "send_update")
    update = service.update_request_of(actor(), item.meeting, item_id)
    # The agency was asked because it is involved; the case is one it may see.
    referral = load_referral(item.referral_id)
    form = forms.UpdateForm()
    if request.method == "GET":
        form.update.data = update.response
        form.about.data = update.pathway.value if update.pathway else "general"
    return form_page(
        form, then=_shown(item.meeting, f"item-{item.id}"),
        act=lambda: service.send_update(actor(), update, form.update.data, form.pathway()),
        done=_("Update sent. The panel will see it as information sent."),
        page=partial(render_template, "meetings/update.html", form=form, meeting=item.meeting, referral=referral,
                     update=update, heading=_("Send your update")))


@meetings.route("/<int:meeting_id>/items/<int:item_id>/views", methods=["GET", "POST"])
def young_person_views(meeting_id: int, item_id: int) -> ResponseReturnValue:
    item = load_agenda_item(meeting_id, item_id, "record_views")
    referral = load_referral(item.referral_id)
    form = forms.ViewsForm()
    if request.method == "GET":
        form.young_person_views.data = item.young_person_views
    return form_page(
        form, record=item, then=_shown(item.meeting, f"item-{item.id}"),
        act=lambda: service.record_views(actor(), item, form.young_person_views.data, forms._version(form)),
        done=_("The young person's views are attached to their agenda item."),
        page=partial(render_template, "meetings/views.html", form=form, meeting=item.meeting, referral=referral,
                     heading=_("The young person's views")))


# --- Meeting mode -------------------------------------------------------------------------------
# Its forms (attendance, each case's notes, needs and actions) are the chair's: the "write_notes"
# step of policy.MEETING_STEPS, which also offers the page; each service checks its own step.


@meetings.route("/<int:meeting_id>/run")
def run(meeting_id: int) -> ResponseReturnValue:
    """Meeting mode: one page, case by case, on a laptop on a projector."""
    return _meeting_mode(load_meeting(meeting_id, "write_notes"))


def _meeting_mode(meeting: PanelMeeting, refused: tuple[int, Any] | None = None) -> str:
    """The meeting-mode page; ``refused`` is (agenda item id, its action form with errors): shown open
    where it was typed, with the error summary at the top, so nothing typed in the meeting is lost."""
    chair = actor()
    rows = service.agenda(chair, meeting, with_records=True)
    service.audit_view(chair, meeting, rows, purpose="run")
    attendance = forms.attendance_form(list(meeting.invited_agencies), {a.agency_id: a for a in meeting.attendance})
    notes_forms = {row.item.id: forms.NotesForm(prefix=f"item{row.item.id}", notes=row.item.notes,
                                                decisions=row.item.decisions, version=row.item.version,
                                                **_pathway_note_data(row.item))
                   for row in rows}
    needs_forms = {}
    for row in rows:
        needs_form = forms.NeedsForm(prefix=f"needs{row.item.id}", version=row.item.referral.version)
        for need in row.item.referral.needs:
            sub = needs_form.needs()[need.pathway]
            sub.rating.data, sub.note.data = need.rating.value, need.note
        needs_forms[row.item.id] = needs_form
    owed: dict[int, list[Any]] = {}
    for action in action_service.actions_for_meeting(chair, meeting):
        owed.setdefault(action.referral_id, []).append(action)
    action_forms = {row.item.id: action_pages.action_form_for(row.record.referral) for row in rows if row.record}
    extra: dict[str, Any] = {}
    if refused is not None and refused[0] in action_forms:
        action_forms[refused[0]] = extra["form"] = refused[1]
    return render_template("meetings/run.html", meeting=meeting, rows=rows, attendance_form=attendance,
                           owed=owed, action_forms=action_forms,
                           notes_forms=notes_forms, needs_forms=needs_forms,
                           audiences=service.note_audiences(meeting, rows), confirm=forms.ConfirmForm(
                               version=meeting.version), pathways=list(Pathway),
                           steps=policy.meeting_steps(chair, meeting),
                           notes_closed=policy.why_not_now(policy.MEETING_STEPS, "write_notes", meeting), **extra)


def _pathway_note_data(item: AgendaItem) -> dict[str, str]:
    """A case's pathway notes, by their field's name in the notes form."""
    return {f"note_{note.pathway.value}": note.text for note in item.pathway_notes}


def _in_meeting_mode(meeting: PanelMeeting, anchor: str) -> ResponseReturnValue:
    return redirect(url_for(".run", meeting_id=meeting.id) + f"#{anchor}")


@meetings.route("/<int:meeting_id>/attendance", methods=["POST"])
def attendance(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id, "record_attendance")
    agencies = list(meeting.invited_agencies)
    form = forms.attendance_form(agencies, {})
    if not form.validate_on_submit():
        raise BadRequest(_("Choose an attendance for each agency from the list."))
    entries = {
        agency.id: (AttendanceStatus(form[f"status_{agency.id}"].data) if form[f"status_{agency.id}"].data else None,
                    form[f"attendees_{agency.id}"].data)
        for agency in agencies
    }
    service.record_attendance(actor(), meeting, entries)
    flash(_("Attendance saved."), "success")
    return _in_meeting_mode(meeting, "attendance")


@meetings.route("/<int:meeting_id>/items/<int:item_id>/notes", methods=["POST"])
def save_notes(meeting_id: int, item_id: int) -> ResponseReturnValue:
    """Save a case's notes: as the person types (JavaScript sends it and reads JSON back), or with the
    Save button (a plain form post that comes back to meeting mode)."""
    item = load_agenda_item(meeting_id, item_id, "write_notes")
    form = forms.NotesForm(prefix=f"item{item.id}")
    # Meeting mode's script asks for JSON, and gets every answer, refusals included, as JSON.
    wants_json = request.accept_mimetypes.best == "application/json"
    if not form.validate_on_submit():
        fields = {name: str(errors[0]) for name, errors in form.errors.items() if name}
        message = next(iter(fields.values()), _("The notes could not be read. Reload the page and try again."))
        if wants_json:
            return jsonify({"error": {"code": "bad_request", "message": message, "fields": fields}}), 400
        raise BadRequest(message, fields)
    try:
        with all_or_nothing():
            saved = service.save_notes(actor(), item, form.notes.data, form.decisions.data, int(form.version.data),
                                       form.pathway_notes())
    except PanelError as error:
        if not wants_json:
            raise
        body: dict[str, Any] = {"error": {"code": error.code, "message": error.message}}
        if isinstance(error, Conflict):
            # The pathways' notes that exist (the page's script empties the other fields).
            body["current"] = {"notes": item.notes or "", "decisions": item.decisions or "", "version": item.version,
                               **_pathway_note_data(item)}
        return jsonify(body), error.status
    if wants_json:
        return jsonify({"version": saved.version,
                        "saved_at": format_datetime(saved.updated_at, "HH:mm:ss"),
                        "message": _("Saved at %(time)s", time=format_datetime(saved.updated_at, "HH:mm:ss"))})
    flash(_("Notes saved."), "success")
    return _in_meeting_mode(item.meeting, f"item-{item.id}")


@meetings.route("/<int:meeting_id>/items/<int:item_id>/needs", methods=["POST"])
def rate_needs(meeting_id: int, item_id: int) -> ResponseReturnValue:
    item = load_agenda_item(meeting_id, item_id, "write_notes")
    form = forms.NeedsForm(prefix=f"needs{item.id}")
    if not form.validate_on_submit():
        raise BadRequest(_("Choose a rating for each pathway; notes must be 4000 characters or fewer."))
    changed = service.rate_needs(actor(), item, form.need_inputs(), form.version_read())
    flash(ngettext("%(num)d pathway re-rated.", "%(num)d pathways re-rated.", len(changed)) if changed
          else _("No rating changed."), "success")
    return _in_meeting_mode(item.meeting, f"item-{item.id}")


@meetings.route("/<int:meeting_id>/items/<int:item_id>/actions", methods=["POST"])
def create_action(meeting_id: int, item_id: int) -> ResponseReturnValue:
    """Meeting mode: record an action agreed on a case, in place. Not a ``form_page``: a refusal
    (403, 404) is an error page, not a problem shown beside the case, and so is a form that did not
    come from the page."""
    item = load_agenda_item(meeting_id, item_id, "write_notes")
    referral = load_referral(item.referral_id)
    form = action_pages.action_form_for(referral)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            raise BadRequest(_("Reload the page and try again."))
        return _meeting_mode(item.meeting, (item.id, form)), 400
    try:
        with all_or_nothing():
            action = action_service.create_action(actor(), referral, action_service.NewAction(
                pathway=Pathway(form.pathway.data), description=form.description.data or "",
                agency_id=form.agency_id.data, due_on=form.due_on.data,
                owner_user_id=form.owner_user_id.data or None, meeting_id=item.meeting_id))
    except PanelError as error:
        if error.status in (403, 404):
            raise
        forms.apply_problems(form, error)
        return _meeting_mode(item.meeting, (item.id, form)), error.status
    flash(_("Action recorded for %(agency)s.", agency=action.owner_agency.name), "success")
    return _in_meeting_mode(item.meeting, f"item-{item.id}")


@meetings.route("/<int:meeting_id>/send-packs", methods=["POST"])
def send_packs(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id, "send_packs")
    if not forms.ConfirmForm().validate_on_submit():
        raise BadRequest(_("Reload the page and try again."))
    sent = service.send_packs(actor(), meeting)
    flash(ngettext("Pack queued for %(num)d agency, with only the cases it is involved in. It will be sent shortly: "
                   "the emails below show when it has gone.",
                   "Packs queued for %(num)d agencies, each with only the cases it is involved in. They will be sent "
                   "shortly: the emails below show when they have gone.", sent), "success")
    return redirect(_shown(meeting))


@meetings.route("/<int:meeting_id>/held", methods=["POST"])
def mark_held(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id, "mark_held")
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        raise BadRequest(_("Reload the page and try again."))
    service.mark_held(actor(), meeting, form.version_read())
    flash(_("Meeting marked as held. Write up and approve the minutes when you are ready."), "success")
    return redirect(url_for(".minutes", meeting_id=meeting.id))


@meetings.route("/<int:meeting_id>/minutes", methods=["GET", "POST"])
def minutes(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id, "save_minutes")
    form = forms.MinutesForm()
    if request.method == "GET":
        form.minutes_notes.data = meeting.minutes_notes

    def save() -> int | None:
        """Approving sends the minutes (how many agencies they were queued for); a draft sends nothing."""
        if form.approve.data:
            return service.approve_minutes(actor(), meeting, form.minutes_notes.data, form.version_read())
        service.save_minutes(actor(), meeting, form.minutes_notes.data, form.version_read())
        return None

    def page() -> str:
        rows = service.agenda(actor(), meeting)
        service.audit_view(actor(), meeting, rows, purpose="minutes_view")
        return render_template("meetings/minutes.html", form=form, meeting=meeting, rows=rows,
                               heading=_("Minutes"), steps=policy.meeting_steps(actor(), meeting))

    return form_page(
        form, record=meeting, act=save, page=page,
        done=lambda sent: _("Draft saved.") if sent is None else ngettext(
            "Minutes approved and queued for %(num)d agency, with only its own cases. They will be sent shortly: "
            "the emails below show when they have gone.",
            "Minutes approved and queued for %(num)d agencies, each with only its own cases. They will be sent "
            "shortly: the emails below show when they have gone.", sent),
        then=lambda sent: url_for(".minutes", meeting_id=meeting.id) if sent is None else _shown(meeting))


# --- Documents ----------------------------------------------------------------------------------


def _agency_param() -> int | None:
    raw = request.args.get("agency")
    if raw is None:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise BadRequest(_("The agency must be given by its number."), {"agency": _("Not a number")})
    return int(raw)


def _paper(meeting_id: int, build: Callable[..., bytes], name: str) -> ResponseReturnValue:
    """One of a meeting's papers as the caller's agency may see it (the broker: ``?agency=`` previews
    what that agency receives)."""
    meeting = load_meeting(meeting_id)
    return download(build(actor(), meeting, agency_id=_agency_param()), "application/pdf",
                    f"{name}-{meeting.id}.pdf", inline=True)


@meetings.route("/<int:meeting_id>/pack.pdf")
@pdf_per_person
def pack_pdf(meeting_id: int) -> ResponseReturnValue:
    return _paper(meeting_id, service.pack_pdf, "panel-pack")


@meetings.route("/<int:meeting_id>/minutes.pdf")
@pdf_per_person
def minutes_pdf(meeting_id: int) -> ResponseReturnValue:
    return _paper(meeting_id, service.minutes_pdf, "minutes")


@meetings.route("/<int:meeting_id>/actions.pdf")
@pdf_per_person
def actions_pdf(meeting_id: int) -> ResponseReturnValue:
    return _paper(meeting_id, service.actions_pdf, "actions")


@meetings.route("/<int:meeting_id>/invite.ics")
def invite_ics(meeting_id: int) -> ResponseReturnValue:
    meeting = load_meeting(meeting_id)
    return download(service.calendar_file(meeting), "text/calendar", f"panel-{meeting.id}.ics")
