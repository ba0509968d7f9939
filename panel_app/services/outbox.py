"""The outbox: every email the service sends is written here, in the transaction of the change it
is about, and delivered afterwards by a worker (``panel_app/jobs.py``) that retries with back-off.

A change that is rolled back takes its emails with it; a change that is committed keeps them until
the mail server has taken them, however long the server is down. Nothing in a request waits for the
mail server, and no page says an email was sent before it was.
"""

from __future__ import annotations

import logging
import re
import smtplib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, g
from sqlalchemy import Select, func, or_, select, update

from panel_app import policy
from panel_app.documents import mail
from panel_app.documents.mail import Attachment
from panel_app.models import OutboxAttachment, OutboxEmail, User, db, utcnow

__all__ = ["Attachment", "DeliveryRun", "clean_header", "deliver_due", "emails_about", "link", "queue",
           "queue_template", "render_email",
           "count_in_trouble", "queued_in_this_request", "start_counting", "undelivered_emails"]

log = logging.getLogger(__name__)

SUBJECT_MAX = 255
RECIPIENT_MAX = 254
FILENAME_MAX = 255
# Minutes to wait after the 1st, 2nd, ... failed attempt; after the attempt that has no wait left the
# worker gives up and the email is shown as failed. About five hours in all: long enough to ride out
# a mail server's restart or a night's outage of a council's relay, short enough that a broker hears
# the same day that the minutes did not go.
RETRY_AFTER_MINUTES = (1, 5, 15, 60, 240)
MAX_ATTEMPTS = len(RETRY_AFTER_MINUTES) + 1

# Control characters (CR and LF among them) would end a header early or inject another: an email
# header is one line of printable text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_header(value: str, limit: int = SUBJECT_MAX) -> str:
    """A value safe to put in an email header: control characters (CR, LF, tabs...) become one space."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


def queue(
    to: str,
    subject: str,
    body_text: str,
    attachments: Sequence[Attachment] = (),
    *,
    kind: str,
    about: tuple[str, int] | None = None,
    sent_by: User | None = None,
    agency_id: int | None = None,
    meeting_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboxEmail | None:
    """Write an email to the outbox, in the caller's transaction; it leaves after the commit.

    ``about`` names the record it concerns (``("meeting", id)``, ``("gap", id)``...), whose page
    shows how it stands; ``sent_by`` the person whose step sent it (none for the daily reminders).
    ``None`` when ``dedupe_key`` was used before (the email was already queued once)."""
    if dedupe_key is not None and db.session.scalar(
        select(OutboxEmail.id).where(OutboxEmail.dedupe_key == dedupe_key)
    ) is not None:
        return None
    record_type, record_id = about if about is not None else (None, None)
    email = OutboxEmail(
        recipient=clean_header(to, RECIPIENT_MAX), subject=clean_header(subject), body_text=body_text, kind=kind,
        dedupe_key=dedupe_key, record_type=record_type, record_id=record_id, agency_id=agency_id,
        meeting_id=meeting_id, sent_by=sent_by, message_id=f"<{uuid.uuid4().hex}@panels.invalid>",
        attempts=0, next_attempt_at=utcnow(),
        attachments=[OutboxAttachment(filename=clean_header(a.filename, FILENAME_MAX),
                                      content_type=clean_header(a.content_type, 100), data=a.data)
                     for a in attachments],
    )
    db.session.add(email)
    g.emails_queued = g.get("emails_queued", 0) + 1
    return email


# --- Emails from templates ---------------------------------------------------------------------


def link(endpoint: str, *, _external: bool = True, **values: Any) -> str:
    """The absolute address of a page, for an email: always on ``PANEL_BASE_URL`` (the address people
    reach the service at), whether built in a request or in a command such as ``flask send-reminders``
    where there is no request to take a host from. Named like ``url_for`` so that templates read the
    same; an email's link is always absolute, so ``_external`` is accepted and ignored."""
    base = urlsplit(current_app.config["PANEL_BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


def render_email(template: str, **context: Any) -> tuple[str, str]:
    """The subject and text of the email ``templates/emails/<template>``.

    A template sets ``subject`` at its top (``{%- set subject = _("...") -%}``) and the rest of it is
    the text. Rendered with the application's Jinja environment (so ``_``, ``ngettext`` and the date
    filters are the pages' own, in the current locale), but without the pages' context processors:
    those describe the signed-in person and the request, which an email has neither of (reminders are
    sent from the command line). ``.txt`` templates are not HTML-escaped (Flask autoescapes only
    HTML and XML templates)."""
    compiled = current_app.jinja_env.get_template(f"emails/{template}")
    module = compiled.make_module({**context, "url_for": link})
    subject = getattr(module, "subject", None)
    if not subject:
        raise LookupError(f"the email template {template} sets no subject")
    return " ".join(str(subject).split()), str(module).strip()


def queue_template(
    template: str,
    to: str,
    attachments: Sequence[Attachment] = (),
    *,
    kind: str,
    about: tuple[str, int] | None = None,
    sent_by: User | None = None,
    agency_id: int | None = None,
    meeting_id: int | None = None,
    dedupe_key: str | None = None,
    **context: Any,
) -> OutboxEmail | None:
    """Render the email ``templates/emails/<template>`` with ``context`` and queue it (see ``queue``).
    The only way the service's emails are written: every email comes from a template."""
    subject, text = render_email(template, **context)
    return queue(to, subject, text, attachments, kind=kind, about=about, sent_by=sent_by, agency_id=agency_id,
                 meeting_id=meeting_id, dedupe_key=dedupe_key)


def queued_in_this_request() -> int:
    """How many emails this request (or command) queued: if any, once committed, the worker is asked
    to deliver soon rather than at its next round."""
    return int(g.get("emails_queued", 0))


def start_counting() -> None:
    """Forget what was counted before (a command run again in the same context counts afresh)."""
    g.pop("emails_queued", None)


# --- Delivery (the worker) ----------------------------------------------------------------------


@dataclass
class DeliveryRun:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"{self.sent} sent, {self.retrying} to try again later, {self.failed} given up"


def _lease(config: dict) -> timedelta:
    # Long enough to outlast any one attempt (each wait on the server is bounded by MAIL_TIMEOUT, and
    # an attempt is a handful of waits), so a second worker never takes an email that is still being
    # tried; short enough that an email claimed by a worker that died is tried again soon.
    return timedelta(seconds=max(120, 12 * int(config["MAIL_TIMEOUT"])))


def _due(now: datetime) -> Select[tuple[int]]:
    return (select(OutboxEmail.id)
            .where(OutboxEmail.next_attempt_at <= now, OutboxEmail.sent_at.is_(None),
                   OutboxEmail.failed_at.is_(None),
                   or_(OutboxEmail.claimed_until.is_(None), OutboxEmail.claimed_until < now))
            .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id))


def _claim(email_id: int, now: datetime, until: datetime) -> bool:
    """Take one email for this attempt, committed, so that no other worker tries it meanwhile. The
    attempt is counted now: a worker that dies mid-attempt has still used it up."""
    claimed = db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id == email_id, OutboxEmail.next_attempt_at <= now, OutboxEmail.sent_at.is_(None),
               OutboxEmail.failed_at.is_(None),
               or_(OutboxEmail.claimed_until.is_(None), OutboxEmail.claimed_until < now))
        .values(claimed_until=until, attempts=OutboxEmail.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    db.session.commit()
    return claimed


def _outgoing(email: OutboxEmail) -> mail.Outgoing:
    return mail.Outgoing(email.recipient, email.subject, email.body_text, email.message_id,
                         [Attachment(a.filename, a.content_type, a.data) for a in email.attachments])


def _attempt_failed(email: OutboxEmail, reason: str, now: datetime, run: DeliveryRun, *, final: bool = False) -> None:
    email.error = reason[:500]
    email.claimed_until = None
    if final or email.attempts >= MAX_ATTEMPTS:
        email.failed_at = now
        email.next_attempt_at = None
        run.failed += 1
        log.error("email %s (%s to %s) given up after %d attempts: %s", email.id, email.kind, email.recipient,
                  email.attempts, reason)
    else:
        email.next_attempt_at = now + timedelta(minutes=RETRY_AFTER_MINUTES[email.attempts - 1])
        run.retrying += 1
        log.warning("email %s (%s to %s) not sent, attempt %d: %s", email.id, email.kind, email.recipient,
                    email.attempts, reason)
    db.session.commit()


def deliver_due(now: datetime | None = None, limit: int = 200) -> DeliveryRun:
    """Hand the emails that are due to the mail server, one claimed at a time; record each outcome
    in a transaction of its own. With no ``MAIL_SERVER`` configured nothing is tried (the emails stay
    queued). When the server cannot be reached the run stops: the rest wait for the next round,
    without spending an attempt."""
    config = current_app.config
    run = DeliveryRun()
    if not config["MAIL_SERVER"]:
        return run
    now = now or utcnow()
    until = now + _lease(config)
    due = db.session.scalars(_due(now).limit(limit)).all()
    db.session.commit()  # nothing to keep; ends the read so each claim below is its own transaction
    with mail.MailServer(config) as server:
        for email_id in due:
            ok = _claim(email_id, now, until)
            if not ok:
                continue  # another worker took it
            email = db.session.get_one(OutboxEmail, email_id)
            try:
                message = mail.build_message(_outgoing(email), config["MAIL_SENDER"])
            except (ValueError, TypeError) as error:
                # Could never be sent as it stands: no point trying again.
                _attempt_failed(email, f"the email could not be built: {error}", now, run, final=True)
                continue
            try:
                server.send(message)
            except mail.MailServerDown as down:
                _attempt_failed(email, str(down), now, run)
                break
            except smtplib.SMTPException as refused:
                _attempt_failed(email, mail.describe(refused, config["MAIL_TIMEOUT"]), now, run)
                continue
            email.sent_at = utcnow()
            email.next_attempt_at = None
            email.claimed_until = None
            email.error = None
            db.session.commit()
            run.sent += 1
    return run


# --- What people see ----------------------------------------------------------------------------


def emails_about(user: User, record_type: str, record_id: int) -> list[OutboxEmail]:
    """The emails about one record that ``user`` may see the fate of, newest first."""
    return list(db.session.scalars(
        policy.visible_emails(user)
        .where(OutboxEmail.record_type == record_type, OutboxEmail.record_id == record_id)
        .order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())))


def count_in_trouble(user: User) -> int:
    """How many emails ``user`` may see have failed, or are waiting after a failed attempt."""
    return db.session.scalar(
        policy.visible_emails(user).where(OutboxEmail.sent_at.is_(None), OutboxEmail.error.is_not(None))
        .with_only_columns(func.count(OutboxEmail.id))) or 0


UNDELIVERED_SHOWN = 200


def undelivered_emails(user: User) -> tuple[list[OutboxEmail], int]:
    """The emails ``user`` may see that have not gone: given up first, then those waiting after a
    failed attempt, then those not tried yet; oldest first within each. At most
    ``UNDELIVERED_SHOWN`` of them, and how many there are in all."""
    undelivered = policy.visible_emails(user).where(OutboxEmail.sent_at.is_(None))
    total = db.session.scalar(undelivered.with_only_columns(func.count(OutboxEmail.id))) or 0
    shown = list(db.session.scalars(
        undelivered.order_by(OutboxEmail.failed_at.is_(None), OutboxEmail.error.is_(None), OutboxEmail.created_at,
                             OutboxEmail.id).limit(UNDELIVERED_SHOWN)))
    return shown, total
