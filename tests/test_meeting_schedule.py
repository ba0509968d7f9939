"""Scheduling panel meetings across the clock changes of Europe/London, series rules, and the
calendar files that go with them: invitations, updates and cancellations by email (a real SMTP
server on loopback), the downloadable file, and the personal calendar feed.

The clocks go forward on the last Sunday of March and back on the last Sunday of October. A panel
at 10:00 stays at 10:00 on the wall: 09:00 UTC in British Summer Time, 10:00 UTC in winter. The
years are fixed (2027-2028) so the dates never fall into the past.
"""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import select

from panel_app.errors import RuleBroken
from panel_app.models import (
    Agency,
    MeetingSeries,
    MeetingStatus,
    PanelMeeting,
    Partnership,
    Role,
    SentEmail,
    User,
    db,
)
from panel_app.services import meetings as service
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import CapturedMail, csrf_token_from, deliver_emails, sign_in
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_user
from tests.meeting_helpers import (
    LONDON,
    calendars_in,
    dmy,
    form_post,
    local,
    meeting_by_id,
    message_text,
    new_meeting_id,
    one_invitation,
    only_event,
    page_schedule,
    series_meetings,
    subject,
    utc,
)

NAME = ("Zebedee", "Quartermaine")  # a young person whose name must never reach an email or a calendar


@dataclass
class World:
    broker: User
    partnership: Partnership
    yot: Agency
    housing: Agency
    health: Agency
    education: Agency  # on the panel, but no contact email: it can receive nothing
    outsider: Agency  # on another partnership's panel only
    yot_staff: User
    other_partnership: Partnership


@pytest.fixture
def world() -> World:
    yot = make_agency(type="yot", name="Conwy YOT", contact_email="yot@conwy.example.org")
    housing = make_agency(type="housing", name="Conwy Housing", contact_email="housing@conwy.example.org")
    health = make_agency(type="health", name="North Wales Health", contact_email="health@nhs.example.org")
    education = make_agency(type="education", name="Conwy College", contact_email=None)
    outsider = make_agency(type="housing", name="Cardiff Housing", contact_email="housing@cardiff.example.org")
    broker = make_user(Role.BROKER, name="Bethan Broker")
    partnership = make_partnership(name="Conwy", agencies=[yot, housing, health, education], brokers=[broker])
    other = make_partnership(name="Cardiff", agencies=[outsider], brokers=[make_user(Role.BROKER)])
    yot_staff = make_user(Role.AGENCY_STAFF, agency=yot)
    db.session.commit()
    return World(broker, partnership, yot, housing, health, education, outsider, yot_staff, other)


# --- Helpers ------------------------------------------------------------------------------------


def api_schedule(client: FlaskClient, headers: dict[str, str], partnership: Partnership, starts: datetime,
                 ends: datetime, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/meetings", headers=headers, json={
        "partnership_id": partnership.id, "starts_at": starts.isoformat(), "ends_at": ends.isoformat(),
        "location": "Colwyn Bay YJS offices", **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- The rule for each "How often?" choice -------------------------------------------------------


@pytest.mark.parametrize(
    ("repeat", "first", "expected"),
    [
        pytest.param("once", local(2027, 9, 7), None, id="once"),
        pytest.param("weekly", local(2027, 9, 7), "FREQ=WEEKLY;COUNT=6", id="weekly"),
        pytest.param("fortnightly", local(2027, 9, 7), "FREQ=WEEKLY;INTERVAL=2;COUNT=6", id="fortnightly"),
        pytest.param("monthly_weekday", local(2027, 9, 7), "FREQ=MONTHLY;BYDAY=1TU;COUNT=6", id="first-tuesday"),
        pytest.param("monthly_weekday", local(2027, 9, 14), "FREQ=MONTHLY;BYDAY=2TU;COUNT=6", id="second-tuesday"),
        pytest.param("monthly_weekday", local(2027, 9, 28), "FREQ=MONTHLY;BYDAY=4TU;COUNT=6",
                     id="fourth-and-last-tuesday-stays-fourth"),
        pytest.param("monthly_weekday", local(2027, 11, 30), "FREQ=MONTHLY;BYDAY=-1TU;COUNT=6",
                     id="fifth-tuesday-becomes-last"),
        pytest.param("monthly_weekday", local(2027, 10, 29, 14), "FREQ=MONTHLY;BYDAY=-1FR;COUNT=6",
                     id="fifth-friday-becomes-last"),
        pytest.param("monthly_date", local(2027, 9, 15), "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6", id="the-15th"),
        pytest.param("monthly_date", local(2027, 10, 31), "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=6",
                     id="the-31st-becomes-last-day"),
    ],
)
def test_series_rule_for_each_choice(repeat: str, first: datetime, expected: str | None) -> None:
    assert service.series_rule(repeat, first, 6) == expected


def test_series_rule_is_anchored_on_the_local_date_not_the_utc_one() -> None:
    # 23:30 UTC on Monday 6 September 2027 is 00:30 on Tuesday 7 September in London (BST).
    assert service.series_rule("monthly_weekday", utc(2027, 9, 6, 23, 30), 3) == "FREQ=MONTHLY;BYDAY=1TU;COUNT=3"
    assert service.series_rule("monthly_date", utc(2027, 9, 6, 23, 30), 3) == "FREQ=MONTHLY;BYMONTHDAY=7;COUNT=3"
    # In winter London is on UTC: 23:30 UTC on Monday 6 December is still Monday 6 December.
    assert service.series_rule("monthly_weekday", utc(2027, 12, 6, 23, 30), 3) == "FREQ=MONTHLY;BYDAY=1MO;COUNT=3"


def test_series_rule_refuses_an_unknown_choice() -> None:
    with pytest.raises(RuleBroken) as refused:
        service.series_rule("yearly", local(2027, 9, 7), 3)
    assert "repeat" in refused.value.fields


def _expected_dates(repeat: str, first: date, count: int) -> list[date]:
    """What a person means by each choice, worked out by hand."""
    if repeat == "weekly":
        return [first + timedelta(weeks=n) for n in range(count)]
    if repeat == "fortnightly":
        return [first + timedelta(weeks=2 * n) for n in range(count)]
    found = []
    year, month = first.year, first.month
    for _n in range(count):
        days = month_calendar.monthrange(year, month)[1]
        if repeat == "monthly_date":
            found.append(date(year, month, min(first.day, days)))
        else:  # monthly_weekday: the nth such weekday, or the last one for a fifth
            nth = (first.day - 1) // 7 + 1
            same = [date(year, month, d) for d in range(1, days + 1)
                    if date(year, month, d).weekday() == first.weekday()]
            found.append(same[nth - 1] if nth < 5 else same[-1])
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


@pytest.mark.parametrize(
    ("repeat", "first"),
    [
        pytest.param("weekly", date(2027, 10, 26), id="weekly-over-october-change"),
        pytest.param("fortnightly", date(2028, 3, 14), id="fortnightly-over-march-change"),
        pytest.param("monthly_weekday", date(2027, 9, 7), id="first-tuesday"),
        pytest.param("monthly_weekday", date(2027, 11, 30), id="fifth-tuesday"),
        pytest.param("monthly_date", date(2027, 9, 15), id="the-15th"),
        pytest.param("monthly_date", date(2027, 10, 31), id="the-31st"),
        pytest.param("monthly_date", date(2027, 10, 30), id="the-30th-of-a-31-day-month"),
        pytest.param("monthly_date", date(2027, 9, 29), id="the-29th-of-a-30-day-month"),
        pytest.param("monthly_date", date(2028, 1, 29), id="the-29th-of-january"),
    ],
)
def test_each_choice_gives_the_meetings_a_person_means(repeat: str, first: date) -> None:
    """The first meeting is the day chosen; the rest follow the choice, at 10:00 local each time."""
    start = datetime.combine(first, datetime.min.time().replace(hour=10), tzinfo=LONDON)
    rule = service.series_rule(repeat, start, 6)
    assert rule is not None
    found = service.occurrences(start, rule)
    assert [moment.date() for moment in found] == _expected_dates(repeat, first, 6), rule
    assert all((moment.hour, moment.minute) == (10, 0) for moment in found)


def test_a_series_from_the_page_starts_on_the_date_chosen(client: FlaskClient, login_as, world: World) -> None:
    # "Every month, on the same date", from Saturday 30 October 2027: the first panel is on the 30th.
    login_as(world.broker)
    response = page_schedule(client, world.partnership, date(2027, 10, 30), "10:00", "12:00",
                             repeat="monthly_date", occurrences="3")
    meeting = meeting_by_id(new_meeting_id(response))
    meetings = series_meetings(meeting.series_id)
    assert [m.starts_at.astimezone(LONDON).date() for m in meetings] == \
        [date(2027, 10, 30), date(2027, 11, 30), date(2027, 12, 30)]


# --- Clock changes ------------------------------------------------------------------------------

FIRST_TUESDAYS = [date(2027, 9, 7), date(2027, 10, 5), date(2027, 11, 2), date(2027, 12, 7), date(2028, 1, 4),
                  date(2028, 2, 1), date(2028, 3, 7), date(2028, 4, 4)]
# BST until the last Sunday of October (31 October 2027) and again from the last Sunday of March (26 March 2028).
UTC_HOURS = [9, 9, 10, 10, 10, 10, 10, 9]


def _assert_first_tuesdays_at_ten(meetings: list[PanelMeeting]) -> None:
    assert len(meetings) == 8
    assert [m.starts_at.astimezone(LONDON).date() for m in meetings] == FIRST_TUESDAYS
    # Stored in UTC: 09:00 in summer time, 10:00 in winter.
    assert [m.starts_at for m in meetings] == [utc(d.year, d.month, d.day, hour)
                                              for d, hour in zip(FIRST_TUESDAYS, UTC_HOURS, strict=True)]
    assert all(m.starts_at.utcoffset() == timedelta(0) for m in meetings)
    # Shown at 10:00 to 12:00 local, every month.
    assert {(m.starts_at.astimezone(LONDON).strftime("%H:%M"), m.ends_at.astimezone(LONDON).strftime("%H:%M"))
            for m in meetings} == {("10:00", "12:00")}
    # Two hours long, whatever the clocks did in between.
    assert {m.ends_at - m.starts_at for m in meetings} == {timedelta(hours=2)}
    assert len({m.uid for m in meetings}) == 8


def test_a_monthly_series_from_the_page_stays_at_ten_local_across_both_clock_changes(
        client: FlaskClient, login_as, world: World) -> None:
    login_as(world.broker)
    response = page_schedule(client, world.partnership, date(2027, 9, 7), "10:00", "12:00",
                             repeat="monthly_weekday", occurrences="8")
    first = meeting_by_id(new_meeting_id(response))
    series = db.session.get(MeetingSeries, first.series_id)
    assert series is not None and series.rule == "FREQ=MONTHLY;BYDAY=1TU;COUNT=8"
    meetings = series_meetings(series.id)
    _assert_first_tuesdays_at_ten(meetings)
    # The pages show the local time, in winter and in summer.
    for meeting in (meetings[0], meetings[3], meetings[7]):
        page = client.get(f"/meetings/{meeting.id}")
        assert page.status_code == 200
        text = BeautifulSoup(page.text, "html.parser").find("main").get_text(" ", strip=True)
        assert "10:00 – 12:00" in text, meeting.starts_at


@pytest.mark.parametrize("first_start", ["2027-09-07T10:00:00+01:00", "2027-09-07T09:00:00Z",
                                         "2027-09-07T11:00:00+02:00"])
def test_a_monthly_series_through_the_api_stays_at_ten_local(client: FlaskClient, api_token, world: World,
                                                             first_start: str) -> None:
    # The same instant written with different offsets gives the same series.
    starts = datetime.fromisoformat(first_start)
    body = api_schedule(client, api_token(world.broker), world.partnership, starts, starts + timedelta(hours=2),
                        recurrence="FREQ=MONTHLY;BYDAY=1TU;COUNT=8")
    assert body["starts_at"].startswith("2027-09-07T09:00:00")
    meetings = series_meetings(meeting_by_id(body["id"]).series_id)
    _assert_first_tuesdays_at_ten(meetings)


def test_a_weekly_series_over_the_last_sunday_of_march_keeps_its_local_time(client: FlaskClient, api_token,
                                                                             world: World) -> None:
    # Tuesdays at 14:00 for 90 minutes, from 14 March 2028; the clocks go forward on Sunday 26 March.
    starts = local(2028, 3, 14, 14)
    body = api_schedule(client, api_token(world.broker), world.partnership, starts,
                        starts + timedelta(minutes=90), recurrence="FREQ=WEEKLY;COUNT=4")
    meetings = series_meetings(meeting_by_id(body["id"]).series_id)
    assert [m.starts_at for m in meetings] == [utc(2028, 3, 14, 14), utc(2028, 3, 21, 14), utc(2028, 3, 28, 13),
                                              utc(2028, 4, 4, 13)]
    assert [m.starts_at.astimezone(LONDON).strftime("%a %d %b %H:%M") for m in meetings] == [
        "Tue 14 Mar 14:00", "Tue 21 Mar 14:00", "Tue 28 Mar 14:00", "Tue 04 Apr 14:00"]
    assert [m.ends_at.astimezone(LONDON).strftime("%H:%M") for m in meetings] == ["15:30"] * 4
    assert {m.ends_at - m.starts_at for m in meetings} == {timedelta(minutes=90)}


def test_a_weekly_series_from_the_page_over_the_last_sunday_of_october(client: FlaskClient, login_as,
                                                                      world: World) -> None:
    # An evening panel on Tuesdays from 26 October 2027; the clocks go back on Sunday 31 October.
    login_as(world.broker)
    response = page_schedule(client, world.partnership, date(2027, 10, 26), "18:00", "20:00", repeat="weekly",
                             occurrences="3")
    meetings = series_meetings(meeting_by_id(new_meeting_id(response)).series_id)
    assert [m.starts_at for m in meetings] == [utc(2027, 10, 26, 17), utc(2027, 11, 2, 18), utc(2027, 11, 9, 18)]
    assert [(m.starts_at.astimezone(LONDON).hour, m.ends_at.astimezone(LONDON).hour) for m in meetings] == \
        [(18, 20)] * 3
    assert {m.ends_at - m.starts_at for m in meetings} == {timedelta(hours=2)}


def test_a_single_meeting_moved_across_the_clock_change_keeps_its_local_time(client: FlaskClient, login_as,
                                                                           world: World) -> None:
    login_as(world.broker)
    meeting_id = new_meeting_id(page_schedule(client, world.partnership, date(2027, 10, 26), "10:00", "12:00"))
    assert meeting_by_id(meeting_id).starts_at == utc(2027, 10, 26, 9)
    response = form_post(client, f"/meetings/{meeting_id}/edit", day=dmy(date(2027, 11, 2)), starts="10:00",
                         ends="12:00", location="Colwyn Bay YJS offices",
                         invited=[str(a.id) for a in world.partnership.agencies])
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    meeting = meeting_by_id(meeting_id)
    assert (meeting.starts_at, meeting.ends_at) == (utc(2027, 11, 2, 10), utc(2027, 11, 2, 12))
    # The form shows it back in local time.
    soup = BeautifulSoup(client.get(f"/meetings/{meeting_id}/edit").text, "html.parser")
    assert soup.find("input", attrs={"name": "starts"})["value"] == "10:00"
    assert soup.find("input", attrs={"name": "ends"})["value"] == "12:00"


# --- Invitations, updates and cancellations by email -------------------------------------------


def test_the_invitation_to_one_meeting_carries_one_calendar_event(client: FlaskClient, api_token, world: World,
                                                                  smtp: CapturedMail) -> None:
    starts = local(2027, 11, 2, 10)
    invited = [world.yot, world.housing, world.education]  # health is on the panel but not invited
    body = api_schedule(client, api_token(world.broker), world.partnership, starts, starts + timedelta(hours=2),
                        invited_agency_ids=[a.id for a in invited])
    meeting = meeting_by_id(body["id"])
    assert body["uid"] == meeting.uid and body["sequence"] == 0

    # One email to each invited agency that has an address; none to the others.
    assert sorted(m["To"] for m in smtp.messages) == sorted([world.yot.contact_email, world.housing.contact_email])
    assert smtp.to(world.health.contact_email) == [] and smtp.to(world.outsider.contact_email) == []
    for agency in (world.yot, world.housing):
        [message] = smtp.to(agency.contact_email)
        assert subject(message) == "Invitation: Conwy resettlement panel, Tuesday 2 November 2027, 10:00"
        event = one_invitation(message, "REQUEST")
        assert str(event["UID"]) == meeting.uid
        assert int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART") == meeting.starts_at == utc(2027, 11, 2, 10)
        assert event.decoded("DTEND") == meeting.ends_at == utc(2027, 11, 2, 12)
        assert str(event["STATUS"]) == "CONFIRMED"
        assert "Colwyn Bay YJS offices" in str(event["LOCATION"])
        attendees = event["ATTENDEE"] if isinstance(event["ATTENDEE"], list) else [event["ATTENDEE"]]
        assert [str(a) for a in attendees] == [f"mailto:{agency.contact_email}"]
        assert str(event["ORGANIZER"]).startswith("mailto:")
        assert f"/meetings/{meeting.id}" in str(event["URL"])
    # Every email is on record, with its outcome.
    db.session.expire_all()
    records = db.session.scalars(select(SentEmail).where(SentEmail.meeting_id == meeting.id)).all()
    assert sorted(r.recipient for r in records) == sorted([world.yot.contact_email, world.housing.contact_email])
    assert all(r.kind == "meeting.invitation" and r.sent_at is not None and r.error is None for r in records)


def test_rescheduling_sends_an_update_with_the_same_uid_and_a_higher_sequence(
        app: Flask, client: FlaskClient, api_token, login_as, world: World, smtp: CapturedMail) -> None:
    starts = local(2027, 10, 26, 10)
    body = api_schedule(client, api_token(world.broker), world.partnership, starts, starts + timedelta(hours=2))
    meeting = meeting_by_id(body["id"])
    uid = meeting.uid
    [invitation] = smtp.to(world.housing.contact_email)
    assert int(one_invitation(invitation, "REQUEST")["SEQUENCE"]) == 0

    # 1. Moved through the page, over the October clock change, to another place.
    login_as(world.broker)
    response = form_post(client, f"/meetings/{meeting.id}/edit", day=dmy(date(2027, 11, 2)), starts="10:00",
                         ends="12:30", location="Rhyl civic centre",
                         invited=[str(a.id) for a in world.partnership.agencies])
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    updates = smtp.to(world.housing.contact_email)[1:]
    assert len(updates) == 1
    assert subject(updates[0]) == "Changed: Conwy resettlement panel, now Tuesday 2 November 2027, 10:00"
    event = one_invitation(updates[0], "REQUEST")
    assert str(event["UID"]) == uid
    assert int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART") == utc(2027, 11, 2, 10)
    assert event.decoded("DTEND") == utc(2027, 11, 2, 12, 30)
    assert "Rhyl civic centre" in str(event["LOCATION"])
    assert meeting_by_id(meeting.id).sequence == 1

    # 2. Moved again by the service (as another door would): the sequence keeps climbing.
    meeting = meeting_by_id(meeting.id)
    with app.test_request_context("/"):
        service.reschedule(world.broker, meeting, service.MeetingDetails(
            local(2027, 11, 9, 10), local(2027, 11, 9, 12), location="Rhyl civic centre"), meeting.version)
        db.session.commit()
        deliver_emails()
    latest = smtp.to(world.housing.contact_email)[-1]
    event = one_invitation(latest, "REQUEST")
    assert str(event["UID"]) == uid
    assert int(event["SEQUENCE"]) == 2
    assert event.decoded("DTSTART") == utc(2027, 11, 9, 10)
    # Every invited agency with an address had one invitation and two updates; nobody else any.
    assert sorted(m["To"] for m in smtp.messages) == sorted(
        [a.contact_email for a in (world.yot, world.housing, world.health)] * 3)


def test_an_agency_uninvited_when_the_meeting_changes_gets_a_cancellation(
        client: FlaskClient, api_token, login_as, world: World, smtp: CapturedMail) -> None:
    """RFC 5546: an attendee removed from an event is sent a CANCEL for it, or their calendar keeps
    a panel they are no longer invited to."""
    starts = local(2027, 11, 2, 10)
    body = api_schedule(client, api_token(world.broker), world.partnership, starts, starts + timedelta(hours=2))
    uid = body["uid"]
    login_as(world.broker)
    keep = [world.yot, world.housing, world.education]
    response = form_post(client, f"/meetings/{body['id']}/edit", day=dmy(date(2027, 11, 2)), starts="10:00",
                         ends="12:00", location="Colwyn Bay YJS offices", invited=[str(a.id) for a in keep])
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert {a.id for a in meeting_by_id(body["id"]).invited_agencies} == {a.id for a in keep}
    after = smtp.to(world.health.contact_email)[1:]
    assert len(after) == 1, [subject(m) for m in after]
    event = one_invitation(after[0], "CANCEL")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1


def test_cancelling_sends_method_cancel_with_the_same_uid(client: FlaskClient, api_token, login_as, world: World,
                                                          smtp: CapturedMail) -> None:
    starts = local(2028, 3, 28, 10)
    body = api_schedule(client, api_token(world.broker), world.partnership, starts, starts + timedelta(hours=2),
                        invited_agency_ids=[world.yot.id, world.housing.id])
    meeting = meeting_by_id(body["id"])
    login_as(world.broker)
    response = form_post(client, f"/meetings/{meeting.id}/cancel", reason="The venue flooded.")
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert meeting_by_id(meeting.id).status is MeetingStatus.CANCELLED
    for agency in (world.yot, world.housing):
        invitation, cancellation = smtp.to(agency.contact_email)
        before = one_invitation(invitation, "REQUEST")
        assert subject(cancellation) == "Cancelled: Conwy resettlement panel, Tuesday 28 March 2028, 10:00"
        assert "The venue flooded." in cancellation.get_body(("plain",)).get_content()
        event = one_invitation(cancellation, "CANCEL")
        assert str(event["UID"]) == str(before["UID"]) == meeting.uid
        assert int(event["SEQUENCE"]) > int(before["SEQUENCE"])
        assert str(event["STATUS"]) == "CANCELLED"
        assert event.decoded("DTSTART") == utc(2028, 3, 28, 9)
    # Agencies not invited hear nothing of it, neither the invitation nor the cancellation.
    assert smtp.to(world.health.contact_email) == [] and smtp.to(world.outsider.contact_email) == []
    assert len(smtp.messages) == 4


def test_the_downloaded_calendar_file_has_one_event_with_the_stable_uid(client: FlaskClient, api_token, login_as,
                                                                        world: World) -> None:
    referral = make_referral(partnership=world.partnership, referrer=world.yot_staff, broker=world.broker,
                             status="accepted", young_person=YoungPersonDetails(
                                 NAME[0], NAME[1], date(2009, 5, 17)))
    meeting = make_meeting(partnership=world.partnership, broker=world.broker, agenda=[referral],
                           starts_in=timedelta(days=30))
    db.session.commit()
    uid = meeting.uid
    files = []
    login_as(world.yot_staff)
    files.append(client.get(f"/meetings/{meeting.id}/invite.ics"))
    files.append(client.get(f"/api/v1/meetings/{meeting.id}/invite.ics", headers=api_token(world.yot_staff)))
    files.append(client.get(f"/api/v1/meetings/{meeting.id}/invite.ics", headers=api_token(world.broker)))
    for response in files:
        assert response.status_code == 200
        assert response.mimetype == "text/calendar"
        text = response.get_data(as_text=True)
        assert NAME[0] not in text and NAME[1] not in text
        parsed = Calendar.from_ical(text)
        event = only_event(parsed)
        assert str(event["UID"]) == uid
        assert int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART") == meeting.starts_at
        assert event.decoded("DTEND") == meeting.ends_at
    # After a change the UID stays and the sequence follows the meeting's.
    service.reschedule(world.broker, meeting, service.MeetingDetails(local(2027, 12, 14, 10), local(2027, 12, 14, 12),
                                                                     location="Town hall"))
    db.session.commit()
    event = only_event(Calendar.from_ical(
        client.get(f"/api/v1/meetings/{meeting.id}/invite.ics", headers=api_token(world.yot_staff)).data))
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART") == utc(2027, 12, 14, 10)
    # Outside the partnership: a 404, on both doors.
    outsider = make_user(Role.AGENCY_STAFF, agency=world.outsider)
    db.session.commit()
    assert client.get(f"/api/v1/meetings/{meeting.id}/invite.ics", headers=api_token(outsider)).status_code == 404
    client.post("/sign-out", data={"csrf_token": csrf_token_from(client.get("/").text)})
    sign_in(client, outsider.email)
    assert client.get(f"/meetings/{meeting.id}/invite.ics").status_code == 404


def test_a_series_sends_each_agency_one_email_with_one_file_per_meeting(client: FlaskClient, api_token,
                                                                        world: World, smtp: CapturedMail) -> None:
    starts = local(2027, 9, 7, 10)
    body = api_schedule(client, api_token(world.broker), world.partnership, starts, starts + timedelta(hours=2),
                        recurrence="FREQ=MONTHLY;BYDAY=1TU;COUNT=4",
                        invited_agency_ids=[world.yot.id, world.health.id, world.education.id])
    meetings = series_meetings(meeting_by_id(body["id"]).series_id)
    assert len(meetings) == 4
    assert sorted(m["To"] for m in smtp.messages) == sorted([world.yot.contact_email, world.health.contact_email])
    for agency in (world.yot, world.health):
        [message] = smtp.to(agency.contact_email)
        assert subject(message) == "Invitation: 4 Conwy resettlement panels from Tuesday 7 September 2027, 10:00"
        calendars = calendars_in(message)
        assert len(calendars) == 4
        events = []
        for part, parsed in calendars:
            assert str(parsed["METHOD"]) == "REQUEST" and part.get_param("method") == "REQUEST"
            assert part.get_filename().endswith(".ics")
            events.append(only_event(parsed))
        assert [str(e["UID"]) for e in events] == [m.uid for m in meetings]
        assert [int(e["SEQUENCE"]) for e in events] == [0] * 4
        assert [e.decoded("DTSTART") for e in events] == [m.starts_at for m in meetings] == [
            utc(2027, 9, 7, 9), utc(2027, 10, 5, 9), utc(2027, 11, 2, 10), utc(2027, 12, 7, 10)]
        assert [e.decoded("DTEND") - e.decoded("DTSTART") for e in events] == [timedelta(hours=2)] * 4
        # The body lists every meeting in local time.
        text = message.get_body(("plain",)).get_content()
        for line in ("Tuesday 7 September 2027, 10:00 – 12:00", "Tuesday 2 November 2027, 10:00 – 12:00"):
            assert line in text
    assert smtp.to(world.housing.contact_email) == [] and smtp.to(world.outsider.contact_email) == []


def test_emails_name_no_young_person(client: FlaskClient, api_token, login_as, world: World,
                                     smtp: CapturedMail) -> None:
    referral = make_referral(partnership=world.partnership, referrer=world.yot_staff, broker=world.broker,
                             status="accepted", shared_with=[(world.housing, None)],
                             young_person=YoungPersonDetails(
                                 NAME[0], NAME[1], date(2009, 5, 17)))
    db.session.commit()
    headers = api_token(world.broker)
    starts = local(2027, 12, 7, 10)
    body = api_schedule(client, headers, world.partnership, starts, starts + timedelta(hours=2))
    added = client.post(f"/api/v1/meetings/{body['id']}/agenda", headers=headers,
                        json={"referral_id": referral.id, "kind": "new"})
    assert added.status_code == 201, added.get_json()
    login_as(world.broker)
    before = len(smtp.messages)
    response = form_post(client, f"/meetings/{body['id']}/request-updates", due_on=dmy(date(2027, 12, 3)))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    requests = smtp.messages[before:]
    # The agencies involved in the case (the referrer and the one it was shared with) are asked.
    assert sorted(m["To"] for m in requests) == sorted([world.yot.contact_email, world.housing.contact_email])
    for message in requests:
        assert subject(message) == "Update needed by 3 December: Conwy resettlement panel"
        text = message.get_body(("plain",)).get_content()
        assert "ZQ" in text  # initials only
    response = form_post(client, f"/meetings/{body['id']}/edit", day=dmy(date(2027, 12, 8)), starts="10:00",
                         ends="12:00", location="Colwyn Bay YJS offices",
                         invited=[str(a.id) for a in world.partnership.agencies])
    assert response.status_code == 302
    response = form_post(client, f"/meetings/{body['id']}/cancel", reason="Moved to January.")
    assert response.status_code == 302
    kinds = {subject(m).split(":")[0] for m in smtp.messages}
    assert kinds == {"Invitation", "Update needed by 3 December", "Changed", "Cancelled"}
    for message in smtp.messages:
        seen = message_text(message) + message.as_string()
        assert NAME[0] not in seen and NAME[1] not in seen, message["Subject"]
        assert NAME[0].lower() not in seen.lower() and NAME[1].lower() not in seen.lower()


# --- The personal calendar feed -----------------------------------------------------------------


def _feed_link(client: FlaskClient) -> str:
    page = client.get("/calendar/")
    response = client.post("/calendar/", data={"csrf_token": csrf_token_from(page.text)})
    assert response.status_code == 200
    link = BeautifulSoup(response.text, "html.parser").find(class_="app-break-all").get_text(strip=True)
    assert link.endswith(".ics")
    return urlsplit(link).path


def test_the_personal_calendar_feed(client: FlaskClient, login_as, world: World) -> None:
    scheduled = make_meeting(partnership=world.partnership, broker=world.broker, starts_in=timedelta(days=10))
    cancelled = make_meeting(partnership=world.partnership, broker=world.broker, starts_in=timedelta(days=20))
    service.cancel(world.broker, cancelled, "Nobody could come.")
    last_month = make_meeting(partnership=world.partnership, broker=world.broker, starts_in=-timedelta(days=30))
    # The YOT is not invited to this one, but it is a meeting of its partnership.
    later = service.schedule(world.broker, world.partnership.id, service.MeetingDetails(
        local(2028, 4, 4, 10), local(2028, 4, 4, 12), location="Town hall", invited_agency_ids=[world.housing.id]))
    elsewhere = make_meeting(partnership=world.other_partnership, starts_in=timedelta(days=10))
    db.session.commit()
    expected = {m.uid: m for m in (scheduled, cancelled, last_month, later)}

    login_as(world.yot_staff)
    old_path = _feed_link(client)
    client.post("/sign-out", data={"csrf_token": csrf_token_from(client.get("/").text)})
    feed = client.get(old_path)  # calendar programs do not sign in
    assert feed.status_code == 200
    assert feed.mimetype == "text/calendar"
    parsed = Calendar.from_ical(feed.data)
    events = {str(e["UID"]): e for e in parsed.walk("VEVENT")}
    assert len(parsed.walk("VEVENT")) == len(events) == 4  # one each
    assert set(events) == set(expected)
    assert elsewhere.uid not in events
    for uid, meeting in expected.items():
        assert events[uid].decoded("DTSTART") == meeting.starts_at
        assert events[uid].decoded("DTEND") == meeting.ends_at
        assert str(events[uid]["STATUS"]) == ("CANCELLED" if meeting is cancelled else "CONFIRMED")
    assert int(events[cancelled.uid]["SEQUENCE"]) == 1
    assert events[later.uid].decoded("DTSTART") == utc(2028, 4, 4, 9)

    # A new link: the old one stops working at once, the new one works.
    sign_in(client, world.yot_staff.email)
    new_path = _feed_link(client)
    assert new_path != old_path
    assert client.get(old_path).status_code == 404
    assert client.get(new_path).status_code == 200
    assert client.get("/calendar/not-a-token.ics").status_code == 404
