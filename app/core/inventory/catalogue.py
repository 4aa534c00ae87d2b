"""Catalogue operations: products, their barcodes and where they sit in each store."""

from functools import cache

from sqlalchemy import bindparam, select
from stdnum import ean

from app.core.errors import N_, InvalidInput
from app.core.models import Product, ProductBarcode, ShelfLocation
from app.extensions import db

GTIN_LENGTHS = {8, 12, 13, 14}
GTIN_MESSAGE = N_("%(code)s is not a valid EAN-13, UPC-A, EAN-8 or GTIN-14 code (check digit or length).")


def is_valid_gtin(code: str) -> bool:
    """Whether the code is an EAN-8, UPC-A, EAN-13 or GTIN-14 with the right GS1 check digit (all zeros is
    no product's code, though its check digit is right)."""
    return len(code) in GTIN_LENGTHS and code.isdigit() and code.strip("0") != "" and ean.is_valid(code)


def validate_gtin(code: str) -> str:
    """Return the GTIN (EAN-8, UPC-A, EAN-13 or GTIN-14) if its GS1 check digit is right, else raise."""
    code = (code or "").strip()
    if not is_valid_gtin(code):
        raise InvalidInput(GTIN_MESSAGE, field="gtin", code=code)
    return code


def create_product(
    *, sku: str, name: str, gtin: str | None = None, category: str = "", barcodes=(), **details
) -> Product:
    """Add a product to the catalogue, checking its GTIN and that its codes are unused."""
    sku = (sku or "").strip()
    if not sku or not (name or "").strip():
        raise InvalidInput(N_("SKU and name are required."), fields={"sku": N_("Required."), "name": N_("Required.")})
    gtin = validate_gtin(gtin) if gtin else None
    for code in [sku, gtin, *barcodes]:
        if code and find_product(code) is not None:
            raise InvalidInput(N_("The code %(code)s is already used by another product."), field="sku", code=code)
    product = Product(sku=sku, gtin=gtin, name=name.strip(), category=category, **details)
    product.barcodes = [ProductBarcode(code=c) for c in barcodes]
    db.session.add(product)
    db.session.flush()
    return product


def code_forms(code: str) -> list[str]:
    """The codes a scanned or sent code may be stored as: itself, and its UPC-A / EAN-13 / GTIN-14 forms (the
    same GTIN with or without leading zeros)."""
    candidates = {code}
    if code.isdigit() and 12 <= len(code) <= 14:
        shortest = code
        while len(shortest) > 12 and shortest.startswith("0"):
            shortest = shortest[1:]
        candidates |= {shortest.zfill(length) for length in range(len(shortest), 15)}
    return sorted(candidates)


def find_products(codes) -> dict[str, Product]:
    """{code: product} for the codes that name one, by SKU, then GTIN (with or without UPC leading zero), then
    extra barcode. One indexed look-up per kind for all the codes at once (an order's lines are found in one
    statement when they give SKUs); a code that two kinds match takes the first kind, as find_product does."""
    wanted = {code: code_forms(code) for code in {(c or "").strip() for c in codes} if code}
    found: dict[str, Product] = {}
    for kind in ("sku", "gtin", "barcode"):
        missing = {code: forms for code, forms in wanted.items() if code not in found}
        if not missing:
            break
        forms = sorted({f for forms in missing.values() for f in forms})
        by_form: dict[str, Product] = {}
        for product, form in db.session.execute(_find_statement(kind), {"forms": forms}):
            by_form.setdefault(form, product)
        for code, forms in missing.items():
            match = next((by_form[f] for f in forms if f in by_form), None)
            if match is not None:
                found[code] = match
    return found


@cache
def _find_statement(kind: str):
    """The look-up of find_products by one kind of code, the codes an expanding parameter: built once (every order
    captured looks its lines up; building the statement and its cache key cost a third of the look-up)."""
    if kind == "barcode":
        return (
            select(Product, ProductBarcode.code)
            .join(ProductBarcode, ProductBarcode.product_id == Product.id)
            .where(ProductBarcode.code.in_(bindparam("forms", expanding=True)))
        )
    column = Product.sku if kind == "sku" else Product.gtin
    return select(Product, column).where(column.in_(bindparam("forms", expanding=True)))


def find_product(code: str) -> Product | None:
    """Find a product by SKU, GTIN (with or without UPC leading zero) or extra barcode."""
    code = (code or "").strip()
    return find_products([code]).get(code) if code else None


def place_on_shelf(location, product, *, aisle: str, bay: str, pick_sequence: int) -> ShelfLocation:
    """Record where a product sits in a store, for pick paths."""
    shelf = db.session.scalar(
        select(ShelfLocation).where(ShelfLocation.location_id == location.id, ShelfLocation.product_id == product.id)
    )
    if shelf is None:
        shelf = ShelfLocation(location_id=location.id, product_id=product.id)
        db.session.add(shelf)
    shelf.aisle, shelf.bay, shelf.pick_sequence = aisle, bay, pick_sequence
    db.session.flush()
    return shelf
