"""Stores, warehouses and shelf places from CSV files: every row checked, then written in one transaction.

Each row goes through the same core operation as the API (locations.put_location, shelves.place_product), so a
file and a call refuse the same things; the records, the all-or-nothing transaction and the summary are those of
the order and stock imports (app.core.integration.imports). Messages are plain English: the CLI shows them.
"""

from pathlib import Path

from app.core.actor import Actor
from app.core.errors import DomainError
from app.core.integration.imports import (
    ImportResult,
    Record,
    _by_key,
    _domain_reasons,
    _in_one_transaction,
    _no_progress,
    _whole_number,
    csv_records,
)
from app.core.inventory import shelves
from app.core.models import Location, Product
from app.core.ordering import locations
from app.extensions import db

LOCATION_REQUIRED = ("code", "name")
LOCATION_OPTIONAL = (
    "type",
    "timezone",
    "line1",
    "line2",
    "postcode",
    "city",
    "country",
    "latitude",
    "longitude",
    "ships",
    "click_and_collect",
    "returns",
    "capacity_per_day",
    "active",
    "opening_hours",
    "carriers",
)
ADDRESS = ("line1", "line2", "postcode", "city", "country")
FLAGS = ("ships", "click_and_collect", "returns", "active")
TRUE, FALSE = {"true", "yes", "y", "1", "oui", "si", "sì"}, {"false", "no", "n", "0", "non"}
SHELF_REQUIRED = ("location", "sku", "shelf")
SHELF_OPTIONAL = ("sequence",)
HOURS_SEPARATOR = "|"  # opening hours in one cell: mon 09:00-19:00|tue 09:00-19:00|sun closed


def _flag(value: str):
    """True or False for the usual spellings; anything else is left for the core to refuse."""
    lowered = value.lower()
    return True if lowered in TRUE else False if lowered in FALSE else value


def _location_body(cells: dict) -> dict:
    """The body of PUT /api/v1/locations/{code} for a CSV row; an empty cell is a field left out."""
    body = {name: cells[name] for name in ("name", "type", "timezone") if name in cells}
    address = {name: cells[name] for name in ADDRESS if name in cells}
    if address:
        body["address"] = address
    for name in ("latitude", "longitude"):
        if name in cells:
            body[name] = cells[name]
    for name in FLAGS:
        if name in cells:
            body[name] = _flag(cells[name])
    if "capacity_per_day" in cells:
        body["capacity_per_day"] = _whole_number(cells["capacity_per_day"])
    if "opening_hours" in cells:
        body["opening_hours"] = "\n".join(cells["opening_hours"].split(HOURS_SEPARATOR))
    if "carriers" in cells:  # CX 17:30|CL 16:00
        pairs = [part.split(None, 1) for part in cells["carriers"].split(HOURS_SEPARATOR) if part.strip()]
        body["carriers"] = {pair[0]: (pair[1] if len(pair) > 1 else "") for pair in pairs}
    return body


def read_locations(path: Path) -> list[Record]:
    """Every location of the file, as (code, body) to put; checked by the core when imported."""
    records = []
    for record, cells in csv_records(path, LOCATION_REQUIRED, LOCATION_OPTIONAL):
        records.append(record)
        if cells is not None:
            record.value = (cells.get("code", ""), _location_body(cells))
            record.label = f"location {record.value[0]}"
    return records


def import_locations(
    records: list[Record], *, actor: Actor, skip_invalid: bool = False, progress=_no_progress
) -> ImportResult:
    """Create or change each location as PUT /api/v1/locations/{code} does; all or nothing unless skip_invalid."""
    result = ImportResult(noun="locations", rows=len(records), total=len(records), unchanged_label="unchanged")

    def apply_all():
        for record in records:
            if not record.reasons:
                try:
                    with db.session.begin_nested():
                        _, created, changed = locations.put_location(*record.value, actor=actor)
                except DomainError as error:
                    _domain_reasons(record, error)
                else:
                    result.imported += bool(created or changed)
                    result.unchanged += not (created or changed)
            if record.reasons:
                result.rejected.append(record)
            progress(1)

    return _in_one_transaction(result, apply_all, skip_invalid)


def read_shelves(path: Path) -> list[Record]:
    """Every (location, sku, shelf[, sequence]) row of the file; checked by the core when imported."""
    records, seen = [], {}
    for record, cells in csv_records(path, SHELF_REQUIRED, SHELF_OPTIONAL):
        records.append(record)
        if cells is None:
            continue
        for name in SHELF_REQUIRED:
            if name not in cells:
                record.refuse(name, "Required.")
        if "sequence" in cells:
            cells["sequence"] = _whole_number(cells["sequence"])
        key = (cells.get("location"), cells.get("sku"))
        if not record.reasons and key in seen:
            record.refuse("sku", f"Placed twice in this file (first at row {seen[key]}).")
        seen.setdefault(key, record.rows[0])
        if not record.reasons:
            record.value = cells
    return records


def import_shelves(
    records: list[Record], *, actor: Actor, skip_invalid: bool = False, progress=_no_progress
) -> ImportResult:
    """Put each product at its shelf place in its store; all or nothing unless skip_invalid."""
    result = ImportResult(noun="shelf places", rows=len(records), total=len(records), unchanged_label="unchanged")

    def apply_all():
        valid = [r.value for r in records if not r.reasons]
        places = _by_key(Location.code, {v["location"] for v in valid})
        products = _by_key(Product.sku, {v["sku"] for v in valid})
        for record in records:
            if not record.reasons:
                row = record.value
                location, product = places.get(row["location"]), products.get(row["sku"])
                if location is None:
                    record.refuse("location", "Unknown location.")
                if product is None:
                    record.refuse("sku", "Unknown SKU.")
            if not record.reasons:
                try:
                    with db.session.begin_nested():
                        _, _, changed = shelves.place_product(
                            location, product, row["shelf"], sequence=row.get("sequence"), actor=actor
                        )
                except DomainError as error:
                    _domain_reasons(record, error)
                else:
                    result.imported += changed
                    result.unchanged += not changed
            if record.reasons:
                result.rejected.append(record)
            progress(1)

    return _in_one_transaction(result, apply_all, skip_invalid)
