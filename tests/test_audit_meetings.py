"""Every meeting route that shows, exports or changes a young person's data leaves a row in the audit
trail (docs/domain.md: "Every read, change and export of a young person's data is recorded").

The routes are classified here by hand: each meeting endpoint of the URL map (``meetings.*``,
``calendar.*``, ``api.meeting*``), method by method, either shows, exports or changes a young
person's data (and must audit), or is listed with the reason it shows none. A new route fails the
classification test until someone decides which it is.

Each audited route is then called by a person allowed to use it, and the new rows of the audit trail
must name the person (their id, email, role, agency) and the door it came through, and the record:

* a page or answer that shows the agenda, and a document exported from it (the panel pack, the
  minutes), names the meeting and, in ``detail["referral_ids"]``, exactly the cases it gave in full
  to that person (never those shown as initials only);
* the action list (``actions.pdf``, "meeting.actions.export") names the meeting and, in
  ``detail["referral_ids"]``, exactly the cases whose actions it lists: those the person's agency owes
  (the broker: every agency's);
* a change, or an export sent to an agency, names the case it concerns (record type "referral" and
  its id, or its id among ``detail["referral_ids"]``).

Every case runs in one world, built once per module (``world``; each case runs in a SAVEPOINT rolled
back after it, so every case meets the world as built).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel_app.models import AuditEvent, NeedRating, PanelMeeting, Referral, Role, User, db
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services import meetings as service
from panel_app.services.clock import today
from panel_app.services.referrals import YoungPersonDetails
from tests.conftest import assert_every_route_classified, built_once, csrf_token_from, kept, loaded
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_user

# The cases of the world.
INSIDE = "inside"  # shared with housing; on the upcoming meeting's agenda, and the held one's
OUTSIDE = "outside"  # shared with nobody; on the upcoming meeting's agenda
WAITING = "waiting"  # accepted, on no agenda (to be added)
FRESH = "fresh"  # accepted, on the agenda of the meeting that has started (marking it held activates it)

# The meetings of the world.
UPCOMING = "upcoming"  # in a week: INSIDE (housing owes an action) and OUTSIDE (the YOT owes one), updates
# asked of the YOT and housing
STARTED = "started"  # began an hour ago, not yet marked as held: FRESH
HELD = "held"  # last week, held, minutes in draft: INSIDE

BROKER, REFERRER, HOUSING, EDUCATION = "broker", "referrer", "housing", "education"


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # {meeting}: the meeting's id; {inside}, {outside}: their agenda items; {housing}: the agency
    meeting: str
    actor: str
    status: int  # what an allowed call answers
    names: tuple[str, str]  # ("meeting", key) or ("referral", key): what the row must name
    referral_ids: frozenset[str] | None = None  # exactly the cases given in full (views and exports)
    action: str | None = None  # the row's action, where the contract names it
    detail: Callable[[Any], dict[str, Any]] | None = None  # further detail the row must carry
    form: Callable[[Any], dict[str, Any]] | None = None  # page POSTs: the fields (CSRF token and version added)
    json: Callable[[Any], dict[str, Any]] | None = None  # API POSTs

    @property
    def door(self) -> str:
        return "api" if self.path.startswith("/api/") else "web"


BOTH = frozenset({INSIDE, OUTSIDE})
ONLY_INSIDE = frozenset({INSIDE})
NONE = frozenset()
# What each person is given in full of the upcoming meeting's agenda.
FULL = {BROKER: BOTH, REFERRER: BOTH, HOUSING: ONLY_INSIDE, EDUCATION: NONE}
# The cases whose actions each person's action list carries: what their agency owes; the broker, all.
OWED = {BROKER: BOTH, REFERRER: frozenset({OUTSIDE}), HOUSING: ONLY_INSIDE, EDUCATION: NONE}


def _shown(path: str, action: str | None, *actors: str) -> list[Call]:
    """A page or answer showing the upcoming meeting's agenda, read by each of ``actors``."""
    return [Call("GET", path, UPCOMING, who, 200, ("meeting", UPCOMING), FULL[who], action) for who in actors]


def _exported(path: str, document: str, *actors: str) -> list[Call]:
    return [Call("GET", path, UPCOMING, who, 200, ("meeting", UPCOMING), FULL[who], f"meeting.{document}.export")
            for who in actors]


def _preview(path: str, document: str) -> Call:
    """The broker's preview of housing's document: it names what housing receives."""
    return Call("GET", path, UPCOMING, BROKER, 200, ("meeting", UPCOMING), ONLY_INSIDE, f"meeting.{document}.export",
                detail=lambda w: {"for_agency_id": w.agency_ids[HOUSING]})


def _item(prefix: str, world: Any, case: str) -> str:
    return f"{prefix}{world.items[case]}"


def _notes_form(world: Any) -> dict[str, Any]:
    prefix = _item("item", world, INSIDE)
    return {f"{prefix}-notes": "Discussed the move to supported lodgings.", f"{prefix}-decisions": "",
            f"{prefix}-version": str(world.item_versions[INSIDE])}


def _needs_form(world: Any) -> dict[str, Any]:
    prefix = _item("needs", world, INSIDE)
    data: dict[str, Any] = {f"{prefix}-need_{p.value}-rating": "none" for p in Pathway}
    data[f"{prefix}-need_accommodation-rating"] = "amber"
    data[f"{prefix}-need_accommodation-note"] = "Re-rated at the panel"
    data[f"{prefix}-version"] = str(world.referral_versions[INSIDE])
    return data


def _tomorrow() -> list[str]:
    day = today() + timedelta(days=1)
    return [str(day.day), str(day.month), str(day.year)]


def _action_form(world: Any) -> dict[str, Any]:
    """Meeting mode's form to record an action on INSIDE (its fields carry the referral's prefix)."""
    prefix = f"r{world.referrals[INSIDE]}"
    return {f"{prefix}-pathway": "accommodation", f"{prefix}-description": "Hold the room until release day",
            f"{prefix}-agency_id": str(world.agency_ids[HOUSING]), f"{prefix}-owner_user_id": "0",
            f"{prefix}-due_on": _tomorrow()}


def _action_list(path: str, *actors: str) -> list[Call]:
    return [Call("GET", path, UPCOMING, who, 200, ("meeting", UPCOMING), OWED[who], "meeting.actions.export")
            for who in actors]


# (endpoint, method) -> the calls that must audit. Reads are made by each kind of person who may make
# them; changes by the one who may.
AUDITED: dict[tuple[str, str], list[Call]] = {
    # --- Pages and answers that show the agenda.
    ("meetings.show", "GET"): _shown("/meetings/{meeting}", "meeting.view", BROKER, REFERRER, HOUSING),
    ("meetings.agenda", "GET"): _shown("/meetings/{meeting}/agenda", "meeting.agenda", BROKER),
    ("meetings.run", "GET"): _shown("/meetings/{meeting}/run", "meeting.run", BROKER),
    ("meetings.minutes", "GET"): _shown("/meetings/{meeting}/minutes", None, BROKER),
    ("api.meeting_detail", "GET"): _shown("/api/v1/meetings/{meeting}", "meeting.view", BROKER, HOUSING),
    ("api.meetings_list", "GET"): _shown("/api/v1/meetings", "meeting.view", BROKER, HOUSING),
    # --- Documents exported.
    ("meetings.pack_pdf", "GET"): _exported("/meetings/{meeting}/pack.pdf", "pack", BROKER, HOUSING, EDUCATION)
    + [_preview("/meetings/{meeting}/pack.pdf?agency={housing}", "pack")],
    ("meetings.minutes_pdf", "GET"): _exported("/meetings/{meeting}/minutes.pdf", "minutes", BROKER, HOUSING,
                                               EDUCATION)
    + [_preview("/meetings/{meeting}/minutes.pdf?agency={housing}", "minutes")],
    ("meetings.actions_pdf", "GET"): _action_list("/meetings/{meeting}/actions.pdf", BROKER, REFERRER, HOUSING,
                                                  EDUCATION)
    + [Call("GET", "/meetings/{meeting}/actions.pdf?agency={housing}", UPCOMING, BROKER, 200, ("meeting", UPCOMING),
            ONLY_INSIDE, "meeting.actions.export", detail=lambda w: {"for_agency_id": w.agency_ids[HOUSING]})],
    ("api.meeting_pack", "GET"): _exported("/api/v1/meetings/{meeting}/pack.pdf", "pack", BROKER, HOUSING),
    ("api.meeting_minutes", "GET"): _exported("/api/v1/meetings/{meeting}/minutes.pdf", "minutes", BROKER, HOUSING),
    # Each agency is emailed its own pack: housing's names the case it was given in full.
    ("meetings.send_packs", "POST"): [
        Call("POST", "/meetings/{meeting}/send-packs", UPCOMING, BROKER, 302, ("referral", INSIDE), ONLY_INSIDE,
             "meeting.pack.export", detail=lambda w: {"for_agency_id": w.agency_ids[HOUSING]}, form=lambda w: {})],
    # Approving the minutes emails each agency its minutes: housing's and the YOT's carry INSIDE in full.
    ("meetings.minutes", "POST"): [
        Call("POST", "/meetings/{meeting}/minutes", HELD, BROKER, 302, ("referral", INSIDE),
             form=lambda w: {"minutes_notes": "Next panel in a month.", "approve": "Approve and send to each agency"})],
    # --- Pages about one case on the agenda.
    ("meetings.send_update", "GET"): [
        Call("GET", "/meetings/{meeting}/items/{inside}/update", UPCOMING, HOUSING, 200, ("referral", INSIDE))],
    ("meetings.young_person_views", "GET"): [
        Call("GET", "/meetings/{meeting}/items/{inside}/views", UPCOMING, BROKER, 200, ("referral", INSIDE))],
    # --- Changes.
    ("meetings.send_update", "POST"): [
        Call("POST", "/meetings/{meeting}/items/{inside}/update", UPCOMING, HOUSING, 302, ("referral", INSIDE),
             action="meeting.send_update", form=lambda w: {"update": "A room is offered from the day of release."})],
    ("meetings.young_person_views", "POST"): [
        Call("POST", "/meetings/{meeting}/items/{inside}/views", UPCOMING, BROKER, 302, ("referral", INSIDE),
             action="meeting.views", form=lambda w: {"young_person_views": "Wants to live near his sister."})],
    ("meetings.agenda_add", "POST"): [
        Call("POST", "/meetings/{meeting}/agenda", UPCOMING, BROKER, 302, ("referral", WAITING),
             action="meeting.agenda_add",
             form=lambda w: {"referral_id": str(w.referrals[WAITING]), "kind": "review"})],
    ("meetings.agenda_item", "POST"): [
        Call("POST", "/meetings/{meeting}/agenda/{outside}", UPCOMING, BROKER, 302, ("referral", OUTSIDE),
             action="meeting.agenda_remove", form=lambda w: {"action": "remove"})],
    ("meetings.save_notes", "POST"): [
        Call("POST", "/meetings/{meeting}/items/{inside}/notes", UPCOMING, BROKER, 302, ("referral", INSIDE),
             action="meeting.notes", form=_notes_form)],
    # Meeting mode records an action agreed on a case.
    ("meetings.create_action", "POST"): [
        Call("POST", "/meetings/{meeting}/items/{inside}/actions", UPCOMING, BROKER, 302, ("referral", INSIDE),
             action="action.create", detail=lambda w: {"agency_id": w.agency_ids[HOUSING]}, form=_action_form)],
    ("meetings.rate_needs", "POST"): [
        Call("POST", "/meetings/{meeting}/items/{inside}/needs", UPCOMING, BROKER, 302, ("referral", INSIDE),
             action="referral.needs", form=_needs_form)],
    # Marking a meeting as held makes the cases discussed for the first time active: a change of each.
    ("meetings.mark_held", "POST"): [
        Call("POST", "/meetings/{meeting}/held", STARTED, BROKER, 302, ("referral", FRESH), form=lambda w: {})],
    # Asking for updates emails each involved agency the initials of its cases.
    ("meetings.request_updates", "POST"): [
        Call("POST", "/meetings/{meeting}/request-updates", UPCOMING, BROKER, 302, ("meeting", UPCOMING),
             action="meeting.request_updates", form=lambda w: {"due_on": _tomorrow()})],
    ("api.meeting_agenda_add", "POST"): [
        Call("POST", "/api/v1/meetings/{meeting}/agenda", UPCOMING, BROKER, 201, ("referral", WAITING),
             action="meeting.agenda_add", json=lambda w: {"referral_id": w.referrals[WAITING], "kind": "new"})],
}

# (endpoint, method) -> why it shows no young person's data (so it need not audit).
NOT_PERSONAL = {
    ("meetings.index", "GET"): "the list of meetings: times, places, partnerships and how many cases, none named",
    ("meetings.new", "GET"): "the scheduling form: partnerships and agencies only",
    ("meetings.new", "POST"): "scheduling: a time, a place, invited agencies",
    ("meetings.edit", "GET"): "the meeting's time and place",
    ("meetings.edit", "POST"): "moving the meeting: its time and place",
    ("meetings.cancel", "GET"): "the cancellation form: the meeting's time",
    ("meetings.cancel", "POST"): "cancelling the meeting",
    ("meetings.request_updates", "GET"): "the form: a deadline",
    ("meetings.attendance", "POST"): "which agencies attended, and who for them",
    ("meetings.invite_ics", "GET"): "a calendar file: time, place and a link, no case",
    ("api.meeting_invite", "GET"): "a calendar file: time, place and a link, no case",
    ("api.meeting_create", "POST"): "scheduling: a time, a place, invited agencies",
    ("calendar.settings", "GET"): "the person's calendar link",
    ("calendar.settings", "POST"): "a new calendar link for the person",
    ("calendar.feed", "GET"): "calendar events: times, places and links, no case",
}

CALLS = [
    pytest.param(call, id=f"{call.method} {call.path} ({call.meeting}) as {call.actor}")
    for calls in AUDITED.values() for call in calls
]


def test_every_meeting_route_is_classified(app: Flask) -> None:
    assert_every_route_classified(app, ("meetings.", "calendar.", "api.meeting"), AUDITED, NOT_PERSONAL)
    # Each classified call reaches the endpoint it is filed under.
    adapter = app.url_map.bind("localhost")
    for (endpoint, method), calls in AUDITED.items():
        for call in calls:
            path = call.path.split("?")[0].format(meeting=1, inside=1, outside=1, housing=1)
            assert adapter.match(path, method=call.method)[0] == endpoint
            assert call.method == method


@dataclass
class World:
    users: dict[str, User]
    meetings: dict[str, int]
    referrals: dict[str, int]
    items: dict[str, int]  # of the upcoming meeting, by case
    item_versions: dict[str, int]
    referral_versions: dict[str, int]
    agency_ids: dict[str, int] = field(default_factory=dict)


def build_world() -> World:
    yot = make_agency(type="yot", name="Audit Meeting YOT")
    housing = make_agency(type="housing", name="Audit Meeting Housing")
    education = make_agency(type="education", name="Audit Meeting School")
    broker = make_user(Role.BROKER)
    partnership = make_partnership(agencies=[yot, housing, education], brokers=[broker])
    users = {BROKER: broker, REFERRER: make_user(Role.AGENCY_STAFF, agency=yot),
             HOUSING: make_user(Role.AGENCY_STAFF, agency=housing),
             EDUCATION: make_user(Role.AGENCY_STAFF, agency=education)}

    def refer(family: str, shared: bool = False) -> Referral:
        return make_referral(partnership=partnership, referrer=users[REFERRER], broker=broker, status="accepted",
                             shared_with=[(housing, [Pathway.ACCOMMODATION])] if shared else None,
                             needs={Pathway.ACCOMMODATION: (NeedRating.RED, "No address on release")},
                             young_person=YoungPersonDetails("Ffion", family, date(2009, 5, 17)))

    referrals = {INSIDE: refer("Auditinside", shared=True), OUTSIDE: refer("Auditoutside"),
                 WAITING: refer("Auditwaiting"), FRESH: refer("Auditfresh")}
    upcoming = make_meeting(partnership=partnership, broker=broker, agenda=[referrals[INSIDE], referrals[OUTSIDE]])
    service.request_updates(broker, upcoming, today() + timedelta(days=1))
    for case, agency in ((INSIDE, housing), (OUTSIDE, yot)):
        action_service.create_action(broker, referrals[case], action_service.NewAction(
            pathway=Pathway.ACCOMMODATION, description="Find somewhere to live", agency_id=agency.id,
            due_on=today() + timedelta(days=10)))
    started = make_meeting(partnership=partnership, broker=broker, agenda=[referrals[FRESH]],
                           starts_in=-timedelta(hours=1))
    held = make_meeting(partnership=partnership, broker=broker, agenda=[referrals[INSIDE]],
                        starts_in=-timedelta(days=7))
    service.mark_held(broker, held)
    db.session.flush()
    items = {case: next(i for i in upcoming.items if i.referral_id == referrals[case].id) for case in (INSIDE, OUTSIDE)}
    return World(
        users,
        {UPCOMING: upcoming.id, STARTED: started.id, HELD: held.id},
        {case: referral.id for case, referral in referrals.items()},
        {case: item.id for case, item in items.items()},
        {case: item.version for case, item in items.items()},
        {case: referral.version for case, referral in referrals.items()},
        {HOUSING: housing.id},
    )


@pytest.fixture(scope="module")
def world_records(app: Flask, module_connection: Any) -> dict[str, Any]:
    return built_once(app, module_connection, lambda: kept(build_world()))


@pytest.fixture
def world(world_records: dict[str, Any]) -> World:
    """The world (built once per module), its records loaded in the case's own session."""
    return loaded(World, world_records)


def _last_audit_id() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


@pytest.mark.parametrize("call", CALLS)
def test_the_route_audits_the_young_persons_data_it_shows_exports_or_changes(
        client: FlaskClient, login_as, api_token, call: Call, world: World) -> None:
    actor = world.users[call.actor]
    meeting_id = world.meetings[call.meeting]
    url = call.path.format(meeting=meeting_id, inside=world.items[INSIDE], outside=world.items[OUTSIDE],
                           housing=world.agency_ids[HOUSING])
    headers: dict[str, str] = {}
    data = None
    if call.door == "api":
        headers = api_token(actor)
    else:
        login_as(actor)
        if call.method == "POST":
            db.session.expire_all()
            version = db.session.get(PanelMeeting, meeting_id).version
            data = {"csrf_token": csrf_token_from(client.get("/").text), "version": str(version),
                    **call.form(world)}
    before = _last_audit_id()

    response = client.open(url, method=call.method, headers=headers, data=data,
                           json=call.json(world) if call.json else None)

    assert response.status_code == call.status, response.text[:500]
    db.session.expire_all()
    rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)))
    assert rows, f"{call.method} {url} wrote no audit row"

    kind, key = call.names
    record_id = meeting_id if kind == "meeting" else world.referrals[key]

    def names_the_record(row: AuditEvent) -> bool:
        if kind == "meeting":
            return row.record_type == "meeting" and row.record_id == record_id
        return ((row.record_type == "referral" and row.record_id == record_id)
                or record_id in (row.detail or {}).get("referral_ids", []))

    def matches(row: AuditEvent) -> bool:
        if call.action is not None and row.action != call.action:
            return False
        if not names_the_record(row):
            return False
        if call.referral_ids is not None:
            shown = (row.detail or {}).get("referral_ids")
            if shown is None or sorted(shown) != sorted(world.referrals[case] for case in call.referral_ids):
                return False
        if call.detail is not None and any((row.detail or {}).get(k) != v for k, v in call.detail(world).items()):
            return False
        return True

    matching = [row for row in rows if matches(row)]
    expected_ids = sorted(world.referrals[case] for case in call.referral_ids) if call.referral_ids is not None else "-"
    assert matching, (f"{call.method} {url} as {call.actor}: no {call.action or 'audit'!r} row naming {kind} "
                      f"{record_id} (referral_ids {expected_ids}); rows: "
                      f"{[(r.action, r.record_type, r.record_id, r.detail) for r in rows]}")
    row = matching[0]
    assert (row.actor_user_id, row.actor_email, row.actor_role) == (actor.id, actor.email, actor.role.value)
    assert row.actor_agency_id == actor.agency_id
    assert row.channel == call.door
    # No row of this call is anonymous or names someone else.
    assert all(r.actor_user_id == actor.id for r in rows)
