"""Approximate coordinates for a postcode, from a bundled table of French and Italian postcode areas.

Used by sourcing when a ship-to address carries no latitude/longitude: the postcode's area (French
département, Italian provincial CAP area) gives a point close enough to rank locations by distance.
"""

import csv
import re
from functools import cache
from pathlib import Path

AREAS_CSV = Path(__file__).parent / "data" / "postcode_areas.csv"

# Countries covered by the table, with the shape their postcodes must have.
POSTCODE_FORMATS = {"FR": re.compile(r"[0-9]{5}"), "IT": re.compile(r"[0-9]{5}")}

# Longest prefix first: French overseas départements use 3 digits (971 Guadeloupe...), the rest 2.
PREFIX_LENGTHS = (3, 2)


@cache
def _areas() -> dict[tuple[str, str], tuple[float, float, str]]:
    """The table as {(country, prefix): (latitude, longitude, name)}, read once."""
    with AREAS_CSV.open(newline="", encoding="utf-8") as f:
        return {
            (row["country"], row["prefix"]): (float(row["latitude"]), float(row["longitude"]), row["name"])
            for row in csv.DictReader(f)
        }


def locate(country: str, postcode: str) -> tuple[float, float, str] | None:
    """(latitude, longitude, area name) for a postcode, or None for an unknown country or invalid postcode."""
    country = (country or "").strip().upper()
    postcode = re.sub(r"\s+", "", postcode or "").upper()
    pattern = POSTCODE_FORMATS.get(country)
    if pattern is None or not pattern.fullmatch(postcode):
        return None
    areas = _areas()
    for length in PREFIX_LENGTHS:
        area = areas.get((country, postcode[:length]))
        if area is not None:
            return area
    return None
