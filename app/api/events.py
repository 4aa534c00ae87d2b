"""The event feed for clients that pull: every order and fulfilment change, in commit order."""

from flask.views import MethodView

from app.api import api_blueprint, require_scope
from app.api.schemas import ApiErrorSchema, EventQuerySchema, EventSchema
from app.core.integration import events
from app.core.inventory import changes
from app.extensions import db

blp = api_blueprint("api_events", "/api/v1/events", "Order and fulfilment events")


@blp.route("")
class Events(MethodView):
    @require_scope("orders:read")
    @blp.arguments(EventQuerySchema, location="query")
    @blp.response(200, EventSchema(many=True))
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Events after a position, in commit order; pass the `position` of the last event you saw as `after`.

        Every event has a `position`, given in the order events were committed. A client that starts with
        `after=0` (or any position it kept) and then always passes the `position` of the last event it received
        gets every event exactly once, in commit order, with none skipped, whatever the order in which
        concurrent writers committed. An empty list means there is nothing newer yet: ask again later with the
        same `after`. Events written before positions existed have `position` equal to their `id`, so a cursor
        kept from then is still valid. `id` identifies an event (it is the `id` of webhook envelopes) but does
        not follow commit order: never use it as a cursor.

        Event types: `order.created`, `order.cancelled`, `order.completed`, `order.needs_customer_service`,
        `order.review_released`, `fulfilment.created`, `fulfilment.<status>` for each status change (`accepted`,
        `picking`, `picked`, `packed`, `shipped`, `ready_for_pickup`, `collected`, `expired`, `rejected`,
        `cancelled`), `fulfilment.lines_rejected`, `fulfilment.short_picked`, `parcel.handed_over`.

        Payments (`GET /api/v1/orders/{id}/payments` says more), once the provider confirmed the step:
        `payment.captured`, `payment.voided`, `payment.refunded`, and `payment.failed` (declined, or no answer
        after every retry: the order needs customer service; `reason`). Each has `kind`, `amount` (a decimal
        string), `currency` and `transaction_id`.

        Click & collect (the fulfilment's `pickup` in `GET /api/v1/fulfilments/{id}` says more):
        `fulfilment.ready_for_pickup` (every bag on the hold shelf: the customer is e-mailed their code),
        `pickup.customer_arrived` (the customer said "I'm here"; `note`: their parking spot or car, if
        given), `fulfilment.collected` (handed over; stock consumed), `fulfilment.expired` (the hold ran out: the
        units stay off sale until put back), `pickup.restocked` (units put back on sale; `units`:
        `{sku: units}`), `pickup.hold_changed` (`expires_at`: the new end of the hold) and
        `pickup.transfer_received` (a transfer reached the pickup store; `received_by`: its code).
        Customer service (`POST /api/v1/orders/{id}/...`): `order.lines_cancelled` (`lines`: `{line_no: units}`
        cancelled; `fulfilment.lines_cancelled` for each store's work made smaller), `order.address_changed`
        (`address`), `order.pickup_store_changed` (`pickup_location`), `order.needs_customer_service` with
        `reason` `complaint` and its `note` (a complaint flagged), and `order.resolved` (`note`).
        Returns (`GET /api/v1/returns/{id}` says more): `return.created` (items taken back at a till, or a return
        by post announced; `return_id`, `number`, `location`, `status`: received or expected) and `return.received`
        (the items are in the location's stock by their condition and the refund is sent; `refund`: the amount,
        `lines`: `[{sku, quantity, reason, condition}]`).
        Details are in the event's `payload` here (`data` in webhooks); every event names its order (`order_id`,
        `channel`, `external_ref`, `order_status`) and, for a fulfilment, `fulfilment_id`, `location` (the
        serving location) and `status`.

        Webhook subscriptions (a list of these types, or `*`) receive them too, signed, plus `stock.changed`,
        which this feed leaves out: one event per location each time the stock ledger is numbered, with `data`
        `{"location": code, "changes": [{"cursor", "sku", "kind", "delta", "on_hand"}]}` (at most 1,000 changes;
        `cursor` as in `GET /api/v1/stock/changes`), so a subscriber gets every stock movement once, in batches.
        """
        events.sequence()  # number what has committed, in a transaction of its own
        # End the read the request began (authentication): the feed then reads in a snapshot that includes the
        # positions just given (SQLite keeps one snapshot per transaction). Nothing was written.
        db.session.rollback()
        # stock.changed batches go to webhook subscribers; pulling clients read them from /api/v1/stock/changes
        # (scope stock:read), not from the order feed.
        return events.events_after(query["after"], query["limit"], leave_out=(changes.STOCK_CHANGED,))
