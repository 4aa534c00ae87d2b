"""Catalogue operations: products, their barcodes and where they sit in each store."""

from sqlalchemy import select
from stdnum import ean

from app.core.errors import N_, InvalidInput
from app.core.models import Product, ProductBarcode, ShelfLocation
from app.extensions import db

GTIN_LENGTHS = {8, 12, 13}


def validate_gtin(code: str) -> str:
    """Return the GTIN (EAN-8, UPC-A or EAN-13) if its GS1 check digit is right, else raise."""
    code = (code or "").strip()
    if len(code) not in GTIN_LENGTHS or not code.isdigit() or not ean.is_valid(code):
        raise InvalidInput(
            N_("%(code)s is not a valid EAN-13, UPC-A or EAN-8 code."), fields={"gtin": "invalid"}, code=code
        )
    return code


def create_product(
    *, sku: str, name: str, gtin: str | None = None, category: str = "", barcodes=(), **details
) -> Product:
    """Add a product to the catalogue, checking its GTIN and that its codes are unused."""
    sku = (sku or "").strip()
    if not sku or not (name or "").strip():
        raise InvalidInput(N_("SKU and name are required."), fields={"sku": "required", "name": "required"})
    gtin = validate_gtin(gtin) if gtin else None
    for code in [sku, gtin, *barcodes]:
        if code and find_product(code) is not None:
            raise InvalidInput(
                N_("The code %(code)s is already used by another product."), fields={"sku": "taken"}, code=code
            )
    product = Product(sku=sku, gtin=gtin, name=name.strip(), category=category, **details)
    product.barcodes = [ProductBarcode(code=c) for c in barcodes]
    db.session.add(product)
    db.session.flush()
    return product


def find_product(code: str) -> Product | None:
    """Find a product by SKU, GTIN (with or without UPC leading zero) or extra barcode."""
    code = (code or "").strip()
    if not code:
        return None
    candidates = {code}
    if code.isdigit() and len(code) == 12:
        candidates.add("0" + code)
    if code.isdigit() and len(code) == 13 and code.startswith("0"):
        candidates.add(code[1:])
    codes = sorted(candidates)
    # SKU, then GTIN, then extra barcode: each an indexed equality look-up (an OR over an outer join walks the table).
    for column in (Product.sku, Product.gtin):
        product = db.session.scalar(select(Product).where(column.in_(codes)).limit(1))
        if product is not None:
            return product
    return db.session.scalar(
        select(Product)
        .join(ProductBarcode, ProductBarcode.product_id == Product.id)
        .where(ProductBarcode.code.in_(codes))
        .limit(1)
    )


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
