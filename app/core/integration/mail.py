"""Sending the customer emails written to the outbox (OutboundEmail) over SMTP.

Each email is sent inside its own short transaction that holds its row (FOR UPDATE SKIP LOCKED on
PostgreSQL, the write lock on SQLite), so two workers never send the same one. Without SMTP_HOST
the emails stay pending.
"""

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app
from sqlalchemy import select

from app.core.models import Order, OutboundEmail
from app.core.models.base import utcnow
from app.core.uow import unit_of_work
from app.extensions import db
from app.formatting import customer_language

MAX_ATTEMPTS = 5
TIMEOUT_SECONDS = 10


def _message(email: OutboundEmail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=f"comptoir-{email.id}")
    message.set_content(email.body)  # first: it clears every Content-* header
    order = db.session.get(Order, email.order_id) if email.order_id else None
    if order is not None:  # written in the customer's language (app.core.floor.dispatch); say which
        message["Content-Language"] = customer_language(order)
    return message


def _send(message: EmailMessage, config) -> None:
    with smtplib.SMTP(config["SMTP_HOST"], int(config.get("SMTP_PORT") or 25), timeout=TIMEOUT_SECONDS) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)


def send_pending(limit: int = 20, now=None) -> int:
    """Send up to `limit` pending emails; returns how many were sent (commits).

    A temporary failure leaves the email pending for the next pass (up to MAX_ATTEMPTS); a refused
    recipient or the last attempt marks it failed. last_error says why.
    """
    config = current_app.config
    if not config.get("SMTP_HOST"):
        return 0
    sender = config.get("SMTP_FROM") or "comptoir@localhost"
    sent, skipped = 0, set()
    for _ in range(limit):
        with unit_of_work(writes=True):
            email = db.session.scalar(
                select(OutboundEmail)
                .where(OutboundEmail.status == "pending", OutboundEmail.id.not_in(skipped or {0}))
                .order_by(OutboundEmail.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if email is None:
                break
            email.attempts += 1
            try:
                _send(_message(email, sender), config)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
                email.status, email.last_error = "failed", f"{type(exc).__name__}: {exc}"[:500]
            except (OSError, smtplib.SMTPException) as exc:
                email.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if email.attempts >= MAX_ATTEMPTS:
                    email.status = "failed"
                skipped.add(email.id)  # tried in this pass: the next pass tries it again
            else:
                email.status, email.sent_at, email.last_error = "sent", now or utcnow(), ""
                sent += 1
    return sent
