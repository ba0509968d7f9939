"""Record who did what to which record, when and from where.

Services call ``record`` on every read, change and export of a young person's data, and on every
sign-in and failed sign-in. The row joins the request's transaction: it is committed with the
change it describes, or rolled back with it. (A read that fails half-way leaves no trace, because
nothing was shown.)
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from panel_app.models import AuditEvent, User, db


def record(
    action: str,
    *,
    actor: User | None,
    record_type: str | None = None,
    record_id: int | None = None,
    detail: dict[str, Any] | None = None,
    attempted_email: str | None = None,
) -> AuditEvent:
    """Append one event to the audit trail, in the current transaction."""
    event = AuditEvent(
        action=action,
        actor_user_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else attempted_email,
        actor_role=actor.role.value if actor is not None else None,
        actor_agency_id=actor.agency_id if actor is not None else None,
        record_type=record_type,
        record_id=record_id,
        detail=detail,
    )
    if has_request_context():
        event.ip_address = (request.remote_addr or "")[:45] or None
        event.user_agent = (request.user_agent.string or "")[:255] or None
        event.channel = "api" if request.blueprint == "api" else "web"
    else:
        event.channel = "cli"
    db.session.add(event)
    return event
