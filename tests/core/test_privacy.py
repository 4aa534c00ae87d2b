"""Customers' personal data: erasure keeps every figure and leaves no personal string, the retention job, export."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core import payments, privacy, returns
from app.core.errors import InvalidInput
from app.core.floor import dispatch
from app.core.integration.api_clients import create_api_client
from app.core.models import (
    AssociateDay,
    AuditEvent,
    IdempotencyRecord,
    LocationDay,
    Order,
    OrderLine,
    OutboundEmail,
    OutboxEvent,
    PaymentTransaction,
    StockLevel,
    StockMovement,
)
from app.core.models.base import utcnow
from app.core.ordering import orders, sourcing
from app.core.service import actions
from app.extensions import db
from tests.core.test_packing import MONDAY, finished
from tests.factories import ACTOR, collect_draft, make_location, make_product, ship_draft, stocked

NAME, EMAIL, PHONE = "Ottavia Brambillini", "Ottavia.B@example.it", "+39 347 555 0192"
STREET, NEW_STREET, GIFT = "17 via dei Glicini", "9 corso Magentino", "Per la mia cara zia Ottavia"
ARRIVAL, ID_DIGITS = "Ottavia in the red Fiat, space 4", "X7Q9Z2"
PERSONAL = (
    NAME,
    EMAIL.lower(),
    EMAIL,
    PHONE,
    "3475550192",
    STREET,
    NEW_STREET,
    GIFT,
    "Brambillini",
    ARRIVAL,
    ID_DIGITS,
)


def _customer_order(store, products, *, name=NAME, email=EMAIL, phone=PHONE, street=STREET, gift=GIFT):
    """A customer's order sourced, address changed by customer service, noted, packed with a label, shipped,
    captured, then partly returned."""
    draft = ship_draft(*[(p, 1) for p in products])
    draft.customer_name, draft.customer_email, draft.customer_phone = name, email, phone
    draft.ship_to = {"line1": street, "postcode": "20144", "city": "Milano", "country": "IT"}
    draft.gift_message = gift
    draft.payment_reference, draft.payment_provider = "pay-ok", "test"
    order, _ = orders.create_order(draft, actor=ACTOR)
    for line in order.lines:
        line.unit_price = Decimal("20.00")
    order.payment_amount = Decimal("20.00") * len(order.lines)
    payments.record_authorisation(order, actor=ACTOR)
    sourcing.source_order(order, actor=ACTOR, now=MONDAY)
    if street == STREET:
        address = {"line1": NEW_STREET, "line2": "", "postcode": "20145", "city": "Milano", "country": "IT"}
        actions.change_address(order, address, f"{name} moved, call {phone}", actor=ACTOR)
    actions.add_note(order, f"{name} asked about the gift message", actor=ACTOR)
    fulfilment = order.fulfilments[0]
    for status in ("accepted", "picking", "picked"):
        orders.transition(fulfilment, status, actor=ACTOR)
    from app.core.floor import packing

    if not packing.package_types(store):
        packing.add_package_type(
            store,
            {"name": "Box M", "length_mm": 300, "width_mm": 200, "height_mm": 150, "tare_grams": 250},
            actor=ACTOR,
        )
    from app.core.floor import carriers

    carriers.ensure_builtin_carriers()
    finished(fulfilment)
    for parcel in fulfilment.parcels:
        dispatch.hand_over(store, parcel.label.tracking_number, f"hand-{parcel.id:06d}", actor=ACTOR, now=MONDAY)
    db.session.commit()
    payments.run_committed()
    order = db.session.merge(order)
    first = order.lines[0]
    returns.create_return(
        order,
        store,
        [{"sku": first.product.sku, "quantity": 1, "reason": "too_small", "condition": "resellable"}],
        actor=ACTOR,
        now=MONDAY + timedelta(days=2),
    )
    db.session.commit()
    payments.run_committed()
    return db.session.merge(order)


def _collected_order(store, product):
    """The same customer's click & collect order: staged, the customer's arrival note, handed over on an ID check."""
    from app.core.floor import pickups

    draft = collect_draft(store, (product, 1))
    draft.customer_name, draft.customer_email, draft.customer_phone = NAME, EMAIL, PHONE
    order, _ = orders.create_order(draft, actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {line: line.quantity for line in order.lines}, actor=ACTOR)
    for status in ("accepted", "picking", "picked"):
        orders.transition(fulfilment, status, actor=ACTOR)
    slot = pickups.add_slots(store, ["Z-09"], actor=ACTOR)[0]
    pickup = pickups.stage(fulfilment, slot, actor=ACTOR)
    pickups.customer_arrived(pickup, note=ARRIVAL)
    check = {"kind": "id_card", "last_digits": ID_DIGITS, "reason": f"{NAME} lost the e-mail"}
    pickups.collect(fulfilment, actor=ACTOR, id_check=check, bags_scanned=[pickups.bag_barcode(fulfilment.id, 1)])
    assert order.status == "completed"
    db.session.commit()
    payments.run_committed()
    return db.session.merge(order)


def _figures() -> dict:
    """Every count and sum erasure must leave as it was."""
    scalar = db.session.scalar
    return {
        "orders": scalar(select(func.count(Order.id))),
        "order_statuses": sorted(db.session.execute(select(Order.id, Order.status, Order.payment_amount)).all()),
        "lines": sorted(db.session.execute(select(OrderLine.id, OrderLine.quantity, OrderLine.unit_price)).all()),
        "ledger": sorted(
            db.session.execute(
                select(StockMovement.id, StockMovement.kind, StockMovement.on_hand_delta, StockMovement.reference)
            ).all()
        ),
        "levels": sorted(db.session.execute(select(StockLevel.id, StockLevel.on_hand, StockLevel.reserved)).all()),
        "payments": sorted(
            db.session.execute(
                select(
                    PaymentTransaction.id, PaymentTransaction.kind, PaymentTransaction.amount, PaymentTransaction.status
                )
            ).all()
        ),
        "payment_sum": scalar(select(func.sum(PaymentTransaction.amount))),
        "location_days": sorted(str(row) for row in db.session.execute(select(LocationDay.__table__)).all()),
        "location_day_count": scalar(select(func.count()).select_from(LocationDay.__table__)),
        "associate_days": sorted(str(row) for row in db.session.execute(select(AssociateDay.__table__)).all()),
        "events": scalar(select(func.count(OutboxEvent.id))),
        "emails": scalar(select(func.count(OutboundEmail.id))),
    }


def database_text() -> str:
    """Every value of every column of every table, as text (the whole database, for a search)."""
    parts = []
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    elif isinstance(value, dict | list):
                        value = json.dumps(value, ensure_ascii=False)
                    parts.append(str(value))
    return "\n".join(parts)


@pytest.fixture
def two_customers(app):
    from app.core import reports

    store = make_location(code="MIL01", latitude=Decimal("45.46"), longitude=Decimal("9.19"), country="IT")
    products = [make_product(weight_grams=400), make_product(weight_grams=500)]
    for product in products:
        stocked(store, product, 10)
    db.session.commit()
    ours = _customer_order(store, products)
    other = _customer_order(
        store,
        products,
        name="Bruno Ferraretto",
        email="bruno.f@example.it",
        phone="+39 333 111 2299",
        street="4 piazza Cordusio",
        gift="Auguri Bruno",
    )
    collected = _collected_order(store, products[0])
    reports.refresh(now=MONDAY + timedelta(days=2))
    reports.refresh()
    db.session.commit()
    return ours, other, collected


def test_erasure_keeps_every_total_and_ledger_row_and_leaves_no_personal_string(two_customers):
    ours, other, collected = two_customers
    text = database_text()
    assert all(personal in text for personal in PERSONAL)  # the search below can find them
    before = _figures()
    assert before["ledger"] and before["payments"] and before["location_day_count"]

    summary = privacy.erase(EMAIL.upper(), actor=ACTOR, reason=f"{NAME} asked by e-mail")
    db.session.commit()

    assert summary["orders"] == 2 and summary["order_ids"] == [ours.id, collected.id] and summary["emails"] >= 3
    assert _figures() == before
    text = database_text()
    left = [personal for personal in PERSONAL if personal in text]
    assert left == []
    # the other customer is untouched
    assert all(s in text for s in ("Bruno Ferraretto", "bruno.f@example.it", "4 piazza Cordusio", "Auguri Bruno"))
    assert db.session.get(Order, other.id).personal_data_erased_at is None
    order = db.session.get(Order, ours.id)
    assert (order.customer_name, order.customer_email, order.ship_line1, order.ship_country) == (
        f"erased-{order.id}",
        "",
        "",
        "IT",
    )
    assert order.personal_data_erased_at is not None and order.ship_latitude is None
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "order.personal_data_erased")).all()
    assert [a.subject_id for a in audits] == [str(ours.id), str(collected.id)]
    audit = audits[0]
    assert audit.after["email_sha256"] == privacy.email_hash(EMAIL) and "[erased] asked" in audit.after["reason"]

    again = privacy.erase(EMAIL, actor=ACTOR, reason="again")
    db.session.commit()
    assert again["orders"] == 0 and _figures() == before


def test_an_open_order_is_not_erased_and_nothing_changes(app):
    store = make_location()
    product = make_product()
    stocked(store, product, 3)
    draft = ship_draft((product, 1))
    order, _ = orders.create_order(draft, actor=ACTOR)
    db.session.commit()
    with pytest.raises(privacy.OpenOrders) as refused:
        privacy.erase("lea@example.fr", actor=ACTOR, reason="asked")
    assert order.reference in str(refused.value)
    db.session.rollback()
    assert db.session.get(Order, order.id).customer_email == "lea@example.fr"
    for bad in ("", "not-an-email", "a@b", None, 12):
        with pytest.raises(InvalidInput):
            privacy.export(bad)
    with pytest.raises(InvalidInput):
        privacy.erase("lea@example.fr", actor=ACTOR, reason="  ")


def test_the_export_holds_every_order_and_what_we_know(two_customers):
    ours, _, collected = two_customers
    data = privacy.export(EMAIL)
    json.dumps(data)  # serialisable as it is
    assert [o["id"] for o in data["orders"]] == [ours.id, collected.id]
    assert data["orders"][1]["pickups"][0]["arrival_note"] == ARRIVAL
    exported = data["orders"][0]
    assert exported["customer"]["name"] == NAME and exported["delivery"]["line1"] == NEW_STREET
    assert exported["gift"]["message"] == GIFT and exported["lines"] and exported["payments"] and exported["returns"]
    assert exported["emails"] and any(NAME in n["details"].get("note", "") for n in exported["customer_service"])
    assert privacy.export("nobody@example.com")["orders"] == []


def test_the_retention_job_erases_only_closed_orders_past_the_period(two_customers):
    from app.core.payments import retailer_settings

    ours, other, collected = two_customers
    store = ours.fulfilments[0].location
    product = make_product()
    stocked(store, product, 2)
    draft = ship_draft((product, 1))
    draft.customer_name = "Still Open Customer"
    still_open, _ = orders.create_order(draft, actor=ACTOR)
    retailer_settings.update_settings({"personal_data_retention_days": 30}, actor=ACTOR)
    db.session.commit()
    db.session.execute(Order.__table__.update().values(updated_at=utcnow() - timedelta(days=40)))
    db.session.execute(
        Order.__table__.update().where(Order.id == other.id).values(updated_at=utcnow() - timedelta(days=20))
    )
    client, _ = create_api_client("shop", ["orders:write"], actor=ACTOR)
    for key, age in (("old", 31), ("recent", 29)):
        db.session.add(
            IdempotencyRecord(
                client_id=client.id,
                key=key,
                fingerprint="f" * 64,
                status_code=200,
                response={"id": 1},
                created_at=utcnow() - timedelta(days=age),
            )
        )
    db.session.commit()
    before = _figures()

    assert privacy.erase_expired() == 2  # ours and the collected one
    assert privacy.erase_expired() == 0
    db.session.expire_all()
    assert db.session.get(Order, ours.id).customer_name == f"erased-{ours.id}"
    assert db.session.get(Order, collected.id).customer_name == f"erased-{collected.id}"
    assert db.session.get(Order, other.id).customer_name == "Bruno Ferraretto"  # closed 20 days ago: kept
    assert db.session.get(Order, still_open.id).customer_name == "Still Open Customer"  # open: kept
    assert _figures() == before
    assert NAME not in database_text()
    # stored API answers live at most the retention period
    assert db.session.scalars(select(IdempotencyRecord.key)).all() == ["recent"]
    assert privacy.erase_expired(now=utcnow() + timedelta(days=11)) == 1  # now the other one too


def test_the_retention_period_is_validated(app):
    from app.core.payments import retailer_settings

    for bad in (29, 3651, "ten", True, None):
        with pytest.raises(InvalidInput):
            retailer_settings.update_settings({"personal_data_retention_days": bad}, actor=ACTOR)
    db.session.rollback()
    assert retailer_settings.settings_as_dict(payments.settings())["personal_data_retention_days"] == 1095
    retailer_settings.update_settings({"personal_data_retention_days": "730"}, actor=ACTOR)
    db.session.commit()
    assert payments.settings().personal_data_retention_days == 730


def test_the_cli_exports_and_erases(two_customers, app):
    ours, _, _ = two_customers
    runner = app.test_cli_runner()
    exported = runner.invoke(args=["customers", "export", EMAIL])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["orders"][0]["id"] == ours.id
    refused = runner.invoke(args=["customers", "export", "nope"])
    assert refused.exit_code != 0 and "valid e-mail" in refused.output
    asked = runner.invoke(args=["customers", "erase", EMAIL], input="n\n")
    assert asked.exit_code != 0
    db.session.expire_all()
    assert db.session.get(Order, ours.id).customer_name == NAME
    erased = runner.invoke(args=["customers", "erase", EMAIL, "--yes"])
    assert erased.exit_code == 0 and "2 order(s) erased" in erased.output, erased.output
    assert EMAIL.lower() not in erased.output
    db.session.expire_all()
    assert db.session.get(Order, ours.id).customer_name == f"erased-{ours.id}"
    expired = runner.invoke(args=["customers", "erase-expired"])
    assert expired.exit_code == 0 and "0 order(s) erased" in expired.output


def test_the_worker_erases_what_is_due_at_most_every_ten_minutes_a_process(two_customers, monkeypatch):
    from app.core.integration import worker

    ours, other, collected = two_customers
    db.session.execute(Order.__table__.update().values(updated_at=utcnow() - timedelta(days=1096)))
    db.session.commit()
    monkeypatch.setitem(privacy._last_run, "at", None)
    assert worker.run_once()["anonymised"] == 3
    long_ago = utcnow() - timedelta(days=1096)
    db.session.execute(Order.__table__.update().values(personal_data_erased_at=None, updated_at=long_ago))
    db.session.commit()
    assert worker.run_once()["anonymised"] == 0  # due again, but this process ran the job a moment ago
    monkeypatch.setattr(privacy, "RETENTION_INTERVAL_SECONDS", 0)
    assert worker.run_once()["anonymised"] == 3
    assert {db.session.get(Order, o.id).customer_name for o in (ours, other, collected)} == {
        f"erased-{o.id}" for o in (ours, other, collected)
    }
