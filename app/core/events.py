"""The outbox: every order and fulfilment state change appends one event in the same transaction."""

from sqlalchemy import select

from app.core.models import Fulfilment, Order, OutboxEvent, WebhookDelivery, WebhookSubscription
from app.extensions import db


def emit(event_type: str, order: Order, fulfilment: Fulfilment | None = None, **details) -> OutboxEvent:
    """Append an event about an order (and one of its fulfilments) for webhooks and the event feed."""
    payload = {
        "order_id": order.id,
        "channel": order.channel,
        "external_ref": order.external_ref,
        "order_status": order.status,
        **details,
    }
    if fulfilment is not None:
        payload.update(fulfilment_id=fulfilment.id, location=fulfilment.location.code, status=fulfilment.status)
    event = OutboxEvent(type=event_type, order_id=order.id, payload=payload)
    db.session.add(event)
    subscribers = db.session.scalars(select(WebhookSubscription).where(WebhookSubscription.active)).all()
    wanted = [s for s in subscribers if s.wants(event_type)]
    if wanted:
        db.session.flush()
        db.session.add_all(WebhookDelivery(event_id=event.id, subscription_id=s.id) for s in wanted)
    return event


def events_after(after: int, limit: int = 100) -> list[OutboxEvent]:
    """Events with an id above `after`, oldest first: a feed clients can pull from where they stopped."""
    return db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id).limit(limit)
    ).all()
