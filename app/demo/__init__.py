"""Demo data: the retailer Maison Lumière, its stores, catalogue, stock, staff and orders.

`load_demo(actor=...)` is idempotent: everything is planned in memory from one seeded
generator, then only what is missing (by store code, SKU, e-mail, stock row, shelf and
order reference) is created, through the core operations. It flushes but never commits:
the caller owns the unit of work.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.core.actor import Actor
from app.demo.demo_orders import apply_orders, plan_orders
from app.demo.floor import ensure_floor, ensure_pickup_slots
from app.demo.locations import LOCATIONS, ensure_locations
from app.demo.people import ADMIN_EMAIL, ensure_users
from app.demo.products import build_catalogue, ensure_products
from app.demo.stock_plan import apply_shelves, apply_stock, plan_stock, promisable

DEMO_PASSWORD = "comptoir-demo"
DEMO_ADMIN_EMAIL = ADMIN_EMAIL  # tells the demo apart from a real retailer's data
RETAILER = "Maison Lumière"
SEED = 2026

__all__ = ["DEMO_ADMIN_EMAIL", "DEMO_PASSWORD", "DemoSummary", "load_demo"]


@dataclass
class DemoSummary:
    """What a demo load created and found already there, and who can sign in."""

    locations_created: int = 0
    locations_existing: int = 0
    products_created: int = 0
    products_existing: int = 0
    users_created: int = 0
    users_existing: int = 0
    stock_rows_created: int = 0
    shelves_created: int = 0
    boxes_created: int = 0
    slots_created: int = 0
    orders_created: int = 0
    orders_existing: int = 0
    fulfilments_created: int = 0
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (email, role, store code or "all")

    @property
    def created_anything(self) -> bool:
        return any(
            (
                self.locations_created,
                self.products_created,
                self.users_created,
                self.stock_rows_created,
                self.shelves_created,
                self.boxes_created,
                self.slots_created,
                self.orders_created,
                self.fulfilments_created,
            )
        )

    def describe(self) -> str:
        stores = sum(1 for spec in LOCATIONS if spec.is_store)
        lines = [
            f"{RETAILER}: {stores} stores and {len(LOCATIONS) - stores} warehouse.",
            f"  Locations: {self.locations_created} created, {self.locations_existing} existing",
            f"  Products:  {self.products_created} created, {self.products_existing} existing",
            f"  Users:     {self.users_created} created, {self.users_existing} existing",
            f"  Stock:     {self.stock_rows_created} stock rows and {self.shelves_created} shelf places created",
            f"  Packing:   {self.boxes_created} boxes created",
            f"  Pickups:   {self.slots_created} hold-shelf slots created",
            f"  Orders:    {self.orders_created} created ({self.fulfilments_created} fulfilments), "
            f"{self.orders_existing} existing",
        ]
        if not self.created_anything:
            lines.append("  The demo data was already loaded: nothing changed.")
        return "\n".join(lines)


def load_demo(*, actor: Actor) -> DemoSummary:
    """Create whatever part of the demo retailer is missing; flush, never commit."""
    now = datetime.now(UTC)
    rng = random.Random(SEED)
    # Plan everything first, in a fixed order, so the plan never depends on what exists.
    product_specs = build_catalogue(rng)
    stock = plan_stock(rng, product_specs)
    specs_by_sku = {spec.sku: spec for spec in product_specs}
    order_plans = plan_orders(rng, promisable(stock), specs_by_sku)

    summary = DemoSummary()
    locations, summary.locations_created, summary.locations_existing = ensure_locations()
    products, summary.products_created, summary.products_existing = ensure_products(product_specs)
    summary.logins, summary.users_created, summary.users_existing = ensure_users(locations, DEMO_PASSWORD, actor=actor)
    summary.stock_rows_created = apply_stock(stock, locations, products, actor=actor)
    summary.shelves_created = apply_shelves(stock, product_specs, locations, products)
    summary.boxes_created = ensure_floor(locations, actor=actor)
    summary.slots_created = ensure_pickup_slots(locations, actor=actor)
    summary.orders_created, summary.orders_existing, summary.fulfilments_created = apply_orders(
        order_plans, specs_by_sku, locations, now, actor=actor
    )
    return summary
