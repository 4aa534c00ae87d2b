"""Stock look-up (active search, scans), and counts, safety stock and channel buffers set by managers."""

from flask import Blueprint, abort, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import literal, or_, select, tuple_
from wtforms import FieldList, Form, FormField, HiddenField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.core.errors import DomainError
from app.core.floor.lookup import look_up as lookup_code
from app.core.inventory import buffers, stock
from app.core.models import MovementKind, Product, ProductBarcode, StockLevel
from app.core.uow import unit_of_work
from app.extensions import db, htmx
from app.web.helpers import (
    current_actor,
    domain_message,
    go_to,
    manager_required,
    render,
    save_form,
    store_route,
    toast,
)

bp = Blueprint("stock", __name__)
PAGE = 50
MAX_QUERY = 100  # longer searches are cut: no name, SKU or code is longer
# Where a scanned code of this store opens.
OPENS = {
    "order": lambda store, found: url_for("queue.fulfilment", store_code=store.code, fulfilment_id=found.fulfilment.id),
    "pick_list": lambda store, found: url_for("pick.pick_list", store_code=store.code, pick_list_id=found.pick_list.id),
    "pickup": lambda store, found: url_for("counter.pickup", store_code=store.code, fulfilment_id=found.fulfilment.id),
}


class CountForm(FlaskForm):
    on_hand = IntegerField(
        lazy_gettext("Counted units"), validators=[InputRequired(), NumberRange(min=0, max=1_000_000)]
    )
    reason = StringField(lazy_gettext("Reason"), validators=[Length(max=150)])


class BufferForm(Form):
    """One channel's buffer: a channel already held back (its name fixed), or a new one (name typed)."""

    channel = StringField(lazy_gettext("New channel"), validators=[Optional(), Length(max=buffers.MAX_CHANNEL)])
    known = HiddenField()
    units = IntegerField(lazy_gettext("Units held back"), validators=[Optional(), NumberRange(min=0, max=1_000_000)])

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if (self.channel.data or "").strip() and self.units.data is None and not self.units.errors:
            self.units.errors = [gettext("Give the units to hold back, 0 for none.")]
            valid = False
        return valid


class StockSettingsForm(FlaskForm):
    safety_stock = IntegerField(
        lazy_gettext("Safety stock"), validators=[InputRequired(), NumberRange(min=0, max=1_000_000)]
    )
    buffers = FieldList(FormField(BufferForm), max_entries=500)  # a cap on what a post may send, far above use


def _rows(store, query: str, after: Product | None):
    """One page of the catalogue with the store's stock, in (name, id) order from just after `after`: a page
    never repeats the one before, whatever the catalogue's size. Searches name, SKU, GTIN and extra barcodes."""
    stmt = (
        select(Product, StockLevel)
        .outerjoin(StockLevel, (StockLevel.product_id == Product.id) & (StockLevel.location_id == store.id))
        .order_by(Product.name, Product.id)
        .limit(PAGE + 1)
    )
    if query:
        stmt = stmt.where(
            or_(
                Product.name.icontains(query, autoescape=True),
                Product.sku.icontains(query, autoescape=True),
                Product.gtin.icontains(query, autoescape=True),
                Product.id.in_(select(ProductBarcode.product_id).where(ProductBarcode.code == query)),
            )
        )
    if after is not None:
        stmt = stmt.where(tuple_(Product.name, Product.id) > tuple_(literal(after.name), literal(after.id)))
    rows = db.session.execute(stmt).all()
    return rows[:PAGE], len(rows) > PAGE


@bp.get("/stores/<store_code>/stock")
@store_route
def lookup(store):
    """The catalogue with this store's stock, a page at a time (?after=<last product id>), searchable (?q=)."""
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    after_id = request.args.get("after", "")
    after = db.session.get(Product, int(after_id)) if after_id.isdigit() and len(after_id) < 12 else None
    rows, more = _rows(store, query, after)
    partial = "stock/_more.html" if htmx.target == "more-rows" else "stock/_rows.html"
    return render("stock/lookup.html", partial, store=store, q=query, rows=rows, more=more, after=after)


@bp.post("/stores/<store_code>/scan")
@store_route
def scan(store):
    """The counter look-up: an order, a parcel or a pick list of this store opens; a product shows its stock."""
    found = lookup_code(store, request.form.get("code", ""))
    if found.kind in OPENS:
        return go_to(OPENS[found.kind](store, found))
    if found.kind == "product":
        return render(
            "stock/scan.html",
            "stock/_scan_result.html",
            store=store,
            found=found,
            message="",
            trigger={"scan": {"ok": True}},
        )
    if found.kind == "elsewhere":
        status, message = 404, gettext("%(code)s is not part of this store's work.", code=found.code)
    elif found.code:
        status, message = 422, gettext("Unknown code: %(code)s", code=found.code)
    else:
        status, message = 422, gettext("Nothing was scanned.")
    return render(
        "stock/scan.html",
        "stock/_scan_result.html",
        status=status,
        store=store,
        found=found,
        message=message,
        trigger={"scan": {"ok": False}, **toast(message, "error")},
    )


def _product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404)
    return product


@bp.route("/stores/<store_code>/stock/<int:product_id>/count", methods=["GET", "POST"])
@store_route
@manager_required
def count(store, product_id):
    product = _product(product_id)
    form = CountForm()
    status, trigger = 200, None
    if request.method == "POST":
        if form.validate():
            try:
                with unit_of_work():
                    stock.set_count(
                        store,
                        product,
                        form.on_hand.data,
                        actor=current_actor(),
                        reason=form.reason.data or "shelf count",
                        kind=MovementKind.COUNT,
                    )
                trigger = toast(
                    gettext("Count saved: %(sku)s is now %(n)s on hand.", sku=product.sku, n=form.on_hand.data)
                )
            except DomainError as error:
                status, trigger = error.http_status, toast(domain_message(error), "error")
                form.on_hand.errors = [domain_message(error)]
        else:
            status = 422
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    return render(
        "stock/count.html",
        "stock/_count_form.html",
        status=status,
        trigger=trigger,
        store=store,
        product=product,
        level=level,
        form=form,
    )


def _filled_form(store, level) -> StockSettingsForm:
    """The form with what is set now: every channel the store holds back from, and a blank line for a new one."""
    held = buffers.channel_buffers(store)
    entries = [{"channel": name, "known": "1", "units": units} for name, units in held.items()] + [{}]
    return StockSettingsForm(
        formdata=None, data={"safety_stock": level.safety_stock if level else 0, "buffers": entries}
    )


def _save_settings(store, product, form: StockSettingsForm) -> None:
    """Set what changed: the product's safety stock here, and each channel buffer of the store."""
    actor = current_actor()
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    if form.safety_stock.data != (level.safety_stock if level else 0):
        stock.set_safety_stock(store, product, form.safety_stock.data, actor=actor)
    held = buffers.channel_buffers(store)
    for entry in form.buffers:
        channel = (entry.channel.data or "").strip()
        if channel and held.get(channel) != entry.units.data:
            buffers.set_channel_buffer(store, channel, entry.units.data, actor=actor)


@bp.route("/stores/<store_code>/stock/<int:product_id>/settings", methods=["GET", "POST"])
@store_route
@manager_required
def settings(store, product_id):
    """What this store keeps back: the product's safety stock, and the store's buffer per sales channel."""
    product = _product(product_id)
    level_of = select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    status, trigger = 200, None
    if request.method == "POST":
        form = StockSettingsForm()
        saved = gettext("Saved: what %(store)s keeps back of %(sku)s.", store=store.name, sku=product.sku)
        status, trigger = save_form(form, lambda: _save_settings(store, product, form), saved)
    level = db.session.scalar(level_of)
    if status == 200:
        form = _filled_form(store, level)  # what is set now, read back
    return render(
        "stock/settings.html",
        "stock/_settings_form.html",
        status=status,
        trigger=trigger,
        store=store,
        product=product,
        level=level,
        form=form,
    )
