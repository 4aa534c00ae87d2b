import copy
import hashlib
import json
from dataclasses import asdict

import pytest
from sqlalchemy import func, select

from app.core.actor import Actor
from app.core.integration.api_clients import create_api_client
from app.core.inventory import stock
from app.core.models import ApiClient, Fulfilment, Order, OrderLine, Product
from app.core.ordering.orders import OrderDraft
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, random_ref, sql_statements

BODY = {
    "channel": "web",
    "external_ref": "W-1001",
    "customer": {"name": "Lea Martin", "email": "lea@example.fr", "phone": "+33612345678", "language": "fr"},
    "delivery": {
        "method": "ship",
        "address": {
            "line1": "12 rue de la Paix",
            "postcode": "75002",
            "city": "Paris",
            "country": "FR",
            "latitude": 48.8686,
            "longitude": 2.3314,
        },
    },
    "lines": [{"sku": "TSH-001-M", "quantity": 2}],
    "promised_by": "2026-12-01T18:00:00Z",
    "payment": {"provider": "test", "reference": "auth_123", "amount": "59.80", "currency": "EUR"},
}


@pytest.fixture
def api(app, client):
    make_product(sku="TSH-001-M", gtin="4006381333931")
    _, write_token = create_api_client("webshop", ["orders:read", "orders:write"], actor=ACTOR)
    _, read_token = create_api_client("reporting", ["orders:read"], actor=ACTOR)
    db.session.commit()

    def call(method, path, token=write_token, **kwargs):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    call.read_token = read_token
    return call


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_order_is_created_once_and_the_same_body_again_returns_it(api):
    first = api("POST", "/api/v1/orders", json=BODY)
    assert first.status_code == 201
    assert first.json["external_ref"] == "W-1001"
    assert first.json["lines"] == [
        {"line_no": 1, "sku": "TSH-001-M", "gtin": "4006381333931", "quantity": 2, "cancelled": 0}
    ]
    again = api("POST", "/api/v1/orders", json=BODY)
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert (_count(Order), _count(OrderLine)) == (1, 1)


def test_the_same_reference_with_a_different_body_is_409_with_the_uniform_error(api):
    api("POST", "/api/v1/orders", json=BODY)
    changed = copy.deepcopy(BODY)
    changed["lines"][0]["quantity"] = 3
    response = api("POST", "/api/v1/orders", json=changed)
    assert response.status_code == 409
    assert response.json["error"] == "order_conflict"
    assert set(response.json) == {"error", "message", "fields"}


def test_a_line_may_name_a_gtin_instead_of_a_sku(api):
    body = copy.deepcopy(BODY)
    body["lines"] = [{"gtin": "4006381333931", "quantity": 1}]
    assert api("POST", "/api/v1/orders", json=body).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["lines"][0].update(quantity=0), "lines.0.quantity"),
        (lambda b: b["lines"][0].update(quantity="2"), "lines.0.quantity"),
        (lambda b: b["lines"][0].update(sku="NOPE-1"), "lines.0.sku"),
        (lambda b: b["lines"][0].update(gtin="4006381333931"), "lines.0.sku"),
        (lambda b: b["delivery"].pop("address"), "delivery.address"),
        (lambda b: b["delivery"]["address"].update(country="France"), "delivery.address.country"),
        (lambda b: b["payment"].update(currency="EURO"), "payment.currency"),
        (lambda b: b["customer"].update(email="not-an-email"), "customer.email"),
        (lambda b: b.update(promised_by="tomorrow"), "promised_by"),
        (lambda b: b.update(lines=[]), "lines"),
        (lambda b: b.pop("customer"), "customer"),
        (lambda b: b["delivery"].update(method="collect", pickup_location="NOWHERE"), "delivery.pickup_location"),
        (lambda b: b["delivery"].update(method="drone"), "delivery.method"),
    ],
)
def test_each_bad_field_is_named_in_a_422_and_nothing_is_created(api, change, field):
    body = copy.deepcopy(BODY)
    change(body)
    response = api("POST", "/api/v1/orders", json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["fields"], response.json
    assert response.json["message"]
    assert _count(Order) == 0


def test_a_closed_pickup_store_is_refused(api):
    make_location(code="CLOSED1", active=False)
    db.session.commit()
    body = copy.deepcopy(BODY)
    body["delivery"] = {"method": "collect", "pickup_location": "CLOSED1"}
    response = api("POST", "/api/v1/orders", json=body)
    assert response.status_code == 422
    assert "delivery.pickup_location" in response.json["fields"]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "{"])
def test_a_body_that_is_not_an_order_object_is_422(api, body):
    response = api("POST", "/api/v1/orders", data=body, content_type="application/json")
    assert response.status_code in {400, 422}
    assert set(response.json) == {"error", "message", "fields"}


def test_requests_without_a_valid_token_are_401_and_without_the_scope_403(api, client):
    assert client.post("/api/v1/orders", json=BODY).status_code == 401
    wrong = client.post("/api/v1/orders", json=BODY, headers={"Authorization": "Bearer cpt_wrong"})
    assert wrong.status_code == 401
    assert wrong.json["error"] == "unauthorized"
    assert api("POST", "/api/v1/orders", token=api.read_token, json=BODY).status_code == 403
    assert _count(Order) == 0


def test_an_order_is_read_back_and_an_unknown_one_is_404(api):
    created = api("POST", "/api/v1/orders", json=BODY).json
    read = api("GET", f"/api/v1/orders/{created['id']}", token=api.read_token)
    assert read.status_code == 200
    assert read.json == created
    missing = api("GET", "/api/v1/orders/999999", token=api.read_token)
    assert missing.status_code == 404
    assert missing.json["error"] == "not_found"


def test_the_answer_to_a_new_order_lists_its_messages_as_a_later_read_does(api):
    """The answer lists what capture queued without reading it back: the same as the order read again, split e-mail
    included, to the microsecond."""
    second = make_product(sku="CAP-009", gtin="4006381333948")
    for code, product in (("MSG01", Product.query.filter_by(sku="TSH-001-M").one()), ("MSG02", second)):
        stock.receive(make_location(code=code, daily_capacity=50), product, 5, actor=ACTOR, reference="test")
    db.session.commit()
    body = {**BODY, "external_ref": random_ref("W-"), "lines": [*BODY["lines"], {"sku": "CAP-009", "quantity": 1}]}
    created = api("POST", "/api/v1/orders", json=body).json
    assert [(m["kind"], m["channel"], m["status"]) for m in created["messages"]] == [
        ("order_confirmed", "email", "pending"),
        ("order_split", "email", "pending"),
    ]
    assert api("GET", f"/api/v1/orders/{created['id']}", token=api.read_token).json == created


def test_tokens_are_stored_only_as_hashes(app):
    _, token = create_api_client(random_ref("erp-"), ["stock:read"], actor=ACTOR)
    db.session.flush()
    stored = db.session.scalars(select(ApiClient.token_hash)).all()
    assert token not in stored
    assert all(len(h) == 64 for h in stored)


def test_the_openapi_document_describes_the_order_endpoints(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/api/v1/orders"]["post"]
    assert {"201", "200", "401", "403", "409", "422"} <= set(post["responses"])
    assert "OrderIn" in spec["components"]["schemas"]


def test_the_api_client_cli_prints_the_token_once(runner):
    result = runner.invoke(args=["api-client", "create", "pos", "--scopes", "stock:read,stock:write"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("cpt_")
    bad = runner.invoke(args=["api-client", "create", "pos2", "--scopes", "orders:fly"])
    assert bad.exit_code != 0


def test_an_order_is_sourced_at_once_and_says_what_no_store_could_take(api):
    from app.core.inventory.catalogue import find_product
    from tests.factories import stocked

    store = make_location(code="PAR01")
    stocked(store, find_product("TSH-001-M"), 1)
    db.session.commit()
    response = api("POST", "/api/v1/orders", json=BODY)
    assert response.status_code == 201
    [fulfilment] = response.json["fulfilments"]
    assert fulfilment["location"] == "PAR01"
    assert fulfilment["status"] == "created"
    assert fulfilment["lines"] == [{"sku": "TSH-001-M", "quantity": 1, "picked": 0, "short": 0}]
    assert fulfilment["accept_by"] and fulfilment["ready_by"]
    assert response.json["unfulfilled"] == {"1": 1}


def _create(api, ref):
    body = copy.deepcopy(BODY)
    body["external_ref"] = ref
    response = api("POST", "/api/v1/orders", json=body)
    assert response.status_code == 201
    return response.json


def test_orders_are_listed_page_by_page_with_a_cursor(api):
    created = [_create(api, f"W-{n}")["id"] for n in range(5)]
    seen, cursor = [], None
    for _ in range(5):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api("GET", "/api/v1/orders", token=api.read_token, query_string=query).json
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created


def test_orders_are_filtered_by_status_location_and_update_time(api):
    from app.core.inventory.catalogue import find_product
    from tests.factories import stocked

    stocked(make_location(code="LYO01"), find_product("TSH-001-M"), 5)
    db.session.commit()
    first = _create(api, "W-A")
    second = _create(api, "W-B")
    api("POST", f"/api/v1/orders/{second['id']}/cancel", json={"reason": "customer"})
    by_status = api("GET", "/api/v1/orders", token=api.read_token, query_string={"status": "cancelled"}).json
    assert [o["id"] for o in by_status["items"]] == [second["id"]]
    at_lyon = api("GET", "/api/v1/orders", token=api.read_token, query_string={"location": "LYO01"}).json
    assert {o["id"] for o in at_lyon["items"]} == {first["id"], second["id"]}
    later = api("GET", "/api/v1/orders", token=api.read_token, query_string={"updated_since": "2999-01-01T00:00:00Z"})
    assert later.json["items"] == []
    bad = api("GET", "/api/v1/orders", token=api.read_token, query_string={"limit": 0, "status": "lost"})
    assert bad.status_code == 422
    assert {"limit", "status"} <= set(bad.json["fields"])


def test_cancelling_releases_stock_is_repeatable_and_shows_in_the_timeline(api):
    from app.core.inventory import stock
    from app.core.inventory.catalogue import find_product
    from tests.factories import stocked

    store, product = make_location(code="MIL01"), find_product("TSH-001-M")
    stocked(store, product, 2)
    db.session.commit()
    order = _create(api, "W-CANCEL")
    assert stock.available_to_promise(store, product) == 0
    first = api("POST", f"/api/v1/orders/{order['id']}/cancel", json={"reason": "customer changed mind"})
    again = api("POST", f"/api/v1/orders/{order['id']}/cancel", json={"reason": "customer changed mind"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json["status"] == "cancelled"
    assert again.json["fulfilments"][0]["status"] == "cancelled"
    assert stock.available_to_promise(store, product) == 2
    timeline = api("GET", f"/api/v1/orders/{order['id']}/timeline", token=api.read_token).json
    actions = [event["action"] for event in timeline]
    assert actions[0] == "order.create"
    assert "fulfilment.assign" in actions and "fulfilment.cancelled" in actions
    # The void of the authorisation is written with the cancel, then confirmed by the provider after its commit; the
    # customer's messages (confirmed, cancelled) are on the timeline too, written by the system.
    assert actions[-4:] == ["payment.void_requested", "order.cancel", "message.queued", "payment.void_succeeded"]
    told = [event["after"]["kind"] for event in timeline if event["action"] == "message.queued"]
    assert told == ["order_confirmed", "order_cancelled"]
    system = {Actor.system("payments").label, Actor.system("messages").label}
    assert all(event["actor"] == "api:webshop" for event in timeline if event["actor"] not in system)
    assert timeline[-1]["actor"] == Actor.system("payments").label
    assert api("POST", f"/api/v1/orders/{order['id']}/cancel", json={}).status_code == 422
    assert api("POST", "/api/v1/orders/999999/cancel", json={"reason": "x"}).status_code == 404


def test_reading_with_a_write_only_scope_is_refused(api, client, app):
    from app.core.integration.api_clients import create_api_client

    _, token = create_api_client("stock-only", ["stock:write"], actor=ACTOR)
    db.session.commit()
    response = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json["error"] == "forbidden"


def test_the_event_feed_is_read_from_where_the_client_stopped(api):
    _create(api, "W-EV1")
    _create(api, "W-EV2")
    first = api("GET", "/api/v1/events", token=api.read_token, query_string={"limit": 1}).json
    assert [e["type"] for e in first] == ["order.created"]
    rest = api("GET", "/api/v1/events", token=api.read_token, query_string={"after": first[-1]["position"]}).json
    assert all(e["position"] > first[-1]["position"] for e in rest)
    assert {e["payload"]["external_ref"] for e in rest} == {"W-EV1", "W-EV2"}


def test_gift_wrap_and_message_travel_with_the_order_and_a_body_without_them_keeps_its_fingerprint(api):
    plain = api("POST", "/api/v1/orders", json=BODY).json
    assert (plain["gift_wrap"], plain["gift_message"]) == (False, "")
    # Without a gift, the fingerprint is computed as before gifts existed, so resends of older orders still match.
    draft = OrderDraft(channel="web", external_ref="X", customer_name="A", delivery_method="ship", lines=[])
    later = ("gift_wrap", "gift_message", "shipping_fee", "payment_provider")  # added since; left out when unused
    before_gifts = {k: v for k, v in asdict(draft).items() if k not in later}
    assert draft.fingerprint() == hashlib.sha256(json.dumps(before_gifts, sort_keys=True).encode()).hexdigest()
    assert OrderDraft(**{**asdict(draft), "gift_wrap": True}).fingerprint() != draft.fingerprint()
    gift = {
        **copy.deepcopy(BODY),
        "external_ref": "W-GIFT",
        "gift": {"wrap": True, "message": " Joyeux anniversaire ! "},
    }
    created = api("POST", "/api/v1/orders", json=gift)
    assert created.status_code == 201
    assert (created.json["gift_wrap"], created.json["gift_message"]) == (True, "Joyeux anniversaire !")
    too_long = {**copy.deepcopy(BODY), "external_ref": "W-GIFT-2", "gift": {"message": "x" * 501}}
    refused = api("POST", "/api/v1/orders", json=too_long)
    assert refused.status_code == 422 and "gift.message" in str(refused.json)


# --- a page of the list is a handful of statements, whatever the page size and the history ---


@pytest.fixture
def shelves(api):
    """PAR01 has the T-shirt, LYO01 the cap, nobody the scarf; PAR01 packs with a box and the built-in carriers."""
    from app.core.floor import carriers, packing
    from app.core.inventory.catalogue import find_product
    from tests.factories import stocked

    paris = make_location(code="PAR01", latitude=48.87, longitude=2.33, daily_capacity=1000)
    lyon = make_location(code="LYO01", latitude=45.76, longitude=4.84, daily_capacity=1000)
    milan = make_location(code="MIL01", latitude=45.46, longitude=9.19)
    shirt, cap, scarf = find_product("TSH-001-M"), make_product(sku="CAP-001"), make_product(sku="SCF-001")
    stocked(paris, shirt, 1000)
    stocked(lyon, cap, 1000)
    box = {"name": "Box M", "length_mm": 300, "width_mm": 200, "height_mm": 150, "tare_grams": 250}
    packing.add_package_type(paris, box, actor=ACTOR)
    carriers.ensure_builtin_carriers()
    db.session.commit()
    return {"paris": paris, "lyon": lyon, "milan": milan, "products": (shirt, cap, scarf)}


def _full_orders(shelves, count):
    """Orders with everything the list shows: three lines (one no store could take, so a decision says so), a
    fulfilment at PAR01 packed into a labelled parcel, one at LYO01 going to MIL01 for pickup."""
    from datetime import UTC, datetime

    from app.core.floor import packing
    from app.core.ordering import orders, sourcing
    from tests.factories import ship_draft

    shirt, cap, scarf = shelves["products"]
    for _ in range(count):
        draft = ship_draft((shirt, 1), (cap, 1), (scarf, 1))
        draft.ship_to.update(latitude=48.86, longitude=2.33)
        order = orders.create_order(draft, actor=ACTOR)[0]
        sourcing.source_order(order, actor=ACTOR)
        placed = db.session.scalars(select(Fulfilment).where(Fulfilment.order_id == order.id)).all()
        by_code = {f.location.code: f for f in placed}
        assert set(by_code) == {"PAR01", "LYO01"}
        by_code["LYO01"].transfer_to = shelves["milan"]
        packed = by_code["PAR01"]
        for status in ("accepted", "picking", "picked"):
            orders.transition(packed, status, actor=ACTOR)
        packing.start_packing(packed, actor=ACTOR)
        [parcel] = packed.parcels
        packing.set_parcel(
            parcel, package_type=packing.package_types(shelves["paris"])[0], weight_grams=900, actor=ACTOR
        )
        packing.finish_packing(packed, actor=ACTOR, now=datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    db.session.commit()


def _page_statements(api, **query):
    with sql_statements() as seen:
        response = api("GET", "/api/v1/orders", token=api.read_token, query_string={"limit": 50, **query})
    assert response.status_code == 200
    return response.json, len(seen)


def test_a_page_of_orders_is_a_few_statements_whatever_its_size(api, shelves):
    _full_orders(shelves, 10)
    small, few = _page_statements(api)
    assert len(small["items"]) == 10
    _full_orders(shelves, 50)
    full, many = _page_statements(api)
    assert len(full["items"]) == 50 and full["next_cursor"] is not None
    assert many == few, f"10 orders took {few} statements, 50 took {many}"
    assert many <= 12  # the token, then orders, lines, fulfilments, their lines, parcels, labels, decisions
    shown = full["items"][-1]
    assert [f["location"] for f in shown["fulfilments"]] == ["PAR01", "LYO01"]
    assert shown["fulfilments"][1]["transfer_to"] == "MIL01"
    assert shown["fulfilments"][0]["parcels"][0]["carrier"] == "Comptoir Express"
    assert shown["unfulfilled"] == {"3": 1}
    # Each listed order reads exactly as the order on its own does.
    for listed in (full["items"][0], shown):
        alone = api("GET", f"/api/v1/orders/{listed['id']}", token=api.read_token).json
        assert listed == alone
    for query in ({"location": "PAR01"}, {"status": "open"}, {"location": "LYO01", "status": "open"}):
        filtered, statements = _page_statements(api, **query)
        assert len(filtered["items"]) == 50
        assert statements == many + ("location" in query), query  # + the location's id


def test_one_order_is_read_in_a_few_statements(api, shelves):
    _full_orders(shelves, 1)
    order_id = db.session.scalar(select(Order.id))
    with sql_statements() as seen:
        response = api("GET", f"/api/v1/orders/{order_id}", token=api.read_token)
    assert response.status_code == 200
    assert len(seen) <= 16
