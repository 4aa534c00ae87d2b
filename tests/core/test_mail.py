"""Customer emails go out over real SMTP: an aiosmtpd server on 127.0.0.1 receives them."""

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from app.core.integration import mail, worker
from app.core.models import OutboundEmail
from app.extensions import db


class Inbox(Message):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


class Refusing:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def _email(**kwargs):
    email = OutboundEmail(to="lea@example.fr", subject="Votre commande WEB-1 est en route", body="Bonjour Léa,\n€ 4,90")
    for name, value in kwargs.items():
        setattr(email, name, value)
    db.session.add(email)
    db.session.commit()
    return email


def test_pending_emails_are_sent_over_smtp_once(app, smtp):
    controller, inbox = smtp
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_FROM="Comptoir <shop@example.test>")
    first, second = _email(), _email(to="giulia@example.it", subject="Ordine in viaggio")
    assert mail.send_pending() == 2
    assert mail.send_pending() == 0
    assert [m["To"] for m in inbox.messages] == ["lea@example.fr", "giulia@example.it"]
    assert inbox.messages[0]["Subject"] == "Votre commande WEB-1 est en route"
    assert "Bonjour Léa" in inbox.messages[0].get_payload(decode=True).decode("utf-8")
    db.session.expire_all()
    assert [(e.status, e.attempts, e.sent_at is not None) for e in (first, second)] == [
        ("sent", 1, True),
        ("sent", 1, True),
    ]


def test_the_worker_pass_sends_them_and_counts_them(app, smtp):
    controller, inbox = smtp
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    _email()
    assert worker.run_once()["emailed"] == 1
    assert len(inbox.messages) == 1


def test_without_a_mail_server_emails_stay_pending(app):
    app.config.update(SMTP_HOST="")
    email = _email()
    assert mail.send_pending() == 0
    db.session.expire_all()
    assert (email.status, email.attempts) == ("pending", 0)


def test_an_unreachable_server_is_retried_then_failed(app):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port())  # nothing listens there
    email = _email()
    for _ in range(mail.MAX_ATTEMPTS - 1):
        assert mail.send_pending() == 0
        db.session.expire_all()
        assert email.status == "pending"
    mail.send_pending()
    db.session.expire_all()
    assert (email.status, email.attempts) == ("failed", mail.MAX_ATTEMPTS)
    assert "ConnectionRefusedError" in email.last_error


def test_a_refused_recipient_fails_at_once(app):
    controller = Controller(Refusing(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
        email = _email(to="nobody@example.test")
        assert mail.send_pending() == 0
    finally:
        controller.stop()
    db.session.expire_all()
    assert (email.status, email.attempts) == ("failed", 1)
    assert "550" in email.last_error
