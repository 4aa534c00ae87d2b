"""Click & collect from picked to the customer's hands: bags, the hold shelf, the code, arrival, hand-over, expiry,
put-back and transfers that travel to the pickup store.

The pickup store is the fulfilment's `transfer_to` (goods sent from another location) or its own location. Units
stay reserved for the fulfilment while they sit on the hold shelf: collected units leave the ledger (consumed);
units nobody took (expiry, a partial collection, a cancellation once staged) stay reserved, so off sale, until an
associate puts them back (restock), which releases them through the ledger.

Every operation here is the one the screens and the API call (app.web.pickups, app.api.fulfilments).
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update

from app.core import audit, payments
from app.core.actor import Actor
from app.core.errors import N_, DomainError, InvalidInput, NotFound
from app.core.integration import events, notices
from app.core.inventory import stock
from app.core.models import (
    DeliveryMethod,
    Fulfilment,
    Location,
    Order,
    Parcel,
    PaymentTransaction,
    Pickup,
    PickupBag,
    PickupSlot,
    Reservation,
    ShippingLabel,
    SourcingRules,
    bag_barcode,
    slot_barcode,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import MAX_ID, utcnow
from app.core.models.pickups import REFUSAL_REASONS
from app.core.ordering import orders
from app.core.uow import begin_for_writes, unit_of_work
from app.extensions import db

# Read aloud at the counter: no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B. 22^6 = 113 million codes per store.
CODE_ALPHABET = "ACDEFHJKMNPQRTUVWXY347"
CODE_LENGTH = 6
MAX_BAGS = 20
MAX_HOLD_DAYS = 60
MAX_REMINDER_HOURS = 24 * 14
WRONG_CODES_ALLOWED = 5  # then the fulfilment takes no code for LOCKOUT
LOCKOUT = timedelta(minutes=15)
ID_KINDS = ("id_card", "passport", "driving_licence", "residence_permit", "other")
EXPIRY_ACTIONS = ("cancel", "customer_service")
# A fulfilment the pickup side can still work on before it is ready: picked (or packed into bags) at its store.
BEFORE_READY = {S.PICKED, S.PACKED}


class PickupRefused(DomainError):
    code = "pickup_refused"
    http_status = 409
    message = N_("This pickup cannot do that now.")


class WrongCode(DomainError):
    code = "wrong_pickup_code"
    http_status = 403
    message = N_("This is not the pickup code of this order.")


class CodeLocked(DomainError):
    code = "pickup_code_locked"
    http_status = 429
    message = N_("Too many wrong codes for this order: check the customer's ID instead, or try again later.")


class BagsMissing(DomainError):
    code = "bags_missing"
    http_status = 409
    message = N_("Scan every bag before handing the order over: %(missing)s not scanned.")


# --- where and what ---------------------------------------------------------------------------------------------


def is_collect(fulfilment: Fulfilment) -> bool:
    return fulfilment.order.delivery_method == DeliveryMethod.COLLECT


def pickup_store(fulfilment: Fulfilment) -> Location:
    """Where the customer collects: the transfer's destination, or the store that picked it."""
    return fulfilment.transfer_to or fulfilment.location


def is_transfer(fulfilment: Fulfilment) -> bool:
    return fulfilment.transfer_to_id is not None and fulfilment.transfer_to_id != fulfilment.location_id


def holding_location(fulfilment: Fulfilment) -> Location:
    """Where the fulfilment's reserved units are in the ledger: the pickup store once a transfer was received."""
    pickup = fulfilment.pickup
    if is_transfer(fulfilment) and (pickup is None or pickup.received_at is None):
        return fulfilment.location
    return pickup_store(fulfilment)


def pickup_for(fulfilment: Fulfilment) -> Pickup:
    """The fulfilment's pickup, made the first time it is asked for (a click & collect fulfilment only)."""
    if not is_collect(fulfilment):
        raise PickupRefused(N_("This order is delivered, not collected: it has no pickup."))
    if fulfilment.pickup is None:
        pickup = Pickup(fulfilment=fulfilment, location_id=pickup_store(fulfilment).id, bags=0, refused=[])
        db.session.add(pickup)
        db.session.flush()
    return fulfilment.pickup


def pickup_status(fulfilment: Fulfilment) -> str:
    """One word for the pickup side: in_transit, to_receive, to_prepare, ready, arrived, collected, expired,
    cancelled (and the fulfilment's own status before picking)."""
    pickup = fulfilment.pickup
    if fulfilment.status == S.READY_FOR_PICKUP:
        return "arrived" if pickup and pickup.customer_arrived_at else "ready"
    if fulfilment.status in BEFORE_READY:
        if is_transfer(fulfilment) and (pickup is None or pickup.received_at is None):
            return "in_transit" if _handed_over(fulfilment) else "to_send"
        return "to_prepare"
    return str(fulfilment.status)


def _handed_over(fulfilment: Fulfilment) -> bool:
    return bool(fulfilment.parcels) and all(p.handed_over_at is not None for p in fulfilment.parcels)


def _now(now: datetime | None) -> datetime:
    now = now or utcnow()
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def store_fulfilment(store: Location, fulfilment_id) -> Fulfilment:
    """A click & collect fulfilment this store hands over (its own, or a transfer coming to it); 404 otherwise."""
    try:
        fulfilment_id = int(fulfilment_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    fulfilment = db.session.get(Fulfilment, fulfilment_id) if 0 < fulfilment_id <= MAX_ID else None
    if fulfilment is None or not is_collect(fulfilment) or pickup_store(fulfilment).id != store.id:
        raise NotFound()
    return fulfilment


# --- the hold shelf's slots -------------------------------------------------------------------------------------


def slots(store: Location, *, include_inactive: bool = False) -> list[PickupSlot]:
    stmt = select(PickupSlot).where(PickupSlot.location_id == store.id)
    if not include_inactive:
        stmt = stmt.where(PickupSlot.active)
    return db.session.scalars(stmt.order_by(PickupSlot.code)).all()


def _slot_code(text: str) -> str:
    code = (text or "").strip().upper()
    if not code or len(code) > 16 or not all(c.isalnum() or c in "-_." for c in code):
        raise InvalidInput(
            N_("A slot code is 1 to 16 letters, digits, dashes, dots or underscores, for example A-01."), field="code"
        )
    return code


def add_slots(store: Location, codes: list[str], *, actor: Actor) -> list[PickupSlot]:
    """Add slots by code (a slot that exists is made active again); returns the slots named."""
    wanted = []
    for text in codes:
        code = _slot_code(text)
        if code not in wanted:
            wanted.append(code)
    if not wanted:
        raise InvalidInput(N_("Give at least one slot code."), field="code")
    if len(wanted) > 500:
        raise InvalidInput(N_("At most 500 slots at a time."), field="code")
    existing = {s.code: s for s in slots(store, include_inactive=True)}
    out = []
    for code in wanted:
        slot = existing.get(code)
        if slot is None:
            slot = PickupSlot(location_id=store.id, code=code, active=True)
            db.session.add(slot)
        elif not slot.active:
            slot.active = True
        out.append(slot)
    audit.record(actor, "pickup.slots_added", store, None, {"slots": wanted})
    db.session.flush()
    return out


def set_slot_active(slot: PickupSlot, active: bool, *, actor: Actor) -> PickupSlot:
    """Take a slot out of use (or back); a slot holding bags cannot be taken out."""
    if not active and slot.active and _bags_in(slot):
        raise PickupRefused(N_("Slot %(slot)s still holds bags: move them first."), slot=slot.code)
    if slot.active != active:
        slot.active = active
        audit.record(actor, "pickup.slot_active", slot, {"active": not active}, {"active": active})
        db.session.flush()
    return slot


def _bags_in(slot: PickupSlot) -> int:
    return db.session.scalar(
        select(func.count(PickupBag.id))
        .join(Pickup, Pickup.id == PickupBag.pickup_id)
        .where(PickupBag.slot_id == slot.id, Pickup.is_open)
    )


def slot_from_scan(store: Location, text: str) -> PickupSlot:
    """The store's active slot a scan or typed code names: its label's barcode (SLOT-STORE-CODE) or its code."""
    text = (text or "").strip().upper()
    prefix = slot_barcode(store.code, "")
    if text.startswith("SLOT-") and not text.startswith(prefix):
        raise InvalidInput(N_("This slot label belongs to another store."), field="slot")
    code = text[len(prefix) :] if text.startswith(prefix) else text
    slot = db.session.scalar(
        select(PickupSlot).where(PickupSlot.location_id == store.id, PickupSlot.code == code, PickupSlot.active)
    )
    if slot is None:
        raise InvalidInput(N_("No slot %(code)s on this store's hold shelf."), field="slot", code=code[:20])
    return slot


# --- preparing and staging --------------------------------------------------------------------------------------


def _require_preparable(fulfilment: Fulfilment, store: Location | None = None) -> Pickup:
    pickup = pickup_for(fulfilment)
    if fulfilment.status not in BEFORE_READY:
        raise PickupRefused(
            N_("Order %(ref)s cannot be bagged or staged now: it is not picked, or it has left the shelf."),
            ref=fulfilment.order.reference,
        )
    if is_transfer(fulfilment) and pickup.received_at is None:
        raise PickupRefused(N_("This order has not reached the pickup store yet: receive its parcel first."))
    if store is not None and pickup.location_id != store.id:
        raise NotFound()
    return pickup


def set_bags(fulfilment: Fulfilment, count, *, actor: Actor) -> Pickup:
    """How many bags the order was packed into (1 to 20): bag labels n of m. A bag already on the shelf stays."""
    pickup = _require_preparable(fulfilment)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_BAGS:
        raise InvalidInput(N_("Give the number of bags, from 1 to %(most)s."), field="bags", most=MAX_BAGS)
    if any(bag.slot_id for bag in pickup.bag_rows if bag.number > count):
        raise PickupRefused(N_("A bag beyond that number is already on the shelf: take it off first."))
    before = pickup.bags
    for bag in list(pickup.bag_rows):
        if bag.number > count:
            pickup.bag_rows.remove(bag)
    have = {bag.number for bag in pickup.bag_rows}
    for number in range(1, count + 1):
        if number not in have:
            pickup.bag_rows.append(PickupBag(number=number))
    pickup.bags = count
    if before != count:
        audit.record(actor, "pickup.bags", fulfilment, {"bags": before}, {"bags": count})
    db.session.flush()
    return pickup


def _ensure_bags(pickup: Pickup) -> None:
    """Without a bag step, an order is one bag."""
    if not pickup.bag_rows:
        pickup.bag_rows.append(PickupBag(number=1))
        pickup.bags = 1
        db.session.flush()


def bag_from_scan(pickup: Pickup, text: str) -> PickupBag:
    """The bag of this pickup a bag label's barcode names (BAG-<fulfilment>-<n>)."""
    text = (text or "").strip().upper()
    bag = next((b for b in pickup.bag_rows if bag_barcode(pickup.fulfilment_id, b.number) == text), None)
    if bag is None:
        raise InvalidInput(N_("This is not a bag label of this order."), field="bag")
    return bag


def stage(
    fulfilment: Fulfilment,
    slot: PickupSlot,
    *,
    actor: Actor,
    bag_number: int | None = None,
    now: datetime | None = None,
) -> Pickup:
    """Put a bag (or every bag not yet on the shelf) in a slot. When every bag is on the shelf the order is ready
    for pickup: a code, a hold deadline, the customer told. Staging again moves a bag; a ready order stays ready."""
    now = _now(now)
    store = pickup_store(fulfilment)
    if slot.location_id != store.id or not slot.active:
        raise InvalidInput(N_("This slot is not on this store's hold shelf."), field="slot")
    if fulfilment.status == S.READY_FOR_PICKUP:
        pickup = fulfilment.pickup
    else:
        pickup = _require_preparable(fulfilment)
        if fulfilment.location.pickup_bag_step and store.pickup_bag_step and not pickup.bag_rows:
            raise PickupRefused(N_("Count the bags and print their labels before staging."))
        _ensure_bags(pickup)
    bags = [b for b in pickup.bag_rows if bag_number is None or b.number == bag_number]
    if not bags:
        raise InvalidInput(N_("This order has no bag %(number)s."), field="bag", number=bag_number)
    if bag_number is None and fulfilment.status != S.READY_FOR_PICKUP:
        bags = [b for b in bags if b.slot_id is None] or bags
    moved = []
    for bag in bags:
        if bag.slot_id != slot.id:
            bag.slot_id, bag.staged_at = slot.id, now
            moved.append(bag.number)
    if moved:
        audit.record(actor, "pickup.staged", fulfilment, None, {"slot": slot.code, "bags": moved})
    if fulfilment.status != S.READY_FOR_PICKUP and all(b.slot_id for b in pickup.bag_rows):
        _make_ready(fulfilment, pickup, actor=actor, now=now)
    db.session.flush()
    return pickup


def hold_deadline(store: Location, ready_at: datetime) -> datetime:
    """The end of the hold: the store's closing of day (23:59 store time) hold_days after it became ready."""
    zone = ZoneInfo(store.timezone)
    day = _aware(ready_at).astimezone(zone).date() + timedelta(days=store.pickup_hold_days)
    return datetime(day.year, day.month, day.day, 23, 59, tzinfo=zone).astimezone(UTC)


def _new_code(store_id: int) -> str:
    taken = set(
        db.session.scalars(
            select(Pickup.code).where(Pickup.location_id == store_id, Pickup.is_open, Pickup.code.is_not(None))
        )
    )
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in taken:
            return code


def _make_ready(fulfilment: Fulfilment, pickup: Pickup, *, actor: Actor, now: datetime) -> None:
    store = pickup_store(fulfilment)
    pickup.code = pickup.code or _new_code(store.id)
    pickup.ready_at = now
    pickup.expires_at = hold_deadline(store, now)
    pickup.failed_attempts, pickup.locked_until = 0, None
    orders.transition(fulfilment, S.READY_FOR_PICKUP, actor=actor)
    notices.pickup_ready(pickup)


def refusal_reasons(store: Location) -> tuple[str, ...]:
    """The reasons this store offers for what a customer leaves at the counter (its setting, or all of them)."""
    chosen = set(store.pickup_refusal_reasons or REFUSAL_REASONS)
    return tuple(reason for reason in REFUSAL_REASONS if reason in chosen)


def format_code(code: str | None) -> str:
    """ "K7MPX4" as "K7M-PX4": easier to read aloud."""
    return f"{code[:3]}-{code[3:]}" if code and len(code) == CODE_LENGTH else code or ""


def normalise_code(text: str | None) -> str:
    """What a customer reads out or a scanner types, back to the stored code (case, dashes and spaces ignored)."""
    return "".join(c for c in (text or "").upper() if c.isalnum())[:32]


# --- the customer -----------------------------------------------------------------------------------------------


def customer_arrived(pickup: Pickup, *, note: str = "", now: datetime | None = None) -> Pickup:
    """The customer says they are here ("I'm here" page): the store's queue shows it. Saying it again changes
    only the note."""
    now = _now(now)
    fulfilment = pickup.fulfilment
    if fulfilment.status != S.READY_FOR_PICKUP:
        raise PickupRefused(N_("This order is not waiting for you any more."))
    if pickup.expires_at and _aware(pickup.expires_at) <= now:
        raise PickupRefused(N_("The hold of this order has ended."))
    note = " ".join((note or "").split())[:120]
    first = pickup.customer_arrived_at is None
    if first:
        pickup.customer_arrived_at = now
    if note != pickup.arrival_note:
        pickup.arrival_note = note
    if first:
        audit.record(Actor.system("customer"), "pickup.customer_arrived", fulfilment, None, {"note": note})
        events.emit("pickup.customer_arrived", fulfilment.order, fulfilment, note=note)
    db.session.flush()
    return pickup


def arrivals(store: Location) -> list[Pickup]:
    """Customers who said they are here and have not been served yet, longest waiting first."""
    return db.session.scalars(
        select(Pickup)
        .join(Fulfilment, Fulfilment.id == Pickup.fulfilment_id)
        .where(
            Pickup.location_id == store.id,
            Pickup.is_open,
            Pickup.customer_arrived_at.is_not(None),
            Fulfilment.status == S.READY_FOR_PICKUP,
        )
        .order_by(Pickup.customer_arrived_at)
    ).all()


def ready(store: Location) -> list[Pickup]:
    """Orders on the store's hold shelf, the customer here first, then the oldest."""
    rows = db.session.scalars(
        select(Pickup)
        .join(Fulfilment, Fulfilment.id == Pickup.fulfilment_id)
        .where(Pickup.location_id == store.id, Pickup.is_open, Fulfilment.status == S.READY_FOR_PICKUP)
        .order_by(Pickup.ready_at, Pickup.id)
    ).all()
    return sorted(rows, key=lambda p: (p.customer_arrived_at is None, _aware(p.customer_arrived_at or p.ready_at)))


# --- finding an order at the counter ----------------------------------------------------------------------------


def find_at_counter(store: Location, text: str, limit: int = 20) -> list[Fulfilment]:
    """The store's click & collect orders a code, order number, name, phone or e-mail names; open ones first.

    A pickup code (as printed or read out), a bag label, an order number or the channel's reference find one
    order; a name (accents and case ignored), an e-mail or a phone number (digits only compared) find several, as
    the customer service search does (app.core.service.search.customer_condition)."""
    text = " ".join((text or "").split())[:120]
    if not text:
        return []
    store_id = store.id
    base = (
        select(Fulfilment)
        .join(Order, Order.id == Fulfilment.order_id)
        .outerjoin(Pickup, Pickup.fulfilment_id == Fulfilment.id)
        .where(
            Order.delivery_method == DeliveryMethod.COLLECT,
            or_(
                Fulfilment.transfer_to_id == store_id,
                (Fulfilment.location_id == store_id) & Fulfilment.transfer_to_id.is_(None),
            ),
        )
    )
    code = normalise_code(text)
    if len(code) == CODE_LENGTH:
        found = db.session.scalars(base.where(Pickup.is_open, Pickup.code == code)).all()
        if found:
            return list(found)
    upper = text.upper()
    if upper.startswith("BAG-"):
        number = upper.split("-")[1] if upper.count("-") >= 2 else ""
        if number.isdigit() and int(number) <= MAX_ID:
            return list(db.session.scalars(base.where(Fulfilment.id == int(number))).all())
    _channel, dash, rest = text.partition("-")
    refs = {text, upper} | ({rest, rest.upper()} if dash and rest else set())
    found = db.session.scalars(base.where(Order.external_ref.in_(sorted(refs)))).all()
    if found:
        return list(found)
    # the customer service search's: name (accents and case ignored), e-mail or phone, from Order.search_text
    from app.core.service.search import customer_condition

    customer = customer_condition(text)
    if customer is None:
        return []
    rows = db.session.scalars(base.where(customer).order_by(Fulfilment.id.desc()).limit(limit * 3)).all()
    rows = sorted(rows, key=lambda f: (f.status not in orders.OPEN, -f.id))
    return rows[:limit]


# --- hand-over --------------------------------------------------------------------------------------------------


def check_code(pickup: Pickup, text: str, *, now: datetime | None = None) -> None:
    """Refuse a wrong code (WrongCode), or any code while locked out (CodeLocked). The caller counts a wrong code
    in its own transaction with count_wrong_code(), since the refusal rolls back the request's."""
    now = _now(now)
    if pickup.locked_until and _aware(pickup.locked_until) > now:
        raise CodeLocked()
    # compared as bytes: compare_digest refuses str with non-ASCII characters (what a customer may type)
    if not pickup.code or not secrets.compare_digest(normalise_code(text).encode(), pickup.code.encode()):
        raise WrongCode(field="pickup_code")


def count_wrong_code(pickup_id: int, *, now: datetime | None = None) -> None:
    """One more wrong code for a pickup (its own short transaction, run by the edge after the refusal); the
    WRONG_CODES_ALLOWED-th locks it for LOCKOUT."""

    now = _now(now)
    with unit_of_work(writes=True):
        db.session.execute(
            update(Pickup).where(Pickup.id == pickup_id).values(failed_attempts=Pickup.failed_attempts + 1)
        )
        db.session.execute(
            update(Pickup)
            .where(Pickup.id == pickup_id, Pickup.failed_attempts >= WRONG_CODES_ALLOWED)
            .values(failed_attempts=0, locked_until=now + LOCKOUT)
        )


def _id_check(values: dict | None, actor: Actor) -> dict:
    values = values or {}
    errors = {}
    kind = str(values.get("kind") or "")
    digits = str(values.get("last_digits") or "").strip().upper()
    reason = " ".join(str(values.get("reason") or "").split())[:200]
    if kind not in ID_KINDS:
        errors["id_check.kind"] = N_("Choose the kind of ID document.")
    if not (2 <= len(digits) <= 6 and digits.isalnum()):
        errors["id_check.last_digits"] = N_("Type the last 2 to 6 characters of the ID document's number.")
    if not reason:
        errors["id_check.reason"] = N_("Say why the code was not given.")
    if errors:
        raise InvalidInput(N_("Check the customer's ID and record it."), fields=errors)
    return {"kind": kind, "last_digits": digits, "reason": reason, "by": actor.label}


def _units_of(lines: list, available: dict, *, not_here: str, whole: str, least: int, too_many: tuple) -> tuple:
    """({fulfilment line: units}, field errors) from [{sku, quantity}] rows: each sku one of `available`'s lines,
    each quantity a whole number from `least`, their sum per line within what `available` gives it.
    too_many: (msgid, name of its count parameter)."""
    by_sku = {line.product.sku: line for line in available}
    wanted, errors = {}, {}
    for i, row in enumerate(lines):
        row = row if isinstance(row, dict) else {}
        line = by_sku.get(str(row.get("sku") or ""))
        quantity = row.get("quantity")
        if line is None:
            errors[f"lines.{i}.sku"] = not_here
        elif not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < least:
            errors[f"lines.{i}.quantity"] = whole
        else:
            wanted[line] = wanted.get(line, 0) + quantity
            if wanted[line] > available[line]:
                message, count = too_many
                errors[f"lines.{i}.quantity"] = (message, {"sku": line.product.sku, count: available[line]})
    return wanted, errors


def _quantities(fulfilment: Fulfilment, lines: list | None) -> dict:
    """{fulfilment line: units collected} from [{sku, quantity}] (None: everything picked)."""
    picked = {line: line.picked for line in fulfilment.lines if line.picked}
    if lines is None:
        return picked
    wanted, errors = _units_of(
        lines,
        picked,
        not_here=N_("This product is not in the order's bags."),
        whole=N_("Must be a whole number, zero or more."),
        least=0,
        too_many=(N_("More units of %(sku)s than were picked (%(picked)s)."), "picked"),
    )
    if errors:
        raise InvalidInput(N_("Some lines cannot be collected as given."), fields=errors)
    if not any(wanted.values()):
        raise InvalidInput(
            N_("Nothing collected: if the customer takes nothing, leave the order on the shelf."), field="lines"
        )
    return wanted


def collect(
    fulfilment: Fulfilment,
    *,
    actor: Actor,
    pickup_code: str | None = None,
    id_check: dict | None = None,
    bags_scanned: list[str] | None = None,
    lines: list | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Pickup:
    """Hand the order over. The customer's code, or an ID check recorded with a reason (audited). With the store's
    bag scans on, every bag's label must be among bags_scanned (the missing ones are named). lines: what the
    customer takes when not everything ([{sku, quantity}]); the rest waits on the put-back list, with `reason`.
    Collected units leave the ledger and are captured (payments); the customer gets a receipt."""
    now = _now(now)
    if fulfilment.status == S.COLLECTED:
        return fulfilment.pickup  # the same hand-over again (a resend): already done
    handover = check_handover(
        fulfilment,
        pickup_code=pickup_code,
        id_check=id_check,
        bags_scanned=bags_scanned,
        lines=lines,
        reason=reason,
        now=now,
        actor=actor,
    )
    pickup, check, wanted, left, refusal = (
        handover.pickup,
        handover.check,
        handover.wanted,
        handover.left,
        handover.refusal,
    )
    location = holding_location(fulfilment)
    orders.lock_stock_of([fulfilment])
    reference = orders.fulfilment_reference(fulfilment)

    def consume_collected(f: Fulfilment, who: Actor) -> None:
        for line, quantity in wanted.items():
            if quantity:
                stock.consume(location, line.product, quantity, actor=who, fulfilment_line=line, reference=reference)

    pickup.refused = [
        {"sku": line.product.sku, "quantity": quantity, "reason": refusal}
        for line, quantity in left.items()
        if quantity
    ]
    pickup.put_back = bool(pickup.refused)
    pickup.collected_at, pickup.closed_at, pickup.is_open = now, now, False
    pickup.id_check = check
    pickup.failed_attempts, pickup.locked_until = 0, None
    # What the customer takes is captured (already, when hand_over took it first) before the transition voids the rest.
    payments.capture_left_store(fulfilment, wanted, actor=actor)
    orders.transition(fulfilment, S.COLLECTED, actor=actor, effect=consume_collected)
    audit.record(
        actor,
        "pickup.collected",
        fulfilment,
        None,
        {
            "by": "code" if check is None else "id_check",
            **({"id_check": check} if check else {}),
            **({"refused": pickup.refused} if pickup.refused else {}),
        },
    )
    notices.pickup_collected(pickup)
    db.session.flush()
    return pickup


@dataclass
class Handover:
    pickup: Pickup
    check: dict | None  # the ID check, when no code
    wanted: dict  # {FulfilmentLine: units the customer takes}
    left: dict  # {FulfilmentLine: units left for put-back}
    refusal: str


def check_handover(
    fulfilment: Fulfilment,
    *,
    actor: Actor,
    pickup_code: str | None = None,
    id_check: dict | None = None,
    bags_scanned: list[str] | None = None,
    lines: list | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Handover:
    """Every rule of a hand-over, checked before anything changes (a wrong code raises WrongCode: the caller
    counts it after rolling back)."""
    now = _now(now)
    if fulfilment.status != S.READY_FOR_PICKUP:
        raise PickupRefused(
            N_("Order %(ref)s is not waiting on the hold shelf."),
            ref=fulfilment.order.reference,
        )
    pickup = fulfilment.pickup
    store = pickup_store(fulfilment)
    check = None
    if pickup_code:
        check_code(pickup, pickup_code, now=now)
    else:
        check = _id_check(id_check, actor)
    if store.pickup_bag_scan:
        scanned = {bag_from_scan(pickup, code).number for code in (bags_scanned or []) if code}
        missing = [b for b in pickup.bag_rows if b.number not in scanned]
        if missing:
            raise BagsMissing(
                missing=", ".join(f"{b.number}/{pickup.bags}" for b in missing),
                field="bags",
            )
    wanted = _quantities(fulfilment, lines)
    refusal = " ".join((reason or "").split())[:60]
    left = {line: line.picked - wanted.get(line, 0) for line in fulfilment.lines if line.picked}
    if any(left.values()) and refusal not in refusal_reasons(store):
        raise InvalidInput(N_("Say why the customer does not take everything."), field="reason")
    return Handover(pickup, check, wanted, left, refusal)


def hand_over(
    fulfilment: Fulfilment, *, actor: Actor, payment_override: str = "", **given
) -> tuple[Pickup, PaymentTransaction | None]:
    """The counter's hand-over, for the screens and the API alike: every rule checked, then the capture of what the
    customer takes is written, committed and sent to the payment provider (outside any stock transaction), then
    the order is collected (collect). A capture that failed holds the goods when the retailer says so
    (RetailerSettings.failed_capture = hold: payments.PaymentFailed, nothing handed over); otherwise the order is
    handed over and customer service is told. payment_override: a note that the customer paid another way (at the
    till): the held goods are handed over all the same, audited with the note (the screens let managers only).
    Commits; a repeat of a done hand-over changes nothing."""
    if fulfilment.status == S.COLLECTED:
        return fulfilment.pickup, None
    handover = check_handover(fulfilment, actor=actor, **given)
    txn = payments.capture_before_handover(fulfilment, handover.wanted, actor=actor)
    note = " ".join((payment_override or "").split())[:200]
    held = txn is not None and txn.status == "failed" and payments.settings().failed_capture == "hold"
    if held and not note:
        db.session.commit()
        raise payments.PaymentFailed()
    db.session.commit()  # end the reads above: the hand-over's transaction starts as a writer (SQLite)
    with unit_of_work(writes=True):
        orders.lock_order(fulfilment.order)
        if held:
            audit.record(
                actor, "payment.hold_overridden", fulfilment.order, None, {"transaction": txn.id, "note": note}
            )
        pickup = collect(fulfilment, actor=actor, **given)
    begin_for_writes()  # the caller may write again (the API's Idempotency-Key record)
    return pickup, txn


# --- holds, expiry and reminders --------------------------------------------------------------------------------


def extend_hold(fulfilment: Fulfilment, expires_at: datetime, *, actor: Actor, now: datetime | None = None) -> Pickup:
    """Move the end of a hold (longer or shorter); it must be in the future and at most MAX_HOLD_DAYS away."""
    now = _now(now)
    if fulfilment.status != S.READY_FOR_PICKUP:
        raise PickupRefused(N_("Only an order waiting on the hold shelf has a hold to change."))
    if not isinstance(expires_at, datetime):
        raise InvalidInput(N_("Give a date and time."), field="expires_at")
    expires_at = _aware(expires_at)
    if expires_at <= now:
        raise InvalidInput(N_("The new end of the hold must be in the future."), field="expires_at")
    if expires_at > now + timedelta(days=MAX_HOLD_DAYS):
        raise InvalidInput(N_("A hold ends at most %(days)s days from now."), field="expires_at", days=MAX_HOLD_DAYS)
    pickup = fulfilment.pickup
    before = _aware(pickup.expires_at)
    if before != expires_at:
        pickup.expires_at, pickup.reminded_at = expires_at, None
        audit.record(
            actor,
            "pickup.hold_changed",
            fulfilment,
            {"expires_at": before.isoformat() if before else None},
            {"expires_at": expires_at.isoformat()},
        )
        events.emit("pickup.hold_changed", fulfilment.order, fulfilment, expires_at=expires_at.isoformat())
        db.session.flush()
    return pickup


def _expiry_action() -> str:
    rules = db.session.get(SourcingRules, 1)
    return rules.pickup_expiry if rules is not None else "cancel"


def expire(fulfilment: Fulfilment, *, actor: Actor, now: datetime | None = None) -> bool:
    """End a hold that ran out: expired, its units held off sale for put-back; the order cancelled or handed to
    customer service per the retailer's rule. False when it was no longer waiting (collected meanwhile)."""
    now = _now(now)
    if fulfilment.status != S.READY_FOR_PICKUP:
        return False
    pickup = fulfilment.pickup
    orders.lock_order(fulfilment.order)
    if fulfilment.status != S.READY_FOR_PICKUP:
        return False
    pickup.is_open, pickup.closed_at = False, now
    orders.transition(fulfilment, S.EXPIRED, actor=actor, reason="hold ended")
    order = fulfilment.order
    if _expiry_action() == "customer_service":
        order.needs_customer_service = True
        audit.record(actor, "order.needs_customer_service", order, None, {"reason": "pickup expired"})
    elif order.status == "open" and not any(f.status in orders.OPEN for f in order.fulfilments):
        if not any(f.status in {S.SHIPPED, S.COLLECTED} for f in order.fulfilments):
            orders.cancel_order(order, reason="pickup expired", actor=actor)
    db.session.flush()
    return True


def expire_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """The worker's pass: expire every hold that ran out (each in its own transaction); returns how many."""

    now = _now(now)
    done = 0
    with unit_of_work():
        due = db.session.scalars(
            select(Pickup.fulfilment_id)
            .where(Pickup.is_open, Pickup.expires_at.is_not(None), Pickup.expires_at <= now)
            .order_by(Pickup.expires_at)
            .limit(limit)
        ).all()
    for fulfilment_id in due:
        with unit_of_work(writes=True):
            fulfilment = db.session.get(Fulfilment, fulfilment_id)
            if fulfilment is not None and expire(fulfilment, actor=Actor.system("worker"), now=now):
                done += 1
    return done


def remind_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """The worker's pass: remind customers whose hold ends within their store's reminder hours; returns how many."""

    now = _now(now)
    sent = 0
    with unit_of_work():
        rows = db.session.execute(
            select(Pickup.id, Pickup.expires_at, Location.pickup_reminder_hours)
            .join(Location, Location.id == Pickup.location_id)
            .where(
                Pickup.is_open,
                Pickup.reminded_at.is_(None),
                Pickup.expires_at.is_not(None),
                Pickup.expires_at > now,
                Location.pickup_reminder_hours > 0,
                Pickup.expires_at <= now + timedelta(hours=MAX_REMINDER_HOURS),
            )
            .order_by(Pickup.expires_at)
            .limit(limit * 5)
        ).all()
    due = [pid for pid, expires_at, hours in rows if _aware(expires_at) - timedelta(hours=hours) <= now][:limit]
    for pickup_id in due:
        with unit_of_work(writes=True):
            taken = db.session.execute(
                update(Pickup).where(Pickup.id == pickup_id, Pickup.reminded_at.is_(None)).values(reminded_at=now)
            ).rowcount
            pickup = db.session.get(Pickup, pickup_id)
            if taken and pickup.fulfilment.status == S.READY_FOR_PICKUP:
                notices.pickup_reminder(pickup)
                sent += 1
    return sent


# --- put-back ---------------------------------------------------------------------------------------------------


def held_units(fulfilment: Fulfilment) -> dict:
    """{fulfilment line: units still reserved} for a fulfilment whose pickup ended (what waits to be put back)."""
    ids = [line.id for line in fulfilment.lines]
    held = dict(
        db.session.execute(
            select(Reservation.fulfilment_line_id, Reservation.quantity).where(
                Reservation.fulfilment_line_id.in_(ids), Reservation.quantity > 0
            )
        ).all()
    )
    return {line: held[line.id] for line in fulfilment.lines if held.get(line.id)}


def put_back_list(store: Location) -> list[Pickup]:
    """What waits to go back on the shop floor at this store: expired, partly collected or cancelled pickups."""
    return db.session.scalars(
        select(Pickup).where(Pickup.location_id == store.id, Pickup.put_back).order_by(Pickup.closed_at, Pickup.id)
    ).all()


def hold_for_put_back(fulfilment: Fulfilment, actor: Actor) -> None:
    """The stock effect of a pickup ending with units on the shelf (expired, or cancelled/rejected once staged):
    the picked units stay reserved until put back; units never picked are released now."""
    pickup = fulfilment.pickup
    location = holding_location(fulfilment)
    reference = orders.fulfilment_reference(fulfilment)
    for line in fulfilment.lines:
        held = stock.reserved_for(line)
        extra = held - line.picked
        if extra > 0:
            stock.release(location, line.product, extra, actor=actor, fulfilment_line=line, reference=reference)
    if pickup is not None:
        pickup.is_open = False
        pickup.closed_at = pickup.closed_at or utcnow()
        pickup.put_back = any(line.picked for line in fulfilment.lines)


def restock(fulfilment: Fulfilment, *, actor: Actor, lines: list | None = None) -> dict:
    """Put units waiting on the put-back list back on sale (all, or [{sku, quantity}]): each a release through
    the ledger. Returns {sku: units put back}. Putting back what is no longer waiting changes nothing."""
    pickup = fulfilment.pickup
    if pickup is None or not pickup.put_back:
        if lines:
            raise PickupRefused(N_("Nothing of this order waits to be put back."))
        return {}
    orders.lock_stock_of([fulfilment])
    held = held_units(fulfilment)
    if lines is None:
        wanted = dict(held)
    else:
        wanted, errors = _units_of(
            lines,
            held,
            not_here=N_("This product does not wait to be put back from this order."),
            whole=N_("Must be a whole number above zero."),
            least=1,
            too_many=(N_("Only %(held)s of %(sku)s wait to be put back."), "held"),
        )
        if errors:
            raise InvalidInput(N_("Some lines cannot be put back as given."), fields=errors)
    location = holding_location(fulfilment)
    reference = orders.fulfilment_reference(fulfilment)
    done = {}
    for line, quantity in wanted.items():
        stock.release(
            location, line.product, quantity, actor=actor, fulfilment_line=line, reference=reference, reason="put back"
        )
        done[line.product.sku] = done.get(line.product.sku, 0) + quantity
    if all(held[line] == wanted.get(line, 0) for line in held):
        pickup.put_back, pickup.restocked_at = False, utcnow()
        for bag in pickup.bag_rows:
            bag.slot_id = None
    audit.record(actor, "pickup.restocked", fulfilment, None, {"units": done})
    events.emit("pickup.restocked", fulfilment.order, fulfilment, units=done)
    db.session.flush()
    return done


def restock_scan(store: Location, text: str) -> list[Pickup]:
    """The put-back list's entries a scan names: a bag label, a slot label or an order number."""
    text = (text or "").strip()
    waiting = put_back_list(store)
    upper = text.upper()
    if upper.startswith("SLOT-"):
        slot = slot_from_scan(store, text)
        return [p for p in waiting if any(b.slot_id == slot.id for b in p.bag_rows)]
    found = {f.id for f in find_at_counter(store, text)}
    return [p for p in waiting if p.fulfilment_id in found]


# --- transfers to the pickup store ------------------------------------------------------------------------------


def incoming(store: Location) -> list[Fulfilment]:
    """Click & collect orders another location sends to this store, not yet received, oldest first."""
    return db.session.scalars(
        select(Fulfilment)
        .outerjoin(Pickup, Pickup.fulfilment_id == Fulfilment.id)
        .where(
            Fulfilment.transfer_to_id == store.id,
            Fulfilment.location_id != store.id,
            orders_open(),
            Pickup.received_at.is_(None),
        )
        .order_by(Fulfilment.id)
    ).all()


def orders_open():
    return Fulfilment.status.in_(sorted(orders.OPEN))


def receive_transfer(store: Location, code: str, *, actor: Actor, now: datetime | None = None) -> Fulfilment:
    """The pickup store scans the parcel a transfer came in (its tracking number or the order number): its units
    move to this store in the ledger, still reserved for the order. Receiving it again changes nothing."""
    now = _now(now)
    text = (code or "").strip().upper()[:64]
    fulfilment = db.session.scalar(
        select(Fulfilment)
        .join(Parcel, Parcel.fulfilment_id == Fulfilment.id)
        .join(ShippingLabel, ShippingLabel.parcel_id == Parcel.id)
        .where(ShippingLabel.tracking_number == text, ShippingLabel.status == "active")
    )
    if fulfilment is None:
        found = [f for f in find_at_counter(store, text) if is_transfer(f)]
        fulfilment = found[0] if len(found) == 1 else None
    if fulfilment is None or fulfilment.transfer_to_id != store.id:
        raise InvalidInput(N_("No transfer to this store has the code %(code)s."), field="code", code=text[:30])
    pickup = pickup_for(fulfilment)
    if pickup.received_at is not None:
        return fulfilment
    if fulfilment.status not in BEFORE_READY:
        raise PickupRefused(
            N_("Order %(ref)s can no longer be received: it was cancelled or rejected."),
            ref=fulfilment.order.reference,
        )
    if fulfilment.status != S.PACKED:
        raise PickupRefused(N_("The sending store has not packed this order yet."))
    orders.lock_stock_of([fulfilment])
    source = fulfilment.location
    reference = orders.fulfilment_reference(fulfilment)
    for line in fulfilment.lines:
        held = stock.reserved_for(line)
        if held:
            stock.transfer_reserved(
                source, store, line.product, held, actor=actor, fulfilment_line=line, reference=reference
            )
    for parcel in fulfilment.parcels:
        parcel.handed_over_at = parcel.handed_over_at or now
    pickup.received_at = now
    audit.record(actor, "pickup.transfer_received", fulfilment, None, {"from": source.code, "to": store.code})
    events.emit("pickup.transfer_received", fulfilment.order, fulfilment, received_by=store.code)
    db.session.flush()
    return fulfilment


# --- the pickup as the API shows it -----------------------------------------------------------------------------


def describe(fulfilment: Fulfilment) -> dict | None:
    """The `pickup` object of a collect fulfilment in the API (code once ready)."""
    if not is_collect(fulfilment):
        return None
    pickup = fulfilment.pickup

    def moment(value):
        return _aware(value).isoformat() if value else None

    slot_codes = sorted({b.slot.code for b in pickup.bag_rows if b.slot is not None}) if pickup else []
    return {
        "status": pickup_status(fulfilment),
        "code": pickup.code if pickup and pickup.ready_at else None,
        "slot": slot_codes[0] if len(slot_codes) == 1 else (", ".join(slot_codes) or None),
        "slots": slot_codes,
        "bags": pickup.bags if pickup else 0,
        "ready_at": moment(pickup.ready_at) if pickup else None,
        "expires_at": moment(pickup.expires_at) if pickup else None,
        "customer_arrived_at": moment(pickup.customer_arrived_at) if pickup else None,
        "collected_at": moment(pickup.collected_at) if pickup else None,
        "received_at": moment(pickup.received_at) if pickup else None,
        "put_back": bool(pickup and pickup.put_back),
        "pickup_store": pickup_store(fulfilment).code,
    }
