"""The /api/v1 JSON API: bearer-token clients, one uniform error body, OpenAPI from the same schemas."""

from functools import wraps

from flask import current_app, g, jsonify, request
from flask_babel import gettext
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException

from app.api.schemas import ApiErrorSchema
from app.core import api_clients
from app.core.actor import Actor
from app.core.errors import DomainError
from app.extensions import csrf, limiter


class ComptoirApi(Api):
    """flask-smorest's Api, documenting our one error body as the default response."""

    ERROR_SCHEMA = ApiErrorSchema


api = ComptoirApi()
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
}


def error_body(status: int, message: str, fields: dict | None = None, code: str | None = None):
    """The one error shape of the API: {"error": code, "message": text, "fields": {path: message}}."""
    response = jsonify({"error": code or ERROR_CODES.get(status, "error"), "message": message, "fields": fields or {}})
    response.status_code = status
    return response


def _flatten(messages, prefix: str = "") -> dict:
    flat = {}
    for key, value in (messages or {}).items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, path))
        else:
            flat[path] = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return flat


def handle_http_error(error: HTTPException):
    messages = getattr(error, "data", {}).get("messages") if hasattr(error, "data") else None
    fields = {}
    if messages:  # webargs: {"json": {"lines": {"0": {"quantity": [...]}}}}
        for location, location_messages in messages.items():
            if isinstance(location_messages, dict):
                fields.update(_flatten(location_messages))
            else:
                fields[location] = " ".join(str(m) for m in location_messages)
    message = gettext("Some values are not valid.") if fields else (error.description or error.name)
    return error_body(error.code or 500, message, fields)


def _translate(text):
    """A field message is a msgid, or (msgid, params) when it carries values."""
    if isinstance(text, tuple):
        return gettext(text[0], **text[1])
    return gettext(text) if isinstance(text, str) else text


def handle_domain_error(error: DomainError):
    fields = {path: _translate(text) for path, text in error.fields.items()}
    return error_body(error.http_status, gettext(error.message, **error.params), fields, error.code)


def require_scope(scope: str):
    """Authenticate the bearer token and require one scope; 401 or 403 as JSON otherwise."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            client = api_clients.authenticate(token)
            if client is None:
                response = error_body(401, gettext("A valid API token is required."))
                response.headers["WWW-Authenticate"] = 'Bearer realm="comptoir"'
                return response
            if scope not in client.scope_set:
                return error_body(403, gettext("This API client lacks the %(scope)s scope.", scope=scope))
            g.api_client = client
            return view(*args, **kwargs)

        return wrapped

    return decorator


def api_actor() -> Actor:
    """The authenticated API client as the actor of core operations."""
    return Actor(label=f"api:{g.api_client.name}")


def client_key() -> str:
    """Rate-limit API calls per client token, not per address."""
    return request.headers.get("Authorization", "")[-16:] or (request.remote_addr or "")


def api_blueprint(name: str, url_prefix: str, description: str) -> Blueprint:
    """A JSON API blueprint: uniform errors, no CSRF (bearer tokens, no cookies), per-client rate limit."""
    blp = Blueprint(name, __name__, url_prefix=url_prefix, description=description)
    # Flask looks handlers up by status code before class, so each code is claimed for the blueprint.
    for status in ERROR_CODES:
        blp.register_error_handler(status, handle_http_error)
    blp.register_error_handler(HTTPException, handle_http_error)
    blp.register_error_handler(DomainError, handle_domain_error)
    csrf.exempt(blp)
    limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=client_key)(blp)
    return blp


def register_api(app) -> None:
    from app.api import availability, events, orders, parcels, settings, stock

    app.config.setdefault("API_TITLE", "Comptoir API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api.init_app(
        app,
        spec_kwargs={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api.register_blueprint(orders.blp)
    api.register_blueprint(stock.blp)
    api.register_blueprint(availability.blp)
    api.register_blueprint(availability.recommendations_blp)
    api.register_blueprint(events.blp)
    api.register_blueprint(settings.blp)
    api.register_blueprint(parcels.blp)
    from app.api import docs

    app.register_blueprint(docs.bp)
