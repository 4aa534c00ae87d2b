"""Locations as a retailer's systems describe them: a store or warehouse created or changed by its code, or closed.

`put_location` is the one operation behind `PUT /api/v1/locations/{code}` and `flask locations import`: the same
values give the same location, and a repeat changes nothing (idempotent by content). Fields left out keep their
value (their default when the location is new). Closing a location (`active: false`) stops new work there (sourcing
and click & collect skip inactive locations); what is still open there is finished as usual and said with the
answer (`open_work`). Routing settings (pause, priority, deadlines, scanning) stay with app.core.ordering.rules.
"""

import re
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.floor.collection import parse_collection_time, set_collection_time
from app.core.models import Carrier, CarrierCollection, Fulfilment, Location, PickupSlot
from app.core.models.orders import open_statuses_clause
from app.core.ordering import geo, hours
from app.extensions import db

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,15}$")
TYPES = ("store", "warehouse")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
# body name -> (column, longest text)
TEXTS = {"name": ("name", 120)}
ADDRESS = {
    "line1": ("address_line1", 200),
    "line2": ("address_line2", 200),
    "postcode": ("postcode", 16),
    "city": ("city", 100),
    "country": ("country", 2),
}
FLAGS = {
    "ships": "ships_from_store",
    "click_and_collect": "click_and_collect",
    "returns": "returns",
    "active": "active",
}
FIELDS = {
    "name",
    "type",
    "timezone",
    "address",
    "latitude",
    "longitude",
    "opening_hours",
    "capacity_per_day",
    "carriers",
    *FLAGS,
}
CAPACITY = (0, 10_000)


def _text(value, longest: int, errors: dict, field: str, *, required: bool = False):
    if not isinstance(value, str):
        errors[field] = N_("Must be text.")
        return None
    value = value.strip()
    if required and not value:
        errors[field] = N_("Required.")
    elif len(value) > longest:
        errors[field] = (N_("At most %(n)s characters."), {"n": longest})
    return value


def _coordinate(value, bound: int, errors: dict, field: str):
    if value is None:
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not -bound <= number <= bound:
        errors[field] = (N_("Must be a number from %(low)s to %(high)s."), {"low": -bound, "high": bound})
        return None
    return number.quantize(Decimal("0.000001"))


def _clean(values: dict, creating: bool) -> dict:
    """The columns these values set, checked; every problem at once, by field."""
    errors, clean = {}, {}
    for name in sorted(set(values) - FIELDS):
        errors[name] = N_("Unknown field.")
    if "name" in values or creating:
        clean["name"] = _text(values.get("name", ""), 120, errors, "name", required=True)
    if "type" in values:
        if values["type"] not in TYPES:
            errors["type"] = N_("Must be store or warehouse.")
        clean["kind"] = values["type"]
    if "timezone" in values:
        zone = values["timezone"]
        try:
            if not isinstance(zone, str) or not zone:
                raise ValueError(zone)
            ZoneInfo(zone)
            clean["timezone"] = zone
        except (ValueError, ZoneInfoNotFoundError):
            errors["timezone"] = N_("Must be a time zone name such as Europe/Paris.")
    address = values.get("address")
    if address is not None and not isinstance(address, dict):
        errors["address"] = N_("Must be an object with line1, line2, postcode, city and country.")
    elif address:
        for name in sorted(set(address) - set(ADDRESS)):
            errors[f"address.{name}"] = N_("Unknown field.")
        for name, (column, longest) in ADDRESS.items():
            if name in address:
                clean[column] = _text(address[name], longest, errors, f"address.{name}")
        country = clean.get("country")
        if country is not None and "address.country" not in errors:
            clean["country"] = country.upper()
            if not COUNTRY_RE.match(clean["country"]):
                errors["address.country"] = N_("Must be a two-letter country code such as FR or IT.")
    for name, bound in (("latitude", 90), ("longitude", 180)):
        if name in values:
            clean[name] = _coordinate(values[name], bound, errors, name)
    if ("latitude" in values) != ("longitude" in values) or (
        "latitude" in values and (values["latitude"] is None) != (values["longitude"] is None)
    ):
        errors.setdefault("latitude", N_("Give both latitude and longitude, or neither."))
    if "opening_hours" in values:
        raw = values["opening_hours"]
        try:
            if raw is None:
                clean["opening_hours"] = None  # the default hours
            else:
                clean["opening_hours"] = (
                    hours.parse_hours_text(raw) if isinstance(raw, str) else hours.validate_hours(raw)
                )
        except InvalidInput as error:
            errors["opening_hours"] = (error.message, error.params)
    for name, column in FLAGS.items():
        if name in values:
            if not isinstance(values[name], bool):
                errors[name] = N_("Must be true or false.")
            clean[column] = values[name]
    if "capacity_per_day" in values:
        value, (low, high) = values["capacity_per_day"], CAPACITY
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors["capacity_per_day"] = (
                N_("Must be a whole number from %(low)s to %(high)s."),
                {"low": low, "high": high},
            )
        clean["daily_capacity"] = value
    if "carriers" in values:
        clean["carriers"] = _carriers(values["carriers"], errors)
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    return clean


def _carriers(given, errors: dict) -> dict:
    """{carrier: collection time or None}: when each carrier collects at the location ("17:30"; null: it does not)."""
    if not isinstance(given, dict):
        errors["carriers"] = N_('Give each carrier code with its collection time, e.g. {"CX": "17:30"}.')
        return {}
    known = {c.code: c for c in db.session.scalars(select(Carrier).where(Carrier.code.in_(list(given))))}
    found = {}
    for code, text in given.items():
        if code not in known:
            errors[f"carriers.{code}"] = N_("Unknown carrier.")
        elif text is not None and not isinstance(text, str):
            errors[f"carriers.{code}"] = N_("Give the collection time as hours and minutes, for example 17:30.")
        else:
            try:
                found[known[code]] = parse_collection_time(text)
            except InvalidInput as error:
                errors[f"carriers.{code}"] = error.message
    return found


def _place(location: Location, clean: dict) -> None:
    """Coordinates from the postcode area when none were given (or null) and the address says where it is."""
    if clean.get("latitude") is not None:
        return
    asked = "latitude" in clean  # given as null: the postcode area's, whatever the location had
    moved = any(name in clean for name in ("postcode", "country"))
    if location.latitude is not None and not moved and not asked:
        return
    found = geo.locate(clean.get("country", location.country), clean.get("postcode", location.postcode))
    clean["latitude"], clean["longitude"] = (
        (Decimal(str(found[0])).quantize(Decimal("0.000001")), Decimal(str(found[1])).quantize(Decimal("0.000001")))
        if found
        else (None, None)
    )


def _recordable(value):
    return str(value) if isinstance(value, Decimal) else value


def put_location(code: str, values: dict, *, actor: Actor, _again: bool = False) -> tuple[Location, bool, dict]:
    """Create the location with this code, or change what `values` give: (location, created, changed columns).

    All or nothing: one invalid value refuses the whole call, with every problem by field."""
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise InvalidInput(N_("A location code is 1 to 16 capital letters, digits, - or _."), field="code")
    if not isinstance(values, dict):
        raise InvalidInput(N_("Some values are not valid."))
    location = db.session.scalar(select(Location).where(Location.code == code))
    creating = location is None
    clean = _clean(values, creating)
    carriers = clean.pop("carriers", {})
    if creating:  # the column defaults now, so the postcode area below is looked up in the default country
        location = Location(code=code, name=clean["name"], country=Location.__table__.c.country.default.arg)
    _place(location, clean)
    before = {column: (None if creating else getattr(location, column)) for column in clean}
    changed = {column: value for column, value in clean.items() if creating or before[column] != value}
    for column, value in changed.items():
        setattr(location, column, value)
    if creating:
        try:
            with db.session.begin_nested():
                db.session.add(location)
                db.session.flush()
        except IntegrityError:  # another call created the same code a moment ago: theirs stands, apply ours to it
            if _again:
                raise
            return put_location(code, values, actor=actor, _again=True)
    if changed:
        audit.record(
            actor,
            "location.create" if creating else "location.update",
            location,
            None if creating else {k: _recordable(before[k]) for k in changed},
            {k: _recordable(v) for k, v in changed.items()},
        )
        db.session.flush()
    for carrier, collect_at in carriers.items():  # each change audited by set_collection_time
        if set_collection_time(location, carrier, collect_at, actor=actor):
            changed[f"carriers.{carrier.code}"] = collect_at
    return location, creating, changed


def carrier_times(location: Location) -> dict:
    """{carrier code: "HH:MM"} for the carriers that collect at the location."""
    rows = db.session.execute(
        select(Carrier.code, CarrierCollection.collect_at)
        .join(CarrierCollection, CarrierCollection.carrier_id == Carrier.id)
        .where(CarrierCollection.location_id == location.id)
        .order_by(Carrier.code)
    )
    return {code: collect_at.isoformat("minutes") for code, collect_at in rows}


def pickup_slot_codes(location: Location) -> list[str]:
    """The codes of the store's hold-shelf slots in use (click & collect), in code order."""
    return list(
        db.session.scalars(
            select(PickupSlot.code)
            .where(PickupSlot.location_id == location.id, PickupSlot.active)
            .order_by(PickupSlot.code)
        )
    )


def open_work(location_ids) -> dict:
    """What is still open at each location, in one query: {location id: {"fulfilments": n, "by_status": {...}}}
    (what a closed location must still finish)."""
    found = {location_id: {"fulfilments": 0, "by_status": {}} for location_id in location_ids}
    rows = db.session.execute(
        select(Fulfilment.location_id, Fulfilment.status, func.count())
        .where(Fulfilment.location_id.in_(list(found)), open_statuses_clause())
        .group_by(Fulfilment.location_id, Fulfilment.status)
        .order_by(Fulfilment.location_id, Fulfilment.status)
    )
    for location_id, status, count in rows:
        found[location_id]["by_status"][str(status)] = int(count)
        found[location_id]["fulfilments"] += int(count)
    return found


def describe(location: Location, work: dict | None = None) -> dict:
    """A location in the words of the API contract (PUT /api/v1/locations/{code}); `work` is its open_work()
    entry when the caller read several at once."""
    return {
        "code": location.code,
        "name": location.name,
        "type": location.kind,
        "timezone": location.timezone,
        "address": {
            "line1": location.address_line1,
            "line2": location.address_line2,
            "postcode": location.postcode,
            "city": location.city,
            "country": location.country,
        },
        "latitude": location.latitude,
        "longitude": location.longitude,
        "opening_hours": hours.store_hours(location),
        **{name: getattr(location, column) for name, column in FLAGS.items()},
        "capacity_per_day": location.daily_capacity,
        "carriers": carrier_times(location),
        "pickup_slots": pickup_slot_codes(location),
        "open_work": work if work is not None else open_work([location.id])[location.id],
    }
