"""Panel meetings: schedule (once or as a series), reschedule, cancel; build the agenda; ask the
involved agencies for updates; run the meeting; approve and send the minutes.

Times come in timezone-aware, are stored in UTC and are shown in the partnership's time zone
(``PANEL_TIMEZONE``, Europe/London by default). Every email goes to the outbox in the change's
transaction (the worker sends it after the commit), and carries no young person's name: initials
and links only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.rrule import rrulestr
from flask import current_app
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from panel_app import audit, policy
from panel_app.documents import calendar
from panel_app.documents.pdf import render_pdf
from panel_app.errors import Conflict, Forbidden, NotFound, RuleBroken
from panel_app.models import (
    Agency,
    AgendaItem,
    AgendaKind,
    AgendaNote,
    Attendance,
    AttendanceStatus,
    MeetingSeries,
    MeetingStatus,
    MinutesStatus,
    NeedRating,
    PanelMeeting,
    Partnership,
    Referral,
    ReferralStatus,
    UpdateRequest,
    User,
    db,
    utcnow,
)
from panel_app.models.base import MAX_ID
from panel_app.pathways import RESTRICTED_PATHWAYS, Pathway
from panel_app.services import outbox
from panel_app.services import actions as action_service
from panel_app.services import referral_views
from panel_app.services import referrals as referral_service
from panel_app.services.base import Problems, check_version, one_text, page_of
from panel_app.services.clock import local_date, local_timezone, today

LOCATION_MAX = 200
LINK_MAX = 500
TEXT_MAX = 20_000
ATTENDEES_MAX = 500
MAX_OCCURRENCES = 24
LONGEST_MEETING = timedelta(hours=12)
REVIEW_EVERY = timedelta(weeks=8)
RELEASE_WINDOW = timedelta(weeks=6)


# --- What comes in ------------------------------------------------------------------------------


@dataclass
class MeetingDetails:
    starts_at: datetime
    ends_at: datetime
    location: str | None = None
    online_link: str | None = None
    # The agencies to invite; every member agency of the partnership when left out.
    invited_agency_ids: list[int] | None = None


def _check_details(details: MeetingDetails, partnership: Partnership, *, new: bool) -> None:
    problems = Problems()
    if details.starts_at.tzinfo is None or details.ends_at.tzinfo is None:
        problems.add("starts_at", _("Give the time with its time zone"))
    elif details.ends_at <= details.starts_at:
        problems.add("ends_at", _("The meeting must end after it starts"))
    elif details.ends_at - details.starts_at > LONGEST_MEETING:
        problems.add("ends_at", _("A panel meeting cannot last more than 12 hours"))
    elif new and details.starts_at < utcnow() - timedelta(days=1):
        problems.add("starts_at", _("A new meeting must be in the future"))
    details.location = problems.text("location", details.location, LOCATION_MAX)
    details.online_link = problems.text("online_link", details.online_link, LINK_MAX)
    if details.online_link and not details.online_link.lower().startswith("https://"):
        problems.add("online_link", _("The online link must start with https://"))
    if not details.location and not details.online_link:
        problems.add("location", _("Give a place, an online link, or both"))
    members = {agency.id for agency in partnership.agencies}
    if details.invited_agency_ids is not None and not set(details.invited_agency_ids) <= members:
        problems.add("invited_agency_ids", _("Invite only agencies on this partnership's panel"))
    problems.raise_if_any()


def _partnership_to_manage(actor: User, partnership_id: int) -> Partnership:
    partnership = db.session.scalar(
        policy.visible_partnerships(actor).where(Partnership.id == partnership_id)
        .options(selectinload(Partnership.agencies))
    ) if 0 < partnership_id <= MAX_ID else None
    if partnership is None:
        raise NotFound(_("There is no partnership with that id that you work in."), {"partnership_id": _("Not found")})
    if not policy.is_broker_of(actor, partnership.id):
        raise Forbidden(_("Only the partnership's broker schedules its panels."))
    return partnership


def _invited(partnership: Partnership, ids: list[int] | None) -> list[Agency]:
    if ids is None:
        return list(partnership.agencies)
    return [agency for agency in partnership.agencies if agency.id in set(ids)]


def meeting_url(meeting: PanelMeeting) -> str:
    """The meeting's page, on the service's public address (for calendar files)."""
    return outbox.link("meetings.show", meeting_id=meeting.id)


def local(moment: datetime) -> str:
    return format_datetime(moment, "EEEE d MMMM yyyy, HH:mm")


# --- Scheduling ---------------------------------------------------------------------------------


def schedule(actor: User, partnership_id: int, details: MeetingDetails) -> PanelMeeting:
    """Schedule one panel meeting and invite the member agencies (email with a calendar file)."""
    partnership = _partnership_to_manage(actor, partnership_id)
    _check_details(details, partnership, new=True)
    meeting = _new_meeting(actor, partnership, details)
    db.session.flush()
    _send_invitations(actor, [meeting], kind="invitation")
    audit.record("meeting.schedule", actor=actor, record_type="meeting", record_id=meeting.id)
    return meeting


def _new_meeting(actor: User, partnership: Partnership, details: MeetingDetails,
                 series: MeetingSeries | None = None) -> PanelMeeting:
    meeting = PanelMeeting(
        partnership=partnership,
        series=series,
        starts_at=details.starts_at.astimezone(UTC),
        ends_at=details.ends_at.astimezone(UTC),
        location=details.location,
        online_link=details.online_link,
        uid=f"{uuid.uuid4()}@panel_app",
        created_by_id=actor.id,
    )
    meeting.invited_agencies = _invited(partnership, details.invited_agency_ids)
    db.session.add(meeting)
    return meeting


# The parts of an RFC 5545 rule a panel's rhythm needs; anything else (hours, minutes, months of the
# year...) could make meetings overlap or never happen, so it is refused.
_RULE_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYSETPOS", "WKST"}
# However a rule is written, the search for its meetings stops this far ahead.
SERIES_HORIZON = timedelta(days=3 * 366)


def occurrences(first_start: datetime, rule: str, length: timedelta = timedelta(0)) -> list[datetime]:
    """The local start times a recurrence rule gives, from ``first_start`` (aware, in local time).

    The rule runs on local wall-clock time, so a 10:00 panel stays at 10:00 when the clocks change
    (09:00 UTC in summer, 10:00 UTC in winter). Meetings of a series may not overlap (``length``).
    """
    zone = local_timezone()
    start = first_start.astimezone(zone).replace(tzinfo=None)
    text = rule.strip().upper().removeprefix("RRULE:")
    try:
        parts = dict(part.split("=", 1) for part in text.split(";") if part)
    except ValueError:
        parts = {}
    invalid = RuleBroken(_("The recurrence rule is not one this service understands."),
                         {"recurrence": _("Check the recurrence rule")})
    if parts.get("FREQ") not in {"WEEKLY", "MONTHLY"}:
        raise RuleBroken(_("The recurrence must be weekly or monthly."), {"recurrence": _("Weekly or monthly")})
    if not set(parts) <= _RULE_PARTS:
        raise invalid
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise RuleBroken(_("Say how many meetings, or until when."), {"recurrence": _("Add COUNT or UNTIL")})
    if not parts.get("INTERVAL", "1").isdigit() or not 1 <= int(parts.get("INTERVAL", "1")) <= 12:
        raise RuleBroken(_("The interval must be from 1 to 12."), {"recurrence": _("Check the interval")})
    count = parts.pop("COUNT", None)
    if count is not None and not count.isdigit():
        raise invalid
    if count is not None and int(count) == 0:
        raise RuleBroken(_("The recurrence gives no meetings."), {"recurrence": _("Check the recurrence rule")})
    if count is not None and int(count) > MAX_OCCURRENCES:
        raise RuleBroken(_("Schedule at most %(count)d meetings at once.", count=MAX_OCCURRENCES),
                         {"recurrence": _("Too many meetings")})
    # Bound the search: a COUNT becomes "the first COUNT meetings before the horizon".
    horizon = start + SERIES_HORIZON
    parts["UNTIL"] = min(parts.get("UNTIL", "99991231T235959"), horizon.strftime("%Y%m%dT%H%M%S"))
    try:
        recurrence = rrulestr("RRULE:" + ";".join(f"{key}={value}" for key, value in parts.items()), dtstart=start)
        found = []
        for moment in recurrence:
            found.append(moment.replace(tzinfo=zone))
            if len(found) > MAX_OCCURRENCES or (count is not None and len(found) == int(count)):
                break
    except (ValueError, TypeError, KeyError):
        raise invalid from None
    if not found:
        raise RuleBroken(_("The recurrence gives no meetings."), {"recurrence": _("Check the recurrence rule")})
    if len(found) > MAX_OCCURRENCES:
        raise RuleBroken(_("Schedule at most %(count)d meetings at once.", count=MAX_OCCURRENCES),
                         {"recurrence": _("Too many meetings")})
    for earlier, later in zip(found, found[1:]):
        if later.replace(tzinfo=None) < earlier.replace(tzinfo=None) + max(length, timedelta(minutes=1)):
            raise RuleBroken(_("The recurrence makes meetings overlap."), {"recurrence": _("Meetings overlap")})
    return found


def schedule_series(actor: User, partnership_id: int, first: MeetingDetails, rule: str) -> list[PanelMeeting]:
    """Schedule a series (e.g. ``FREQ=MONTHLY;BYDAY=1TU;COUNT=6``): one meeting per occurrence,
    each its own calendar event, announced to each agency in one email."""
    partnership = _partnership_to_manage(actor, partnership_id)
    _check_details(first, partnership, new=True)
    length = first.ends_at - first.starts_at
    starts = occurrences(first.starts_at, rule, length)
    series = MeetingSeries(partnership_id=partnership.id, rule=rule.strip().upper().removeprefix("RRULE:"),
                           created_by_id=actor.id)
    db.session.add(series)
    meetings = []
    for start in starts:
        # The same wall-clock length each time, whatever the clocks did in between.
        end_local = (start.replace(tzinfo=None) + length).replace(tzinfo=start.tzinfo)
        details = MeetingDetails(start, end_local, first.location, first.online_link, first.invited_agency_ids)
        meetings.append(_new_meeting(actor, partnership, details, series))
    db.session.flush()
    _send_invitations(actor, meetings, kind="invitation")
    audit.record("meeting.schedule_series", actor=actor, record_type="meeting_series", record_id=series.id,
                 detail={"meeting_ids": [m.id for m in meetings]})
    return meetings


def _require_step(actor: User, meeting: PanelMeeting, step: str,
                  between: Callable[[], object] | None = None) -> None:
    """Who may take the step and in which states of the meeting: ``policy.MEETING_STEPS``.
    ``between`` runs once the person is known to be allowed, before the state is judged (the version
    check, or the agenda's lock so that the state judged is the current one)."""
    policy.require_step(actor, policy.MEETING_STEPS, step, meeting, before_state=between)


def _require_item_step(actor: User, item: AgendaItem, step: str,
                       between: Callable[[], object] | None = None) -> None:
    """The same for one case of the agenda: ``policy.AGENDA_ITEM_STEPS``."""
    policy.require_step(actor, policy.AGENDA_ITEM_STEPS, step, item, before_state=between)


_STALE = _l("Someone else changed this meeting since you opened it. Check the latest details, then try again.")


def reschedule(actor: User, meeting: PanelMeeting, details: MeetingDetails, version: int | None = None) -> None:
    """Move a meeting or change its place: the invited agencies get a calendar update (same UID,
    higher SEQUENCE)."""
    _require_step(actor, meeting, "reschedule", lambda: check_version(meeting, version, _STALE))
    _check_details(details, meeting.partnership, new=False)
    meeting.starts_at = details.starts_at.astimezone(UTC)
    meeting.ends_at = details.ends_at.astimezone(UTC)
    meeting.location, meeting.online_link = details.location, details.online_link
    dropped: list[Agency] = []
    if details.invited_agency_ids is not None:
        invited = _invited(meeting.partnership, details.invited_agency_ids)
        dropped = [agency for agency in meeting.invited_agencies if agency not in invited]
        meeting.invited_agencies = invited
    meeting.sequence += 1
    db.session.flush()
    _send_invitations(actor, [meeting], kind="update")
    # An agency no longer invited gets a cancellation, so its calendar drops the meeting.
    _send_invitations(actor, [meeting], kind="cancellation", agencies=dropped)
    audit.record("meeting.reschedule", actor=actor, record_type="meeting", record_id=meeting.id)


def cancel(actor: User, meeting: PanelMeeting, reason: str | None, version: int | None = None) -> None:
    """Cancel a meeting: the invited agencies' calendars remove it (METHOD:CANCEL)."""
    _require_step(actor, meeting, "cancel", lambda: check_version(meeting, version, _STALE))
    reason = one_text("reason", reason, TEXT_MAX)
    meeting.status = MeetingStatus.CANCELLED
    meeting.cancellation_reason = reason
    meeting.sequence += 1
    db.session.flush()
    _send_invitations(actor, [meeting], kind="cancellation")
    audit.record("meeting.cancel", actor=actor, record_type="meeting", record_id=meeting.id)


def _send_invitations(actor: User, meetings: list[PanelMeeting], *, kind: str,
                      agencies: list[Agency] | None = None) -> None:
    """One email per agency (the invited ones, unless ``agencies`` is given), with one calendar file
    per meeting: a request, or (``kind`` "cancellation") a cancellation."""
    by_agency: dict[int, tuple[Agency, list[PanelMeeting]]] = {}
    for meeting in meetings:
        for agency in meeting.invited_agencies if agencies is None else agencies:
            by_agency.setdefault(agency.id, (agency, []))[1].append(meeting)
    organizer = _sender_address()
    for agency, its_meetings in by_agency.values():
        if not agency.contact_email:
            continue
        first = its_meetings[0]
        cancelling = kind == "cancellation"
        attachments = [
            outbox.Attachment(f"panel-{meeting.starts_at.astimezone(local_timezone()):%Y-%m-%d}.ics",
                            "text/calendar; method=" + ("CANCEL" if cancelling else "REQUEST"),
                            calendar.meeting_invitation(meeting, url=meeting_url(meeting), organizer=organizer,
                                                        attendees=[agency.contact_email], cancel=cancelling))
            for meeting in its_meetings
        ]
        outbox.queue_template(f"meeting_{kind}.txt", agency.contact_email, attachments, kind=f"meeting.{kind}",
                              agency_id=agency.id, meeting_id=first.id, about=("meeting", first.id), sent_by=actor,
                              agency=agency, meetings=its_meetings)


def _sender_address() -> str:
    sender = current_app.config["MAIL_SENDER"]
    return sender.split("<")[-1].rstrip(">").strip()


# --- Finding meetings ---------------------------------------------------------------------------


def get_meeting(actor: User, meeting_id: int) -> PanelMeeting:
    """One meeting of a partnership the actor is a member of; 404 otherwise."""
    meeting = db.session.scalar(
        policy.visible_meetings(actor).where(PanelMeeting.id == meeting_id)
        .options(joinedload(PanelMeeting.partnership).selectinload(Partnership.agencies),
                 selectinload(PanelMeeting.invited_agencies),
                 selectinload(PanelMeeting.attendance))
    ) if 0 < meeting_id <= MAX_ID else None
    if meeting is None:
        raise NotFound(_("Meeting not found."))
    return meeting


def find_meetings(actor: User, *, upcoming: bool | None = None, partnership_id: int | None = None,
                  page: int = 1, per_page: int = 25) -> tuple[list[PanelMeeting], int]:
    """Meetings of the actor's partnerships: upcoming soonest first, or past latest first."""
    query = policy.visible_meetings(actor)
    now = utcnow()
    if upcoming is True:
        query = query.where(PanelMeeting.ends_at >= now - timedelta(hours=12)).order_by(PanelMeeting.starts_at)
    elif upcoming is False:
        query = query.where(PanelMeeting.ends_at < now - timedelta(hours=12)).order_by(PanelMeeting.starts_at.desc())
    else:
        query = query.order_by(PanelMeeting.starts_at.desc())
    if partnership_id is not None:
        query = query.where(PanelMeeting.partnership_id == partnership_id)
    return page_of(query.options(joinedload(PanelMeeting.partnership), selectinload(PanelMeeting.items)),
                   page=page, per_page=per_page)


def partnerships_to_schedule(actor: User) -> list[Partnership]:
    return [p for p in db.session.scalars(
        policy.visible_partnerships(actor).options(selectinload(Partnership.agencies))
    ) if policy.is_broker_of(actor, p.id)]


# --- The agenda ---------------------------------------------------------------------------------


def _lock_agenda(meeting: PanelMeeting) -> None:
    """Changes to one meeting's agenda, one at a time: the meeting's row is locked (SELECT ... FOR
    UPDATE on PostgreSQL) until the request commits, and the agenda is read afresh under the lock.
    Without it, two brokers adding at once both read the same agenda: both give the next position
    (1, 2, 2, 2...) and both pass the "already on the agenda" check. SQLite lets one writer in at a
    time anyway."""
    db.session.execute(select(PanelMeeting.id).where(PanelMeeting.id == meeting.id).with_for_update())
    db.session.expire(meeting)  # its status and agenda are read again, as they are under the lock


def add_to_agenda(actor: User, meeting: PanelMeeting, referral_id: int, kind: AgendaKind,
                  minutes_allotted: int | None = None) -> AgendaItem:
    """Put a referral of the meeting's partnership on its agenda."""
    _require_step(actor, meeting, "change_agenda", lambda: _lock_agenda(meeting))
    referral = db.session.scalar(
        policy.visible_referrals(actor).where(Referral.id == referral_id)
    ) if 0 < referral_id <= MAX_ID else None
    if referral is None:
        raise RuleBroken(_("There is no referral with that id that you can see."), {"referral_id": _("Not found")})
    if referral.partnership_id != meeting.partnership_id:
        raise RuleBroken(_("Only referrals to this meeting's partnership can go on its agenda."),
                         {"referral_id": _("Another partnership's referral")})
    if not policy.goes_on_agenda(referral):
        raise RuleBroken(_("Only accepted or active referrals go on an agenda (not submitted, declined or closed "
                           "ones)."), {"referral_id": _("Not accepted, or closed")})
    if any(item.referral_id == referral.id for item in meeting.items):
        raise RuleBroken(_("This referral is already on the agenda."), {"referral_id": _("Already on the agenda")})
    _check_minutes(minutes_allotted)
    item = AgendaItem(referral=referral, kind=kind, position=len(meeting.items) + 1,
                      minutes_allotted=minutes_allotted, updated_by_id=actor.id)
    meeting.items.append(item)
    try:
        db.session.flush()
    except IntegrityError:
        # The lock should make this impossible; the unique constraint is the last word all the same.
        raise Conflict(_("Someone else put this referral on the agenda at the same time. Reload the agenda."),
                       {"referral_id": _("Already on the agenda")}) from None
    audit.record("meeting.agenda_add", actor=actor, record_type="referral", record_id=referral.id,
                 detail={"meeting_id": meeting.id})
    return item


def _check_minutes(minutes: int | None) -> None:
    if minutes is not None and not 1 <= minutes <= 240:
        raise RuleBroken(_("Give between 1 and 240 minutes."), {"minutes_allotted": _("Between 1 and 240")})


def change_agenda_item(actor: User, item: AgendaItem, *, move: str | None = None, minutes_allotted: int | None = None,
                       remove: bool = False) -> None:
    """Remove an agenda item, time-box it, or move it ``up`` or ``down``: one change at a time, as the
    agenda page sends them (``policy.AGENDA_ITEM_STEPS``)."""
    meeting = item.meeting
    step = "remove" if remove else "time_box" if minutes_allotted is not None else "move"
    _require_item_step(actor, item, step, lambda: _lock_agenda(meeting))
    if item not in meeting.items:
        raise Conflict(_("Someone else removed this item from the agenda just now. Reload the agenda."))
    items = list(meeting.items)
    if remove:
        meeting.items.remove(item)  # the relationship's delete-orphan cascade deletes the row
        for position, other in enumerate((i for i in items if i is not item), start=1):
            other.position = position
        audit.record("meeting.agenda_remove", actor=actor, record_type="referral", record_id=item.referral_id,
                     detail={"meeting_id": meeting.id})
        return
    if minutes_allotted is not None:
        _check_minutes(minutes_allotted)
        item.minutes_allotted = minutes_allotted
    elif move in ("up", "down"):
        index = items.index(item)
        other_index = index - 1 if move == "up" else index + 1
        if 0 <= other_index < len(items):
            items[index].position, items[other_index].position = items[other_index].position, items[index].position
    item.updated_by_id = actor.id


@dataclass
class Proposal:
    referral: Referral
    reasons: list[str]
    kind: AgendaKind


def proposals(actor: User, meeting: PanelMeeting) -> list[Proposal]:
    """What is due at this meeting and not yet on its agenda: accepted referrals never discussed,
    reviews due (not discussed for eight weeks), releases within six weeks of the meeting."""
    on_agenda = {item.referral_id for item in meeting.items}
    discussed = (
        select(AgendaItem.referral_id, func.max(PanelMeeting.starts_at).label("last"))
        .join(PanelMeeting, AgendaItem.meeting_id == PanelMeeting.id)
        .where(PanelMeeting.status == MeetingStatus.HELD, PanelMeeting.id != meeting.id)
        .group_by(AgendaItem.referral_id)
        .subquery()
    )
    rows = db.session.execute(
        policy.agenda_candidates(actor, meeting)
        .add_columns(discussed.c.last)
        .outerjoin(discussed, discussed.c.referral_id == Referral.id)
        .options(joinedload(Referral.young_person), selectinload(Referral.needs))
        .order_by(Referral.expected_release_on.is_(None), Referral.expected_release_on, Referral.id)
    ).unique().all()
    meeting_day = local_date(meeting.starts_at)
    found = []
    for referral, last in rows:
        if referral.id in on_agenda:
            continue
        reasons = []
        kind = AgendaKind.REVIEW
        if last is None:
            reasons.append(_("New: not yet discussed at a panel"))
            kind = AgendaKind.NEW
        elif last <= meeting.starts_at - REVIEW_EVERY:
            reasons.append(_("Review due: last discussed %(date)s", date=format_datetime(last, "d MMMM yyyy")))
        release = referral.expected_release_on
        if release is not None and meeting_day <= release <= meeting_day + RELEASE_WINDOW:
            reasons.append(_("Release on %(date)s", date=format_datetime(
                datetime.combine(release, datetime.min.time(), tzinfo=local_timezone()), "d MMMM yyyy")))
        if reasons:
            found.append(Proposal(referral, reasons, kind))
    return found


def request_updates(actor: User, meeting: PanelMeeting, due_on: date) -> int:
    """Ask every agency involved in each case on the agenda for its update by ``due_on``.
    One email per agency, naming cases by initials only. Returns how many requests were made."""
    _require_step(actor, meeting, "request_updates")
    problems = Problems()
    if due_on < today():
        problems.add("due_on", _("The deadline must be today or later"))
    elif due_on > local_date(meeting.starts_at):
        problems.add("due_on", _("The deadline must be on or before the day of the meeting"))
    problems.raise_if_any()
    if not meeting.items:
        raise RuleBroken(_("Put cases on the agenda first."))
    made = 0
    asked: dict[int, tuple[Agency, list[str]]] = {}
    for item in meeting.items:
        for agency in policy.agencies_involved(item.referral):
            existing = next((r for r in item.update_requests if r.agency_id == agency.id), None)
            if existing is not None:
                existing.due_on = due_on
            else:
                item.update_requests.append(UpdateRequest(agency_id=agency.id, due_on=due_on,
                                                          requested_by_id=actor.id))
                made += 1
            asked.setdefault(agency.id, (agency, []))[1].append(item.referral.young_person.initials)
    db.session.flush()
    for agency, initials in asked.values():
        if not agency.contact_email:
            continue
        outbox.queue_template("meeting_update_request.txt", agency.contact_email, kind="meeting.update_request",
                              agency_id=agency.id, meeting_id=meeting.id, about=("meeting", meeting.id), sent_by=actor,
                              agency=agency, meeting=meeting, due_on=due_on, initials=initials)
    audit.record("meeting.request_updates", actor=actor, record_type="meeting", record_id=meeting.id,
                 detail={"requests": made})
    return made


def send_packs(actor: User, meeting: PanelMeeting) -> int:
    """Email each invited agency its own panel pack (PDF): in full only the cases it is involved in.
    Returns how many agencies one was queued for."""
    _require_step(actor, meeting, "send_packs")
    if not meeting.items:
        raise RuleBroken(_("Put cases on the agenda before sending the packs."))
    sent = 0
    for agency in meeting.invited_agencies:
        if not agency.contact_email:
            continue
        viewer = policy.agency_viewer(agency)
        rows = agenda(viewer, meeting, with_records=True)
        pdf = render_pdf("pdf/pack.html", meeting=meeting, rows=rows, audience=agency.name, generated_at=utcnow())
        outbox.queue_template("meeting_pack.txt", agency.contact_email,
                              [outbox.Attachment(f"panel-pack-{meeting.id}.pdf", "application/pdf", pdf)],
                              kind="meeting.pack", agency_id=agency.id, meeting_id=meeting.id,
                              about=("meeting", meeting.id), sent_by=actor, agency=agency, meeting=meeting)
        _audit_export(actor, meeting, "pack", rows, agency)
        sent += 1
    return sent


def send_update(actor: User, request: UpdateRequest, text: str, pathway: Pathway | None = None) -> None:
    """An involved agency sends its update on a case ("information sent"), saying which pathway it is
    about (``None``: general). A health or substance-misuse update reaches only those who may read
    that pathway's text (``policy.can_read_text_about``); a general one, everyone who sees the case."""
    if not policy.is_asked(actor, request):
        raise Forbidden(_("Only the agency asked can send this update."))
    _require_item_step(actor, request.item, "send_update")
    text_value = one_text("update", text, TEXT_MAX, required=_("Enter your update"))
    request.response = text_value
    request.pathway = pathway
    request.responded_at = utcnow()
    request.responded_by_id = actor.id
    audit.record("meeting.send_update", actor=actor, record_type="referral", record_id=request.item.referral_id,
                 detail={"meeting_id": request.item.meeting_id, "pathway": pathway.value if pathway else None})


def record_views(actor: User, item: AgendaItem, views: str | None, version: int | None = None) -> None:
    """The young person's own views, gathered before the panel, attached to their agenda item."""
    _require_item_step(actor, item, "record_views")
    check_version(item, version, _l("Someone else changed this case's notes since you opened them."))
    item.young_person_views = one_text("young_person_views", views, TEXT_MAX)
    item.updated_by_id = actor.id
    audit.record("meeting.views", actor=actor, record_type="referral", record_id=item.referral_id,
                 detail={"meeting_id": item.meeting_id})


# --- Running the meeting ------------------------------------------------------------------------


def record_attendance(actor: User, meeting: PanelMeeting,
                      entries: dict[int, tuple[AttendanceStatus | None, str | None]]) -> None:
    """Who came for each invited agency."""
    _require_step(actor, meeting, "record_attendance")
    invited = {agency.id for agency in meeting.invited_agencies}
    problems = Problems()
    if not set(entries) <= invited:
        problems.add("attendance", _("Record attendance only for invited agencies"))
    current = {row.agency_id: row for row in meeting.attendance}
    for agency_id, (status, attendees) in entries.items():
        attendees = problems.text(f"attendees-{agency_id}", attendees, ATTENDEES_MAX)
        if agency_id not in invited:
            continue
        row = current.get(agency_id)
        if status is None:
            if row is not None:
                meeting.attendance.remove(row)
            continue
        if row is None:
            row = Attendance(agency_id=agency_id, status=status, recorded_by_id=actor.id)
            meeting.attendance.append(row)
        row.status, row.attendees, row.recorded_by_id, row.recorded_at = status, attendees, actor.id, utcnow()
    problems.raise_if_any()
    audit.record("meeting.attendance", actor=actor, record_type="meeting", record_id=meeting.id)


def save_notes(actor: User, item: AgendaItem, notes: str | None, decisions: str | None, version: int,
               pathway_notes: dict[Pathway, str | None] | None = None) -> AgendaItem:
    """Save a case's discussion notes and decisions, as typed in meeting mode.

    ``notes`` is the general note (everyone who sees the case reads it); ``pathway_notes`` the notes
    about one pathway each (a pathway left out is left as it was; an empty one is removed). A health
    or substance-misuse note reaches only those who may read that pathway's text.
    ``version`` is the version the laptop last saw: if someone else saved since, nothing is saved and
    the conflict says so (the page then shows their text beside yours).
    """
    _require_item_step(actor, item, "write_notes")
    check_version(item, version, lambda: _(
        "%(name)s saved these notes at %(when)s, after you opened them. Their text is shown; copy what you need "
        "from yours, then save again.", name=item.updated_by.name if item.updated_by else _("Someone else"),
        when=format_datetime(item.updated_at, "HH:mm")))
    problems = Problems()
    notes = problems.text("notes", notes, TEXT_MAX)
    decisions = problems.text("decisions", decisions, TEXT_MAX)
    wanted = {pathway: problems.text(f"note_{pathway.value}", text, TEXT_MAX)
              for pathway, text in (pathway_notes or {}).items()}
    problems.raise_if_any()
    current = {note.pathway: note for note in item.pathway_notes}
    changed = [pathway for pathway, text in wanted.items()
               if text != (current[pathway].text if pathway in current else None)]
    if (notes, decisions) == (item.notes, item.decisions) and not changed:
        return item
    for pathway in changed:
        text, note = wanted[pathway], current.get(pathway)
        if text is None:
            item.pathway_notes.remove(note)  # delete-orphan deletes the row
        elif note is None:
            item.pathway_notes.append(AgendaNote(pathway=pathway, position=pathway.number, text=text,
                                                 written_by_id=actor.id))
        else:
            note.text, note.written_by_id, note.written_at = text, actor.id, utcnow()
    # Always touch the item, so that its version goes up when only a pathway's note changed (the
    # next laptop to save then sees the conflict).
    item.notes, item.decisions, item.updated_by_id, item.updated_at = notes, decisions, actor.id, utcnow()
    db.session.flush()
    audit.record("meeting.notes", actor=actor, record_type="referral", record_id=item.referral_id,
                 detail={"meeting_id": item.meeting_id, "pathways": sorted(p.value for p in changed)})
    return item


def rate_needs(actor: User, item: AgendaItem, needs: dict[Pathway, referral_service.NeedInput],
               version: int | None = None) -> list[Pathway]:
    """Meeting mode: re-rate the needs of a case on the agenda. The meeting's broker
    (``policy.AGENDA_ITEM_STEPS``); the change is the referral's own, as ``referrals.rate_needs``
    makes it (its state, the version read, its history). The case is read as it is re-rated: audited."""
    policy.require_person(actor, policy.AGENDA_ITEM_STEPS, "rate_needs", item)
    referral = referral_service.get_referral(actor, item.referral_id)
    return referral_service.rate_needs(actor, referral, needs, version)


def mark_held(actor: User, meeting: PanelMeeting, version: int | None = None) -> None:
    """The meeting took place; referrals discussed at it for the first time become active."""
    _require_step(actor, meeting, "mark_held", lambda: check_version(meeting, version, _STALE))
    if meeting.starts_at > utcnow():
        raise RuleBroken(_("A meeting can be marked as held once it has started."))
    meeting.status = MeetingStatus.HELD
    meeting.held_at = utcnow()
    for item in meeting.items:
        if item.referral.status is ReferralStatus.ACCEPTED:
            item.referral.status = ReferralStatus.ACTIVE
            audit.record("referral.activated", actor=actor, record_type="referral", record_id=item.referral_id,
                         detail={"meeting_id": meeting.id})
    audit.record("meeting.held", actor=actor, record_type="meeting", record_id=meeting.id)


def save_minutes(actor: User, meeting: PanelMeeting, notes: str | None, version: int | None = None) -> None:
    _require_step(actor, meeting, "save_minutes", lambda: check_version(meeting, version, _STALE))
    meeting.minutes_notes = one_text("minutes_notes", notes, TEXT_MAX)
    audit.record("meeting.minutes", actor=actor, record_type="meeting", record_id=meeting.id)


def approve_minutes(actor: User, meeting: PanelMeeting, notes: str | None, version: int | None = None) -> int:
    """Approve the minutes and send each invited agency its own minutes (PDF), naming only the cases it
    is involved in. Returns how many agencies they were queued for."""
    save_minutes(actor, meeting, notes, version)
    _require_step(actor, meeting, "approve_minutes")
    meeting.minutes_status = MinutesStatus.APPROVED
    meeting.minutes_approved_at = utcnow()
    meeting.minutes_approved_by_id = actor.id
    db.session.flush()
    sent = 0
    for agency in meeting.invited_agencies:
        if not agency.contact_email:
            continue
        viewer = policy.agency_viewer(agency)
        rows = agenda(viewer, meeting)
        pdf = _minutes_document(meeting, viewer, agency, rows)
        _audit_export(actor, meeting, "minutes", rows, agency)
        owed = action_service.actions_for_meeting(viewer, meeting)
        attachments = [outbox.Attachment(f"minutes-{meeting.id}-{agency.id}.pdf", "application/pdf", pdf)]
        if owed:
            attachments.append(outbox.Attachment(f"actions-{meeting.id}-{agency.id}.pdf", "application/pdf",
                                                 _actions_document(meeting, viewer, agency, owed)))
        outbox.queue_template("meeting_minutes.txt", agency.contact_email, attachments, kind="meeting.minutes",
                              agency_id=agency.id, meeting_id=meeting.id, about=("meeting", meeting.id), sent_by=actor,
                              dedupe_key=f"minutes:{meeting.id}:{agency.id}", agency=agency, meeting=meeting)
        sent += 1
    audit.record("meeting.minutes_approved", actor=actor, record_type="meeting", record_id=meeting.id,
                 detail={"sent_to_agencies": sent})
    return sent


# --- What each person sees of the agenda --------------------------------------------------------


@dataclass(frozen=True)
class CaseNote:
    """One discussion note as a reader sees it: general (``pathway`` ``None``) or about one pathway."""

    pathway: Pathway | None
    text: str


@dataclass
class AgendaRow:
    """One agenda item as a person (or an agency) may see it: in full for cases they are involved in,
    otherwise restricted to initials, age and the pathways of need."""

    item: AgendaItem
    full: bool
    initials: str
    age: int
    pathways_of_need: list[Any]
    record: referral_views.ReferralRecord | None = None
    # Only the updates and notes this viewer may read (``policy.can_read_text_about``).
    updates: list[UpdateRequest] = field(default_factory=list)
    notes: list[CaseNote] = field(default_factory=list)
    # What the viewer may do to the case now (``policy.AGENDA_ITEM_STEPS``): nothing, for a case they
    # may not see.
    steps: frozenset[str] = frozenset()


def agenda(viewer: User, meeting: PanelMeeting, *, with_records: bool = False) -> list[AgendaRow]:
    """The agenda as ``viewer`` may see it; ``with_records`` builds each visible case's full record
    (for the panel pack and meeting mode)."""
    return agendas(viewer, [meeting], with_records=with_records)[meeting.id]


def agendas(viewer: User, meetings: list[PanelMeeting], *, with_records: bool = False) -> dict[int, list[AgendaRow]]:
    """The agendas of several meetings as ``viewer`` may see them, in a fixed number of queries."""
    found: dict[int, list[AgendaRow]] = {meeting.id: [] for meeting in meetings}
    if not meetings:
        return found
    items = list(db.session.scalars(
        select(AgendaItem).where(AgendaItem.meeting_id.in_(list(found)))
        .options(
            joinedload(AgendaItem.referral).joinedload(Referral.young_person),
            joinedload(AgendaItem.referral).selectinload(Referral.needs),
            joinedload(AgendaItem.referral).selectinload(Referral.grants),
            selectinload(AgendaItem.update_requests).joinedload(UpdateRequest.agency),
            selectinload(AgendaItem.pathway_notes),
        )
        .order_by(AgendaItem.meeting_id, AgendaItem.position)
    ).unique())
    ids = sorted({item.referral_id for item in items})
    visible = set(db.session.scalars(
        policy.visible_referrals(viewer).where(Referral.id.in_(ids)).with_only_columns(Referral.id)
    )) if ids else set()
    records = referral_views.records_for(viewer, referral_service.load_referrals(viewer, sorted(visible))) \
        if with_records else {}
    starts = {meeting.id: local_date(meeting.starts_at) for meeting in meetings}
    for item in items:
        referral = item.referral
        full = referral.id in visible
        need_pathways = sorted((n.pathway for n in referral.needs if n.rating in (NeedRating.RED, NeedRating.AMBER)),
                               key=lambda p: p.number)
        found[item.meeting_id].append(AgendaRow(
            item=item,
            full=full,
            initials=referral.young_person.initials,
            age=referral_views.age_on(referral.young_person.date_of_birth, starts[item.meeting_id]),
            pathways_of_need=need_pathways,
            record=records.get(referral.id),
            updates=[u for u in item.update_requests if policy.can_read_update(viewer, u)] if full else [],
            notes=_notes_for(viewer, item) if full else [],
            steps=policy.agenda_item_steps(viewer, item) if full else frozenset(),
        ))
    return found


def _notes_for(viewer: User, item: AgendaItem) -> list[CaseNote]:
    """The general note, then each pathway's note the viewer may read."""
    general = [CaseNote(None, item.notes)] if item.notes else []
    return general + [CaseNote(note.pathway, note.text) for note in item.pathway_notes
                      if policy.can_read_agenda_note(viewer, note)]


def note_audiences(meeting: PanelMeeting, rows: list[AgendaRow]) -> dict[int, dict[Pathway | None, list[str]]]:
    """For meeting mode: who reads each note of each case, by pathway (``None``: the general note),
    as names: the broker, then the panel's agencies that may read text about that pathway."""
    found: dict[int, dict[Pathway | None, list[str]]] = {}
    agencies = list(meeting.partnership.agencies)
    broker = _("the broker")
    for row in rows:
        referral = row.item.referral
        general = [broker] + [a.name for a in agencies if policy.can_read_text_about(a, referral, None)]
        audiences: dict[Pathway | None, list[str]] = {None: general}
        for pathway in Pathway:
            audiences[pathway] = ([broker] + [a.name for a in agencies
                                              if policy.can_read_text_about(a, referral, pathway)]
                                  if pathway in RESTRICTED_PATHWAYS else general)
        found[row.item.id] = audiences
    return found


def _document_viewer(actor: User, meeting: PanelMeeting, agency_id: int | None) -> tuple[User, Agency | None]:
    """Whose view a document is built for: the person's own, or (for the broker) an invited agency's."""
    if agency_id is None:
        return actor, None
    policy.require_person(actor, policy.MEETING_STEPS, "preview_papers", meeting)
    agency = next((a for a in meeting.partnership.agencies if a.id == agency_id), None)
    if agency is None:
        raise RuleBroken(_("Choose an agency on this partnership's panel."), {"agency": _("Not a member agency")})
    return policy.agency_viewer(agency), agency


def pack_pdf(actor: User, meeting: PanelMeeting, *, agency_id: int | None = None) -> bytes:
    """The panel pack (agenda, and for each case its summary, needs and history) as the person may
    see it, or as an agency may (the broker's preview of what that agency receives). Audited."""
    viewer, agency = _document_viewer(actor, meeting, agency_id)
    rows = agenda(viewer, meeting, with_records=True)
    pdf = render_pdf("pdf/pack.html", meeting=meeting, rows=rows, audience=_audience(viewer, agency),
                     generated_at=utcnow())
    _audit_export(actor, meeting, "pack", rows, agency)
    return pdf


def minutes_pdf(actor: User, meeting: PanelMeeting, *, agency_id: int | None = None) -> bytes:
    """The minutes as the person (or an agency) may see them: notes and decisions only of the cases
    they are involved in. Audited."""
    viewer, agency = _document_viewer(actor, meeting, agency_id)
    rows = agenda(viewer, meeting)
    pdf = _minutes_document(meeting, viewer, agency, rows)
    _audit_export(actor, meeting, "minutes", rows, agency)
    return pdf


def _minutes_document(meeting: PanelMeeting, viewer: User, agency: Agency | None, rows: list[AgendaRow]) -> bytes:
    return render_pdf("pdf/minutes.html", meeting=meeting, rows=rows, audience=_audience(viewer, agency),
                      attendance=_attendance_rows(meeting), generated_at=utcnow())


def actions_pdf(actor: User, meeting: PanelMeeting, *, agency_id: int | None = None) -> bytes:
    """The action list: what each agency owes on the meeting's cases (an agency's own list, or the
    broker's list of every agency's). Audited."""
    viewer, agency = _document_viewer(actor, meeting, agency_id)
    owed = action_service.actions_for_meeting(viewer, meeting)
    pdf = _actions_document(meeting, viewer, agency, owed)
    audit.record("meeting.actions.export", actor=actor, record_type="meeting", record_id=meeting.id,
                 detail={"referral_ids": sorted({a.referral_id for a in owed}),
                         "for_agency_id": agency.id if agency else None})
    return pdf


def _actions_document(meeting: PanelMeeting, viewer: User, agency: Agency | None, owed: list[Any]) -> bytes:
    readable = {a.id: policy.can_read_action(viewer, a) for a in owed}
    return render_pdf("pdf/actions.html", meeting=meeting, actions=owed, visible=readable,
                      audience=_audience(viewer, agency), generated_at=utcnow())


def _audit_export(actor: User, meeting: PanelMeeting, document: str, rows: list[AgendaRow],
                  agency: Agency | None) -> None:
    audit.record(f"meeting.{document}.export", actor=actor, record_type="meeting", record_id=meeting.id,
                 detail={"referral_ids": [row.item.referral_id for row in rows if row.full],
                         "for_agency_id": agency.id if agency else None})


def _audience(viewer: User, agency: Agency | None) -> str:
    if agency is not None:
        return agency.name
    return viewer.agency.name if viewer.agency is not None else _("the broker (every case in full)")


def _attendance_rows(meeting: PanelMeeting) -> list[tuple[Agency, Attendance | None]]:
    recorded = {row.agency_id: row for row in meeting.attendance}
    return [(agency, recorded.get(agency.id)) for agency in meeting.invited_agencies]


# --- Small look-ups and helpers for the doors ---------------------------------------------------


_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def series_rule(repeat: str, first_start: datetime, count: int) -> str | None:
    """The recurrence rule for a choice people understand ("every month, on the same weekday"),
    anchored on the first meeting's local date; ``None`` for a single meeting."""
    day = local_date(first_start)
    weekday = _WEEKDAYS[day.weekday()]
    if repeat == "once":
        return None
    if repeat == "weekly":
        return f"FREQ=WEEKLY;COUNT={count}"
    if repeat == "fortnightly":
        return f"FREQ=WEEKLY;INTERVAL=2;COUNT={count}"
    if repeat == "monthly_weekday":
        nth = (day.day - 1) // 7 + 1
        # A fifth weekday does not exist in every month: the fifth becomes "the last".
        return f"FREQ=MONTHLY;BYDAY={nth if nth < 5 else -1}{weekday};COUNT={count}"
    if repeat == "monthly_date":
        if day.day <= 28:
            return f"FREQ=MONTHLY;BYMONTHDAY={day.day};COUNT={count}"
        if day.day == 31:
            return f"FREQ=MONTHLY;BYMONTHDAY=-1;COUNT={count}"  # the last day of every month
        # The 29th or 30th, or the month's last day when it is shorter (February).
        days = ",".join(str(d) for d in range(28, day.day + 1))
        return f"FREQ=MONTHLY;BYMONTHDAY={days};BYSETPOS=-1;COUNT={count}"
    raise RuleBroken(_("Choose how often the panel meets."), {"repeat": _("Choose how often")})


def item_of(meeting: PanelMeeting, item_id: int) -> AgendaItem:
    """An agenda item of this meeting (the meeting was loaded within the person's scope); 404 otherwise."""
    item = next((i for i in meeting.items if i.id == item_id), None)
    if item is None:
        raise NotFound(_("That case is not on this meeting's agenda."))
    return item


def update_request_of(actor: User, meeting: PanelMeeting, item_id: int) -> UpdateRequest:
    """The update the actor's agency was asked for on one case of this meeting; 404 otherwise (403
    for the broker, who sees the case but does not send agencies' updates)."""
    item = item_of(meeting, item_id)
    request = policy.update_request_of(actor, item)
    if request is not None:
        return request
    if policy.can_manage_meeting(actor, meeting):
        raise Forbidden(_("Only the agency asked sends its update."))
    raise NotFound(_("Your agency was not asked for an update on this case."))


def requests_for(actor: User, meeting: PanelMeeting) -> dict[int, UpdateRequest]:
    """The update requests to the actor's agency at this meeting, by agenda item."""
    agency_id = policy.staff_agency_id(actor)
    if agency_id is None:
        return {}
    return {r.agenda_item_id: r for r in db.session.scalars(
        select(UpdateRequest).join(AgendaItem).where(AgendaItem.meeting_id == meeting.id,
                                                     UpdateRequest.agency_id == agency_id))}


def referrals_to_add(actor: User, meeting: PanelMeeting) -> list[Referral]:
    """The partnership's accepted and active referrals not yet on this agenda (for the agenda builder)."""
    on_agenda = [item.referral_id for item in meeting.items]
    query = policy.agenda_candidates(actor, meeting).options(joinedload(Referral.young_person))
    if on_agenda:
        query = query.where(Referral.id.not_in(on_agenda))
    return sorted(db.session.scalars(query), key=lambda r: (r.young_person.family_name, r.young_person.given_name))


def feed_for(user: User) -> list[PanelMeeting]:
    """The meetings in a person's calendar feed: from three months ago on, cancelled ones included
    (so calendars remove them)."""
    return list(db.session.scalars(
        policy.visible_meetings(user).where(PanelMeeting.starts_at >= utcnow() - timedelta(days=92))
        .options(joinedload(PanelMeeting.partnership)).order_by(PanelMeeting.starts_at).limit(500)
    ))


def audit_view(actor: User, meeting: PanelMeeting, rows: list[AgendaRow], purpose: str = "view") -> None:
    """A meeting page shows the names of the cases the person may see: one audit row names them."""
    audit.record(f"meeting.{purpose}", actor=actor, record_type="meeting", record_id=meeting.id,
                 detail={"referral_ids": [row.item.referral_id for row in rows if row.full]})


def calendar_file(meeting: PanelMeeting) -> bytes:
    """The meeting as a calendar file to download (no young person's data in it)."""
    return calendar.meeting_file(meeting, url=meeting_url(meeting))


def calendar_feed(user: User) -> bytes:
    """The person's subscription feed: the meetings of their partnerships."""
    return calendar.feed([(m, meeting_url(m)) for m in feed_for(user)], name=_("Resettlement panels"))
