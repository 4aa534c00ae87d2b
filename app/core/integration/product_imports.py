"""The catalogue from a file (CSV or JSON lines): every row checked, then written in one transaction.

Rows are read with the API's schema (app.core.inventory.products), so a file and a PUT refuse the same things;
the records, the all-or-nothing transaction and the summary are those of the order and stock imports
(app.core.integration.imports). Products are written in chunks, a few statements per chunk rather than per row.
Messages are plain English: they are shown by the CLI, not translated.
"""

from pathlib import Path

from marshmallow import ValidationError

from app.core.actor import Actor
from app.core.errors import untranslated
from app.core.integration.imports import (
    ImportResult,
    Reason,
    Record,
    _as_dict,
    _check_header,
    _csv_rows,
    _flatten,
    _in_one_transaction,
    _no_progress,
    _read_text,
    _whole_number,
    jsonl_records,
)
from app.core.inventory import products

PRODUCT_REQUIRED = ("sku",)
PRODUCT_OPTIONAL = (
    "name",
    "name_en",
    "name_fr",
    "name_it",
    "gtin",
    "barcodes",
    "style",
    "size",
    "colour",
    "category",
    "weight_grams",
    "length_mm",
    "width_mm",
    "height_mm",
    "image_url",
    "flags",
    "active",
)
LIST_SEPARATOR = "|"  # barcodes and flags in one CSV cell: 3020120012345|SUP-77
DIMENSIONS = ("length", "width", "height")
WRITE_CHUNK = 1000  # products per round of statements; the progress bar moves by chunk
SCHEMA = products.ProductItemSchema()  # built once: building a schema costs more than loading a row with it


def _column(path: str) -> str:
    """The CSV column of an API field path: names.fr -> name_fr, dimensions_mm.width -> width_mm."""
    parts = path.split(".")
    if parts[0] == "names" and len(parts) > 1:
        return f"name_{parts[1]}"
    if parts[0] == "dimensions_mm":
        return f"{parts[1]}_mm" if len(parts) > 1 else ",".join(f"{d}_mm" for d in DIMENSIONS)
    return parts[0]


def read_products(path: Path, file_format: str) -> list[Record]:
    """Every product in the file, checked without the database."""
    text = _read_text(path)
    return _products_from_csv(path, text) if file_format == "csv" else jsonl_records(text, _load)


def _products_from_csv(path: Path, text: str) -> list[Record]:
    header, rows = _csv_rows(path, text)
    _check_header(path, header, PRODUCT_REQUIRED, PRODUCT_OPTIONAL)
    records = []
    for number, values in rows:
        record = Record(rows=[number], source="csv-product", column=_column)
        records.append(record)
        row, problem = _as_dict(header, values)
        if row is None:
            record.reasons.append(Reason(number, "", problem))
        else:
            _load(record, _body(row))
    return records


def _body(row: dict) -> dict:
    """The API body of a CSV row; an empty cell is a field left out."""
    cells = {name: value.strip() for name, value in row.items() if value.strip()}
    plain = ("sku", "name", "gtin", "style", "size", "colour", "category", "image_url", "active")
    body = {name: cells[name] for name in plain if name in cells}
    names = {lang: cells[f"name_{lang}"] for lang in products.LANGUAGES if f"name_{lang}" in cells}
    if names:
        body["names"] = names
    for name in ("barcodes", "flags"):
        if name in cells:
            body[name] = [part.strip() for part in cells[name].split(LIST_SEPARATOR) if part.strip()]
    if "weight_grams" in cells:
        body["weight_grams"] = _whole_number(cells["weight_grams"])
    dimensions = {d: _whole_number(cells[f"{d}_mm"]) for d in DIMENSIONS if f"{d}_mm" in cells}
    if dimensions:
        body["dimensions_mm"] = dimensions
    return body


def _load(record: Record, body) -> None:
    if not isinstance(body, dict):
        record.reasons.append(Reason(record.rows[0], "", "A line must hold one JSON object: a product with its sku."))
        return
    try:
        record.value = SCHEMA.load(body)
    except ValidationError as error:
        for path, message in _flatten(error.messages).items():
            record.refuse(path, message)
        return
    record.label = f"product {record.value['sku']}"


def import_products(
    records: list[Record], *, actor: Actor, skip_invalid: bool = False, progress=_no_progress
) -> ImportResult:
    """Create, replace or leave alone each product (as PUT /api/v1/products/{sku}); all or nothing unless
    skip_invalid."""
    result = ImportResult(noun="products", rows=len(records), total=len(records), unchanged_label="unchanged")

    def apply_all():
        valid = [record for record in records if not record.reasons]
        refused = products.check_products([r.value for r in valid], file_rows=[r.rows[0] for r in valid])
        for index, fields in refused.items():
            for path, (message, params) in fields.items():
                valid[index].refuse(path, untranslated(message, **params))
        result.rejected = [record for record in records if record.reasons]
        progress(len(result.rejected))
        good = [record for record in valid if not record.reasons]
        for start in range(0, len(good), WRITE_CHUNK):
            chunk = good[start : start + WRITE_CHUNK]
            for _, status in products.write_products([r.value for r in chunk], actor=actor):
                result.imported += status != "unchanged"
                result.unchanged += status == "unchanged"
            progress(len(chunk))

    return _in_one_transaction(result, apply_all, skip_invalid)
