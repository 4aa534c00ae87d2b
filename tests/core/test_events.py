from sqlalchemy import select

from app.core import events, orders
from app.core.models import OutboxEvent
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked


def test_every_state_change_appends_one_event_in_the_same_transaction(app):
    store, product = make_location(), make_product()
    stocked(store, product, 2)
    order, _ = orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    for target in ["accepted", "picking", "picked", "packed", "shipped"]:
        orders.transition(fulfilment, target, actor=ACTOR)
    types = [e.type for e in events.events_after(0)]
    assert types == [
        "order.created",
        "fulfilment.created",
        "fulfilment.accepted",
        "fulfilment.picking",
        "fulfilment.picked",
        "fulfilment.packed",
        "order.completed",
        "fulfilment.shipped",
    ]
    last = db.session.scalar(select(OutboxEvent).order_by(OutboxEvent.id.desc()))
    assert last.payload["location"] == store.code and last.payload["order_status"] == "completed"


def test_a_rolled_back_change_leaves_no_event(app):
    product = make_product()
    db.session.commit()
    orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    db.session.rollback()
    assert events.events_after(0) == []
