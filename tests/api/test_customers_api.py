"""Customers' personal data through the API (export, erasure) and logs without personal data or tokens."""

import copy
import logging

import pytest
from sqlalchemy import func, select, text

from app.core.integration import mail, sms, worker
from app.core.integration.api_clients import create_api_client
from app.core.models import AuditEvent, IdempotencyRecord, Order
from app.core.ordering import orders
from app.extensions import db
from tests.api.test_orders_api import BODY
from tests.conftest import login
from tests.core.test_mail import smtp  # noqa: F401 - the fixture
from tests.core.test_privacy import database_text
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, stocked

NAME, EMAIL, PHONE, STREET = "Léa Ferrandini", "lea.ferrandini@example.fr", "+33 6 12 98 76 54", "41 rue des Lilas"
GIFT = "Joyeux anniversaire Léa !"
EXPORT, ERASE = "/api/v1/customers/export", "/api/v1/customers/erase"


def _body(ref="W-PRIV-1", name=NAME, email=EMAIL, phone=PHONE, street=STREET):
    body = copy.deepcopy(BODY)
    body["external_ref"] = ref
    body["customer"].update(name=name, email=email, phone=phone)
    body["delivery"]["address"]["line1"] = street
    return body


@pytest.fixture
def api(app, client):
    store = make_location(code="PAR01", latitude=48.87, longitude=2.33)
    stocked(store, make_product(sku="TSH-001-M", gtin="4006381333931"), 50)
    _, shop = create_api_client("webshop", ["orders:read", "orders:write", "fulfilments:write"], actor=ACTOR)
    _, privacy = create_api_client("dpo", ["customers:read", "customers:write"], actor=ACTOR)
    _, reader = create_api_client("bi", ["orders:read", "customers:read"], actor=ACTOR)
    db.session.commit()

    def call(method, path, token=privacy, key=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        return client.open(path, method=method, headers=headers, **kwargs)

    call.shop, call.privacy, call.reader = shop, privacy, reader
    return call


def _closed_order(api, **customer) -> int:
    """An order captured through the API, its gift message set, accepted through the API (whose stored answer
    holds the gift message), then cancelled."""
    created = api("POST", "/api/v1/orders", token=api.shop, json=_body(**customer))
    assert created.status_code == 201, created.json
    order = db.session.get(Order, created.json["id"])
    order.gift_message = GIFT if not customer else "Auguri"
    db.session.commit()
    fulfilment_id = created.json["fulfilments"][0]["id"]
    accepted = api("POST", f"/api/v1/fulfilments/{fulfilment_id}/accept", token=api.shop, key=f"acc-{order.id}")
    assert accepted.status_code == 200, accepted.json
    order = db.session.get(Order, created.json["id"])
    orders.cancel_order(order, reason="customer asked", actor=ACTOR)
    db.session.commit()
    return order.id


def test_a_customer_is_exported_then_erased_once_through_the_api(api):
    ours = _closed_order(api)
    other = _closed_order(
        api,
        ref="W-PRIV-2",
        name="Marc Dupontel",
        email="marc@example.fr",
        phone="+33 7 00 11 22 33",
        street="2 quai Vert",
    )
    # No answer stored today names a customer; one that would (a future endpoint, an integration's answer) is
    # scrubbed too, its non-ASCII text whether stored escaped or not.
    client_id = db.session.scalar(select(IdempotencyRecord.client_id).limit(1))
    db.session.add(
        IdempotencyRecord(
            client_id=client_id,
            key="named",
            fingerprint="f" * 64,
            status_code=200,
            response={"order_id": ours, "customer": {"name": NAME, "email": EMAIL}, "gift": GIFT, "sku": "TSH-001-M"},
        )
    )
    db.session.commit()
    exported = api("POST", EXPORT, json={"email": EMAIL.upper()})
    assert exported.status_code == 200, exported.json
    assert [o["id"] for o in exported.json["orders"]] == [ours]
    assert exported.json["orders"][0]["customer"]["name"] == NAME

    body = {"email": EMAIL, "reason": "Asked by e-mail on 1 December"}
    erased = api("POST", ERASE, key="erase-1", json=body)
    assert erased.status_code == 200, erased.json
    assert erased.json["orders"] == 1 and erased.json["order_ids"] == [ours] and erased.json["api_answers"] >= 1
    assert EMAIL not in str(erased.json)
    stored = db.session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "erase-1"))
    assert EMAIL not in str(stored.response) and stored.response == erased.json
    named = db.session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "named"))
    assert named.response == {
        "order_id": ours,
        "customer": {"name": "[erased]", "email": "[erased]"},
        "gift": "[erased]",
        "sku": "TSH-001-M",
    }

    replayed = api("POST", ERASE, key="erase-1", json=body)
    assert replayed.status_code == 200 and replayed.json == erased.json
    assert replayed.headers["Idempotent-Replayed"] == "true"
    conflict = api("POST", ERASE, key="erase-1", json={**body, "reason": "other"})
    assert conflict.status_code == 409 and conflict.json["error"] == "idempotency_conflict"
    again = api("POST", ERASE, key="erase-2", json=body)
    assert again.status_code == 200 and again.json["orders"] == 0
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "order.personal_data_erased")) == 1

    everything = database_text()
    assert [s for s in (NAME, EMAIL, "33612987654", STREET, GIFT) if s in everything] == []
    assert "Marc Dupontel" in everything and "marc@example.fr" in everything
    assert db.session.get(Order, other).personal_data_erased_at is None
    assert db.session.get(Order, ours).customer_name == f"erased-{ours}"
    read = api("GET", f"/api/v1/orders/{ours}", token=api.shop)  # an erased order still reads, figures and all
    assert read.status_code == 200 and read.json["status"] == "cancelled" and read.json["lines"]
    assert api("POST", EXPORT, json={"email": EMAIL}).json["orders"] == []  # nothing is held under it any more


def test_scopes_bad_input_and_open_orders_are_refused_and_change_nothing(api):
    assert api("POST", EXPORT, token="cpt_wrong", json={"email": EMAIL}).status_code == 401
    assert api("POST", EXPORT, token=api.shop, json={"email": EMAIL}).status_code == 403
    refused = api("POST", ERASE, token=api.reader, key="k1", json={"email": EMAIL, "reason": "asked"})
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"
    for bad in ({"email": "not-an-email"}, {"email": ""}, {"email": "a@b"}, {}, {"email": 12}):
        response = api("POST", EXPORT, json=bad)
        assert response.status_code == 422 and "email" in response.json["fields"], (bad, response.json)
    for bad in ({"email": "x@y", "reason": "asked"}, {"email": EMAIL}, {"email": EMAIL, "reason": "   "}):
        response = api("POST", ERASE, key=f"bad-{len(str(bad))}", json=bad)
        assert response.status_code == 422 and response.json["fields"], (bad, response.json)
    assert api("POST", ERASE, json={"email": EMAIL, "reason": "asked"}).status_code == 422  # no Idempotency-Key

    created = api("POST", "/api/v1/orders", token=api.shop, json=_body())
    assert created.status_code == 201
    still_open = api("POST", ERASE, key="open-1", json={"email": EMAIL, "reason": "asked"})
    assert still_open.status_code == 409 and still_open.json["error"] == "open_orders"
    assert created.json["external_ref"] in still_open.json["message"]
    assert db.session.get(Order, created.json["id"]).customer_name == NAME
    assert (
        db.session.scalar(select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.key == "open-1"))
        == 0
    )


def test_the_retention_period_is_read_and_set_through_the_settings_api(api, client):
    _, token = create_api_client("erp", ["settings:read", "settings:write"], actor=ACTOR)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/settings/retailer", headers=headers).json["personal_data_retention_days"] == 1095
    for bad in (29, 3651, "365", None):
        response = client.patch(
            "/api/v1/settings/retailer", json={"personal_data_retention_days": bad}, headers=headers
        )
        assert response.status_code == 422 and "personal_data_retention_days" in response.json["fields"]
    changed = client.patch("/api/v1/settings/retailer", json={"personal_data_retention_days": 730}, headers=headers)
    assert changed.status_code == 200 and changed.json["personal_data_retention_days"] == 730


def test_logs_never_hold_personal_data_or_tokens(api, app, client, caplog, smtp):  # noqa: F811
    controller, inbox = smtp
    caplog.set_level(logging.DEBUG)
    person = make_user(email="claire.staff@example.test", name="Claire Vendeuse")
    db.session.commit()
    assert login(client, person.email, PASSWORD).status_code == 302
    created = api("POST", "/api/v1/orders", token=api.shop, json=_body())  # an order captured with a token
    assert created.status_code == 201
    assert api("GET", f"/api/v1/orders/{created.json['id']}", token=api.shop).status_code == 200
    assert api("POST", EXPORT, json={"email": EMAIL}).status_code == 200
    app.config.update(SMTP_HOST=controller.hostname, SMTP_PORT=controller.port)
    try:
        assert mail.send_pending() >= 1  # the order's confirmation, over SMTP
    finally:
        app.config.update(SMTP_HOST=None)
    assert inbox.messages
    sms.LogSender().send("".join(PHONE.split()), f"Bonjour {NAME}, code 123456")
    errors: list = []
    # A database error while a job writes customer data: its text names the statement, never the values.
    worker._job(
        "failing",
        lambda: db.session.execute(
            text("INSERT INTO customer_order (id, customer_name) VALUES (:id, :name)"), {"id": "x", "name": NAME}
        ),
        errors,
    )
    assert errors == ["failing"]
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args}"
        for r in caplog.records
        if not r.name.startswith("mail.log")  # the test's SMTP server's own log
    )
    assert "failing" in logged  # the log was captured
    leaked = [
        s
        for s in (NAME, EMAIL, PHONE, "612987654", STREET, person.email, api.shop, api.privacy, PASSWORD)
        if s in logged
    ]
    assert leaked == []
