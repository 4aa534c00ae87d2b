"""Many workers reserving the last units at once, each in its own session and transaction."""

import threading
from types import SimpleNamespace

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.core.errors import ConcurrentChange, OutOfStock
from app.core.inventory import stock
from app.core.models import Location, Order, Reservation, StockLevel
from app.core.ordering import orders
from app.core.uow import unit_of_work
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked

WORKERS = 20


def _reserve_concurrently(app, store_id, order_ids):
    barrier = threading.Barrier(len(order_ids))
    outcomes, lock = [], threading.Lock()

    def worker(order_id):
        with app.app_context():
            barrier.wait()
            try:
                with unit_of_work():
                    order = db.session.get(Order, order_id)
                    store = db.session.get(Location, store_id)
                    orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
                result = "reserved"
            except OutOfStock:
                result = "out_of_stock"
            except (ConcurrentChange, OperationalError) as exc:  # SQLite only: no row locks, a writer loses
                result = f"conflict:{type(exc).__name__}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(oid,)) for oid in order_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_twenty_workers_reserving_five_units_never_oversell(app):
    store, product = make_location(), make_product()
    stocked(store, product, 5)
    order_ids = [orders.create_order(ship_draft((product, 1)), actor=ACTOR)[0].id for _ in range(WORKERS)]
    store_id, product_id = store.id, product.id
    db.session.commit()

    outcomes = _reserve_concurrently(app, store_id, order_ids)

    db.session.expire_all()
    level = db.session.scalar(select(StockLevel).where(StockLevel.product_id == product_id))
    assert len(outcomes) == WORKERS
    assert (level.on_hand, level.reserved) == (5, outcomes.count("reserved"))
    assert level.on_hand - level.reserved >= 0
    assert stock.ledger_totals(store_id, product_id) == (level.on_hand, level.reserved)
    assert db.session.scalar(select(func.sum(Reservation.quantity))) == level.reserved
    if db.engine.dialect.name == "postgresql":
        # Row locks serialise the workers: exactly the five available units are taken.
        assert outcomes.count("reserved") == 5
        assert outcomes.count("out_of_stock") == WORKERS - 5
    else:
        assert outcomes.count("reserved") <= 5
        assert set(outcomes) <= {"reserved", "out_of_stock", "conflict:ConcurrentChange", "conflict:OperationalError"}


def test_the_same_order_created_by_many_workers_at_once_exists_once(app):
    product = SimpleNamespace(sku=make_product().sku)  # plain data: workers must not touch this session
    db.session.commit()
    barrier = threading.Barrier(10)
    ids, lock = [], threading.Lock()

    def worker():
        with app.app_context():
            barrier.wait()
            try:
                with unit_of_work():
                    order, _ = orders.create_order(ship_draft((product, 1), ref="W-RACE"), actor=ACTOR)
                    order_id = order.id
                with lock:
                    ids.append(order_id)
            except OperationalError:  # SQLite: database locked for a loser is acceptable, never a duplicate
                pass
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(set(ids)) == 1
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
