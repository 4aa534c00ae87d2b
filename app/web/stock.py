"""Stock look-up (active search, scans) and counts by managers."""

from flask import Blueprint, abort, request
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange

from app.core import stock
from app.core.catalogue import find_product
from app.core.errors import DomainError
from app.core.models import MovementKind, Product, StockLevel
from app.core.uow import unit_of_work
from app.extensions import db
from app.web.helpers import current_actor, domain_message, render, role_required, store_route, toast

bp = Blueprint("stock", __name__)
PAGE = 50


class CountForm(FlaskForm):
    on_hand = IntegerField(
        lazy_gettext("Counted units"), validators=[InputRequired(), NumberRange(min=0, max=1_000_000)]
    )
    reason = StringField(lazy_gettext("Reason"), validators=[Length(max=150)])


def _rows(store, query: str):
    stmt = (
        select(Product, StockLevel)
        .outerjoin(StockLevel, (StockLevel.product_id == Product.id) & (StockLevel.location_id == store.id))
        .order_by(Product.name)
        .limit(PAGE)
    )
    if query:
        like = f"%{query.strip()}%"
        stmt = stmt.where(or_(Product.name.ilike(like), Product.sku.ilike(like), Product.gtin.ilike(like)))
    return db.session.execute(stmt).all()


@bp.get("/stores/<store_code>/stock")
@store_route
def lookup(store):
    query = request.args.get("q", "")[:100]
    return render("stock/lookup.html", "stock/_rows.html", store=store, q=query, rows=_rows(store, query))


@bp.post("/stores/<store_code>/scan")
@store_route
def scan(store):
    code = request.form.get("code", "").strip()[:64]
    product = find_product(code) if code else None
    if product is None:
        message = gettext("Unknown code: %(code)s", code=code) if code else gettext("Nothing was scanned.")
        return render(
            "stock/scan.html",
            "stock/_scan_result.html",
            status=422,
            store=store,
            product=None,
            message=message,
            trigger={"scan": {"ok": False}, **toast(message, "error")},
        )
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    return render(
        "stock/scan.html",
        "stock/_scan_result.html",
        store=store,
        product=product,
        level=level,
        message="",
        trigger={"scan": {"ok": True}},
    )


def _product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404)
    return product


@bp.route("/stores/<store_code>/stock/<int:product_id>/count", methods=["GET", "POST"])
@store_route
@role_required("manager", "admin")
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
