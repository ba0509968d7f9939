"""Two people update the same action at the same moment, on a real database with data committed for
real: one succeeds, the other is told someone else changed it (409), and nothing is lost or doubled.

PostgreSQL: both requests read the action (the same version) and are held there until both have read;
then both write. The window is real: both pass the version check, and the database's own row check
(``UPDATE ... WHERE version = ...``) must turn the second write away.

SQLite: one writer at a time is how SQLite works (a second writer with a read lock is refused outright),
so the two requests, sent with the same version at the same moment, run one after the other: the second
meets the version check.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from panel_app.extensions import db
from panel_app.models import Action, ActionStatus, ActionUpdate, Role
from panel_app.pathways import Pathway
from panel_app.services import actions as action_service
from panel_app.services.accounts import issue_api_token
from panel_app.services.clock import today
from tests.conftest import FreshDatabases, app_with_its_own_database, csrf_token_from, sign_in
from tests.factories import make_agency, make_partnership, make_referral, make_user

ROUNDS = 10
STALE = "Someone else changed this"


# --- A database of its own, with data committed for real -----------------------------------------


@pytest.fixture(scope="module")
def concurrency_app(databases: FreshDatabases) -> Iterator[Flask]:
    with app_with_its_own_database(databases, "concurrency") as application:
        yield application


@pytest.fixture(scope="module")
def dialect(databases: FreshDatabases) -> str:
    return databases.dialect


@dataclass
class Scene:
    app: Flask
    action_id: int
    broker_email: str
    housing_email: str
    broker_token: str
    housing_token: str


@pytest.fixture
def scene(concurrency_app: Flask) -> Scene:
    """An action owned by housing on an accepted referral; the broker and a housing worker may both update it."""
    with concurrency_app.app_context():
        housing = make_agency(type="housing")
        yot = make_agency(type="yot")
        broker = make_user(Role.BROKER)
        referrer = make_user(Role.AGENCY_STAFF, agency=yot)
        housing_staff = make_user(Role.AGENCY_STAFF, agency=housing)
        partnership = make_partnership(agencies=[yot, housing], brokers=[broker])
        referral = make_referral(partnership=partnership, referrer=referrer, broker=broker, status="accepted")
        action = action_service.create_action(broker, referral, action_service.NewAction(
            pathway=Pathway.ACCOMMODATION, description="Find supported lodgings before release.",
            agency_id=housing.id, due_on=today() + timedelta(days=10)))
        broker_token, _expires = issue_api_token(broker)
        housing_token, _expires = issue_api_token(housing_staff)
        db.session.commit()
        found = Scene(concurrency_app, action.id, broker.email, housing_staff.email, broker_token, housing_token)
        db.session.remove()
    return found


def stored(app: Flask, action_id: int) -> tuple[int, list[ActionUpdate], ActionStatus]:
    """The action's version, history and status as committed, read afresh."""
    with app.app_context():
        action = db.session.get(Action, action_id)
        assert action is not None
        updates = list(db.session.scalars(
            select(ActionUpdate).where(ActionUpdate.action_id == action_id).order_by(ActionUpdate.id)))
        result = (action.version, updates, action.status)
        db.session.remove()
    return result


# --- Sending two requests at the same moment -----------------------------------------------------


class ReadThenWrite:
    """Holds each request just after it has read the action, until every request has read it: then all
    write at once. (PostgreSQL only: SQLite would refuse the second writer outright.)"""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=20)
        self.local = threading.local()

    def around(self, original: Callable[..., Action]) -> Callable[..., Action]:
        def get_action(actor: Any, action_id: int) -> Action:
            action = original(actor, action_id)
            if not getattr(self.local, "waited", False):  # once per request: a 409 page reads it again
                self.local.waited = True
                self.barrier.wait()
            return action

        return get_action


def at_the_same_moment(dialect: str, monkeypatch: pytest.MonkeyPatch,
                       sends: list[Callable[[], Any]]) -> list[Any]:
    """Run the ``sends`` in threads released together; each returns its response."""
    start = threading.Barrier(len(sends), timeout=20)
    one_writer = threading.Lock()
    results: list[Any] = [None] * len(sends)
    errors: list[BaseException] = []
    if dialect == "postgresql":
        window = ReadThenWrite(len(sends))
        monkeypatch.setattr(action_service, "get_action", window.around(action_service.get_action))

    def run(index: int) -> None:
        try:
            start.wait()
            if dialect == "postgresql":
                results[index] = sends[index]()
            else:
                with one_writer:  # SQLite: one writer at a time
                    results[index] = sends[index]()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    monkeypatch.undo()
    assert not errors, errors
    assert all(result is not None for result in results), "a request did not finish"
    return results


# --- Through the API ----------------------------------------------------------------------------


def test_two_patches_with_the_same_version_one_wins_one_is_a_409_never_a_lost_update(
        scene: Scene, dialect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    broker, housing = scene.app.test_client(), scene.app.test_client()
    url = f"/api/v1/actions/{scene.action_id}"
    headers = {"broker": {"Authorization": f"Bearer {scene.broker_token}"},
               "housing": {"Authorization": f"Bearer {scene.housing_token}"}}
    outcomes: list[str] = []

    for round_number in range(1, ROUNDS + 1):
        version, history, _status = stored(scene.app, scene.action_id)
        # Both read the action first (the version they will send).
        read_by_broker = broker.get(url, headers=headers["broker"]).get_json()
        read_by_housing = housing.get(url, headers=headers["housing"]).get_json()
        assert read_by_broker["version"] == read_by_housing["version"] == version
        notes = {"broker": f"Round {round_number}: the broker chased the landlord",
                 "housing": f"Round {round_number}: housing viewed the lodgings"}
        statuses = {"broker": "in_progress", "housing": "blocked" if round_number % 2 else "in_progress"}

        def send(who: str, client: FlaskClient) -> Callable[[], Any]:
            body = {"version": version, "note": notes[who], "status": statuses[who]}
            return lambda: client.patch(url, json=body, headers=headers[who])

        first, second = at_the_same_moment(dialect, monkeypatch, [send("broker", broker), send("housing", housing)])
        codes = sorted([first.status_code, second.status_code])
        assert codes == [200, 409], (round_number, first.get_json(), second.get_json())
        winner, loser = (first, second) if first.status_code == 200 else (second, first)
        winner_name = "broker" if winner is first else "housing"
        outcomes.append(winner_name)

        refused = loser.get_json()["error"]
        assert refused["code"] == "conflict"
        assert STALE in refused["message"], refused
        assert winner.get_json()["version"] == version + 1

        new_version, new_history, new_status = stored(scene.app, scene.action_id)
        assert new_version == version + 1, f"round {round_number}: the version moved by {new_version - version}"
        added = new_history[len(history):]
        assert [u.id for u in new_history[:len(history)]] == [u.id for u in history], "the history was rewritten"
        assert len(added) == 1, f"round {round_number}: {len(added)} updates recorded"
        assert added[0].note == notes[winner_name], "the saved note is not the winner's"
        assert new_status.value == statuses[winner_name]
        # The loser's change left nothing behind.
        assert notes["broker" if winner_name == "housing" else "housing"] not in {u.note for u in new_history}

    # Only ever appended to: "Action agreed" at version 1, then one update per version.
    final_version, final_history, _status = stored(scene.app, scene.action_id)
    assert final_version == len(final_history) == 1 + ROUNDS
    print(f"\n{dialect}: {ROUNDS} rounds, winners: {outcomes}")


def test_after_the_409_the_loser_can_make_its_change_on_the_newer_version(
        scene: Scene, dialect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = scene.app.test_client()
    url = f"/api/v1/actions/{scene.action_id}"
    broker = {"Authorization": f"Bearer {scene.broker_token}"}
    housing = {"Authorization": f"Bearer {scene.housing_token}"}
    version, history, _status = stored(scene.app, scene.action_id)
    responses = at_the_same_moment(dialect, monkeypatch, [
        lambda: scene.app.test_client().patch(url, json={"version": version, "note": "first"}, headers=broker),
        lambda: scene.app.test_client().patch(url, json={"version": version, "note": "second"}, headers=housing),
    ])
    assert sorted(r.status_code for r in responses) == [200, 409]
    loser = next(r for r in responses if r.status_code == 409)
    loser_headers = housing if loser is responses[1] else broker
    fresh = client.get(url, headers=loser_headers).get_json()
    assert fresh["version"] == version + 1
    again = client.patch(url, json={"version": fresh["version"], "note": "made again"}, headers=loser_headers)
    assert again.status_code == 200, again.get_json()
    new_version, new_history, _status = stored(scene.app, scene.action_id)
    assert new_version == version + 2
    assert len(new_history) == len(history) + 2


# --- Through the pages --------------------------------------------------------------------------


def _signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def _form_of(page_html: str) -> dict[str, str]:
    """The update form's CSRF token and version, as a person's browser holds them."""
    page = BeautifulSoup(page_html, "html.parser")
    form = page.find("form", action=re.compile(r"/actions/\d+/update$"))
    assert form is not None, "no update form on the action page"
    return {"csrf_token": csrf_token_from(str(form)), "version": form.find("input", attrs={"name": "version"})["value"]}


def _shown_history(page_html: str) -> str:
    timeline = BeautifulSoup(page_html, "html.parser").find(class_="app-timeline")
    assert timeline is not None
    return timeline.get_text(" ", strip=True)


def _shown_status(page_html: str) -> str:
    heading = BeautifulSoup(page_html, "html.parser").find("h1")
    return heading.find_next(class_="govuk-tag").get_text(strip=True)


def _assert_shows_the_newer_state(response: Any, winner_note: str, winner_status: str, version: int) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == 409, text[:2000]
    assert "Traceback" not in text
    shown = BeautifulSoup(text, "html.parser").get_text(" ", strip=True)
    assert "Someone else changed this action" in text, shown[:1500]
    assert winner_note in _shown_history(text), "the 409 page does not show the other person's change"
    assert _shown_status(text) == winner_status
    # The form on the page now names the newer version: sending again is a deliberate choice.
    assert _form_of(text)["version"] == str(version)


def test_a_stale_form_is_refused_and_the_page_shows_the_newer_state(scene: Scene) -> None:
    broker = _signed_in(scene.app, scene.broker_email)
    housing = _signed_in(scene.app, scene.housing_email)
    page_url, post_url = f"/actions/{scene.action_id}", f"/actions/{scene.action_id}/update"
    version, history, _status = stored(scene.app, scene.action_id)
    broker_form = _form_of(broker.get(page_url).text)
    housing_form = _form_of(housing.get(page_url).text)
    assert broker_form["version"] == housing_form["version"] == str(version)

    first = housing.post(post_url, data={**housing_form, "status": "in_progress",
                                         "note": "Housing booked a viewing for Thursday"})
    assert first.status_code == 302
    second = broker.post(post_url, data={**broker_form, "status": "blocked", "note": "Broker: no places left"})
    _assert_shows_the_newer_state(second, "Housing booked a viewing for Thursday", "In progress", version + 1)

    new_version, new_history, new_status = stored(scene.app, scene.action_id)
    assert new_version == version + 1 and len(new_history) == len(history) + 1
    assert new_status is ActionStatus.IN_PROGRESS
    assert "Broker: no places left" not in {u.note for u in new_history}


def test_two_forms_sent_at_the_same_moment_one_saved_the_other_shown_the_newer_state(
        scene: Scene, dialect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = _signed_in(scene.app, scene.broker_email)
    housing = _signed_in(scene.app, scene.housing_email)
    page_url, post_url = f"/actions/{scene.action_id}", f"/actions/{scene.action_id}/update"
    wins: list[str] = []
    pages_not_showing_the_newer_state: list[str] = []

    for round_number in range(1, ROUNDS + 1):
        version, history, _status = stored(scene.app, scene.action_id)
        broker_form = _form_of(broker.get(page_url).text)
        housing_form = _form_of(housing.get(page_url).text)
        notes = {"broker": f"Page round {round_number}: broker note",
                 "housing": f"Page round {round_number}: housing note"}
        sends = [lambda: broker.post(post_url, data={**broker_form, "status": "in_progress", "note": notes["broker"]}),
                 lambda: housing.post(post_url, data={**housing_form, "status": "blocked", "note": notes["housing"]})]
        by_broker, by_housing = at_the_same_moment(dialect, monkeypatch, sends)
        assert sorted([by_broker.status_code, by_housing.status_code]) == [302, 409], round_number
        winner = "broker" if by_broker.status_code == 302 else "housing"
        wins.append(winner)
        loser_response = by_housing if winner == "broker" else by_broker

        # Nothing lost, nothing doubled.
        new_version, new_history, _status = stored(scene.app, scene.action_id)
        assert new_version == version + 1
        added = new_history[len(history):]
        assert [u.note for u in added] == [notes[winner]]
        try:
            _assert_shows_the_newer_state(loser_response, notes[winner],
                                          "In progress" if winner == "broker" else "Blocked", version + 1)
        except AssertionError as problem:
            text = BeautifulSoup(loser_response.text, "html.parser").find("main").get_text(" ", strip=True)
            pages_not_showing_the_newer_state.append(f"round {round_number}: {text[:200]!r} ({str(problem)[:80]})")

    print(f"\n{dialect}: page rounds won by {wins}")
    assert not pages_not_showing_the_newer_state, (
        f"{len(pages_not_showing_the_newer_state)} of {ROUNDS} refused pages did not say 'Someone else changed this "
        "action' with the newer state:\n" + "\n".join(pages_not_showing_the_newer_state))

