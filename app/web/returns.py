"""The returns desk: a customer brings items of an order back to any store (whichever store shipped or handed them
over), the refund is shown before anything changes, then the return is confirmed; returns announced by post are
received by scanning them; managers decide on what came back to inspect.

Every change is one operation of app.core.returns in one unit of work; this module reads the form, calls it and
shows the answer.

A double tap or a resend of "Confirm return" creates one return: the confirm form carries a token made when the
refund was shown, and the answer (the return's id) is stored under that token in the scans table (unique) while the
order is locked. The same token again finds that answer and opens the same return; a concurrent resend queues on
the order's lock (and the SQLite write lock), then finds it too; a unique-key clash is the last guard.
"""

import secrets

from flask import Blueprint, abort, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user

from app.core import payments, returns
from app.core.errors import N_, DomainError
from app.core.floor import scans
from app.core.models import CustomerReturn, Order, ReturnLine
from app.core.models.base import MAX_ID
from app.core.models.payments import RETURN_CONDITIONS
from app.core.ordering import orders
from app.core.uow import unit_of_work
from app.extensions import db
from app.web.helpers import (
    current_actor,
    document_response,
    domain_message,
    go_to,
    manager_required,
    render,
    store_route,
    toast,
)

bp = Blueprint("returns", __name__)

MAX_QUERY = 120
MAX_UNITS = 9999
RETURN_PURPOSE = "return"

REASON_LABELS = {
    "changed_mind": lazy_gettext("Changed their mind"),
    "too_small": lazy_gettext("Too small"),
    "too_large": lazy_gettext("Too large"),
    "not_as_described": lazy_gettext("Not as described"),
    "damaged": lazy_gettext("Damaged"),
    "late": lazy_gettext("Arrived too late"),
    "wrong_item": lazy_gettext("Wrong item"),
    "other": lazy_gettext("Other"),
}
CONDITION_LABELS = {
    "resellable": lazy_gettext("Resellable"),
    "damaged": lazy_gettext("Damaged"),
    "inspect": lazy_gettext("To inspect"),
}
RETURN_STATUS_LABELS = {"expected": lazy_gettext("Expected by post"), "received": lazy_gettext("Received")}
OUTCOME_LABELS = {"resellable": lazy_gettext("Back on sale"), "damaged": lazy_gettext("Damaged")}
REFUND_STATUS_LABELS = {
    "pending": lazy_gettext("Refund being sent"),
    "succeeded": lazy_gettext("Refunded"),
    "failed": lazy_gettext("Refund failed: customer service will follow up"),
}
RECEIPT_SIZES = {"a4": "A4", "80mm": "80 mm"}


def reason_label(code: str) -> str:
    return str(REASON_LABELS.get(code, code))


def condition_label(code: str) -> str:
    return str(CONDITION_LABELS.get(code, code))


def _helpers() -> dict:
    return {
        "reason_label": reason_label,
        "condition_label": condition_label,
        "return_status_label": lambda s: str(RETURN_STATUS_LABELS.get(s, s)),
        "outcome_label": lambda s: str(OUTCOME_LABELS.get(s, s)),
        "refund_status_label": lambda s: str(REFUND_STATUS_LABELS.get(s, s)),
        "own_scanbar": True,
    }


def _say(message) -> str:
    """A core field message ("msgid" or ("msgid", params)) in the reader's language."""
    text, params = message if isinstance(message, tuple) else (message, {})
    return gettext(text, **params)


# --- the desk: one box to find the order ------------------------------------------------------------------------


def _desk(store, *, results=None, query="", message="", status=200, trigger=None):
    return render(
        "returns/desk.html",
        "returns/_results.html",
        status=status,
        trigger=trigger,
        store=store,
        results=results,
        query=query,
        message=message,
        left_to_return=lambda order: sum(returns.returnable(order).values()),
        **_helpers(),
    )


@bp.get("/stores/<store_code>/returns")
@store_route
def desk(store):
    """The returns desk: scan the packing slip, the parcel's tracking number, the pickup code or a return number, or
    search an order number, e-mail, phone or name, across the chain."""
    return _desk(store)


@bp.post("/stores/<store_code>/returns")
@store_route
def search(store):
    query = " ".join(request.form.get("q", "").split())[:MAX_QUERY]
    if not query:
        message = gettext(
            "Scan the packing slip, a tracking number, a pickup code or a return number, or type an order number, "
            "e-mail, phone or name."
        )
        return _desk(store, message=message, status=422, trigger={"scan": {"ok": False}})
    found = returns.find_orders(query)
    if len(found) == 1:
        return go_to(url_for("returns.order", store_code=store.code, order_id=found[0].id))
    if not found:
        message = gettext("No order matches “%(query)s”.", query=query)
        return _desk(store, query=query, message=message, status=404, trigger={"scan": {"ok": False}})
    return _desk(store, results=found, query=query, trigger={"scan": {"ok": True}})


# --- the order's return page ------------------------------------------------------------------------------------


def _order(order_id: int) -> Order:
    order = db.session.get(Order, order_id) if 0 < order_id <= MAX_ID else None
    if order is None:
        abort(404)
    return order


def _rows(order) -> list[dict]:
    """Each line of the order: what left the stores and what may still come back."""
    left, room = returns.left_stores(order), returns.returnable(order)
    return [
        {"line": line, "left": left.get(line.id, 0), "can": room[line]}
        for line in sorted(order.lines, key=lambda line: line.id)
    ]


def _values(order) -> dict:
    form = request.form
    return {
        line.id: {
            "qty": form.get(f"qty-{line.id}", "").strip()[:7],
            "reason": form.get(f"reason-{line.id}", "")[:40],
            "condition": form.get(f"condition-{line.id}", "")[:40],
        }
        for line in order.lines
    }


def _wanted(order, values) -> tuple[list[dict], dict]:
    """The posted lines as returns.quote reads them ([{order_line_id, quantity, reason, condition}]), and the fields
    refused before asking it (the quote's own refusals are mapped back to the fields by _field_errors)."""
    lines, errors = [], {}
    for line in sorted(order.lines, key=lambda line: line.id):
        raw = values[line.id]["qty"]
        if raw in ("", "0"):
            continue
        if not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_UNITS):
            errors[f"qty-{line.id}"] = gettext("Give a whole number of units, 0 or more.")
            continue
        if int(raw) == 0:
            continue
        lines.append(
            {
                "order_line_id": line.id,
                "quantity": int(raw),
                "reason": values[line.id]["reason"],
                "condition": values[line.id]["condition"],
            }
        )
    return lines, errors


FIELD_PREFIX = {"quantity": "qty", "reason": "reason", "condition": "condition", "sku": "qty"}


def _field_errors(lines: list[dict], core_errors: dict) -> dict:
    """The core's "lines.<i>.<field>" errors under this form's fields ("qty-<line id>"…), translated."""
    errors = {}
    for path, message in core_errors.items():
        parts = path.split(".")
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(lines):
            name = f"{FIELD_PREFIX.get(parts[2], 'qty')}-{lines[int(parts[1])]['order_line_id']}"
        else:
            name = "lines"
        errors.setdefault(name, _say(message))
    return errors


def _order_page(store, order, *, values=None, errors=None, quote=None, status=200, trigger=None, message=""):
    rows = _rows(order)
    errors = errors or {}
    values = values or {row["line"].id: {"qty": "", "reason": "", "condition": "resellable"} for row in rows}
    past = returns.returns_of(order)
    return render(
        "returns/order.html",
        "returns/_order.html",
        status=status,
        trigger=trigger,
        store=store,
        order=order,
        rows=rows,
        values=values,
        errors=errors,
        quote=quote,
        quoted_lines=[
            (q.order_line.id, q.quantity, q.reason, q.condition) for q in (quote.lines if quote is not None else [])
        ],
        token=secrets.token_urlsafe(18),
        message=message,
        past=past,
        reasons={code: REASON_LABELS.get(code, code) for code in returns.reasons()},
        conditions={code: CONDITION_LABELS[code] for code in RETURN_CONDITIONS},
        has_payment=payments.has_payment(order),
        anything=any(row["can"] for row in rows),
        window_ends=returns.window_ends(order),
        **_helpers(),
    )


@bp.get("/stores/<store_code>/returns/orders/<int:order_id>")
@store_route
def order(store, order_id):
    """One order at the desk: each line with what can still come back, its quantity, reason and condition."""
    return _order_page(store, _order(order_id))


def _refused(store, order, values, errors, status=422):
    message = next(iter(errors.values()))
    return _order_page(
        store, order, values=values, errors=errors, status=status, message=message, trigger=toast(message, "error")
    )


@bp.post("/stores/<store_code>/returns/orders/<int:order_id>/quote")
@store_route
def quote(store, order_id):
    """What the customer gets back for the chosen lines, before anything changes."""
    order = _order(order_id)
    values = _values(order)
    lines, errors = _wanted(order, values)
    if errors:
        return _refused(store, order, values, errors)
    q = returns.quote(order, lines)
    if q.errors:
        return _refused(store, order, values, _field_errors(lines, q.errors))
    return _order_page(store, order, values=values, quote=q)


@bp.post("/stores/<store_code>/returns/orders/<int:order_id>/confirm")
@store_route
def confirm(store, order_id):
    """Take the quoted lines back at this store: stock by condition, the refund to the original payment. The form's
    token makes a double tap or a resend open the same return instead of taking a second one."""
    order = _order(order_id)
    values = _values(order)
    work = scans.ScanWork(purpose=RETURN_PURPOSE, location_id=store.id, reference=f"O{order.id}")
    token = request.form.get("token", "")
    try:
        token = scans.check_client_id(token)
    except DomainError:
        return _refused(store, order, values, {"lines": gettext("This form is out of date: show the refund again.")})
    lines, errors = _wanted(order, values)
    if errors:
        return _refused(store, order, values, errors)
    db.session.commit()  # the store's read ends: the change below takes the write lock first (SQLite)
    try:
        with unit_of_work(writes=True):
            orders.lock_order(order)
            done = scans.replay(token, work)
            if done is None:
                ret = returns.create_return(order, store, lines, actor=current_actor())
                done = scans.record(
                    token,
                    work,
                    scans.Outcome(
                        ok=True,
                        outcome="return",
                        message=N_("Return %(number)s taken."),
                        params={"number": ret.number, "return_id": ret.id},
                    ),
                    user=current_user,
                    code=ret.number,
                )
    except scans.DuplicateScan:  # the same form sent twice at once: the other request took the return
        db.session.expire_all()
        done = scans.replay(token, work)
    except DomainError as error:
        db.session.expire_all()
        order = _order(order_id)
        fields = getattr(error, "fields", None) or {}
        found = _field_errors(lines, fields) if fields else {"lines": domain_message(error)}
        return _refused(store, order, values, found, status=error.http_status)
    if done is None or not done.params.get("return_id"):
        abort(409)
    return go_to(url_for("returns.customer_return", store_code=store.code, return_id=done.params["return_id"]))


# --- the return -------------------------------------------------------------------------------------------------


def _store_return(store, return_id: int) -> CustomerReturn:
    """A return taken (or received) by this store; any other store's is not found here."""
    ret = db.session.get(CustomerReturn, return_id) if 0 < return_id <= MAX_ID else None
    if ret is None or ret.location_id != store.id:
        abort(404)
    return ret


def _receipt_ready() -> bool:
    from app import documents

    return hasattr(documents, "return_receipt_document")


@bp.get("/stores/<store_code>/returns/<int:return_id>")
@store_route
def customer_return(store, return_id):
    """A return: its number, what came back, the refund and its state, the receipt to print."""
    ret = _store_return(store, return_id)
    return render(
        "returns/return.html",
        store=store,
        ret=ret,
        order=ret.order,
        refunds=[t for t in ret.refunds if t.kind == "refund"],
        receipt_sizes=RECEIPT_SIZES if _receipt_ready() else {},
        **_helpers(),
    )


@bp.get("/stores/<store_code>/returns/<int:return_id>/receipt.pdf")
@store_route
def receipt(store, return_id):
    """The return's receipt (A4 or an 80 mm till roll), its number as a barcode."""
    ret = _store_return(store, return_id)
    size = request.args.get("size", "a4")
    if size not in RECEIPT_SIZES:
        abort(404)
    from app import documents

    make = getattr(documents, "return_receipt_document", None)
    if make is None:
        abort(404)
    return document_response(make(ret, size=size), f"{ret.number}-{size}.pdf")


# --- returns by post --------------------------------------------------------------------------------------------


def _expected_page(store, *, received=None, message="", ok=True, status=200, trigger=None, again=False):
    return render(
        "returns/expected.html",
        "returns/_expected.html",
        status=status,
        trigger=trigger,
        store=store,
        received=received,
        again=again,
        message=message,
        ok=ok,
        **_helpers(),
    )


@bp.get("/stores/<store_code>/returns/expected")
@store_route
def expected(store):
    """Returns by post arriving here: scan the return number on the parcel (or the order number)."""
    return _expected_page(store)


def _answer(store, message, ok, status=None, **kwargs):
    return _expected_page(
        store,
        message=message,
        ok=ok,
        status=status or (200 if ok else 422),
        trigger={"scan": {"ok": ok}, **toast(message, "success" if ok else "error")},
        **kwargs,
    )


@bp.post("/stores/<store_code>/returns/expected")
@store_route
def receive(store):
    """Receive a return by post here: its units into this store's stock by their condition, the refund sent.
    Scanned again once received: it says so, nothing changes."""
    code = " ".join(request.form.get("code", "").split())[:MAX_QUERY]
    if not code:
        return _answer(store, gettext("Scan the return number on the parcel, or the order number."), False)
    ret = returns.find_return(code)
    if ret is None:
        found = [r for o in returns.find_orders(code) for r in returns.returns_of(o)]
        waiting = [r for r in found if r.status == "expected"]
        if len(waiting) > 1:
            message = ngettext(
                "%(num)d return by post of this order is expected: scan the return number.",
                "%(num)d returns by post of this order are expected: scan the return number.",
                len(waiting),
            )
            return _answer(store, message, False, status=409)
        ret = waiting[0] if waiting else found[-1] if found else None
    if ret is None:
        return _answer(store, gettext("No return matches “%(code)s”.", code=code), False, status=404)
    if ret.status == "received":
        if ret.location_id != store.id:
            message = gettext("Return %(number)s was already received at another location.", number=ret.number)
            return _answer(store, message, False, status=409)
        message = gettext("Return %(number)s was already received.", number=ret.number)
        return _answer(store, message, True, received=ret, again=True)
    return_id = ret.id
    db.session.commit()  # the store's read ends: the change below takes the write lock first (SQLite)
    try:
        with unit_of_work(writes=True):
            ret = returns.receive(db.session.get(CustomerReturn, return_id), store, actor=current_actor())
    except DomainError as error:
        db.session.expire_all()
        return _answer(store, domain_message(error), False, status=error.http_status)
    ret = db.session.get(CustomerReturn, return_id)
    message = gettext(
        "Return %(number)s received: %(amount)s refunded.",
        number=ret.number,
        amount=_money(ret.refund_amount, ret.order.currency),
    )
    return _answer(store, message, True, received=ret)


def _money(amount, currency) -> str:
    from app.formatting import money

    return money(amount, currency)


# --- quarantine -------------------------------------------------------------------------------------------------


def _inspect_page(store, *, message="", ok=True, status=200, trigger=None):
    return render(
        "returns/inspect.html",
        "returns/_inspect.html",
        status=status,
        trigger=trigger,
        store=store,
        waiting=returns.quarantined(store),
        message=message,
        ok=ok,
        **_helpers(),
    )


@bp.get("/stores/<store_code>/returns/inspect")
@store_route
@manager_required
def inspect(store):
    """What came back to inspect at this store: a manager puts it back on sale or counts it damaged."""
    return _inspect_page(store)


@bp.post("/stores/<store_code>/returns/inspect/<int:line_id>")
@store_route
@manager_required
def decide(store, line_id):
    line = db.session.get(ReturnLine, line_id) if 0 < line_id <= MAX_ID else None
    if line is None or line.customer_return.location_id != store.id:
        abort(404)
    outcome = request.form.get("outcome", "")
    if outcome not in OUTCOME_LABELS:
        message = gettext("Choose back on sale or damaged.")
        return _inspect_page(store, message=message, ok=False, status=422, trigger=toast(message, "error"))
    sku, quantity, number = line.product.sku, line.quantity, line.customer_return.number
    db.session.commit()
    try:
        with unit_of_work(writes=True):
            returns.decide(db.session.get(ReturnLine, line_id), outcome, actor=current_actor())
    except DomainError as error:
        db.session.expire_all()
        message = domain_message(error)
        return _inspect_page(
            store, message=message, ok=False, status=error.http_status, trigger=toast(message, "error")
        )
    if outcome == "resellable":
        message = ngettext(
            "%(num)d unit of %(sku)s (return %(number)s) back on sale.",
            "%(num)d units of %(sku)s (return %(number)s) back on sale.",
            quantity,
            sku=sku,
            number=number,
        )
    else:
        message = ngettext(
            "%(num)d unit of %(sku)s (return %(number)s) counted as damaged.",
            "%(num)d units of %(sku)s (return %(number)s) counted as damaged.",
            quantity,
            sku=sku,
            number=number,
        )
    return _inspect_page(store, message=message, trigger=toast(message))
