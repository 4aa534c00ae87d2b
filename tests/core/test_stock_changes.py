"""The stock change feed under concurrent writers: every movement once, in the feed and in the stock.changed batches."""

import random
import threading
import time

from sqlalchemy import select

from app.core.inventory import changes, stock
from app.core.models import Location, OutboxEvent, Product, StockMovement, WebhookDelivery, WebhookSubscription
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product


def test_writers_in_flight_sequencers_racing_and_a_reader_see_every_movement_once_and_announced_once(app):
    """8 writers receive stock on their own product and hold the transaction open a random while (so ids commit out
    of order on PostgreSQL), 3 sequencers run at once, one reader follows its cursor: it sees every movement exactly
    once, and the stock.changed batches name every movement exactly once, each with the on-hand it left."""
    writers, per_writer = 8, 12
    stores = [make_location(code=f"S{n}") for n in range(2)]
    products = [make_product(sku=f"SKU-{n}") for n in range(writers)]
    db.session.add(WebhookSubscription(url="http://127.0.0.1:9/hook", secret="s" * 20, event_types="stock.changed"))
    db.session.commit()
    store_ids, product_ids = [s.id for s in stores], [p.id for p in products]
    done, seen, crossings, failures = threading.Event(), [], [0], []

    def write(seed):
        rng = random.Random(seed)
        with app.app_context():
            try:
                for n in range(per_writer):
                    db.session.connection(execution_options={"sqlite_immediate": True})
                    store = db.session.get(Location, store_ids[n % 2])
                    stock.receive(store, db.session.get(Product, product_ids[seed]), n + 1, actor=ACTOR)
                    db.session.flush()
                    time.sleep(rng.uniform(0, 0.01))
                    db.session.commit()
            except Exception as exc:  # reported below: a thread's exception would otherwise vanish
                failures.append(repr(exc))
            finally:
                db.session.remove()

    def sequence():
        with app.app_context():
            try:
                while not done.is_set():
                    changes.sequence()
                    time.sleep(0.002)
            except Exception as exc:
                failures.append(repr(exc))

    def read():
        cursor, highest_id = 0, 0
        with app.app_context():
            try:
                while True:
                    finished = done.is_set()
                    changes.sequence()
                    db.session.rollback()
                    page = changes.changes_after(cursor, limit=40)
                    for item in page:
                        movement_id = db.session.scalar(
                            select(StockMovement.id).where(StockMovement.position == item["cursor"])
                        )
                        crossings[0] += movement_id < highest_id
                        highest_id = max(highest_id, movement_id)
                        seen.append(item["cursor"])
                    cursor = page[-1]["cursor"] if page else cursor
                    db.session.rollback()
                    if finished and not page:
                        return
                    time.sleep(0.003)
            except Exception as exc:
                failures.append(repr(exc))
            finally:
                db.session.remove()

    writer_threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    others = [threading.Thread(target=sequence) for _ in range(3)] + [threading.Thread(target=read)]
    for thread in writer_threads + others:
        thread.start()
    for thread in writer_threads:
        thread.join(timeout=120)
    done.set()
    for thread in others:
        thread.join(timeout=120)

    assert failures == []
    db.session.rollback()
    total = writers * per_writer
    assert seen == list(range(1, total + 1))  # every movement once, in position order: no gap, no repeat
    announced = []
    for event in db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == changes.STOCK_CHANGED)):
        code = event.payload["location"]
        announced += [(c["cursor"], code, c["sku"], c["on_hand"]) for c in event.payload["changes"]]
    expected = db.session.execute(
        select(StockMovement.position, Location.code, Product.sku, StockMovement.on_hand_after)
        .join(Location, Location.id == StockMovement.location_id)
        .join(Product, Product.id == StockMovement.product_id)
        .order_by(StockMovement.position)
    ).all()
    assert sorted(announced) == [tuple(r) for r in expected]  # every movement in exactly one batch
    assert db.session.scalar(select(WebhookDelivery.id).limit(1)) is not None
    # How many commits crossed here depends on the machine's timing (none, now and then): the late commit itself is
    # made to happen, every time, by tests/api/test_stock_changes_api.py::
    # test_a_movement_committed_after_one_with_a_higher_id_reaches_a_client_that_already_read_that_one.
    print(f"movements seen {len(seen)} / {total}; arrived after a higher id: {crossings[0]}")
