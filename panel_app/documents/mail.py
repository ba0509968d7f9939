"""Email as the mail server sees it: a message built from an outbox row, and one SMTP connection
to hand messages over. No database here: ``services/outbox.py`` keeps the outbox and decides when to
try; this module only knows how.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Any


@dataclass
class Attachment:
    filename: str
    content_type: str  # e.g. "application/pdf", "text/calendar; method=REQUEST"
    data: bytes


@dataclass
class Outgoing:
    recipient: str
    subject: str
    text: str
    message_id: str
    attachments: list[Attachment] = field(default_factory=list)


class MailServerDown(Exception):
    """The mail server could not be reached, or dropped the conversation: no message of this run
    can go, whichever it is."""


def build_message(outgoing: Outgoing, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = outgoing.recipient
    message["Subject"] = outgoing.subject
    message["Message-ID"] = outgoing.message_id
    message.set_content(outgoing.text)
    for attachment in outgoing.attachments:
        maintype, _slash, subtype = attachment.content_type.partition("/")
        subtype, *params = subtype.split(";")
        extra = dict(p.strip().split("=", 1) for p in params if "=" in p)
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype.strip(),
                               filename=attachment.filename, params=extra)
    return message


class MailServer:
    """One connection to the configured SMTP server, opened at the first message.

    Every wait on the server is bounded by ``timeout`` seconds (smtplib's socket timeout), so a
    server that accepts the connection and then says nothing costs one timeout, not a hung worker.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            config = self.config
            smtp = smtplib.SMTP(timeout=config["MAIL_TIMEOUT"])
            try:
                smtp.connect(config["MAIL_SERVER"], config["MAIL_PORT"])
                if config["MAIL_USE_TLS"]:
                    smtp.starttls()
                if config["MAIL_USERNAME"]:
                    smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            except (OSError, smtplib.SMTPException) as error:
                smtp.close()
                raise MailServerDown(describe(error, config["MAIL_TIMEOUT"])) from error
            self._smtp = smtp
        return self._smtp

    def send(self, message: EmailMessage) -> None:
        """Hand one message over. Raises ``smtplib.SMTPException`` when the server refuses this
        message (the connection stays usable), ``MailServerDown`` when the conversation is lost."""
        smtp = self._connection()
        try:
            smtp.send_message(message)
        except smtplib.SMTPServerDisconnected as error:
            self._lost(error)
        except smtplib.SMTPException:  # before OSError: smtplib's errors are OSErrors too
            # A refusal of this message (or recipient): smtplib has already reset the transaction, or
            # closed the connection (421): then the next message opens a new one.
            if smtp.sock is None:
                self._smtp = None
            raise
        except OSError as error:  # a timeout, a reset connection
            self._lost(error)

    def _lost(self, error: BaseException) -> None:
        # Dropped or silent mid-message: close our end at once (no polite QUIT to wait on), so the
        # server discards the unfinished message rather than completing it later.
        self.close(polite=False)
        raise MailServerDown(describe(error, self.config["MAIL_TIMEOUT"])) from error

    def close(self, *, polite: bool = True) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if polite:
                smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            smtp.close()


def describe(error: BaseException, timeout: int | float) -> str:
    """The mail server's answer, or what went wrong, in a line a broker can pass on to IT."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        answers = [f"{code} {_text(reply)}" for code, reply in error.recipients.values()]
        return "the mail server refused the recipient: " + "; ".join(answers)
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the mail server refused the message: {error.smtp_code} {_text(error.smtp_error)}"
    # smtplib reports a read that timed out as a disconnection; the timeout is the real story.
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return f"the mail server did not answer within {timeout} second{'' if timeout == 1 else 's'}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "the mail server closed the connection"
    if isinstance(error, OSError):
        return f"could not reach the mail server: {error.strerror or error}"
    return f"could not send: {error}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
