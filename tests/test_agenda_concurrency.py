"""Several agenda additions to one meeting at the same moment, on a real database with data committed
for real: one referral sent ten times is on the agenda once (the others are told it is already there,
never a 500); seven different referrals get the positions 1 to 7.

PostgreSQL: every request reads the meeting and its agenda, and is held there until all have read it;
then all add at once. Before the fix they all counted the same agenda (positions 1, 2, 2, 2...) and
the duplicates reached the database's unique constraint (a 500).

SQLite: one writer at a time is how SQLite works, so the requests run one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from panel_app.extensions import db
from panel_app.models import AgendaItem, PanelMeeting, Role
from panel_app.services import meetings as service
from panel_app.services.accounts import issue_api_token
from tests.conftest import FreshDatabases, app_with_its_own_database, csrf_token_from, sign_in
from tests.factories import make_agency, make_meeting, make_partnership, make_referral, make_user


@pytest.fixture(scope="module")
def concurrency_app(databases: FreshDatabases) -> Iterator[Flask]:
    with app_with_its_own_database(databases, "agenda") as application:
        yield application


@pytest.fixture(scope="module")
def dialect(databases: FreshDatabases) -> str:
    return databases.dialect


@dataclass
class Scene:
    app: Flask
    meeting_id: int
    referral_ids: list[int]
    broker_email: str
    broker_token: str


@pytest.fixture
def scene(concurrency_app: Flask) -> Scene:
    """A meeting with an empty agenda and seven accepted referrals of its partnership."""
    with concurrency_app.app_context():
        yot = make_agency(type="yot")
        broker = make_user(Role.BROKER)
        referrer = make_user(Role.AGENCY_STAFF, agency=yot)
        partnership = make_partnership(agencies=[yot], brokers=[broker])
        referrals = [make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted")
                     for _ in range(7)]
        meeting = make_meeting(partnership=partnership, broker=broker)
        token, _expires = issue_api_token(broker)
        db.session.commit()
        found = Scene(concurrency_app, meeting.id, [r.id for r in referrals], broker.email, token)
        db.session.remove()
    # The token's first use records when it was last used (a write to its row, which would make the
    # requests below wait for each other on that row instead of meeting on the agenda): do it now.
    warm_up = concurrency_app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert warm_up.status_code == 200
    return found


def stored_agenda(app: Flask, meeting_id: int) -> list[tuple[int, int]]:
    """(position, referral id) of each item as committed, read afresh."""
    with app.app_context():
        rows = [(item.position, item.referral_id) for item in db.session.scalars(
            select(AgendaItem).where(AgendaItem.meeting_id == meeting_id).order_by(AgendaItem.position))]
        db.session.remove()
    return rows


class ReadThenAdd:
    """Holds each request just after it has read the meeting and its agenda, until every request has
    read them: then all add at once."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)
        self.local = threading.local()

    def around(self, original: Callable[..., PanelMeeting]) -> Callable[..., PanelMeeting]:
        def get_meeting(actor: Any, meeting_id: int) -> PanelMeeting:
            meeting = original(actor, meeting_id)
            if not getattr(self.local, "waited", False):  # once per request: an error page reads it again
                self.local.waited = True
                len(meeting.items)  # the agenda as it was before anybody added
                self.barrier.wait()
            return meeting

        return get_meeting


def at_the_same_moment(dialect: str, monkeypatch: pytest.MonkeyPatch, sends: list[Callable[[], Any]]) -> list[Any]:
    start = threading.Barrier(len(sends), timeout=30)
    one_writer = threading.Lock()
    results: list[Any] = [None] * len(sends)
    errors: list[BaseException] = []
    if dialect == "postgresql":
        monkeypatch.setattr(service, "get_meeting", ReadThenAdd(len(sends)).around(service.get_meeting))

    def run(index: int) -> None:
        try:
            start.wait()
            if dialect == "postgresql":
                results[index] = sends[index]()
            else:
                with one_writer:
                    results[index] = sends[index]()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    monkeypatch.undo()
    assert not errors, errors
    assert all(result is not None for result in results), "a request did not finish"
    return results


def test_one_referral_added_ten_times_at_once_is_on_the_agenda_once(scene: Scene, dialect: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"/api/v1/meetings/{scene.meeting_id}/agenda"
    headers = {"Authorization": f"Bearer {scene.broker_token}"}
    body = {"referral_id": scene.referral_ids[0], "kind": "review"}
    clients = [scene.app.test_client() for _ in range(10)]
    responses = at_the_same_moment(dialect, monkeypatch,
                                   [lambda c=c: c.post(url, json=body, headers=headers) for c in clients])
    statuses = sorted(response.status_code for response in responses)
    # Under the agenda's lock each later request reads the agenda afresh: already on it (422).
    assert statuses == [201] + [422] * 9, statuses
    for response in responses:
        if response.status_code != 201:
            error = response.get_json()["error"]
            assert error["code"] == "invalid"
            assert error["fields"] == {"referral_id": "Already on the agenda"}
    assert stored_agenda(scene.app, scene.meeting_id) == [(1, scene.referral_ids[0])]


def test_seven_referrals_added_at_once_get_positions_one_to_seven(scene: Scene, dialect: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"/api/v1/meetings/{scene.meeting_id}/agenda"
    headers = {"Authorization": f"Bearer {scene.broker_token}"}
    clients = [scene.app.test_client() for _ in scene.referral_ids]
    responses = at_the_same_moment(dialect, monkeypatch, [
        lambda c=c, r=r: c.post(url, json={"referral_id": r, "kind": "review"}, headers=headers)
        for c, r in zip(clients, scene.referral_ids)])
    assert [response.status_code for response in responses] == [201] * 7, [r.get_json() for r in responses]
    agenda = stored_agenda(scene.app, scene.meeting_id)
    assert [position for position, _referral in agenda] == [1, 2, 3, 4, 5, 6, 7]
    assert sorted(referral for _position, referral in agenda) == sorted(scene.referral_ids)
    # Each answer gave the position that was stored.
    assert sorted(response.get_json()["position"] for response in responses) == [1, 2, 3, 4, 5, 6, 7]


def test_the_same_referral_from_the_agenda_page_at_once_is_added_once(scene: Scene, dialect: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"/meetings/{scene.meeting_id}/agenda"
    clients = []
    for _ in range(4):
        client = scene.app.test_client()
        assert sign_in(client, scene.broker_email).status_code == 302
        clients.append((client, csrf_token_from(client.get(url).text)))
    data = {"referral_id": str(scene.referral_ids[0]), "kind": "review"}
    responses = at_the_same_moment(dialect, monkeypatch, [
        lambda c=c, t=t: c.post(url, data={**data, "csrf_token": t}) for c, t in clients])
    statuses = sorted(response.status_code for response in responses)
    # The later ones on PostgreSQL read the agenda before anybody added (their forms offer the
    # referral), then, under the agenda's lock, find it already there: 422. On SQLite each runs after
    # the one before has added it, so its form no longer offers it: "choose another", 400.
    later = 422 if dialect == "postgresql" else 400
    assert statuses == [302] + [later] * 3, statuses
    for response in responses:
        assert "Traceback" not in response.get_data(as_text=True)
    assert stored_agenda(scene.app, scene.meeting_id) == [(1, scene.referral_ids[0])]
