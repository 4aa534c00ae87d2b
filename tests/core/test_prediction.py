"""Predicted lateness on scripted histories: the store's pace by hour of day, who is working, the walk through the
open work, the reason in words, the levers, the stored predictions and how good they were."""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.core.models import (
    AssociateDay,
    AuditEvent,
    Carrier,
    CarrierCollection,
    Fulfilment,
    FulfilmentLine,
    LatenessPrediction,
    Order,
    OrderLine,
    Pickup,
    Scan,
)
from app.core.reports import prediction
from app.core.reports.prediction import DEFAULT_PACE, Pace, Worker
from app.extensions import db
from tests.factories import make_location, make_product, make_user, random_ref

PARIS = ZoneInfo("Europe/Paris")
LONG_HOURS = {day: [["09:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in March 2025 on a Paris store's clock (CET, UTC+1), as UTC."""
    return datetime(2025, 3, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


NOW = local(11, 15)  # Tuesday 11 March 2025, 15:00 in Paris


def _order_work(store, quantity: int, ready_by: datetime, *, status="accepted", method="ship", picked=0, product=None):
    product = product or make_product()
    order = Order(
        channel="web",
        external_ref=random_ref("W-"),
        fingerprint=uuid.uuid4().hex,
        customer_name="Léa Martin",
        delivery_method=method,
        pickup_location_id=store.id if method == "collect" else None,
    )
    line = OrderLine(line_no=1, product=product, quantity=quantity)
    order.lines.append(line)
    fulfilment = Fulfilment(location_id=store.id, status=status, ready_by=ready_by, accept_by=ready_by)
    fulfilment.lines.append(FulfilmentLine(order_line=line, product_id=product.id, quantity=quantity, picked=picked))
    order.fulfilments.append(fulfilment)
    db.session.add(order)
    db.session.flush()
    return fulfilment


def _history(store):
    """Two weeks ago one associate's day: 60 units/h at 10:00, 38 units/h from 15:00 to 19:59."""
    user = make_user([store])
    hours = range(15, 20)
    db.session.add(
        AssociateDay(
            location_id=store.id,
            day=date(2025, 2, 25),
            user_id=user.id,
            hourly_units={"10": 120, **{str(h): 76 for h in hours}},
            hourly_minutes={"10": 120, **{str(h): 120 for h in hours}},
        )
    )
    db.session.flush()


def _scan(store, user, moment: datetime, quantity=1, purpose="pick"):
    db.session.add(
        Scan(
            client_id=uuid.uuid4().hex,
            location_id=store.id,
            user_id=user.id,
            purpose=purpose,
            code="x",
            outcome="counted",
            quantity=quantity,
            details={},
            created_at=moment,
        )
    )


def _team(store, people: int, now=NOW):
    """`people` associates, each with a scan at the store a few minutes ago."""
    users = [make_user([store], name=f"Associate {i}") for i in range(people)]
    for i, user in enumerate(users):
        _scan(store, user, now - timedelta(minutes=3 + i))
    db.session.flush()
    return users


def _cutoff(store, at=time(19, 0)):
    carrier = Carrier(code=random_ref()[:8], name="Comptoir Express")
    db.session.add(carrier)
    db.session.flush()
    db.session.add(CarrierCollection(location_id=store.id, carrier_id=carrier.id, collect_at=at))
    db.session.flush()


def test_pace_by_local_hour_of_day_from_the_associates_days(app):
    store = make_location(opening_hours=LONG_HOURS)
    _history(store)
    pace = prediction.pace(store, NOW)
    assert pace.source == "days" and not pace.default
    assert pace.at(10) == pytest.approx(60)
    assert [round(pace.at(h), 6) for h in range(15, 20)] == [38] * 5
    # an hour with no measured time takes the store's overall pace: 500 units in 720 minutes
    assert pace.at(3) == pytest.approx(500 * 60 / 720)
    # older than the weeks asked for: not counted
    assert prediction.pace(store, NOW, weeks=1).default


def test_pace_falls_back_to_raw_scans_then_to_a_flagged_default(app):
    store = make_location()
    assert prediction.pace(store, NOW) == Pace({h: DEFAULT_PACE for h in range(24)}, DEFAULT_PACE, "default")
    user = make_user([store])
    # 10:00-10:34 on 5 March: 7 five-minute slots, 28 units picked, 7 packed; an undone scan does not count
    for minute in range(0, 35, 5):
        _scan(store, user, local(5, 10, minute), quantity=4)
        _scan(store, user, local(5, 10, minute + 1), quantity=1, purpose="pack")
    _scan(store, user, local(5, 10, 2), quantity=50)
    db.session.flush()
    db.session.scalars(select(Scan).where(Scan.quantity == 50)).one().undone_at = local(5, 10, 3)
    pace = prediction.pace(store, NOW)
    assert pace.source == "scans"
    assert pace.at(10) == pytest.approx(35 * 60 / 35)  # 35 units in 35 active minutes: 60/h
    assert pace.overall == pytest.approx(60)


def test_staff_now_counts_scans_here_and_members_actions_in_the_last_30_minutes(app):
    store, other = make_location(), make_location()
    scanning, acting, earlier, elsewhere = (make_user([store], name=n) for n in ("Ana", "Bea", "Cid", "Dan"))
    outsider = make_user([other], name="Eve")
    _scan(store, scanning, NOW - timedelta(minutes=5))
    _scan(store, earlier, NOW - timedelta(minutes=40))
    _scan(other, elsewhere, NOW - timedelta(minutes=2))
    for user, minutes in ((acting, 10), (outsider, 1)):
        db.session.add(
            AuditEvent(
                actor_user_id=user.id,
                actor=user.email,
                action="pick.scan",
                subject_type="pick_list",
                subject_id="1",
                created_at=NOW - timedelta(minutes=minutes),
            )
        )
    db.session.flush()
    staff = prediction.staff_now(store, NOW)
    assert [(w.name, w.last_seen) for w in staff] == [
        ("Ana", NOW - timedelta(minutes=5)),
        ("Bea", NOW - timedelta(minutes=10)),
    ]


def test_a_store_that_keeps_up_flags_nothing(app):
    store = make_location(opening_hours=LONG_HOURS)
    _history(store)
    _cutoff(store)
    _team(store, 3)
    due = local(11, 19)
    work = [_order_work(store, 5, due) for _ in range(10)]  # 100 units to pick and pack: 53 minutes at 114/h
    forecast = prediction.predict(store, NOW)
    assert len(forecast.staff) == 3 and forecast.pace_now == 38
    assert [p.fulfilment.id for p in forecast.predictions] == [f.id for f in work]
    assert forecast.predictions[-1].ready_at == local(11, 15, 53)  # 100/114 h = 52.6 min, to the next minute
    assert not forecast.flagged and not forecast.reasons and not forecast.levers
    assert forecast.extra_people is None


def _late_store():
    """3 associates at 38 units/h from 15:00; two orders due at 17:00 (43 units each, 172 to pick and pack), then
    twelve due at 19:00 (15 units each, 30 to pick and pack), and the van at 19:00."""
    store = make_location(opening_hours=LONG_HOURS)
    _history(store)
    _cutoff(store)
    _team(store, 3)
    first = [_order_work(store, 43, local(11, 17)) for _ in range(2)]
    last = [_order_work(store, 15, local(11, 19)) for _ in range(12)]
    return store, first, last


def test_a_store_that_will_be_late_is_flagged_with_the_reason_and_the_levers(app):
    store, first, last = _late_store()
    forecast = prediction.predict(store, NOW)
    by_id = {p.fulfilment.id: p for p in forecast.predictions}
    # 172 units at 114/h: 16:31 (1.509 h), before the 17:00 ready-by
    assert by_id[first[-1].id].ready_at == local(11, 16, 31) and not by_id[first[-1].id].flagged
    # 456 units fit before 19:00; the tenth 30-unit order ends at 472: 19:09; the twelfth at 532: 19:40
    assert [by_id[f.id].ready_at for f in last[-3:]] == [local(11, 19, 9), local(11, 19, 25), local(11, 19, 40)]
    assert [by_id[f.id].flagged for f in last] == [False] * 9 + [True] * 3
    late = forecast.flagged
    assert all(p.late and p.misses_cutoff and not p.overdue for p in late)
    assert forecast.reasons == [
        prediction.Reason("cutoff", 3, 38, 3, local(11, 19, 40), local(11, 19)),
    ]
    clock = prediction.english_clock(store, NOW)
    assert prediction.reason_text(late[0].reason, clock) == (
        "3 associates at 38 units/h: the last 3 orders finish at 19:40, after the 19:00 carrier cut-off"
    )
    # one more person (4 x 38 = 152/h) finishes the 532 units by 18:30
    assert forecast.extra_people == 1
    assert forecast.levers == ["pause_ship", "reroute", "call_in"]


def test_the_walk_follows_the_pace_of_each_hour_and_stops_while_the_store_is_closed(app):
    store = make_location()  # 09:00-19:00, Monday to Saturday
    now = local(12, 18, 30)  # Wednesday 18:30
    pace = Pace({18: 40.0, 9: 20.0}, 30.0, "days")
    waiting = _order_work(store, 30, local(13, 12), method="collect")  # picked where collected: no packing
    forecast = prediction.predict(store, now, staff=[Worker(1, "Ana", now)], pace_=pace)
    # 20 units by 19:00 at 40/h, then 10 more from Thursday 09:00 at 20/h
    assert forecast.predictions[0].fulfilment.id == waiting.id
    assert forecast.predictions[0].units_left == 30
    assert forecast.predictions[0].ready_at == local(13, 9, 30)
    assert not forecast.flagged


def test_nobody_working_flags_the_work_and_says_how_many_to_call_in(app):
    store = make_location(opening_hours=LONG_HOURS)
    _history(store)
    _order_work(store, 10, local(11, 16), status="picking", picked=4)  # 6 to pick + 10 to pack
    forecast = prediction.predict(store, NOW)
    assert forecast.predictions[0].units_left == 16
    assert forecast.predictions[0].ready_at is None and forecast.predictions[0].late
    assert forecast.reasons == [prediction.Reason("nobody", 0, 38, 1, None, None)]
    assert prediction.reason_text(forecast.reasons[0], prediction.english_clock(store, NOW)) == (
        "Nobody has worked here in the last 30 minutes: 1 order is waiting to be picked or packed."
    )
    assert forecast.extra_people == 1
    assert forecast.levers == ["pause_ship", "call_in"]  # picking has started: it cannot be given back


def test_predictions_are_kept_at_most_once_per_fulfilment_every_ten_minutes(app):
    store, _first, _last = _late_store()
    assert prediction.record(prediction.predict(store, NOW)) == 14
    assert prediction.record(prediction.predict(store, NOW + timedelta(minutes=5))) == 0
    assert prediction.record(prediction.predict(store, NOW + timedelta(minutes=10))) == 14
    kept = db.session.scalars(
        select(LatenessPrediction).where(LatenessPrediction.made_at == NOW).order_by(LatenessPrediction.id)
    ).all()
    assert [row.late for row in kept] == [False] * 11 + [True] * 3
    assert (
        kept[-1].reason
        == "3 associates at 38 units/h: the last 3 orders finish at 19:40, after the 19:00 carrier cut-off"
    )
    assert db.session.scalar(select(func.count()).select_from(LatenessPrediction)) == 28


def test_accuracy_compares_predictions_with_when_the_orders_became_ready(app):
    store = make_location()
    packed = _order_work(store, 1, local(11, 17), status="packed")
    shelved = _order_work(store, 1, local(11, 18), status="ready_for_pickup", method="collect")
    still_open = _order_work(store, 1, local(11, 18))
    rows = [
        (packed, local(11, 17, 30), local(11, 17), True),  # said late by 30 min
        (shelved, local(11, 16), local(11, 18), False),  # said on time
        (still_open, local(11, 16), local(11, 18), False),  # not ready yet: not judged
    ]
    for fulfilment, predicted, deadline, late in rows:
        db.session.add(
            LatenessPrediction(
                fulfilment_id=fulfilment.id,
                location_id=store.id,
                made_at=NOW,
                predicted_ready_at=predicted,
                deadline=deadline,
                late=late,
            )
        )
    db.session.add(
        AuditEvent(
            actor="test",
            action="fulfilment.packed",
            subject_type="fulfilment",
            subject_id=str(packed.id),
            created_at=local(11, 17, 20),
        )
    )
    db.session.add(Pickup(fulfilment_id=shelved.id, location_id=store.id, ready_at=local(11, 18, 30), refused=[]))
    db.session.flush()
    result = prediction.accuracy(store, NOW - timedelta(hours=1), keep=True)  # the worker keeps what it learns
    # packed at 17:20, after 17:00: late, as said (10 min off); shelved at 18:30, after 18:00: said on time (150 off)
    assert (result.judged, result.right, result.share_right) == (2, 1, 0.5)
    assert result.mean_error_minutes == 80.0
    filled = db.session.scalar(select(LatenessPrediction).where(LatenessPrediction.fulfilment_id == packed.id))
    assert filled.actual_ready_at.replace(tzinfo=UTC) == local(11, 17, 20)
    # Read again, what was learnt is summed by the database: the same answer.
    again = prediction.accuracy(store, NOW - timedelta(hours=1))
    assert (again.judged, again.right, again.mean_error_minutes) == (2, 1, 80.0)
    assert prediction.accuracy(store, NOW + timedelta(minutes=1)).judged == 0


def test_ready_moments_reads_the_audit_trail_from_the_given_moment_on(app):
    """The accuracy looks for when predicted orders became ready only from (an hour before) its earliest open
    prediction: a step before that moment is not read, one after it is."""
    store = make_location()
    packed = _order_work(store, 1, local(11, 17), status="packed")
    db.session.add(
        AuditEvent(
            actor="test",
            action="fulfilment.packed",
            subject_type="fulfilment",
            subject_id=str(packed.id),
            created_at=local(11, 17, 20),
        )
    )
    db.session.flush()
    assert prediction.ready_moments([packed.id], local(11, 17))[packed.id].replace(tzinfo=UTC) == local(11, 17, 20)
    assert prediction.ready_moments([packed.id], local(11, 17, 21)) == {}
    assert prediction.ready_moments([packed.id])[packed.id].replace(tzinfo=UTC) == local(11, 17, 20)
    # A prediction made at 18:00 is judged against the 17:20 step: within the hour's slack before it.
    db.session.add(
        LatenessPrediction(
            fulfilment_id=packed.id,
            location_id=store.id,
            made_at=local(11, 18),
            predicted_ready_at=local(11, 17, 30),
            deadline=local(11, 18),
            late=False,
        )
    )
    db.session.flush()
    assert prediction.accuracy(store, local(11, 17, 59)).judged == 1
