"""File imports for operators: orders (CSV or JSON lines) and stock (CSV counts or deltas); products are read
and applied with the same records and summary in app.core.integration.product_imports.

Reading a file checks every row without touching the database and yields records: the rows of
one order or one stock line, with either a value to apply or the reasons it is refused. Applying
runs the records in ONE transaction, each in its own savepoint; by default any rejected record
rolls the whole file back (nothing half-imported), with skip_invalid the valid ones are kept.
Messages are plain English: they are shown by the CLI, not translated.
"""

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from app.core.actor import Actor
from app.core.errors import DomainError, OrderConflict, untranslated
from app.core.inventory import stock
from app.core.models import Location, Product, StockLevel
from app.core.ordering import capture
from app.core.ordering.payloads import CURRENCIES, MAX_ID, MovementInSchema, OrderInSchema
from app.core.uow import unit_of_work
from app.extensions import db

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

ORDER_REQUIRED = ("channel", "external_ref", "customer_name", "method", "sku", "quantity")
ORDER_OPTIONAL = (
    "customer_email",
    "customer_phone",
    "customer_language",
    "pickup_location",
    "line1",
    "line2",
    "postcode",
    "city",
    "country",
    "latitude",
    "longitude",
    "unit_price",
    "promised_by",
    "currency",
)
LINE_COLUMNS = ("sku", "quantity", "unit_price")  # every other column describes the whole order
ADDRESS_COLUMNS = ("line1", "line2", "postcode", "city", "country", "latitude", "longitude")
# API field path -> CSV column, for the messages of a CSV order
CSV_COLUMN = {
    "customer.name": "customer_name",
    "customer.email": "customer_email",
    "customer.phone": "customer_phone",
    "customer.language": "customer_language",
    "delivery.method": "method",
    "delivery.pickup_location": "pickup_location",
    "delivery.address": "line1, postcode, city, country",
}

STOCK_COUNT = ("location", "sku", "on_hand")
STOCK_DELTA = ("location", "sku", "delta")
STOCK_DELTA_OPTIONAL = ("reason", "reference")


class ImportFileError(Exception):
    """The file as a whole cannot be read (missing, empty, not UTF-8, unknown header); nothing was written."""


@dataclass(frozen=True)
class Reason:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}" if self.field else f"row {self.row}: {self.message}"


@dataclass
class Record:
    """One order (CSV: all of its rows) or one stock row: a value to apply, or reasons to refuse it."""

    rows: list[int]
    value: object = None
    reasons: list[Reason] = field(default_factory=list)
    source: str = "csv"  # csv, csv-order (columns stand for API fields), json (API field paths as they are)
    label: str = ""
    line_rows: list[int] = field(default_factory=list)  # csv-order: the row of each order line
    column: Callable[[str], str] | None = None  # the CSV column of a field path, where columns are not fields

    def refuse(self, path: str, message: str) -> None:
        row, name = self.locate(path)
        self.reasons.append(Reason(row, name, message))

    def locate(self, path: str) -> tuple[int, str]:
        """The row and the name the operator knows for a field path of the API or the core."""
        first = self.rows[0]
        if self.source == "json":
            return first, path
        if self.column is not None:
            return first, self.column(path)
        parts = path.split(".")
        if self.source == "csv":  # stock rows: movements.0.delta -> delta
            return first, parts[-1]
        if parts[0] == "lines" and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(self.line_rows):
            name = parts[2] if parts[2] in LINE_COLUMNS else "sku"
            return self.line_rows[int(parts[1])], name
        if parts[:2] == ["delivery", "address"] and len(parts) == 3:
            return first, parts[2]
        return first, CSV_COLUMN.get(path, path)


@dataclass
class ImportResult:
    noun: str  # orders, stock rows
    rows: int = 0  # data rows read
    total: int = 0  # records: orders, or stock rows
    imported: int = 0
    unchanged: int = 0  # orders already there with the same content; counts already at that figure
    rejected: list[Record] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    written: bool = False
    unchanged_label: str = "already present"

    def describe(self) -> str:
        """N rows read, X imported, Y already present, Z rejected."""
        head = _plural(self.rows, "row") + " read"
        if self.total != self.rows:
            head += f" ({self.total} {self.noun})"
        imported = str(self.imported) if self.written or not self.imported else f"0 ({self.imported} valid)"
        text = f"{head}, {imported} imported, {self.unchanged} {self.unchanged_label}, {len(self.rejected)} rejected"
        return text + ("." if self.written else ": nothing was written.")

    def rejection_lines(self) -> list[str]:
        lines = []
        for record in sorted(self.rejected, key=lambda r: r.rows[0]):
            lines += [str(reason) for reason in sorted(record.reasons, key=lambda r: r.row)]
            if len(record.rows) > 1:
                rows = ", ".join(str(n) for n in record.rows)
                lines.append(f"rows {rows}: {record.label} is rejected as a whole.")
        return lines


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _no_progress(_rows: int) -> None:
    return None


def detect_format(path: Path) -> str | None:
    """csv or jsonl from the file name, None when the extension says nothing."""
    return FORMATS.get(path.suffix.lower())


# --------------------------------------------------------------------------- reading files


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImportFileError(f"Cannot read {path}: {error.strerror or error}.") from error
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte order mark
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ImportFileError(
            f"{path.name} is not UTF-8 text: line {line} has the byte 0x{data[error.start]:02X}. "
            "Save it as UTF-8 (in Excel: CSV UTF-8) and import it again."
        ) from error
    if not text.strip():
        raise ImportFileError(f"{path.name} is empty.")
    return text


def _delimiter(text: str) -> str:
    """Comma, or the semicolon or tab that spreadsheets in French or Italian settings write."""
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count)


def _csv_rows(path: Path, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (lower case) and (row number, values) per non-blank row; Excel's row numbers."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = [name.strip().lower() for name in next(reader)]
        rows = [(reader.line_num, values) for values in reader if any(v.strip() for v in values)]
    except csv.Error as error:
        raise ImportFileError(f"{path.name} is not a readable CSV file (line {reader.line_num}: {error}).") from error
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ImportFileError(f"{path.name}: the header repeats the column(s) {', '.join(duplicated)}.")
    return header, rows


def _as_dict(header: list[str], values: list[str]) -> tuple[dict | None, str]:
    """{column: value}, or None and why when the row does not have one value per column."""
    if len(values) < len(header) or any(v.strip() for v in values[len(header) :]):
        return None, f"The row has {len(values)} values; the header has {len(header)} columns."
    return dict(zip(header, values, strict=False)), ""


def _check_header(path: Path, header: list[str], required: tuple, optional: tuple) -> None:
    missing = [name for name in required if name not in header]
    unknown = [name for name in header if name not in required + optional]
    if missing or unknown:
        problems = []
        if missing:
            problems.append("missing column(s) " + ", ".join(missing))
        if unknown:
            problems.append("unknown column(s) " + ", ".join(repr(name) for name in unknown))
        raise ImportFileError(
            f"{path.name}: {'; '.join(problems)}. Required columns: {','.join(required)}; "
            f"optional: {','.join(optional)}."
        )


def csv_records(path: Path, required: tuple, optional: tuple):
    """(record, cells) for each data row of a CSV file with these columns: cells are the row's non-empty values,
    trimmed, by column; None (and the record refused) when the row does not have one value per column."""
    header, rows = _csv_rows(path, _read_text(path))
    _check_header(path, header, required, optional)
    for number, values in rows:
        record = Record(rows=[number], source="csv")
        row, problem = _as_dict(header, values)
        if row is None:
            record.reasons.append(Reason(number, "", problem))
            yield record, None
        else:
            yield record, {name: value.strip() for name, value in row.items() if value.strip()}


def _whole_number(value: str):
    """An int for a whole-number cell; anything else is left for the schema to refuse."""
    return int(value) if re.fullmatch(r"[+-]?\d{1,12}", value.strip()) else value


def _flatten(messages, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested messages -> {"lines.0.quantity": "Not a valid integer."}."""
    if not isinstance(messages, dict):
        return {prefix or "value": " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)}
    flat = {}
    for key, value in messages.items():
        path = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
        flat.update(_flatten(value, path))
    return flat


def _domain_reasons(record: Record, error: DomainError, default_field: str = "") -> None:
    """A refused core operation: one reason per field, or its message."""
    if not error.fields:
        row, name = record.locate(default_field) if default_field else (record.rows[0], "")
        record.reasons.append(Reason(row, name, str(error)))
        return
    for path, text in error.field_messages(untranslated).items():
        record.refuse(path, text)


def _load_order(record: Record, body) -> None:
    """Validate an API order body the way the API does, and keep its draft on the record."""
    if not isinstance(body, dict):
        record.reasons.append(Reason(record.rows[0], "", "A line must hold one JSON object: an order body."))
        return
    try:
        data = OrderInSchema().load(body)
    except ValidationError as error:
        for path, message in _flatten(error.messages).items():
            record.refuse(path, message)
        return
    record.value = capture.draft_from_payload(data)
    record.label = f"order {data['channel']}/{data['external_ref']}"


def read_orders(path: Path, file_format: str) -> list[Record]:
    """Every order in the file, checked without the database."""
    text = _read_text(path)
    return _orders_from_csv(path, text) if file_format == "csv" else _orders_from_jsonl(text)


def jsonl_records(text: str, load: Callable[[Record, object], None]) -> list[Record]:
    """One record per non-blank line of JSON lines, each value given to load(record, value) to check."""
    records = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): JSON may hold U+2028
        if not line.strip():
            continue
        record = Record(rows=[number], source="json")
        try:
            body = json.loads(line)
        except ValueError as error:
            record.reasons.append(Reason(number, "", f"Not valid JSON: {error.msg} (column {error.colno})."))
        else:
            load(record, body)
        records.append(record)
    return records


def _orders_from_jsonl(text: str) -> list[Record]:
    return jsonl_records(text, _load_order)


def _orders_from_csv(path: Path, text: str) -> list[Record]:
    """One record per channel + external_ref, wherever its rows are in the file."""
    header, rows = _csv_rows(path, text)
    _check_header(path, header, ORDER_REQUIRED, ORDER_OPTIONAL)
    at = {name: header.index(name) for name in ("channel", "external_ref")}
    groups: dict[tuple, list[tuple[int, list[str]]]] = {}
    for number, values in rows:
        key = tuple(values[at[name]].strip() if at[name] < len(values) else "" for name in at)
        groups.setdefault(key if all(key) else (number,), []).append((number, values))  # no reference: alone
    return [_csv_order(header, group, f"order {'/'.join(map(str, key))}") for key, group in groups.items()]


def _csv_order(header: list[str], rows: list[tuple[int, list[str]]], label: str) -> Record:
    """The API body of the order on these rows (the first one gives the order's fields), validated."""
    record = Record(rows=[n for n, _ in rows], source="csv-order", label=label)
    parsed = []
    for number, values in rows:
        row, problem = _as_dict(header, values)
        if row is None:
            record.reasons.append(Reason(number, "", problem))
        else:
            parsed.append((number, row))
    if not parsed:
        return record
    first_row, first = parsed[0]
    for number, row in parsed[1:]:
        for name in header:
            if name not in LINE_COLUMNS and row[name].strip() != first[name].strip():
                record.reasons.append(
                    Reason(number, name, f"Differs from row {first_row} of the same order ({first[name].strip()!r}).")
                )

    def cell(name: str, row=first) -> str:
        return (row.get(name) or "").strip()

    def present(values: dict) -> dict:
        return {k: v for k, v in values.items() if v != ""}

    address = present({name: cell(name) for name in ADDRESS_COLUMNS})
    if "country" in address:
        address["country"] = address["country"].upper()
    delivery = present({"method": cell("method").lower(), "pickup_location": cell("pickup_location")})
    if address:
        delivery["address"] = address
    customer = {"name": cell("customer_name"), "email": cell("customer_email"), "phone": cell("customer_phone")}
    customer["language"] = cell("customer_language").lower()
    body = present({"channel": cell("channel"), "external_ref": cell("external_ref")})
    body |= {"customer": present(customer), "delivery": delivery}
    body |= present({"promised_by": cell("promised_by")})
    body["lines"] = [
        present(
            {
                "sku": cell("sku", row),
                "quantity": _whole_number(cell("quantity", row)),
                "unit_price": cell("unit_price", row),
            }
        )
        for _, row in parsed
    ]
    currency = cell("currency").upper()
    if currency and currency not in CURRENCIES:
        record.reasons.append(Reason(first_row, "currency", f"Must be one of: {', '.join(CURRENCIES)}."))
    record.line_rows = [n for n, _ in parsed]
    _load_order(record, body)
    if record.reasons:
        record.value = None
    elif currency:
        record.value.currency = currency
    record.label = label
    return record


class _CountRowSchema(Schema):
    location = fields.String(required=True, validate=validate.Length(min=1, max=16))
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    on_hand = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_ID))


def read_stock(path: Path) -> tuple[str, list[Record]]:
    """("count" or "delta", records): absolute counts, or signed changes, by the header."""
    text = _read_text(path)
    header, rows = _csv_rows(path, text)
    names = set(header)
    if names == set(STOCK_COUNT):
        mode, schema = "count", _CountRowSchema()
    elif set(STOCK_DELTA) <= names <= set(STOCK_DELTA + STOCK_DELTA_OPTIONAL):
        mode, schema = "delta", MovementInSchema()
    else:
        raise ImportFileError(
            f"{path.name}: unknown header {','.join(header)!r}. Expected {','.join(STOCK_COUNT)} (absolute counts) "
            f"or {','.join(STOCK_DELTA)}[,{','.join(STOCK_DELTA_OPTIONAL)}] (signed changes)."
        )
    records, counted = [], {}
    for number, values in rows:
        record = Record(rows=[number], source="csv")
        records.append(record)
        row, problem = _as_dict(header, values)
        if row is None:
            record.reasons.append(Reason(number, "", problem))
            continue
        cells = {name: value.strip() for name, value in row.items() if value.strip()}
        for name in ("on_hand", "delta"):
            if name in cells:
                cells[name] = _whole_number(cells[name])
        try:
            record.value = schema.load(cells)
        except ValidationError as error:
            for path, message in _flatten(error.messages).items():
                record.refuse(path, message)
            continue
        key = (record.value["location"], record.value["sku"])
        if mode == "count" and key in counted:
            record.refuse("sku", f"Counted twice in this file (first at row {counted[key]}).")
            record.value = None
        counted.setdefault(key, number)
    return mode, records


# --------------------------------------------------------------------------- applying records


class _NothingWritten(Exception):
    pass


def _in_one_transaction(result: ImportResult, apply_all: Callable[[], None], skip_invalid: bool) -> ImportResult:
    try:
        with unit_of_work(writes=True):
            apply_all()
            if result.rejected and not skip_invalid:
                raise _NothingWritten
        result.written = True
    except _NothingWritten:
        result.written = False
    return result


def import_orders(
    records: list[Record], *, actor: Actor, skip_invalid: bool = False, progress=_no_progress
) -> ImportResult:
    """Create (and source, like the API) each new order; all or nothing unless skip_invalid."""
    result = ImportResult(noun="orders", rows=sum(len(r.rows) for r in records), total=len(records))

    def apply_all():
        for record in records:
            if not record.reasons:
                try:
                    with db.session.begin_nested():  # an order with all of its lines, or nothing of it
                        _, created = capture.capture_order(record.value, actor=actor)
                except DomainError as error:
                    _domain_reasons(record, error, "external_ref" if isinstance(error, OrderConflict) else "")
                else:
                    result.imported += created
                    result.unchanged += not created
            if record.reasons:
                result.rejected.append(record)
            progress(len(record.rows))

    return _in_one_transaction(result, apply_all, skip_invalid)


def _by_key(column, values: set) -> dict:
    """Rows whose column is one of the values, looked up in chunks (SQLite limits bound parameters)."""
    found, values = {}, sorted(values)
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        found.update(
            {getattr(o, column.key): o for o in db.session.scalars(select(column.class_).where(column.in_(chunk)))}
        )
    return found


def import_stock(
    mode: str,
    records: list[Record],
    *,
    actor: Actor,
    reference: str,
    skip_invalid: bool = False,
    progress=_no_progress,
) -> ImportResult:
    """Counts through sync_count (reservations kept), deltas through apply_movements; all or nothing."""
    result = ImportResult(noun="stock rows", rows=len(records), total=len(records), unchanged_label="unchanged")

    def apply_all():
        valid = [r.value for r in records if not r.reasons]
        locations = _by_key(Location.code, {v["location"] for v in valid}) if mode == "count" else {}
        products = _by_key(Product.sku, {v["sku"] for v in valid}) if mode == "count" else {}
        for record in records:
            if not record.reasons:
                try:
                    with db.session.begin_nested():
                        if mode == "count":
                            changed = _count(record, locations, products, actor, reference, result)
                        else:
                            row = dict(record.value)
                            row["reason"] = row["reason"] or "import"
                            row["reference"] = row["reference"] or reference
                            stock.apply_movements([row], actor=actor)
                            changed = True
                except DomainError as error:
                    _domain_reasons(record, error)
                else:
                    if not record.reasons:
                        result.imported += changed
                        result.unchanged += not changed
            if record.reasons:
                result.rejected.append(record)
            progress(1)

    return _in_one_transaction(result, apply_all, skip_invalid)


def _count(record: Record, locations: dict, products: dict, actor: Actor, reference: str, result) -> bool:
    row = record.value
    location, product = locations.get(row["location"]), products.get(row["sku"])
    if location is None:
        record.refuse("location", "Unknown location.")
    if product is None:
        record.refuse("sku", "Unknown SKU.")
    if record.reasons:
        return False
    on_hand = select(StockLevel.on_hand).where(
        StockLevel.location_id == location.id, StockLevel.product_id == product.id
    )
    before = db.session.scalar(on_hand) or 0
    uncovered = stock.sync_count(location, product, row["on_hand"], actor=actor, reference=reference)
    if uncovered:
        result.warnings.append(
            Reason(
                record.rows[0],
                "on_hand",
                f"The count is {uncovered} below the units reserved for open orders; they stay reserved.",
            )
        )
    return db.session.scalar(on_hand) != before


# --------------------------------------------------------------------------- staff (users)

USER_COLUMNS = ("email", "name", "role", "stores", "language")
USER_REQUIRED = ("email", "name", "role", "stores")
USER_LANGUAGES = ("en", "fr", "it")


def read_users(path: Path) -> list[Record]:
    """Every person of a staff CSV (email,name,role,stores,language; stores separated by ;), checked without
    the database: a valid e-mail, a name, a known role and language, each e-mail once."""
    from app.core.models import Role

    records, seen = [], {}
    optional = tuple(c for c in USER_COLUMNS if c not in USER_REQUIRED)
    for record, cells in csv_records(path, USER_REQUIRED, optional):
        records.append(record)
        if cells is None:
            continue
        number = record.rows[0]
        cell = {name: cells.get(name, "") for name in USER_COLUMNS}
        email, role, language = cell["email"].lower(), cell["role"].lower(), cell["language"].lower()
        stores = sorted({code.strip() for code in cell["stores"].split(";") if code.strip()})
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", email) or len(email) > 254:
            record.refuse("email", "Not a valid e-mail address.")
        elif email in seen:
            record.refuse("email", f"Listed twice in this file (first at row {seen[email]}).")
        seen.setdefault(email, number)
        if not cell["name"] or len(cell["name"]) > 120:
            record.refuse("name", "A name has 1 to 120 characters.")
        if role not in set(Role):
            record.refuse("role", f"Must be one of: {', '.join(Role)}.")
        elif role != Role.ADMIN and not stores:
            record.refuse("stores", "An associate or a manager works in at least one store (codes separated by ;).")
        if language and language not in USER_LANGUAGES:
            record.refuse("language", f"Must be one of: {', '.join(USER_LANGUAGES)}, or empty.")
        if not record.reasons:
            record.value = {"email": email, "name": cell["name"], "role": role, "stores": stores}
            record.value["language"] = language or None
            record.label = email
    return records


def import_users(records: list[Record], *, actor: Actor, skip_invalid: bool = False, progress=_no_progress):
    """Create the new people and bring the others up to date (audited); all or nothing unless skip_invalid."""
    from app.core.people import staff

    result = ImportResult(noun="people", rows=len(records), total=len(records), unchanged_label="unchanged")

    def apply_all():
        valid = [r.value for r in records if not r.reasons]
        locations = _by_key(Location.code, {code for v in valid for code in v["stores"]})
        for record in records:
            if not record.reasons:
                row = record.value
                unknown = [code for code in row["stores"] if code not in locations]
                if unknown:
                    record.refuse("stores", f"Unknown store code(s): {', '.join(unknown)}.")
                else:
                    try:
                        with db.session.begin_nested():
                            stores = [locations[code] for code in row["stores"]]
                            outcome = staff.import_person(**{**row, "stores": stores}, actor=actor)
                    except DomainError as error:
                        _domain_reasons(record, error)
                    else:
                        result.imported += outcome != "unchanged"
                        result.unchanged += outcome == "unchanged"
            if record.reasons:
                result.rejected.append(record)
            progress(1)

    return _in_one_transaction(result, apply_all, skip_invalid)
