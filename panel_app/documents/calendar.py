"""Calendar files (RFC 5545, written with the ``icalendar`` library).

A meeting keeps one UID for its whole life; each change raises SEQUENCE, and a cancellation is sent
with METHOD:CANCEL, so calendar programs update or remove the event they already hold. Calendar
files carry no young person's personal data: only the partnership, the time, the place and a link.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from icalendar import Calendar, Event, vCalAddress, vText

from panel_app.models import PanelMeeting, utcnow

PRODUCT = "-//panel_app//Resettlement panels//EN"


def _event(meeting: PanelMeeting, *, url: str, organizer: str | None, attendees: Iterable[str],
           cancelled: bool = False) -> Event:
    event = Event()
    event.add("uid", meeting.uid)
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", utcnow().astimezone(UTC))
    event.add("dtstart", meeting.starts_at.astimezone(UTC))
    event.add("dtend", meeting.ends_at.astimezone(UTC))
    event.add("summary", f"Resettlement panel: {meeting.partnership.name}")
    where = [part for part in (meeting.location, meeting.online_link) if part]
    if where:
        event.add("location", " / ".join(where))
    description = [f"Agenda and papers (sign in to see them): {url}"]
    if meeting.online_link:
        description.append(f"Join online: {meeting.online_link}")
    event.add("description", "\n".join(description))
    event.add("url", url)
    cancelled = cancelled or meeting.is_cancelled
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if organizer:
        address = vCalAddress(f"mailto:{organizer}")
        address.params["cn"] = vText("Resettlement panels")
        event.add("organizer", address)
    for email in attendees:
        attendee = vCalAddress(f"mailto:{email}")
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee, encode=False)
    return event


def _calendar(method: str | None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    if method:
        calendar.add("method", method)
    return calendar


def meeting_invitation(meeting: PanelMeeting, *, url: str, organizer: str | None = None,
                       attendees: Iterable[str] = (), cancel: bool = False) -> bytes:
    """One meeting as an invitation (METHOD:REQUEST) or an update of one; or its cancellation
    (METHOD:CANCEL), when the meeting is cancelled or ``cancel`` withdraws these attendees' invitation."""
    cancel = cancel or meeting.is_cancelled
    calendar = _calendar("CANCEL" if cancel else "REQUEST")
    calendar.add_component(_event(meeting, url=url, organizer=organizer, attendees=attendees, cancelled=cancel))
    return calendar.to_ical()


def meeting_file(meeting: PanelMeeting, *, url: str) -> bytes:
    """One meeting to download and add to a calendar (METHOD:PUBLISH)."""
    calendar = _calendar("PUBLISH")
    calendar.add_component(_event(meeting, url=url, organizer=None, attendees=()))
    return calendar.to_ical()


def feed(meetings: Iterable[tuple[PanelMeeting, str]], *, name: str) -> bytes:
    """A subscription feed of meetings, each with its page's URL."""
    calendar = _calendar("PUBLISH")
    calendar.add("x-wr-calname", name)
    for meeting, url in meetings:
        calendar.add_component(_event(meeting, url=url, organizer=None, attendees=()))
    return calendar.to_ical()
