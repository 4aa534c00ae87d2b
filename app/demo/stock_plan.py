"""Which products each location carries, how many, and where they sit on the shelves.

The plan is computed in memory first (seeded, independent of the database); applying it
only touches stock rows and shelves that do not exist yet, through the core operations.
"""

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from app.core.inventory import catalogue, stock
from app.core.models import Location, MovementKind, Product, ShelfLocation, StockLevel
from app.demo.locations import LOCATIONS
from app.demo.products import ProductSpec
from app.extensions import db

AISLES = "ABCDEFGH"
BAYS_PER_AISLE = 20
DAMAGE_REASONS = {"fr": "Produit abîmé en rayon", "it": "Prodotto danneggiato in negozio"}
COUNT_REASONS = {"fr": "Inventaire tournant : rayon vide", "it": "Inventario a rotazione: scaffale vuoto"}
RECEIVE_REASONS = {"fr": "Réassort initial", "it": "Assortimento iniziale"}


@dataclass
class PlannedStock:
    received: int
    counted_to_zero: bool = False  # sold out since: an inventory count set it to zero
    damaged: int = 0
    safety: int = 0

    @property
    def on_hand(self) -> int:
        return 0 if self.counted_to_zero else self.received - self.damaged

    @property
    def promisable(self) -> int:
        return max(0, self.on_hand - self.safety)


def plan_stock(rng, products: list[ProductSpec]) -> dict[str, dict[str, PlannedStock]]:
    """Return {location code: {sku: planned stock}} for every location."""
    by_family: dict[str, list[ProductSpec]] = defaultdict(list)
    for spec in products:
        by_family[spec.family].append(spec)
    plan: dict[str, dict[str, PlannedStock]] = {}
    for location in LOCATIONS:
        rows: dict[str, PlannedStock] = {}
        if location.kind == "warehouse":
            for spec in products:
                low, high = spec.stock_range
                row = PlannedStock(received=rng.randint(low * 6, high * 12) + rng.randint(0, 10))
                if rng.random() < 0.1:
                    row.safety = 5
                rows[spec.sku] = row
            plan[location.code] = rows
            continue
        for specs in by_family.values():
            if rng.random() >= location.assortment:
                continue
            for spec in specs:
                if spec.sized and rng.random() < 0.12:  # a size the store does not carry
                    continue
                row = PlannedStock(received=rng.randint(*spec.stock_range))
                draw = rng.random()
                if draw < 0.08:
                    row.received = rng.randint(1, 2)  # running low
                elif draw < 0.12:
                    row.counted_to_zero = True  # sold out
                elif draw < 0.14 and row.received > 2:
                    row.damaged = 1
                elif draw < 0.21 and row.received >= 4:
                    row.safety = rng.randint(1, 2)  # kept back for walk-in customers
                rows[spec.sku] = row
        plan[location.code] = rows
    return plan


def _existing_pairs(model, location_ids) -> set[tuple[int, int]]:
    rows = db.session.execute(
        select(model.location_id, model.product_id).where(model.location_id.in_(location_ids))
    ).all()
    return {(row[0], row[1]) for row in rows}


def apply_stock(plan, locations: dict[str, Location], products: dict[str, Product], *, actor) -> int:
    """Receive the planned stock where a location has no row for the product yet; return rows created."""
    existing = _existing_pairs(StockLevel, [loc.id for loc in locations.values()])
    created = 0
    for spec in LOCATIONS:
        location = locations[spec.code]
        language = spec.language
        for n, (sku, row) in enumerate(plan[spec.code].items(), start=1):
            product = products[sku]
            if (location.id, product.id) in existing:
                continue
            reference = f"ASN-{spec.code}-{26000 + n // 40:05d}"  # one delivery note per 40 lines
            stock.receive(
                location, product, row.received, actor=actor, reference=reference, reason=RECEIVE_REASONS[language]
            )
            if row.damaged:
                stock.adjust(
                    location,
                    product,
                    -row.damaged,
                    reason=DAMAGE_REASONS[language],
                    actor=actor,
                    kind=MovementKind.DAMAGE,
                )
            if row.counted_to_zero:
                stock.set_count(location, product, 0, actor=actor, reason=COUNT_REASONS[language])
            if row.safety:
                stock.set_safety_stock(location, product, row.safety, actor=actor)
            created += 1
    return created


def shelf_layout(products: list[ProductSpec], skus: set[str]) -> list[tuple[str, str, str, int]]:
    """Lay out the carried products along the pick path: (sku, aisle, bay, pick_sequence)."""
    by_aisle: dict[str, list[ProductSpec]] = defaultdict(list)
    for spec in products:  # catalogue order keeps families and sizes together
        if spec.sku in skus:
            by_aisle[spec.aisle].append(spec)
    layout, sequence = [], 0
    for aisle in AISLES:
        specs = by_aisle.get(aisle, [])
        for i, spec in enumerate(specs):
            sequence += 10
            bay = 1 + i * BAYS_PER_AISLE // len(specs)
            layout.append((spec.sku, aisle, f"{bay:02d}", sequence))
    return layout


def apply_shelves(plan, product_specs, locations: dict[str, Location], products: dict[str, Product]) -> int:
    """Place each carried product on a shelf where it has no place yet; return shelves created."""
    existing = _existing_pairs(ShelfLocation, [loc.id for loc in locations.values()])
    created = 0
    for spec in LOCATIONS:
        location = locations[spec.code]
        for sku, aisle, bay, sequence in shelf_layout(product_specs, set(plan[spec.code])):
            product = products[sku]
            if (location.id, product.id) in existing:
                continue
            catalogue.place_on_shelf(location, product, aisle=aisle, bay=bay, pick_sequence=sequence)
            created += 1
    return created


def promisable(plan) -> dict[str, dict[str, int]]:
    """Units each location could promise per SKU, if the plan were applied to empty stock."""
    return {
        code: {sku: row.promisable for sku, row in rows.items() if row.promisable > 0} for code, rows in plan.items()
    }
