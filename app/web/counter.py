"""Click & collect at the counter: find the customer's order, hand it over (the code or an ID check, every bag
scanned, what the customer leaves behind), holds changed by managers, and the put-back list.

Every change is one core operation of app.core.floor.pickups in one unit of work; this module only reads the
form, calls it and shows the answer.
"""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, request, session, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user

from app.core import payments
from app.core.errors import N_, DomainError, InvalidInput
from app.core.floor import pickups, scans
from app.core.inventory.catalogue import find_product
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.ordering import orders
from app.core.uow import unit_of_work
from app.extensions import db, htmx
from app.formatting import money
from app.web.helpers import current_actor, domain_message, go_to, manager_required, render, say, store_route, toast

bp = Blueprint("counter", __name__)

MAX_QUERY = 120
# The scanned code a pickup page was opened with (fills its code field): kept in the signed session, not the URL.
SCANNED_KEY = "counter_scanned_code"

PICKUP_STATUS_LABELS = {
    "to_send": lazy_gettext("To send to the pickup store"),
    "in_transit": lazy_gettext("On its way to this store"),
    "to_prepare": lazy_gettext("To put on the hold shelf"),
    "ready": lazy_gettext("On the hold shelf"),
    "arrived": lazy_gettext("Customer is here"),
}
ID_KIND_LABELS = {
    "id_card": lazy_gettext("Identity card"),
    "passport": lazy_gettext("Passport"),
    "driving_licence": lazy_gettext("Driving licence"),
    "residence_permit": lazy_gettext("Residence permit"),
    "other": lazy_gettext("Other document"),
}
REFUSED_LABELS = {
    "changed_mind": lazy_gettext("Changed their mind"),
    "too_small": lazy_gettext("Too small"),
    "too_large": lazy_gettext("Too large"),
    "damaged": lazy_gettext("Damaged"),
    "wrong_item": lazy_gettext("Wrong item"),
    "not_as_described": lazy_gettext("Not as described"),
    "missing": lazy_gettext("Missing from the bags"),
    "other": lazy_gettext("Other"),
}
PUT_BACK_PURPOSE = "put_back"


def pickup_status_label(status: str) -> str:
    from app.web import STATUS_LABELS

    return str(PICKUP_STATUS_LABELS.get(status) or STATUS_LABELS.get(status, status))


def refused_label(code: str) -> str:
    return str(REFUSED_LABELS.get(code, code))


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def waited_minutes(pickup, now: datetime | None = None) -> int:
    """Whole minutes since the customer said they are here."""
    if pickup.customer_arrived_at is None:
        return 0
    return max(0, int(((now or utcnow()) - _aware(pickup.customer_arrived_at)).total_seconds() // 60))


def arrival_rows(store, now: datetime | None = None) -> list[dict]:
    """Customers waiting at the store, longest first: what the queue's banner and the counter show."""
    now = now or utcnow()
    rows = []
    for pickup in pickups.arrivals(store):
        minutes = waited_minutes(pickup, now)
        ref = pickup.fulfilment.order.reference
        rows.append(
            {
                "pickup": pickup,
                "fulfilment": pickup.fulfilment,
                "minutes": minutes,
                "text": ngettext(
                    "Customer here for order %(ref)s — waiting %(num)d min",
                    "Customer here for order %(ref)s — waiting %(num)d min",
                    minutes,
                    ref=ref,
                ),
                "url": url_for("counter.pickup", store_code=store.code, fulfilment_id=pickup.fulfilment_id),
            }
        )
    return rows


def _slots_text(pickup) -> str:
    codes = sorted({bag.slot.code for bag in pickup.bag_rows if bag.slot is not None}) if pickup else []
    return ", ".join(codes)


# --- the counter: one box to find the order ---------------------------------------------------------------------


def _counter_page(store, *, results=None, query="", message="", status=200, trigger=None):
    now = utcnow()
    arrived = arrival_rows(store, now)
    here = {row["pickup"].id for row in arrived}
    shelf = [p for p in pickups.ready(store) if p.id not in here]
    partial = "counter/_live.html" if htmx.target == "counter-live" else "counter/_results.html"
    return render(
        "counter/counter.html",
        partial,
        status=status,
        trigger=trigger,
        store=store,
        results=results,
        query=query,
        message=message,
        arrived=arrived,
        shelf=shelf,
        slots_text=_slots_text,
        pickup_status=pickups.pickup_status,
        pickup_status_label=pickup_status_label,
        own_scanbar=True,
    )


@bp.get("/stores/<store_code>/counter")
@store_route
def counter(store):
    """The counter: a scan or search box, the customers who said they are here, the orders on the hold shelf
    (htmx polls the same URL for the two lists)."""
    return _counter_page(store)


@bp.post("/stores/<store_code>/counter")
@store_route
def search(store):
    """Scan the customer's QR, type their code (any case, with or without the dash), a bag label or an order
    number, or search a name, phone or e-mail: one open order opens; several are listed."""
    query = " ".join(request.form.get("q", "").split())[:MAX_QUERY]
    if not query:
        message = gettext("Scan or type a pickup code, an order number, a name, a phone number or an e-mail.")
        return _counter_page(store, message=message, status=422, trigger={"scan": {"ok": False}})
    found = pickups.find_at_counter(store, query)
    still_open = [f for f in found if f.status in orders.OPEN]
    target = still_open[0] if len(still_open) == 1 else found[0] if len(found) == 1 else None
    if target is not None:
        pickup = target.pickup
        code = pickups.normalise_code(query)
        if pickup is not None and pickup.code and code == pickup.code:
            session[SCANNED_KEY] = {"f": target.id, "code": code}
        return go_to(url_for("counter.pickup", store_code=store.code, fulfilment_id=target.id))
    if not found:
        message = gettext("No click & collect order of this store matches “%(query)s”.", query=query)
        return _counter_page(store, query=query, message=message, status=404, trigger={"scan": {"ok": False}})
    return _counter_page(store, results=found, query=query, trigger={"scan": {"ok": True}})


# --- the pickup page and the hand-over --------------------------------------------------------------------------


def _lines(fulfilment):
    return sorted(fulfilment.lines, key=lambda line: line.id)


def _form_values(fulfilment) -> dict:
    """What the hand-over form holds (as posted, or empty): shown again as it was when something is refused.
    by=id (the form's field, or ?by=id from "Customer has no code") asks for an ID check instead of the code."""
    form = request.form
    wanted_by = form.get("by") or request.args.get("by", "code")
    values = {
        "by": "id" if wanted_by == "id" else "code",
        "code": form.get("code", "")[:32],
        "bags": [],
        "qty": {line.id: form.get(f"qty-{line.id}", "")[:7] for line in fulfilment.lines},
        "reason": form.get("reason", "")[:40],
        "id_kind": form.get("id_kind", "")[:40],
        "id_digits": form.get("id_digits", "")[:12],
        "id_reason": form.get("id_reason", "")[:200],
        # Managers only: the customer paid another way, so goods held by a declined capture may go.
        "payment_override": form.get("payment_override", "")[:200] if current_user.is_manager else "",
    }
    for code in request.values.getlist("bag")[: pickups.MAX_BAGS * 2]:  # the links between code and ID keep them
        code = code.strip().upper()[:40]
        if code and code not in values["bags"]:
            values["bags"].append(code)
    return values


def _bag_rows(pickup, scanned: list[str]) -> list[dict]:
    if pickup is None:
        return []
    return [
        {
            "bag": bag,
            "barcode": pickups.bag_barcode(pickup.fulfilment_id, bag.number),
            "scanned": pickups.bag_barcode(pickup.fulfilment_id, bag.number) in scanned,
            "slot": bag.slot.code if bag.slot is not None else "",
        }
        for bag in pickup.bag_rows
    ]


def _locked(pickup, now=None) -> bool:
    return bool(pickup and pickup.locked_until and _aware(pickup.locked_until) > (now or utcnow()))


def _hold_day(store, pickup) -> str:
    if pickup is None or pickup.expires_at is None:
        return ""
    return _aware(pickup.expires_at).astimezone(ZoneInfo(store.timezone)).date().isoformat()


def payment_state(fulfilment) -> dict | None:
    """What the counter must know of the order's online payment: {state, text, hold} (None: not paid online).
    state: captured, pending (the provider has not answered yet), failed, released or to_capture; hold: the
    retailer keeps the goods while the capture failed."""
    order = fulfilment.order
    if not payments.has_payment(order):
        return None
    rows = payments.transactions(order)
    capture = next((t for t in rows if t.kind == "capture" and t.fulfilment_id == fulfilment.id), None)
    hold = False
    if capture is not None and capture.status == "succeeded":
        state = "captured"
        text = gettext("Paid online: %(amount)s captured.", amount=money(capture.amount, capture.currency))
    elif capture is not None and capture.status == "pending":
        state, text = "pending", gettext("Paid online: the capture waits for the payment provider's answer.")
    elif capture is not None:
        state, hold = "failed", payments.settings().failed_capture == "hold"
        if hold:
            text = gettext(
                "Paid online: the capture failed. Do not hand the order over; customer service has been told."
            )
        else:
            text = gettext("Paid online: the capture failed; customer service has been told.")
    elif any(t.kind == "void" for t in rows) and fulfilment.status != S.READY_FOR_PICKUP:
        state, text = "released", gettext("Paid online: the payment was released; nothing was captured.")
    else:
        state, text = "to_capture", gettext("Paid online: to be captured at hand-over.")
    return {"state": state, "text": text, "hold": hold}


def _pickup_page(store, fulfilment, *, values=None, errors=None, status=200, trigger=None, message="", done=None):
    pickup = fulfilment.pickup
    values = values or _form_values(fulfilment)
    errors = errors or {}
    if not values["code"] and request.method == "GET":
        scanned = session.get(SCANNED_KEY) or {}
        if scanned.get("f") == fulfilment.id:
            values["code"] = pickups.format_code(scanned.get("code", ""))
    locked = _locked(pickup)
    if locked:
        values["by"] = "id"
    can_hand_over = fulfilment.status == S.READY_FOR_PICKUP and pickup is not None
    changed = any(
        values["qty"].get(line.id, "").strip() not in ("", str(line.picked)) for line in fulfilment.lines if line.picked
    )
    partial_open = (
        changed or bool(values["reason"]) or any(k == "reason" or k.startswith(("qty-", "lines")) for k in errors)
    )
    return render(
        "counter/pickup.html",
        "counter/_pickup.html",
        status=status,
        trigger=trigger,
        store=store,
        fulfilment=fulfilment,
        order=fulfilment.order,
        pickup=pickup,
        status_word=pickups.pickup_status(fulfilment),
        pickup_status_label=pickup_status_label,
        lines=_lines(fulfilment),
        bags=_bag_rows(pickup, values["bags"]),
        bag_scan=can_hand_over and store.pickup_bag_scan,
        can_hand_over=can_hand_over,
        locked=locked,
        values=values,
        errors=errors,
        message=message,
        ok=status < 400,
        partial_open=partial_open,
        done=done,
        id_kinds=ID_KIND_LABELS,
        refusal_reasons={code: REFUSED_LABELS[code] for code in pickups.refusal_reasons(store)},
        refused_label=refused_label,
        hold_day=_hold_day(store, pickup),
        payment=payment_state(fulfilment),
        manager=current_user.is_manager,
        own_scanbar=True,
    )


@bp.get("/stores/<store_code>/pickups/<int:fulfilment_id>")
@store_route
def pickup(store, fulfilment_id):
    """One click & collect order at this store: who, what, where on the shelf, and the hand-over."""
    return _pickup_page(store, pickups.store_fulfilment(store, fulfilment_id))


@bp.post("/stores/<store_code>/pickups/<int:fulfilment_id>/bags")
@store_route
def scan_bag(store, fulfilment_id):
    """A scan on the pickup page: a bag label of this order ticks its bag; the customer's QR fills the code.
    Nothing is stored: the ticks travel with the hand-over form until it is confirmed."""
    fulfilment = pickups.store_fulfilment(store, fulfilment_id)
    values = _form_values(fulfilment)
    pickup = fulfilment.pickup
    text = request.form.get("scan", "").strip()[:64]
    if pickup is None or fulfilment.status != S.READY_FOR_PICKUP:
        message = gettext("This order is not on the hold shelf: there is nothing to hand over.")
        return _pickup_page(
            store, fulfilment, values=values, status=409, message=message, trigger=_scan(False, message)
        )
    if not text:
        message = gettext("Scan a bag label of this order.")
        return _pickup_page(
            store, fulfilment, values=values, status=422, message=message, trigger=_scan(False, message)
        )
    try:
        bag = pickups.bag_from_scan(pickup, text)
    except InvalidInput as error:
        if pickup.code and pickups.normalise_code(text) == pickup.code:
            values["code"], values["by"] = pickups.format_code(pickup.code), "code"
            message = gettext("Pickup code scanned.")
            return _pickup_page(store, fulfilment, values=values, message=message, trigger=_scan(True, message))
        message = domain_message(error)
        return _pickup_page(
            store, fulfilment, values=values, status=422, message=message, trigger=_scan(False, message)
        )
    barcode = pickups.bag_barcode(fulfilment.id, bag.number)
    if barcode not in values["bags"]:
        values["bags"].append(barcode)
    message = gettext("Bag %(number)s of %(bags)s scanned.", number=bag.number, bags=pickup.bags)
    return _pickup_page(store, fulfilment, values=values, message=message, trigger=_scan(True, message))


def _scan(ok: bool, message: str) -> dict:
    return {"scan": {"ok": ok}, **toast(message, "success" if ok else "error")}


def _quantities(fulfilment, values) -> tuple[list | None, dict]:
    """The lines the customer takes ([{sku, quantity}], None for everything) and the refused fields."""
    taken, errors, partial = [], {}, False
    for line in _lines(fulfilment):
        if not line.picked:
            continue
        raw = values["qty"].get(line.id, "").strip()
        if raw == "":
            quantity = line.picked
        elif raw.isascii() and raw.isdigit() and int(raw) <= line.picked:
            quantity = int(raw)
        else:
            errors[f"qty-{line.id}"] = gettext("Give a whole number from 0 to %(most)s.", most=line.picked)
            continue
        partial = partial or quantity < line.picked
        taken.append({"sku": line.product.sku, "quantity": quantity})
    return (taken if partial else None), errors


FIELD_NAMES = {
    "pickup_code": "code",
    "bags": "bags",
    "bag": "bags",
    "reason": "reason",
    "lines": "lines",
    "id_check.kind": "id_kind",
    "id_check.last_digits": "id_digits",
    "id_check.reason": "id_reason",
}


def _field_errors(error: DomainError) -> dict:
    return {FIELD_NAMES.get(path, path): text for path, text in error.field_messages(gettext).items()}


@bp.post("/stores/<store_code>/pickups/<int:fulfilment_id>/collect")
@store_route
def collect(store, fulfilment_id):
    """Hand the order over: the customer's code (or an ID check, audited), every bag scanned when the store asks
    for it, and what the customer takes when not everything. A repeat of a done hand-over changes nothing."""
    fulfilment = pickups.store_fulfilment(store, fulfilment_id)
    values = _form_values(fulfilment)
    if fulfilment.status == S.COLLECTED:  # a double tap or a resend: already handed over
        message = gettext("Order %(ref)s was handed over.", ref=fulfilment.order.reference)
        return _pickup_page(store, fulfilment, trigger=toast(message), done=message)
    pickup = fulfilment.pickup
    if pickup is None or fulfilment.status != S.READY_FOR_PICKUP:
        message = gettext("This order is not on the hold shelf: there is nothing to hand over.")
        return _pickup_page(
            store, fulfilment, values=values, status=409, message=message, trigger=toast(message, "error")
        )
    lines, errors = _quantities(fulfilment, values)
    code, id_check = None, None
    if values["by"] == "id":
        id_check = {"kind": values["id_kind"], "last_digits": values["id_digits"], "reason": values["id_reason"]}
    elif pickups.normalise_code(values["code"]):
        code = values["code"]
    else:
        errors["code"] = gettext("Type or scan the customer's pickup code, or choose “Customer has no code”.")
    if errors:
        message = gettext("Some values are not valid.")
        return _pickup_page(
            store,
            fulfilment,
            values=values,
            errors=errors,
            status=422,
            message=message,
            trigger=toast(message, "error"),
        )
    pickup_id, reference = pickup.id, fulfilment.order.reference
    try:
        # hand_over commits: the payment is taken outside the stock transaction, then the order is collected.
        pickups.hand_over(
            fulfilment,
            actor=current_actor(),
            pickup_code=code,
            id_check=id_check,
            bags_scanned=values["bags"],
            lines=lines,
            reason=values["reason"] if lines is not None else "",
            payment_override=values["payment_override"],
        )
    except pickups.WrongCode as error:
        # The refusal rolled the request back; the attempt is counted in its own transaction.
        db.session.rollback()
        pickups.count_wrong_code(pickup_id)
        db.session.expire_all()
        values["code"] = ""
        if _locked(fulfilment.pickup):
            message = domain_message(pickups.CodeLocked())
        else:
            message = domain_message(error)
        return _pickup_page(
            store,
            fulfilment,
            values=values,
            errors={"code": message},
            status=error.http_status,
            message=message,
            trigger=toast(message, "error"),
        )
    except DomainError as error:
        db.session.rollback()
        message = domain_message(error)
        return _pickup_page(
            store,
            fulfilment,
            values=values,
            errors=_field_errors(error),
            status=error.http_status,
            message=message,
            trigger=toast(message, "error"),
        )
    session.pop(SCANNED_KEY, None)
    message = gettext("Order %(ref)s handed over.", ref=reference)
    if fulfilment.pickup.put_back:
        left = sum(row["quantity"] for row in fulfilment.pickup.refused)
        message += " " + ngettext(
            "%(num)d unit waits on the put-back list.", "%(num)d units wait on the put-back list.", left
        )
    return _pickup_page(store, fulfilment, trigger=toast(message), done=message)


@bp.post("/stores/<store_code>/pickups/<int:fulfilment_id>/hold")
@store_route
@manager_required
def hold(store, fulfilment_id):
    """A manager moves the end of a hold (longer or shorter): the last day, in store time, until closing."""
    fulfilment = pickups.store_fulfilment(store, fulfilment_id)
    raw = request.form.get("expires_on", "").strip()[:10]
    try:
        day = date.fromisoformat(raw)
        if not 2000 <= day.year <= 2999:
            raise ValueError(raw)
    except ValueError:
        message = gettext("Give the last day of the hold as a date.")
        return _pickup_page(
            store,
            fulfilment,
            errors={"expires_on": message},
            status=422,
            message=message,
            trigger=toast(message, "error"),
        )
    ends = datetime(day.year, day.month, day.day, 23, 59, tzinfo=ZoneInfo(store.timezone)).astimezone(UTC)
    try:
        with unit_of_work():
            pickups.extend_hold(fulfilment, ends, actor=current_actor())
    except DomainError as error:
        db.session.expire_all()
        message = domain_message(error)
        return _pickup_page(
            store,
            fulfilment,
            errors={"expires_on": message},
            status=error.http_status,
            message=message,
            trigger=toast(message, "error"),
        )
    from app.formatting import store_time

    message = gettext("The hold now ends %(when)s.", when=store_time(ends, store))
    return _pickup_page(store, fulfilment, trigger=toast(message), message=message)


# --- the put-back list ------------------------------------------------------------------------------------------


def _entry(pickup) -> dict:
    """One entry of the put-back list: why it waits, where it is, and the units per product (with progress)."""
    fulfilment = pickup.fulfilment
    held = pickups.held_units(fulfilment)
    refused = {}
    for row in pickup.refused or []:
        refused[row["sku"]] = refused.get(row["sku"], 0) + int(row.get("quantity") or 0)
    items = []
    for line in sorted(fulfilment.lines, key=lambda line: line.id):
        if not line.picked:
            continue
        waiting = held.get(line, 0)
        total = refused.get(line.product.sku, 0) if fulfilment.status == S.COLLECTED else line.picked
        total = max(total, waiting)
        if total:
            items.append({"line": line, "product": line.product, "waiting": waiting, "total": total})
    if fulfilment.status == S.EXPIRED:
        why = gettext("Hold ended: not collected")
    elif fulfilment.status == S.COLLECTED:
        reasons = sorted({refused_label(row.get("reason", "")) for row in pickup.refused or [] if row.get("reason")})
        why = (
            gettext("Partly collected: %(reasons)s", reasons=", ".join(reasons))
            if reasons
            else gettext("Partly collected")
        )
    else:
        why = gettext("Cancelled")
    return {
        "pickup": pickup,
        "fulfilment": fulfilment,
        "why": why,
        "slots": _slots_text(pickup),
        "items": items,
        "waiting": sum(item["waiting"] for item in items),
        "total": sum(item["total"] for item in items),
    }


def _selected(store, raw) -> dict | None:
    raw = str(raw or "")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 12):
        return None
    pickup = next((p for p in pickups.put_back_list(store) if p.fulfilment_id == int(raw)), None)
    return _entry(pickup) if pickup is not None else None


def _put_back_page(store, *, selected=None, choices=None, message="", ok=True, status=200, trigger=None):
    return render(
        "counter/put_back.html",
        "counter/_put_back.html",
        status=status,
        trigger=trigger,
        store=store,
        entries=[_entry(p) for p in pickups.put_back_list(store)],
        selected=selected,
        choices=choices,
        message=message,
        ok=ok,
        own_scanbar=True,
    )


@bp.get("/stores/<store_code>/put-back")
@store_route
def put_back(store):
    """What waits to go back on the shop floor: expired holds, what customers left, cancelled orders on the shelf."""
    return _put_back_page(store, selected=_selected(store, request.args.get("entry")))


def _answer(store, selected, message, ok, status=None, choices=None):
    return _put_back_page(
        store,
        selected=selected,
        choices=choices,
        message=message,
        ok=ok,
        status=status or (200 if ok else 422),
        trigger=_scan(ok, message),
    )


@bp.post("/stores/<store_code>/put-back/scan")
@store_route
def put_back_scan(store):
    """A scan on the put-back list: a bag label, a slot label or an order number chooses the entry; then each
    item's barcode (or SKU) puts one unit back on sale. A resent scan (same scan id) is answered, not counted."""
    code = request.form.get("code", "").strip()[:64]
    selected = _selected(store, request.form.get("entry"))
    replayed = _replayed(store, request.form.get("entry", ""), request.form.get("scan_id", ""))
    if replayed is not None:  # the same item scan again (a resend): its first answer, nothing put back twice
        return _answer(store, selected, say(replayed.message, replayed.params), replayed.ok)
    if not code:
        return _answer(store, selected, gettext("Scan a bag, a slot, an order number or an item."), False)
    if selected is not None:
        product = find_product(code)
        if product is not None:
            return _put_back_item(store, selected, product, code)
    try:
        found = pickups.restock_scan(store, code)
    except DomainError as error:
        return _answer(store, selected, domain_message(error), False)
    if len(found) == 1:
        entry = _entry(found[0])
        message = gettext(
            "Order %(ref)s: scan each item, or put everything back.", ref=entry["fulfilment"].order.reference
        )
        return _answer(store, entry, message, True)
    if found:
        message = ngettext("%(num)d order matches: choose one.", "%(num)d orders match: choose one.", len(found))
        return _answer(store, None, message, True, choices=[p.fulfilment_id for p in found])
    if find_product(code) is not None:
        return _answer(store, selected, gettext("Scan the bag, slot or order number first, then the items."), False)
    message = gettext("Nothing on the put-back list matches “%(code)s”.", code=code)
    return _answer(store, selected, message, False, status=404)


def _work(store, fulfilment_id: int) -> scans.ScanWork:
    return scans.ScanWork(purpose=PUT_BACK_PURPOSE, location_id=store.id, reference=f"F{fulfilment_id}")


def _replayed(store, entry: str, scan_id: str):
    """The stored answer to an item scan of this entry with this scan id, if one was counted already."""
    if not (entry.isascii() and entry.isdigit() and len(entry) < 12 and scan_id):
        return None
    try:
        return scans.replay(scans.check_client_id(scan_id), _work(store, int(entry)))
    except DomainError:
        return None


def _put_back_item(store, selected, product, code):
    fulfilment = selected["fulfilment"]
    reference = fulfilment.order.reference
    item = next((i for i in selected["items"] if i["product"].id == product.id and i["waiting"]), None)
    if item is None:
        message = gettext("%(sku)s does not wait to be put back from order %(ref)s.", sku=product.sku, ref=reference)
        return _answer(store, selected, message, False)
    work = _work(store, fulfilment.id)
    try:
        with unit_of_work():
            client_id = scans.check_client_id(request.form.get("scan_id", ""))
            outcome = scans.replay(client_id, work)
            if outcome is None:
                pickups.restock(fulfilment, actor=current_actor(), lines=[{"sku": product.sku, "quantity": 1}])
                outcome = scans.record(
                    client_id,
                    work,
                    scans.Outcome(
                        ok=True,
                        outcome="put_back",
                        message=N_("%(sku)s: one unit back on sale."),
                        params={"sku": product.sku},
                        line_id=item["line"].id,
                        product_id=product.id,
                    ),
                    user=current_user,
                    code=code,
                    quantity=1,
                )
    except DomainError as error:
        db.session.expire_all()
        return _answer(store, _selected(store, fulfilment.id), domain_message(error), False)
    db.session.expire_all()
    message = say(outcome.message, outcome.params)
    after = _selected(store, fulfilment.id)
    if after is None:
        message += " " + gettext("Everything of order %(ref)s is back on sale.", ref=reference)
    return _answer(store, after, message, outcome.ok)


@bp.post("/stores/<store_code>/put-back/<int:fulfilment_id>/restock")
@store_route
def restock(store, fulfilment_id):
    """Put every unit of an entry back on sale at once. Again, once done: nothing is left, nothing changes."""
    fulfilment = pickups.store_fulfilment(store, fulfilment_id)
    reference = fulfilment.order.reference
    try:
        with unit_of_work():
            done = pickups.restock(fulfilment, actor=current_actor())
    except DomainError as error:
        db.session.expire_all()
        return _answer(store, _selected(store, fulfilment_id), domain_message(error), False)
    if not done:
        message = gettext("Nothing of order %(ref)s waits to be put back any more.", ref=reference)
    else:
        message = ngettext(
            "%(num)d unit of order %(ref)s back on sale.",
            "%(num)d units of order %(ref)s back on sale.",
            sum(done.values()),
            ref=reference,
        )
    return _answer(store, None, message, True)
