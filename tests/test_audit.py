"""The audit trail: who, agency, role, what, which record, when, from where; never rewritten."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import DatabaseError

from panel_app import audit
from panel_app.models import AuditEvent, Role, db
from panel_app.models.audit import AuditTrailIsAppendOnly
from tests.factories import make_user


def test_a_recorded_event_carries_who_what_which_and_from_where(app) -> None:
    staff = make_user(Role.AGENCY_STAFF)
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "10.1.2.3"}, headers={"User-Agent": "Tests"}):
        audit.record("referral.view", actor=staff, record_type="referral", record_id=42, detail={"why": "test"})
    db.session.commit()  # an event is inserted when its transaction commits (chained onto the newest row)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.view")).one()
    assert (event.actor_user_id, event.actor_email, event.actor_role, event.actor_agency_id) == (
        staff.id, staff.email, "agency_staff", staff.agency_id,
    )
    assert (event.record_type, event.record_id, event.detail) == ("referral", 42, {"why": "test"})
    assert (event.ip_address, event.user_agent, event.channel) == ("10.1.2.3", "Tests", "web")
    assert event.occurred_at.tzinfo is not None


def test_the_orm_refuses_to_change_or_delete_an_event() -> None:
    event = audit.record("sign_in", actor=make_user(Role.BROKER))
    db.session.commit()
    event.action = "something else"
    with pytest.raises(AuditTrailIsAppendOnly):
        db.session.flush()
    db.session.rollback()


def test_the_orm_refuses_to_delete_an_event() -> None:
    event = audit.record("sign_in", actor=make_user(Role.BROKER))
    db.session.commit()
    db.session.delete(event)
    with pytest.raises(AuditTrailIsAppendOnly):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_event SET action = 'rewritten'", "DELETE FROM audit_event"],
)
def test_the_database_refuses_to_rewrite_history_even_by_hand(statement: str) -> None:
    audit.record("sign_in", actor=make_user(Role.BROKER))
    db.session.commit()
    savepoint = db.session.begin_nested()
    # On PostgreSQL the app's role is refused before the trigger is asked (tests/test_audit_chain.py).
    with pytest.raises(DatabaseError, match="never changed or deleted|permission denied"):
        db.session.execute(sa.text(statement))
    savepoint.rollback()
    assert db.session.scalar(select(sa.func.count()).select_from(AuditEvent)) == 1


def test_an_event_recorded_inside_a_savepoint_that_is_rolled_back_never_happened() -> None:
    broker = make_user(Role.BROKER)
    audit.record("kept", actor=broker)
    savepoint = db.session.begin_nested()
    audit.record("undone", actor=broker)
    savepoint.rollback()
    released = db.session.begin_nested()
    audit.record("released", actor=broker)
    released.commit()
    db.session.commit()
    assert list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))) == ["kept", "released"]


def test_an_event_of_a_transaction_rolled_back_never_happened() -> None:
    broker = make_user(Role.BROKER)
    db.session.commit()
    audit.record("undone", actor=broker)
    db.session.rollback()
    audit.record("kept", actor=broker)
    db.session.commit()
    assert list(db.session.scalars(select(AuditEvent.action))) == ["kept"]
