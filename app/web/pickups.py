"""Click & collect after picking, on the shop floor: count the bags and print their labels, put them on the hold
shelf by scanning a slot's label (the order is then ready for pickup); and, for the store's managers, the hold
shelf's slots with their labels and the store's click & collect settings.

Every change goes through app.core.floor.pickups (the API calls the same operations)."""

import re

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, IntegerField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from app.core.errors import N_, DomainError, InvalidInput
from app.core.floor import pickups, printing
from app.core.models import FulfilmentStatus as S
from app.core.models import Pickup, PickupBag, PickupSlot
from app.core.ordering import rules
from app.core.uow import unit_of_work
from app.extensions import db
from app.web.counter import REFUSED_LABELS
from app.web.helpers import (
    MultiCheckboxField,
    current_actor,
    document_response,
    domain_message,
    go_to,
    manager_required,
    render,
    save_form,
    store_route,
    toast,
)
from labels.pickups import (
    BAG_SIZES,
    SLOT_LAYOUTS,
    BagLabel,
    SlotLabel,
    bag_labels_pdf,
    bag_labels_zpl,
    slot_labels_pdf,
    slot_labels_zpl,
)

bp = Blueprint("pickups", __name__)

MAX_RANGE = 500  # as many slots as pickups.add_slots takes at a time
RANGE = re.compile(r"^(?P<prefix>.*?)(?P<start>\d+)\s*\.\.\s*(?P<prefix2>.*?)(?P<end>\d+)$")


# --- forms ---------------------------------------------------------------------------------------


class PickupSettingsForm(FlaskForm):
    """The store's click & collect settings (also part of the admin's location form)."""

    pickup_bag_step = BooleanField(lazy_gettext("Bag step: count the bags and print bag labels before staging"))
    pickup_hold_days = IntegerField(
        lazy_gettext("Days an order waits on the hold shelf (1 to 60)"),
        validators=[InputRequired(), NumberRange(*rules.LOCATION_RANGES["pickup_hold_days"])],
    )
    pickup_reminder_hours = IntegerField(
        lazy_gettext("Remind the customer this many hours before the hold ends (0: no reminder, at most 336)"),
        validators=[InputRequired(), NumberRange(*rules.LOCATION_RANGES["pickup_reminder_hours"])],
    )
    pickup_bag_scan = BooleanField(lazy_gettext("Scan every bag's label at hand-over"))
    curbside = BooleanField(lazy_gettext("Customers may say “I'm here” from the e-mail (curbside)"))


class SlotsForm(FlaskForm):
    code = TextAreaField(
        lazy_gettext("Slot codes: one, a list (commas or lines) or a range such as A-01..A-20"),
        validators=[DataRequired(), Length(max=5000)],
    )


class BagsForm(FlaskForm):
    bags = IntegerField(
        lazy_gettext("Number of bags"), validators=[InputRequired(), NumberRange(min=1, max=pickups.MAX_BAGS)]
    )


# --- the store's slots and settings (managers) ---------------------------------------------------


def slot_codes(text: str) -> list[str]:
    """The codes a manager typed: separated by commas, semicolons, spaces or lines; "A-01..A-20" is a range
    (the numbers keep the first one's zero padding). InvalidInput for a range that makes no sense."""
    codes = []
    for part in re.split(r"[,;\s]+", re.sub(r"\s*\.\.\s*", "..", text or "")):
        if not part:
            continue
        match = RANGE.match(part)
        if match is None:
            if ".." in part:
                raise InvalidInput(N_("A range is two codes ending in numbers, such as A-01..A-20."), field="code")
            codes.append(part)
            continue
        prefix, start, end = match["prefix"], int(match["start"]), int(match["end"])
        if match["prefix2"] not in ("", prefix) or end < start:
            raise InvalidInput(N_("A range is two codes ending in numbers, such as A-01..A-20."), field="code")
        if end - start + 1 > MAX_RANGE:
            raise InvalidInput(N_("At most %(most)s slots at a time."), field="code", most=MAX_RANGE)
        width = len(match["start"])
        codes.extend(f"{prefix}{number:0{width}d}" for number in range(start, end + 1))
    return codes


def _bags_by_slot(store) -> dict[int, int]:
    """{slot id: bags of open pickups in it}, in one query."""
    rows = db.session.execute(
        select(PickupBag.slot_id, func.count(PickupBag.id))
        .join(Pickup, Pickup.id == PickupBag.pickup_id)
        .where(Pickup.location_id == store.id, Pickup.is_open, PickupBag.slot_id.is_not(None))
        .group_by(PickupBag.slot_id)
    ).all()
    return dict(rows)


class StorePickupSettingsForm(PickupSettingsForm):
    """On the store's hold-shelf screen, the click & collect settings with the reasons offered at the counter."""

    pickup_refusal_reasons = MultiCheckboxField(
        lazy_gettext("Reasons offered when a customer leaves part of an order"),
        choices=[SelectChoice(code, label) for code, label in REFUSED_LABELS.items()],
        validators=[DataRequired(message=lazy_gettext("Choose at least one reason."))],
    )


def _settings_form(store, formdata=None) -> StorePickupSettingsForm:
    form = StorePickupSettingsForm(formdata=formdata, obj=store, prefix="settings")
    if formdata is None:
        form.pickup_refusal_reasons.data = list(pickups.refusal_reasons(store))
    return form


def _slots_page(store, *, status=200, trigger=None, slots_form=None, settings_form=None):
    """The slots page; a refusal's message is shown on it too (a plain form post has no toast)."""
    refusal = trigger["toast"]["message"] if status != 200 and trigger else None
    return render(
        "pickups/slots.html",
        status=status,
        trigger=trigger,
        store=store,
        slots=pickups.slots(store, include_inactive=True),
        bags=_bags_by_slot(store),
        slots_form=slots_form or SlotsForm(formdata=None, prefix="slots"),
        settings_form=settings_form or _settings_form(store),
        layouts=SLOT_LAYOUTS,
        refusal=refusal,
    )


@bp.get("/stores/<store_code>/slots")
@store_route
@manager_required
def slot_list(store):
    """The hold shelf's slots, how many bags each holds, their labels; the store's click & collect settings."""
    return _slots_page(store)


@bp.post("/stores/<store_code>/slots")
@store_route
@manager_required
def slot_add(store):
    form = SlotsForm(prefix="slots")

    def change():
        added = pickups.add_slots(store, slot_codes(form.code.data), actor=current_actor())
        done.append(len(added))

    done: list[int] = []
    status, trigger = save_form(form, change)
    if status != 200:
        return _slots_page(store, status=status, trigger=trigger, slots_form=form)
    return _saved(store, ngettext("%(num)d slot added or back in use.", "%(num)d slots added or back in use.", done[0]))


def _saved(store, message: str):
    """After a change on the slots page: the page again (a reload sends nothing twice), the message as a toast."""
    flash(message, "success")
    return go_to(url_for("pickups.slot_list", store_code=store.code))


def _slot(store, slot_id: int) -> PickupSlot:
    slot = db.session.get(PickupSlot, slot_id)
    if slot is None or slot.location_id != store.id:
        abort(404)
    return slot


@bp.post("/stores/<store_code>/slots/<int:slot_id>/active")
@store_route
@manager_required
def slot_active(store, slot_id):
    """Take a slot out of use, or back in use (a slot holding bags stays in use)."""
    slot = _slot(store, slot_id)
    wanted = request.form.get("active")
    if wanted not in {"true", "false"}:
        abort(400)
    status, trigger = save_form(
        None,
        lambda: pickups.set_slot_active(slot, wanted == "true", actor=current_actor()),
        gettext("Slot %(slot)s is in use.", slot=slot.code)
        if wanted == "true"
        else gettext("Slot %(slot)s is out of use.", slot=slot.code),
    )
    if status != 200:
        db.session.expire_all()
        return _slots_page(store, status=status, trigger=trigger)
    return _saved(store, trigger["toast"]["message"])


@bp.post("/stores/<store_code>/pickup-settings")
@store_route
@manager_required
def settings(store):
    form = _settings_form(store, request.form)
    status, trigger = save_form(
        form,
        lambda: rules.update_location(
            store, {name: getattr(form, name).data for name in rules.PICKUP_SETTINGS}, actor=current_actor()
        ),
    )
    if status != 200:
        db.session.expire_all()
        return _slots_page(store, status=status, trigger=trigger, settings_form=form)
    return _saved(store, trigger["toast"]["message"])


def _printable_slots(store) -> list[SlotLabel]:
    """The labels of the slots in use, or of the one slot asked for (?slot=id); 404 when there is none."""
    wanted = request.args.get("slot", "")
    if wanted:
        slots = [_slot(store, int(wanted))] if wanted.isdigit() and len(wanted) < 10 else []
    else:
        slots = pickups.slots(store)
    if not slots:
        abort(404)
    caption = {"slot": gettext("Hold shelf")}
    return [SlotLabel(slot.code, slot.barcode, store.name, caption) for slot in slots]


@bp.get("/stores/<store_code>/slots/labels.pdf")
@store_route
@manager_required
def slot_labels(store):
    layout = request.args.get("layout", "2x1")
    if layout not in SLOT_LAYOUTS:
        layout = "2x1"
    pdf = slot_labels_pdf(_printable_slots(store), layout)
    return document_response(pdf, f"slot-labels-{store.code}-{layout}.pdf")


@bp.get("/stores/<store_code>/slots/labels.zpl")
@store_route
@manager_required
def slot_labels_zpl_view(store):
    return document_response(slot_labels_zpl(_printable_slots(store)), f"slot-labels-{store.code}.zpl", "text/plain")


@bp.post("/stores/<store_code>/slots/print-zpl")
@store_route
@manager_required
def slot_labels_print(store):
    labels = _printable_slots(store)
    status, trigger = save_form(
        None, lambda: _send(store, slot_labels_zpl(labels)), gettext("Sent to the thermal printer.")
    )
    if status != 200:
        return _slots_page(store, status=status, trigger=trigger)
    return _saved(store, trigger["toast"]["message"])


def _send(store, zpl: bytes) -> None:
    if not store.zpl_printer:
        raise pickups.PickupRefused(N_("This store has no thermal printer set."))
    printing.send_zpl(store.zpl_printer, zpl)


# --- preparing a picked order for pickup (every associate of the store) ---------------------------


def _fulfilment(store, fulfilment_id: int):
    """A click & collect fulfilment this store hands over; 404 for anything else (another store's too)."""
    try:
        return pickups.store_fulfilment(store, fulfilment_id)
    except DomainError:
        abort(404)


def _bag_step(store, fulfilment) -> bool:
    return bool(store.pickup_bag_step and fulfilment.location.pickup_bag_step)


def _blocker(fulfilment) -> str | None:
    """Why this order cannot be bagged or staged now, in words (None: it can)."""
    if fulfilment.status in pickups.BEFORE_READY:
        pickup = fulfilment.pickup
        if pickups.is_transfer(fulfilment) and (pickup is None or pickup.received_at is None):
            return gettext("This order has not reached the pickup store yet: receive its parcel first.")
        return None
    if fulfilment.status in (S.CREATED, S.ACCEPTED, S.PICKING):
        return gettext("This order is not picked yet: pick it first.")
    if fulfilment.status == S.READY_FOR_PICKUP:
        return None
    return gettext("This order is no longer to be prepared for pickup.")


def _bag_count(store, fulfilment) -> int:
    """How many bags the order has (or will have: one without the bag step)."""
    pickup = fulfilment.pickup
    if pickup is not None and pickup.bags:
        return pickup.bags
    return 0 if _bag_step(store, fulfilment) else 1


def prepare_page(store, fulfilment, *, status=200, trigger=None, bags_form=None, selected=None, result=None):
    pickup = fulfilment.pickup
    count = _bag_count(store, fulfilment)
    rows = {bag.number: bag for bag in (pickup.bag_rows if pickup is not None else [])}
    bags = [(number, rows.get(number)) for number in range(1, count + 1)]
    if bags_form is None:
        bags_form = BagsForm(formdata=None, prefix="bags", bags=(pickup.bags if pickup and pickup.bags else None))
    return render(
        "pickups/prepare.html",
        "pickups/_prepare.html",
        status=status,
        trigger=trigger,
        store=store,
        fulfilment=fulfilment,
        order=fulfilment.order,
        pickup=pickup,
        blocker=_blocker(fulfilment),
        bag_step=_bag_step(store, fulfilment),
        count=count,
        bags=bags,
        bags_form=bags_form,
        selected=selected,
        result=result,
        has_slots=bool(pickups.slots(store)),
        sizes=BAG_SIZES,
        scan_url=url_for("pickups.stage", store_code=store.code, fulfilment_id=fulfilment.id),
        scan_target="#prepare",
    )


@bp.get("/stores/<store_code>/fulfilments/<int:fulfilment_id>/prepare")
@store_route
def prepare(store, fulfilment_id):
    """Prepare a picked click & collect order: bags and their labels (when the store has the bag step), then
    the hold shelf."""
    return prepare_page(store, _fulfilment(store, fulfilment_id))


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/prepare/bags")
@store_route
def bags(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    form = BagsForm(prefix="bags")
    status, trigger = save_form(form, lambda: pickups.set_bags(fulfilment, form.bags.data, actor=current_actor()))
    if status != 200:
        db.session.expire_all()
        result = {"ok": False, "message": trigger["toast"]["message"]}
        return prepare_page(store, fulfilment, status=status, trigger=trigger, bags_form=form, result=result)
    message = ngettext(
        "%(num)d bag: print its label, then put it on the shelf.",
        "%(num)d bags: print their labels, then put them on the shelf.",
        form.bags.data,
    )
    return prepare_page(store, fulfilment, trigger=toast(message), result={"ok": True, "message": message})


def _selected_bag() -> int | None:
    raw = request.form.get("bag", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= pickups.MAX_BAGS else None


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/prepare/stage")
@store_route
def stage(store, fulfilment_id):
    """One scan (or typed code): a bag's label chooses that bag; a slot's label puts the chosen bag (else every bag
    not yet on the shelf) in that slot. When every bag is on the shelf the order is ready for pickup. The same scan
    again changes nothing."""
    fulfilment = _fulfilment(store, fulfilment_id)
    code = " ".join(request.form.get("code", "").split())[:64].upper()
    selected = _selected_bag()
    outcome: dict = {}

    def change():
        if not code:
            raise InvalidInput(N_("Scan or type the slot's label."), field="code")
        if fulfilment.status not in {*pickups.BEFORE_READY, S.READY_FOR_PICKUP}:
            raise pickups.PickupRefused(
                N_("Order %(ref)s is %(status)s: it cannot be bagged or staged now."),
                ref=fulfilment.order.reference,
                status=fulfilment.status,
            )
        pickup = pickups.pickup_for(fulfilment)
        if code.startswith("BAG-"):
            if (
                not pickup.bag_rows
                and not _bag_step(store, fulfilment)
                and code == pickups.bag_barcode(fulfilment.id, 1)
            ):
                outcome["bag"] = 1  # without the bag step the order is one bag, made when it is staged
            else:
                outcome["bag"] = pickups.bag_from_scan(pickup, code).number
            return
        slot = pickups.slot_from_scan(store, code)
        before = {bag.number: bag.slot_id for bag in pickup.bag_rows}
        was_ready = fulfilment.status == S.READY_FOR_PICKUP
        pickups.stage(fulfilment, slot, actor=current_actor(), bag_number=selected)
        outcome["slot"] = slot.code
        outcome["moved"] = [b.number for b in pickup.bag_rows if before.get(b.number, None) != b.slot_id]
        outcome["ready"] = not was_ready and fulfilment.status == S.READY_FOR_PICKUP

    try:
        with unit_of_work():
            change()
    except DomainError as error:
        db.session.expire_all()
        message = domain_message(error)
        return prepare_page(
            store,
            fulfilment,
            status=error.http_status,
            trigger={"scan": {"ok": False}, **toast(message, "error")},
            selected=selected,
            result={"ok": False, "message": message},
        )
    pickup = fulfilment.pickup
    if "bag" in outcome:
        message = gettext(
            "Bag %(n)s of %(m)s: now scan the slot you put it in.", n=outcome["bag"], m=_bag_count(store, fulfilment)
        )
        return prepare_page(
            store,
            fulfilment,
            trigger={"scan": {"ok": True}, **toast(message)},
            selected=outcome["bag"],
            result={"ok": True, "message": message},
        )
    if outcome["ready"]:
        message = gettext(
            "Order %(ref)s is ready for pickup: the customer has been told.", ref=fulfilment.order.reference
        )
    elif not outcome["moved"]:
        message = gettext("Already on slot %(slot)s: nothing changed.", slot=outcome["slot"])
    else:
        left = sum(1 for bag in pickup.bag_rows if bag.slot_id is None)
        placed = ", ".join(str(n) for n in outcome["moved"])
        message = ngettext(
            "Bag %(bags)s on slot %(slot)s.",
            "Bags %(bags)s on slot %(slot)s.",
            len(outcome["moved"]),
            bags=placed,
            slot=outcome["slot"],
        )
        if left:
            message += " " + ngettext(
                "%(num)d bag still to put on the shelf.", "%(num)d bags still to put on the shelf.", left
            )
    return prepare_page(
        store, fulfilment, trigger={"scan": {"ok": True}, **toast(message)}, result={"ok": True, "message": message}
    )


# --- bag labels -----------------------------------------------------------------------------------


def _bag_labels(store, fulfilment) -> list[BagLabel]:
    """The order's bag labels, in the reader's language (store staff read them); 404 before the bags are counted."""
    count = _bag_count(store, fulfilment)
    if not count or fulfilment.status not in {*pickups.BEFORE_READY, S.READY_FOR_PICKUP}:
        abort(404)
    order = fulfilment.order
    captions = {
        "title": gettext("Click & collect"),
        "bag": gettext("Bag {n} of {m}"),
        "order": gettext("Order"),
    }
    return [
        BagLabel(
            order.reference,
            order.customer_name or "",
            number,
            count,
            pickups.bag_barcode(fulfilment.id, number),
            store.name,
            captions,
        )
        for number in range(1, count + 1)
    ]


def _size() -> str:
    size = request.args.get("size", "2x1")
    return size if size in BAG_SIZES else "2x1"


@bp.get("/stores/<store_code>/fulfilments/<int:fulfilment_id>/bag-labels.pdf")
@store_route
def bag_labels(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    size = _size()
    pdf = bag_labels_pdf(_bag_labels(store, fulfilment), size)
    return document_response(pdf, f"bag-labels-{fulfilment.order.reference}-{size}.pdf")


@bp.get("/stores/<store_code>/fulfilments/<int:fulfilment_id>/bag-labels.zpl")
@store_route
def bag_labels_zpl_view(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    size = _size()
    zpl = bag_labels_zpl(_bag_labels(store, fulfilment), size)
    return document_response(zpl, f"bag-labels-{fulfilment.order.reference}-{size}.zpl", "text/plain")


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/bag-labels/print-zpl")
@store_route
def bag_labels_print(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    size = request.form.get("size", "2x1")
    size = size if size in BAG_SIZES else "2x1"
    labels = _bag_labels(store, fulfilment)
    status, trigger = save_form(
        None, lambda: _send(store, bag_labels_zpl(labels, size)), gettext("Sent to the thermal printer.")
    )
    if status != 200:
        db.session.expire_all()
    result = {"ok": status == 200, "message": trigger["toast"]["message"]}
    return prepare_page(store, fulfilment, status=status, trigger=trigger, result=result)
