"""The customer service search (app.core.service.search): one box, across the chain, on both engines."""

from sqlalchemy import select, update

from app.core import returns
from app.core.floor import pickups
from app.core.models import Order
from app.core.ordering import orders
from app.core.service import search
from app.core.service.text import fold, search_text
from app.extensions import db
from tests.core.test_pickups import _ready
from tests.core.test_returns import NOW, shipped_order
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked


def _order(name="Léa Martin", email="lea@example.fr", phone="", ref=None, channel="web"):
    store = make_location()
    product = make_product()
    stocked(store, product, 5)
    draft = ship_draft((product, 1), ref=ref, channel=channel)
    draft.customer_name, draft.customer_email, draft.customer_phone = name, email, phone
    order, _ = orders.create_order(draft, actor=ACTOR)
    db.session.flush()
    return order


def test_the_folded_text_drops_accents_case_and_extra_spaces_and_keeps_phone_digits():
    assert fold("  ROSSÍ   Léa ") == "rossi lea"
    assert search_text("Ærøskøbing Straße", "Lea@Example.FR", "+33 6 12-34.56 78") == (
        "ærøskøbing strasse lea@example.fr 33612345678"
    )


def test_a_name_is_found_without_its_accents_or_case_in_part_and_in_any_order(app):
    lea = _order(name="Léa Rossí", email="lr@example.fr")
    other = _order(name="Marco Bianchi", email="mb@example.it")
    for text in ("lea", "LÉA", "Léa", "ROSSÍ", "rossi", "ross", "rossi lea", "  Lea   ROSSI "):
        assert search.search_orders(text) == [lea], text
    assert search.search_orders("bianchi") == [other]
    assert search.search_orders("lea bianchi") == []


def test_an_e_mail_in_full_or_in_part_finds_the_order(app):
    order = _order(email="Lea.Rossi@Example.fr")
    _order(name="Marco Bianchi", email="marco@example.it")
    assert search.search_orders("lea.rossi@example.fr") == [order]
    assert search.search_orders("LEA.ROSSI@") == [order]


def test_a_phone_in_part_or_written_another_way_finds_the_order_by_its_digits(app):
    order = _order(phone="+33 6 12 34 56 78")
    _order(name="Marco Bianchi", phone="+39 345 678 9012")
    for text in ("06 12 34 56 78", "0612345678", "+33612345678", "12 34 56", "2 34 56 78", "06.12.34.56.78"):
        assert search.search_orders(text) == [order], text


def test_the_order_number_and_the_channels_reference_find_exactly_that_order(app):
    order = _order(ref="A-1001", channel="shop")
    _order(ref="A-10010", channel="shop")
    assert search.search_orders("SHOP-A-1001") == [order]
    assert search.search_orders("shop-a-1001") == [order]
    assert search.search_orders("A-1001") == [order]


def test_a_tracking_number_and_a_return_number_find_their_order(app):
    order = shipped_order()
    tracking = order.fulfilments[0].parcels[0].label.tracking_number
    assert search.search_orders(tracking) == [order]
    assert search.search_orders(tracking.lower()) == [order]
    first = order.lines[0]
    ret = returns.create_return(
        order,
        make_location(),
        [{"sku": first.product.sku, "quantity": 1, "reason": "too_small", "condition": "resellable"}],
        actor=ACTOR,
        now=NOW,
    )
    db.session.flush()
    assert search.search_orders(ret.number) == [order]
    assert search.search_orders(ret.number.lower()) == [order]
    assert search.search_orders("RET-9999999") == []


def test_a_pickup_code_as_printed_or_read_out_finds_its_order(app):
    _store, _products, fulfilment, _slot = _ready()
    code = fulfilment.pickup.code
    for text in (code, code.lower(), pickups.format_code(code), " ".join(code)):
        assert search.search_orders(text) == [fulfilment.order], text


def test_newest_first_within_the_limit_and_too_little_to_search_finds_nothing(app):
    made = [_order(name=f"Giulia Verdi {i}", email=f"g{i}@example.it") for i in range(5)]
    found = search.search_orders("verdi", limit=3)
    assert found == sorted(made, key=lambda o: -o.id)[:3]
    assert len(search.search_orders("verdi")) == 5
    assert search.search_orders("ve") == [] and search.search_orders("   ") == [] and search.search_orders(None) == []


def test_a_changed_name_is_searched_under_its_new_spelling_and_percent_signs_are_plain_text(app):
    order = _order(name="Lea Martin")
    order.customer_name = "Chloé Dupré"
    db.session.flush()
    assert search.search_orders("chloe dupre") == [order]
    assert search.search_orders("martin") == []
    assert search.search_orders("%%%") == [] and search.search_orders("___") == []


def test_the_condition_gives_the_same_orders_as_the_search(app):
    lea = _order(name="Léa Rossí")
    _order(name="Marco Bianchi")
    assert db.session.scalars(select(Order).where(search.condition("rossi"))).all() == [lea]
    assert db.session.scalars(select(Order).where(search.condition(lea.reference))).all() == [lea]
    assert db.session.scalars(select(Order).where(search.condition("zz"))).all() == []


def test_an_order_without_search_text_is_not_found_by_name_the_migration_fills_it(app):
    # what an order written before e9a1f0c0de10 looks like until the backfill: proves the search reads the column
    order = _order(name="Léa Rossí")
    db.session.execute(update(Order).where(Order.id == order.id).values(search_text=""))
    db.session.expire_all()
    assert search.search_orders("rossi") == []
    assert search.search_orders(order.reference) == [db.session.get(Order, order.id)]
