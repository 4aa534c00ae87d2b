"""The customer service console's order page and exception queue: /cs/orders/<id>, /cs/exceptions.

The order page tells an order's whole story (customer, delivery, lines, every fulfilment and parcel, payments,
returns, the e-mails sent, the sourcing decisions and one merged timeline, times on the store's clock) and carries
the actions of app.core.service.actions, each with a note. Every action is a plain form POST (boosted by htmx) with
its CSRF token, run in one unit of work: on success the page is shown again (303, the message as a toast); on a
refusal the page comes back with the core's sentence at the form, 409 when the order's state does not allow it, 422
for a value. A double submit acts once: the core ignores or refuses a repeat (the same note, the same hold's end,
nothing left to re-route, a copy of an e-mail already waiting, a goodwill refund's number), and where it would act
twice (cancelling units, re-shipping) the form carries what the page showed and a change meanwhile is refused.

Only customer service and admins open these pages; associates and managers get 403 (app.web.cs_search).
"""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.numbers import NumberFormatError, parse_decimal
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext, ngettext
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app import formatting
from app.core import payments, returns
from app.core.errors import N_, DomainError, InvalidInput
from app.core.models import Fulfilment, FulfilmentLine, Location, Order, OrderStatus
from app.core.models import FulfilmentStatus as S
from app.core.models.base import MAX_ID
from app.core.ordering import orders
from app.core.service import actions, story
from app.core.uow import unit_of_work
from app.extensions import db
from app.web import METHOD_LABELS, STATUS_LABELS
from app.web.admin import MESSAGE_LABELS
from app.web.cs_search import CONSOLE_ROLES, ORDER_STATUS_LABELS
from app.web.helpers import current_actor, domain_message, render, role_required, toast

bp = Blueprint("cs", __name__)

MAX_FIELD = 200

REASON_LABELS = {
    "unfulfilled": lazy_gettext("Nothing could source it"),
    "payment_failed": lazy_gettext("A payment failed"),
    "pickup_expired": lazy_gettext("Not collected in time"),
    "attention": lazy_gettext("Flagged for customer service"),
    "late": lazy_gettext("Late"),
    "complaint": lazy_gettext("Customer complaint"),
}
NEXT_STEP_LABELS = {
    "unfulfilled": lazy_gettext("Re-route to a location with stock, or cancel the lines"),
    "payment_failed": lazy_gettext("Check the payment, then call the customer"),
    "pickup_expired": lazy_gettext("Extend the hold or cancel"),
    "attention": lazy_gettext("Read the timeline, then resolve"),
    "late": lazy_gettext("Call the store, or re-route"),
    "complaint": lazy_gettext("Call the customer"),
}
TXN_KIND_LABELS = {
    "authorisation": lazy_gettext("Authorisation"),
    "capture": lazy_gettext("Capture"),
    "refund": lazy_gettext("Refund"),
    "void": lazy_gettext("Release of the authorisation"),
}
TXN_STATUS_LABELS = {
    "pending": lazy_gettext("Pending"),
    "succeeded": lazy_gettext("Succeeded"),
    "failed": lazy_gettext("Failed"),
}
EMAIL_STATUS_LABELS = {
    "pending": lazy_gettext("Waiting to be sent"),
    "sent": lazy_gettext("Sent"),
    "failed": lazy_gettext("Failed"),
}
RETURN_STATUS_LABELS = {"expected": lazy_gettext("Expected by post"), "received": lazy_gettext("Received")}
EVENT_LABELS = {
    "order.create": lazy_gettext("Order received"),
    "order.cancel": lazy_gettext("Order cancelled"),
    "order.needs_customer_service": lazy_gettext("Flagged for customer service"),
    "order.review_released": lazy_gettext("Released after review"),
    "order.cs_note": lazy_gettext("Note"),
    "order.cs_goodwill": lazy_gettext("Goodwill refund"),
    "order.cs_hold_extended": lazy_gettext("Pickup hold changed by customer service"),
    "order.cs_rerouted": lazy_gettext("Re-routed by customer service"),
    "order.cs_lines_cancelled": lazy_gettext("Lines cancelled by customer service"),
    "fulfilment.lines_cancelled": lazy_gettext("Lines cancelled by customer service"),
    "order.cs_address_changed": lazy_gettext("Delivery address changed"),
    "order.cs_pickup_store_changed": lazy_gettext("Pickup store changed"),
    "order.cs_reshipped": lazy_gettext("Re-shipped at no charge"),
    "order.cs_resolved": lazy_gettext("Resolved by customer service"),
    "order.complaint": lazy_gettext("Complaint flagged"),
    "message.queued": lazy_gettext("Message written"),
    "message.sent": lazy_gettext("Message sent"),
    "message.failed": lazy_gettext("Message could not be sent"),
    "message.resent": lazy_gettext("Message sent again"),
    "fulfilment.assign": lazy_gettext("Given to a store"),
    "fulfilment.lines_rejected": lazy_gettext("Lines refused by the store"),
    "pick.start": lazy_gettext("Picking started"),
    "pick.confirmed": lazy_gettext("Item picked"),
    "pick.finish": lazy_gettext("Picking finished"),
    "pack.start": lazy_gettext("Packing started"),
    "pack.scan": lazy_gettext("Item packed"),
    "pack.new_parcel": lazy_gettext("Parcel added"),
    "pack.set_parcel": lazy_gettext("Parcel weighed"),
    "parcel.hand_over": lazy_gettext("Handed to the carrier"),
    "pickup.bags": lazy_gettext("Bags prepared"),
    "pickup.staged": lazy_gettext("Put on the hold shelf"),
    "pickup.transfer_received": lazy_gettext("Received at the pickup store"),
    "pickup.customer_arrived": lazy_gettext("Customer arrived"),
    "pickup.hold_changed": lazy_gettext("End of the hold changed"),
    "pickup.restocked": lazy_gettext("Put back on sale"),
    "payment.capture_failed": lazy_gettext("Payment capture failed"),
    "payment.refund_failed": lazy_gettext("Refund failed"),
    "payment.void_failed": lazy_gettext("Release of the authorisation failed"),
}


# --- reading ----------------------------------------------------------------------------------------------------


def _order(order_id: int) -> Order:
    order = db.session.get(Order, order_id) if 0 < order_id <= MAX_ID else None
    if order is None:
        abort(404)
    return order


def _fulfilment_of(order: Order, fulfilment_id: int) -> Fulfilment:
    fulfilment = db.session.get(Fulfilment, fulfilment_id) if 0 < fulfilment_id <= MAX_ID else None
    if fulfilment is None or fulfilment.order_id != order.id:
        abort(404)
    return fulfilment


def home_store(order: Order):
    """Whose clock tells the order's times: the pickup store, else the first store serving it (None: the app's)."""
    if order.pickup_location is not None:
        return order.pickup_location
    return order.fulfilments[0].location if order.fulfilments else None


def _who(label: str) -> str:
    if label.startswith("user:"):
        return label[5:]
    if label.startswith("system"):
        return gettext("System")
    if label.startswith("api:"):
        return gettext("Integration %(name)s", name=label[4:])
    return label


def event_words(entry) -> tuple[str, str]:
    """What happened in the reader's words, and its detail (a note, a reason, a location)."""
    action = entry.action
    after = entry.after or {}
    if action in EVENT_LABELS:
        what = str(EVENT_LABELS[action])
    elif action.startswith("fulfilment.") and action[11:] in STATUS_LABELS:
        what = gettext("Fulfilment: %(status)s", status=STATUS_LABELS[action[11:]])
    else:
        what = action
    details = []
    if entry.subject != "order":
        kind, _, number = entry.subject.partition(" ")
        details.append(
            gettext("fulfilment %(id)s", id=number) if kind == "fulfilment" else gettext("parcel %(id)s", id=number)
        )
    for key in ("location", "reason", "amount", "kind", "note"):
        value = after.get(key)
        if value not in (None, "", [], {}):
            details.append(str(MESSAGE_LABELS.get(value, value)) if key == "kind" else str(value))
    return what, " · ".join(details)


def _local_input(moment: datetime | None, store) -> str:
    """A moment as a datetime-local field's value on the store's clock."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(formatting.store_zone(store)).strftime("%Y-%m-%dT%H:%M")


def _fulfilment_view(order: Order, fulfilment: Fulfilment) -> dict:
    store = fulfilment.location
    pickup = getattr(fulfilment, "pickup", None)
    pickup_store = (pickup.location if pickup is not None else None) or order.pickup_location or store
    view = {
        "f": fulfilment,
        "store": store,
        "status": STATUS_LABELS.get(fulfilment.status, fulfilment.status),
        "parcels": [
            {"parcel": p, "tracking": p.label.tracking_number if getattr(p, "label", None) is not None else ""}
            for p in fulfilment.parcels
        ],
        "pickup": pickup,
        "pickup_store": pickup_store,
        "hold_value": _local_input(pickup.expires_at if pickup is not None else None, pickup_store),
        # rejected or open and not yet picked, with units no location holds now (a re-routed one has none left)
        "reroutable": fulfilment.status in actions.REROUTABLE and bool(actions.units_to_reroute(fulfilment)),
        "candidates": [],
        "reshippable": fulfilment.status == S.SHIPPED and fulfilment.reship_of_id is None,
        "reship_candidates": [],
        "reship_of": fulfilment.reship_of_id,
    }
    if view["reroutable"]:
        view["candidates"] = actions.reroute_candidates(fulfilment)
    if view["reshippable"]:
        view["reship_candidates"] = actions.reship_candidates(fulfilment)
    return view


def _goodwill(order: Order) -> dict:
    given = sum(
        (payments.money(t.amount) for t in actions.goodwill_refunds(order) if t.status != "failed"), payments.ZERO
    )
    limit = actions.goodwill_limit()
    return {
        "limit": limit,
        "given": given,
        "left": max(payments.ZERO, limit - given),
        "number": actions.next_goodwill_number(order),
        "possible": payments.has_payment(order),
    }


def _lines(order: Order) -> list[dict]:
    can = actions.cancellable(order)
    return [
        {"line": line, "cancelled": line.cancelled or 0, "cancellable": can.get(line.line_no, 0)}
        for line in order.lines
    ]


def _pickup_stores() -> list[Location]:
    return list(
        db.session.scalars(
            select(Location).where(Location.active, Location.click_and_collect).order_by(Location.name).limit(500)
        )
    )


def _order_page(order: Order, *, failed: str = "", errors=None, message: str = "", status: int = 200, trigger=None):
    db.session.scalars(
        select(Fulfilment)
        .where(Fulfilment.order_id == order.id)
        .options(selectinload(Fulfilment.lines).joinedload(FulfilmentLine.order_line), selectinload(Fulfilment.parcels))
    ).all()
    home = home_store(order)
    summary = payments.summary(order)
    is_open = order.status == OrderStatus.OPEN
    unpacked = is_open and not any(f.status in actions.PACKED_OR_GONE for f in order.fulfilments)
    return render(
        "cs/order.html",
        status=status,
        trigger=trigger,
        order=order,
        home=home,
        method=METHOD_LABELS.get(order.delivery_method, order.delivery_method),
        order_status=ORDER_STATUS_LABELS.get(order.status, order.status),
        lines=_lines(order),
        fulfilments=[_fulfilment_view(order, f) for f in order.fulfilments],
        summary=summary,
        txn_kind=lambda k: str(TXN_KIND_LABELS.get(k, k)),
        txn_status=lambda s: str(TXN_STATUS_LABELS.get(s, s)),
        email_status=lambda s: str(EMAIL_STATUS_LABELS.get(s, s)),
        message_kind=lambda k: str(MESSAGE_LABELS.get(k, k)),
        return_status=lambda s: str(RETURN_STATUS_LABELS.get(s, s)),
        past_returns=returns.returns_of(order),
        emails=story.emails(order),
        decisions=story.decisions(order),
        timeline=[(entry, *event_words(entry), _who(entry.who)) for entry in story.timeline(order)],
        goodwill=_goodwill(order),
        is_open=is_open,
        can_cancel=is_open,
        can_change_address=unpacked and order.delivery_method == "ship",
        can_change_pickup=unpacked and order.delivery_method == "collect",
        can_resolve=order.needs_customer_service,
        can_flag=is_open,
        pickup_stores=_pickup_stores() if order.delivery_method == "collect" else [],
        failed=failed,
        errors=errors or {},
        values=request.form if failed else {},
        message=message,
        lang=str(get_locale() or "en"),
        exception_total=story.exception_count(),
    )


@bp.get("/cs/orders/<int:order_id>")
@login_required
@role_required(*CONSOLE_ROLES)
def order(order_id):
    """An order's whole story and the actions customer service may take on it."""
    return _order_page(_order(order_id))


# --- acting -----------------------------------------------------------------------------------------------------


def _note() -> str:
    return request.form.get("note", "")[:1000]


def _act(order_id: int, form: str, change):
    """Run change(order, note, actor) -> success sentence in one unit of work; show the page again (303), or the
    refusal at the form (the core's status, nothing changed)."""
    _order(order_id)
    db.session.commit()  # the read ends: the change below takes the write lock first (SQLite)
    try:
        with unit_of_work(writes=True):
            order = orders.lock_order(db.session.get(Order, order_id))
            said = change(order, _note(), current_actor())
    except DomainError as error:
        db.session.rollback()
        db.session.expire_all()
        message = domain_message(error)
        errors = error.field_messages(gettext) or {}
        errors.setdefault("_", message)
        return _order_page(
            _order(order_id),
            failed=form,
            errors=errors,
            message=message,
            status=error.http_status,
            trigger=toast(message, "error"),
        )
    flash(said, "success")
    return redirect(url_for("cs.order", order_id=order_id), 303)


def _refuse(message: str, field: str, **params):
    raise InvalidInput(message, field=field, **params)


def _whole(raw: str, field: str, most: int = 9999) -> int:
    raw = (raw or "").strip()
    if raw == "":
        return 0
    if not (raw.isascii() and raw.isdigit() and int(raw) <= most):
        _refuse(N_("Give a whole number, 0 or more."), field)
    return int(raw)


@bp.post("/cs/orders/<int:order_id>/note")
@login_required
@role_required(*CONSOLE_ROLES)
def note(order_id):
    def change(order, note, actor):
        if actions.add_note(order, note, actor=actor):
            return gettext("Note added to the order.")
        return gettext("This note is already on the order.")

    return _act(order_id, "note", change)


@bp.post("/cs/orders/<int:order_id>/emails/<int:email_id>/resend")
@login_required
@role_required(*CONSOLE_ROLES)
def resend(order_id, email_id):
    def change(order, note, actor):
        copy = actions.resend_email(order, email_id, note, actor=actor)
        return gettext("The e-mail will be sent again to %(to)s.", to=copy.to)

    return _act(order_id, f"resend-{email_id}", change)


@bp.post("/cs/orders/<int:order_id>/fulfilments/<int:fulfilment_id>/hold")
@login_required
@role_required(*CONSOLE_ROLES)
def hold(order_id, fulfilment_id):
    """Move the end of a pickup hold: a date and time on the pickup store's clock."""

    def change(order, note, actor):
        fulfilment = _fulfilment_of(order, fulfilment_id)
        view_store = (
            fulfilment.pickup.location if getattr(fulfilment, "pickup", None) is not None else None
        ) or order.pickup_location
        raw = request.form.get("expires_at", "").strip()[:16]
        try:
            local = datetime.strptime(raw, "%Y-%m-%dT%H:%M")
            if not 2000 <= local.year <= 2999:
                raise ValueError(raw)
        except ValueError:
            _refuse(N_("Give the new end of the hold as a date and time."), "expires_at")
        ends = local.replace(tzinfo=ZoneInfo(view_store.timezone) if view_store else UTC).astimezone(UTC)
        if actions.extend_hold(fulfilment, ends, note, actor=actor):
            return gettext("The hold now ends %(when)s.", when=formatting.store_time(ends, view_store))
        return gettext("The hold already ends %(when)s.", when=formatting.store_time(ends, view_store))

    return _act(order_id, f"hold-{fulfilment_id}", change)


@bp.post("/cs/orders/<int:order_id>/fulfilments/<int:fulfilment_id>/reroute")
@login_required
@role_required(*CONSOLE_ROLES)
def reroute(order_id, fulfilment_id):
    def change(order, note, actor):
        fulfilment = _fulfilment_of(order, fulfilment_id)
        code = request.form.get("location", "").strip()[:16]
        if not code:
            _refuse(N_("Choose a location."), "location")
        new = actions.reroute(fulfilment, code, note, actor=actor)
        return gettext("Re-routed to %(store)s.", store=f"{new.location.name} ({new.location.code})")

    return _act(order_id, f"reroute-{fulfilment_id}", change)


@bp.post("/cs/orders/<int:order_id>/fulfilments/<int:fulfilment_id>/reship")
@login_required
@role_required(*CONSOLE_ROLES)
def reship(order_id, fulfilment_id):
    """Send a lost or damaged parcel's contents again, at no charge: a second submit finds every unit sent again
    and is refused (409)."""

    def change(order, note, actor):
        fulfilment = _fulfilment_of(order, fulfilment_id)
        code = request.form.get("location", "").strip()[:16]
        if not code:
            _refuse(N_("Choose a location."), "location")
        new = actions.reship(fulfilment, code, note, actor=actor)
        return gettext("Re-shipped from %(store)s at no charge.", store=f"{new.location.name} ({new.location.code})")

    return _act(order_id, f"reship-{fulfilment_id}", change)


def _amount(raw: str) -> Decimal:
    raw = (raw or "").strip()[:20]
    if not raw:
        _refuse(N_("Give an amount."), "amount")
    try:
        return parse_decimal(raw, locale=str(get_locale() or "en"), strict=False)
    except (NumberFormatError, ValueError):
        try:
            return Decimal(raw.replace(",", "."))
        except ArithmeticError:
            _refuse(N_("Give an amount."), "amount")


@bp.post("/cs/orders/<int:order_id>/goodwill")
@login_required
@role_required(*CONSOLE_ROLES)
def goodwill(order_id):
    """A goodwill refund: the form's number makes a double submit answer the first refund."""

    def change(order, note, actor):
        number = _whole(request.form.get("number", ""), "amount", 10_000)
        if number < 1:
            _refuse(N_("This form is out of date. Reload the order and try again."), "amount")
        amount = _amount(request.form.get("amount", ""))
        txn = actions.goodwill_refund(order, amount, note, actor=actor, number=number)
        return gettext("Goodwill refund of %(amount)s sent.", amount=formatting.money(txn.amount, order.currency))

    return _act(order_id, "goodwill", change)


@bp.post("/cs/orders/<int:order_id>/cancel")
@login_required
@role_required(*CONSOLE_ROLES)
def cancel(order_id):
    """Cancel units of the order's lines. The form carries each line's cancelled units as the page showed them
    (cancel_lines' expected): a double submit gets the first answer, nothing cancelled twice; a change meanwhile is
    refused."""

    def change(order, note, actor):
        units, seen = {}, {}
        for line in order.lines:
            seen[line.line_no] = _whole(request.form.get(f"had-{line.line_no}", ""), "lines")
            wanted = _whole(request.form.get(f"cancel-{line.line_no}", ""), f"lines.{line.line_no}")
            if wanted:
                units[line.line_no] = wanted
        done = actions.cancel_lines(order, units, note, actor=actor, expected=seen)
        count = sum(done.values())
        return ngettext("%(num)d unit cancelled.", "%(num)d units cancelled.", count)

    return _act(order_id, "cancel", change)


@bp.post("/cs/orders/<int:order_id>/address")
@login_required
@role_required(*CONSOLE_ROLES)
def address(order_id):
    def change(order, note, actor):
        fields = ("line1", "line2", "postcode", "city", "country")
        given = {name: " ".join(request.form.get(name, "").split())[:MAX_FIELD] for name in fields}
        given["country"] = given["country"].upper()
        if actions.change_address(order, given, note, actor=actor):
            return gettext("The delivery address is changed.")
        return gettext("The delivery address was already this one.")

    return _act(order_id, "address", change)


@bp.post("/cs/orders/<int:order_id>/pickup-store")
@login_required
@role_required(*CONSOLE_ROLES)
def pickup_store(order_id):
    def change(order, note, actor):
        code = request.form.get("location", "").strip()[:16]
        if not code:
            _refuse(N_("Choose a location."), "location")
        if actions.change_pickup_store(order, code, note, actor=actor):
            return gettext("The pickup store is now %(store)s.", store=order.pickup_location.name)
        return gettext("The pickup store was already this one.")

    return _act(order_id, "pickup", change)


@bp.post("/cs/orders/<int:order_id>/resolve")
@login_required
@role_required(*CONSOLE_ROLES)
def resolve(order_id):
    def change(order, note, actor):
        if actions.resolve(order, note, actor=actor):
            return gettext("Resolved: the order left the exception queue.")
        return gettext("This order was already resolved.")

    return _act(order_id, "resolve", change)


@bp.post("/cs/orders/<int:order_id>/complaint")
@login_required
@role_required(*CONSOLE_ROLES)
def complaint(order_id):
    def change(order, note, actor):
        if actions.flag_complaint(order, note, actor=actor):
            return gettext("Complaint flagged: the order is in the exception queue.")
        return gettext("A complaint was already flagged on this order.")

    return _act(order_id, "complaint", change)


# --- the exception queue ----------------------------------------------------------------------------------------


def _exception_row(x) -> dict:
    order = x.order
    home = home_store(order)
    reason = str(REASON_LABELS.get(x.reason, x.reason))
    if x.reason == "late":
        reason = ngettext("Late by %(num)d hour", "Late by %(num)d hours", x.hours_late)
    return {
        "order": order,
        "url": url_for("cs.order", order_id=order.id),
        "reason": reason,
        "code": x.reason,
        "since": formatting.store_time(x.since, home),
        "store": home.name if home is not None else "",
        "next": str(NEXT_STEP_LABELS.get(x.reason, NEXT_STEP_LABELS["attention"])),
    }


@bp.get("/cs/exceptions")
@login_required
@role_required(*CONSOLE_ROLES)
def exceptions():
    """Orders needing customer service, oldest first, with the reason and the likely action."""
    queue = story.exceptions()
    if queue:  # the stores whose clocks tell each row's time, in one statement rather than one per row
        db.session.scalars(
            select(Order)
            .where(Order.id.in_([x.order.id for x in queue]))
            .options(selectinload(Order.fulfilments).joinedload(Fulfilment.location), joinedload(Order.pickup_location))
        ).unique().all()
    rows = [_exception_row(x) for x in queue]
    return render("cs/exceptions.html", rows=rows, exception_total=len(rows))
