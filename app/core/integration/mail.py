"""Sending the customer emails written to the outbox (OutboundEmail) over SMTP.

An email with an HTML part goes as multipart/alternative (the text first, then the HTML); when it has a QR code
(OutboundEmail.qr), the HTML and the QR's PNG, drawn here with segno, travel together as multipart/related, the
image named by the Content-ID the HTML shows it with (notices.QR_CID): the message needs nothing from outside.

Each email is sent inside its own short transaction that holds its row (FOR UPDATE SKIP LOCKED on
PostgreSQL, the write lock on SQLite), so two workers never send the same one. Without SMTP_HOST
the emails stay pending.
"""

import io
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import segno
from flask import current_app

from app.core.integration import outbox
from app.core.integration.notices import QR_CID
from app.core.models import Order, OutboundEmail
from app.extensions import db
from app.formatting import customer_language

MAX_ATTEMPTS = 5
TIMEOUT_SECONDS = 10
QR_SCALE = 8  # pixels a module: a 6-character code is 21 modules + 2x4 quiet zone, 232 px, sharp at 200 px shown


def qr_png(text: str) -> bytes:
    """A QR code of the text as a PNG (a full QR code, not a micro one: every phone and counter scanner reads it)."""
    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="png", scale=QR_SCALE, border=4)
    return out.getvalue()


def _message(email: OutboundEmail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=f"comptoir-{email.id}")
    message.set_content(email.body)  # first: it clears every Content-* header
    if email.html:
        message.add_alternative(email.html, subtype="html")
        if email.qr:
            html_part = message.get_payload()[1]
            html_part.add_related(
                qr_png(email.qr),
                maintype="image",
                subtype="png",
                cid=f"<{QR_CID}>",
                disposition="inline",
                filename="pickup-code.png",
            )
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
    recipient or the last attempt marks it failed. last_error says why. Without SMTP_HOST nothing is sent.
    """
    config = current_app.config
    if not config.get("SMTP_HOST"):
        return 0
    sender = config.get("SMTP_FROM") or "comptoir@localhost"
    return outbox.drain(
        OutboundEmail,
        lambda email: _send(_message(email, sender), config),
        limit=limit,
        max_attempts=MAX_ATTEMPTS,
        permanent=lambda exc: isinstance(exc, (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)),
        now=now,
    )
