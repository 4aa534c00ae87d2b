"""Sourcing rules and per-location routing settings: what admins edit on screen, for systems too."""

from flask.views import MethodView
from sqlalchemy import select

from app.api import api_actor, api_blueprint, require_scope
from app.api.schemas import (
    ApiErrorSchema,
    BlockSchema,
    LocationInSchema,
    LocationSettingsSchema,
    RetailerSettingsSchema,
    ShelfInSchema,
    ShelfPageSchema,
    ShelfQuerySchema,
    ShelfSchema,
    SourcingRulesSchema,
    WalkSchema,
)
from app.core import payments
from app.core.errors import N_, InvalidInput, NotFound
from app.core.inventory import shelves
from app.core.inventory.catalogue import find_product
from app.core.models import Location
from app.core.ordering import locations, rules
from app.core.payments import retailer_settings
from app.core.uow import unit_of_work
from app.extensions import db

blp = api_blueprint("api_settings", "/api/v1", "Sourcing rules and location settings")


def _something_to_change(body: dict) -> dict:
    """A PATCH with no body, or an empty object, changes nothing: most likely a mistake, so say so (422)."""
    if not body:
        raise InvalidInput(N_("Give at least one value to change."))
    return body


@blp.route("/sourcing/rules")
class Rules(MethodView):
    @require_scope("settings:read")
    @blp.response(200, SourcingRulesSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    def get(self):
        """The routing rules in force."""
        with unit_of_work():
            return rules.rules_as_dict(rules.current_rules())

    @require_scope("settings:write")
    @blp.arguments(SourcingRulesSchema)
    @blp.response(200, SourcingRulesSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def patch(self, body):
        """Change some rules (at least one); the others stay. Applies to orders sourced from now on."""
        _something_to_change(body)
        with unit_of_work():
            return rules.rules_as_dict(rules.update_rules(body, actor=api_actor()))


@blp.route("/settings/retailer")
class Retailer(MethodView):
    @require_scope("settings:read")
    @blp.response(200, RetailerSettingsSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    def get(self):
        """The retailer's return window and reasons, what a failed capture does at a hand-over, the kinds of
        customer message turned off, and whether productivity is shown per person or for the team only."""
        with unit_of_work():
            return retailer_settings.settings_as_dict(payments.settings())

    @require_scope("settings:write")
    @blp.arguments(RetailerSettingsSchema)
    @blp.response(200, RetailerSettingsSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def patch(self, body):
        """Change some settings (at least one); the others stay. All or nothing; the same values again change
        nothing."""
        _something_to_change(body)
        with unit_of_work():
            return retailer_settings.settings_as_dict(retailer_settings.update_settings(body, actor=api_actor()))


def _location(code: str) -> Location:
    location = db.session.scalar(select(Location).where(Location.code == code))
    if location is None:
        raise NotFound(N_("Unknown location."))
    return location


@blp.route("/locations")
class Locations(MethodView):
    @require_scope("settings:read")
    @blp.response(200, LocationSettingsSchema(many=True))
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    def get(self):
        """Every location with its routing settings."""
        places = db.session.scalars(select(Location).order_by(Location.code)).all()
        work = locations.open_work([place.id for place in places])
        return [rules.location_settings(place, work[place.id]) for place in places]


@blp.route("/locations/<code>")
class LocationSettings(MethodView):
    @require_scope("settings:read")
    @blp.response(200, LocationSettingsSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, code):
        """One location's routing settings, opening hours and blocked products."""
        return rules.location_settings(_location(code))

    @require_scope("settings:write")
    @blp.arguments(LocationInSchema)
    @blp.response(200, LocationSettingsSchema)
    @blp.alt_response(201, schema=LocationSettingsSchema, description="A new code created the location")
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def put(self, body, code):
        """Create a store or warehouse with this code, or change the values given (the others stay).

        The same values again change nothing (200). `active: false` closes the location: sourcing and click &
        collect give it no new work, and `open_work` says what it still has to finish."""
        with unit_of_work():
            location, created, _ = locations.put_location(code, body, actor=api_actor())
            return rules.location_settings(location), 201 if created else 200

    @require_scope("settings:write")
    @blp.arguments(LocationSettingsSchema)
    @blp.response(200, LocationSettingsSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def patch(self, body, code):
        """Pause ship-from-store, change priority, capacity, deadlines or opening hours (at least one)."""
        location = _location(code)  # an unknown location is 404, whatever the body
        _something_to_change(body)
        with unit_of_work():
            location = rules.update_location(location, body, actor=api_actor())
            return rules.location_settings(location)


@blp.route("/locations/<code>/blocked/<sku>")
class Blocked(MethodView):
    @require_scope("settings:write")
    @blp.arguments(BlockSchema)
    @blp.response(200, LocationSettingsSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def put(self, body, code, sku):
        """Keep a product away from this location's new work (repeating it changes nothing)."""
        with unit_of_work():
            location, product = _location(code), _product(sku)
            rules.block_product(location, product, reason=body["reason"], actor=api_actor())
            return rules.location_settings(location)

    @require_scope("settings:write")
    @blp.response(200, LocationSettingsSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def delete(self, code, sku):
        """Let sourcing use the product here again (repeating it changes nothing)."""
        with unit_of_work():
            location, product = _location(code), _product(sku)
            rules.unblock_product(location, product, actor=api_actor())
            return rules.location_settings(location)


def _product(code: str):
    product = find_product(code)
    if product is None:
        raise NotFound(N_("Unknown SKU."))
    return product


def _shelf(product, place) -> dict:
    return {
        "sku": product.sku,
        "shelf": place.code,
        "aisle": place.aisle,
        "bay": place.bay,
        "level": place.level,
        "sequence": place.pick_sequence,
    }


@blp.route("/locations/<code>/shelves")
class Shelves(MethodView):
    @require_scope("settings:read")
    @blp.arguments(ShelfQuerySchema, location="query")
    @blp.response(200, ShelfPageSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, query, code):
        """The store's shelf places by SKU, a page at a time (next_cursor: give it as cursor for the next page)."""
        found = shelves.places(
            _location(code), after=query.get("cursor"), limit=query["limit"] + 1, search=query.get("q", "")
        )
        page = found[: query["limit"]]
        return {
            "items": [_shelf(product, place) for product, place in page],
            "next_cursor": page[-1][0].sku if len(found) > query["limit"] else None,
        }


@blp.route("/locations/<code>/shelves/<sku>")
class Shelf(MethodView):
    @require_scope("settings:write")
    @blp.arguments(ShelfInSchema)
    @blp.response(200, ShelfSchema)
    @blp.alt_response(201, schema=ShelfSchema, description="The product had no shelf place in this store")
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def put(self, body, code, sku):
        """Put a product at a shelf place in the store (one per product); the same place again changes nothing."""
        with unit_of_work():
            location, product = _location(code), _product(sku)
            place, created, _ = shelves.place_product(
                location, product, body["shelf"], sequence=body.get("sequence"), actor=api_actor()
            )
            return _shelf(product, place), 201 if created else 200


@blp.route("/locations/<code>/walk")
class Walk(MethodView):
    @require_scope("settings:read")
    @blp.response(200, WalkSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, code):
        """The order in which the store's aisles are walked ([]: natural order)."""
        return {"aisles": _location(code).walk or []}

    @require_scope("settings:write")
    @blp.arguments(WalkSchema)
    @blp.response(200, WalkSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def put(self, body, code):
        """Set the walk: the pick path passes the aisles in this order (those not listed come after)."""
        with unit_of_work():
            return {"aisles": shelves.set_walk(_location(code), body["aisles"], actor=api_actor())}
