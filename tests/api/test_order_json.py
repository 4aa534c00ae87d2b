"""order_json builds exactly what OrderOutSchema dumps, for every kind of order, in a few statements per page."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask import jsonify

from app.api import order_json
from app.api.schemas import OrderOutSchema
from app.core.floor import carriers, packing
from app.core.integration.api_clients import create_api_client
from app.core.models import Order
from app.core.ordering import orders, sourcing
from app.core.service import actions
from app.extensions import db
from tests.factories import ACTOR, collect_draft, make_location, make_product, ship_draft, sql_statements, stocked

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(app):
    """PAR01 has the T-shirt and packs, LYO01 the cap, MIL01 is a pickup store, nobody has the scarf."""
    paris = make_location(code="PAR01", latitude=48.87, longitude=2.33, daily_capacity=1000)
    lyon = make_location(code="LYO01", latitude=45.76, longitude=4.84, daily_capacity=1000)
    milan = make_location(code="MIL01", latitude=45.46, longitude=9.19, name="Milano Duomo")
    shirt = make_product(sku="TSH-001-M", gtin="4006381333931", name="T-shirt « été »")
    cap, scarf = make_product(sku="CAP-001"), make_product(sku="SCF-ÉCHARPE")
    stocked(paris, shirt, 1000)
    stocked(lyon, cap, 1000)
    box = {"name": "Box M", "length_mm": 300, "width_mm": 200, "height_mm": 150, "tare_grams": 250}
    packing.add_package_type(paris, box, actor=ACTOR)
    carriers.ensure_builtin_carriers()
    _, token = create_api_client("reader", ["orders:read"], actor=ACTOR)
    db.session.commit()
    return {"paris": paris, "lyon": lyon, "milan": milan, "shirt": shirt, "cap": cap, "scarf": scarf, "token": token}


def _sourced(draft) -> Order:
    order = orders.create_order(draft, actor=ACTOR)[0]
    sourcing.source_order(order, actor=ACTOR)
    db.session.flush()
    return order


def _at(order: Order, code: str):
    return next(f for f in order.fulfilments if f.location.code == code)


def _picked(fulfilment):
    for status in ("accepted", "picking", "picked"):
        orders.transition(fulfilment, status, actor=ACTOR)
    return fulfilment


def _packed(fulfilment, world, weight=900):
    packing.start_packing(_picked(fulfilment), actor=ACTOR)
    for parcel in fulfilment.parcels:
        packing.set_parcel(
            parcel, package_type=packing.package_types(world["paris"])[0], weight_grams=weight, actor=ACTOR
        )
    if packing.needs_gift_step(fulfilment):
        packing.gift_done(fulfilment, actor=ACTOR)
    return packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)


def _variety(world) -> list[int]:
    """Orders showing every field OrderOutSchema has, in each of its shapes; their ids, oldest first."""
    shirt, cap, scarf = world["shirt"], world["cap"], world["scarf"]
    made = []

    # Split over two stores, a line nobody has, a packed and labelled parcel, a transfer to a pickup store.
    draft = ship_draft((shirt, 1), (cap, 2), (scarf, 1))
    draft.ship_to.update(latitude=48.86, longitude=2.33)
    split = _sourced(draft)
    _at(split, "LYO01").transfer_to = world["milan"]
    _packed(_at(split, "PAR01"), world)
    made.append(split)

    # Gift wrap and message, payment, promise date, unicode everywhere, needs review; packed and handed over.
    draft = ship_draft((shirt, 3), ref="W-ÉTÉ-été-😀")
    draft.customer_name, draft.gift_wrap, draft.gift_message = "Zoë Ærøskøbing 山田", True, "Joyeux anniversaire ! 🎂"
    draft.payment_reference, draft.payment_amount, draft.currency = "auth_ü_1", Decimal("59.80"), "CHF"
    draft.promised_by = datetime(2026, 12, 1, 18, 0, 0, 123456, tzinfo=UTC)
    gift = _sourced(draft)
    fulfilment = _packed(gift.fulfilments[0], world, weight=1234)
    fulfilment.parcels[0].handed_over_at = datetime(2025, 3, 3, 17, 30, tzinfo=UTC)
    # A unit sent again for that parcel (customer service's re-shipment): a fulfilment linked to the first.
    orders.assign_fulfilment(gift, world["paris"], {gift.lines[0]: 1}, actor=ACTOR, reship_of=fulfilment)
    made.append(gift)

    # Click & collect at the store that has it.
    made.append(_sourced(collect_draft(world["paris"], (shirt, 2))))

    # Click & collect where nothing is in stock: nothing placed, all of it unfulfilled.
    made.append(_sourced(collect_draft(world["milan"], (scarf, 1), (shirt, 1))))

    # Cancelled after sourcing: its fulfilments cancelled too.
    cancelled = _sourced(ship_draft((shirt, 1), (cap, 1)))
    orders.cancel_order(cancelled, reason="customer", actor=ACTOR)
    made.append(cancelled)

    # Captured, not sourced yet: no fulfilment, no decision.
    held = ship_draft((scarf, 4), channel="erp")
    held.needs_review = True
    held_order = orders.create_order(held, actor=ACTOR)[0]
    actions.cancel_lines(held_order, {1: 1}, "the customer wants 3", actor=ACTOR)  # a line shows cancelled units
    made.append(held_order)

    # A short pick: the short units re-sourced (a second decision), the line shows picked and short.
    short = _sourced(ship_draft((shirt, 2), (cap, 1)))
    at_paris = _at(short, "PAR01")
    for status in ("accepted", "picking"):
        orders.transition(at_paris, status, actor=ACTOR)
    sourcing.short_pick(at_paris.lines[0], 1, reason="not on the shelf", actor=ACTOR)
    made.append(short)

    # Two parcels: the first relabelled with another service (a void label, then an active one), the second's
    # label voided (no label in force).
    relabelled = _sourced(ship_draft((shirt, 2)))
    fulfilment = _at(relabelled, "PAR01")
    packing.start_packing(_picked(fulfilment), actor=ACTOR)
    second = packing.new_parcel(fulfilment, actor=ACTOR)
    packing.move_items(fulfilment, second, {fulfilment.lines[0]: 1}, actor=ACTOR)
    for parcel in fulfilment.parcels:
        packing.set_parcel(parcel, package_type=packing.package_types(world["paris"])[0], weight_grams=700, actor=ACTOR)
    packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    first, second = fulfilment.parcels
    other = next(s for s in first.label.service.carrier.services if s.id != first.label.service_id)
    packing.void_label(first.label, actor=ACTOR)
    packing.relabel(first, other, actor=ACTOR)
    packing.void_label(second.label, actor=ACTOR)
    made.append(relabelled)

    db.session.commit()
    return [order.id for order in made]


def _schema_dump(ids: list[int]) -> list[dict]:
    """What OrderOutSchema shows of each order, loaded afresh (its `unfulfilled` read from the latest decision)."""
    db.session.expire_all()
    return [OrderOutSchema().dump(db.session.get(Order, order_id)) for order_id in ids]


def test_every_kind_of_order_is_built_exactly_as_the_schema_dumps_it(app, world):
    ids = _variety(world)
    with app.test_request_context():
        expected = _schema_dump(ids)
        built = order_json.dump_orders(ids)
        assert [order["id"] for order in built] == ids
        for mine, schema in zip(built, expected, strict=True):
            assert mine == schema
            assert list(mine) == list(schema)  # the schema's key order too
        assert order_json.dump_orders([*reversed(ids), 999999, ids[0]]) == list(reversed(expected))
        assert [order_json.dump_order(order_id) for order_id in ids] == expected
        assert order_json.dump_order(999999) is None and order_json.dump_orders([]) == []
    # The variety is real: each shape appears at least once.
    shown = {
        "split": any(len(o["fulfilments"]) == 2 for o in expected),
        "transfer": any(f["transfer_to"] for o in expected for f in o["fulfilments"]),
        "label": any(p["tracking_number"] for o in expected for f in o["fulfilments"] for p in f["parcels"]),
        "no label": any(p["label_pdf_url"] is None for o in expected for f in o["fulfilments"] for p in f["parcels"]),
        "handed over": any(p["handed_over_at"] for o in expected for f in o["fulfilments"] for p in f["parcels"]),
        "unfulfilled": any(o["unfulfilled"] for o in expected),
        "short": any(line["short"] for o in expected for f in o["fulfilments"] for line in f["lines"]),
        "cancelled": any(o["status"] == "cancelled" for o in expected),
        "no fulfilment": any(not o["fulfilments"] for o in expected),
        "gift": any(o["gift_wrap"] and o["gift_message"] for o in expected),
        "promised": any(o["promised_by"] for o in expected),
        "collect": any(o["delivery_method"] == "collect" for o in expected),
        "messages": any(o["messages"] for o in expected),
        "cancelled units": any(line["cancelled"] for o in expected for line in o["lines"]),
        "re-shipment": any(f["reship_of"] for o in expected for f in o["fulfilments"]),
        "not a re-shipment": any(f["reship_of"] is None for o in expected for f in o["fulfilments"]),
    }
    assert all(shown.values()), shown


def _get(client, token, path, **query):
    response = client.get(path, headers={"Authorization": f"Bearer {token}"}, query_string=query)
    assert response.status_code == 200, response.data
    return response


def test_the_list_and_the_order_answer_the_bytes_the_schema_gave(app, client, world):
    ids = _variety(world)
    token = world["token"]
    with app.test_request_context():
        expected = _schema_dump(ids)
        by_id = dict(zip(ids, expected, strict=True))
        for order_id in ids:
            alone = _get(client, token, f"/api/v1/orders/{order_id}")
            assert alone.data == jsonify(by_id[order_id]).get_data()
            assert alone.mimetype == "application/json"
        page = _get(client, token, "/api/v1/orders", limit=50)
        assert page.data == jsonify({"items": expected, "next_cursor": None}).get_data()
        first = _get(client, token, "/api/v1/orders", limit=3)
        assert first.data == jsonify({"items": expected[:3], "next_cursor": ids[2]}).get_data()
        rest = _get(client, token, "/api/v1/orders", limit=50, cursor=ids[2])
        assert rest.data == jsonify({"items": expected[3:], "next_cursor": None}).get_data()
        for query, keep in (
            ({"location": "PAR01"}, lambda o: any(f["location"] == "PAR01" for f in o["fulfilments"])),
            ({"status": "open"}, lambda o: o["status"] == "open"),
            ({"location": "LYO01", "status": "cancelled"}, lambda o: o["status"] == "cancelled"),
        ):
            filtered = _get(client, token, "/api/v1/orders", limit=50, **query)
            wanted = [o for o in expected if keep(o)]
            assert wanted, query
            assert filtered.data == jsonify({"items": wanted, "next_cursor": None}).get_data(), query
        assert _get(client, token, "/api/v1/orders", location="NOWHERE").json == {"items": [], "next_cursor": None}
    missing = client.get("/api/v1/orders/999999", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404 and missing.json["error"] == "not_found"


def _copies(world, count):
    shirt, cap, scarf = world["shirt"], world["cap"], world["scarf"]
    for _ in range(count):
        draft = ship_draft((shirt, 1), (cap, 1), (scarf, 1))
        draft.ship_to.update(latitude=48.86, longitude=2.33)
        order = _sourced(draft)
        _at(order, "LYO01").transfer_to = world["milan"]
        _packed(_at(order, "PAR01"), world)
    db.session.commit()


def test_a_page_costs_the_same_few_statements_whatever_its_size(app, client, world):
    token = world["token"]
    _copies(world, 5)
    with sql_statements() as few:
        assert len(_get(client, token, "/api/v1/orders", limit=50).json["items"]) == 5
    _copies(world, 55)
    with sql_statements() as many:
        page = _get(client, token, "/api/v1/orders", limit=50).json
    assert len(page["items"]) == 50 and page["next_cursor"] is not None
    assert len(many) == len(few), many
    # (BEGIN on SQLite,) the API token, then the page's keys, orders, lines, fulfilments with lines, parcels,
    # messages.
    assert len(many) <= 8, many
    with sql_statements() as located:
        assert len(_get(client, token, "/api/v1/orders", limit=50, location="PAR01").json["items"]) == 50
    assert len(located) == len(many) + 1  # the location's id
    order_id = page["items"][0]["id"]
    with sql_statements() as one:
        _get(client, token, f"/api/v1/orders/{order_id}")
    assert len(one) <= len(many) - 1  # no keys to find
