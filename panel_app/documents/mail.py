"""Email: recorded in the request's transaction, sent only after it commits.

``send`` records a ``SentEmail`` row and queues the message; ``deliver_queued`` (called by the
doors once the commit has succeeded, and by commands after theirs) hands the queue to the SMTP
server and records the outcome. A change that is rolled back sends nothing. A ``dedupe_key`` makes a
send idempotent: if an email with that key was ever recorded, nothing is queued.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, g
from sqlalchemy import select

from panel_app.models import SentEmail, db, utcnow

log = logging.getLogger(__name__)

SUBJECT_MAX = 255


@dataclass
class Attachment:
    filename: str
    content_type: str  # e.g. "application/pdf", "text/calendar; method=REQUEST"
    data: bytes


@dataclass
class _Queued:
    record: SentEmail
    text: str
    attachments: list[Attachment] = field(default_factory=list)


def _queue() -> list[_Queued]:
    if "outbox" not in g:
        g.outbox = []
    return g.outbox


def send(
    recipient: str,
    subject: str,
    text: str,
    *,
    kind: str,
    attachments: list[Attachment] | None = None,
    agency_id: int | None = None,
    meeting_id: int | None = None,
    dedupe_key: str | None = None,
) -> SentEmail | None:
    """Record an email and queue it for after the commit. ``None`` when the dedupe key was used before."""
    if dedupe_key is not None and db.session.scalar(
        select(SentEmail.id).where(SentEmail.dedupe_key == dedupe_key)
    ) is not None:
        return None
    record = SentEmail(recipient=recipient, subject=subject[:SUBJECT_MAX], kind=kind, dedupe_key=dedupe_key,
                       agency_id=agency_id, meeting_id=meeting_id)
    db.session.add(record)
    _queue().append(_Queued(record, text, list(attachments or [])))
    return record


def mark() -> int:
    """Where the queue stands now (see ``drop_since``)."""
    return len(_queue())


def drop_since(position: int) -> None:
    """Forget what was queued since ``mark()``: the change that queued it was rolled back."""
    del _queue()[position:]


def drop_all() -> None:
    g.pop("outbox", None)


def deliver_queued() -> int:
    """Send what the committed transaction queued; record each outcome. Returns how many were sent."""
    queued = g.pop("outbox", [])
    if not queued:
        return 0
    config = current_app.config
    sent = 0
    if not config["MAIL_SERVER"]:
        for item in queued:
            item.record.error = "not sent: no MAIL_SERVER configured"
        log.info("%d emails recorded but not sent: no MAIL_SERVER", len(queued))
    else:
        try:
            with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]) as smtp:
                if config["MAIL_USE_TLS"]:
                    smtp.starttls()
                if config["MAIL_USERNAME"]:
                    smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
                for item in queued:
                    try:
                        smtp.send_message(_message(item, config["MAIL_SENDER"]))
                    except smtplib.SMTPException as error:
                        item.record.error = str(error)[:500]
                        log.warning("email %s to %s refused: %s", item.record.kind, item.record.recipient, error)
                    else:
                        item.record.sent_at = utcnow()
                        sent += 1
        except (OSError, smtplib.SMTPException) as error:
            for item in queued:
                if item.record.sent_at is None:
                    item.record.error = f"mail server unreachable: {error}"[:500]
            log.error("mail server %s:%s unreachable: %s", config["MAIL_SERVER"], config["MAIL_PORT"], error)
    db.session.commit()  # the outcomes, in a transaction of their own
    return sent


def _message(item: _Queued, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = item.record.recipient
    message["Subject"] = item.record.subject
    message["Message-ID"] = make_msgid(domain="panels.invalid")
    message.set_content(item.text)
    for attachment in item.attachments:
        maintype, _slash, subtype = attachment.content_type.partition("/")
        subtype, *params = subtype.split(";")
        extra = dict(p.strip().split("=", 1) for p in params if "=" in p)
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype.strip(),
                               filename=attachment.filename, params=extra)
    return message
