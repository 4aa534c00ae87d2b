"""Shelf places and the pick path: where a product sits in a store (aisle-bay-level) and the order the store is walked.

A shelf place is written as on its label: "A3-12-2" (aisle A3, bay 12, level 2; the level may be left out). The
pick path goes by a place's explicit sequence first (when a store gives one), then by its aisle's position in the
store's walk (the aisles in the order an associate passes them; aisles not in it come after), then by bay and level in
natural order ("2" before "10"). The API, the file import and the manager screen all go through these functions.
"""

import re

from sqlalchemy import select

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.models import Location, Product, ShelfLocation
from app.extensions import db

SHELF_RE = re.compile(r"^([A-Z0-9]{1,16})-([A-Z0-9]{1,16})(?:-([A-Z0-9]{1,8}))?$")
AISLE_RE = re.compile(r"^[A-Z0-9]{1,16}$")
MAX_WALK = 500
MAX_SEQUENCE = 1_000_000
_DIGITS = re.compile(r"(\d+)")


def parse_shelf(text) -> tuple[str, str, str]:
    """(aisle, bay, level) from "A3-12-2" (spaces ignored, any case); InvalidInput naming `shelf` otherwise."""
    cleaned = re.sub(r"\s+", "", text).upper() if isinstance(text, str) else ""
    match = SHELF_RE.match(cleaned)
    if match is None:
        raise InvalidInput(
            N_("A shelf place is aisle-bay or aisle-bay-level, letters and digits, e.g. A3-12-2."), field="shelf"
        )
    aisle, bay, level = match.groups()
    return aisle, bay, level or ""


def natural(part: str) -> tuple:
    """Sort key in which "2" comes before "10" and "A2" before "A10"."""
    return tuple((0, int(piece), "") if piece.isdigit() else (1, 0, piece) for piece in _DIGITS.split(part) if piece)


def path_key(shelf: ShelfLocation | None, walk: list | None) -> tuple:
    """Where a shelf place comes in the store's pick path (no place: at the end)."""
    if shelf is None:
        return (1,)
    order = {aisle: i for i, aisle in enumerate(walk or [])}
    return (
        0,
        shelf.pick_sequence or MAX_SEQUENCE,
        order.get(shelf.aisle, len(order)),
        natural(shelf.aisle),
        natural(shelf.bay),
        natural(shelf.level),
    )


def _sequence(value) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < MAX_SEQUENCE:
        raise InvalidInput(
            N_("Must be a whole number from %(low)s to %(high)s."),
            field="sequence",
            low=0,
            high=MAX_SEQUENCE - 1,
        )
    return value


def place_product(
    location: Location, product: Product, shelf: str, *, actor: Actor, sequence: int | None = None
) -> tuple[ShelfLocation, bool, bool]:
    """Put a product at a shelf place in a store (one place per product and store): (place, created, changed).

    The same place again changes nothing. sequence: an explicit position in the pick path (0 or left out: by walk)."""
    aisle, bay, level = parse_shelf(shelf)
    wanted = {"aisle": aisle, "bay": bay, "level": level, "pick_sequence": _sequence(sequence)}
    place = db.session.scalar(
        select(ShelfLocation).where(ShelfLocation.location_id == location.id, ShelfLocation.product_id == product.id)
    )
    before = None if place is None else {name: getattr(place, name) for name in wanted}
    if before == wanted:
        return place, False, False
    if place is None:
        place = ShelfLocation(location_id=location.id, product_id=product.id)
        db.session.add(place)
    for name, value in wanted.items():
        setattr(place, name, value)
    db.session.flush()
    audit.record(
        actor, "shelf.place", location, before and {"sku": product.sku, **before}, {"sku": product.sku, **wanted}
    )
    return place, before is None, True


def set_walk(location: Location, aisles, *, actor: Actor) -> list[str]:
    """The order in which the store's aisles are walked (an empty list: natural order); the same walk changes nothing."""
    if not isinstance(aisles, list) or len(aisles) > MAX_WALK:
        raise InvalidInput(N_("Give the aisles as a list of at most %(n)s codes."), field="aisles", n=MAX_WALK)
    walk, errors = [], {}
    for i, aisle in enumerate(aisles):
        code = aisle.strip().upper() if isinstance(aisle, str) else ""
        if not AISLE_RE.match(code):
            errors[f"aisles.{i}"] = N_("An aisle is letters and digits, e.g. A3.")
        elif code in walk:
            errors[f"aisles.{i}"] = N_("This aisle is already in the walk.")
        walk.append(code)
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    walk = walk or None
    if location.walk != walk:
        audit.record(actor, "location.walk", location, {"walk": location.walk}, {"walk": walk})
        location.walk = walk
        db.session.flush()
    return walk or []


def places(location: Location, *, after: str | None = None, limit: int = 100, search: str = "") -> list:
    """(product, place) pairs of a store by SKU, from the SKU after `after`; search: SKU or shelf beginning."""
    statement = (
        select(Product, ShelfLocation)
        .join(ShelfLocation, ShelfLocation.product_id == Product.id)
        .where(ShelfLocation.location_id == location.id)
        .order_by(Product.sku)
        .limit(limit)
    )
    if after:
        statement = statement.where(Product.sku > after)
    if search:
        term = search.strip().upper()
        statement = statement.where(
            Product.sku.startswith(term, autoescape=True)
            | ShelfLocation.aisle.startswith(term.split("-")[0], autoescape=True)
        )
    return db.session.execute(statement).all()


def label_text(place: ShelfLocation, location: Location) -> str:
    """What a shelf label's barcode says: the store and the place, e.g. "PAR01:A3-12-2" (a scanner knows the store)."""
    return f"{location.code}:{place.code}"
