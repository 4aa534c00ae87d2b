"""The store's work queue and the fulfilment screen (accept / reject)."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.core import orders, sourcing
from app.core.errors import DomainError
from app.core.models import Fulfilment, Location, Order, ShelfLocation, SourcingDecision
from app.core.models import FulfilmentStatus as S
from app.core.uow import unit_of_work
from app.extensions import db
from app.web.helpers import current_actor, domain_message, render, store_route, toast

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


class RejectForm(FlaskForm):
    reason = SelectField(
        lazy_gettext("Reason"),
        choices=[SelectChoice(v, label) for v, label in REJECT_REASONS],
        validators=[DataRequired()],
    )
    note = StringField(lazy_gettext("Note"), validators=[Length(max=150)])


@bp.get("/")
@login_required
def home():
    stores = current_user.stores
    if len(stores) == 1:
        return redirect(url_for("queue.queue", store_code=stores[0].code))
    if current_user.role == "admin":
        stores = db.session.scalars(select(Location).where(Location.active).order_by(Location.code)).all()
    return render("queue/stores.html", stores=stores)


def _counts(store) -> dict:
    rows = db.session.execute(
        select(Fulfilment.status, func.count()).where(Fulfilment.location_id == store.id).group_by(Fulfilment.status)
    ).all()
    by_status = dict(rows)
    return {tab: sum(by_status.get(s, 0) for s in statuses) for tab, (_, statuses) in TABS.items()}


@bp.get("/stores/<store_code>/queue")
@store_route
def queue(store):
    tab = request.args.get("tab", "accept")
    if tab not in TABS:
        abort(404)
    method = request.args.get("method", "")
    stmt = (
        select(Fulfilment)
        .join(Order)
        .where(Fulfilment.location_id == store.id, Fulfilment.status.in_(TABS[tab][1]))
        .options(selectinload(Fulfilment.order), selectinload(Fulfilment.lines))
        .order_by(Fulfilment.ready_by, Fulfilment.id)
        .limit(200)
    )
    if method in {"ship", "collect"}:
        stmt = stmt.where(Order.delivery_method == method)
    work = db.session.scalars(stmt).all()
    return render(
        "queue/queue.html",
        "queue/_work_list.html",
        store=store,
        tabs=TABS,
        tab=tab,
        method=method,
        work=work,
        counts=_counts(store),
    )


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


def _detail(store, fulfilment, form=None, status=200, trigger=None):
    return render(
        "queue/fulfilment.html",
        "queue/_fulfilment_panel.html",
        status=status,
        trigger=trigger,
        store=store,
        fulfilment=fulfilment,
        shelves=_shelves(store, fulfilment),
        form=form or RejectForm(),
        decision=_decision(fulfilment),
        lines=sorted(fulfilment.lines, key=lambda line: line.id),
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


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/reject")
@store_route
def reject(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    form = RejectForm()
    if not form.validate():
        return _detail(store, fulfilment, form=form, status=422)
    if fulfilment.status == S.REJECTED:
        return _detail(store, fulfilment, trigger=toast(gettext("Order rejected.")))
    reason = dict(REJECT_REASONS)[form.reason.data]
    text = f"{form.reason.data}: {form.note.data}".strip(": ") if form.note.data else form.reason.data
    try:
        with unit_of_work():
            sourcing.reject_and_reroute(fulfilment, reason=text, actor=current_actor())
    except DomainError as error:
        db.session.refresh(fulfilment)
        return _detail(
            store, fulfilment, form=form, status=error.http_status, trigger=toast(domain_message(error), "error")
        )
    return _detail(store, fulfilment, trigger=toast(gettext("Order rejected: %(reason)s", reason=reason)))
