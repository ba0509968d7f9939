"""The outbox: every email the service sends, written in the same transaction as the change it is
about, kept (body and attachments) until a worker has handed it to the mail server.

An email is *queued* until the mail server takes it (``sent_at``) or the worker gives up after its
last attempt (``failed_at``); ``error`` keeps the mail server's last answer either way, so a page can
say why. ``next_attempt_at`` is when the worker should next try (none once sent or failed);
``claimed_until`` keeps a second worker off an email while one is trying it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel_app.models.base import Base, UTCDateTime, labels, utcnow


class EmailStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"

    label = labels(QUEUED=_l("Queued"), SENT=_l("Sent"), FAILED=_l("Failed"))


# Emails whose text holds a single-use sign-in link (an invitation, a password reset): whoever read
# the text could follow the link in the person's place, so pages show how such an email stands but
# never its text.
SIGN_IN_LINK_KINDS = frozenset({"account.invitation", "account.password_reset"})


class OutboxEmail(Base):
    """One email to one recipient: what, to whom, about which record, sent by whom, and how its
    delivery stands.

    ``dedupe_key`` makes queueing idempotent: a second email with the same key is not queued.
    """

    __tablename__ = "outbox_email"
    __table_args__ = (Index("ix_outbox_email_about", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The record the email is about ("meeting", "gap", "action", "referral"), for its page and for
    # deciding who may see the email's fate (policy.visible_emails).
    record_type: Mapped[str | None] = mapped_column(String(20))
    record_id: Mapped[int | None] = mapped_column(Integer)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("panel_meeting.id"))
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    # Fixed when queued, so every attempt carries the same Message-ID: if a mail server took an
    # attempt whose answer never came back, the copy is recognisable as the same message.
    message_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(500))

    attachments: Mapped[list[OutboxAttachment]] = relationship(
        back_populates="email", cascade="all, delete-orphan", order_by="OutboxAttachment.id")
    sent_by = relationship("User")

    @property
    def text_shown(self) -> bool:
        """Whether pages may show the email's text (not when it holds a sign-in link)."""
        return self.kind not in SIGN_IN_LINK_KINDS

    @property
    def status(self) -> EmailStatus:
        if self.sent_at is not None:
            return EmailStatus.SENT
        if self.failed_at is not None:
            return EmailStatus.FAILED
        return EmailStatus.QUEUED


class OutboxAttachment(Base):
    """A file sent with an email (a calendar invitation, a panel pack, minutes), kept as bytes until
    the email has gone."""

    __tablename__ = "outbox_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("outbox_email.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)

    email: Mapped[OutboxEmail] = relationship(back_populates="attachments")


# The name the email record had before the outbox; kept so that code and tests written against it
# (in this branch and others) read the same rows.
SentEmail = OutboxEmail
