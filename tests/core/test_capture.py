"""capture_order: one path from a payload to a sourced order, for the API and the imports; and the core's boundary."""

import ast
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.core import batch
from app.core.errors import ConcurrentChange, InvalidInput
from app.core.integration import customer_messages, worker
from app.core.inventory import stock
from app.core.models import (
    AuditEvent,
    FulfilmentStatus,
    Order,
    OrderLine,
    OrderStatus,
    OutboundEmail,
    OutboxEvent,
    PaymentTransaction,
    Reservation,
    SourcingDecision,
    StockLevel,
    StockMovement,
    WebhookDelivery,
)
from app.core.ordering import capture, rules
from app.core.ordering.payloads import OrderInSchema
from app.core.payments import retailer_settings
from app.extensions import db
from tests.conftest import ENGINE
from tests.factories import ACTOR, make_location, make_product, random_ref, stocked

CORE = Path(__file__).resolve().parents[2] / "app" / "core"


def _payload(sku: str, quantity: int = 1, **extra) -> dict:
    body = {
        "channel": "web",
        "external_ref": random_ref("W-"),
        "customer": {"name": "Léa Martin", "email": "lea@example.fr", "language": "fr"},
        "delivery": {
            "method": "ship",
            "address": {"line1": "12 rue de la Paix", "postcode": "75002", "city": "Paris", "country": "FR"},
        },
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": "19.90"}],
        "payment": {"provider": "test", "reference": "pay-1", "amount": "24.80", "currency": "EUR"},
        "gift": {"wrap": True, "message": "  Bon anniversaire  "},
    }
    body.update(extra)
    return OrderInSchema().load(body)


def test_a_payload_becomes_a_sourced_order_with_every_field(app):
    store = make_location(code="CAP01", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    product = stocked(store, make_product(), 3)
    order, created = capture.capture_order(_payload(product.sku, 2), actor=ACTOR)
    db.session.commit()
    assert created is True
    assert order.customer_language == "fr"
    assert order.payment_amount == Decimal("24.80") and order.payment_reference == "pay-1"
    assert order.lines[0].unit_price == Decimal("19.90")
    assert order.gift_wrap is True and order.gift_message == "Bon anniversaire"
    assert [(f.location.code, f.status) for f in order.fulfilments] == [("CAP01", FulfilmentStatus.CREATED)]
    assert db.session.query(SourcingDecision).filter_by(order_id=order.id).count() == 1


def test_the_same_payload_again_returns_the_first_order_and_sources_nothing_more(app):
    store = make_location(code="CAP02")
    product = stocked(store, make_product(), 3)
    payload = _payload(product.sku)
    first, _ = capture.capture_order(payload, actor=ACTOR)
    db.session.commit()
    again, created = capture.capture_order(payload, actor=ACTOR)
    assert created is False and again.id == first.id
    assert db.session.query(Order).count() == 1
    assert db.session.query(SourcingDecision).filter_by(order_id=first.id).count() == 1


def test_an_unknown_product_is_refused_and_nothing_is_kept(app):
    with pytest.raises(InvalidInput) as refused:
        capture.capture_order(_payload("NO-SUCH-SKU"), actor=ACTOR)
    db.session.rollback()
    assert "lines.0.sku" in refused.value.fields
    assert db.session.query(Order).count() == 0


def test_a_captured_order_writes_every_row_in_order_with_its_webhook_deliveries(app):
    """Capture writes its audit, outbox, ledger, reservation, decision, payment and message rows together at the end
    (app.core.batch): each row once, in the order they happened, and each event a subscription wants delivered."""
    store = make_location(code="CAP03")
    product = stocked(store, make_product(), 3)
    subscription = worker.subscribe(
        "https://shop.example/hooks", "s" * 20, "order.created,fulfilment.created", actor=ACTOR
    )
    other = worker.subscribe("https://erp.example/hooks", "e" * 20, "fulfilment.created", actor=ACTOR)
    db.session.commit()
    order, created = capture.capture_order(_payload(product.sku, 2), actor=ACTOR)
    assert created and batch.pending() is None
    db.session.commit()
    fulfilment = order.fulfilments[0]

    def rows(model, *where):
        return db.session.scalars(select(model).where(*where).order_by(model.id)).all()

    audit = rows(AuditEvent, AuditEvent.subject_type.in_(["customer_order", "fulfilment"]))
    assert [(a.action, a.subject_id) for a in audit] == [
        ("order.create", str(order.id)),
        ("fulfilment.assign", str(fulfilment.id)),
        ("message.queued", str(order.id)),
    ]
    events = rows(OutboxEvent, OutboxEvent.order_id == order.id)
    assert [e.type for e in events] == ["order.created", "fulfilment.created"]
    assert events[1].payload["fulfilment_id"] == fulfilment.id and events[1].payload["location"] == "CAP03"
    deliveries = [(d.event_id, d.subscription_id) for d in rows(WebhookDelivery)]
    assert deliveries == [(events[0].id, subscription.id), (events[1].id, subscription.id), (events[1].id, other.id)]
    (reservation,) = rows(Reservation, Reservation.product_id == product.id)
    assert (reservation.fulfilment_line_id, reservation.quantity) == (fulfilment.lines[0].id, 2)
    movements = rows(StockMovement, StockMovement.product_id == product.id)
    assert [(m.kind, m.reserved_delta, m.on_hand_after) for m in movements] == [("receive", 0, 3), ("reserve", 2, 3)]
    assert movements[1].reference == f"{order.reference}/F{fulfilment.id}"
    (decision,) = rows(SourcingDecision, SourcingDecision.order_id == order.id)
    assert decision.plan == [{"location": "CAP03", "lines": {"1": 2}}] and decision.unfulfilled == {}
    (payment,) = rows(PaymentTransaction, PaymentTransaction.order_id == order.id)
    assert (payment.kind, payment.amount, payment.idempotency_key) == (
        "authorisation",
        Decimal("24.80"),
        f"auth-O{order.id}",
    )
    (email,) = rows(OutboundEmail, OutboundEmail.order_id == order.id)
    assert email.kind == "order_confirmed" and order.reference in email.body and email.to == "lea@example.fr"


@pytest.mark.skipif(ENGINE != "postgresql", reason="the one-statement write is PostgreSQL's (SQLite: per table)")
def test_on_postgresql_every_batched_row_of_a_capture_goes_out_in_one_statement(app):
    store = make_location(code="CAP05")
    product = stocked(store, make_product(), 3)
    worker.subscribe("https://shop.example/hooks", "s" * 20, "order.created,fulfilment.created", actor=ACTOR)
    db.session.commit()
    written = []
    listen = lambda conn, cursor, statement, *rest: written.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        capture.capture_order(_payload(product.sku, 2), actor=ACTOR)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    tables = ("audit_event", "outbox_event", "webhook_delivery", "stock_movement", "reservation", "sourcing_decision")
    tables += ("payment_transaction", "outbound_email")
    holding = [s for s in written if any(f"INSERT INTO {t} " in s for t in tables)]
    assert len(holding) == 1 and all(f"INSERT INTO {t} " in holding[0] for t in tables)


@pytest.mark.skipif(ENGINE != "postgresql", reason="the one-statement stock update is PostgreSQL's")
def test_on_postgresql_the_stock_rows_an_order_reserves_change_in_one_update(app):
    store = make_location(code="CAP08")
    shoe, sock = stocked(store, make_product(), 3), stocked(store, make_product(), 3)
    written = []
    listen = lambda conn, cursor, statement, *rest: written.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        lines = [{"sku": shoe.sku, "quantity": 2, "unit_price": "9.90"}, {"sku": sock.sku, "quantity": 1}]
        capture.capture_order(_payload(shoe.sku, lines=lines), actor=ACTOR)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    db.session.commit()
    assert len([s for s in written if s.lstrip().startswith("UPDATE stock_level")]) == 1
    levels = {lv.product_id: (lv.on_hand, lv.reserved) for lv in db.session.scalars(select(StockLevel))}
    assert levels == {shoe.id: (3, 2), sock.id: (3, 1)}
    movements = db.session.scalars(select(StockMovement).where(StockMovement.kind == "reserve")).all()
    assert sorted((m.product_id, m.reserved_delta, m.on_hand_after) for m in movements) == sorted(
        [(shoe.id, 2, 3), (sock.id, 1, 3)]
    )


@pytest.mark.skipif(ENGINE != "postgresql", reason="the one-statement stock update is PostgreSQL's")
def test_a_row_that_changed_unlocked_fails_the_update_together_and_nothing_is_written(app):
    store = make_location(code="CAP09")
    product = stocked(store, make_product(), 3)
    db.session.commit()
    with pytest.raises(ConcurrentChange):
        with stock.updates_together():
            level = stock.level_for_update(store, product)
            stock.adjust(store, product, -1, reason="till", actor=ACTOR)
            # the same row changed behind the figures computed on it (impossible under the row lock it holds)
            db.session.execute(update(StockLevel).where(StockLevel.id == level.id).values(on_hand=10))
    db.session.rollback()
    assert db.session.scalars(select(StockLevel.on_hand).where(StockLevel.product_id == product.id)).one() == 3


def test_rows_of_one_table_with_different_columns_are_written_in_order(app):
    """A table whose rows name different columns (a default left to one of them) takes the per-table path, on every
    engine: the rows still go out once each, in order, with their values and defaults, JSON and decimals intact."""
    when = datetime(2026, 11, 30, 22, 15, tzinfo=UTC)
    with batch.rows_written_together() as rows:
        rows.add(AuditEvent, {"actor": "a", "action": "x.one", "subject_type": "t", "subject_id": "1", "after": {}})
        rows.add(
            AuditEvent,
            {
                "actor": "a",
                "action": "x.two",
                "subject_type": "t",
                "subject_id": "2",
                "after": {"€": [1, "é"]},
                "created_at": when,
            },
        )
    db.session.commit()
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("x.%")).order_by(AuditEvent.id)).all()
    assert [(a.action, a.after) for a in audit] == [("x.one", {}), ("x.two", {"€": [1, "é"]})]
    assert audit[1].created_at == when and audit[0].created_at > when


def test_batched_values_keep_their_types(app):
    """Text with quotes and backslashes, a column named like a keyword ("to"), JSON, datetimes in another zone and
    decimals come back as they went in, on the one-statement path too."""
    store = make_location(code="CAP06")
    product = stocked(store, make_product(), 3)
    order, _ = capture.capture_order(_payload(product.sku, 1), actor=ACTOR)
    db.session.commit()
    paris = datetime(2026, 12, 1, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    body = 'L\'ordine "42" \\ n\u00b0 1\n\ttab'
    with batch.rows_written_together() as rows:
        rows.add(
            OutboundEmail,
            {
                "order_id": order.id,
                "to": "o'neil@example.fr",
                "subject": "Été",
                "body": body,
                "kind": "custom",
                "html": "<p>é</p>",
                "qr": "",
                "created_at": paris,
            },
        )
        rows.add(
            PaymentTransaction,
            {
                "order_id": order.id,
                "kind": "refund",
                "amount": Decimal("12.35"),
                "currency": "EUR",
                "idempotency_key": f"t-{order.id}",
                "provider": "test",
                "status": "succeeded",
                "actor": "a",
            },
        )
    db.session.commit()
    email = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "custom")).one()
    assert (email.to, email.subject, email.body, email.status) == ("o'neil@example.fr", "Été", body, "pending")
    assert email.created_at == paris and email.created_at.utcoffset().total_seconds() == 0
    refund = db.session.scalars(select(PaymentTransaction).where(PaymentTransaction.kind == "refund")).one()
    assert refund.amount == Decimal("12.35")


def test_inserted_rows_come_back_as_persistent_objects_with_the_values_the_database_holds(app):
    """batch.inserted: one INSERT, every column read back (column defaults applied), objects persistent in the session
    whose attributes cost no further query, a conflicting row skipped; what it returns is what a fresh read gives."""
    ref = random_ref("I-")
    values = {
        "channel": "web",
        "external_ref": ref,
        "fingerprint": "f",
        "customer_name": "Zoé",
        "delivery_method": "ship",
    }
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        (order,) = batch.inserted(Order, [values], skip_conflicts_on=("channel", "external_ref"))
        lines = batch.inserted(
            OrderLine,
            [{"order_id": order.id, "line_no": n, "product_id": make_product().id, "quantity": n} for n in (1, 2)][
                ::-1
            ],
            flush=False,
        )
        statements.clear()
        seen = (order.status, order.currency, order.customer_language, order.gift_wrap, order.created_at is not None)
        assert seen == (OrderStatus.OPEN, "EUR", "en", False, True)
        assert [(line.line_no, line.quantity, line.cancelled) for line in lines] == [(2, 2, 0), (1, 1, 0)]
        assert statements == [], "every column was read back by the INSERT"
        assert order in db.session and not db.session.new and not db.session.dirty
        assert (
            batch.inserted(Order, [{**values, "fingerprint": "g"}], skip_conflicts_on=("channel", "external_ref")) == []
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    created = order.created_at
    order_id = order.id
    order.customer_name = "Zoé Durand"  # tracked as any loaded object: the change is written at the next flush
    db.session.commit()
    db.session.expunge_all()
    again = db.session.get(Order, order_id)
    assert (again.customer_name, again.fingerprint, again.created_at) == ("Zoé Durand", "f", created)
    assert sorted((line.line_no, line.quantity) for line in again.lines) == [(1, 1), (2, 2)]


def test_a_row_and_its_lines_are_inserted_together_and_come_back_typed_in_order(app):
    """batch.inserted_with_lines (one statement on PostgreSQL): the lines name the new row, come back in the order
    given with their defaults and decimals, nothing is read again when they are used; a conflicting row writes
    neither it nor its lines."""
    products = [make_product() for _ in range(3)]
    values = {
        "channel": "web",
        "external_ref": random_ref("L-"),
        "fingerprint": "f",
        "customer_name": "Zoé",
        "delivery_method": "ship",
        "promised_by": datetime(2026, 12, 3, 18, 0, tzinfo=ZoneInfo("Europe/Rome")),
        "payment_amount": Decimal("59.80"),
    }
    rows = [
        {"line_no": n, "product_id": p.id, "quantity": n, "unit_price": Decimal(f"{n}.05")}
        for n, p in reversed(list(enumerate(products, start=1)))
    ]
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        order, lines = batch.inserted_with_lines(
            Order, values, OrderLine, rows, parent_key="order_id", skip_conflicts_on=("channel", "external_ref")
        )
        if ENGINE == "postgresql":
            assert len(statements) == 1
        statements.clear()
        assert (order.status, order.payment_amount, order.promised_by) == (
            OrderStatus.OPEN,
            Decimal("59.80"),
            values["promised_by"],
        )
        assert order.promised_by.utcoffset().total_seconds() == 0
        got = [(line.order_id, line.line_no, line.quantity, line.unit_price, line.cancelled) for line in lines]
        assert got == [(order.id, n, n, Decimal(f"{n}.05"), 0) for n in (3, 2, 1)]
        assert [line.id for line in lines] == sorted(line.id for line in lines)
        assert statements == [] and not db.session.new and not db.session.dirty
        again = batch.inserted_with_lines(
            Order,
            {**values, "fingerprint": "g"},
            OrderLine,
            rows,
            parent_key="order_id",
            skip_conflicts_on=("channel", "external_ref"),
        )
        assert again == (None, [])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OrderLine).where(OrderLine.order_id == order.id)) == 3


def test_a_row_inserted_again_after_a_savepoint_undid_it_is_the_new_row(app):
    """An order written in a savepoint that rolls back stays in the session (expired); SQLite then gives its id to
    the next order: batch.inserted makes that object the new row, as a SELECT would, instead of failing."""
    base = {"channel": "web", "fingerprint": "f", "delivery_method": "ship"}
    nested = db.session.begin_nested()
    (undone,) = batch.inserted(Order, [{**base, "external_ref": random_ref("U-"), "customer_name": "Undone"}])
    nested.rollback()
    order, lines = batch.inserted_with_lines(
        Order,
        {**base, "external_ref": random_ref("U-"), "customer_name": "Kept"},
        OrderLine,
        [{"line_no": 1, "product_id": make_product().id, "quantity": 2}],
        parent_key="order_id",
    )
    assert (order.customer_name, [line.quantity for line in lines]) == ("Kept", [2])
    assert order.id != undone.id or order is undone  # SQLite: the same id again, the same object
    set_committed_value(order, "lines", lines)
    db.session.commit()
    assert db.session.get(Order, order.id).customer_name == "Kept"


@pytest.mark.skipif(ENGINE != "postgresql", reason="psycopg's statement conversion")
def test_on_postgresql_no_statement_of_a_capture_is_converted_again_for_each_order(app, monkeypatch):
    """Sourcing's first look is longer than psycopg's default 4,096 characters for a kept conversion: the app raises
    that limit (extensions.cache_long_statements), so that no statement of a capture is converted for each order."""
    from psycopg import _queries

    store = make_location(code="CAP08")
    products = [stocked(store, make_product(), 5) for _ in range(3)]
    capture.capture_order(_payload(products[0].sku), actor=ACTOR)
    db.session.commit()
    converted, long_ones = [], []
    original = _queries._query2pg_nocache

    def spy(query, *args):
        converted.append(query)
        return original(query, *args)

    def note(_conn, _cursor, statement, *_args):
        if len(statement) > 4096:
            long_ones.append(statement)

    monkeypatch.setattr(_queries, "_query2pg_nocache", spy)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        payload = _payload(products[0].sku)
        payload["lines"] = [{"sku": p.sku, "quantity": 1, "unit_price": Decimal("1.00")} for p in products]
        capture.capture_order(payload, actor=ACTOR)
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert long_ones, "a statement of the capture is longer than psycopg's default limit"
    assert _queries.MAX_CACHED_STATEMENT_LENGTH >= max(map(len, long_ones))
    assert converted == []


def test_a_capture_reads_its_configuration_in_one_statement_and_sees_each_change(app):
    """Rules, settings and webhook subscriptions come in one statement per order (app.core.configuration), and a
    change committed before the next order is what that order follows."""
    store = make_location(code="CAP07")
    product = stocked(store, make_product(), 10)
    worker.subscribe("https://shop.example/hooks", "s" * 20, "order.created", actor=ACTOR)
    retailer_settings.update_settings({"notifications_off": []}, actor=ACTOR)
    rules.current_rules()  # stored the first time they are needed
    db.session.commit()
    written = []
    listen = lambda conn, cursor, statement, *rest: written.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        first, _ = capture.capture_order(_payload(product.sku), actor=ACTOR)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    db.session.commit()
    reads = [s for s in written if s.lstrip().startswith("SELECT") and "sourcing_rules" in s]
    assert len(reads) == 1 and "retailer_settings" in reads[0] and "webhook_subscription" in reads[0]
    assert not [s for s in written if s.lstrip().startswith("SELECT") and "FROM retailer_settings" in s]
    assert db.session.query(WebhookDelivery).count() == 1
    assert db.session.query(OutboundEmail).filter_by(order_id=first.id).count() == 1

    worker.subscribe("https://erp.example/hooks", "e" * 20, "order.created", actor=ACTOR)
    retailer_settings.update_settings({"notifications_off": ["order_confirmed"]}, actor=ACTOR)
    db.session.commit()
    second, _ = capture.capture_order(_payload(product.sku), actor=ACTOR)
    db.session.commit()
    assert db.session.query(WebhookDelivery).count() == 3  # the new subscription hears of the next order
    assert db.session.query(OutboundEmail).filter_by(order_id=second.id).count() == 0  # turned off meanwhile


def test_a_capture_that_fails_midway_leaves_no_rows_waiting(app, monkeypatch):
    """What a failed capture had collected is dropped with it: the next write of the session does not carry it."""
    store = make_location(code="CAP04")
    product = stocked(store, make_product(), 3)
    db.session.commit()

    def broken(order):
        raise InvalidInput("broken on purpose")

    monkeypatch.setattr(customer_messages, "order_confirmed", broken)
    with pytest.raises(InvalidInput):
        capture.capture_order(_payload(product.sku), actor=ACTOR)
    assert batch.pending() is None
    db.session.rollback()
    assert db.session.scalar(select(Order.id).where(Order.channel == "web")) is None
    assert db.session.scalars(select(StockMovement.kind).where(StockMovement.product_id == product.id)).all() == [
        "receive"
    ]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_core_never_imports_the_web_or_the_api():
    """The core is called by the web, the API and the CLI; it never reaches back into them."""
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 20
    offending = {
        str(path.relative_to(CORE)): sorted(n for n in _imports(path) if n.startswith(("app.api", "app.web")))
        for path in files
    }
    assert {path: names for path, names in offending.items() if names} == {}
