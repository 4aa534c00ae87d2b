"""Retailer-editable sourcing rules and per-location routing settings, every change audited.

The web admin screens and the JSON API both go through these functions, so both validate alike.
"""

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.models import Location, Product, ProductBlock, SourcingRules
from app.core.models.pickups import REFUSAL_REASONS
from app.core.ordering import hours, locations
from app.extensions import db

RULES_ID = 1
COLLECT_SHORTAGE = ("refuse", "transfer")
# A click & collect order nobody came for (app.core.floor.pickups.expire): cancelled, or left to customer service.
PICKUP_EXPIRY = ("cancel", "customer_service")
# name -> (lowest, highest) for the whole-number rules
RULE_RANGES = {
    "max_splits": (1, 5),
    "workload_km_per_order": (0, 1000),
    "capacity_km": (0, 1000),
    "priority_km": (0, 1000),
    "unknown_distance_km": (0, 2000),
}
RULE_FLAGS = ("ship_from_warehouses",)
LOCATION_RANGES = {
    "sourcing_priority": (-100, 100),
    "daily_capacity": (0, 10_000),
    "accept_within_minutes": (5, 7 * 24 * 60),
    "ready_within_minutes": (5, 14 * 24 * 60),
    "pick_batch_size": (1, 50),
    # Click & collect (app.core.floor.pickups): days an order waits on the hold shelf, reminder hours before the end.
    "pickup_hold_days": (1, 60),
    "pickup_reminder_hours": (0, 24 * 14),
}
LOCATION_FLAGS = (
    "ships_from_store",
    "ship_paused",
    "click_and_collect",
    "scan_to_pack",
    "pickup_bag_step",
    "pickup_bag_scan",
    "curbside",
)
# The click & collect settings a store's manager edits on the store's hold-shelf screen (app.web.pickups).
PICKUP_SETTINGS = (
    "pickup_bag_step",
    "pickup_hold_days",
    "pickup_reminder_hours",
    "pickup_bag_scan",
    "curbside",
    "pickup_refusal_reasons",
)
SCAN_MODES = ("every", "first", "none")
PRINTER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,100}[A-Za-z0-9])?:(\d{1,5})$")


def current_rules() -> SourcingRules:
    """The rules in force; the defaults are stored the first time they are needed."""
    rules = db.session.get(SourcingRules, RULES_ID)
    if rules is None:
        try:
            with db.session.begin_nested():
                rules = SourcingRules(id=RULES_ID, updated_by="defaults")
                db.session.add(rules)
                db.session.flush()
        except IntegrityError:  # another request stored them first
            rules = db.session.get(SourcingRules, RULES_ID, populate_existing=True)
    return rules


def rules_as_dict(rules: SourcingRules) -> dict:
    return {
        "collect_shortage": rules.collect_shortage,
        "pickup_expiry": rules.pickup_expiry,
        **{name: getattr(rules, name) for name in (*RULE_RANGES, *RULE_FLAGS)},
    }


def _whole(values: dict, name: str, low: int, high: int, errors: dict):
    value = values[name]
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        errors[name] = (N_("Must be a whole number from %(low)s to %(high)s."), {"low": low, "high": high})
        return None
    return value


def _flag(values: dict, name: str, errors: dict):
    value = values[name]
    if not isinstance(value, bool):
        errors[name] = N_("Must be true or false.")
    return value


def _check(values: dict, ranges: dict, flags: tuple, errors: dict, others: tuple = ()) -> dict:
    """Whole numbers in range and true/false flags; names that are none of these are refused."""
    for name in set(values) - {*ranges, *flags, *others}:
        errors[name] = N_("Unknown setting.")
    clean = {}
    for name, (low, high) in ranges.items():
        if name in values:
            clean[name] = _whole(values, name, low, high, errors)
    for name in flags:
        if name in values:
            clean[name] = _flag(values, name, errors)
    return clean


def _apply(subject, clean: dict, *, actor: Actor, action: str) -> dict:
    before = {name: getattr(subject, name) for name in clean}
    changed = {name: value for name, value in clean.items() if before[name] != value}
    for name, value in changed.items():
        setattr(subject, name, value)
    if changed:
        audit.record(actor, action, subject, {k: before[k] for k in changed}, changed)
        db.session.flush()
    return changed


def update_rules(values: dict, *, actor: Actor) -> SourcingRules:
    """Change some rules (others stay); refuses everything when one value is invalid."""
    errors = {}
    clean = _check(values, RULE_RANGES, RULE_FLAGS, errors, others=("collect_shortage", "pickup_expiry"))
    if "collect_shortage" in values:
        if values["collect_shortage"] not in COLLECT_SHORTAGE:
            errors["collect_shortage"] = N_("Must be refuse or transfer.")
        clean["collect_shortage"] = values["collect_shortage"]
    if "pickup_expiry" in values:
        if values["pickup_expiry"] not in PICKUP_EXPIRY:
            errors["pickup_expiry"] = N_("Must be cancel or customer_service.")
        clean["pickup_expiry"] = values["pickup_expiry"]
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    rules = current_rules()
    if _apply(rules, clean, actor=actor, action="sourcing.rules"):
        rules.updated_by = actor.label
    return rules


def location_settings(location: Location, work: dict | None = None) -> dict:
    """A location's routing settings, with the location as PUT /api/v1/locations/{code} describes it."""
    return {
        **locations.describe(location, work),
        "kind": location.kind,
        "timezone": location.timezone,
        **{name: getattr(location, name) for name in (*LOCATION_FLAGS, *LOCATION_RANGES)},
        "scan_mode": location.scan_mode,
        "zpl_printer": location.zpl_printer,
        "pickup_refusal_reasons": list(location.pickup_refusal_reasons or REFUSAL_REASONS),
        "opening_hours": hours.store_hours(location),
        "blocked_skus": blocked_skus(location),
    }


def update_location(location: Location, values: dict, *, actor: Actor) -> Location:
    """Change a location's routing settings and opening hours (a dict, or the text form); all or nothing."""
    errors = {}
    clean = _check(
        values,
        LOCATION_RANGES,
        LOCATION_FLAGS,
        errors,
        others=("opening_hours", "scan_mode", "zpl_printer", "pickup_refusal_reasons"),
    )
    if "pickup_refusal_reasons" in values:
        clean["pickup_refusal_reasons"] = _refusal_reasons(values["pickup_refusal_reasons"], errors)
    if "scan_mode" in values:
        if values["scan_mode"] not in SCAN_MODES:
            errors["scan_mode"] = N_("Must be every, first or none.")
        clean["scan_mode"] = values["scan_mode"]
    if "zpl_printer" in values:
        clean["zpl_printer"] = _printer(values["zpl_printer"], errors)
    if "opening_hours" in values:
        raw = values["opening_hours"]
        try:
            clean["opening_hours"] = hours.parse_hours_text(raw) if isinstance(raw, str) else hours.validate_hours(raw)
        except InvalidInput as error:  # one message for the field, naming the day
            errors["opening_hours"] = (error.message, error.params)
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    _apply(location, clean, actor=actor, action="location.settings")
    return location


def _refusal_reasons(value, errors: dict) -> list | None:
    """The reasons a store offers for what a customer leaves at the counter: at least one, each a known one."""
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) for v in value):
        errors["pickup_refusal_reasons"] = N_("Choose at least one reason.")
        return None
    unknown = sorted(set(value) - set(REFUSAL_REASONS))
    if unknown:
        errors["pickup_refusal_reasons"] = (N_("Unknown reason: %(reason)s."), {"reason": unknown[0][:40]})
        return None
    return [reason for reason in REFUSAL_REASONS if reason in value]


def _printer(value, errors: dict) -> str:
    """A thermal printer's host:port (port 1-65535), or empty for none."""
    value = value.strip() if isinstance(value, str) else value
    if value == "":
        return ""
    match = PRINTER_RE.match(value) if isinstance(value, str) else None
    if match is None or not 0 < int(match.group(1)) < 65536:
        errors["zpl_printer"] = N_("Must be host:port, e.g. 192.168.1.50:9100, or empty.")
    return value


def blocked_skus(location: Location) -> list[str]:
    return list(
        db.session.scalars(
            select(Product.sku).join(ProductBlock).where(ProductBlock.location_id == location.id).order_by(Product.sku)
        )
    )


def blocked_product_ids(location_ids) -> set[tuple[int, int]]:
    """(location_id, product_id) pairs that sourcing must not use."""
    rows = db.session.execute(
        select(ProductBlock.location_id, ProductBlock.product_id).where(ProductBlock.location_id.in_(location_ids))
    )
    return {tuple(row) for row in rows}


def block_product(location: Location, product: Product, *, reason: str, actor: Actor) -> ProductBlock:
    """Keep a product away from a location's new work; blocking twice changes nothing."""
    existing = db.session.scalar(
        select(ProductBlock).where(ProductBlock.location_id == location.id, ProductBlock.product_id == product.id)
    )
    if existing is not None:
        return existing
    block = ProductBlock(location=location, product=product, reason=reason.strip()[:200], created_by=actor.label)
    db.session.add(block)
    db.session.flush()
    audit.record(actor, "location.block_product", location, None, {"sku": product.sku, "reason": block.reason})
    return block


def unblock_product(location: Location, product: Product, *, actor: Actor) -> bool:
    """Let sourcing use the product at the location again; False when it was not blocked."""
    block = db.session.scalar(
        select(ProductBlock).where(ProductBlock.location_id == location.id, ProductBlock.product_id == product.id)
    )
    if block is None:
        return False
    db.session.delete(block)
    audit.record(actor, "location.unblock_product", location, {"sku": product.sku}, None)
    db.session.flush()
    return True
