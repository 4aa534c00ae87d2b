"""Packing a picked fulfilment into parcels, then labelling them.

Parcel 1 starts with every picked unit; units move between parcels; each parcel gets a box (package
type), a weight and a carrier service (chosen by rule unless changed). A parcel whose box and weight were
not saved goes with the suggested ones (parcel_choice: what the screen shows is what is chosen). Finishing
checks all of it, issues one label per parcel and moves the fulfilment to packed. Click & collect orders
are never packed into carrier parcels nor labelled (require_shipping), except a transfer: the units another
location sends to the pickup store travel by carrier, packed and labelled like a ship order but addressed to
that store (app.documents). Scan-to-pack (per store) stores every scan under the id the device gave it, so a
resend is answered and never counted twice.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, CollectNotShipped, DomainError, IllegalTransition, InvalidInput, NotFound
from app.core.floor import carriers, commands, pickups, scans
from app.core.floor.scans import Outcome, ScanWork
from app.core.inventory.catalogue import find_product
from app.core.inventory.products import named
from app.core.models import (
    CarrierService,
    DeliveryMethod,
    Fulfilment,
    FulfilmentLine,
    LabelStatus,
    Location,
    ManifestStatus,
    Order,
    PackageType,
    Parcel,
    ParcelItem,
    Scan,
    ShippingLabel,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.ordering import orders
from app.extensions import db

MAX_DIMENSION_MM = 5_000
MAX_TARE = 50_000


class PackRefused(DomainError):
    code = "pack_refused"
    http_status = 409


class NotReady(DomainError):
    """Finishing was refused: something is missing. fields name each problem."""

    code = "not_ready"
    http_status = 422


# --- package types -------------------------------------------------------------------------------


def package_types(location: Location, *, include_inactive: bool = False) -> list[PackageType]:
    stmt = select(PackageType).where(PackageType.location_id == location.id).order_by(PackageType.name)
    if not include_inactive:
        stmt = stmt.where(PackageType.active)
    return list(db.session.scalars(stmt))


def _whole(value, low: int, high: int):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def _package_values(location: Location, values: dict, package_type: PackageType | None) -> dict:
    errors, clean = {}, {}
    known = {"name", "length_mm", "width_mm", "height_mm", "tare_grams"}
    for name in set(values) - known:
        errors[name] = N_("Unknown setting.")
    if "name" in values or package_type is None:
        name = values.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > 80:
            errors["name"] = (N_("Required, at most %(n)s characters."), {"n": 80})
        else:
            same = db.session.scalar(
                select(PackageType).where(
                    PackageType.location_id == location.id, func.lower(PackageType.name) == name.lower()
                )
            )
            if same is not None and same is not package_type:
                errors["name"] = N_("This store already has a box with this name.")
            clean["name"] = name
    for dim in ("length_mm", "width_mm", "height_mm"):
        if dim in values or package_type is None:
            value = _whole(values.get(dim), 1, MAX_DIMENSION_MM)
            if value is None:
                errors[dim] = (
                    N_("Must be a whole number from %(low)s to %(high)s."),
                    {"low": 1, "high": MAX_DIMENSION_MM},
                )
            clean[dim] = value
    if "tare_grams" in values or package_type is None:
        value = _whole(values.get("tare_grams", 0), 0, MAX_TARE)
        if value is None:
            errors["tare_grams"] = (
                N_("Must be a whole number from %(low)s to %(high)s."),
                {"low": 0, "high": MAX_TARE},
            )
        clean["tare_grams"] = value
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    return clean


def add_package_type(location: Location, values: dict, *, actor: Actor) -> PackageType:
    """A new box for this store: name, inner length/width/height in mm (above zero), tare in grams (zero or more).

    Adding a box with the name of an inactive one brings that one back with the new values.
    """
    clean = _package_values(location, {k: v for k, v in values.items()}, None)
    existing = db.session.scalar(
        select(PackageType).where(
            PackageType.location_id == location.id, func.lower(PackageType.name) == clean["name"].lower()
        )
    )
    if existing is not None:  # only an inactive one gets here (an active one is refused as a duplicate)
        before = {"active": existing.active}
        for name, value in clean.items():
            setattr(existing, name, value)
        existing.active = True
        audit.record(actor, "package_type.reactivate", existing, before, {**clean, "active": True})
        db.session.flush()
        return existing
    package_type = PackageType(location_id=location.id, active=True, **clean)
    try:
        with db.session.begin_nested():
            db.session.add(package_type)
            db.session.flush()
    except IntegrityError:
        raise InvalidInput(
            N_("Some values are not valid."), fields={"name": N_("This store already has a box with this name.")}
        ) from None
    audit.record(actor, "package_type.add", package_type, None, clean)
    return package_type


def update_package_type(package_type: PackageType, values: dict, *, actor: Actor) -> PackageType:
    """Change some of a box's values; all or nothing."""
    clean = _package_values(package_type_location(package_type), values, package_type)
    before = {name: getattr(package_type, name) for name in clean}
    changed = {name: value for name, value in clean.items() if before[name] != value}
    for name, value in changed.items():
        setattr(package_type, name, value)
    if changed:
        audit.record(actor, "package_type.update", package_type, {k: before[k] for k in changed}, changed)
        db.session.flush()
    return package_type


def package_type_location(package_type: PackageType) -> Location:
    return db.session.get(Location, package_type.location_id)


def deactivate_package_type(package_type: PackageType, *, actor: Actor) -> PackageType:
    """Stop offering a box (parcels already packed in it keep it); repeating it changes nothing."""
    if package_type.active:
        package_type.active = False
        audit.record(actor, "package_type.deactivate", package_type, {"active": True}, {"active": False})
        db.session.flush()
    return package_type


# --- parcels -------------------------------------------------------------------------------------


def needs_gift_step(fulfilment: Fulfilment) -> bool:
    return bool(fulfilment.order.gift_wrap or (fulfilment.order.gift_message or "").strip())


def require_shipping(fulfilment: Fulfilment) -> None:
    """Parcels and carrier labels are for orders shipped to the customer, and for click & collect transfers
    (sent by carrier to the pickup store); any other click & collect order is refused."""
    if fulfilment.order.delivery_method == DeliveryMethod.COLLECT and not pickups.is_transfer(fulfilment):
        raise CollectNotShipped(ref=fulfilment.order.reference)


def _require_packing(fulfilment: Fulfilment) -> None:
    require_shipping(fulfilment)
    if fulfilment.status == S.PACKED:
        raise PackRefused(N_("This order is already packed."))
    if fulfilment.status != S.PICKED:
        raise IllegalTransition(current=fulfilment.status, target=S.PACKED)


def _own_parcel(fulfilment: Fulfilment, parcel: Parcel) -> None:
    if parcel.fulfilment_id != fulfilment.id:
        raise InvalidInput(N_("This parcel belongs to another order."), field="parcel")


def start_packing(fulfilment: Fulfilment, *, actor: Actor) -> list[Parcel]:
    """Open packing: parcel 1 holds every picked unit. Once parcels exist this changes nothing."""
    require_shipping(fulfilment)
    if fulfilment.parcels or fulfilment.status == S.PACKED:
        return list(fulfilment.parcels)
    _require_packing(fulfilment)
    carriers.ensure_builtin_carriers()
    items = [ParcelItem(fulfilment_line=line, quantity=line.picked) for line in fulfilment.lines if line.picked]
    parcel = Parcel(fulfilment_id=fulfilment.id, number=1, items=items)
    try:
        with db.session.begin_nested():
            db.session.add(parcel)
            db.session.flush()
            db.session.expire(fulfilment, ["parcels"])
    except IntegrityError:  # another device opened packing at the same moment
        db.session.refresh(fulfilment)
        return list(fulfilment.parcels)
    audit.record(actor, "pack.start", fulfilment, None, {"parcel": 1, "units": sum(i.quantity for i in parcel.items)})
    return list(fulfilment.parcels)


def current_parcel(fulfilment: Fulfilment) -> Parcel | None:
    """The parcel scans go into: the newest one."""
    return fulfilment.parcels[-1] if fulfilment.parcels else None


def new_parcel(fulfilment: Fulfilment, *, actor: Actor) -> Parcel:
    """Add an empty parcel; when an empty one is already there (a repeated tap), that one is returned."""
    _require_packing(fulfilment)
    start_packing(fulfilment, actor=actor)
    empty = next((p for p in fulfilment.parcels if not p.items), None)
    if empty is not None:
        return empty
    number = max(p.number for p in fulfilment.parcels) + 1
    parcel = Parcel(fulfilment_id=fulfilment.id, number=number)
    try:
        with db.session.begin_nested():
            db.session.add(parcel)
            db.session.flush()
    except IntegrityError as exc:
        raise PackRefused(N_("Someone else changed this at the same time. Reload and try again.")) from exc
    db.session.expire(fulfilment, ["parcels"])
    audit.record(actor, "pack.new_parcel", parcel, None, {"number": number})
    return parcel


def remove_parcel(fulfilment: Fulfilment, parcel: Parcel, *, actor: Actor) -> None:
    """Take away an empty parcel (never the last one)."""
    _require_packing(fulfilment)
    _own_parcel(fulfilment, parcel)
    if parcel.items:
        raise PackRefused(N_("Move the items out of parcel %(n)s first."), n=parcel.number)
    if len(fulfilment.parcels) == 1:
        raise PackRefused(N_("An order keeps at least one parcel."))
    audit.record(actor, "pack.remove_parcel", parcel, {"number": parcel.number}, None)
    fulfilment.parcels.remove(parcel)
    db.session.delete(parcel)
    db.session.flush()


def _item(parcel: Parcel, line: FulfilmentLine) -> ParcelItem | None:
    return next((i for i in parcel.items if i.fulfilment_line_id == line.id), None)


def _take(parcel: Parcel, line: FulfilmentLine, quantity: int) -> None:
    item = _item(parcel, line)
    item.quantity -= quantity
    if item.quantity == 0:
        parcel.items.remove(item)


def _put(parcel: Parcel, line: FulfilmentLine, quantity: int) -> None:
    item = _item(parcel, line)
    if item is None:
        parcel.items.append(ParcelItem(fulfilment_line=line, quantity=quantity))
    else:
        item.quantity += quantity


def move_items(
    fulfilment: Fulfilment,
    parcel: Parcel,
    quantities: dict,
    *,
    actor: Actor,
    source: Parcel | None = None,
    expected: int | None = None,
) -> Parcel:
    """Move units ({fulfilment_line: quantity}) into `parcel`, from `source` or else from the other parcels in order.

    expected: how many units of the (one) line the source held when the screen was drawn; when it no longer
    does, the move was already made (a resend) or someone else changed it, and it is refused.
    """
    _require_packing(fulfilment)
    _own_parcel(fulfilment, parcel)
    if source is not None:
        _own_parcel(fulfilment, source)
        if source.id == parcel.id:
            raise InvalidInput(N_("Choose another parcel to move to."), field="to")
    if not quantities:
        raise InvalidInput(N_("Choose what to move."), field="quantity")
    if parcel.label is not None or (source is not None and source.label is not None):
        raise PackRefused(N_("This parcel is labelled; void its label first."))
    for line, quantity in quantities.items():
        if line.fulfilment_id != fulfilment.id:
            raise InvalidInput(N_("This item belongs to another order."), field="line")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            raise InvalidInput(N_("Must be a whole number above zero."), field="quantity")
        donors = [source] if source is not None else [p for p in fulfilment.parcels if p.id != parcel.id]
        if expected is not None and source is not None:
            held = _item(source, line).quantity if _item(source, line) else 0
            if held != expected:
                raise PackRefused(N_("This was already changed. Check the parcels and try again."))
        available = sum(_item(p, line).quantity for p in donors if _item(p, line))
        if quantity > available:
            raise InvalidInput(
                N_("Units of %(name)s that can be moved: %(n)s."),
                field="quantity",
                n=available,
                name=line.product.name,
            )
        left = quantity
        for donor in donors:
            item = _item(donor, line)
            if item is None or not left:
                continue
            taken = min(item.quantity, left)
            _take(donor, line, taken)
            left -= taken
        _put(parcel, line, quantity)
        audit.record(
            actor,
            "pack.move",
            parcel,
            {"from": [d.number for d in donors]},
            {"to": parcel.number, "sku": line.product.sku, "quantity": quantity},
        )
    db.session.flush()
    return parcel


def estimated_weight(parcel: Parcel, package_type: PackageType | None = None) -> int:
    """The box's tare plus the catalogue weight of what is in it, in grams."""
    box = package_type or parcel.package_type
    tare = box.tare_grams if box else 0
    return tare + sum((item.fulfilment_line.product.weight_grams or 0) * item.quantity for item in parcel.items)


@dataclass(frozen=True)
class ParcelChoice:
    """The box and weight a parcel goes with, as the pack screen shows them and finishing takes them."""

    package_type: PackageType | None
    weight_grams: int | None
    estimate: int  # the box's tare and the products' catalogue weights, in grams
    saved: bool  # both were set by a person (set_parcel), not suggested


def _sides(thing) -> list[int] | None:
    """Length, width and height, longest first, or None when one is not known."""
    sides = [thing.length_mm, thing.width_mm, thing.height_mm]
    return sorted(sides, reverse=True) if all(side for side in sides) else None


def suggested_box(parcel: Parcel, boxes: list[PackageType]) -> PackageType | None:
    """The smallest of the store's boxes that holds what is in the parcel, by the products' catalogue dimensions:
    every item fits (longest side along the box's longest, and so on) and their volume is at most the box's.
    When a product's dimensions are not known, the store's first box; when nothing holds it all, the largest."""
    if not boxes:
        return None
    items = [(_sides(item.fulfilment_line.product), item.quantity) for item in parcel.items]
    sized = [(box, _sides(box)) for box in boxes if _sides(box)]
    if not items or not sized or any(sides is None for sides, _ in items):
        return boxes[0]
    volume = sum(sides[0] * sides[1] * sides[2] * quantity for sides, quantity in items)

    def holds(sides: list[int]) -> bool:
        return volume <= sides[0] * sides[1] * sides[2] and all(
            item[i] <= sides[i] for item, _ in items for i in range(3)
        )

    by_volume = sorted(sized, key=lambda pair: (pair[1][0] * pair[1][1] * pair[1][2], pair[0].name))
    return next((box for box, sides in by_volume if holds(sides)), by_volume[-1][0])


def parcel_choice(parcel: Parcel) -> ParcelChoice:
    """What was saved for the parcel, else the suggestion: the smallest box that holds it (suggested_box) and the
    estimated weight."""
    box = parcel.package_type
    if box is None:
        box = suggested_box(parcel, package_types(parcel.fulfilment.location))
    estimate = estimated_weight(parcel, box)
    weight = parcel.weight_grams or (estimate if 0 < estimate <= carriers.MAX_WEIGHT else None)
    return ParcelChoice(box, weight, estimate, parcel.package_type is not None and bool(parcel.weight_grams))


def _take_choice(parcel: Parcel, actor: Actor) -> None:
    """Store the suggested box and weight on a parcel that was finished without saving them."""
    choice = parcel_choice(parcel)
    if choice.saved:
        return
    before = {"package_type": parcel.package_type_id, "weight_grams": parcel.weight_grams}
    parcel.package_type, parcel.weight_grams = choice.package_type, choice.weight_grams
    after = {"package_type": choice.package_type.id, "weight_grams": choice.weight_grams, "suggested": True}
    audit.record(actor, "pack.set_parcel", parcel, before, after)


def set_parcel(
    parcel: Parcel,
    *,
    package_type: PackageType | None,
    weight_grams,
    service: CarrierService | None = None,
    actor: Actor,
) -> Parcel:
    """Set a parcel's box, weight (grams) and, optionally, its service; all or nothing."""
    fulfilment = parcel.fulfilment
    _require_packing(fulfilment)
    errors = {}
    if package_type is None or package_type.location_id != fulfilment.location_id or not package_type.active:
        errors["package_type"] = N_("Choose one of this store's boxes.")
    weight = _whole(weight_grams, 1, carriers.MAX_WEIGHT)
    if weight is None:
        errors["weight_grams"] = (
            N_("Must be a whole number from %(low)s to %(high)s."),
            {"low": 1, "high": carriers.MAX_WEIGHT},
        )
    if service is not None and weight is not None and not carriers.takes(service, weight):
        errors["service"] = N_("This service does not take a parcel this heavy.")
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    before = {
        "package_type": parcel.package_type_id,
        "weight_grams": parcel.weight_grams,
        "service": parcel.service_id,
    }
    parcel.package_type, parcel.weight_grams = package_type, weight
    if service is not None:
        parcel.service = service
    after = {"package_type": package_type.id, "weight_grams": weight, "service": parcel.service_id}
    if after != before:
        audit.record(actor, "pack.set_parcel", parcel, before, after)
    db.session.flush()
    return parcel


def gift_done(fulfilment: Fulfilment, *, actor: Actor) -> Fulfilment:
    """The gift wrap / message step is done; repeating it changes nothing."""
    if fulfilment.gift_done:
        return fulfilment
    _require_packing(fulfilment)
    fulfilment.gift_done = True
    audit.record(actor, "pack.gift_done", fulfilment, {"gift_done": False}, {"gift_done": True})
    db.session.flush()
    return fulfilment


# --- scan to pack ----------------------------------------------------------------------------------


def scanned_units(fulfilment: Fulfilment) -> dict[int, int]:
    """Units scanned while packing, per fulfilment line id."""
    rows = db.session.execute(
        select(Scan.fulfilment_line_id, func.sum(Scan.quantity))
        .where(
            Scan.purpose == "pack",
            Scan.undone_at.is_(None),
            Scan.fulfilment_line_id.in_([line.id for line in fulfilment.lines]),
        )
        .group_by(Scan.fulfilment_line_id)
    )
    return {line_id: int(total or 0) for line_id, total in rows}


def _scanned_in(parcel: Parcel, line: FulfilmentLine) -> int:
    return (
        db.session.scalar(
            select(func.coalesce(func.sum(Scan.quantity), 0)).where(
                Scan.purpose == "pack",
                Scan.undone_at.is_(None),
                Scan.parcel_id == parcel.id,
                Scan.fulfilment_line_id == line.id,
            )
        )
        or 0
    )


def _scan_work(fulfilment: Fulfilment) -> ScanWork:
    return ScanWork("pack", fulfilment.location_id, reference=f"F{fulfilment.id}")


def pack_scan(
    fulfilment: Fulfilment,
    parcel: Parcel | None,
    code: str,
    client_id: str,
    *,
    actor: Actor,
    user=None,
    now: datetime | None = None,
) -> Outcome:
    """One scan while packing: a product goes into the parcel (the newest one if none is given), or a command.

    CMD:NEW-PARCEL opens a new parcel; CMD:CONFIRM finishes packing. A product not in the order, an unknown
    code or one unit too many is refused (and stored, so a resend gets the same answer).
    """
    client_id = scans.check_client_id(client_id)
    require_shipping(fulfilment)
    work = _scan_work(fulfilment)
    replay = scans.replay(client_id, work)
    if replay is not None:
        return replay
    code = (code or "").strip()
    if not code:
        raise InvalidInput(N_("Scan or type a code."), field="code")

    def keep(result: Outcome, quantity: int = 0) -> Outcome:
        return scans.record(client_id, work, result, user=user, code=code, quantity=quantity)

    cmd = commands.command(code)
    if cmd == commands.NEW_PARCEL:
        made = new_parcel(fulfilment, actor=actor)
        opened = Outcome(True, "new_parcel", N_("Parcel %(n)s is open."), {"n": made.number}, parcel_id=made.id)
        return keep(opened)
    if cmd == commands.CONFIRM:
        finish_packing(fulfilment, actor=actor, now=now)
        return keep(Outcome(True, "finished", N_("Packing finished: labels are ready."), {}))
    if cmd is not None:
        return keep(Outcome(False, "command", N_("This command does nothing while packing."), {}))
    _require_packing(fulfilment)
    start_packing(fulfilment, actor=actor)
    parcel = parcel or current_parcel(fulfilment)
    _own_parcel(fulfilment, parcel)
    product = find_product(code)
    if product is None:
        return keep(Outcome(False, "unknown", N_("Unknown code %(code)s."), {"code": code[:64]}, parcel_id=parcel.id))
    lines = [line for line in fulfilment.lines if line.product_id == product.id and line.picked]
    if not lines:
        return keep(
            Outcome(
                False,
                "wrong_product",
                N_("Wrong product: %(name)s is not in this order."),
                named(product),
                parcel_id=parcel.id,
            )
        )
    scanned = scanned_units(fulfilment)
    line = next((line for line in lines if scanned.get(line.id, 0) < line.picked), None)
    if line is None:
        total = sum(line.picked for line in lines)
        return keep(
            Outcome(
                False,
                "over",
                N_("%(name)s is already packed in full (%(total)s)."),
                {"total": total, **named(product)},
                parcel_id=parcel.id,
            )
        )
    item = _item(parcel, line)
    if item is None or _scanned_in(parcel, line) >= item.quantity:
        # The unit is still counted in another parcel: it moves into this one.
        donor = next(
            (
                p
                for p in fulfilment.parcels
                if p.id != parcel.id and _item(p, line) and _scanned_in(p, line) < _item(p, line).quantity
            ),
            None,
        )
        if donor is None:
            return keep(
                Outcome(
                    False,
                    "over",
                    N_("%(name)s is already packed in full (%(total)s)."),
                    {"total": line.picked, **named(product)},
                    parcel_id=parcel.id,
                )
            )
        if parcel.label is not None or donor.label is not None:
            raise PackRefused(N_("This parcel is labelled; void its label first."))
        _take(donor, line, 1)
        _put(parcel, line, 1)
        db.session.flush()
    left = line.picked - scanned.get(line.id, 0) - 1
    audit.record(actor, "pack.scan", parcel, None, {"sku": product.sku, "client_id": client_id})
    return keep(
        Outcome(
            True,
            "packed",
            N_("%(name)s into parcel %(n)s: %(left)s more to scan."),
            {**named(product), "n": parcel.number, "left": left},
            line_id=line.id,
            parcel_id=parcel.id,
        ),
        quantity=1,
    )


# --- finishing and labels ----------------------------------------------------------------------------


def problems(fulfilment: Fulfilment) -> dict:
    """Everything that stops packing from finishing, as {field: message or (message, params)}; empty when ready."""
    found = {}
    packed: dict[int, int] = {}
    for parcel in fulfilment.parcels:
        for item in parcel.items:
            packed[item.fulfilment_line_id] = packed.get(item.fulfilment_line_id, 0) + item.quantity
    for line in fulfilment.lines:
        in_parcels = packed.get(line.id, 0)
        if in_parcels != line.picked:
            found[f"line.{line.id}"] = (
                N_("%(name)s: %(packed)s in parcels, %(picked)s picked."),
                {**named(line.product), "packed": in_parcels, "picked": line.picked},
            )
    if not fulfilment.parcels:
        found["parcels"] = N_("There is no parcel yet.")
    for parcel in fulfilment.parcels:
        key = f"parcel.{parcel.number}"
        if not parcel.items:
            found[f"{key}.items"] = (
                N_("Parcel %(n)s is empty: remove it or move items into it."),
                {"n": parcel.number},
            )
            continue
        choice = parcel_choice(parcel)
        if choice.package_type is None:
            found[f"{key}.package_type"] = (N_("Parcel %(n)s has no box."), {"n": parcel.number})
        if not choice.weight_grams:
            found[f"{key}.weight_grams"] = (N_("Parcel %(n)s has no weight."), {"n": parcel.number})
        elif parcel.service is not None and not carriers.takes(parcel.service, choice.weight_grams):
            found[f"{key}.service"] = (
                N_("Parcel %(n)s is too heavy for %(service)s."),
                {"n": parcel.number, "service": parcel.service.name},
            )
        elif parcel.service is None and not any(
            carriers.takes(s, choice.weight_grams) for s in carriers.active_services()
        ):
            found[f"{key}.service"] = (
                N_("No carrier service takes parcel %(n)s (%(weight)s g)."),
                {"n": parcel.number, "weight": choice.weight_grams},
            )
    if needs_gift_step(fulfilment) and not fulfilment.gift_done:
        found["gift"] = N_("The gift step is not done.")
    if fulfilment.location.scan_to_pack:
        scanned = scanned_units(fulfilment)
        missing = sum(max(0, line.picked - scanned.get(line.id, 0)) for line in fulfilment.lines)
        if missing:
            found["scan"] = (N_("Units still to scan: %(n)s."), {"n": missing})
    return found


def _issue_label(parcel: Parcel, service: CarrierService, actor: Actor) -> ShippingLabel:
    require_shipping(parcel.fulfilment)
    number = carriers.next_tracking_number(service.carrier)
    label = ShippingLabel(
        parcel=parcel,
        carrier_id=service.carrier_id,
        service_id=service.id,
        tracking_number=number,
        status="active",
        print_count=0,
    )
    db.session.add(label)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        raise PackRefused(N_("Someone else changed this at the same time. Reload and try again.")) from exc
    audit.record(
        actor, "label.issue", label, None, {"parcel": parcel.id, "tracking_number": number, "service": service.code}
    )
    return label


def finish_packing(fulfilment: Fulfilment, *, actor: Actor, now: datetime | None = None) -> Fulfilment:
    """Check the parcels, issue one label per parcel and move the fulfilment to packed.

    Finishing a packed fulfilment again changes nothing. When something is missing, NotReady names
    every problem (fields) and nothing is changed.
    """
    require_shipping(fulfilment)
    if fulfilment.status == S.PACKED:
        return fulfilment
    _require_packing(fulfilment)
    found = problems(fulfilment)
    if found:
        first = next(iter(found.values()))
        message, params = first if isinstance(first, tuple) else (first, {})
        raise NotReady(message, fields=found, **params)
    for parcel in fulfilment.parcels:  # what the screen showed as chosen is what goes
        _take_choice(parcel, actor)
    now = now or utcnow()
    chosen = {
        parcel.id: parcel.service or carriers.choose_service(fulfilment, parcel.weight_grams, now)
        for parcel in fulfilment.parcels
    }
    for parcel in fulfilment.parcels:
        parcel.service = chosen[parcel.id]
        if parcel.label is None:
            _issue_label(parcel, parcel.service, actor)
    orders.transition(fulfilment, S.PACKED, actor=actor)
    if pickups.is_transfer(fulfilment):
        pickups.pickup_for(fulfilment)  # the pickup store's record of it, waiting to be received
    return fulfilment


def _require_not_handed_over(parcel: Parcel) -> None:
    if parcel.handed_over_at is not None:
        raise PackRefused(N_("Parcel %(n)s was already handed to the carrier."), n=parcel.number)


def void_label(label: ShippingLabel, *, actor: Actor, now: datetime | None = None) -> ShippingLabel:
    """Cancel a label: its tracking number is freed. Voiding a void label changes nothing."""
    if label.status == LabelStatus.VOID:
        return label
    parcel = label.parcel
    _require_not_handed_over(parcel)
    if parcel.fulfilment.status != S.PACKED:
        raise IllegalTransition(current=parcel.fulfilment.status, target=S.PACKED)
    label.status, label.voided_at = "void", now or utcnow()
    if parcel.manifest is not None and parcel.manifest.status == ManifestStatus.OPEN:
        parcel.manifest_id = None
    audit.record(
        actor, "label.void", label, {"status": "active"}, {"status": "void", "tracking_number": label.tracking_number}
    )
    db.session.flush()
    return label


def relabel(parcel: Parcel, service: CarrierService | None = None, *, actor: Actor) -> ShippingLabel:
    """A new label for a parcel whose label was voided, by the same service or another that takes its weight.

    Repeating it returns the label in force when it is by that service.
    """
    _require_not_handed_over(parcel)
    if parcel.fulfilment.status != S.PACKED:
        raise IllegalTransition(current=parcel.fulfilment.status, target=S.PACKED)
    service = service or parcel.service
    current = parcel.label
    if current is not None:
        if current.service_id == service.id:
            return current
        raise PackRefused(N_("Parcel %(n)s has a label in force; void it first."), n=parcel.number)
    if not carriers.takes(service, parcel.weight_grams):
        raise InvalidInput(N_("This service does not take a parcel this heavy."), field="service")
    before = parcel.service_id
    parcel.service = service
    label = _issue_label(parcel, service, actor)
    if before != service.id:
        audit.record(actor, "pack.change_service", parcel, {"service": before}, {"service": service.id})
    db.session.flush()
    return label


def reprint(label: ShippingLabel, *, actor: Actor) -> ShippingLabel:
    """Count one more print of a label (audited); a void label cannot be printed."""
    require_shipping(label.parcel.fulfilment)
    if label.status != LabelStatus.ACTIVE:
        raise PackRefused(N_("This label is void; print the new one."))
    label.print_count += 1
    audit.record(actor, "label.reprint", label, None, {"print_count": label.print_count})
    db.session.flush()
    return label


def printable_label(parcel: Parcel) -> ShippingLabel:
    """The label in force of a parcel, to print or download; none for a click & collect order."""
    require_shipping(parcel.fulfilment)
    if parcel.label is None:
        raise NotFound(N_("This parcel has no label in force."))
    return parcel.label


def is_transfer_clause():
    """SQL for pickups.is_transfer: a click & collect fulfilment another location sends to the pickup store."""
    return Fulfilment.transfer_to_id.is_not(None) & (Fulfilment.transfer_to_id != Fulfilment.location_id)


def ready_parcels(location: Location, carrier_id: int | None = None) -> list[Parcel]:
    """Labelled parcels at a store not yet handed to their carrier (ship orders and transfers), oldest first."""
    stmt = (
        select(Parcel)
        .join(Fulfilment, Parcel.fulfilment_id == Fulfilment.id)
        .join(ShippingLabel, (ShippingLabel.parcel_id == Parcel.id) & (ShippingLabel.status == LabelStatus.ACTIVE))
        .join(Order, Fulfilment.order_id == Order.id)
        .where(
            Fulfilment.location_id == location.id,
            Parcel.handed_over_at.is_(None),
            Fulfilment.status == S.PACKED,
            or_(Order.delivery_method == DeliveryMethod.SHIP, is_transfer_clause()),
        )
        .order_by(Parcel.id)
    )
    if carrier_id is not None:
        stmt = stmt.where(ShippingLabel.carrier_id == carrier_id)
    return list(db.session.scalars(stmt).unique())
