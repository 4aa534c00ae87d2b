"""Demo floor work: boxes per store, the built-in carriers, and fulfilments taken through the real steps.

Picking goes through pick lists, packing through parcels and labels, shipping through the hand-over scan,
so the demo shows parcels, labels, manifests and customer e-mails exactly as the stores would make them.
"""

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from app.core.floor import carriers, collection, dispatch, packing, picking, pickups
from app.core.models import FulfilmentStatus as S
from app.core.models import Location, PackageType, User
from app.core.ordering import orders
from app.demo.people import DOMAIN
from app.demo.scenarios import COLLECT, SHIP, path_to
from app.extensions import db

# (name, length, width, height in mm, tare in grams), in the store's language
BOXES = {
    "FR": [
        ("Pochette matelassée", 350, 250, 40, 40),
        ("Petit carton", 250, 200, 100, 150),
        ("Carton moyen", 400, 300, 200, 350),
        ("Grand carton", 600, 400, 400, 700),
    ],
    "IT": [
        ("Busta imbottita", 350, 250, 40, 40),
        ("Scatola piccola", 250, 200, 100, 150),
        ("Scatola media", 400, 300, 200, 350),
        ("Scatola grande", 600, 400, 400, 700),
    ],
}
# When each built-in carrier's van comes to a store, in store time (a packed parcel is late once it has gone).
COLLECTION_TIMES = {"CX": time(17, 30), "CL": time(18, 0)}
GIFT_MESSAGES = {
    "fr": "Joyeux anniversaire ! Avec toute mon affection.",
    "it": "Buon compleanno! Con affetto.",
    "en": "Happy birthday! With love.",
}


def ensure_floor(locations: dict[str, Location], *, actor) -> int:
    """The built-in carriers, each location's collection times and boxes when it has none; returns boxes created."""
    carriers.ensure_builtin_carriers()
    have = set(db.session.scalars(select(PackageType.location_id).distinct()))
    created = 0
    for location in locations.values():
        for carrier, collect_at in collection.collection_times(location):
            if collect_at is None and carrier.code in COLLECTION_TIMES:
                collection.set_collection_time(location, carrier, COLLECTION_TIMES[carrier.code], actor=actor)
        if location.id in have:
            continue
        for name, length, width, height, tare in BOXES.get(location.country, BOXES["FR"]):
            values = {"name": name, "length_mm": length, "width_mm": width, "height_mm": height, "tare_grams": tare}
            packing.add_package_type(location, values, actor=actor)
            created += 1
    return created


# Each click & collect store's hold shelf: two rows of eight pigeonholes.
SLOTS = [f"{row}-{n:02d}" for row in "AB" for n in range(1, 9)]
ARRIVAL_NOTES = {"fr": "Voiture grise, place 3", "it": "Auto grigia, posto 3", "en": "Grey car, bay 3"}


def ensure_pickup_slots(locations: dict[str, Location], *, actor) -> int:
    """The hold-shelf slots of every click & collect store that has none; returns slots created."""
    created = 0
    for location in locations.values():
        if location.click_and_collect and not pickups.slots(location, include_inactive=True):
            created += len(pickups.add_slots(location, SLOTS, actor=actor))
    return created


def _stage(fulfilment, *, actor, when: datetime) -> None:
    """Bags counted (where the store has the bag step), then every bag into one slot of the hold shelf."""
    store = pickups.pickup_store(fulfilment)
    if store.pickup_bag_step:
        units = sum(line.picked for line in fulfilment.lines)
        pickups.set_bags(fulfilment, 2 if units >= 3 else 1, actor=actor)
    slots = pickups.slots(store)
    pickups.stage(fulfilment, slots[fulfilment.id % len(slots)], actor=actor, now=when)


def _collect(fulfilment, *, actor, when: datetime, partial: bool) -> None:
    """Handed over with the code and every bag scanned; "partial": the customer leaves one item behind."""
    pickup = fulfilment.pickup
    lines = None
    if partial:
        picked = [line for line in fulfilment.lines if line.picked]
        if len(picked) > 1:
            lines = [{"sku": line.product.sku, "quantity": line.picked} for line in picked[:-1]]
            lines.append({"sku": picked[-1].product.sku, "quantity": 0})
        elif picked and picked[0].picked > 1:
            lines = [{"sku": picked[0].product.sku, "quantity": picked[0].picked - 1}]
    pickups.collect(
        fulfilment,
        actor=actor,
        pickup_code=pickup.code,
        bags_scanned=[pickups.bag_barcode(fulfilment.id, bag.number) for bag in pickup.bag_rows],
        lines=lines,
        reason="too_small" if lines else "",
        now=when,
    )


def _send_transfer(fulfilment, *, actor, received: datetime) -> None:
    """The sending store packs a transfer like a parcel (addressed to the pickup store) and hands it over."""
    _pack(fulfilment, actor=actor, when=received + timedelta(minutes=90))
    _ship(fulfilment, actor=actor, when=received + timedelta(minutes=180))


def _after_picking(fulfilment, target: str, *, actor, received: datetime, twist: str) -> None:
    """The click & collect steps after picking, through the pickup operations the counter and the worker use."""
    ready_at = received + timedelta(minutes=150)
    if target == S.PACKED:  # a transfer: packed and labelled at the sending store, handed to the carrier
        _send_transfer(fulfilment, actor=actor, received=received)
    elif target == S.READY_FOR_PICKUP:
        if pickups.is_transfer(fulfilment):
            _send_transfer(fulfilment, actor=actor, received=received)
            store = pickups.pickup_store(fulfilment)
            tracking = fulfilment.parcels[0].label.tracking_number
            pickups.receive_transfer(store, tracking, actor=actor, now=ready_at)
            ready_at += timedelta(days=1)
        _stage(fulfilment, actor=actor, when=ready_at)
        if twist == "arrived":
            note = ARRIVAL_NOTES.get(fulfilment.order.customer_language, ARRIVAL_NOTES["en"])
            pickups.customer_arrived(fulfilment.pickup, note=note, now=datetime.now(UTC) - timedelta(minutes=4))
    elif target == S.COLLECTED:
        _collect(fulfilment, actor=actor, when=ready_at + timedelta(minutes=140), partial=twist == "partial")
    elif target == S.EXPIRED:
        pickups.expire(fulfilment, actor=actor, now=fulfilment.pickup.expires_at + timedelta(minutes=1))
        if twist == "putback":
            pickups.restock(fulfilment, actor=actor)


def gift_for(external_ref: str, method: str, language: str) -> tuple[bool, str]:
    """About one delivery in four is a gift: wrapped, and every other one with a message."""
    number = int("".join(ch for ch in external_ref if ch.isdigit()) or 0)
    if method != SHIP or number % 4:
        return False, ""
    return True, GIFT_MESSAGES.get(language, GIFT_MESSAGES["en"]) if number % 8 == 0 else ""


def _associate(location: Location) -> User | None:
    email = f"associate.{location.code.lower()}@{DOMAIN}"
    return db.session.scalar(select(User).where(User.email == email))


def _scan_id(*parts) -> str:
    return "demo-" + "-".join(str(p) for p in parts)


def _pick(fulfilment, *, actor, complete: bool) -> bool:
    """Put the fulfilment on a pick list of the store's associate and pick all of it (or one unit)."""
    picker = _associate(fulfilment.location)
    if picker is None:
        return False
    pick_list = picking.start_pick(fulfilment.location, [fulfilment], user=picker, actor=actor)
    if complete:
        for line in fulfilment.lines:
            picking.confirm(pick_list, line, line.quantity, _scan_id("pick", line.id), user=picker, actor=actor)
    elif sum(line.quantity for line in fulfilment.lines) > 1:  # in progress: one unit in the tote, more to pick
        line = fulfilment.lines[0]
        picking.confirm(pick_list, line, 1, _scan_id("pick", line.id), user=picker, actor=actor)
    if complete:
        picking.finish(pick_list, user=picker, actor=actor)
    return True


def _pack(fulfilment, *, actor, when: datetime) -> None:
    """Parcels by the store's boxes (orders of several lines go in two), weighed, gift step done, labels issued."""
    parcels = packing.start_packing(fulfilment, actor=actor)
    lines = [line for line in fulfilment.lines if line.picked]
    if len(lines) > 1:
        second = packing.new_parcel(fulfilment, actor=actor)
        packing.move_items(fulfilment, second, {lines[-1]: lines[-1].picked}, actor=actor, source=parcels[0])
    boxes = packing.package_types(fulfilment.location)
    db.session.refresh(fulfilment)
    for parcel in fulfilment.parcels:
        box = boxes[min(len(parcel.items), len(boxes) - 1)] if boxes else None
        weight = max(packing.estimated_weight(parcel, box), 100)
        packing.set_parcel(parcel, package_type=box, weight_grams=weight, actor=actor)
    if packing.needs_gift_step(fulfilment):
        packing.gift_done(fulfilment, actor=actor)
    packing.finish_packing(fulfilment, actor=actor, now=when)


def _ship(fulfilment, *, actor, when: datetime) -> None:
    for parcel in fulfilment.parcels:
        label = parcel.label
        dispatch.hand_over(
            fulfilment.location, label.tracking_number, _scan_id("ship", parcel.id), actor=actor, now=when
        )


def advance(fulfilment, method: str, final: str, *, actor, received: datetime, twist: str = "") -> None:
    """Take a fulfilment to `final` through the floor operations a store would use."""
    steps = path_to(method, final)
    picked_by_list = False
    for target in steps:
        if target == S.PICKING:
            picked_by_list = _pick(fulfilment, actor=actor, complete=S.PICKED in steps)
            if picked_by_list:
                continue
        if target == S.PICKED and picked_by_list:
            continue
        if method == SHIP and target == S.PACKED:
            _pack(fulfilment, actor=actor, when=received + timedelta(minutes=90))
        elif method == SHIP and target == S.SHIPPED:
            _ship(fulfilment, actor=actor, when=received + timedelta(minutes=180))
        elif method == COLLECT and target in {S.PACKED, S.READY_FOR_PICKUP, S.COLLECTED, S.EXPIRED}:
            _after_picking(fulfilment, target, actor=actor, received=received, twist=twist)
        else:
            orders.transition(fulfilment, target, actor=actor)
