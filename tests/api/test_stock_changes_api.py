"""Stock both ways: safety stock and channel buffers set by the ERP, and the stock change feed it pulls."""

from datetime import datetime

import pytest
from sqlalchemy import func, insert, select

from app.core.integration.api_clients import create_api_client
from app.core.inventory import changes, stock
from app.core.models import AuditEvent, ChannelBuffer, MovementKind, StockLevel, StockMovement
from app.core.ordering import orders
from app.extensions import db
from tests.conftest import ENGINE
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked

ROW = "/api/v1/stock/PAR01/TSH-001-M"


@pytest.fixture
def erp(app, client):
    store, product = make_location(code="PAR01"), make_product(sku="TSH-001-M")
    _, token = create_api_client("erp", ["stock:read", "stock:write"], actor=ACTOR)
    db.session.commit()

    def call(method, path, key=None, token=token, **kwargs):
        headers = {
            "Authorization": f"Bearer {token}",
            **({"Idempotency-Key": key} if key else {}),
            **kwargs.pop("headers", {}),
        }
        return client.open(path, method=method, headers=headers, **kwargs)

    call.store, call.product = store, product
    return call


def _level():
    db.session.rollback()
    return db.session.scalar(select(StockLevel))


def _buffers():
    db.session.rollback()
    return {b.channel: b.units for b in db.session.scalars(select(ChannelBuffer))}


def _audits(action):
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


# --- PATCH /api/v1/stock/{location}/{sku} -----------------------------------------------------------------------


def test_safety_stock_is_set_and_answered_with_the_stock_row(erp):
    stocked(erp.store, erp.product, 10)
    db.session.commit()
    response = erp("PATCH", ROW, key="safety-1", json={"safety_stock": 3})
    assert response.status_code == 200
    body = response.json
    assert (body["on_hand"], body["reserved"], body["safety_stock"], body["available"]) == (10, 0, 3, 7)
    assert body["buffers"] == {}
    assert _level().safety_stock == 3
    assert _audits("stock.safety_stock") == 1


def test_channel_buffers_are_set_for_the_location_and_lower_what_that_channel_is_shown(erp):
    stocked(erp.store, erp.product, 10)
    db.session.commit()
    response = erp("PATCH", ROW, key="buffers-1", json={"buffers": {"marketplace": 4, "web": 0}})
    assert response.status_code == 200
    assert response.json["buffers"] == {"marketplace": 4, "web": 0}
    assert response.json["safety_stock"] == 0  # not named: left as it was
    assert _buffers() == {"marketplace": 4, "web": 0}
    assert _audits("stock.channel_buffer") == 1  # "web" at 0 is what no buffer means: nothing changed
    shown = erp("GET", "/api/v1/availability?skus=TSH-001-M&locations=PAR01&channel=marketplace").json
    assert shown == [{"sku": "TSH-001-M", "location": "PAR01", "available": 6}]
    again = erp("PATCH", ROW, key="buffers-2", json={"buffers": {"marketplace": 1}, "safety_stock": 2})
    assert (again.json["buffers"], again.json["safety_stock"], again.json["available"]) == (
        {"marketplace": 1, "web": 0},
        2,
        8,
    )


def test_a_repeat_with_the_same_key_replays_the_answer_and_changes_nothing(erp):
    first = erp("PATCH", ROW, key="same", json={"safety_stock": 5, "buffers": {"marketplace": 2}})
    assert first.status_code == 200
    erp("PATCH", ROW, key="other", json={"safety_stock": 1})
    again = erp("PATCH", ROW, key="same", json={"safety_stock": 5, "buffers": {"marketplace": 2}})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert _level().safety_stock == 1  # the replay did not set 5 again over the later change
    assert _audits("stock.safety_stock") == 2
    conflict = erp("PATCH", ROW, key="same", json={"safety_stock": 6})
    assert (conflict.status_code, conflict.json["error"]) == (409, "idempotency_conflict")


def test_a_patch_without_an_idempotency_key_is_refused(erp):
    response = erp("PATCH", ROW, json={"safety_stock": 2})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["fields"]
    assert _level() is None


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"safety_stock", "buffers"}),
        ({"safety_stock": -1}, {"safety_stock"}),
        ({"safety_stock": "3"}, {"safety_stock"}),
        ({"safety_stock": 2, "buffers": {"marketplace": -2}}, {"buffers.marketplace.value"}),
        ({"buffers": {"": 2}}, {"buffers..key"}),
        ({"buffers": {"x" * 33: 2}}, {"buffers." + "x" * 33 + ".key"}),
        ({"buffers": {"  ": 2}}, {"buffers.  "}),
        ({"buffers": {}}, {"buffers"}),
    ],
)
def test_bad_settings_are_refused_with_the_fields_named_and_change_nothing(erp, body, fields):
    response = erp("PATCH", ROW, key="bad", json=body)
    assert response.status_code == 422
    assert set(response.json) == {"error", "message", "fields"}
    assert set(response.json["fields"]) == fields
    assert _level() is None and _buffers() == {}


def test_validation_messages_are_in_the_clients_language(erp):
    response = erp("PATCH", ROW, key="fr", json={}, headers={"Accept-Language": "fr"})
    assert response.json["message"] == "Certaines valeurs ne sont pas valides."
    assert response.json["fields"]["safety_stock"] == "Indiquez safety_stock, buffers ou les deux."
    blank = erp("PATCH", ROW, key="it", json={"buffers": {" ": 1}}, headers={"Accept-Language": "it"})
    assert blank.json["fields"]["buffers. "] == "Il nome di un canale ha da 1 a 32 caratteri."


@pytest.mark.parametrize("path", ["/api/v1/stock/NOPE/TSH-001-M", "/api/v1/stock/PAR01/NOPE"])
def test_an_unknown_location_or_sku_is_404_and_changes_nothing(erp, path):
    response = erp("PATCH", path, key="404", json={"safety_stock": 1, "buffers": {"marketplace": 1}})
    assert response.status_code == 404
    assert response.json["error"] == "not_found"
    assert _level() is None and _buffers() == {}


def test_setting_stock_needs_the_stock_write_scope(erp):
    _, read_only = create_api_client("reader", ["stock:read"], actor=ACTOR)
    db.session.commit()
    response = erp("PATCH", ROW, key="scope", token=read_only, json={"safety_stock": 1})
    assert response.status_code == 403
    assert erp("PATCH", ROW, key="anon", token="nope", json={"safety_stock": 1}).status_code == 401
    assert _level() is None


# --- GET /api/v1/stock/changes ----------------------------------------------------------------------------------


def _follow(erp, limit=3):
    """Every item the feed gives, following next_cursor until it is empty."""
    seen, after = [], 0
    while True:
        page = erp("GET", f"/api/v1/stock/changes?after={after}&limit={limit}")
        assert page.status_code == 200
        if not page.json["items"]:
            assert page.json["next_cursor"] == after
            return seen
        seen += page.json["items"]
        after = page.json["next_cursor"]
        assert after == page.json["items"][-1]["cursor"]


def test_following_the_cursor_gives_every_movement_once_with_its_resulting_on_hand(erp):
    other = make_product(sku="JEAN-32")
    lyon = make_location(code="LYO01")
    stock.receive(erp.store, erp.product, 10, actor=ACTOR, reference="PO-1", reason="delivery")
    stock.adjust(erp.store, erp.product, -2, reason="broken", actor=ACTOR, reference="ADJ-7")
    order, _ = orders.create_order(ship_draft((erp.product, 3)), actor=ACTOR)
    orders.assign_fulfilment(order, erp.store, {order.lines[0]: 3}, actor=ACTOR)
    stock.apply_movements(
        [
            {"location": "LYO01", "sku": "JEAN-32", "delta": 5, "reason": "", "reference": "ERP-1"},
            {"location": "LYO01", "sku": "JEAN-32", "delta": -1, "reason": "", "reference": "ERP-1"},
        ],
        actor=ACTOR,
    )
    stock.set_count(lyon, other, 9, actor=ACTOR, reason="shelf count")
    db.session.commit()
    items = _follow(erp)
    assert [(i["location"], i["sku"], i["kind"], i["delta"], i["on_hand"]) for i in items] == [
        ("PAR01", "TSH-001-M", "receive", 10, 10),
        ("PAR01", "TSH-001-M", "adjust", -2, 8),
        ("PAR01", "TSH-001-M", "reserve", 0, 8),
        ("LYO01", "JEAN-32", "receive", 5, 5),
        ("LYO01", "JEAN-32", "adjust", -1, 4),
        ("LYO01", "JEAN-32", "count", 5, 9),
    ]
    assert [i["cursor"] for i in items] == list(range(1, 7))
    assert (items[0]["reason"], items[0]["reference"], items[1]["reason"]) == ("delivery", "PO-1", "broken")
    at = datetime.fromisoformat(items[0]["at"])
    assert at.utcoffset().total_seconds() == 0
    # the ledger's on-hand and the feed agree at the end
    assert stock.ledger_totals(lyon.id, other.id)[0] == items[-1]["on_hand"]
    # nothing new: the same cursor gives nothing, and a new movement comes next
    stock.receive(lyon, other, 1, actor=ACTOR)
    db.session.commit()
    newer = erp("GET", "/api/v1/stock/changes?after=6").json
    assert [(i["cursor"], i["on_hand"]) for i in newer["items"]] == [(7, 10)]


def test_the_feed_needs_the_stock_read_scope_and_checks_its_cursor(erp):
    _, orders_only = create_api_client("shop", ["orders:read"], actor=ACTOR)
    db.session.commit()
    assert erp("GET", "/api/v1/stock/changes", token=orders_only).status_code == 403
    bad = erp("GET", "/api/v1/stock/changes?after=-1&limit=0")
    assert bad.status_code == 422
    assert set(bad.json["fields"]) == {"after", "limit"}


def test_movements_written_before_the_feed_have_no_on_hand_and_keep_their_place(erp):
    """Rows from before the migration have position = id and no on_hand_after: served with on_hand null."""
    db.session.execute(
        insert(StockMovement).values(
            location_id=erp.store.id,
            product_id=erp.product.id,
            kind=str(MovementKind.RECEIVE),
            on_hand_delta=4,
            reserved_delta=0,
            damaged_delta=0,
            reason="",
            reference="old",
            actor="legacy",
            created_at=func.now(),
            position=1,
        )
    )
    stock.receive(erp.store, erp.product, 2, actor=ACTOR)
    db.session.commit()
    items = erp("GET", "/api/v1/stock/changes").json["items"]
    assert [(i["cursor"], i["reference"], i["on_hand"]) for i in items] == [(1, "old", None), (2, "", 2)]


@pytest.mark.postgres_only
@pytest.mark.skipif(ENGINE != "postgresql", reason="needs two write transactions in flight at once (PostgreSQL)")
def test_a_movement_committed_after_one_with_a_higher_id_reaches_a_client_that_already_read_that_one(erp):
    """Transaction A writes its movement first (lower id) and commits last; B's movement is read first.
    Following the cursor, the ERP still gets A's movement."""
    row = {
        "location_id": erp.store.id,
        "product_id": erp.product.id,
        "kind": "receive",
        "on_hand_delta": 1,
        "reserved_delta": 0,
        "damaged_delta": 0,
        "reason": "",
        "actor": "test",
        "created_at": func.now(),
    }
    with db.engine.connect() as a, db.engine.connect() as b:
        a.begin()
        id_a = a.execute(
            insert(StockMovement).values(**row, reference="A", on_hand_after=1).returning(StockMovement.id)
        ).scalar_one()
        b.begin()
        id_b = b.execute(
            insert(StockMovement).values(**row, reference="B", on_hand_after=2).returning(StockMovement.id)
        ).scalar_one()
        b.commit()
        assert id_a < id_b
        first = erp("GET", "/api/v1/stock/changes?after=0").json
        assert [(i["reference"], i["cursor"]) for i in first["items"]] == [("B", 1)]
        a.commit()
    assert db.session.scalars(select(StockMovement.id).where(StockMovement.id > id_b)).all() == []  # an id cursor
    second = erp("GET", f"/api/v1/stock/changes?after={first['next_cursor']}").json
    assert [(i["reference"], i["cursor"]) for i in second["items"]] == [("A", 2)]
    assert erp("GET", "/api/v1/stock/changes?after=2").json == {"items": [], "next_cursor": 2}


def test_stock_changed_batches_are_not_served_by_the_order_event_feed(erp, client):
    from app.core.models import WebhookSubscription

    db.session.add(WebhookSubscription(url="http://127.0.0.1:9/hook", secret="s" * 20, event_types="*"))
    stocked(erp.store, erp.product, 3)
    _, reader = create_api_client("shop", ["orders:read"], actor=ACTOR)
    db.session.commit()
    assert changes.sequence() == 1
    response = client.get("/api/v1/events?after=0", headers={"Authorization": f"Bearer {reader}"})
    assert response.status_code == 200
    assert response.json == []


def test_the_migration_keeps_the_ledger_history_in_place_and_numbers_only_what_comes_after(database_url, tmp_path):
    """Movements already there get position = id (no history re-announced) and no on-hand; the downgrade works."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from app import create_app
    from tests.conftest import _prepare_postgres

    if ENGINE == "postgresql":
        url = _prepare_postgres(database_url + "_stock_migration")
    else:
        url = "sqlite:///" + str(tmp_path / "migration.sqlite3")
    scratch = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with scratch.app_context():
        upgrade()  # the models are the newest schema's: rows are made through them at the head
        store, product = make_location(code="PAR01"), make_product(sku="TSH-001-M")
        db.session.commit()
        ids = store.id, product.id
        db.session.remove()
        downgrade(revision="e9a1f0c0de06")
        with db.engine.begin() as connection:
            for movement_id in (4, 9):
                connection.execute(
                    text(
                        "INSERT INTO stock_movement (id, location_id, product_id, kind, on_hand_delta, reserved_delta,"
                        " damaged_delta, reason, reference, actor, created_at)"
                        " VALUES (:id, :loc, :prod, 'receive', 2, 0, 0, '', 'old', 'legacy', :at)"
                    ),
                    {"id": movement_id, "loc": ids[0], "prod": ids[1], "at": "2026-01-01 00:00:00+00:00"},
                )
        upgrade(revision="e9a1f0c0de07")
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, position, on_hand_after FROM stock_movement ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(4, 4, None), (9, 9, None)]
        upgrade()  # the later migrations, so the models below match the schema again
        assert changes.sequence() == 0  # the history is not numbered (nor announced) again
        if ENGINE == "postgresql":  # the sequence still follows the ids it gave; SQLite takes max(id) + 1
            db.session.execute(text("SELECT setval('stock_movement_id_seq', 9)"))
        stock.receive(db.session.get(type(store), ids[0]), db.session.get(type(product), ids[1]), 1, actor=ACTOR)
        db.session.commit()
        assert changes.sequence() == 1
        newest = db.session.execute(
            select(StockMovement.position, StockMovement.on_hand_after).order_by(StockMovement.id.desc())
        ).first()
        assert tuple(newest) == (10, 1)  # after every old cursor
        db.session.remove()
        db.engine.dispose()
