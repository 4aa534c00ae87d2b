"""Urgency follows the stage: the order's deadlines until packed, then the carrier's collection at the store."""

from datetime import UTC, datetime, time, timedelta

import pytest

from app.core.errors import InvalidInput
from app.core.floor import collection
from app.core.floor.urgency import deadline, urgency
from app.core.models import AuditEvent, CarrierCollection
from app.extensions import db
from tests.core.test_packing import finished, picked_fulfilment
from tests.factories import ACTOR

# Paris is UTC+1 in March: a 17:30 collection is 16:30 UTC.
COLLECT_AT = time(17, 30)


def _packed(collect_at=COLLECT_AT, ready_by=datetime(2025, 3, 10, 11, 0, tzinfo=UTC)):
    fulfilment = finished(picked_fulfilment(1))
    fulfilment.ready_by = ready_by
    carrier = fulfilment.parcels[0].label.carrier
    if collect_at is not None:
        collection.set_collection_time(fulfilment.location, carrier, collect_at, actor=ACTOR)
    return fulfilment


def _urgency(fulfilment, now):
    due = collection.collection_deadlines(fulfilment.location, [fulfilment]).get(fulfilment.id)
    return urgency(fulfilment, now, due)


def test_next_collection_is_today_before_the_cut_off_and_tomorrow_after_it():
    morning = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    assert collection.next_collection(COLLECT_AT, morning, "Europe/Paris") == datetime(2025, 3, 10, 16, 30, tzinfo=UTC)
    evening = datetime(2025, 3, 10, 17, 0, tzinfo=UTC)  # 18:00 in Paris: today's van has gone
    assert collection.next_collection(COLLECT_AT, evening, "Europe/Paris") == datetime(2025, 3, 11, 16, 30, tzinfo=UTC)
    naive = morning.replace(tzinfo=None)
    assert collection.next_collection(COLLECT_AT, naive, "Europe/Paris") == datetime(2025, 3, 10, 16, 30, tzinfo=UTC)


def test_a_packed_parcel_past_its_ready_by_is_not_late_before_the_collection(app):
    fulfilment = _packed()
    now = datetime(2025, 3, 10, 16, 0, tzinfo=UTC)  # 17:00 Paris, ready_by (12:00 Paris) long gone
    state, seconds = _urgency(fulfilment, now)
    assert state != "late"
    assert seconds == 30 * 60
    assert deadline(fulfilment, datetime(2025, 3, 10, 16, 30, tzinfo=UTC)) == datetime(2025, 3, 10, 16, 30, tzinfo=UTC)


def test_a_packed_parcel_still_in_the_store_after_the_collection_is_late(app):
    fulfilment = _packed()
    assert _urgency(fulfilment, datetime(2025, 3, 10, 16, 45, tzinfo=UTC)) == ("late", -15 * 60)


def test_a_parcel_due_after_todays_collection_waits_for_tomorrows(app):
    fulfilment = _packed(ready_by=datetime(2025, 3, 10, 17, 0, tzinfo=UTC))  # ready by 18:00, the van came at 17:30
    assert _urgency(fulfilment, datetime(2025, 3, 10, 20, 0, tzinfo=UTC))[0] != "late"
    assert _urgency(fulfilment, datetime(2025, 3, 11, 16, 31, tzinfo=UTC)) == ("late", -60)


def test_a_packed_parcel_without_a_collection_time_has_no_countdown(app):
    fulfilment = _packed(collect_at=None)
    assert collection.collection_deadlines(fulfilment.location, [fulfilment]) == {}
    assert _urgency(fulfilment, datetime(2025, 3, 12, 9, 0, tzinfo=UTC)) == ("ok", None)


@pytest.mark.parametrize("status", ["accepted", "picking", "picked"])
def test_work_before_packing_keeps_the_orders_ready_by(status):
    from types import SimpleNamespace

    t0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    work = SimpleNamespace(status=status, created_at=t0, accept_by=t0, ready_by=t0 + timedelta(hours=4))
    collect = t0 + timedelta(hours=10)
    assert deadline(work, collect) == t0 + timedelta(hours=4)
    assert urgency(work, t0 + timedelta(hours=5), collect) == ("late", -3600)


def test_collection_times_are_set_changed_cleared_and_audited(app):
    fulfilment = _packed(collect_at=None)
    store, carrier = fulfilment.location, fulfilment.parcels[0].label.carrier
    assert collection.set_collection_time(store, carrier, time(17, 0), actor=ACTOR) is True
    assert collection.set_collection_time(store, carrier, time(17, 0), actor=ACTOR) is False  # the same again
    assert collection.set_collection_time(store, carrier, time(18, 15), actor=ACTOR) is True
    assert (carrier, time(18, 15)) in collection.collection_times(store)
    assert collection.set_collection_time(store, carrier, None, actor=ACTOR) is True
    assert db.session.query(CarrierCollection).count() == 0
    events = db.session.query(AuditEvent).filter_by(action="location.collection_time").all()
    assert [e.after["collect_at"] for e in events] == ["17:00", "18:15", None]


@pytest.mark.parametrize("text", ["25:00", "17h30", "x" * 5000, "12:3"])
def test_a_collection_time_that_is_not_a_time_of_day_is_refused(text):
    with pytest.raises(InvalidInput):
        collection.parse_collection_time(text)


def test_a_blank_collection_time_clears_it():
    assert collection.parse_collection_time("  ") is None
    assert collection.parse_collection_time("07:05") == time(7, 5)
