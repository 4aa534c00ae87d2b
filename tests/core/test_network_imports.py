"""flask locations import and flask shelves import: the API's checks, all or nothing, a summary an operator reads."""

from sqlalchemy import func, select

from app.core.models import Location, ShelfLocation
from app.extensions import db
from tests.factories import make_location, make_product


def _run(runner, tmp_path, command, text, *options):
    path = tmp_path / "file.csv"
    path.write_text(text, encoding="utf-8")
    return runner.invoke(args=[command, "import", str(path), *options])


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_one_bad_location_rejects_the_file_and_says_where(app, runner, tmp_path):
    text = (
        "code;name;timezone;country;capacity_per_day;ships\n"  # semicolons, as a French spreadsheet writes them
        "NAN01;Nantes;Europe/Paris;FR;30;oui\n"
        "bad code;Rennes;Europe/Paris;FR;30;true\n"
        "BRE01;Brest;Mars/Olympus;FR;-3;maybe\n"
    )
    result = _run(runner, tmp_path, "locations", text)
    assert result.exit_code == 1
    assert "3 rows read, 0 (1 valid) imported, 0 unchanged, 2 rejected: nothing was written." in result.output
    assert "row 3: code: A location code is 1 to 16 capital letters, digits, - or _." in result.output
    assert "row 4: timezone: Must be a time zone name such as Europe/Paris." in result.output
    assert "row 4: capacity_per_day: Must be a whole number from 0 to 10000." in result.output
    assert "row 4: ships: Must be true or false." in result.output
    assert _count(Location) == 0
    kept = _run(runner, tmp_path, "locations", text, "--skip-invalid")
    assert kept.exit_code == 1 and "1 imported" in kept.output
    nantes = db.session.scalar(select(Location).where(Location.code == "NAN01"))
    assert nantes.ships_from_store is True and nantes.daily_capacity == 30 and nantes.latitude is None


def test_opening_hours_in_one_cell_and_coordinates_from_the_postcode(app, runner, tmp_path):
    text = "code,name,postcode,country,opening_hours\nTOR01,Torino,10121,IT,mon 10:00-19:00|sat 10:00-13:00\n"
    result = _run(runner, tmp_path, "locations", text)
    assert result.exit_code == 0, result.output
    turin = db.session.scalar(select(Location).where(Location.code == "TOR01"))
    assert turin.opening_hours["sat"] == [["10:00", "13:00"]] and turin.opening_hours["sun"] == []
    assert 44.5 < float(turin.latitude) < 45.5


def test_shelf_rows_are_checked_against_the_stores_and_products(app, runner, tmp_path):
    make_location(code="PAR01")
    make_product(sku="PULL-M")
    db.session.commit()
    text = (
        "location,sku,shelf,sequence\n"
        "PAR01,PULL-M,A3-12-2,\n"
        "PAR01,PULL-M,A3-12-3,\n"
        "NOPE,PULL-M,A1-1,\n"
        "PAR01,NOPE,A1-1,\n"
        "PAR01,PULL-M,A3/12,\n"
    )
    result = _run(runner, tmp_path, "shelves", text)
    assert result.exit_code == 1
    assert "row 3: sku: Placed twice in this file (first at row 2)." in result.output
    assert "row 4: location: Unknown location." in result.output
    assert "row 5: sku: Unknown SKU." in result.output
    assert _count(ShelfLocation) == 0
    good = _run(runner, tmp_path, "shelves", "location,sku,shelf,sequence\nPAR01,PULL-M,a3-12-2,4\n")
    assert good.exit_code == 0 and "1 imported" in good.output
    place = db.session.scalar(select(ShelfLocation))
    assert (place.code, place.pick_sequence) == ("A3-12-2", 4)
    same = _run(runner, tmp_path, "shelves", "location,sku,shelf,sequence\nPAR01,PULL-M,A3-12-2,4\n")
    assert same.exit_code == 0 and "0 imported, 1 unchanged" in same.output


def test_a_file_with_a_wrong_header_is_explained(app, runner, tmp_path):
    result = _run(runner, tmp_path, "shelves", "store,sku,place\nPAR01,PULL-M,A1-1\n")
    assert result.exit_code == 1
    assert "missing column(s) location, shelf" in result.output and "Traceback" not in result.output
