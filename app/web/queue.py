"""The store's work queue and the fulfilment screen (accept / reject).

"To ship" lists packed fulfilments still in the store: a click & collect transfer whose every parcel the carrier
has is done for the sending store (it stays packed until the pickup store receives it) and is left out, as is one
already on the pickup store's hold shelf from "Ready for pickup" (_sent_away). The pickup store finds the
transfers coming to it under "Incoming" (app.web.incoming), linked beside the tabs with their count."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from app.core.errors import DomainError, InvalidInput
from app.core.floor import collection, dispatch, packing, urgency
from app.core.models import (
    AuditEvent,
    Fulfilment,
    Location,
    Order,
    OrderStatus,
    Pickup,
    ShelfLocation,
    SourcingDecision,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.models.orders import open_statuses_clause
from app.core.ordering import orders, rules, sourcing
from app.core.uow import unit_of_work
from app.extensions import db
from app.web.counter import arrival_rows
from app.web.helpers import current_actor, domain_message, manager_required, render, store_route, toast
from app.web.incoming import incoming_count

bp = Blueprint("queue", __name__)

TABS = {
    "accept": (lazy_gettext("To accept"), [S.CREATED]),
    "pick": (lazy_gettext("To pick"), [S.ACCEPTED, S.PICKING]),
    "pack": (lazy_gettext("To pack"), [S.PICKED]),
    "ship": (lazy_gettext("To ship"), [S.PACKED]),
    "collect": (lazy_gettext("Ready for pickup"), [S.READY_FOR_PICKUP]),
}
REJECT_REASONS = [
    ("out_of_stock", lazy_gettext("Out of stock")),
    ("damaged", lazy_gettext("Damaged")),
    ("cannot_find", lazy_gettext("Cannot find")),
    ("too_busy", lazy_gettext("Store too busy")),
    ("other", lazy_gettext("Other")),
]


REVIEW_ACTIONS = ("release", "cancel")


REASON_LABELS = dict(REJECT_REASONS) | {"short pick": lazy_gettext("Short pick")}


def reason_label(text: str | None) -> str:
    """A stored reason ("out_of_stock", "out_of_stock: note", "short pick: damaged") in the reader's language:
    each code part through the label table, the note kept as written."""
    if not text:
        return ""
    code, separator, rest = text.partition(": ")
    label = REASON_LABELS.get(code)
    if label is None:
        return text  # free text (a note, a cancel reason): as written
    if not separator:
        return str(label)
    return gettext("%(reason)s: %(detail)s", reason=label, detail=reason_label(rest))


def _reason_choices(codes=None):
    """No reason preselected: the first option is empty and fails validation."""
    choices = [SelectChoice("", lazy_gettext("Choose a reason"))]
    return choices + [SelectChoice(v, label) for v, label in REJECT_REASONS if codes is None or v in codes]


REASON_REQUIRED = lazy_gettext("Choose a reason.")


class RejectForm(FlaskForm):
    reason = SelectField(
        lazy_gettext("Reason"), choices=_reason_choices(), validators=[DataRequired(message=REASON_REQUIRED)]
    )
    note = StringField(lazy_gettext("Note (required for Other)"), validators=[Length(max=150)])
    # The version of the fulfilment the form was shown for: a resent or stale form is refused.
    version = HiddenField(validators=[InputRequired()])


class RejectAllForm(FlaskForm):
    reason = SelectField(
        lazy_gettext("Reason"),
        choices=_reason_choices({"too_busy", "other"}),
        validators=[DataRequired(message=REASON_REQUIRED)],
    )
    note = StringField(lazy_gettext("Note (required for Other)"), validators=[Length(max=150)])


class ReviewForm(FlaskForm):
    """Made with prefix="review": its fields do not clash with the reject form's on the same screen."""

    note = StringField(lazy_gettext("Review note"), validators=[DataRequired(), Length(max=150)])


def is_manager() -> bool:
    return current_user.is_manager


def _duration(minutes: int) -> str:
    if minutes < 60:
        return gettext("%(min)s min", min=minutes)
    return gettext("%(h)s h %(min)s min", h=minutes // 60, min=f"{minutes % 60:02d}")


def countdown_text(state: str, seconds: int | None) -> str:
    """ "in 35 min" or "late by 12 min", whole minutes rounded up (the same rule as static/js/queue.js)."""
    if seconds is None:
        return ""
    minutes = max(1, -(-abs(seconds) // 60))
    if state == "late":
        return gettext("late by %(time)s", time=_duration(minutes))
    return gettext("in %(time)s", time=_duration(minutes))


URGENCY_LABELS = {"ok": lazy_gettext("On time"), "soon": lazy_gettext("Due soon"), "late": lazy_gettext("Late")}


def _row_url(store, fulfilment) -> str:
    """Where a row leads: the order's screen here; a transfer received here, to its pickup screens."""
    if fulfilment.location_id == store.id:
        return url_for("queue.fulfilment", store_code=store.code, fulfilment_id=fulfilment.id)
    if fulfilment.status == S.READY_FOR_PICKUP:
        return url_for("counter.pickup", store_code=store.code, fulfilment_id=fulfilment.id)
    return url_for("pickups.prepare", store_code=store.code, fulfilment_id=fulfilment.id)


def _row(fulfilment, now, collection=None, store=None) -> dict:
    state, seconds = urgency.urgency(fulfilment, now, collection)
    due = urgency.deadline(fulfilment, collection)
    return {
        "url": _row_url(store, fulfilment) if store is not None else "",
        "f": fulfilment,
        "state": state if due is not None else None,
        "label": URGENCY_LABELS[state],
        "text": countdown_text(state, seconds),
        "deadline": due.isoformat() if due else "",
        "start": fulfilment.created_at.isoformat() if fulfilment.created_at else "",
        "collection": collection,
    }


def countdown_texts() -> dict:
    """The sentences static/js/queue.js fills in, in the reader's language ({time}, {min}, {h} are filled there)."""
    return {
        "in": gettext("in %(time)s", time="{time}"),
        "lateby": gettext("late by %(time)s", time="{time}"),
        "min": gettext("%(min)s min", min="{min}"),
        "hmin": gettext("%(h)s h %(min)s min", h="{h}", min="{min}"),
        "labelok": str(URGENCY_LABELS["ok"]),
        "labelsoon": str(URGENCY_LABELS["soon"]),
        "labellate": str(URGENCY_LABELS["late"]),
        "new": gettext("New work arrived."),
    }


@bp.get("/")
@login_required
def home():
    if current_user.is_customer_service:  # no store of their own: their home is the console
        return redirect(url_for("cs_search.home"))
    stores = current_user.stores
    if len(stores) == 1:
        return redirect(url_for("queue.queue", store_code=stores[0].code))
    if current_user.is_admin:
        stores = db.session.scalars(select(Location).where(Location.active).order_by(Location.code)).all()
    return render("queue/stores.html", stores=stores)


def _counts(store) -> dict:
    """Units of work per tab: open fulfilments only (every tab shows open statuses), from the partial index
    ix_fulfilment_open_location_id_status, so the count does not grow with the store's closed history."""
    rows = db.session.execute(
        select(Fulfilment.status, func.count())
        .where(Fulfilment.location_id == store.id, open_statuses_clause())
        .group_by(Fulfilment.status)
    ).all()
    by_status = dict(rows)
    if by_status.get(S.PACKED) or by_status.get(S.READY_FOR_PICKUP):
        gone = db.session.scalars(
            select(Fulfilment.status).where(Fulfilment.location_id == store.id, open_statuses_clause(), _sent_away())
        ).all()
        for status in gone:
            by_status[status] -= 1
    counts = {tab: sum(by_status.get(s, 0) for s in statuses) for tab, (_, statuses) in TABS.items()}
    received = db.session.execute(
        _received_here(store, [s for statuses in RECEIVED_TABS.values() for s in statuses])
        .with_only_columns(Fulfilment.status, func.count())
        .group_by(Fulfilment.status)
    ).all()
    for status, count in received:
        counts[next(tab for tab, statuses in RECEIVED_TABS.items() if status in statuses)] += count
    return counts


# A transfer received here (its fulfilment is the sending store's): to prepare in the pack tab, then on the hold
# shelf in the collect tab. Found through the open pickups of this store (ix_pickup_open_location).
RECEIVED_TABS = {"pack": [S.PACKED], "collect": [S.READY_FOR_PICKUP]}


def _received_here(store, statuses):
    return (
        select(Fulfilment)
        .join(Pickup, Pickup.fulfilment_id == Fulfilment.id)
        .where(
            Pickup.location_id == store.id,
            Pickup.is_open,
            Pickup.received_at.is_not(None),
            Fulfilment.location_id != store.id,
            Fulfilment.status.in_(statuses),
        )
    )


def _sent_away():
    """Click & collect transfers this (sending) store is done with: every parcel with the carrier, or already on
    the pickup store's hold shelf. Left out of its tabs: their next steps are the pickup store's."""
    return dispatch.with_carrier_clause() | ((Fulfilment.status == S.READY_FOR_PICKUP) & packing.is_transfer_clause())


def _latest(store) -> int:
    """The newest fulfilment given to the store: when it grows between two polls, new work arrived.
    One step down ix_fulfilment_location_id_id (the store's ids in order), however long its history."""
    return db.session.scalar(select(func.max(Fulfilment.id)).where(Fulfilment.location_id == store.id)) or 0


@bp.get("/stores/<store_code>/queue")
@store_route
def queue(store):
    """The store's work, most urgent first; htmx polls the same URL for the tabs and list (partial)."""
    tab = request.args.get("tab", "accept")
    if tab not in TABS:
        abort(404)
    method = request.args.get("method", "")
    if method not in {"ship", "collect"}:
        method = ""
    due = case((Fulfilment.status == S.CREATED, Fulfilment.accept_by), else_=Fulfilment.ready_by)
    stmt = (
        select(Fulfilment)
        .join(Order)
        # The open-statuses term (implied by the tab's) lets SQLite too serve this from the partial index.
        .where(
            Fulfilment.location_id == store.id,
            open_statuses_clause(),
            Fulfilment.status.in_(TABS[tab][1]),
        )
        .options(selectinload(Fulfilment.order), selectinload(Fulfilment.lines))
        .order_by(due, Fulfilment.id)
        .limit(200)
    )
    if method:
        stmt = stmt.where(Order.delivery_method == method)
    if tab in {"ship", "collect"}:
        stmt = stmt.where(~_sent_away())
    if tab == "collect":  # each row says whether its customer is here
        stmt = stmt.options(selectinload(Fulfilment.pickup))
    now = utcnow()
    fulfilments = db.session.scalars(stmt).all()
    if tab in RECEIVED_TABS and method != "ship":
        received = _received_here(store, RECEIVED_TABS[tab]).options(
            selectinload(Fulfilment.order), selectinload(Fulfilment.lines), selectinload(Fulfilment.pickup)
        )
        fulfilments = sorted(
            [*fulfilments, *db.session.scalars(received)], key=lambda f: (f.ready_by is None, f.ready_by or now, f.id)
        )
    collections = collection.collection_deadlines(store, fulfilments)
    work = [_row(f, now, collections.get(f.id), store) for f in fulfilments]
    arrivals = arrival_rows(store, now)
    if tab == "collect":  # customers who said they are here first, longest waiting first; the rest as before
        waiting = {row["fulfilment"].id: i for i, row in enumerate(arrivals)}
        work.sort(key=lambda row: waiting.get(row["f"].id, len(waiting)))
    return render(
        "queue/queue.html",
        "queue/_live.html",
        store=store,
        tabs=TABS,
        tab=tab,
        method=method,
        work=work,
        counts=_counts(store),
        incoming=incoming_count(store),
        latest=_latest(store),
        texts=countdown_texts(),
        manager=is_manager(),
        arrivals=arrivals,
    )


@bp.post("/stores/<store_code>/ship-paused")
@store_route
@manager_required
def ship_paused(store):
    """Pause or resume ship-from-store (paused=1 or 0): setting the same state again changes nothing."""
    value = request.form.get("paused")
    if value not in {"0", "1"}:
        abort(400)
    paused = value == "1"
    try:
        with unit_of_work():
            rules.update_location(store, {"ship_paused": paused}, actor=current_actor())
    except DomainError as error:
        flash(domain_message(error), "error")
    else:
        flash(gettext("Ship-from-store is paused.") if paused else gettext("Ship-from-store is on again."), "success")
    return redirect(url_for("queue.queue", store_code=store.code), code=303)


@bp.route("/stores/<store_code>/reject-all", methods=["GET", "POST"])
@store_route
@manager_required
def reject_all(store):
    """Give back every order not yet being picked (confirm with a reason); each is re-routed elsewhere."""
    form = RejectAllForm()
    status = 200
    open_count = db.session.scalar(
        select(func.count())
        .select_from(Fulfilment)
        .where(Fulfilment.location_id == store.id, Fulfilment.status.in_(sourcing.REJECTABLE))
    )
    if request.method == "POST":
        note = (form.note.data or "").strip()
        if not form.validate():
            status = 422
        elif form.reason.data == "other" and not note:
            form.note.errors = [gettext("Say why in the note when the reason is Other.")]
            status = 422
        else:
            reason = f"{form.reason.data}: {note}" if note else form.reason.data
            try:
                with unit_of_work():
                    count = sourcing.reject_all_open(store, reason, current_actor())
            except DomainError as error:
                status = error.http_status
                flash(domain_message(error), "error")
            else:
                if count:
                    message = ngettext(
                        "%(num)d order given back and sent to other stores.",
                        "%(num)d orders given back and sent to other stores.",
                        count,
                    )
                else:
                    message = gettext("Nothing left to give back.")
                flash(message, "success")
                return redirect(url_for("queue.queue", store_code=store.code), code=303)
    return render("queue/reject_all.html", status=status, store=store, form=form, open_count=open_count)


def _fulfilment(store, fulfilment_id: int) -> Fulfilment:
    fulfilment = db.session.get(Fulfilment, fulfilment_id)
    if fulfilment is None or fulfilment.location_id != store.id:
        abort(404)
    return fulfilment


def _shelves(store, fulfilment) -> dict:
    ids = [line.product_id for line in fulfilment.lines]
    rows = db.session.scalars(
        select(ShelfLocation).where(ShelfLocation.location_id == store.id, ShelfLocation.product_id.in_(ids))
    ).all()
    return {row.product_id: row for row in rows}


def _decision(fulfilment) -> SourcingDecision | None:
    """The sourcing decision that gave this fulfilment to its location (the latest one naming it)."""
    decisions = db.session.scalars(
        select(SourcingDecision)
        .where(SourcingDecision.order_id == fulfilment.order_id)
        .order_by(SourcingDecision.id.desc())
    )
    code = fulfilment.location.code
    return next((d for d in decisions if any(step["location"] == code for step in d.plan)), None)


def _review_note(order) -> AuditEvent | None:
    """The latest manager note about the review hold (release), from the audit trail."""
    return db.session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.subject_type == Order.__tablename__,
            AuditEvent.subject_id == str(order.id),
            AuditEvent.action == "order.review_released",
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def _detail(
    store,
    fulfilment,
    form=None,
    status=200,
    trigger=None,
    review_form=None,
    quantities=None,
    line_errors=None,
    confirmation=None,
):
    row = _row(fulfilment, utcnow(), collection.collection_deadlines(store, [fulfilment]).get(fulfilment.id))
    form = form or RejectForm(formdata=None)
    form.version.data = str(fulfilment.version)  # what the screen shows now: the next submit is checked against it
    return render(
        "queue/fulfilment.html",
        "queue/_fulfilment_panel.html",
        status=status,
        trigger=trigger,
        store=store,
        fulfilment=fulfilment,
        shelves=_shelves(store, fulfilment),
        form=form,
        review_form=review_form or ReviewForm(formdata=None, prefix="review"),
        decision=_decision(fulfilment),
        lines=sorted(fulfilment.lines, key=lambda line: line.id),
        quantities=quantities or {},
        line_errors=line_errors or {},
        confirmation=confirmation,
        rejectable=fulfilment.status in sourcing.REJECTABLE,
        held=fulfilment.order.needs_review and fulfilment.status in orders.OPEN,
        review_note=_review_note(fulfilment.order),
        manager=is_manager(),
        due=row["state"] and {"state": row["state"], "label": row["label"]},
        due_text=row["text"],
        collection=row["collection"],
    )


@bp.get("/stores/<store_code>/fulfilments/<int:fulfilment_id>")
@store_route
def fulfilment(store, fulfilment_id):
    return _detail(store, _fulfilment(store, fulfilment_id))


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/accept")
@store_route
def accept(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    if fulfilment.status == S.ACCEPTED:  # a resend of the same tap: already done
        return _detail(store, fulfilment, trigger=toast(gettext("Order accepted.")))
    try:
        with unit_of_work():
            orders.accept_fulfilment(fulfilment, actor=current_actor())
    except DomainError as error:
        db.session.refresh(fulfilment)
        return _detail(store, fulfilment, status=error.http_status, trigger=toast(domain_message(error), "error"))
    return _detail(store, fulfilment, trigger=toast(gettext("Order accepted.")))


def _quantities(fulfilment, scope: str) -> dict:
    """{line: units} from the form: every unit left for "all", else the per-line fields (blank is 0)."""
    quantities = {}
    for line in fulfilment.lines:
        left = line.quantity - line.picked - line.short
        if scope == "all":
            quantities[line] = left
            continue
        raw = (request.form.get(f"qty-{line.id}") or "").strip()
        quantities[line] = 0 if raw == "" else int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else raw
    return quantities


def _reject_message(result, reason_label: str) -> str:
    if result.full:
        message = gettext("Order rejected: %(reason)s", reason=reason_label)
    else:
        message = ngettext(
            "%(num)d unit given back (%(reason)s); the rest stays to be accepted.",
            "%(num)d units given back (%(reason)s); the rest stays to be accepted.",
            result.units,
            reason=reason_label,
        )
    if result.damaged_missing:
        missing = ", ".join(f"{sku} × {n}" for sku, n in sorted(result.damaged_missing.items()))
        message += " " + gettext(
            "Fewer damaged units were on the shelf than given back; not set aside: %(items)s.", items=missing
        )
    return message


def _effect_sentences(store, effect) -> list[str]:
    """What a rejection does to one product, in words (the confirmation step)."""
    given = ngettext(
        "%(num)d unit of %(sku)s given back.", "%(num)d units of %(sku)s given back.", effect.units, sku=effect.sku
    )
    if effect.effect == "out_of_stock":
        if effect.held_for_others:
            stock_text = ngettext(
                "%(store)s will count 0 available of %(sku)s: %(before)s on hand now, %(num)d kept, held for "
                "other orders.",
                "%(store)s will count 0 available of %(sku)s: %(before)s on hand now, %(num)d kept, held for "
                "other orders.",
                effect.on_hand_after,
                store=store.code,
                sku=effect.sku,
                before=effect.on_hand,
            )
        else:
            stock_text = gettext(
                "%(store)s will count 0 of %(sku)s (%(before)s on hand now).",
                store=store.code,
                sku=effect.sku,
                before=effect.on_hand,
            )
    elif effect.effect == "damaged":
        stock_text = ngettext(
            "%(num)d unit of %(sku)s set aside as damaged at %(store)s.",
            "%(num)d units of %(sku)s set aside as damaged at %(store)s.",
            effect.damaged,
            sku=effect.sku,
            store=store.code,
        )
        if effect.damaged_missing:
            stock_text += " " + ngettext(
                "%(num)d unit is not on the shelf to set aside.",
                "%(num)d units are not on the shelf to set aside.",
                effect.damaged_missing,
            )
    else:
        stock_text = gettext("Stock of %(sku)s at %(store)s unchanged.", sku=effect.sku, store=store.code)
    return [given, stock_text]


def _line_errors(error, form) -> dict:
    line_errors = {}
    for key, text in error.field_messages(gettext).items():
        if key.startswith("lines."):
            line_errors[int(key.split(".")[1])] = text
        elif key == "lines":
            line_errors["all"] = text
        elif key in {"reason", "note"}:
            getattr(form, key).errors = [text]
    return line_errors


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/reject")
@store_route
def reject(store, fulfilment_id):
    """Reject all the units (scope=all) or those chosen per line (scope=some), with a reason.

    A first submit changes nothing: it answers with what the rejection will do (units given back, the stock
    effect of the reason, in words); only the confirmation (confirm=1, same fields and version) rejects.
    "Back" (back=1) shows the form again as it was filled in.
    """
    fulfilment = _fulfilment(store, fulfilment_id)
    form = RejectForm()
    scope = request.form.get("scope", "all")
    if scope not in {"all", "some"}:
        scope = "all"
    shown = {line.id: request.form.get(f"qty-{line.id}", "") for line in fulfilment.lines}
    if request.form.get("back") == "1":
        return _detail(store, fulfilment, form=form, quantities=shown)
    if not form.validate():
        return _detail(
            store,
            fulfilment,
            form=form,
            status=422,
            trigger=toast(gettext("Some values are not valid."), "error"),
            quantities=shown,
        )
    if fulfilment.status == S.REJECTED:  # a resend of the same rejection: already done
        return _detail(store, fulfilment, trigger=toast(gettext("Order rejected.")))
    if form.version.data != str(fulfilment.version):
        message = gettext("This order changed since you opened it (it may already be done). Check it and try again.")
        return _detail(store, fulfilment, status=409, trigger=toast(message, "error"))
    quantities = _quantities(fulfilment, scope)
    confirmed = request.form.get("confirm") == "1"
    reason = str(dict(REJECT_REASONS)[form.reason.data])
    try:
        if not confirmed:
            full, effects = sourcing.preview_rejection(fulfilment, quantities, form.reason.data, form.note.data or "")
            confirmation = {
                "full": full,
                "reason": reason,
                "note": (form.note.data or "").strip(),
                "scope": scope,
                "fields": [("reason", form.reason.data), ("note", form.note.data or ""), ("scope", scope)]
                + [(f"qty-{line_id}", value) for line_id, value in sorted(shown.items())]
                + [("version", form.version.data)],
                "effects": [_effect_sentences(store, effect) for effect in effects],
            }
            return _detail(store, fulfilment, form=form, quantities=shown, confirmation=confirmation)
        with unit_of_work():
            result = sourcing.reject_lines(
                fulfilment, quantities, form.reason.data, form.note.data or "", current_actor()
            )
    except InvalidInput as error:
        db.session.refresh(fulfilment)
        line_errors = _line_errors(error, form)
        return _detail(
            store,
            fulfilment,
            form=form,
            status=error.http_status,
            trigger=toast(domain_message(error), "error"),
            quantities=shown,
            line_errors=line_errors,
        )
    except DomainError as error:
        db.session.refresh(fulfilment)
        return _detail(
            store, fulfilment, form=form, status=error.http_status, trigger=toast(domain_message(error), "error")
        )
    return _detail(store, fulfilment, trigger=toast(_reject_message(result, reason)))


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/review")
@store_route
@manager_required
def review(store, fulfilment_id):
    """A manager releases a held order (action=release) or cancels it (action=cancel), with a note."""
    fulfilment = _fulfilment(store, fulfilment_id)
    form = ReviewForm(prefix="review")
    action = request.form.get("action", "")
    if action not in REVIEW_ACTIONS:
        abort(400)
    if not form.validate():
        return _detail(
            store,
            fulfilment,
            review_form=form,
            status=422,
            trigger=toast(gettext("A note is required."), "error"),
        )
    order, note = fulfilment.order, form.note.data.strip()
    if action == "cancel" and not order.needs_review and order.status != OrderStatus.CANCELLED:
        message = gettext("This order is not held for review.")
        return _detail(store, fulfilment, status=409, trigger=toast(message, "error"))
    try:
        with unit_of_work():
            if action == "release":
                orders.release_review(order, note, current_actor())
            else:
                orders.cancel_order(order, reason=note, actor=current_actor())
    except DomainError as error:
        db.session.refresh(fulfilment)
        return _detail(
            store, fulfilment, review_form=form, status=error.http_status, trigger=toast(domain_message(error), "error")
        )
    db.session.refresh(fulfilment)
    message = gettext("Order released for picking.") if action == "release" else gettext("Order cancelled.")
    return _detail(store, fulfilment, trigger=toast(message))


@bp.route("/stores/<store_code>/collection-times", methods=["GET", "POST"])
@store_route
@manager_required
def collection_times(store):
    """When each carrier collects at this store (blank: not set): packed parcels count down to it."""
    rows = collection.collection_times(store)
    if request.method == "GET":
        return render("queue/collection_times.html", store=store, rows=rows, values={}, errors={})
    values = {carrier.id: request.form.get(f"collect-{carrier.id}", "")[:16] for carrier, _ in rows}
    try:
        with unit_of_work():
            wanted = {carrier.id: collection.parse_collection_time(values[carrier.id]) for carrier, _ in rows}
            for carrier, _ in rows:
                collection.set_collection_time(store, carrier, wanted[carrier.id], actor=current_actor())
    except DomainError as error:
        return render(
            "queue/collection_times.html",
            status=error.http_status,
            trigger=toast(domain_message(error), "error"),
            store=store,
            rows=rows,
            values=values,
            errors={"collect_at": domain_message(error)},
        )
    flash(gettext("Collection times saved."), "success")
    return redirect(url_for("queue.collection_times", store_code=store.code), code=303)
