"""The event feed for clients that pull: every order and fulfilment change, in order."""

from flask.views import MethodView

from app.api import api_blueprint, require_scope
from app.api.schemas import ApiErrorSchema, EventQuerySchema, EventSchema
from app.core import events

blp = api_blueprint("api_events", "/api/v1/events", "Order and fulfilment events")


@blp.route("")
class Events(MethodView):
    @require_scope("orders:read")
    @blp.arguments(EventQuerySchema, location="query")
    @blp.response(200, EventSchema(many=True))
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Events after the given id, oldest first; pass the last id you saw as `after`."""
        return events.events_after(query["after"], query["limit"])
