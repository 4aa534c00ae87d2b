"""The catalogue as a retailer's PIM sends it: products created or replaced by SKU, idempotent by content.

ProductInSchema checks a product's shape without the database (the API, the batch and the file import load with
it); check_products checks the rest (GTIN check digits, codes used twice or by another product) for a whole
batch in a few statements; write_products creates, updates or leaves alone each product. A product with history is
never deleted: `active: false` takes it out of sale.
"""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, ConcurrentChange, InvalidInput
from app.core.inventory.catalogue import GTIN_MESSAGE, code_forms, is_valid_gtin
from app.core.models import Product, ProductBarcode
from app.core.models.base import utcnow
from app.extensions import db

LANGUAGES = ("en", "fr", "it")  # the order a default name is taken from names when `name` is not given
FLAGS = ("fragile", "hazmat")
MAX_BATCH = 1000
MAX_BARCODES = 20
CHUNK = 500  # codes per IN (...): far below SQLite's limit of bound parameters


class NamesSchema(Schema):
    en = fields.String(validate=validate.Length(min=1, max=200))
    fr = fields.String(validate=validate.Length(min=1, max=200))
    it = fields.String(validate=validate.Length(min=1, max=200))


class DimensionsSchema(Schema):
    length = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))
    width = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))
    height = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))


class ProductInSchema(Schema):
    """A product as a PUT replaces it: a field left out is emptied (active: true)."""

    name = fields.String(
        validate=validate.Length(min=1, max=200), metadata={"description": "Default name; else taken from names"}
    )
    names = fields.Nested(NamesSchema, load_default=dict, metadata={"description": "Name per staff language"})
    gtin = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=8, max=14),
        metadata={"description": "EAN-8, UPC-A, EAN-13 or GTIN-14; the check digit is verified"},
    )
    barcodes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=list,
        validate=validate.Length(max=MAX_BARCODES),
        metadata={"description": "Other codes printed on the product (supplier labels, older GTINs)"},
    )
    style = fields.String(
        load_default="", validate=validate.Length(max=64), metadata={"description": "Groups the variants"}
    )
    size = fields.String(load_default="", validate=validate.Length(max=32))
    colour = fields.String(load_default="", validate=validate.Length(max=64))
    category = fields.String(load_default="", validate=validate.Length(max=80))
    weight_grams = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=0, max=1_000_000)
    )
    dimensions_mm = fields.Nested(DimensionsSchema, load_default=None, allow_none=True)
    image_url = fields.Url(
        load_default=None,
        allow_none=True,
        schemes={"http", "https"},
        validate=validate.Length(max=500),
        metadata={"description": "Shown on the pick and pack screens"},
    )
    flags = fields.List(
        fields.String(validate=validate.OneOf(FLAGS)), load_default=list, validate=validate.Length(max=len(FLAGS))
    )
    active = fields.Boolean(load_default=True, metadata={"description": "false: no longer sold (never deleted)"})

    @validates_schema
    def _named(self, data, **kwargs):
        if not data.get("name") and not data.get("names"):
            raise ValidationError({"name": ["Give name, or names in at least one language."]})


class ProductItemSchema(ProductInSchema):
    """A product of a batch or a file: the same body with its SKU."""

    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))


def product_name(product: Product, locale) -> str:
    """The product's name in the reader's language, else its default name."""
    return (product.names or {}).get(str(locale or "")[:2]) or product.name


def named(product: Product) -> dict:
    """A product's name for a message's parameters: the default name, and its names per language when it has
    some, so that each reader's screen says it in their own language (app.web.helpers.say)."""
    return {"name": product.name, "names": product.names} if product.names else {"name": product.name}


def content(product: Product) -> dict:
    """What a product is, as the API answers it and as a PUT compares it (everything a sender sets)."""
    dimensions = None
    if product.length_mm is not None or product.width_mm is not None or product.height_mm is not None:
        dimensions = {"length": product.length_mm, "width": product.width_mm, "height": product.height_mm}
    return {
        "sku": product.sku,
        "name": product.name,
        "names": dict(product.names or {}),
        "gtin": product.gtin,
        "barcodes": [b.code for b in product.barcodes],
        "style": product.style,
        "size": product.size,
        "colour": product.colour,
        "category": product.category,
        "weight_grams": product.weight_grams,
        "dimensions_mm": dimensions,
        "image_url": product.image_url,
        "flags": list(product.flags or []),
        "active": product.active,
    }


def _normal(item: dict) -> dict:
    """A loaded item in the shape content() gives, so a resend compares equal to what it stored."""
    names = {lang: item["names"][lang].strip() for lang in LANGUAGES if item["names"].get(lang, "").strip()}
    name = (item.get("name") or "").strip() or next((names[lang] for lang in LANGUAGES if lang in names), "")
    return {
        "sku": item["sku"].strip(),
        "name": name,
        "names": names,
        "gtin": (item.get("gtin") or "").strip() or None,
        "barcodes": [code.strip() for code in item.get("barcodes") or []],
        "style": (item.get("style") or "").strip(),
        "size": (item.get("size") or "").strip(),
        "colour": (item.get("colour") or "").strip(),
        "category": (item.get("category") or "").strip(),
        "weight_grams": item.get("weight_grams"),
        "dimensions_mm": dict(item["dimensions_mm"]) if item.get("dimensions_mm") else None,
        "image_url": item.get("image_url") or None,
        "flags": sorted(set(item.get("flags") or [])),
        "active": item.get("active", True),
    }


def _owners(codes: set[str]) -> dict[str, set[str]]:
    """{code: SKUs of the products that carry it as SKU, GTIN (in any of its forms) or extra barcode}."""
    forms = {code: code_forms(code) for code in codes}
    wanted = sorted({f for fs in forms.values() for f in fs})
    by_form: dict[str, set[str]] = {}
    for column in (Product.sku, Product.gtin, ProductBarcode.code):
        for start in range(0, len(wanted), CHUNK):
            stmt = select(column, Product.sku).select_from(Product).where(column.in_(wanted[start : start + CHUNK]))
            if column is ProductBarcode.code:
                stmt = stmt.join(ProductBarcode, ProductBarcode.product_id == Product.id)
            for form, sku in db.session.execute(stmt):
                by_form.setdefault(form, set()).add(sku)
    return {code: set().union(*(by_form.get(f, set()) for f in fs)) for code, fs in forms.items()}


BATCH_PLACES = {
    "sku": N_("This SKU is already in this batch (item %(n)s)."),
    "code": N_("The code %(code)s is also in item %(n)s of this batch."),
}
FILE_PLACES = {
    "sku": N_("This SKU is already on row %(n)s of this file."),
    "code": N_("The code %(code)s is also on row %(n)s of this file."),
}


def check_products(items: list[dict], file_rows: list[int] | None = None) -> dict[int, dict[str, tuple]]:
    """{item index: {field: (msgid, params)}} for what the schema cannot see: check digits, a SKU or code twice in
    the batch, a code another product already carries. Empty when every item may be written. With file_rows (the
    row of each item in its file) the item a duplicate repeats is named by its row."""
    places, number = (FILE_PLACES, file_rows.__getitem__) if file_rows else (BATCH_PLACES, int)
    rows = [_normal(item) for item in items]
    errors: dict[int, dict[str, tuple]] = {}
    first_sku: dict[str, int] = {}
    first_code: dict[str, tuple[int, str]] = {}  # a code in any of its GTIN forms -> (item, SKU) that has it first
    for i, row in enumerate(rows):
        refuse = errors.setdefault(i, {}).setdefault
        if not row["name"]:
            refuse("name", (N_("Required."), {}))
        if row["sku"] in first_sku:
            refuse("sku", (places["sku"], {"n": number(first_sku[row["sku"]])}))
        first_sku.setdefault(row["sku"], i)
        if row["gtin"] and not is_valid_gtin(row["gtin"]):
            refuse("gtin", (GTIN_MESSAGE, {"code": row["gtin"]}))
        own: set[str] = set()
        for path, code in _codes(row):
            forms = set(code_forms(code))
            others = sorted(first_code[f][0] for f in forms if f in first_code and first_code[f][1] != row["sku"])
            if own & forms:
                refuse(path, (N_("The code %(code)s is listed twice."), {"code": code}))
            elif others:
                refuse(path, (places["code"], {"code": code, "n": number(others[0])}))
            own |= forms
            for form in forms:
                first_code.setdefault(form, (i, row["sku"]))
    owners = _owners({code for row in rows for _, code in _codes(row)} | {row["sku"] for row in rows})
    for i, row in enumerate(rows):
        refuse = errors.setdefault(i, {}).setdefault
        for path, code in [("sku", row["sku"]), *_codes(row)]:
            if owners.get(code, set()) - {row["sku"]}:
                refuse(path, (N_("The code %(code)s is already used by another product."), {"code": code}))
    return {i: fields for i, fields in errors.items() if fields}


def _codes(row: dict) -> list[tuple[str, str]]:
    """(field path, code) of the codes a product is scanned by, apart from its SKU."""
    codes = [("gtin", row["gtin"])] if row["gtin"] else []
    return codes + [(f"barcodes.{n}", code) for n, code in enumerate(row["barcodes"])]


def save_products(items: list[dict], *, actor: Actor, path=lambda i, name: f"items.{i}.{name}") -> list[tuple]:
    """Create, replace or leave alone each product, all or nothing: [(product, "created" | "updated" |
    "unchanged")]; refused items are named by path(index, field)."""
    errors = check_products(items)
    if errors:
        raise InvalidInput(
            N_("Some products were refused; none was saved."),
            fields={path(i, name): text for i, fields in errors.items() for name, text in fields.items()},
        )
    try:
        with db.session.begin_nested():
            return write_products(items, actor=actor)
    except IntegrityError as error:  # another request saved one of these codes between the check and the write
        raise ConcurrentChange() from error


def _existing(skus: list[str]) -> dict[str, Product]:
    found = {}
    for start in range(0, len(skus), CHUNK):
        stmt = (
            select(Product).where(Product.sku.in_(skus[start : start + CHUNK])).options(selectinload(Product.barcodes))
        )
        found.update({p.sku: p for p in db.session.scalars(stmt)})
    return found


COLUMNS = (
    "name",
    "names",
    "gtin",
    "style",
    "size",
    "colour",
    "category",
    "weight_grams",
    "image_url",
    "flags",
    "active",
)


def _columns(row: dict) -> dict:
    """The product table's values for a normalised item."""
    dimensions = row["dimensions_mm"] or {}
    sizes = {f"{d}_mm": dimensions.get(d) for d in ("length", "width", "height")}
    return {name: row[name] for name in COLUMNS} | sizes


def write_products(items: list[dict], *, actor: Actor) -> list[tuple]:
    """Write checked items (see check_products); a product whose content is already the same is not touched.

    New products are written a few statements per call (one INSERT for the products, one for their barcodes, one
    for their audit rows), not an ORM flush per product: a 20,000-row file imports at thousands of rows a second."""
    rows = [_normal(item) for item in items]
    existing = _existing(sorted({row["sku"] for row in rows}))
    statuses, new, updated = {}, [], []
    for row in rows:
        product = existing.get(row["sku"])
        if product is None:
            new.append(row)
            statuses[row["sku"]] = "created"
            continue
        before = content(product)
        if before == row:
            statuses[row["sku"]] = "unchanged"
            continue
        changed = [name for name in row if before[name] != row[name]]
        _update(product, row, before)
        updated.append((product, {k: before[k] for k in changed}, {k: row[k] for k in changed}))
        statuses[row["sku"]] = "updated"
    existing |= _insert(new)
    db.session.flush()
    audit.record_many(actor, "product.create", [(existing[row["sku"]], None, row) for row in new])
    audit.record_many(actor, "product.update", updated)
    return [(existing[row["sku"]], statuses[row["sku"]]) for row in rows]


def _insert(rows: list[dict]) -> dict[str, Product]:
    """New products and their barcodes, in one INSERT each; {sku: product}."""
    if not rows:
        return {}
    now = utcnow()
    values = [{"sku": row["sku"], **_columns(row), "created_at": now, "updated_at": now} for row in rows]
    created = db.session.scalars(insert(Product).returning(Product, sort_by_parameter_order=True), values).all()
    barcodes = [
        {"product_id": product.id, "code": code}
        for product, row in zip(created, rows, strict=True)
        for code in row["barcodes"]
    ]
    if barcodes:
        db.session.execute(insert(ProductBarcode), barcodes)
    return {product.sku: product for product in created}


def _update(product: Product, row: dict, before: dict) -> None:
    for name, value in _columns(row).items():
        setattr(product, name, value)
    product.updated_at = utcnow()  # also when only its barcodes change: updated_since must find it
    if before["barcodes"] != row["barcodes"]:
        if product.barcodes:
            product.barcodes = []
            db.session.flush()  # the old codes go before the new ones come, as one may come back
        product.barcodes = [ProductBarcode(code=code) for code in row["barcodes"]]
