"""`flask products import`: CSV or JSON lines, all or nothing, every rejected row named, never a traceback."""

import csv
import json
from pathlib import Path

from sqlalchemy import func, select

from app.core.models import AuditEvent, Product
from app.extensions import db
from tests.factories import make_product

SAMPLE = Path(__file__).parent.parent.parent / "samples" / "products.csv"
COLUMNS = ["sku", "name", "name_fr", "name_it", "gtin", "barcodes", "size", "colour", "weight_grams", "length_mm"]
COLUMNS += ["width_mm", "height_mm", "flags", "active"]


def _import(runner, *args):
    return runner.invoke(args=["products", "import", *(str(a) for a in args)])


def _products() -> int:
    return db.session.scalar(select(func.count()).select_from(Product))


def _csv(tmp_path, rows, name="products.csv") -> Path:
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in COLUMNS} for row in rows)
    return path


def _row(sku: str, **cells) -> dict:
    return {"sku": sku, "name": "Dress", "name_fr": "Robe", "size": "38", "colour": "noir", **cells}


def test_the_sample_catalogue_imports_and_a_second_import_changes_nothing(app, runner):
    result = _import(runner, SAMPLE)
    assert result.exit_code == 0, result.output
    rows = len(SAMPLE.read_text(encoding="utf-8").splitlines()) - 1
    assert f"{rows} rows read, {rows} imported, 0 unchanged, 0 rejected." in result.output
    assert "Importing products" in result.stderr
    dress = db.session.scalar(select(Product).where(Product.sku == "ROBE-PTF-NOI-38"))
    assert (dress.names["fr"], dress.names["it"], dress.style, dress.size) == (
        "Robe portefeuille noire",
        "Abito a portafoglio nero",
        "ROBE-PTF",
        "38",
    )
    perfume = db.session.scalar(select(Product).where(Product.sku == "PARF-FLR-50"))
    assert perfume.flags == ["fragile", "hazmat"] and perfume.length_mm == 120
    assert db.session.scalar(select(Product.active).where(Product.sku == "FOUL-SOIE-ROU")) is False
    audits = db.session.scalar(select(func.count()).select_from(AuditEvent))
    again = _import(runner, SAMPLE)
    assert again.exit_code == 0
    assert f"{rows} rows read, 0 imported, {rows} unchanged, 0 rejected." in again.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audits


def test_json_lines_are_api_product_bodies(app, runner, tmp_path):
    path = tmp_path / "products.jsonl"
    bodies = [
        {"sku": "GONNA-1", "names": {"it": "Gonna plissettata", "fr": "Jupe plissée"}, "flags": ["fragile"]},
        {"sku": "GONNA-2", "name": "Pleated skirt", "dimensions_mm": {"length": 1, "width": 2, "height": 3}},
    ]
    path.write_text("\n".join(json.dumps(b) for b in bodies) + "\n\n", encoding="utf-8")
    result = _import(runner, path)
    assert result.exit_code == 0, result.output
    assert "2 rows read, 2 imported" in result.output
    skirt = db.session.scalar(select(Product).where(Product.sku == "GONNA-1"))
    assert (skirt.name, skirt.flags) == ("Jupe plissée", ["fragile"])  # no name, no English: the French one


def test_one_bad_row_rejects_the_whole_file_and_changes_nothing(app, runner, tmp_path):
    make_product(sku="KEEP-1", name="Kept", gtin="4006381333931")
    db.session.commit()
    rows = [
        _row("ROBE-1"),
        _row("ROBE-2", gtin="4006381333932"),  # wrong check digit
        _row("ROBE-3", name="", name_fr=""),  # no name at all
        _row("ROBE-1", size="40"),  # the same SKU again
        _row("ROBE-5", gtin="4006381333931"),  # KEEP-1's GTIN
        _row("ROBE-6", length_mm="300"),  # width and height missing
        _row("ROBE-7", flags="fragile|explosive", weight_grams="heavy"),
        _row("KEEP-1", name="Changed"),
    ]
    result = _import(runner, _csv(tmp_path, rows))
    assert result.exit_code == 1
    output = result.output
    assert "8 rows read, 0 (2 valid) imported, 0 unchanged, 6 rejected: nothing was written." in output
    assert "row 3: gtin: 4006381333932 is not a valid EAN-13" in output
    assert "row 4: name: Give name, or names in at least one language." in output
    assert "row 5: sku: This SKU is already on row 2 of this file." in output
    assert "row 6: gtin: The code 4006381333931 is already used by another product." in output
    assert "row 7: width_mm:" in output and "row 7: height_mm:" in output
    assert "row 8: flags:" in output and "row 8: weight_grams:" in output
    assert "--skip-invalid" in result.stderr
    assert _products() == 1
    assert db.session.scalar(select(Product.name).where(Product.sku == "KEEP-1")) == "Kept"


def test_skip_invalid_keeps_the_valid_rows(app, runner, tmp_path):
    path = _csv(tmp_path, [_row("ROBE-1"), _row("ROBE-2", gtin="123")])
    result = _import(runner, "--skip-invalid", path)
    assert result.exit_code == 1
    assert "2 rows read, 1 imported, 0 unchanged, 1 rejected." in result.output
    assert db.session.scalars(select(Product.sku)).all() == ["ROBE-1"]


def test_bad_files_are_explained_never_a_traceback(app, runner, tmp_path):
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("sku,nom\nA,B\n", encoding="utf-8")
    result = _import(runner, unknown)
    assert result.exit_code == 1 and "unknown column(s) 'nom'" in result.output
    assert _import(runner, tmp_path / "nowhere.csv").exit_code == 2
    text = tmp_path / "products.txt"
    text.write_text("sku\n", encoding="utf-8")
    assert "Cannot tell the format" in _import(runner, text).output
    broken = tmp_path / "products.jsonl"
    broken.write_text('{"sku": "A", "name": "B"}\n[1, 2]\n{nope\n', encoding="utf-8")
    result = _import(runner, broken)
    assert result.exit_code == 1
    assert "row 2: A line must hold one JSON object" in result.output and "row 3: Not valid JSON" in result.output
    assert _products() == 0
