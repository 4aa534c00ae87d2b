"""Lists that do not grow with history: the indexes on customer_order and fulfilment are there as the models
declare them, and with a long history (PostgreSQL, analysed) the orders list filters, the queue page and
sourcing's workload read those indexes instead of scanning the tables."""

import re
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, insert, literal_column, select, text

from app.core.integration.api_clients import create_api_client
from app.core.models import Fulfilment, Order
from app.core.models.orders import OPEN_STATUSES
from app.core.ordering import orders, rules, sourcing
from app.extensions import db
from tests.conftest import ENGINE, csrf_token, login
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, stocked

ON_POSTGRES = "plans over a long, analysed history (PostgreSQL)"
OPEN_WORK_INDEX = "ix_fulfilment_open_location_id_status"


@contextmanager
def _captured():
    """(statement, parameters) of every SQL statement sent inside the block."""
    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)


def _plan(statement, parameters) -> str:
    connection = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        return "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
    return "\n".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))


def _index_sql(name: str) -> str:
    if db.engine.dialect.name == "postgresql":
        return db.session.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name})
    return db.session.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": name})


def test_the_open_statuses_of_the_index_are_the_cores_open_statuses():
    assert set(OPEN_STATUSES) == {str(status) for status in orders.OPEN}


def test_the_migrated_partial_index_holds_open_work_and_nothing_else(app):
    definition = _index_sql(OPEN_WORK_INDEX)
    columns, where = re.split(r"\bWHERE\b", definition, maxsplit=1, flags=re.IGNORECASE)
    assert re.search(r"\(\s*\"?location_id\"?\s*,\s*\"?status\"?\s*\)", columns)
    assert set(re.findall(r"'(\w+)'", where)) == set(OPEN_STATUSES)
    for name in ("ix_customer_order_status_id", "ix_fulfilment_location_id_order_id", "ix_fulfilment_location_id_id"):
        assert _index_sql(name), name
    assert _index_sql("ix_fulfilment_location_id_created_at")
    assert _index_sql("ix_fulfilment_location_id") is None  # every fulfilment index now leads with location_id


@pytest.mark.skipif(ENGINE != "sqlite", reason="SQLite's own plan; PostgreSQL's is checked over a long history")
def test_on_sqlite_the_queue_counts_read_the_open_work_index(app, client):
    store = make_location(code="HERE")
    user = make_user(stores=[store])
    db.session.commit()
    login(client, user.email, PASSWORD)
    with _captured() as seen:
        assert client.get("/stores/HERE/queue").status_code == 200
    [counts] = [
        (s, p)
        for s, p in seen
        if re.search(r"count\(\*\)", s) and "GROUP BY fulfilment.status" in s and "JOIN pickup" not in s
    ]
    assert f"USING COVERING INDEX {OPEN_WORK_INDEX}" in _plan(*counts)


# --- PostgreSQL with a long history ---

STORES = 40
ORDERS = 60_000
RECENT = ORDERS * 97 // 100  # orders after this one are the recent ones: still open, and the new store's


def _history(stores) -> None:
    """ORDERS orders over the last years, written set-based, as a real history is: the old ones done (shipped,
    collected, cancelled; every fifth also rejected by a second store), the recent ones open (open fulfilments),
    and the newest store (the last one) only in the recent ones. So a plan that walks the history in id order
    hoping to meet open orders or that store soon would read nearly all of it. Then VACUUM ANALYZE, as
    autovacuum does on a live database (statistics, and the visibility map for index-only scans)."""
    ids = "ARRAY[" + ", ".join(str(s.id) for s in stores) + "]"
    order_status = f"CASE WHEN n > {RECENT} THEN 'open' WHEN n % 10 = 0 THEN 'cancelled' ELSE 'completed' END"
    when = f"now() - ({ORDERS} - n) * interval '15 minutes'"
    rows = select(
        literal_column("'hist'").label("channel"),
        literal_column("'H-' || n").label("external_ref"),
        literal_column("'x'").label("fingerprint"),
        literal_column(order_status).label("status"),
        literal_column("'Old customer'").label("customer_name"),
        literal_column("'ship'").label("delivery_method"),
        literal_column(when).label("created_at"),
        literal_column(when).label("updated_at"),
    ).select_from(text(f"generate_series(1, {ORDERS}) AS n"))
    db.session.execute(insert(Order).from_select([c.name for c in rows.selected_columns], rows))
    open_cycle = "ARRAY[" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + "]"
    status = (
        f"CASE WHEN o.status = 'open' THEN ({open_cycle})[1 + o.id % {len(OPEN_STATUSES)}] "
        "WHEN o.status = 'cancelled' THEN 'cancelled' WHEN o.id % 7 = 0 THEN 'collected' ELSE 'shipped' END"
    )
    fulfilments = (
        select(
            literal_column("o.id").label("order_id"),
            literal_column(
                f"CASE WHEN o.id > {RECENT} AND o.id % 3 = 0 THEN {stores[-1].id} ELSE ({ids})[1 + o.id % {STORES - 1}] END"
            ).label("location_id"),
            literal_column(status).label("status"),
            literal_column("o.created_at").label("created_at"),
            literal_column("o.created_at").label("updated_at"),
        )
        .select_from(text("customer_order o"))
        .where(text("o.channel = 'hist'"))
    )
    db.session.execute(insert(Fulfilment).from_select([c.name for c in fulfilments.selected_columns], fulfilments))
    rejected = (
        select(
            literal_column("o.id").label("order_id"),
            literal_column(f"({ids})[1 + (o.id + 7) % {STORES - 1}]").label("location_id"),
            literal_column("'rejected'").label("status"),
            literal_column("o.created_at").label("created_at"),
            literal_column("o.created_at").label("updated_at"),
        )
        .select_from(text("customer_order o"))
        .where(text("o.channel = 'hist' AND o.id % 5 = 0"))
    )
    db.session.execute(insert(Fulfilment).from_select([c.name for c in rejected.selected_columns], rejected))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE customer_order"))
        connection.execute(text("VACUUM ANALYZE fulfilment"))


def _plans(seen) -> dict[str, str]:
    """{statement: plan} for every statement that reads customer_order or fulfilment."""
    return {s: _plan(s, p) for s, p in seen if re.search(r"\bFROM (customer_order|fulfilment)\b", s)}


def _no_scan(plans: dict[str, str]) -> None:
    for statement, plan in plans.items():
        assert not re.search(r"Seq Scan on (customer_order|fulfilment)\b", plan), f"{statement}\n{plan}"


@pytest.fixture
def long_history(app):
    stores = [make_location(code=f"S{n:03d}") for n in range(STORES)]
    db.session.commit()
    _history(stores)
    return stores


@pytest.mark.postgres_only
@pytest.mark.skipif(ENGINE != "postgresql", reason=ON_POSTGRES)
def test_the_orders_list_filters_read_indexes_not_the_history(client, long_history):
    _, token = create_api_client("reporting", ["orders:read"], actor=ACTOR)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    expected = {
        "location": "ix_fulfilment_location_id_order_id",
        "status": "ix_customer_order_status_id",
        "location+status": None,  # either index may lead; neither table is scanned
    }
    newest = long_history[-1].code
    queries = {
        "location": {"location": newest},
        "status": {"status": "open"},
        "location+status": {"location": newest, "status": "open"},
    }
    for name, query in queries.items():
        for cursor in (None, RECENT + 50):
            args = {**query, "limit": 50, **({"cursor": cursor} if cursor else {})}
            with _captured() as seen:
                response = client.get("/api/v1/orders", headers=headers, query_string=args)
            assert response.status_code == 200
            assert len(response.json["items"]) == 50, name
            plans = _plans(seen)
            _no_scan(plans)
            # The first statement over orders or fulfilments chooses the page's ids; the orders are then read by id.
            main = next(iter(plans.values()))
            if expected[name]:
                assert expected[name] in main, f"{name}\n{main}"


@pytest.mark.postgres_only
@pytest.mark.skipif(ENGINE != "postgresql", reason=ON_POSTGRES)
def test_the_queue_page_reads_open_work_only(client, long_history):
    store = long_history[-1]
    user = make_user(stores=[store])
    db.session.commit()
    login(client, user.email, PASSWORD)
    csrf_token(client, "/")
    for tab in ("accept", "pick", "collect"):
        with _captured() as seen:
            response = client.get(f"/stores/{store.code}/queue?tab={tab}")
        assert response.status_code == 200
        plans = _plans(seen)
        _no_scan(plans)
        # (a second GROUP BY counts the transfers received here, through the store's open pickups: no scan either)
        [counts] = [
            plan
            for statement, plan in plans.items()
            if "GROUP BY fulfilment.status" in statement and "JOIN pickup" not in statement
        ]
        assert OPEN_WORK_INDEX in counts, counts
        [latest] = [plan for statement, plan in plans.items() if "max(fulfilment.id)" in statement]
        assert "ix_fulfilment_location_id_id" in latest, latest
        [work] = [plan for statement, plan in plans.items() if "ORDER BY CASE" in statement]
        # The open-work index, or (for a tab of rare statuses, such as the few orders on a hold shelf) the status
        # index ANDed with the store's: both read open rows only, never the store's history.
        assert OPEN_WORK_INDEX in work or "Bitmap Index Scan on ix_fulfilment_status" in work, work
    # The counts are right: open work of this store only.
    open_here = db.session.scalar(
        select(func.count()).where(Fulfilment.location_id == store.id, Fulfilment.status.in_(OPEN_STATUSES))
    )
    body = client.get(f"/stores/{store.code}/queue").get_data(as_text=True)
    shown = sum(int(n) for n in re.findall(r'<span class="count">(\d+)</span>', body))
    assert shown == open_here > 0


@pytest.mark.postgres_only
@pytest.mark.skipif(ENGINE != "postgresql", reason=ON_POSTGRES)
def test_sourcings_workload_and_todays_count_read_indexes(app, long_history):
    """The two questions sourcing asks every order, in the shape it asks them: open work per location (the
    partial index, whole chain, no table scan) and what each candidate got since local midnight."""
    workload = select(Fulfilment.location_id, func.count()).where(Fulfilment.status.in_(orders.OPEN))
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = select(Fulfilment.location_id, func.count()).where(
        Fulfilment.location_id.in_([s.id for s in long_history[:20]]), Fulfilment.created_at >= midnight
    )
    for statement, index in (
        (workload.group_by(Fulfilment.location_id), OPEN_WORK_INDEX),
        (today.group_by(Fulfilment.location_id), "ix_fulfilment_location_id_created_at"),
    ):
        with _captured() as seen:
            db.session.execute(statement).all()
        plans = _plans(seen)
        _no_scan(plans)
        [plan] = plans.values()
        assert index in plan, plan


@pytest.mark.postgres_only
@pytest.mark.skipif(ENGINE != "postgresql", reason=ON_POSTGRES)
def test_the_first_look_reads_each_shown_locations_workload_through_indexes(app, long_history):
    """On PostgreSQL sourcing's first look brings the workload of the locations it shows (two correlated counts
    each): they read the partial index of open work and the index on (location, created_at), never the table, and
    give what _workload's GROUP BY gives."""
    product = make_product()
    for store in long_history[:25]:
        stocked(store, product, 2)
    db.session.commit()
    now = datetime.now(UTC)
    with _captured() as seen:
        look = sourcing._stocked_sites(
            {product.id: 1}, rules.current_rules(), origin=None, exclude=set(), shipping=True, upto=20, keep=0, now=now
        )
    plans = _plans(seen)
    _no_scan(plans)
    [plan] = plans.values()
    assert OPEN_WORK_INDEX in plan and "ix_fulfilment_location_id_created_at" in plan, plan
    assert len(look.waiting) == 20
    open_work, today = sourcing._workload([w.site for w in look.waiting], now)
    assert {w.site.id: w.open_work for w in look.waiting} == {
        w.site.id: open_work.get(w.site.id, 0) for w in look.waiting
    }
    assert {w.site.id: w.today for w in look.waiting} == {w.site.id: today.get(w.site.id, 0) for w in look.waiting}
    assert any(w.open_work for w in look.waiting) and any(w.today for w in look.waiting)
