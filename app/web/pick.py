"""Picking screens: choose orders for a pick list, walk it with a scanner or taps, short, undo, take over, finish."""

import functools
import json
import uuid

from flask import Blueprint, abort, flash, make_response, redirect, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import contains_eager, selectinload
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.core.errors import DomainError
from app.core.floor import commands, picking
from app.core.models import Fulfilment, FulfilmentLine, Order, PickList, PickListStatus, ShelfLocation
from app.core.models import FulfilmentStatus as S
from app.core.models.base import MAX_ID
from app.core.uow import unit_of_work
from app.documents import pick_list_document
from app.extensions import db, htmx
from app.formatting import product_name
from app.web.helpers import current_actor, document_response, domain_message, render, store_route, toast

bp = Blueprint("pick", __name__)

SHORT_REASONS = [
    ("cannot_find", lazy_gettext("Cannot find")),
    ("out_of_stock", lazy_gettext("Out of stock")),
    ("damaged", lazy_gettext("Damaged")),
    ("other", lazy_gettext("Other")),
]
COMMAND_CAPTIONS = {
    commands.CONFIRM: lazy_gettext("Confirm"),
    commands.SHORT: lazy_gettext("Short"),
    commands.NEXT: lazy_gettext("Next"),
    commands.UNDO: lazy_gettext("Undo"),
}


class ShortForm(FlaskForm):
    line = IntegerField(validators=[DataRequired()])
    expected_short = IntegerField(validators=[Optional()])
    quantity = IntegerField(lazy_gettext("Units short"), validators=[DataRequired(), NumberRange(min=1, max=10_000)])
    reason = SelectField(
        lazy_gettext("Reason"),
        choices=[SelectChoice(value, label) for value, label in SHORT_REASONS],
        validators=[DataRequired()],
    )
    note = StringField(lazy_gettext("Note"), validators=[Length(max=150)])


@functools.cache
def _pick_list_statement():
    """The pick list with its orders, lines, products and their shelves here, in one query (a scan needs all of them).

    Built once: the joined loading options are costly to build and to key for the statement cache on every request.
    Its location is the store store_route loaded already: pick_list.location comes from the session, not a join.
    """
    fulfilments = contains_eager(PickList.fulfilments)
    return (
        select(PickList, ShelfLocation)
        .outerjoin(PickList.fulfilments)
        .outerjoin(Fulfilment.order)
        .outerjoin(Fulfilment.lines)
        .outerjoin(FulfilmentLine.product)
        .outerjoin(
            ShelfLocation,
            and_(
                ShelfLocation.location_id == PickList.location_id, ShelfLocation.product_id == FulfilmentLine.product_id
            ),
        )
        .where(PickList.id == bindparam("pick_list_id"))
        .options(
            fulfilments.contains_eager(Fulfilment.lines).contains_eager(FulfilmentLine.product),
            fulfilments.contains_eager(Fulfilment.order),
        )
        .order_by(Fulfilment.tote, FulfilmentLine.id)  # the relationships' own order (totes, then lines)
    )


def _load(store, pick_list_id: int) -> tuple[PickList, dict]:
    """The pick list (404 unless it is this store's) and the shelves of its products, by product id."""
    rows = db.session.execute(_pick_list_statement(), {"pick_list_id": pick_list_id}).unique().all()
    if not rows or rows[0][0].location_id != store.id:
        abort(404)
    return rows[0][0], {shelf.product_id: shelf for _, shelf in rows if shelf is not None}


def _pick_list(store, pick_list_id: int) -> PickList:
    return _load(store, pick_list_id)[0]


def _new_scan_id() -> str:
    """A fresh id for each rendered form: a double tap or a resend of that form counts once."""
    return uuid.uuid4().hex


def _panel(store, pick_list, *, result=None, status=200, short_form=None, trigger=None):
    """The pick screen, or for the scan bar (which targets #pick-live) only what a scan changes."""
    return _render_panel(
        _panel_context(store, pick_list, result=result, short_form=short_form, trigger=trigger), status
    )


def _from_scan_bar() -> bool:
    return bool(htmx) and htmx.target == "pick-live"


def _render_panel(context: dict, status: int = 200):
    live_only = context["live_only"]
    response = render(
        "pick/pick.html", "pick/_live.html" if live_only else "pick/_panel.html", status=status, **context
    )
    if _from_scan_bar() and not live_only:  # the list just finished: the path, the totes and the next steps change
        response.headers["HX-Retarget"] = "#pick"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


def _panel_context(store, pick_list, *, result=None, short_form=None, trigger=None, shelves=None) -> dict:
    """What the pick screen shows (its queries run in the caller's transaction when it has one open)."""
    groups = picking.groups(pick_list, shelves)
    live_only = _from_scan_bar() and pick_list.status == PickListStatus.OPEN
    changed = {result.product_id} if result is not None and result.product_id else set()
    current = picking.current_group(pick_list, groups)
    last = picking.last_scan(pick_list, result)
    if result is not None:
        trigger = {"scan": {"ok": result.ok}, **(trigger or {})}
    return dict(
        oob_rows=[g for g in groups if g.product.id in changed] if live_only else [],
        live_only=live_only,
        trigger=trigger,
        store=store,
        pick_list=pick_list,
        groups=groups,
        current=current,
        left=sum(g.left for g in groups),
        last=last,
        result=result,
        notices=picking.stop_cancelled(pick_list),
        mine=pick_list.user_id == current_user.id,
        short_form=short_form,
        new_scan_id=_new_scan_id,
        command_captions=COMMAND_CAPTIONS,
        scan_url=url_for("pick.scan", store_code=store.code, pick_list_id=pick_list.id),
        scan_target="#pick-live",
    )


def _error(store, pick_list, error: DomainError, short_form=None):
    db.session.rollback()
    db.session.refresh(pick_list)
    return _panel(
        store,
        pick_list,
        status=error.http_status,
        short_form=short_form,
        trigger={"scan": {"ok": False}, **toast(domain_message(error), "error")},
    )


@bp.get("/stores/<store_code>/picks/new")
@store_route
def choose(store):
    """Accepted orders ready to pick, most urgent first; the store's batch size are ticked."""
    ready = db.session.scalars(
        select(Fulfilment)
        .join(Order)
        .where(Fulfilment.location_id == store.id, Fulfilment.status == S.ACCEPTED)
        .options(selectinload(Fulfilment.order), selectinload(Fulfilment.lines))
        .order_by(Fulfilment.ready_by, Fulfilment.id)
        .limit(200)
    ).all()
    pickable = [f for f in ready if not f.order.needs_review]
    return render(
        "pick/choose.html",
        store=store,
        ready=ready,
        ticked={f.id for f in pickable[: store.pick_batch_size]},
        resume=picking.open_pick_list_for(current_user, store),
        limit=store.pick_batch_size,
    )


@bp.post("/stores/<store_code>/picks")
@store_route
def start(store):
    ids = [int(v) for v in request.form.getlist("fulfilment") if v.isdigit() and int(v) <= MAX_ID]
    fulfilments = db.session.scalars(
        select(Fulfilment).where(Fulfilment.id.in_(ids), Fulfilment.location_id == store.id)
    ).all()
    if len(fulfilments) != len(set(ids)):
        abort(404)
    try:
        with unit_of_work():
            pick_list = picking.start_pick(store, list(fulfilments), user=current_user, actor=current_actor())
    except DomainError as error:
        if htmx:
            response = make_response("", 204)
            response.headers["HX-Trigger"] = json.dumps(toast(domain_message(error), "error"))
            return response
        flash(domain_message(error), "error")
        return redirect(url_for("pick.choose", store_code=store.code), 303)
    url = url_for("pick.pick_list", store_code=store.code, pick_list_id=pick_list.id)
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Location"] = url
        return response
    return redirect(url, 303)


@bp.get("/stores/<store_code>/picks/<int:pick_list_id>")
@store_route
def pick_list(store, pick_list_id):
    return _panel(store, _pick_list(store, pick_list_id))


@bp.post("/stores/<store_code>/picks/<int:pick_list_id>/scan")
@store_route
def scan(store, pick_list_id):
    pick_list, shelves = _load(store, pick_list_id)
    code = request.form.get("code", "")[:64]
    try:
        with unit_of_work(keep_loaded=True):
            result = picking.scan(
                pick_list, code, request.form.get("scan_id", ""), user=current_user, actor=current_actor()
            )
            short_form = None
            if result.outcome == "short_prompt" and result.line_id:
                line = db.session.get(FulfilmentLine, result.line_id)
                short_form = ShortForm(
                    formdata=None,
                    line=line.id,
                    expected_short=line.short,
                    quantity=line.quantity - line.picked - line.short,
                )
            # The answer's reads (shelves, skipped products) share the scan's transaction: after the commit
            # the connection goes back to the pool, and a new one would cost a ping, a BEGIN and a ROLLBACK.
            context = _panel_context(store, pick_list, result=result, short_form=short_form, shelves=shelves)
    except DomainError as error:
        return _error(store, pick_list, error)
    return _render_panel(context)


def _line(pick_list, line_id) -> FulfilmentLine:
    line = db.session.get(FulfilmentLine, line_id) if line_id else None
    if line is None or line.fulfilment.pick_list_id != pick_list.id:
        abort(404)
    return line


def _whole(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 7 else None


@bp.post("/stores/<store_code>/picks/<int:pick_list_id>/confirm")
@store_route
def confirm(store, pick_list_id):
    pick_list = _pick_list(store, pick_list_id)
    line = _line(pick_list, _whole(request.form.get("line", "")))
    quantity = _whole(request.form.get("quantity", ""))
    try:
        with unit_of_work():
            result = picking.confirm(
                pick_list,
                line,
                quantity if quantity is not None else -1,
                request.form.get("scan_id", ""),
                user=current_user,
                actor=current_actor(),
            )
    except DomainError as error:
        return _error(store, pick_list, error)
    return _panel(store, pick_list, result=result)


@bp.post("/stores/<store_code>/picks/<int:pick_list_id>/undo")
@store_route
def undo(store, pick_list_id):
    pick_list = _pick_list(store, pick_list_id)
    try:
        with unit_of_work():
            result = picking.undo_last(
                pick_list,
                request.form.get("scan_id", ""),
                user=current_user,
                actor=current_actor(),
                expected=_whole(request.form.get("last", "")),
            )
    except DomainError as error:
        return _error(store, pick_list, error)
    return _panel(store, pick_list, result=result)


@bp.get("/stores/<store_code>/picks/<int:pick_list_id>/notices")
@store_route
def notices(store, pick_list_id):
    """Cancellations on the list, polled by the pick screen; 204 (nothing to swap, nothing re-announced) when
    the screen already shows them all."""
    pick_list = _pick_list(store, pick_list_id)
    found = picking.stop_cancelled(pick_list)
    if request.args.get("shown", "") == str(len(found)):
        return make_response("", 204)
    return render("pick/_notices.html", store=store, pick_list=pick_list, notices=found, oob=False)


@bp.get("/stores/<store_code>/picks/<int:pick_list_id>/short-form")
@store_route
def short_form(store, pick_list_id):
    """The short form for one line of the list, prefilled with what is left (fetched when "Mark short" opens)."""
    pick_list = _pick_list(store, pick_list_id)
    line = _line(pick_list, _whole(request.args.get("line", "")))
    left = line.quantity - line.picked - line.short
    form = ShortForm(formdata=None, line=line.id, expected_short=line.short, quantity=max(left, 1))
    return render("pick/_short_form.html", store=store, pick_list=pick_list, form=form)


@bp.post("/stores/<store_code>/picks/<int:pick_list_id>/short")
@store_route
def short(store, pick_list_id):
    pick_list = _pick_list(store, pick_list_id)
    form = ShortForm()
    if not form.validate():
        return _panel(store, pick_list, status=422, short_form=form, trigger={"scan": {"ok": False}})
    line = _line(pick_list, form.line.data)
    if form.expected_short.data is not None and line.short != form.expected_short.data:  # a resend: already recorded
        return _panel(store, pick_list, trigger=toast(gettext("This short pick was already recorded.")))
    try:
        with unit_of_work():
            picking.short(
                pick_list,
                line,
                form.quantity.data,
                form.reason.data,
                form.note.data or "",
                user=current_user,
                actor=current_actor(),
            )
    except DomainError as error:
        return _error(store, pick_list, error, short_form=form)
    message = gettext(
        "%(quantity)s × %(name)s marked short: the order goes on and the missing units go to another store.",
        quantity=form.quantity.data,
        name=product_name(line.product),
    )
    return _panel(store, pick_list, trigger=toast(message))


@bp.post("/stores/<store_code>/picks/<int:pick_list_id>/takeover")
@store_route
def takeover(store, pick_list_id):
    pick_list = _pick_list(store, pick_list_id)
    try:
        with unit_of_work():
            picking.take_over(pick_list, user=current_user, actor=current_actor())
    except DomainError as error:
        return _error(store, pick_list, error)
    return _panel(store, pick_list, trigger=toast(gettext("You are now picking this list.")))


@bp.post("/stores/<store_code>/picks/<int:pick_list_id>/finish")
@store_route
def finish(store, pick_list_id):
    pick_list = _pick_list(store, pick_list_id)
    try:
        with unit_of_work():
            picking.finish(pick_list, user=current_user, actor=current_actor())
    except DomainError as error:
        return _error(store, pick_list, error)
    return _panel(store, pick_list, trigger=toast(gettext("Picking finished: the orders are ready to pack.")))


@bp.get("/stores/<store_code>/picks/<int:pick_list_id>/pick-list.pdf")
@store_route
def pick_list_pdf(store, pick_list_id):
    """The pick list on paper, with the command barcodes, for a handheld-only walk."""
    pick_list = _pick_list(store, pick_list_id)
    commands_shown = tuple((value, str(caption)) for value, caption in COMMAND_CAPTIONS.items())
    return document_response(pick_list_document(pick_list, commands_shown), f"{pick_list.number}.pdf")
