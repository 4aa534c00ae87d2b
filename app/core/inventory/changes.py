"""The stock change feed for the ERP: every ledger movement, in commit order, and stock.changed webhooks.

Movements are numbered after commit by the same sequencer as the outbox (app.core.integration.sequencer), with a
lock of their own, so a client following `cursor` (a movement's position) never skips one that committed late.
Each run that numbers movements also writes, in the same transaction, one `stock.changed` outbox event per
location (at most MAX_BATCH movements each) for the webhook subscriptions that want it: a subscriber receives
every numbered movement exactly once, in batches per location.
"""

from collections import defaultdict

from sqlalchemy import Connection, insert, select

from app.core.integration import sequencer
from app.core.models import Location, OutboxEvent, Product, StockMovement, WebhookDelivery, WebhookSubscription
from app.core.models.base import utcnow
from app.extensions import db

STOCK_CHANGED = "stock.changed"
# Apart from the outbox's lock: numbering the ledger never waits on numbering events, nor the reverse.
SEQUENCER_LOCK = 0x436F6D71
MAX_BATCH = 1000  # movements in one stock.changed event; a bigger run of one location sends several


def sequence() -> int:
    """Give positions, in commit order, to the committed movements that have none, and announce them to the
    stock.changed subscribers; returns how many were numbered (a transaction of its own, one run at a time)."""
    return sequencer.number_committed(StockMovement.__table__, SEQUENCER_LOCK, _announce)


def _announce(connection: Connection, first: int, last: int) -> None:
    """One stock.changed event per location for the movements numbered first..last, if anyone subscribes."""
    subscriptions = connection.execute(
        select(WebhookSubscription.id, WebhookSubscription.event_types).where(WebhookSubscription.active)
    ).all()
    wanted = [s.id for s in subscriptions if WebhookSubscription(event_types=s.event_types).wants(STOCK_CHANGED)]
    if not wanted:
        return
    table = StockMovement.__table__
    rows = connection.execute(
        select(table.c.position, table.c.kind, table.c.on_hand_delta, table.c.on_hand_after, Location.code, Product.sku)
        .join(Location, Location.id == table.c.location_id)
        .join(Product, Product.id == table.c.product_id)
        .where(table.c.position.between(first, last))
        .order_by(table.c.position)
    ).all()
    by_location = defaultdict(list)
    for row in rows:
        by_location[row.code].append(
            {
                "cursor": row.position,
                "sku": row.sku,
                "kind": row.kind,
                "delta": row.on_hand_delta,
                "on_hand": row.on_hand_after,
            }
        )
    now = utcnow()
    for code in sorted(by_location):
        changes = by_location[code]
        for start in range(0, len(changes), MAX_BATCH):
            payload = {"location": code, "changes": changes[start : start + MAX_BATCH]}
            event_id = connection.execute(
                insert(OutboxEvent.__table__)
                .values(type=STOCK_CHANGED, order_id=None, payload=payload, created_at=now)
                .returning(OutboxEvent.__table__.c.id)
            ).scalar_one()
            connection.execute(
                insert(WebhookDelivery.__table__),
                [
                    {
                        "event_id": event_id,
                        "subscription_id": subscription_id,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "last_error": "",
                    }
                    for subscription_id in wanted
                ],
            )


def changes_after(after: int, limit: int = 100) -> list[dict]:
    """Numbered movements with a position above `after`, in commit order, as the feed shows them: a feed the ERP
    pulls from where it stopped. Only movements the sequencer has numbered are served; run sequence() first."""
    rows = db.session.execute(
        select(StockMovement, Location.code, Product.sku)
        .join(Location, Location.id == StockMovement.location_id)
        .join(Product, Product.id == StockMovement.product_id)
        .where(StockMovement.position.is_not(None), StockMovement.position > after)
        .order_by(StockMovement.position)
        .limit(limit)
    ).all()
    return [
        {
            "cursor": movement.position,
            "location": code,
            "sku": sku,
            "delta": movement.on_hand_delta,
            "on_hand": movement.on_hand_after,
            "kind": movement.kind,
            "reason": movement.reason,
            "reference": movement.reference,
            "at": movement.created_at,
        }
        for movement, code, sku in rows
    ]
