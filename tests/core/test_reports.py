"""The reports core: each figure of a store's day and an associate's day on a hand-built history with known
answers, days in the store's time zone across both changes of clocks, percentiles, idempotent rollups, the worker's
refresh, and CSV exports read back."""

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.core import reports
from app.core.integration import worker
from app.core.models import (
    AuditEvent,
    CustomerReturn,
    Fulfilment,
    FulfilmentLine,
    Order,
    OrderLine,
    Pickup,
    ReturnLine,
    Scan,
)
from app.core.models.base import utcnow
from app.core.models.reports import AssociateDay, LocationDay
from app.core.ordering import orders
from app.core.reports.csv_export import rows_to_csv
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, make_user, ship_draft, stocked


def Z(*args):
    return datetime(*args, tzinfo=UTC)


def fulfilment(store, *lines, method="ship", created_at, ready_by=None, promised_by=None, transfer_to=None):
    """An order and its fulfilment written as they would be in the past: lines are (product, quantity, picked)."""
    order = Order(
        channel="web",
        external_ref=uuid.uuid4().hex[:12],
        fingerprint="x",
        customer_name="Léa Martin",
        delivery_method=method,
        promised_by=promised_by,
        created_at=created_at,
    )
    db.session.add(order)
    made = Fulfilment(
        order=order,
        location_id=store.id,
        status="created",
        ready_by=ready_by,
        created_at=created_at,
        transfer_to_id=transfer_to.id if transfer_to else None,
    )
    db.session.add(made)
    for number, (product, quantity, picked, *short) in enumerate(lines, 1):
        order_line = OrderLine(order=order, line_no=number, product_id=product.id, quantity=quantity)
        db.session.add(order_line)
        db.session.add(
            FulfilmentLine(
                fulfilment=made,
                order_line=order_line,
                product_id=product.id,
                quantity=quantity,
                picked=picked,
                short=short[0] if short else 0,
            )
        )
    db.session.flush()
    return made


def event(action, subject, at, user=None, **after):
    db.session.add(
        AuditEvent(
            actor_user_id=user.id if user else None,
            actor="test",
            action=action,
            subject_type="fulfilment",
            subject_id=str(subject.id),
            after=after or None,
            created_at=at,
        )
    )
    db.session.flush()


def scan(store, user, at, purpose="pick", outcome="counted", quantity=1, line=None, undone=False):
    db.session.add(
        Scan(
            client_id=uuid.uuid4().hex,
            location_id=store.id,
            user_id=user.id,
            purpose=purpose,
            code="X",
            outcome=outcome,
            quantity=quantity,
            fulfilment_line_id=line.id if line else None,
            created_at=at,
            undone_at=at + timedelta(seconds=5) if undone else None,
        )
    )
    db.session.flush()


def received_return(store, line, at, *reasons):
    made = CustomerReturn(order_id=line.order_id, location_id=store.id, status="received", actor="test", received_at=at)
    db.session.add(made)
    for reason, quantity in reasons:
        db.session.add(
            ReturnLine(
                customer_return=made,
                order_line_id=line.id,
                product_id=line.product_id,
                quantity=quantity,
                reason=reason,
                condition="resellable",
            )
        )
    db.session.flush()


# --- percentiles ------------------------------------------------------------------------------------------------


def test_percentiles_interpolate_within_the_bucket_and_the_last_bucket_answers_its_edge():
    assert reports.median({"0": 10}) == 2.5  # ten durations spread over 0-5 minutes
    assert reports.percentile({"0": 1, "5": 1, "10": 1, "15": 1}, 50) == 10.0
    assert reports.percentile({"0": 1, "5": 1, "10": 1, "15": 1}, 100) == 20.0
    assert reports.percentile({"60": 4}, 25) == 67.5  # a quarter into 60-90
    assert reports.percentile({"10080": 3}, 90) == 10080.0  # a week and more: open-ended
    assert reports.median({}) is None and reports.median(None) is None
    assert reports.bucket(0) == 0 and reports.bucket(4.9) == 0 and reports.bucket(90) == 90
    assert reports.bucket(20000) == 10080
    assert reports.merge({"5": 1}, None, {"5": 2, "10": 1}) == {"5": 3, "10": 1}


# --- a store's day ----------------------------------------------------------------------------------------------


@pytest.fixture
def history(app):
    """Store PAR (Europe/Paris) on Tuesday 10 June 2025 (UTC+2: its day runs 9 June 22:00 to 10 June 22:00 UTC)."""
    store = make_location(code="PAR", timezone="Europe/Paris")
    a, b, c = make_product(sku="SKU-A"), make_product(sku="SKU-B"), make_product(sku="SKU-C")
    # Shipped: received 08:00, packed 09:30 (90 minutes, before its 10:00 ready-by), left 15:00 before the promise.
    f1 = fulfilment(
        store, (a, 2, 2), created_at=Z(2025, 6, 10, 8), ready_by=Z(2025, 6, 10, 10), promised_by=Z(2025, 6, 10, 16)
    )
    event("fulfilment.accepted", f1, Z(2025, 6, 10, 8, 10))
    event("fulfilment.picked", f1, Z(2025, 6, 10, 9))
    event("fulfilment.packed", f1, Z(2025, 6, 10, 9, 30))
    event("fulfilment.shipped", f1, Z(2025, 6, 10, 15))
    # Click & collect: one unit of three short, on the shelf at 09:20 (140 minutes, after its 09:00 ready-by),
    # collected four hours later, after the promised noon.
    f2 = fulfilment(
        store,
        (b, 3, 2, 1),
        method="collect",
        created_at=Z(2025, 6, 10, 7),
        ready_by=Z(2025, 6, 10, 9),
        promised_by=Z(2025, 6, 10, 12),
    )
    event("fulfilment.accepted", f2, Z(2025, 6, 10, 7, 5))
    event("fulfilment.short", f2, Z(2025, 6, 10, 8, 30), sku="SKU-B", short=1, reason="cannot_find")
    event("fulfilment.picked", f2, Z(2025, 6, 10, 8, 40))
    event("fulfilment.ready_for_pickup", f2, Z(2025, 6, 10, 9, 20))
    db.session.add(
        Pickup(
            fulfilment_id=f2.id,
            location_id=store.id,
            ready_at=Z(2025, 6, 10, 9, 20),
            collected_at=Z(2025, 6, 10, 13, 20),
            is_open=False,
        )
    )
    event("fulfilment.collected", f2, Z(2025, 6, 10, 13, 20))
    # Rejected as out of stock.
    f3 = fulfilment(store, (c, 1, 0), created_at=Z(2025, 6, 10, 10))
    event("fulfilment.rejected", f3, Z(2025, 6, 10, 10, 5), reason="out_of_stock", status="rejected")
    # Received at 23:30 local on the 9th, accepted at 00:30 local on the 10th.
    f4 = fulfilment(store, (a, 1, 0), created_at=Z(2025, 6, 9, 21, 30))
    event("fulfilment.accepted", f4, Z(2025, 6, 9, 22, 30))
    # A hold that ran out at 23:59 local; an event a minute later belongs to the 11th.
    f5 = fulfilment(store, (a, 1, 1), method="collect", created_at=Z(2025, 6, 8, 9))
    event("fulfilment.expired", f5, Z(2025, 6, 10, 21, 59))
    event("fulfilment.accepted", f5, Z(2025, 6, 10, 22, 0))  # (not a real sequence: only its day matters)
    received_return(store, f1.order.lines[0], Z(2025, 6, 10, 12), ("too_small", 1), ("damaged", 2))
    # Another store's work is not counted here.
    other = make_location(code="LYO", timezone="Europe/Paris")
    f6 = fulfilment(other, (a, 5, 5), created_at=Z(2025, 6, 10, 9))
    event("fulfilment.accepted", f6, Z(2025, 6, 10, 9, 1))
    return store


def test_each_figure_of_a_stores_day(history):
    row = reports.rollup_day(history, date(2025, 6, 10))
    assert (row.received, row.ordered_units) == (3, 6)
    assert (row.accepted, row.rejected, row.rejected_reasons) == (3, 1, {"out_of_stock": 1})
    assert (row.picked_lines, row.picked_units, row.short_units, row.short_products) == (2, 4, 1, {"SKU-B": 1})
    assert (row.ready, row.on_time_ready, row.late_ready) == (2, 1, 1)
    assert row.ready_minutes == {"90": 1, "120": 1}
    assert row.collect_ready_minutes == {"120": 1}
    assert (row.promised, row.on_time_promised) == (2, 1)
    assert (row.shipped, row.collected, row.expired) == (1, 1, 1)
    assert row.collection_minutes == {"240": 1}
    assert (row.returns, row.returned_units, row.return_reasons) == (1, 3, {"too_small": 1, "damaged": 2})

    [day] = reports.daily_rows([history], date(2025, 6, 10), date(2025, 6, 10))
    assert day["date"] == date(2025, 6, 10) and day["location"] == "PAR"
    assert day["acceptance_rate"] == 0.75 and day["rejection_rate"] == 0.25
    assert day["fill_rate"] == 0.8 and day["short_pick_rate"] == 0.2
    assert day["on_time_rate"] == 0.5 and day["promised_on_time_rate"] == 0.5
    assert day["no_show_rate"] == 0.5
    assert day["median_minutes_to_ready"] == 120.0  # the first of two, at the top of its 90-120 bucket
    assert day["p90_minutes_to_ready"] == 168.0  # 80 % into 120-180
    assert day["median_minutes_to_collection"] == 300.0  # 240-360, halfway
    assert day["returns_rate"] == 0.5  # one return for two orders that left


def test_the_days_around_are_apart_and_a_day_without_a_row_is_zeros(history):
    before = reports.rollup_day(history, date(2025, 6, 9))
    after = reports.rollup_day(history, date(2025, 6, 11))
    assert (before.received, before.accepted) == (1, 0)  # f4, received at 23:30 local
    assert (after.accepted, after.expired) == (1, 0)
    rows = reports.daily_rows([history], date(2025, 6, 12), date(2025, 6, 13))
    assert [r["date"] for r in rows] == [date(2025, 6, 12), date(2025, 6, 13)]
    assert rows[0]["received"] == 0 and rows[0]["fill_rate"] is None and rows[0]["median_minutes_to_ready"] is None


def test_a_rollup_run_twice_gives_the_same_row(history):
    first = reports.rollup_day(history, date(2025, 6, 10))
    figures = {c.name: getattr(first, c.name) for c in LocationDay.__table__.columns if c.name != "updated_at"}
    db.session.commit()
    again = reports.rollup_day(history, date(2025, 6, 10))
    assert {c: getattr(again, c) for c in figures} == figures
    assert db.session.scalar(select(func.count()).select_from(LocationDay)) == 1


def test_summaries_sum_the_days_and_merge_the_histograms(history):
    reports.backfill(history, date(2025, 6, 9), date(2025, 6, 11))
    [total] = reports.summary([history], date(2025, 6, 9), date(2025, 6, 11), grain="total")
    assert (total["received"], total["accepted"], total["first"], total["last"]) == (
        4,
        4,
        date(2025, 6, 9),
        date(2025, 6, 11),
    )
    assert total["median_minutes_to_ready"] == 120.0
    weeks = reports.summary([history], date(2025, 6, 1), date(2025, 6, 30), grain="week")
    assert [w["period"] for w in weeks] == [
        date(2025, 5, 26),
        date(2025, 6, 2),
        date(2025, 6, 9),
        date(2025, 6, 16),
        date(2025, 6, 23),
        date(2025, 6, 30),
    ]
    assert weeks[2]["received"] == 4 and weeks[1]["received"] == 0
    assert weeks[0]["first"] == date(2025, 6, 1)  # the range starts on a Sunday
    [month] = reports.summary([history], date(2025, 6, 1), date(2025, 6, 30), grain="month")
    assert month["period"] == date(2025, 6, 1) and month["shipped"] == 1
    other = db.session.scalar(select(LocationDay.location_id).where(LocationDay.location_id != history.id))
    assert other is None  # only PAR was rolled up
    by_store = reports.summary([history], date(2025, 6, 10), date(2025, 6, 10), by_location=True)
    assert [(r["location"], r["received"]) for r in by_store] == [("PAR", 3)]


# --- the store's time zone across the changes of clocks ----------------------------------------------------------


def test_the_day_clocks_go_forward_has_23_hours_and_the_day_they_go_back_25(app):
    store = make_location(code="PDST", timezone="Europe/Paris")
    start, end = reports.day_window(store, date(2025, 3, 30))
    assert (start, end - start) == (Z(2025, 3, 29, 23), timedelta(hours=23))
    start, end = reports.day_window(store, date(2025, 10, 26))
    assert (start, end - start) == (Z(2025, 10, 25, 22), timedelta(hours=25))
    product = make_product()
    # 23:59 local on the 29th, 00:00 and 23:59 local on the 30th (CET then CEST), 00:00 local on the 31st.
    for at in (Z(2025, 3, 29, 22, 59), Z(2025, 3, 29, 23), Z(2025, 3, 30, 21, 59), Z(2025, 3, 30, 22)):
        fulfilment(store, (product, 1, 0), created_at=at)
    # 00:00 local on the 26th October (CEST), 23:30 local (CET), and 00:00 local on the 27th.
    for at in (Z(2025, 10, 25, 22), Z(2025, 10, 26, 22, 30), Z(2025, 10, 26, 23)):
        fulfilment(store, (product, 1, 0), created_at=at)
    reports.backfill(store, date(2025, 3, 29), date(2025, 3, 31))
    reports.backfill(store, date(2025, 10, 25), date(2025, 10, 27))
    rows = {r["date"]: r["received"] for r in reports.daily_rows([store], date(2025, 3, 29), date(2025, 3, 31))}
    assert rows == {date(2025, 3, 29): 1, date(2025, 3, 30): 2, date(2025, 3, 31): 1}
    rows = {r["date"]: r["received"] for r in reports.daily_rows([store], date(2025, 10, 25), date(2025, 10, 27))}
    assert rows == {date(2025, 10, 25): 0, date(2025, 10, 26): 2, date(2025, 10, 27): 1}


def test_the_hour_that_happens_twice_counts_twice_for_the_associate(app):
    store = make_location(code="PDS2", timezone="Europe/Paris")
    picker = make_user([store])
    scan(store, picker, Z(2025, 10, 26, 0, 30))  # 02:30 CEST
    scan(store, picker, Z(2025, 10, 26, 1, 30))  # 02:30 CET, an hour later
    [row] = reports.rollup_associates(store, date(2025, 10, 26))
    assert (row.active_minutes, row.hourly_minutes, row.hourly_units) == (10, {"2": 10}, {"2": 2})


# --- an associate's day -----------------------------------------------------------------------------------------


def test_each_figure_of_an_associates_day(app):
    store = make_location(code="ASC", timezone="Europe/Paris")
    picker, counter = make_user([store]), make_user([store])
    product = make_product(sku="SKU-P")
    work = fulfilment(store, (product, 4, 2), created_at=Z(2025, 6, 10, 7))
    line = work.lines[0]
    scan(store, picker, Z(2025, 6, 10, 8, 1), line=line)
    scan(store, picker, Z(2025, 6, 10, 8, 2), line=line)
    scan(store, picker, Z(2025, 6, 10, 8, 3), line=line, undone=True)  # taken back: no unit
    scan(store, picker, Z(2025, 6, 10, 8, 7), outcome="wrong_product", quantity=0)
    scan(store, picker, Z(2025, 6, 10, 8, 20), purpose="pack", outcome="packed", line=line)
    event("fulfilment.short", work, Z(2025, 6, 10, 8, 6), user=picker, sku="SKU-P", short=2)
    other = fulfilment(store, (product, 1, 0), created_at=Z(2025, 6, 10, 7))
    event("fulfilment.rejected", other, Z(2025, 6, 10, 8, 21), user=picker, reason="damaged")
    collect = fulfilment(store, (product, 1, 1), method="collect", created_at=Z(2025, 6, 9, 7))
    event("pickup.collected", collect, Z(2025, 6, 10, 15), user=counter)
    event("fulfilment.collected", collect, Z(2025, 6, 10, 15), user=counter)
    rows = {r.user_id: r for r in reports.rollup_associates(store, date(2025, 6, 10))}
    p = rows[picker.id]
    assert (p.scans, p.misscans, p.picked_lines, p.picked_units, p.packed_units) == (5, 1, 1, 2, 1)
    assert (p.short_units, p.rejections, p.handovers) == (2, 1, 0)
    assert p.active_minutes == 15  # the slots from 08:00, 08:05 and 08:20 UTC
    assert (p.hourly_units, p.hourly_minutes) == ({"10": 3}, {"10": 15})  # 10:00 in Paris
    c = rows[counter.id]
    assert (c.handovers, c.scans, c.active_minutes, c.hourly_minutes) == (1, 0, 5, {"17": 5})

    [person] = [
        r for r in reports.associate_rows([store], date(2025, 6, 10), date(2025, 6, 10)) if r["user_id"] == picker.id
    ]
    assert person["units_per_hour"] == 12.0  # 3 units in a quarter of an hour
    assert person["lines_per_hour"] == 4.0
    assert person["misscans_per_100"] == 20.0
    assert person["short_pick_rate"] == 0.5
    [team] = reports.team_rows([store], date(2025, 6, 10), date(2025, 6, 10))
    assert (team["user_id"], team["handovers"], team["active_minutes"]) == (None, 1, 20)

    # Rolled up again once the scans are gone (a mistaken import, say): the row goes too.
    db.session.execute(Scan.__table__.delete())
    db.session.execute(AuditEvent.__table__.delete().where(AuditEvent.actor_user_id == picker.id))
    again = reports.rollup_associates(store, date(2025, 6, 10))
    assert [r.user_id for r in again] == [counter.id]
    assert db.session.scalar(select(func.count()).select_from(AssociateDay)) == 1


# --- through the core -------------------------------------------------------------------------------------------


def test_the_audit_actions_the_core_writes_are_the_ones_counted(app):
    store = make_location(code="CORE", timezone="Europe/Rome")
    product = stocked(store, make_product(), 10)
    order, _ = orders.create_order(ship_draft((product, 3)), actor=ACTOR)
    made = orders.assign_fulfilment(order, store, {line: line.quantity for line in order.lines}, actor=ACTOR)
    for status in ("accepted", "picking", "picked", "packed", "shipped"):
        orders.transition(made, status, actor=ACTOR)
    db.session.commit()
    today = reports.local_day(store, utcnow())
    reports.backfill(store, today - timedelta(days=1), today)  # what the store did is on one of these two days
    [row] = reports.summary([store], today - timedelta(days=1), today, grain="total")
    assert (row["received"], row["ordered_units"], row["accepted"], row["picked_units"]) == (1, 3, 1, 3)
    assert (row["ready"], row["on_time_ready"], row["shipped"], row["fill_rate"]) == (1, 1, 1, 1.0)


def test_the_worker_rolls_up_today_and_yesterday_then_only_what_changed(app):
    store = make_location(code="WRK", timezone="Europe/Paris")
    product = make_product()
    now = Z(2025, 6, 10, 12)
    fulfilment(store, (product, 2, 0), created_at=Z(2025, 6, 10, 9))
    db.session.commit()
    assert reports.refresh(now=now) == 2  # yesterday and today, never rolled up
    assert reports.daily_rows([store], date(2025, 6, 10), date(2025, 6, 10))[0]["received"] == 1
    assert reports.refresh(now=now + timedelta(minutes=5)) == 0  # nothing new
    fulfilment(store, (product, 1, 0), created_at=now + timedelta(minutes=6))
    db.session.commit()
    assert reports.refresh(now=now + timedelta(minutes=6, seconds=30)) == 0  # rolled up less than a minute ago...
    # ... (the rows were written at the real time: pretend they are older)
    db.session.execute(LocationDay.__table__.update().values(updated_at=now))
    db.session.commit()
    assert reports.refresh(now=now + timedelta(minutes=7)) == 1
    assert reports.daily_rows([store], date(2025, 6, 10), date(2025, 6, 10))[0]["received"] == 2
    assert worker.run_once(now=now + timedelta(minutes=8))["reports"] == 0


# --- CSV --------------------------------------------------------------------------------------------------------


def _read(body: bytes, delimiter: str):
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))


def test_csv_in_french_has_semicolons_a_decimal_comma_and_french_titles(history):
    reports.rollup_day(history, date(2025, 6, 10))
    rows = reports.daily_rows([history], date(2025, 6, 10), date(2025, 6, 10))
    columns = list(reports.CSV_FIELDS)
    table = _read(rows_to_csv(rows, columns, language="fr", translated_headers=True), ";")
    assert len(table) == 2
    header, line = table
    assert header[0] == "Date" and header[1] == "Magasin"
    values = dict(zip(columns, line, strict=True))
    assert values["fill_rate"] == "0,8" and values["median_minutes_to_ready"] == "120"
    assert values["p90_minutes_to_ready"] == "168" and values["acceptance_rate"] == "0,75"
    assert values["date"] == "2025-06-10" and values["received"] == "3"
    machine = _read(rows_to_csv(rows, columns, language="it"), ";")
    assert machine[0] == columns


def test_csv_in_english_has_commas_and_a_decimal_point(history):
    reports.rollup_day(history, date(2025, 6, 10))
    rows = reports.daily_rows([history], date(2025, 6, 10), date(2025, 6, 10))
    columns = [*reports.CSV_FIELDS, "rejected_reasons"]
    header, line = _read(rows_to_csv(rows, columns, language="en", translated_headers=True), ",")
    assert header[1] == "Store" and header[2] == "Orders received"
    values = dict(zip(columns, line, strict=True))
    assert values["fill_rate"] == "0.8" and values["no_show_rate"] == "0.5"
    assert values["rejected_reasons"] == "out_of_stock: 1"
    assert values["promised_on_time_rate"] == "0.5" and values["shipped"] == "1"
