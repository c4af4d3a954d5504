"""Outgoing mail through MAIL_URL: `.eml` files in an outbox folder, or a real SMTP server.

Mails are first written to the `mail_messages` table inside the transaction of what they report
(a transactional outbox), then delivered after commit. A server that is down loses nothing: the mail
stays pending and `deliver_pending` (run after every new mail and by `otp-gateway mail retry`) tries again.
"""

from __future__ import annotations

import datetime as dt
import os
import smtplib
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlparse

from sqlalchemy import select, update

from .storage.db import Database
from .storage.models import Bank, MailMessage

SENDER = "otp-gateway@localhost"
SMTP_TIMEOUT = 10
MAX_ATTEMPTS = 20


class MailError(Exception):
    """The message could not be handed over; it stays pending."""


class Transport:
    def send(self, message: EmailMessage) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class OutboxTransport(Transport):
    """Writes each message as a readable `.eml` file (atomic rename), for development and demos."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def send(self, message: EmailMessage) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            number = int(message["X-Gateway-Mail-Id"] or 0)
            os.replace(tmp, self.folder / f"{stamp}-{number:08d}-{message['X-Gateway-Kind'] or 'mail'}.eml")
        except OSError as error:
            raise MailError(f"outbox not writable: {error.strerror}") from None


class SmtpTransport(Transport):
    def __init__(self, host: str, port: int, starttls: bool, username: str | None, password: str | None) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password = username, password

    def send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(f"SMTP {self.host}:{self.port}: {type(error).__name__}") from None


def transport_for(url: str) -> Transport:
    """`outbox:///path`, `smtp://host:port`, `smtp+starttls://user:pass@host:port`."""
    parsed = urlparse(url)
    if parsed.scheme == "outbox":
        return OutboxTransport(unquote(parsed.netloc + parsed.path))
    if parsed.scheme in ("smtp", "smtp+starttls"):
        return SmtpTransport(
            parsed.hostname or "localhost",
            parsed.port or 25,
            parsed.scheme == "smtp+starttls",
            unquote(parsed.username) if parsed.username else None,
            unquote(parsed.password) if parsed.password else None,
        )
    raise ValueError(f"unsupported MAIL_URL scheme {parsed.scheme!r}")


def build(row: MailMessage, sender_name: str, sender: str = SENDER) -> EmailMessage:
    """A UTF-8 message with correct headers (the subject is encoded, the body quoted-printable-safe)."""
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender))
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = make_msgid(idstring=f"gw{row.id}", domain="otp-gateway.local")
    message["X-Gateway-Kind"] = row.kind
    message["X-Gateway-Mail-Id"] = str(row.id)
    message.set_content(row.body, charset="utf-8")
    return message


class Mailer:
    """Delivers pending rows through the configured transport."""

    def __init__(self, db: Database, url: str) -> None:
        self.db = db
        self.url = url
        self.transport = transport_for(url)

    def deliver_pending(self, only: list[int] | None = None) -> dict[int, str]:
        """Try every pending mail (or the ones named); returns {id: 'sent' | 'pending'}."""
        outcome: dict[int, str] = {}
        with self.db.sessions() as session:
            query = (
                select(MailMessage, Bank.name)
                .outerjoin(Bank, Bank.code == MailMessage.bank_code)
                .where(MailMessage.status == "pending", MailMessage.attempts < MAX_ATTEMPTS)
                .order_by(MailMessage.id)
            )
            if only is not None:
                query = query.where(MailMessage.id.in_(only))
            rows = session.execute(query).all()
        for row, bank_name in rows:
            try:
                self.transport.send(build(row, bank_name or "otp-gateway"))
            except MailError as error:
                values: dict[str, object] = {"attempts": MailMessage.attempts + 1, "last_error": str(error)[:500]}
                outcome[row.id] = "pending"
            else:
                values = {"status": "sent", "attempts": MailMessage.attempts + 1, "last_error": None,
                          "sent_at": dt.datetime.now(dt.UTC)}
                outcome[row.id] = "sent"
            with self.db.transaction() as session:
                session.execute(update(MailMessage).where(MailMessage.id == row.id, MailMessage.status == "pending")
                                .values(**values).execution_options(synchronize_session=False))
        return outcome
