"""Sending the customer text messages written to the outbox (OutboundSms), through a sender chosen by SMS_SENDER.

A sender is anything with `send(to, body)` (SmsSender below): it hands one message to a provider and returns, or
raises SmsError (permanent=True when retrying cannot help: a number the provider refuses). SMS_SENDER picks it:

- "log" (the default): writes one line per message in the log (the recipient's last digits, never the text, which
  holds the pickup code) and sends nothing; for a deployment without an SMS provider yet.
- "test": keeps the messages in memory (TestSender.sent), for the tests to read; refused in production.
- "none": sends nothing and leaves the messages pending, like e-mails without SMTP_HOST.
- "package.module:factory": a provider's sender, `factory(config)` returning an SmsSender.

Each message is sent inside its own short transaction that holds its row (FOR UPDATE SKIP LOCKED on PostgreSQL,
the write lock on SQLite), as app.core.integration.mail does for e-mails, so two workers never send it twice.
"""

import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from flask import current_app

from app.core.integration import outbox
from app.core.models import OutboundSms

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


class SmsError(Exception):
    """A message the sender could not hand over; permanent when another attempt cannot succeed."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> None:
        """Hand one message to the provider; raise SmsError when it was not taken."""


def masked(number: str) -> str:
    """A phone number as the log shows it: its last three digits."""
    return "…" + number[-3:] if len(number) > 3 else "…"


class LogSender:
    """Records each message in the log and sends nothing."""

    def send(self, to: str, body: str) -> None:
        log.info("text message to %s (%s characters) recorded, not sent: SMS_SENDER=log", masked(to), len(body))


@dataclass(frozen=True)
class SentSms:
    to: str
    body: str


class TestSender:
    """The test double: every message sent is kept in TestSender.sent (shared by the process); set `failure` to
    an SmsError to make the next sends fail with it."""

    __test__ = False  # not a pytest class
    sent: list[SentSms] = []
    failure: SmsError | None = None
    _lock = threading.Lock()

    def send(self, to: str, body: str) -> None:
        if TestSender.failure is not None:
            raise TestSender.failure
        with TestSender._lock:
            TestSender.sent.append(SentSms(to, body))

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.sent.clear()
        cls.failure = None


def sender(config=None) -> SmsSender | None:
    """The sender SMS_SENDER names (None: "none", messages stay pending)."""
    config = config if config is not None else current_app.config
    name = config.get("SMS_SENDER") or "log"
    if name == "none":
        return None
    if name == "log":
        return LogSender()
    if name == "test":
        return TestSender()
    module, _, factory = name.partition(":")
    return getattr(importlib.import_module(module), factory)(config)


def send_pending(limit: int = 20, now=None) -> int:
    """Send up to `limit` pending text messages; returns how many were sent (commits).

    A temporary failure leaves the message pending for the next pass (up to MAX_ATTEMPTS); a permanent one or the
    last attempt marks it failed. last_error says why.
    """
    chosen = sender()
    if chosen is None:
        return 0
    return outbox.drain(
        OutboundSms,
        lambda sms: chosen.send(sms.to, sms.body),
        limit=limit,
        max_attempts=MAX_ATTEMPTS,
        permanent=lambda exc: getattr(exc, "permanent", False),
        now=now,
    )
