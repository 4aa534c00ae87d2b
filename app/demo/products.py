"""The Maison Lumière catalogue: families of products, expanded into colour and size variants.

Everything is computed from the family table and a seeded random generator, so the same
catalogue (SKUs, GTINs, names) comes out on every run.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from app.core.inventory import catalogue
from app.core.models import Product
from app.demo.families import FAMILIES
from app.extensions import db

# GS1 company prefixes: 376 is allocated by GS1 France, 805 by GS1 Italy.
PREFIX = {"FR": "3760241", "IT": "8058093"}
OLD_PREFIX = "3700413"  # the supplier's previous labels, still found on some stock


def ean13(first12: str) -> str:
    """Return the EAN-13 for 12 digits, with its GS1 check digit."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError(f"an EAN-13 is built from 12 digits, not {first12!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def _size_code(size: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", size.upper().replace("×", "X"))


@dataclass
class ProductSpec:
    sku: str
    name: str
    gtin: str
    category: str
    family: str
    aisle: str
    price: Decimal
    weight_grams: int
    length_mm: int
    width_mm: int
    height_mm: int
    barcodes: list[str] = field(default_factory=list)
    sized: bool = False
    stock_range: tuple[int, int] = (2, 8)

    def details(self) -> dict:
        return {
            "category": self.category,
            "price": self.price,
            "weight_grams": self.weight_grams,
            "length_mm": self.length_mm,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
        }


def build_catalogue(rng) -> list[ProductSpec]:
    """Expand the families into products; deterministic for a given generator state."""
    counters = {"FR": 0, "IT": 0}
    old_counter = 0
    products = []
    for family in FAMILIES:
        for model_no, colour in enumerate(family.colours, start=1):
            for size_index, size in enumerate(family.sizes or [None]):
                counters[family.origin] += 1
                gtin = ean13(f"{PREFIX[family.origin]}{counters[family.origin]:05d}")
                sku = f"{family.code}-{model_no:03d}" + (f"-{_size_code(size)}" if size else "")
                name = " — ".join(part for part in (family.name, colour, size) if part)
                grow = 1 + 0.06 * size_index  # larger sizes weigh and measure a little more
                length, width, height = family.dimensions
                weight = round(family.weight * grow * rng.uniform(0.97, 1.03))
                barcodes = []
                if rng.random() < 0.08:
                    old_counter += 1
                    barcodes.append(ean13(f"{OLD_PREFIX}{old_counter:05d}"))
                products.append(
                    ProductSpec(
                        sku=sku,
                        name=name,
                        gtin=gtin,
                        category=family.category,
                        family=family.code,
                        aisle=family.aisle,
                        price=Decimal(family.price),
                        weight_grams=weight,
                        length_mm=round(length * grow),
                        width_mm=round(width * grow),
                        height_mm=height,
                        barcodes=barcodes,
                        sized=bool(family.sizes),
                        stock_range=family.stock_range,
                    )
                )
    return products


def ensure_products(specs: list[ProductSpec]) -> tuple[dict[str, Product], int, int]:
    """Create the products that are missing (by SKU); return them all by SKU, and (created, existing)."""
    skus = [spec.sku for spec in specs]
    found: dict[str, Product] = {}
    for start in range(0, len(skus), 500):
        chunk = skus[start : start + 500]
        found.update({p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.in_(chunk)))})
    existing = len(found)
    for spec in specs:
        if spec.sku not in found:
            found[spec.sku] = catalogue.create_product(
                sku=spec.sku, name=spec.name, gtin=spec.gtin, barcodes=spec.barcodes, **spec.details()
            )
    return found, len(specs) - existing, existing
