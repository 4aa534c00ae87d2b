"""The outbox: every order and fulfilment state change appends one event in the same transaction.

The pull feed follows `position`, not `id`. An id is taken when the event is written, so a transaction that
took a lower id can commit after one that took a higher id; a client that had already read the higher id
would never see the lower one. Positions are given after commit, by the sequencer, one run at a time: each run
numbers the committed events that have none, after the highest position given so far, and commits. So the
positions any reader can see are always 1..N with no gap that a later commit could fill, and a client that
asks for positions above the last one it read gets every event exactly once, in commit order.
"""

from sqlalchemy import select

from app.core import batch
from app.core.integration import sequencer
from app.core.models import Fulfilment, Order, OutboxEvent, WebhookDelivery, WebhookSubscription
from app.core.uow import transaction_cache
from app.extensions import db
from app.observability import request_id_var


def emit(event_type: str, order: Order, fulfilment: Fulfilment | None = None, **details) -> OutboxEvent | None:
    """Append an event about an order (and one of its fulfilments) for webhooks and the event feed (inside
    batch.rows_written_together(): written, with its webhook deliveries, when it ends; returns None)."""
    payload = {
        "order_id": order.id,
        "channel": order.channel,
        "external_ref": order.external_ref,
        "order_status": order.status,
        **details,
    }
    if fulfilment is not None:
        payload.update(fulfilment_id=fulfilment.id, location=fulfilment.location.code, status=fulfilment.status)
    rows = batch.pending()
    if rows is not None:
        row = {"type": event_type, "order_id": order.id, "payload": payload, "request_id": request_id_var.get()}
        wanted = [s.id for s in _subscribers() if s.wants(event_type)]
        if wanted:
            rows.deliver(OutboxEvent, row, wanted)
        else:
            rows.add(OutboxEvent, row)
        return None
    event = OutboxEvent(type=event_type, order_id=order.id, payload=payload, request_id=request_id_var.get())
    db.session.add(event)
    wanted = [s for s in _subscribers() if s.wants(event_type)]
    if wanted:
        db.session.flush()
        db.session.add_all(WebhookDelivery(event_id=event.id, subscription_id=s.id) for s in wanted)
    return event


def _subscribers() -> list[WebhookSubscription]:
    """The active subscriptions, read once per transaction (an order writes several events)."""
    cache = transaction_cache(_SUBSCRIBERS)
    if "active" not in cache:
        with db.session.no_autoflush:  # the event just added waits for the next flush, with the others
            cache["active"] = db.session.scalars(select(WebhookSubscription).where(WebhookSubscription.active)).all()
    return cache["active"]


def remember_subscribers(active: list[WebhookSubscription]) -> None:
    """The active subscriptions, read by the caller in this transaction (app.core.configuration): not read again."""
    transaction_cache(_SUBSCRIBERS)["active"] = active


_SUBSCRIBERS = "webhook_subscribers"

# The PostgreSQL advisory lock that makes sequencer runs of the outbox take turns, across every process and machine.
SEQUENCER_LOCK = 0x436F6D70  # "Comp"


def sequence() -> int:
    """Give positions, in commit order, to the committed events that have none; returns how many were numbered.

    See app.core.integration.sequencer: a transaction of its own, one run at a time, in-flight events later."""
    return sequencer.number_committed(OutboxEvent.__table__, SEQUENCER_LOCK)


def events_after(after: int, limit: int = 100, leave_out: tuple[str, ...] = ()) -> list[OutboxEvent]:
    """Sequenced events with a position above `after`, in position (commit) order: a feed clients pull from
    where they stopped. Only events the sequencer has numbered are served; run sequence() first.
    leave_out: event types this feed does not serve (their positions are simply not in it)."""
    stmt = select(OutboxEvent).where(OutboxEvent.position.is_not(None), OutboxEvent.position > after)
    if leave_out:
        stmt = stmt.where(OutboxEvent.type.not_in(leave_out))
    return db.session.scalars(stmt.order_by(OutboxEvent.position).limit(limit)).all()
