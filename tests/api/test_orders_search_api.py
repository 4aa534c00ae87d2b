"""GET /api/v1/orders?q= (the customer service search) and ?needs_customer_service=, with the other filters."""

import copy

import pytest
from sqlalchemy import update

from app.core.integration.api_clients import create_api_client
from app.core.models import Order
from app.extensions import db
from tests.api.test_orders_api import BODY
from tests.factories import ACTOR, make_location, make_product, stocked


@pytest.fixture
def api(app, client):
    product = make_product(sku="TSH-001-M", gtin="4006381333931")
    stocked(make_location(code="PAR01"), product, 20)
    _, write_token = create_api_client("webshop", ["orders:read", "orders:write"], actor=ACTOR)
    _, read_token = create_api_client("service-desk", ["orders:read"], actor=ACTOR)
    _, stock_token = create_api_client("stock-only", ["stock:read"], actor=ACTOR)
    db.session.commit()

    def call(method, path, token=read_token, **kwargs):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    call.write_token, call.stock_token = write_token, stock_token
    return call


def _create(api, ref, name, email, phone=""):
    body = copy.deepcopy(BODY)
    body["external_ref"] = ref
    body["customer"].update(name=name, email=email, phone=phone)
    response = api("POST", "/api/v1/orders", token=api.write_token, json=body)
    assert response.status_code == 201, response.json
    return response.json["id"]


def _ids(api, **query):
    response = api("GET", "/api/v1/orders", query_string=query)
    assert response.status_code == 200, response.json
    return [o["id"] for o in response.json["items"]], response.json["next_cursor"]


def test_q_finds_orders_by_accent_free_name_partial_phone_e_mail_and_number(api):
    lea = _create(api, "W-1", "Léa Rossí", "lea.rossi@example.fr", "+33 6 12 34 56 78")
    marco = _create(api, "W-2", "Marco Bianchi", "marco@example.it", "+39 345 678 9012")
    assert _ids(api, q="lea rossi") == ([lea], None)
    assert _ids(api, q="ROSSI") == ([lea], None)
    assert _ids(api, q="06 12 34 56") == ([lea], None)
    assert _ids(api, q="marco@example") == ([marco], None)
    assert _ids(api, q="WEB-W-2") == ([marco], None)
    assert _ids(api, q="example") == ([lea, marco], None)  # oldest first, as the list always is
    assert _ids(api, q="nobody here") == ([], None)
    assert _ids(api, q="ab") == ([], None)  # too short to search: nothing, not everything


def test_q_pages_with_the_cursor_and_combines_with_status(api):
    made = [_create(api, f"W-{n}", f"Giulia Verdi {n}", f"g{n}@example.it") for n in range(5)]
    first, cursor = _ids(api, q="verdi", limit=2)
    second, cursor = _ids(api, q="verdi", limit=2, cursor=cursor)
    third, cursor = _ids(api, q="verdi", limit=2, cursor=cursor)
    assert first + second + third == made and cursor is None
    db.session.execute(update(Order).where(Order.id == made[1]).values(status="cancelled"))
    db.session.commit()
    assert _ids(api, q="verdi", status="cancelled") == ([made[1]], None)
    assert _ids(api, q="verdi", location="PAR01")[0] == made


def test_needs_customer_service_filters_the_flagged_orders(api):
    plain = _create(api, "W-1", "Léa Rossí", "lea@example.fr")
    flagged = _create(api, "W-2", "Marco Bianchi", "marco@example.it")
    db.session.execute(update(Order).where(Order.id == flagged).values(needs_customer_service=True))
    db.session.commit()
    assert _ids(api, needs_customer_service="true") == ([flagged], None)
    assert _ids(api, needs_customer_service="false") == ([plain], None)
    assert _ids(api, needs_customer_service="true", q="rossi") == ([], None)
    assert _ids(api, needs_customer_service="true", location="PAR01") == ([flagged], None)
    assert api("GET", "/api/v1/orders", query_string={"needs_customer_service": "maybe"}).status_code == 422


def test_the_search_needs_the_orders_read_scope_and_a_sensible_q(api):
    _create(api, "W-1", "Léa Rossí", "lea@example.fr")
    refused = api("GET", "/api/v1/orders", token=api.stock_token, query_string={"q": "rossi"})
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"
    assert api("GET", "/api/v1/orders", token="nope", query_string={"q": "rossi"}).status_code == 401
    assert api("GET", "/api/v1/orders", query_string={"q": ""}).status_code == 422
    assert api("GET", "/api/v1/orders", query_string={"q": "x" * 121}).status_code == 422
