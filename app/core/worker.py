"""Background jobs: deliver webhooks, expire missed acceptances. Safe to run in several processes.

Due deliveries are claimed with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL) and a lease written in
a short transaction, so no two workers send the same delivery, and no lock is held during the HTTP
call. A worker that dies mid-delivery lets the lease run out; the delivery is then retried.
"""

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from datetime import timedelta

from sqlalchemy import select, update

from app.core import audit, mail
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.models import Fulfilment, WebhookDelivery, WebhookSubscription
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.uow import unit_of_work
from app.extensions import db

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 5


def sign(secret: str, body: bytes) -> str:
    """The value of the X-Comptoir-Signature header for a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def claim_due(limit: int = 20, now=None) -> list[int]:
    """Take a lease on due deliveries no other worker holds; returns their ids (commits)."""
    now = now or utcnow()
    with unit_of_work(writes=True):
        rows = db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row in rows:  # the guarded UPDATE also makes the claim exclusive on SQLite (no row locks)
            taken = db.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == row.id, WebhookDelivery.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=now + LEASE, attempts=WebhookDelivery.attempts + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            if taken:
                claimed.append(row.id)
    return claimed


def _post(url: str, body: bytes, headers: dict) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - admin-set URL
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(url, response.status, "not 2xx", response.headers, None)


def deliver(delivery_id: int, now=None) -> str:
    """Send one claimed delivery and record the outcome: delivered, pending (retry later) or dead."""
    with unit_of_work():  # read, then end the transaction: no lock or snapshot held during the HTTP call
        delivery = db.session.get(WebhookDelivery, delivery_id)
        event, subscription = delivery.event, delivery.subscription
        envelope = {
            "id": event.id,
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "data": event.payload,
        }
        body = json.dumps(envelope, sort_keys=True).encode()
        url = subscription.url
        headers = {
            "Content-Type": "application/json",
            "X-Comptoir-Event": event.type,
            "X-Comptoir-Delivery": str(delivery.id),
            "X-Comptoir-Signature": sign(subscription.secret, body),
        }
    error = ""
    try:
        _post(url, body, headers)
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, bad URLs
        error = f"{type(exc).__name__}: {exc}"[:500]
    now = now or utcnow()
    with unit_of_work(writes=True):
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if not error:
            delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, ""
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.last_error = "dead", error
        else:
            delivery.next_attempt_at, delivery.last_error = now + backoff(delivery.attempts), error
        return delivery.status


def replay(delivery: WebhookDelivery, *, actor: Actor) -> WebhookDelivery:
    """Send a dead-lettered delivery again from scratch; any other delivery is left as it is (a repeat is harmless)."""
    if delivery.status != "dead":
        return delivery
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status, delivery.attempts, delivery.next_attempt_at, delivery.last_error = "pending", 0, utcnow(), ""
    audit.record(actor, "webhook.replay", delivery, before, {"status": "pending"})
    return delivery


def subscribe(url: str, secret: str, event_types: str = "*", *, actor: Actor) -> WebhookSubscription:
    """Send events to a URL, signed with the shared secret."""
    url, event_types = (url or "").strip(), ",".join(t.strip() for t in (event_types or "*").split(",") if t.strip())
    errors = {}
    if not url.startswith(("http://", "https://")) or len(url) > 500:
        errors["url"] = N_("Must be an http or https address.")
    if len(secret or "") < 16 or len(secret) > 128:
        errors["secret"] = N_("Must be 16 to 128 characters.")
    if not event_types:
        errors["event_types"] = N_("Required.")
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    subscription = WebhookSubscription(url=url, secret=secret, event_types=event_types)
    db.session.add(subscription)
    db.session.flush()
    audit.record(actor, "webhook.subscribe", subscription, None, {"url": url, "event_types": event_types})
    return subscription


def expire_late_acceptances(now=None, limit: int = 50) -> int:
    """Reject fulfilments nobody accepted in time and re-source them elsewhere (commits)."""
    from app.core.sourcing import reject_and_reroute

    now = now or utcnow()
    with unit_of_work(writes=True):
        late = db.session.scalars(
            select(Fulfilment)
            .where(Fulfilment.status == S.CREATED, Fulfilment.accept_by < now)
            .order_by(Fulfilment.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for fulfilment in late:
            reject_and_reroute(fulfilment, reason="acceptance deadline missed", actor=Actor.system("worker"))
    return len(late)


def run_once(now=None) -> dict:
    """One pass of every job."""
    expired = expire_late_acceptances(now)
    outcomes = [deliver(delivery_id, now) for delivery_id in claim_due(now=now)]
    return {
        "expired": expired,
        "delivered": outcomes.count("delivered"),
        "retrying": outcomes.count("pending"),
        "dead": outcomes.count("dead"),
        "emailed": mail.send_pending(),
    }
