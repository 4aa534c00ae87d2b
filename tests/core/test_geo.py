"""The bundled postcode-area table and the lookup built on it."""

import csv
from collections import Counter

import pytest

from app.core.ordering import geo
from app.core.ordering.sourcing import distance_km

# (lat min, lat max, lon min, lon max)
BOXES = {
    ("FR", None): (41.0, 51.5, -5.5, 10.0),
    ("FR", "971"): (15.8, 16.6, -61.9, -61.0),  # Guadeloupe
    ("FR", "972"): (14.3, 14.9, -61.3, -60.8),  # Martinique
    ("FR", "973"): (2.0, 6.0, -54.7, -51.5),  # Guyane
    ("FR", "974"): (-21.4, -20.8, 55.2, 55.9),  # La Réunion
    ("FR", "976"): (-13.1, -12.6, 44.9, 45.4),  # Mayotte
    ("IT", None): (35.5, 47.1, 6.6, 18.6),
}


def _rows():
    with geo.AREAS_CSV.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_table_has_the_expected_header():
    with geo.AREAS_CSV.open(newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == ["country", "prefix", "latitude", "longitude", "name"]


def test_every_row_lies_inside_its_country_and_is_unique():
    rows = _rows()
    for row in rows:
        box = BOXES.get((row["country"], row["prefix"])) or BOXES[(row["country"], None)]
        lat, lon = float(row["latitude"]), float(row["longitude"])
        assert box[0] <= lat <= box[1] and box[2] <= lon <= box[3], row
        assert row["prefix"].isdigit() and len(row["prefix"]) in (2, 3), row
        assert row["name"].strip(), row
    duplicates = [key for key, n in Counter((r["country"], r["prefix"]) for r in rows).items() if n > 1]
    assert duplicates == []


def test_every_metropolitan_departement_is_covered():
    prefixes = {r["prefix"] for r in _rows() if r["country"] == "FR"}
    assert {f"{n:02d}" for n in range(1, 96)} <= prefixes
    assert {"971", "972", "973", "974", "976"} <= prefixes


def test_the_major_italian_areas_are_covered():
    prefixes = {r["prefix"] for r in _rows() if r["country"] == "IT"}
    major = {"00", "09", "10", "16", "20", "30", "34", "37", "40", "50", "60", "70", "80", "89", "90", "95", "98"}
    assert major <= prefixes


@pytest.mark.parametrize(
    ("country", "postcode", "lat", "lon"),
    [
        ("FR", "75002", 48.8566, 2.3522),  # Paris
        ("FR", "69003", 45.7640, 4.8357),  # Lyon
        ("FR", "13001", 43.2965, 5.3698),  # Marseille
        ("IT", "20121", 45.4642, 9.1900),  # Milano
        ("IT", "00184", 41.9028, 12.4964),  # Roma
        ("IT", "80100", 40.8518, 14.2681),  # Napoli
        ("FR", "97400", -20.8821, 55.4507),  # Saint-Denis de La Réunion
    ],
)
def test_known_postcodes_land_near_their_city(country, postcode, lat, lon):
    found = geo.locate(country, postcode)
    assert found is not None
    assert distance_km(found[0], found[1], lat, lon) < 5


def test_input_is_normalised():
    assert geo.locate(" fr ", " 75 002 ") == geo.locate("FR", "75002")
    assert geo.locate("it", "20121")[2] == "Milano"
    assert geo.locate("FR", "20250")[2] == "Corte (Corse)"


@pytest.mark.parametrize(
    ("country", "postcode"),
    [("FR", ""), ("FR", "ABCDE"), ("FR", "7500"), ("FR", "750021"), ("DE", "10115"), ("FR", "97500"), ("IT", "49000")],
)
def test_invalid_or_unknown_input_gives_none(country, postcode):
    assert geo.locate(country, postcode) is None
