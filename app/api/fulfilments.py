"""Fulfilments through the API: the store operations of the screens, for a POS, a WMS or a store system.

Reading takes orders:read; every change takes fulfilments:write. API clients act for the whole retailer: they are
not tied to stores, so a client with fulfilments:write works on any location's fulfilments (the audit trail names
it as api:<client>). Every POST takes an Idempotency-Key: a repeat with the same key answers the same and changes
nothing. Each operation is the core's, as the screens call it (app.core.ordering.orders, app.core.floor.picking,
app.core.floor.pickups).
"""

from functools import wraps

from flask import g, jsonify
from flask.views import MethodView
from sqlalchemy import select

from app.api import api_actor, api_blueprint, order_json, require_scope
from app.api.idempotency import answered_meanwhile, idempotent
from app.api.schemas import (
    MAX_ID,
    ApiErrorSchema,
    CandidateSchema,
    CollectInSchema,
    FulfilmentDocSchema,
    PickInSchema,
    PickupPatchSchema,
    PickupSearchQuerySchema,
    PickupSearchSchema,
    ReadyInSchema,
    RerouteInSchema,
    ReshipInSchema,
    RestockInSchema,
    RestockOutSchema,
)
from app.api.stock import IDEMPOTENCY_HEADER
from app.core.errors import N_, NotFound
from app.core.floor import picking, pickups
from app.core.models import Fulfilment, Location, bag_barcode
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders
from app.core.service import actions
from app.core.uow import unit_of_work
from app.extensions import db

blp = api_blueprint(
    "api_fulfilments",
    "/api/v1/fulfilments",
    "Store operations on fulfilments (a POS, a WMS): accept, pick, stage on the hold shelf, hand over, put back, "
    "holds. Read with orders:read, change with fulfilments:write; API clients act for the whole retailer, every "
    "location alike. Every POST takes an Idempotency-Key.",
)
WRITE_SCOPE = "fulfilments:write"
CS_SCOPE = "customer_service:write"  # re-routing, re-shipping and holds are customer service's actions too


def _fulfilment(fulfilment_id: int) -> Fulfilment:
    fulfilment = db.session.get(Fulfilment, fulfilment_id) if fulfilment_id <= MAX_ID else None
    if fulfilment is None:
        raise NotFound()
    return fulfilment


def _locked(fulfilment_id: int, *, collect: bool = False) -> Fulfilment:
    """The fulfilment, its order locked for this transaction (as every change of an order's fulfilments does);
    collect: refused (409) unless it is click & collect."""
    fulfilment = _fulfilment(fulfilment_id)
    orders.lock_order(fulfilment.order)
    if collect and not pickups.is_collect(fulfilment):
        raise pickups.PickupRefused(N_("This order is delivered, not collected: it has no pickup."))
    return fulfilment


def _described(fulfilment: Fulfilment) -> dict:
    """The fulfilment as in its order's document (order_json, the same bytes), with its order and its pickup."""
    order = order_json.dump_order(fulfilment.order_id)  # flushes the session first
    found = next(item for item in order["fulfilments"] if item["id"] == fulfilment.id)
    return {
        **found,
        "order_id": order["id"],
        "delivery_method": order["delivery_method"],
        "pickup": pickups.describe(fulfilment),
    }


def _document(fulfilment: Fulfilment, **extra):
    return jsonify({**_described(fulfilment), **extra})


def counting_wrong_codes(view):
    """A wrong pickup code changes nothing (the request's transaction is rolled back) but is counted, in a
    transaction of its own, against the fulfilment's pickup: after pickups.WRONG_CODES_ALLOWED the pickup takes no
    code for a while (pickups.CodeLocked, 429)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except pickups.WrongCode:
            db.session.rollback()
            pickup_id = g.pop("pickup_tried", None)
            if pickup_id is not None:
                pickups.count_wrong_code(pickup_id)
            raise

    return wrapped


@blp.route("")
class PickupSearch(MethodView):
    @require_scope("orders:read")
    @blp.arguments(PickupSearchQuerySchema, location="query")
    @blp.response(200, PickupSearchSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, query):
        """Find a store's click & collect orders the way its counter does: the customer's pickup code (what the
        QR carries), a bag label, an order number, a name, a phone number or an e-mail; open ones first. A POS
        scans the customer's QR, then collects the fulfilment found (POST .../{id}/collect with that code)."""
        store = db.session.scalar(select(Location).where(Location.code == query["location"]))
        if store is None:
            raise NotFound()
        found = pickups.find_at_counter(store, query["q"])
        return jsonify({"fulfilments": [_described(f) for f in found]})


@blp.route("/<int:fulfilment_id>")
class FulfilmentById(MethodView):
    @require_scope("orders:read")
    @blp.response(200, FulfilmentDocSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, fulfilment_id):
        """One fulfilment as in its order's document; a click & collect one with its `pickup` (`code` once
        ready)."""
        return _document(_fulfilment(fulfilment_id))


ANSWERS = {
    401: "No valid API token",
    403: "The client lacks the fulfilments:write scope",
    404: "No such fulfilment",
    409: "Not possible in the fulfilment's state (error illegal_transition, pickup_refused, pick_refused, ...), or "
    "the Idempotency-Key was used for another request (idempotency_conflict)",
    422: "A value is not valid (each named in fields), or the Idempotency-Key header is missing",
}


def _write(schema=None, *, answers=None, response=FulfilmentDocSchema, scopes=(WRITE_SCOPE,)):
    """The decorators every POST shares: scope (one of `scopes`), wrong-code counting, Idempotency-Key, body,
    documented answers."""

    def decorator(view):
        documented = view
        for status, description in {**ANSWERS, **(answers or {})}.items():
            documented = blp.alt_response(status, schema=ApiErrorSchema, description=description)(documented)
        documented = blp.response(200, response)(documented)
        if schema is not None:
            documented = blp.arguments(schema)(documented)
        documented = blp.doc(parameters=[IDEMPOTENCY_HEADER])(documented)
        return require_scope(*scopes)(counting_wrong_codes(idempotent(documented)))

    return decorator


@blp.route("/<int:fulfilment_id>/accept")
class Accept(MethodView):
    @_write()
    def post(self, fulfilment_id):
        """Accept the work the location was given (created -> accepted); accepted already: answered as it is."""
        fulfilment = _locked(fulfilment_id)
        if fulfilment.status != S.ACCEPTED:  # as on the queue screen, accepting twice is no error
            orders.accept_fulfilment(fulfilment, actor=api_actor())
        return _document(fulfilment)


@blp.route("/<int:fulfilment_id>/pick")
class Pick(MethodView):
    @_write(PickInSchema)
    def post(self, body, fulfilment_id):
        """Confirm the units picked, without scans: created, accepted or picking -> picked.

        Give every product with units still to pick; what was not picked is short with `reason` and goes to
        another location, as on the pick screen (nothing picked at all: the fulfilment is rejected). A fulfilment
        on an associate's open pick list is refused (409): it is finished there."""
        fulfilment = _locked(fulfilment_id)
        picking.confirm_picked(fulfilment, body["lines"], actor=api_actor(), reason=body["reason"], note=body["note"])
        return _document(fulfilment)


@blp.route("/<int:fulfilment_id>/ready")
class Ready(MethodView):
    @_write(ReadyInSchema)
    def post(self, body, fulfilment_id):
        """Put the order's bags on a hold-shelf slot of its pickup store: once every bag is there it is
        ready_for_pickup, with a pickup code and a hold deadline, and the customer is told.

        Calling it again for a ready order moves its bags to the slot given."""
        fulfilment = _locked(fulfilment_id, collect=True)
        actor = api_actor()
        slot = pickups.slot_from_scan(pickups.pickup_store(fulfilment), body["slot"])
        if "bags" in body:
            pickups.set_bags(fulfilment, body["bags"], actor=actor)
        pickups.stage(fulfilment, slot, actor=actor)
        return _document(fulfilment)


@blp.route("/<int:fulfilment_id>/collect")
class Collect(MethodView):
    @_write(
        CollectInSchema,
        answers={
            403: "A wrong pickup code (error wrong_pickup_code: counted), or a client without fulfilments:write",
            409: "The order is not on the hold shelf (pickup_refused), a bag given in bags is missing "
            "(bags_missing), or the payment could not be captured and the retailer holds the goods until it is "
            "settled (payment_failed: nothing handed over; the order needs customer service)",
            429: "Too many wrong codes for this order: no code is taken for 15 minutes (error pickup_code_locked)",
        },
    )
    def post(self, body, fulfilment_id):
        """Hand the order over with the customer's pickup code, or with an `id_check` instead (an audited
        override): collected, its units leave the stock, the customer gets a receipt.

        With `lines`, a partial collection: the units not taken (with a `reason`) wait on the put-back list. The
        calling system (the POS) confirms the hand-over of the bags: without `bags`, every bag counts as handed
        over. A wrong code answers 403 and changes nothing; after 5 wrong codes the order takes no code for 15
        minutes (429). Collecting a collected order again with its code answers it as it is."""
        fulfilment = _locked(fulfilment_id, collect=True)
        pickup = fulfilment.pickup
        bags = body.get("bags")
        code = body.get("pickup_code")
        if fulfilment.status == S.COLLECTED and pickup is not None:
            if code is None:  # collected already: answered with the right code, or the same ID check, only
                if (pickup.id_check or {}).get("last_digits") != body["id_check"]["last_digits"].strip().upper():
                    raise pickups.PickupRefused(N_("This order has already been collected."))
            else:
                pickups.check_code(pickup, code)
        if pickup is not None:
            if pickup.is_open and code is not None:  # wrong codes count against a pickup still on the shelf
                g.pickup_tried = pickup.id
            if bags is None:
                bags = [bag_barcode(fulfilment.id, bag.number) for bag in pickup.bag_rows]
        pickups.hand_over(
            fulfilment,
            actor=api_actor(),
            pickup_code=code,
            id_check=body.get("id_check"),
            bags_scanned=bags,
            lines=body.get("lines"),
            reason=body.get("reason", ""),
            payment_override=body.get("payment_override", ""),
        )
        return _document(fulfilment)


@blp.route("/<int:fulfilment_id>/restock")
class Restock(MethodView):
    @_write(RestockInSchema, response=RestockOutSchema)
    def post(self, body, fulfilment_id):
        """Put units waiting on the put-back list (expired, partly collected, or cancelled once staged) back on
        sale: all of them, or the `lines` given. Nothing waiting and no lines: nothing changes."""
        fulfilment = _locked(fulfilment_id, collect=True)
        done = pickups.restock(fulfilment, actor=api_actor(), lines=body.get("lines"))
        return _document(fulfilment, restocked=done)


@blp.route("/<int:fulfilment_id>/reroute")
class Reroute(MethodView):
    @_write(
        RerouteInSchema,
        scopes=(WRITE_SCOPE, CS_SCOPE),
        answers={
            403: "The client has neither fulfilments:write nor customer_service:write",
            409: "Too late (being picked or gone: service_refused), nothing left to re-route, or the location lacks "
            "stock for every unit left (service_refused); or the Idempotency-Key was used for another request",
            422: "Unknown or closed location, or the Idempotency-Key header is missing",
        },
    )
    def post(self, body, fulfilment_id):
        """Customer service: give what is left of a rejected fulfilment, or of an open one not yet being picked (it
        is given back first), to a location chosen from the ranked candidates; its stock is reserved there. The
        answer is the new fulfilment. Takes fulfilments:write or customer_service:write."""
        fulfilment = _locked(fulfilment_id)
        answered_meanwhile()
        note = body["note"].strip() or "re-routed through the API"
        new = actions.reroute(fulfilment, body["location"], note, actor=api_actor())
        return _document(new)


@blp.route("/<int:fulfilment_id>/reship")
class Reship(MethodView):
    @_write(
        ReshipInSchema,
        scopes=(CS_SCOPE,),
        answers={
            403: "The client lacks the customer_service:write scope",
            409: "The fulfilment has not shipped, is itself a re-shipment, every unit of it was sent again already, "
            "or the location lacks stock for every unit (service_refused); or the Idempotency-Key was used for "
            "another request",
            422: "Unknown or closed location, a blank note, or the Idempotency-Key header is missing",
        },
    )
    def post(self, body, fulfilment_id):
        """Customer service: a shipped parcel was lost or damaged; send its units again from a location chosen
        from the ranked candidates (GET .../reship-candidates), at no charge: a new fulfilment linked to the first
        (its `reship_of`), its stock reserved there, the order open again until it leaves. The answer is the new
        fulfilment."""
        fulfilment = _locked(fulfilment_id)
        answered_meanwhile()
        new = actions.reship(fulfilment, body["location"], body["note"], actor=api_actor())
        return _document(new)


def _candidates(view):
    """The decorators of the two candidate lists: orders:read, a ranked list, documented answers."""
    for status in (404, 403, 401):
        view = blp.alt_response(status, schema=ApiErrorSchema)(view)
    return require_scope("orders:read")(blp.response(200, CandidateSchema(many=True))(view))


@blp.route("/<int:fulfilment_id>/reroute-candidates")
class RerouteCandidates(MethodView):
    @_candidates
    def get(self, fulfilment_id):
        """The locations that could take what is left of a rejected fulfilment, or of an open one not yet being
        picked, ranked as sourcing ranks them (every unit first, then most units, then the score); its own
        location left out. Only a location that `covers` every unit can be chosen (POST .../reroute). Empty when
        it cannot be re-routed (being picked, gone) or nothing of it is left to place."""
        fulfilment = _fulfilment(fulfilment_id)
        if fulfilment.status not in actions.REROUTABLE:
            return []
        return actions.reroute_candidates(fulfilment)


@blp.route("/<int:fulfilment_id>/reship-candidates")
class ReshipCandidates(MethodView):
    @_candidates
    def get(self, fulfilment_id):
        """The locations that could send a shipped fulfilment's units again (POST .../reship), ranked as sourcing
        ranks them, its own location included. Empty when it has not shipped or every unit was sent again."""
        return actions.reship_candidates(_fulfilment(fulfilment_id))


@blp.route("/<int:fulfilment_id>/pickup")
class Hold(MethodView):
    @require_scope(WRITE_SCOPE, CS_SCOPE)
    @blp.arguments(PickupPatchSchema)
    @blp.response(200, FulfilmentDocSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(
        403, schema=ApiErrorSchema, description="The client has neither fulfilments:write nor customer_service:write"
    )
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema, description="The order is not waiting on the hold shelf")
    @blp.alt_response(
        422,
        schema=ApiErrorSchema,
        description="expires_at is not in the future, or more than 60 days away; or a blank note",
    )
    def patch(self, body, fulfilment_id):
        """Extend or shorten the hold of an order waiting on the hold shelf: `expires_at` in the future, at most
        60 days away. The same value again changes nothing. With a `note` (customer service: fulfilments:write or
        customer_service:write), the change and the note go on the order's timeline."""
        with unit_of_work():
            fulfilment = _locked(fulfilment_id, collect=True)
            if "note" in body:
                actions.extend_hold(fulfilment, body["expires_at"], body["note"], actor=api_actor())
            else:
                pickups.extend_hold(fulfilment, body["expires_at"], actor=api_actor())
            answer = _document(fulfilment)
        return answer
