"""Helpers the panel meeting tests share: times in Europe/London, posting the meeting pages' forms
as a person would, reading calendar files and emails back, and counting what was saved."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import func, select

from panel_app.models import (
    AgendaItem,
    Attendance,
    MeetingSeries,
    PanelMeeting,
    Partnership,
    SentEmail,
    UpdateRequest,
    db,
)
from tests.conftest import csrf_token_from

LONDON = ZoneInfo("Europe/London")
COUNTED = (PanelMeeting, MeetingSeries, AgendaItem, Attendance, UpdateRequest, SentEmail)


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def dmy(day: date) -> list[str]:
    """A date as the three boxes of the GOV.UK date input."""
    return [str(day.day), str(day.month), str(day.year)]


# --- What is stored -----------------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    """How many rows each meeting table (and the email record) holds, read afresh."""
    db.session.expire_all()
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def meeting_by_id(meeting_id: int) -> PanelMeeting:
    db.session.expire_all()
    meeting = db.session.get(PanelMeeting, meeting_id)
    assert meeting is not None
    return meeting


def meeting_state(meeting_id: int) -> tuple[Any, ...]:
    """Everything about a meeting a refused change must leave as it was."""
    meeting = meeting_by_id(meeting_id)
    items = tuple((i.id, i.referral_id, i.position, i.kind, i.minutes_allotted, i.notes, i.decisions,
                   i.young_person_views, i.version) for i in meeting.items)
    attendance = tuple(sorted((a.agency_id, a.status, a.attendees) for a in meeting.attendance))
    return (meeting.starts_at, meeting.ends_at, meeting.location, meeting.online_link, meeting.status,
            meeting.sequence, meeting.version, meeting.cancellation_reason, meeting.minutes_status,
            meeting.minutes_notes, meeting.held_at, tuple(a.id for a in meeting.invited_agencies), items, attendance)


def series_meetings(series_id: int) -> list[PanelMeeting]:
    db.session.expire_all()
    return list(db.session.scalars(select(PanelMeeting).where(PanelMeeting.series_id == series_id)
                                    .order_by(PanelMeeting.starts_at)))


# --- The pages ----------------------------------------------------------------------------------


def page_schedule(client: FlaskClient, partnership: Partnership, day: date, starts: str, ends: str, /,
                  **overrides: Any) -> Any:
    """Post the "Schedule a panel meeting" form (an override of ``None`` leaves the field out)."""
    token = csrf_token_from(client.get("/meetings/new").text)
    data: dict[str, Any] = {
        "csrf_token": token, "partnership_id": str(partnership.id), "day": dmy(day), "starts": starts,
        "ends": ends, "location": "Colwyn Bay YJS offices",
        "invited": [str(agency.id) for agency in partnership.agencies], "repeat": "once", "occurrences": "6",
    }
    data.update(overrides)
    return client.post("/meetings/new", data={k: v for k, v in data.items() if v is not None})


def new_meeting_id(response: Any) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(response.headers["Location"].split("#")[0].rstrip("/").rsplit("/", 1)[1])


def form_post(client: FlaskClient, url: str, **fields: Any) -> Any:
    """Post a page's form as a person would: its CSRF token and its hidden version, with ``fields``
    (``None`` leaves one out)."""
    page = client.get(url)
    assert page.status_code == 200, url
    soup = BeautifulSoup(page.text, "html.parser")
    data: dict[str, Any] = {"csrf_token": csrf_token_from(page.text)}
    version = soup.find("input", attrs={"name": "version"})
    if version is not None:
        data["version"] = version["value"]
    data.update(fields)
    return client.post(url, data={k: v for k, v in data.items() if v is not None})


def hidden_fields(client: FlaskClient, page_url: str, action_ending: str) -> dict[str, str]:
    """The hidden inputs (CSRF token, version) of the form on ``page_url`` that posts to a URL ending
    with ``action_ending``."""
    page = client.get(page_url)
    assert page.status_code == 200, page_url
    soup = BeautifulSoup(page.text, "html.parser")
    form = next((f for f in soup.find_all("form") if (f.get("action") or "").endswith(action_ending)), None)
    assert form is not None, f"no form posting to ...{action_ending} on {page_url}"
    return {i["name"]: i.get("value", "") for i in form.find_all("input", attrs={"type": "hidden"})}


# --- Emails and calendar files ------------------------------------------------------------------


def subject(message: EmailMessage) -> str:
    """The subject as a mail program shows it (a long one is folded onto the next line, and the
    parser keeps the folding space)."""
    return str(message["Subject"]).strip()


def message_text(message: EmailMessage) -> str:
    """What a reader of the email sees: the subject and every text part (calendar files included)."""
    parts = [subject(message)]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def calendars_in(message: EmailMessage) -> list[tuple[EmailMessage, Calendar]]:
    """The calendar attachments of an email, each parsed back."""
    return [(part, Calendar.from_ical(part.get_content())) for part in message.iter_attachments()
            if part.get_content_type() == "text/calendar"]


def only_event(parsed: Calendar) -> Any:
    events = parsed.walk("VEVENT")
    assert len(events) == 1, parsed.to_ical()
    return events[0]


def one_invitation(message: EmailMessage, method: str) -> Any:
    """The one calendar file of an email, with its METHOD on the file and on the MIME part."""
    calendars = calendars_in(message)
    assert len(calendars) == 1, [p.get_content_type() for p in message.iter_attachments()]
    part, parsed = calendars[0]
    assert str(parsed["METHOD"]) == method
    assert part.get_param("method") == method  # Outlook reads the method from the MIME part
    return only_event(parsed)
