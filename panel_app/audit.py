"""Record who did what to which record, when and from where.

Services call ``record`` on every read, change and export of a young person's data, and on every
sign-in and failed sign-in. The row joins the request's transaction: it is committed with the
change it describes, or rolled back with it. (A read that fails half-way leaves no trace, because
nothing was shown.) The doors also record ``access.refused`` when a signed-in person is refused a
record (404 or 403), so somebody trying ids one after another shows up.

The chain: every row carries the hash of the row before it and its own hash
(``models.audit.chain_hash``). For the chain to stay one line when several requests write at once,
a row is inserted only when its transaction commits: ``record`` keeps it aside, and just before the
commit the rows kept aside are hashed onto the newest row and inserted, while holding a PostgreSQL
transaction-level advisory lock so that committing writers take turns. The lock is held only from
then until the commit, not for the whole request (a PDF may take seconds to render). SQLite lets
one writer at a time anyway. ``verify_chain`` walks the rows in id order and names the first row
that no longer matches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from panel_app.models import AuditEvent, User, db, utcnow
from panel_app.models.audit import HASHED_FIELDS, chain_hash

# The key of the advisory lock that committing audit writers take turns on (any constant that no
# other lock in this database uses; these are the ASCII bytes of "auditchn").
CHAIN_LOCK_KEY = 0x617564697463686E

_KEPT_ASIDE = "audit_events_kept_aside"


def record(
    action: str,
    *,
    actor: User | None,
    record_type: str | None = None,
    record_id: int | None = None,
    detail: dict[str, Any] | None = None,
    attempted_email: str | None = None,
) -> AuditEvent:
    """Append one event to the audit trail, in the current transaction (inserted when it commits)."""
    event_ = AuditEvent(
        occurred_at=utcnow(),
        action=action,
        actor_user_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else attempted_email,
        actor_role=actor.role.value if actor is not None else None,
        actor_agency_id=actor.agency_id if actor is not None else None,
        record_type=record_type,
        record_id=record_id,
        # Exactly what the JSON column will store and hand back (tuples become lists), so the hash
        # taken now is the hash verify recomputes later.
        detail=json.loads(json.dumps(detail)) if detail is not None else None,
    )
    if has_request_context():
        event_.ip_address = (request.remote_addr or "")[:45] or None
        event_.user_agent = (request.user_agent.string or "")[:255] or None
        event_.channel = "api" if request.blueprint == "api" else "web"
    else:
        event_.channel = "cli"
    session = db.session()
    current = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_KEPT_ASIDE, []).append((current, event_))
    return event_


def refused_access(actor: User, status: int, route: str, ids: dict[str, int]) -> AuditEvent:
    """A signed-in person was refused a record (404: not theirs to know of, or absent; 403: not
    theirs to do). ``ids`` are the record ids in the URL, outermost first; the first is the record."""
    name, record_id = next(iter(ids.items()))
    return record("access.refused", actor=actor, record_type=name.removesuffix("_id"), record_id=record_id,
                  detail={"method": request.method, "path": request.path, "route": route, "status": status,
                          "ids": ids})


def _kept_aside(session: Session) -> list[tuple[SessionTransaction | None, AuditEvent]]:
    return session.info.get(_KEPT_ASIDE, [])


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """Events recorded inside a transaction or SAVEPOINT that was rolled back never happened."""
    if not previous_transaction.nested:
        session.info.pop(_KEPT_ASIDE, None)
        return

    def inside(transaction: SessionTransaction | None) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    kept = [(transaction, event_) for transaction, event_ in _kept_aside(session) if not inside(transaction)]
    session.info[_KEPT_ASIDE] = kept


@event.listens_for(Session, "after_transaction_end")
def _forget_when_over(session: Session, transaction: SessionTransaction) -> None:
    """Whatever way the session's transaction ended (committed, rolled back, closed), nothing kept
    aside outlives it."""
    if transaction.parent is None:
        session.info.pop(_KEPT_ASIDE, None)


@event.listens_for(Session, "before_commit")
def _chain_and_insert(session: Session) -> None:
    """Hash the events kept aside onto the newest row and add them, just before the commit flushes."""
    if session.in_nested_transaction():
        return  # releasing a SAVEPOINT: the events wait for the real commit
    kept = session.info.pop(_KEPT_ASIDE, None)
    if not kept:
        return
    session.flush()  # the rest of the transaction's changes first, so the lock is held for less
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Held until this transaction ends: the next writer reads the newest row after we commit.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})")
    previous = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    for _transaction, event_ in kept:
        event_.prev_hash = previous
        event_.hash = chain_hash({name: getattr(event_, name) for name in HASHED_FIELDS}, previous)
        previous = event_.hash
        session.add(event_)
    # Inserted here, in this order, so ids follow the chain.
    session.flush()


# --- Verifying the chain ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainCheck:
    rows: int
    broken_at: int | None = None  # the id of the first row that does not match
    why: str = ""
    last_hash: str | None = None

    @property
    def holds(self) -> bool:
        return self.broken_at is None


def _rows_in_id_order(batch: int) -> Iterator[Any]:
    columns = [AuditEvent.id, AuditEvent.prev_hash, AuditEvent.hash,
               *(getattr(AuditEvent, name) for name in HASHED_FIELDS)]
    last_id = 0
    while True:
        rows = db.session.execute(
            select(*columns).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def verify_chain(batch: int = 1000) -> ChainCheck:
    """Walk the audit trail in id order and report the first row whose contents or link to the row
    before no longer match (a row changed, inserted or removed), or that the chain holds."""
    previous_id: int | None = None
    previous_hash: str | None = None
    count = 0
    for row in _rows_in_id_order(batch):
        if row.prev_hash != previous_hash:
            if previous_id is None:
                why = "it is the first row but names a row before it: rows before it were removed"
            else:
                why = (f"it does not follow row {previous_id}: a row between them was removed, or "
                       f"row {previous_id} was rewritten")
            return ChainCheck(count, row.id, why)
        if chain_hash(row._asdict(), row.prev_hash) != row.hash:
            return ChainCheck(count, row.id, "its contents do not match its hash: it was changed")
        previous_id, previous_hash = row.id, row.hash
        count += 1
    return ChainCheck(count, last_hash=previous_hash)
