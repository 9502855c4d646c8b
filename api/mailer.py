"""Sending account e-mail (registration codes, password resets) through SMTP when
`AMPFLOW_SMTP_HOST` is set.

Without SMTP (as in `make dev`) the message lands in the local dev mailbox (`dev_mailbox`),
which an admin reads with `GET /dev/mailbox`, so verification and resets still work; the routes
answer the same either way. Tests replace `app.state.mailer` with a recorder.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Protocol

from fastapi import Request

from runtime.settings import Settings
from store.access_tables import DevMail
from store.db import Database

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class SmtpMailer:
    """Plain SMTP with optional STARTTLS and login (settings `smtp_*`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.smtp_from, to, subject
        message.set_content(body)
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(message)


class DevMailbox:
    """No SMTP configured: the message is kept in the `dev_mailbox` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def send(self, to: str, subject: str, body: str) -> None:
        with self.db.session() as session:
            session.add(DevMail(to_address=to[:320], subject=subject[:200], body=body))
        log.info("no SMTP configured: %r kept in the dev mailbox", subject)


def get_mailer(request: Request) -> Mailer:
    """The app's mailer, made from the settings on first use."""
    mailer = getattr(request.app.state, "mailer", None)
    if mailer is None:
        settings: Settings = request.app.state.settings
        mailer = SmtpMailer(settings) if settings.smtp_host else DevMailbox(request.app.state.db)
        request.app.state.mailer = mailer
    return mailer


def send_quietly(mailer: Mailer, to: str, subject: str, body: str) -> None:
    """Send, logging failures (runs after the response: callers never learn of errors)."""
    try:
        mailer.send(to, subject, body)
    except (OSError, smtplib.SMTPException) as err:
        log.warning("could not send %r: %s", subject, err)
