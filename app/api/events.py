"""The event feed for clients that pull: every order and fulfilment change, in commit order."""

from flask.views import MethodView

from app.api import api_blueprint, require_scope
from app.api.schemas import ApiErrorSchema, EventQuerySchema, EventSchema
from app.core.integration import events
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
        """
        events.sequence()  # number what has committed, in a transaction of its own
        # End the read the request began (authentication): the feed then reads in a snapshot that includes the
        # positions just given (SQLite keeps one snapshot per transaction). Nothing was written.
        db.session.rollback()
        return events.events_after(query["after"], query["limit"])
