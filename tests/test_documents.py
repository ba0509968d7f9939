"""The document helpers: PDFs are tagged and fetch nothing; calendar files are well formed."""

from __future__ import annotations

import io
from datetime import timedelta

import pypdf
from icalendar import Calendar
from weasyprint import HTML

from panel_app.documents import calendar
from panel_app.documents.pdf import NoFetching
from panel_app.models import Role, db, utcnow
from panel_app.services import meetings
from tests.factories import make_agency, make_partnership, make_user


def _meeting():
    broker = make_user(Role.BROKER)
    partnership = make_partnership(name="Docs Partnership", brokers=[broker], agencies=[make_agency()])
    start = utcnow().replace(microsecond=0) + timedelta(days=9)
    meeting = meetings.schedule(broker, partnership.id, meetings.MeetingDetails(start, start + timedelta(hours=2),
                                                                                location="Town hall"))
    db.session.flush()
    return broker, meeting


def test_a_pdf_is_tagged_with_its_language_and_title(app) -> None:
    broker, meeting = _meeting()
    with app.test_request_context("/"):
        data = meetings.pack_pdf(broker, meeting)
    reader = pypdf.PdfReader(io.BytesIO(data))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root  # headings, tables and reading order exposed to assistive technology
    assert root["/MarkInfo"]["/Marked"] == True  # noqa: E712  (a PDF boolean object)
    assert root["/Lang"] == "en"
    assert reader.metadata.title.startswith("Panel pack: Docs Partnership")
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Panel pack" in text and "Docs Partnership" in text


def test_the_pdf_fetcher_fetches_nothing_not_even_a_local_file(tmp_path, caplog) -> None:
    secret = tmp_path / "secret.css"
    secret.write_text("p { color: rgb(1, 2, 3) }")
    html = (f'<html lang="en"><head><title>x</title><link rel="stylesheet" href="file://{secret}"></head>'
            '<body><img src="https://example.org/x.png" alt=""><p>x</p></body></html>')
    with caplog.at_level("WARNING", logger="panel_app.documents.pdf"):
        HTML(string=html, url_fetcher=NoFetching()).write_pdf()
    refused = [record.getMessage() for record in caplog.records if record.name == "panel_app.documents.pdf"]
    assert any(f"file://{secret}" in message for message in refused)
    assert any("https://example.org/x.png" in message for message in refused)


def test_a_calendar_invitation_parses_back_with_one_event(app) -> None:
    _broker, meeting = _meeting()
    raw = calendar.meeting_invitation(meeting, url="http://panels.test/meetings/1", organizer="panels@example.org",
                                      attendees=["housing@example.org"])
    parsed = Calendar.from_ical(raw)
    assert parsed["METHOD"] == "REQUEST"
    events = parsed.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert str(event["UID"]) == meeting.uid and int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == meeting.starts_at
    assert str(event["STATUS"]) == "CONFIRMED"
