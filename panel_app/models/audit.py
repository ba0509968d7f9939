"""The audit trail: one row per read, change or export of personal data, and per sign-in.

Rows are only ever inserted. The ORM refuses updates and deletes, and the migration adds database
triggers that refuse them too, so not even a hand-written query can rewrite history.
"""

from __future__ import annotations

from datetime import datetime
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


class AuditTrailIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_rewrites(mapper: Mapper[AuditEvent], connection: object, target: AuditEvent) -> None:
    raise AuditTrailIsAppendOnly("audit events are never changed or deleted")
