from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.errors import InvalidInput
from app.core.floor import carriers
from app.core.models import AuditEvent, Carrier, ShippingLabel
from app.extensions import db
from tests.core.test_packing import finished, picked_fulfilment
from tests.factories import ACTOR

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _carrier(code):
    carriers.ensure_builtin_carriers()
    return db.session.scalar(select(Carrier).where(Carrier.code == code))


def test_s10_check_digits_match_known_valid_numbers():
    # RR123456785FR is the UPU's own example: 1*8+2*6+3*4+4*2+5*3+6*5+7*9+8*7 = 204, 11 - 204 % 11 = 5.
    assert carriers.s10_check_digit("12345678") == 5
    cx = Carrier(code="RR", name="RR", tracking_format="s10", tracking_prefix="RR", tracking_suffix="FR")
    assert carriers.validate_tracking(cx, "RR123456785FR")
    assert not carriers.validate_tracking(cx, "RR123456784FR")
    assert not carriers.validate_tracking(cx, "RR123456785IT")
    assert not carriers.validate_tracking(cx, "XX123456785FR")
    assert carriers.format_tracking(cx, 12345678) == "RR123456785FR"


@pytest.mark.parametrize(
    ("serial", "check"),
    [
        ("00000000", 5),  # sum 0: 11 - 0 = 11 -> 5
        ("00060000", 0),  # sum 6*2 = 12: 11 - 1 = 10 -> 0
        ("47312482", 9),  # sum 200: 11 - 2 = 9
        ("00000001", 4),  # sum 7: 11 - 7 = 4
    ],
)
def test_s10_check_digit_ten_becomes_zero_and_eleven_becomes_five(serial, check):
    assert carriers.s10_check_digit(serial) == check


def test_luhn_numbers_carry_a_valid_check_digit():
    assert carriers.luhn_check_digit("7992739871") == 3  # the textbook example 79927398713
    assert carriers.luhn_valid("79927398713")
    assert not carriers.luhn_valid("79927398710")
    cl = Carrier(code="CL", name="CL", tracking_format="luhn", tracking_prefix="39", tracking_suffix="")
    number = carriers.format_tracking(cl, 42)
    assert number == "390000000042" + str(carriers.luhn_check_digit("390000000042"))
    assert carriers.validate_tracking(cl, number)
    assert not carriers.validate_tracking(cl, number[:-1] + str((int(number[-1]) + 1) % 10))


def test_builtin_carriers_are_created_once(app):
    first = carriers.ensure_builtin_carriers()
    again = carriers.ensure_builtin_carriers()
    assert [c.id for c in first] == [c.id for c in again]
    cx = _carrier("CX")
    assert (cx.name, cx.tracking_format, cx.max_weight_grams) == ("Comptoir Express", "s10", 30000)
    assert [(s.name, s.price, s.transit_days) for s in cx.services] == [
        ("Standard 48h", Decimal("4.90"), 2),
        ("Express 24h", Decimal("8.90"), 1),
    ]
    assert _carrier("CL").tracking_format == "luhn"


def test_serials_go_up_and_every_number_validates(app):
    cx = _carrier("CX")
    numbers = [carriers.next_tracking_number(cx) for _ in range(3)]
    assert numbers == ["CX000000014FR", "CX000000028FR", "CX000000031FR"]
    assert all(carriers.validate_tracking(cx, n) for n in numbers)
    cl = _carrier("CL")
    assert carriers.validate_tracking(cl, carriers.next_tracking_number(cl))


def test_a_voided_number_is_issued_again_before_a_new_serial(app):
    fulfilment = finished(picked_fulfilment())
    label = fulfilment.parcels[0].label
    carrier = label.carrier
    from app.core.floor import packing

    packing.void_label(label, actor=ACTOR)
    assert carriers.next_tracking_number(carrier) == label.tracking_number
    new = packing.relabel(fulfilment.parcels[0], actor=ACTOR)
    assert new.tracking_number == label.tracking_number
    assert new.id != label.id
    # Now in force again: the next number is a new serial.
    assert carriers.next_tracking_number(carrier) != label.tracking_number
    active = db.session.scalars(select(ShippingLabel).where(ShippingLabel.status == "active")).all()
    assert len(active) == 1


def _service(code, service_code):
    return next(s for s in _carrier(code).services if s.code == service_code)


def test_without_a_promise_the_cheapest_service_that_takes_the_weight(app):
    fulfilment = picked_fulfilment()
    assert carriers.choose_service(fulfilment, 1000, MONDAY) == _service("CX", "STD")
    # Over 20 kg Corriere Locale is out; over 30 kg nothing fits.
    assert carriers.choose_service(fulfilment, 25_000, MONDAY).carrier.code == "CX"
    with pytest.raises(carriers.NoService) as error:
        carriers.choose_service(fulfilment, 31_000, MONDAY)
    assert error.value.params == {"weight": 31_000}


def test_a_promised_date_picks_the_cheapest_service_that_makes_it(app):
    fulfilment = picked_fulfilment()
    fulfilment.order.promised_by = datetime(2025, 3, 5, 18, 0, tzinfo=UTC)  # Wednesday: 2 working days
    assert carriers.choose_service(fulfilment, 1000, MONDAY) == _service("CX", "STD")
    fulfilment.order.promised_by = datetime(2025, 3, 4, 18, 0, tzinfo=UTC)  # Tuesday: next day only
    assert carriers.choose_service(fulfilment, 1000, MONDAY) == _service("CX", "EXP")


def test_transit_days_skip_the_weekend(app):
    friday = datetime(2025, 3, 7, 9, 0, tzinfo=UTC)
    assert carriers.add_business_days(friday.date(), 1).isoformat() == "2025-03-10"
    assert carriers.add_business_days(friday.date(), 2).isoformat() == "2025-03-11"
    fulfilment = picked_fulfilment()
    fulfilment.order.promised_by = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)  # Monday after
    assert carriers.choose_service(fulfilment, 1000, friday) == _service("CX", "EXP")


def test_when_no_service_makes_the_date_the_fastest_that_fits(app):
    fulfilment = picked_fulfilment()
    fulfilment.order.promised_by = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # today: impossible
    chosen = carriers.choose_service(fulfilment, 1000, MONDAY)
    assert chosen.transit_days == 1
    assert chosen == _service("CX", "EXP")  # the cheaper of the two next-day services
    fulfilment.order.promised_by = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    assert carriers.choose_service(fulfilment, 22_000, MONDAY) == _service("CX", "EXP")


def test_inactive_services_are_not_chosen(app):
    fulfilment = picked_fulfilment()
    carriers.update_service(_service("CX", "STD"), {"active": False}, actor=ACTOR)
    assert carriers.choose_service(fulfilment, 1000, MONDAY) == _service("CL", "STD")


def test_carrier_settings_are_validated_all_or_nothing_and_audited(app):
    cx = _carrier("CX")
    with pytest.raises(InvalidInput) as error:
        carriers.update_carrier(cx, {"name": "New name", "max_weight_grams": 0, "tracking_prefix": "C1"}, actor=ACTOR)
    assert set(error.value.fields) == {"max_weight_grams", "tracking_prefix"}
    db.session.expire_all()
    assert cx.name == "Comptoir Express"
    carriers.update_carrier(cx, {"name": "CX Colis", "max_weight_grams": "25000", "tracking_prefix": "cy"}, actor=ACTOR)
    assert (cx.name, cx.max_weight_grams, cx.tracking_prefix) == ("CX Colis", 25000, "CY")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "carrier.settings"))
    assert event.before["name"] == "Comptoir Express"
    assert event.after["tracking_prefix"] == "CY"
    with pytest.raises(InvalidInput) as error:
        carriers.update_carrier(cx, {"tracking_format": "luhn"}, actor=ACTOR)  # "CY" is not digits
    assert "tracking_prefix" in error.value.fields
    carriers.update_carrier(
        cx, {"tracking_format": "luhn", "tracking_prefix": "77", "tracking_suffix": ""}, actor=ACTOR
    )
    assert carriers.validate_tracking(cx, carriers.next_tracking_number(cx))


def test_adding_a_service_checks_every_field(app):
    cx = _carrier("CX")
    with pytest.raises(InvalidInput) as error:
        carriers.add_service(
            cx,
            {"code": "STD", "name": "", "price": "-1", "transit_days": "99", "max_weight_grams": "x"},
            actor=ACTOR,
        )
    assert set(error.value.fields) == {"code", "name", "price", "transit_days", "max_weight_grams"}
    service = carriers.add_service(
        cx,
        {"code": "sat", "name": "Samedi", "price": "12,50", "transit_days": "1", "max_weight_grams": "5000"},
        actor=ACTOR,
    )
    assert (service.code, service.price, service.max_weight_grams) == ("SAT", Decimal("12.50"), 5000)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "carrier.add_service")) is not None
