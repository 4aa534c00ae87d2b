"""Carriers, their services and tracking numbers; which service a parcel goes by.

Built-in local carriers issue their own tracking numbers: UPU S10 (``CX123456785FR``: two letters,
eight digits, a mod-11 check digit, the country) or Luhn (digits with a Luhn check digit). A voided
label's number is freed and issued again before a new serial is used.
"""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, DomainError, InvalidInput
from app.core.models import Carrier, CarrierService, Fulfilment, LabelStatus, ShippingLabel
from app.core.models.base import utcnow
from app.extensions import db

FORMATS = ("s10", "luhn")
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
LUHN_SERIAL_DIGITS = 10
MAX_WEIGHT = 100_000  # grams: no parcel service takes more than 100 kg
MAX_TRANSIT_DAYS = 30
MAX_PRICE = Decimal("9999.99")
SERVICE_CODE = re.compile(r"^[A-Z0-9_-]{1,16}$")

BUILTIN = (
    {
        "code": "CX",
        "name": "Comptoir Express",
        "tracking_format": "s10",
        "tracking_prefix": "CX",
        "tracking_suffix": "FR",
        "max_weight_grams": 30_000,
        "services": (
            {"code": "STD", "name": "Standard 48h", "price": Decimal("4.90"), "transit_days": 2},
            {"code": "EXP", "name": "Express 24h", "price": Decimal("8.90"), "transit_days": 1},
        ),
    },
    {
        "code": "CL",
        "name": "Corriere Locale",
        "tracking_format": "luhn",
        "tracking_prefix": "39",
        "tracking_suffix": "",
        "max_weight_grams": 20_000,
        "services": (
            {"code": "STD", "name": "Standard", "price": Decimal("5.50"), "transit_days": 3},
            {"code": "EXP", "name": "Express", "price": Decimal("9.50"), "transit_days": 1},
        ),
    },
)


class NoService(DomainError):
    code = "no_service"
    http_status = 422
    message = N_("No carrier service takes a parcel of %(weight)s g.")


# --- tracking numbers ---------------------------------------------------------------------------


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an eight-digit serial (weights 8 6 4 2 3 5 9 7, mod 11)."""
    if len(serial) != 8 or not serial.isdigit():
        raise ValueError("an S10 serial has eight digits")
    check = 11 - sum(int(d) * w for d, w in zip(serial, S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check)


def luhn_check_digit(digits: str) -> int:
    """The Luhn digit to append to a string of digits."""
    if not digits.isdigit():
        raise ValueError("Luhn works on digits")
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 0:  # the rightmost digit of the payload is doubled (the check digit goes after it)
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    return len(number) >= 2 and number.isdigit() and luhn_check_digit(number[:-1]) == int(number[-1])


def format_tracking(carrier: Carrier, serial: int) -> str:
    """The tracking number for a serial in the carrier's format."""
    if carrier.tracking_format == "s10":
        body = f"{serial:08d}"
        return f"{carrier.tracking_prefix}{body}{s10_check_digit(body)}{carrier.tracking_suffix}"
    payload = f"{carrier.tracking_prefix}{serial:0{LUHN_SERIAL_DIGITS}d}"
    return payload + str(luhn_check_digit(payload))


def max_serial(carrier: Carrier) -> int:
    return 99_999_999 if carrier.tracking_format == "s10" else 10**LUHN_SERIAL_DIGITS - 1


def validate_tracking(carrier: Carrier, number: str) -> bool:
    """Whether a number is a well-formed tracking number of this carrier, check digit included."""
    number = (number or "").strip().upper()
    if carrier.tracking_format == "s10":
        match = re.fullmatch(r"([A-Z]{2})(\d{8})(\d)([A-Z]{2})", number)
        return bool(
            match
            and match[1] == carrier.tracking_prefix
            and match[4] == carrier.tracking_suffix
            and s10_check_digit(match[2]) == int(match[3])
        )
    prefix = carrier.tracking_prefix
    return len(number) == len(prefix) + LUHN_SERIAL_DIGITS + 1 and number.startswith(prefix) and luhn_valid(number)


def _freed_number(carrier: Carrier) -> str | None:
    """The oldest voided number of this carrier that no label in force carries."""
    active = aliased(ShippingLabel)
    return db.session.scalar(
        select(ShippingLabel.tracking_number)
        .where(
            ShippingLabel.carrier_id == carrier.id,
            ShippingLabel.status == LabelStatus.VOID,
            ~exists().where(
                active.tracking_number == ShippingLabel.tracking_number, active.status == LabelStatus.ACTIVE
            ),
        )
        .order_by(ShippingLabel.voided_at, ShippingLabel.id)
        .limit(1)
    )


def next_tracking_number(carrier: Carrier) -> str:
    """A tracking number for a new label: a freed (voided) one first, else the next serial.

    The carrier row is locked (FOR UPDATE) until the transaction ends, so two labels issued at once never
    get the same number; the unique index on active labels is the backstop.
    """
    locked = db.session.scalar(
        select(Carrier).where(Carrier.id == carrier.id).with_for_update().execution_options(populate_existing=True)
    )
    freed = _freed_number(locked)
    if freed is not None:
        return freed
    serial = locked.next_serial
    if serial > max_serial(locked):
        raise DomainError(N_("Carrier %(name)s has used up its tracking numbers."), name=locked.name)
    locked.next_serial = serial + 1
    db.session.flush()
    return format_tracking(locked, serial)


# --- carriers and services ------------------------------------------------------------------------


def ensure_builtin_carriers() -> list[Carrier]:
    """Create the built-in local carriers and their services when they are missing (safe to repeat)."""
    carriers = []
    for spec in BUILTIN:
        carrier = db.session.scalar(select(Carrier).where(Carrier.code == spec["code"]))
        if carrier is None:
            fields = {k: v for k, v in spec.items() if k != "services"}
            try:
                with db.session.begin_nested():
                    carrier = Carrier(**fields, next_serial=1, active=True)
                    carrier.services = [
                        CarrierService(**service, max_weight_grams=spec["max_weight_grams"], active=True)
                        for service in spec["services"]
                    ]
                    db.session.add(carrier)
                    db.session.flush()
            except IntegrityError:  # created by another request meanwhile
                carrier = db.session.scalar(select(Carrier).where(Carrier.code == spec["code"]))
        carriers.append(carrier)
    return carriers


def all_carriers() -> list[Carrier]:
    return list(db.session.scalars(select(Carrier).order_by(Carrier.name)))


def active_services() -> list[CarrierService]:
    """Services that can be chosen now, cheapest first."""
    return list(
        db.session.scalars(
            select(CarrierService)
            .join(Carrier)
            .where(Carrier.active, CarrierService.active)
            .order_by(CarrierService.price, CarrierService.transit_days, CarrierService.id)
        )
    )


def service_limit(service: CarrierService) -> int:
    """The heaviest parcel a service takes: its own limit within its carrier's."""
    return min(service.max_weight_grams, service.carrier.max_weight_grams)


def takes(service: CarrierService, weight_grams: int | None) -> bool:
    return service.active and service.carrier.active and (weight_grams or 0) <= service_limit(service)


def add_business_days(start: date, days: int) -> date:
    """The date `days` working days (Monday to Friday) after `start`; a weekend start counts from Monday."""
    current = start
    while current.weekday() >= 5:
        current += timedelta(days=1)
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def delivery_date(service: CarrierService, ship_date: date) -> date:
    return add_business_days(ship_date, service.transit_days)


def _local_date(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def choose_service(fulfilment: Fulfilment, weight_grams: int, now: datetime | None = None) -> CarrierService:
    """The service a parcel of this weight goes by, by rule.

    The cheapest active service that takes the weight and delivers by the order's promised date (transit
    counted in working days from today); without a promise, the cheapest. When none makes the date, the
    fastest that takes the weight. Raises NoService when no service takes it at all.
    """
    now = now or utcnow()
    fitting = [s for s in active_services() if takes(s, weight_grams)]
    if not fitting:
        raise NoService(field="weight_grams", weight=weight_grams)
    promised = fulfilment.order.promised_by
    if promised is None:
        return fitting[0]
    timezone = fulfilment.location.timezone
    ship_date = _local_date(now, timezone)
    deadline = _local_date(promised, timezone)
    on_time = [s for s in fitting if delivery_date(s, ship_date) <= deadline]
    if on_time:
        return on_time[0]
    return min(fitting, key=lambda s: (s.transit_days, s.price, s.id))


# --- admin changes ----------------------------------------------------------------------------------


def _whole(value, low: int, high: int):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def _text(values: dict, name: str, clean: dict, errors: dict, *, limit: int = 80) -> None:
    value = (values.get(name) or "").strip() if isinstance(values.get(name, ""), str) else None
    if not value or len(value) > limit:
        errors[name] = (N_("Required, at most %(n)s characters."), {"n": limit})
    else:
        clean[name] = value


def _number(values: dict, name: str, low: int, high: int, clean: dict, errors: dict) -> None:
    value = _whole(values[name], low, high)
    if value is None:
        errors[name] = (N_("Must be a whole number from %(low)s to %(high)s."), {"low": low, "high": high})
    else:
        clean[name] = value


def _flag(values: dict, name: str, clean: dict, errors: dict) -> None:
    if isinstance(values[name], bool):
        clean[name] = values[name]
    else:
        errors[name] = N_("Must be true or false.")


def _unknown(values: dict, known: set, errors: dict) -> None:
    for name in set(values) - known:
        errors[name] = N_("Unknown setting.")


def _apply(subject, clean: dict, *, actor: Actor, action: str) -> dict:
    before = {name: getattr(subject, name) for name in clean}
    changed = {name: value for name, value in clean.items() if before[name] != value}
    for name, value in changed.items():
        setattr(subject, name, value)
    if changed:
        audit.record(
            actor, action, subject, {k: _plain(before[k]) for k in changed}, {k: _plain(v) for k, v in changed.items()}
        )
        db.session.flush()
    return changed


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


CARRIER_FIELDS = {"name", "max_weight_grams", "tracking_format", "tracking_prefix", "tracking_suffix", "active"}


def update_carrier(carrier: Carrier, values: dict, *, actor: Actor) -> Carrier:
    """Change a carrier's name, weight limit, tracking format, prefix/suffix or active flag; all or nothing."""
    errors, clean = {}, {}
    _unknown(values, CARRIER_FIELDS, errors)
    if "name" in values:
        _text(values, "name", clean, errors)
    if "max_weight_grams" in values:
        _number(values, "max_weight_grams", 1, MAX_WEIGHT, clean, errors)
    if "active" in values:
        _flag(values, "active", clean, errors)
    fmt = values.get("tracking_format", carrier.tracking_format)
    if fmt not in FORMATS:
        errors["tracking_format"] = N_("Must be s10 or luhn.")
    elif "tracking_format" in values:
        clean["tracking_format"] = fmt
    prefix = values.get("tracking_prefix", carrier.tracking_prefix)
    suffix = values.get("tracking_suffix", carrier.tracking_suffix)
    prefix = prefix.strip().upper() if isinstance(prefix, str) else None
    suffix = suffix.strip().upper() if isinstance(suffix, str) else None
    if fmt == "s10":
        if prefix is None or not re.fullmatch(r"[A-Z]{2}", prefix):
            errors["tracking_prefix"] = N_("S10 numbers start with two letters.")
        if suffix is None or not re.fullmatch(r"[A-Z]{2}", suffix):
            errors["tracking_suffix"] = N_("S10 numbers end with a two-letter country code.")
    elif fmt == "luhn":
        if prefix is None or not re.fullmatch(r"\d{0,8}", prefix):
            errors["tracking_prefix"] = N_("Luhn numbers start with up to eight digits.")
        if suffix:
            errors["tracking_suffix"] = N_("Luhn numbers have no suffix.")
        suffix = ""
    if fmt != carrier.tracking_format or prefix != carrier.tracking_prefix or suffix != carrier.tracking_suffix:
        clean["tracking_prefix"], clean["tracking_suffix"] = prefix, suffix
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    _apply(carrier, clean, actor=actor, action="carrier.settings")
    return carrier


SERVICE_FIELDS = {"code", "name", "price", "transit_days", "max_weight_grams", "active"}


def _price(values: dict, clean: dict, errors: dict) -> None:
    raw = values["price"]
    try:
        price = Decimal(str(raw).strip().replace(",", ".")) if not isinstance(raw, bool | float) else None
    except InvalidOperation:
        price = None
    if (
        price is None
        or not price.is_finite()
        or price < 0
        or price > MAX_PRICE
        or price != price.quantize(Decimal("0.01"))
    ):
        errors["price"] = N_("Must be an amount from 0.00 to 9999.99.")
    else:
        clean["price"] = price.quantize(Decimal("0.01"))


def _service_values(service: CarrierService | None, carrier: Carrier, values: dict, errors: dict) -> dict:
    clean = {}
    _unknown(values, SERVICE_FIELDS, errors)
    if "code" in values:
        code = values["code"].strip().upper() if isinstance(values["code"], str) else ""
        if not SERVICE_CODE.fullmatch(code):
            errors["code"] = N_("1 to 16 letters, digits, - or _.")
        elif any(s.code == code and s is not service for s in carrier.services):
            errors["code"] = N_("This carrier already has a service with this code.")
        else:
            clean["code"] = code
    if "name" in values:
        _text(values, "name", clean, errors)
    if "price" in values:
        _price(values, clean, errors)
    if "transit_days" in values:
        _number(values, "transit_days", 0, MAX_TRANSIT_DAYS, clean, errors)
    if "max_weight_grams" in values:
        _number(values, "max_weight_grams", 1, MAX_WEIGHT, clean, errors)
    if "active" in values:
        _flag(values, "active", clean, errors)
    return clean


def add_service(carrier: Carrier, values: dict, *, actor: Actor) -> CarrierService:
    """Add a service to a carrier: code, name, price, transit days and weight limit are required."""
    errors = {}
    for name in ("code", "name", "price", "transit_days", "max_weight_grams"):
        if name not in values:
            errors[name] = N_("Required.")
    clean = _service_values(None, carrier, values, errors)
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    service = CarrierService(carrier=carrier, active=clean.pop("active", True), **clean)
    db.session.add(service)
    db.session.flush()
    audit.record(actor, "carrier.add_service", service, None, {k: _plain(v) for k, v in clean.items()})
    return service


def update_service(service: CarrierService, values: dict, *, actor: Actor) -> CarrierService:
    """Change some of a service's settings; all or nothing."""
    errors = {}
    clean = _service_values(service, service.carrier, values, errors)
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    _apply(service, clean, actor=actor, action="carrier.service_settings")
    return service
