"""Shelf places and the walk of a store, for its managers; shelf labels to print (2 x 1 inch or A4 sheets)."""

from flask import Blueprint, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.core.errors import N_, InvalidInput
from app.core.inventory import shelves
from app.core.inventory.catalogue import find_product
from app.web.helpers import current_actor, document_response, go_to, manager_required, render, save_form, store_route
from labels.shelves import LAYOUTS, ShelfLabel, shelf_labels_pdf

bp = Blueprint("shelves", __name__)
PAGE = 50
MAX_LABELS = 1000  # one print run; a bigger store prints by search (aisle by aisle)


class PlaceForm(FlaskForm):
    code = StringField(lazy_gettext("SKU or barcode"), validators=[DataRequired(), Length(max=64)])
    shelf = StringField(
        lazy_gettext("Shelf place (aisle-bay-level, e.g. A3-12-2)"), validators=[DataRequired(), Length(max=60)]
    )
    sequence = IntegerField(
        lazy_gettext("Place in the pick path (optional)"),
        validators=[Optional(), NumberRange(min=0, max=shelves.MAX_SEQUENCE - 1)],
    )


class WalkForm(FlaskForm):
    aisles = TextAreaField(
        lazy_gettext("Aisles in the order you walk them, separated by commas (empty: natural order)"),
        validators=[Length(max=5000)],
    )


def _place(store, form: PlaceForm, placed: list) -> None:
    product = find_product(form.code.data.strip())
    if product is None:
        raise InvalidInput(N_("Unknown product code."), field="code")
    shelves.place_product(store, product, form.shelf.data, sequence=form.sequence.data, actor=current_actor())
    placed.append(product.sku)


def _walk(store, form: WalkForm) -> None:
    aisles = [part.strip() for part in (form.aisles.data or "").replace("\n", ",").split(",") if part.strip()]
    shelves.set_walk(store, aisles, actor=current_actor())


def _page(store, place_form, walk_form, status=200, trigger=None):
    query = request.args.get("q", "").strip()[:64]
    found = shelves.places(store, after=request.args.get("after") or None, limit=PAGE + 1, search=query)
    more = len(found) > PAGE
    rows = found[:PAGE]
    return render(
        "shelves/list.html",
        status=status,
        trigger=trigger,
        store=store,
        rows=rows,
        query=query,
        next_after=rows[-1][0].sku if more else None,
        place_form=place_form,
        walk_form=walk_form,
        layouts=LAYOUTS,
        max_labels=MAX_LABELS,
    )


@bp.route("/stores/<store_code>/shelves", methods=["GET"])
@store_route
@manager_required
def shelf_list(store):
    """Where each product sits, searchable, with the forms to place a product and to set the walk."""
    walk_form = WalkForm(formdata=None, prefix="walk", aisles=", ".join(store.walk or []))
    return _page(store, PlaceForm(formdata=None), walk_form)


@bp.post("/stores/<store_code>/shelves")
@store_route
@manager_required
def place(store):
    form, placed = PlaceForm(), []
    status, trigger = save_form(form, lambda: _place(store, form, placed), gettext("Saved."))
    if status == 200:  # the list then shows the product just placed, found by its SKU (a barcode may have been scanned)
        return go_to(url_for("shelves.shelf_list", store_code=store.code, q=placed[0]))
    return _page(
        store, form, WalkForm(formdata=None, prefix="walk", aisles=", ".join(store.walk or [])), status, trigger
    )


@bp.post("/stores/<store_code>/shelves/walk")
@store_route
@manager_required
def walk(store):
    form = WalkForm(prefix="walk")
    status, trigger = save_form(form, lambda: _walk(store, form), gettext("Saved."))
    if status == 200:
        return go_to(url_for("shelves.shelf_list", store_code=store.code))
    return _page(store, PlaceForm(formdata=None), form, status, trigger)


@bp.get("/stores/<store_code>/shelves/labels.pdf")
@store_route
@manager_required
def labels(store):
    """Shelf labels of the places found by the search (every place when none), up to MAX_LABELS at a time."""
    layout = request.args.get("layout", "2x1")
    if layout not in LAYOUTS:
        layout = "2x1"
    query = request.args.get("q", "").strip()[:64]
    found = shelves.places(store, limit=MAX_LABELS, search=query)
    if not found:
        return render("shelves/none.html", status=404, store=store, query=query)
    ordered = sorted(found, key=lambda row: (shelves.path_key(row[1], store.walk), row[0].sku))
    pdf = shelf_labels_pdf(
        [
            ShelfLabel(shelves.label_text(place, store), place.code, f"{product.sku} · {product.name}")
            for product, place in ordered
        ],
        layout,
    )
    return document_response(pdf, f"shelf-labels-{store.code}-{layout}.pdf")
