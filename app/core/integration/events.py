"""The outbox: every order and fulfilment state change appends one event in the same transaction.

The pull feed follows `position`, not `id`. An id is taken when the event is written, so a transaction that
took a lower id can commit after one that took a higher id; a client that had already read the higher id
would never see the lower one. Positions are given after commit, by the sequencer, one run at a time: each run
numbers the committed events that have none, after the highest position given so far, and commits. So the
positions any reader can see are always 1..N with no gap that a later commit could fill, and a client that
asks for positions above the last one it read gets every event exactly once, in commit order.
"""

from sqlalchemy import exists, select, text

from app.core.models import Fulfilment, Order, OutboxEvent, WebhookDelivery, WebhookSubscription
from app.core.uow import transaction_cache
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
    wanted = [s for s in _subscribers() if s.wants(event_type)]
    if wanted:
        db.session.flush()
        db.session.add_all(WebhookDelivery(event_id=event.id, subscription_id=s.id) for s in wanted)
    return event


def _subscribers() -> list[WebhookSubscription]:
    """The active subscriptions, read once per transaction (an order writes several events)."""
    cache = transaction_cache("webhook_subscribers")
    if "active" not in cache:
        with db.session.no_autoflush:  # the event just added waits for the next flush, with the others
            cache["active"] = db.session.scalars(select(WebhookSubscription).where(WebhookSubscription.active)).all()
    return cache["active"]


# The PostgreSQL advisory lock that makes sequencer runs take turns, across every process and machine.
SEQUENCER_LOCK = 0x436F6D70  # "Comp"

# One statement: number the committed events that have no position yet, in id order, after the highest position.
_NUMBER_NEW_EVENTS = text(
    """
    UPDATE outbox_event SET position = numbered.base + numbered.rn
    FROM (
        SELECT id, row_number() OVER (ORDER BY id) AS rn,
               (SELECT coalesce(max(position), 0) FROM outbox_event) AS base
        FROM outbox_event WHERE position IS NULL
    ) AS numbered
    WHERE outbox_event.id = numbered.id
    """
)


def sequence() -> int:
    """Give positions, in commit order, to the committed events that have none; returns how many were numbered.

    Runs in a short transaction on a connection of its own and commits, whatever the caller's session is doing:
    a reader that starts a snapshot afterwards sees the new positions. Runs take turns: on PostgreSQL behind
    pg_advisory_xact_lock, after which a new statement (READ COMMITTED: a fresh snapshot) sees every event
    committed until then, including the positions the previous run gave; on SQLite behind the write lock
    (BEGIN IMMEDIATE). Events of transactions still in flight are not visible yet, and get a higher position
    in a later run, once committed.
    """
    engine = db.engine
    with engine.connect() as connection:
        # Most calls find nothing to do: look first, without taking any lock (the position index holds NULLs).
        if not connection.scalar(select(exists().where(OutboxEvent.position.is_(None)))):
            connection.rollback()
            return 0
        connection.rollback()
        connection = connection.execution_options(sqlite_immediate=True)
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK})
            return connection.execute(_NUMBER_NEW_EVENTS).rowcount


def events_after(after: int, limit: int = 100) -> list[OutboxEvent]:
    """Sequenced events with a position above `after`, in position (commit) order: a feed clients pull from
    where they stopped. Only events the sequencer has numbered are served; run sequence() first."""
    return db.session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.position.is_not(None), OutboxEvent.position > after)
        .order_by(OutboxEvent.position)
        .limit(limit)
    ).all()
