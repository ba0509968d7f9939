"""The audit trail: one row per read, change or export of personal data, and per sign-in.

Rows are only ever inserted. The ORM refuses updates and deletes, and the migration adds database
triggers that refuse them too, so not even a hand-written query can rewrite history. On PostgreSQL
the application's own role may only INSERT and SELECT on the table (docs/operations.md, "PostgreSQL with two roles"),
so it cannot drop or disable those triggers either.

Each row also carries a hash chained to the row before it (``chain_hash``), so that anyone who
could still rewrite the table (the owner) leaves evidence: ``flask audit verify`` finds the first
row whose contents or link no longer match.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from panel_app.models.base import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Who: a snapshot, so the row still says who it was if the account later changes.
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(254))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    actor_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    # What: a dotted verb, e.g. "sign_in", "sign_in.failed", "referral.view", "meeting.pack.export".
    action: Mapped[str] = mapped_column(String(64), index=True)
    # Which record.
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column()
    # From where.
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str | None] = mapped_column(String(16))  # web, api, cli
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The chain: the hash of the row before this one (none for the first row), and this row's own
    # hash over its fields and ``prev_hash`` (hex SHA-256). Set when the transaction commits.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# The fields a row's hash covers: everything it says (not its id, which the database assigns).
HASHED_FIELDS = (
    "occurred_at", "actor_user_id", "actor_email", "actor_role", "actor_agency_id", "action",
    "record_type", "record_id", "ip_address", "user_agent", "channel", "detail",
)


def chain_hash(fields: dict[str, Any], prev_hash: str | None) -> str:
    """The hash of one audit row: SHA-256 over a canonical JSON of its fields and the previous hash.

    Canonical: sorted keys, no spaces, ASCII only, the instant in UTC with microseconds; so the same
    row read back from SQLite or PostgreSQL hashes the same as when it was written.
    """
    document = {name: fields[name] for name in HASHED_FIELDS}
    occurred_at = document["occurred_at"]
    if occurred_at.tzinfo is None:  # SQLite hands back naive UTC
        occurred_at = occurred_at.replace(tzinfo=UTC)
    document["occurred_at"] = occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    document["prev_hash"] = prev_hash
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class AuditTrailIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_rewrites(mapper: Mapper[AuditEvent], connection: object, target: AuditEvent) -> None:
    raise AuditTrailIsAppendOnly("audit events are never changed or deleted")
