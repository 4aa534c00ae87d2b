"""`flask orders import` and `flask stock import`: all or nothing, every rejected row named, never a traceback."""

import csv
import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.models import AuditEvent, Fulfilment, Order, OrderLine, OutboxEvent, StockLevel, StockMovement
from app.core.ordering import orders, sourcing
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked

COLUMNS = (
    "channel,external_ref,customer_name,customer_email,customer_phone,customer_language,method,pickup_location,"
    "line1,postcode,city,country,latitude,longitude,sku,quantity,unit_price,promised_by,currency"
).split(",")
PARIS_ADDRESS = {
    "line1": "12 rue de la Paix",
    "postcode": "75002",
    "city": "Paris",
    "country": "FR",
    "latitude": "48.8686",
    "longitude": "2.3314",
}
BODY = {
    "channel": "web",
    "external_ref": "W-2001",
    "customer": {"name": "Léa Martin", "email": "lea@example.fr", "language": "fr"},
    "delivery": {"method": "ship", "address": {**PARIS_ADDRESS, "latitude": 48.8686, "longitude": 2.3314}},
    "lines": [{"sku": "TSH-001-M", "quantity": 2, "unit_price": "29.90"}],
    "promised_by": "2026-12-01T18:00:00Z",
    "payment": {"provider": "test", "reference": "auth_1", "amount": "59.80", "currency": "EUR"},
}


@pytest.fixture
def shop(app):
    paris = make_location(code="PAR01", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    shirt, jeans = make_product(sku="TSH-001-M"), make_product(sku="JEAN-32")
    stocked(paris, shirt, 10)
    stocked(paris, jeans, 10)
    db.session.commit()
    return paris, shirt, jeans


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _line(ref: str, sku: str = "TSH-001-M", quantity="1", **cells) -> dict:
    row = {
        "channel": "web",
        "external_ref": ref,
        "customer_name": "Léa Martin",
        "customer_email": "lea@example.fr",
        "method": "ship",
        "sku": sku,
        "quantity": quantity,
        **PARIS_ADDRESS,
    }
    return row | cells


def _csv(tmp_path, rows, name="orders.csv", columns=COLUMNS, encoding="utf-8", delimiter=","):
    path = tmp_path / name
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _jsonl(tmp_path, lines, name="orders.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def _import(runner, *args):
    return runner.invoke(args=[*args[:2], *(str(a) for a in args[2:])])


def test_csv_orders_are_created_with_their_lines_and_sourced(runner, shop, tmp_path):
    _, shirt, _ = shop
    path = _csv(
        tmp_path,
        [
            _line("W-1", "TSH-001-M", "2", unit_price="29.90", promised_by="2026-12-01T18:00:00+01:00"),
            _line("W-2", "JEAN-32", "1"),
            _line("W-1", "JEAN-32", "3", unit_price="79.00", promised_by="2026-12-01T18:00:00+01:00"),
        ],
    )
    result = _import(runner, "orders", "import", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "3 rows read (2 orders), 2 imported, 0 already present, 0 rejected."
    assert "Importing orders" in result.stderr
    first = orders.find_order("web", "W-1")
    assert [(line.product.sku, line.quantity, line.unit_price) for line in first.lines] == [
        ("TSH-001-M", 2, Decimal("29.90")),
        ("JEAN-32", 3, Decimal("79.00")),
    ]
    assert first.customer_name == "Léa Martin" and first.ship_city == "Paris" and first.promised_by is not None
    assert (_count(Order), _count(OrderLine)) == (2, 3)
    for order in db.session.scalars(select(Order)):
        assert [f.location.code for f in order.fulfilments] == ["PAR01"]
    reserved = db.session.scalar(select(StockLevel.reserved).where(StockLevel.product_id == shirt.id))
    assert reserved == 2
    actors = set(db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "order.create")))
    assert actors == {"system:cli-import"}


def test_jsonl_lines_are_api_order_bodies(runner, shop, tmp_path):
    other = {**BODY, "external_ref": "W-2002", "delivery": {"method": "collect", "pickup_location": "PAR01"}}
    path = _jsonl(tmp_path, [BODY, "", other], name="orders.ndjson")
    result = _import(runner, "orders", "import", path)
    assert result.exit_code == 0, result.output
    assert "2 rows read, 2 imported, 0 already present, 0 rejected." in result.stdout
    order = orders.find_order("web", "W-2001")
    assert (order.payment_reference, order.payment_amount, order.currency) == ("auth_1", Decimal("59.80"), "EUR")
    assert orders.find_order("web", "W-2002").delivery_method == "collect"
    assert _count(Fulfilment) == 2


def test_importing_the_same_file_again_changes_nothing(runner, shop, tmp_path):
    path = _csv(tmp_path, [_line("W-1"), _line("W-1", "JEAN-32"), _line("W-2")])
    assert _import(runner, "orders", "import", path).exit_code == 0
    movements = _count(StockMovement)
    again = _import(runner, "orders", "import", path)
    assert again.exit_code == 0, again.output
    assert "3 rows read (2 orders), 0 imported, 2 already present, 0 rejected." in again.stdout
    assert (_count(Order), _count(OrderLine), _count(Fulfilment)) == (2, 3, 2)
    assert _count(StockMovement) == movements


def test_one_bad_row_and_nothing_is_imported(runner, shop, tmp_path):
    path = _csv(
        tmp_path,
        [
            _line("W-1"),
            _line("W-2", "NOPE-1"),
            _line("W-3", quantity="two"),
            _line("W-4", promised_by="tomorrow", country="France"),
        ],
    )
    movements = _count(StockMovement)
    result = _import(runner, "orders", "import", path)
    assert result.exit_code == 1
    out = result.stdout
    assert "4 rows read, 0 (1 valid) imported, 0 already present, 3 rejected: nothing was written." in out
    assert "row 3: sku: Unknown product code." in out
    assert "row 4: quantity: Not a valid integer." in out
    assert "row 5: promised_by: Not a valid datetime." in out
    assert "row 5: country: String does not match expected pattern." in out
    assert "--skip-invalid" in result.stderr
    assert "Traceback" not in result.output
    assert (_count(Order), _count(OrderLine), _count(OutboxEvent)) == (0, 0, 0)
    assert _count(StockMovement) == movements


def test_skip_invalid_imports_the_valid_orders_each_with_all_of_its_lines_or_none(runner, shop, tmp_path):
    path = _csv(
        tmp_path,
        [_line("W-1"), _line("W-2"), _line("W-2", "JEAN-32", quantity="0"), _line("W-3", "NOPE-1")],
    )
    result = _import(runner, "orders", "import", "--skip-invalid", path)
    assert result.exit_code == 1  # rows were rejected, even though the valid orders are in
    assert "4 rows read (3 orders), 1 imported, 0 already present, 2 rejected." in result.stdout
    assert "row 4: quantity: Must be greater than or equal to 1 and less than or equal to 10000." in result.stdout
    assert "rows 3, 4: order web/W-2 is rejected as a whole." in result.stdout
    assert "row 5: sku: Unknown product code." in result.stdout
    assert [o.external_ref for o in db.session.scalars(select(Order))] == ["W-1"]
    assert _count(OrderLine) == 1


def test_the_same_reference_with_other_content_is_rejected(runner, shop, tmp_path):
    changed = {**BODY, "lines": [{"sku": "TSH-001-M", "quantity": 5}]}
    result = _import(runner, "orders", "import", _jsonl(tmp_path, [BODY, changed]))
    assert result.exit_code == 1
    assert "row 2: external_ref: Order W-2001 already exists on channel web with different content." in result.stdout
    assert _count(Order) == 0

    rows = [_line("W-9"), _line("W-9", "JEAN-32", customer_name="Someone Else")]
    result = _import(runner, "orders", "import", _csv(tmp_path, rows))
    assert result.exit_code == 1
    assert "row 3: customer_name: Differs from row 2 of the same order ('Léa Martin')." in result.stdout
    assert _count(Order) == 0


def test_an_order_already_there_with_other_content_is_rejected(runner, shop, tmp_path):
    draft = ship_draft((shop[1], 1), ref="W-1")
    orders.create_order(draft, actor=ACTOR)
    db.session.commit()
    result = _import(runner, "orders", "import", "--skip-invalid", _csv(tmp_path, [_line("W-1"), _line("W-2")]))
    assert "row 2: external_ref: Order W-1 already exists on channel web with different content." in result.stdout
    assert orders.find_order("web", "W-2") is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "orders.jsonl is empty."),
        (b'{"channel": "web",\n', "row 1: Not valid JSON: Expecting property name enclosed in double quotes"),
        (b"[1, 2]\n", "row 1: A line must hold one JSON object: an order body."),
        (json.dumps({**BODY, "lines": [{"sku": "TSH-001-M", "quantity": "2"}]}).encode(), "row 1: lines.0.quantity"),
        (json.dumps({**BODY, "extra": 1}).encode(), "row 1: extra: Unknown field."),
        (b"caf\xe9\n", "orders.jsonl is not UTF-8 text: line 1 has the byte 0xE9."),
    ],
)
def test_bad_jsonl_is_explained_never_a_traceback(runner, shop, tmp_path, content, message):
    path = tmp_path / "orders.jsonl"
    path.write_bytes(content)
    result = _import(runner, "orders", "import", path)
    assert result.exit_code == 1
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _count(Order) == 0


def test_bad_csv_files_are_explained(runner, shop, tmp_path):
    missing = _csv(tmp_path, [{"channel": "web"}], columns=["channel", "external_ref", "sku", "colour"])
    result = _import(runner, "orders", "import", missing)
    assert result.exit_code == 1
    assert "missing column(s) customer_name, method, quantity; unknown column(s) 'colour'" in result.stderr
    latin1 = _csv(tmp_path, [_line("W-1"), _line("W-2", customer_name="Zoë")], name="latin1.csv", encoding="latin-1")
    result = _import(runner, "orders", "import", latin1)
    assert result.exit_code == 1
    assert "latin1.csv is not UTF-8 text: line 2 has the byte 0xE9" in result.stderr
    (tmp_path / "orders.txt").write_text("x")
    result = _import(runner, "orders", "import", tmp_path / "orders.txt")
    assert result.exit_code == 2 and "pass --format" in result.stderr
    result = _import(runner, "orders", "import", tmp_path / "nowhere.csv")
    assert result.exit_code == 2 and "does not exist" in result.stderr
    short = tmp_path / "short.csv"
    short.write_text(",".join(COLUMNS) + "\nweb,W-1,Léa\n")
    result = _import(runner, "orders", "import", short)
    assert "row 2: The row has 3 values; the header has 19 columns." in result.stdout
    assert _count(Order) == 0


def test_an_excel_csv_with_bom_and_semicolons_is_read(runner, shop, tmp_path):
    path = _csv(tmp_path, [_line("W-1", customer_name="Zoë")], encoding="utf-8-sig", delimiter=";")
    result = _import(runner, "orders", "import", path)
    assert result.exit_code == 0, result.output
    assert orders.find_order("web", "W-1").customer_name == "Zoë"


def _levels():
    rows = db.session.execute(select(StockLevel.product_id, StockLevel.on_hand, StockLevel.reserved)).all()
    return {product_id: (on_hand, reserved) for product_id, on_hand, reserved in rows}


def test_a_stock_count_sets_on_hand_keeps_reservations_and_writes_the_ledger(runner, shop, tmp_path):
    _, shirt, jeans = shop
    orders.create_order(ship_draft((shirt, 4), ref="W-1"), actor=ACTOR)
    sourcing.source_order(orders.find_order("web", "W-1"), actor=ACTOR)
    db.session.commit()
    before = _count(StockMovement)
    path = _csv(
        tmp_path,
        [
            {"location": "PAR01", "sku": "TSH-001-M", "on_hand": "3"},
            {"location": "PAR01", "sku": "JEAN-32", "on_hand": "10"},
        ],
        name="count.csv",
        columns=["location", "sku", "on_hand"],
    )
    result = _import(runner, "stock", "import", path)
    assert result.exit_code == 0, result.output
    assert "2 rows read, 1 imported, 1 unchanged, 0 rejected." in result.stdout
    assert "warning: row 2: on_hand: The count is 1 below the units reserved for open orders" in result.stdout
    assert _levels() == {shirt.id: (4, 4), jeans.id: (10, 0)}
    movement = db.session.scalars(select(StockMovement).order_by(StockMovement.id.desc())).first()
    assert _count(StockMovement) == before + 1
    assert (movement.kind, movement.on_hand_delta, movement.actor) == ("sync", -6, "system:cli-import")
    assert movement.reference == "import:count.csv"


def test_stock_deltas_are_applied_through_the_ledger(runner, shop, tmp_path):
    _, shirt, jeans = shop
    path = _csv(
        tmp_path,
        [
            {"location": "PAR01", "sku": "TSH-001-M", "delta": "5", "reference": "PO-7"},
            {"location": "PAR01", "sku": "JEAN-32", "delta": "-2", "reason": "damaged"},
        ],
        name="moves.csv",
        columns=["location", "sku", "delta", "reason", "reference"],
    )
    result = _import(runner, "stock", "import", path)
    assert result.exit_code == 0, result.output
    assert "2 rows read, 2 imported, 0 unchanged, 0 rejected." in result.stdout
    assert _levels() == {shirt.id: (15, 0), jeans.id: (8, 0)}
    rows = db.session.scalars(select(StockMovement).order_by(StockMovement.id.desc()).limit(2)).all()
    assert [(m.kind, m.on_hand_delta, m.reason, m.reference) for m in rows] == [
        ("adjust", -2, "damaged", "import:moves.csv"),
        ("receive", 5, "import", "PO-7"),
    ]


@pytest.mark.parametrize("columns", [["location", "sku", "on_hand"], ["location", "sku", "delta"]])
def test_a_stock_file_with_an_unknown_sku_applies_nothing(runner, shop, tmp_path, columns):
    shirt = shop[1]
    amount = columns[2]
    path = _csv(
        tmp_path,
        [
            {"location": "PAR01", "sku": "TSH-001-M", amount: "7"},
            {"location": "PAR01", "sku": "NOPE-1", amount: "3"},
            {"location": "LYO01", "sku": "JEAN-32", amount: "x"},
            {"location": "PAR01", "sku": "JEAN-32", amount: "-20"},
        ],
        name="stock.csv",
        columns=columns,
    )
    before = (_levels(), _count(StockMovement))
    result = _import(runner, "stock", "import", path)
    assert result.exit_code == 1
    assert "row 3: sku: Unknown SKU." in result.stdout
    assert (
        "row 4: delta: Not a valid integer." in result.stdout or "row 4: on_hand: Not a valid integer." in result.stdout
    )
    if amount == "delta":
        assert "row 5: delta: This change would leave JEAN-32 at PAR01 below zero" in result.stdout
    else:
        assert "row 5: on_hand: Must be greater than or equal to 0" in result.stdout
    assert "nothing was written" in result.stdout
    assert (_levels(), _count(StockMovement)) == before

    result = _import(runner, "stock", "import", "--skip-invalid", path)
    assert _levels()[shirt.id][0] == (17 if amount == "delta" else 7)


def test_a_stock_file_with_an_unknown_header_or_encoding_is_refused(runner, shop, tmp_path):
    path = _csv(
        tmp_path, [{"store": "PAR01", "sku": "X", "qty": "1"}], name="stock.csv", columns=["store", "sku", "qty"]
    )
    result = _import(runner, "stock", "import", path)
    assert result.exit_code == 1
    assert "unknown header 'store,sku,qty'. Expected location,sku,on_hand (absolute counts)" in result.stderr
    assert "location,sku,delta[,reason,reference] (signed changes)" in result.stderr
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("location,sku,on_hand\nPAR01,TSH-001-M,3\nPAR01,ÉTÉ-1,2\n".encode("latin-1"))
    result = _import(runner, "stock", "import", latin1)
    assert result.exit_code == 1
    assert "latin1.csv is not UTF-8 text: line 3 has the byte 0xC9" in result.stderr
    assert _count(StockMovement) == 2  # the two receipts of the fixture
