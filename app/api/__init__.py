"""The /api/v1 JSON API: bearer-token clients, one uniform error body, OpenAPI from the same schemas."""

from functools import partial, wraps

from flask import after_this_request, current_app, g, jsonify, request
from flask_babel import gettext
from flask_smorest import Api, Blueprint
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import BadRequest, HTTPException, default_exceptions

from app.api.schemas import ApiErrorSchema
from app.core.actor import Actor
from app.core.errors import DomainError
from app.core.integration import api_clients
from app.extensions import csrf, db, limiter

API_PREFIX = "/api/v1"
# Per client token, reads and writes counted apart (see app/config.py for the defaults and why).
READ_METHODS = ["GET", "HEAD", "OPTIONS"]
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


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


def _default_message(error: HTTPException) -> str:
    """Our translated text for the errors Werkzeug raises with its own English description."""
    if error.description != type(error).description:
        return error.description or error.name
    if error.code == 404:
        return gettext("There is no API endpoint at this address.")
    if error.code == 405:
        allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or []))
        return gettext("This method is not allowed here. Allowed: %(methods)s.", methods=allowed or "-")
    if error.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        return gettext("The request body is too large: at most %(size)s MiB.", size=round(limit / 2**20, 1))
    return error.description or error.name


def handle_http_error(error: HTTPException):
    messages = getattr(error, "data", {}).get("messages") if hasattr(error, "data") else None
    fields = {}
    if messages:  # webargs: {"json": {"lines": {"0": {"quantity": [...]}}}}
        for location, location_messages in messages.items():
            if isinstance(location_messages, dict):
                fields.update(_flatten(location_messages))
            else:
                fields[location] = " ".join(str(m) for m in location_messages)
    message = gettext("Some values are not valid.") if fields else _default_message(error)
    response = error_body(error.code or 500, message, fields)
    if getattr(error, "valid_methods", None):  # 405 says which methods the address takes
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def handle_domain_error(error: DomainError):
    return error_body(error.http_status, error.sentence(gettext), error.field_messages(gettext), error.code)


def require_scope(*scopes: str):
    """Authenticate the bearer token and require a scope (one of `scopes` when several are given); 401 or 403 as
    JSON otherwise."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            client = api_clients.authenticate(token, current_app.config["API_AUTH_CACHE_SECONDS"])
            if client is None:
                response = error_body(401, gettext("A valid API token is required."))
                response.headers["WWW-Authenticate"] = 'Bearer realm="comptoir"'
                return response
            if not client.scope_set.intersection(scopes):
                if len(scopes) == 1:
                    return error_body(403, gettext("This API client lacks the %(scope)s scope.", scope=scopes[0]))
                return error_body(
                    403, gettext("This API client needs one of these scopes: %(scopes)s.", scopes=", ".join(scopes))
                )
            g.api_client = client
            if api_clients.use_due(client):
                # last_used_at is written once the answer is sent, in a transaction of its own: the request
                # itself never writes the client's row (so a client's requests never queue on it).
                record = partial(api_clients.record_use, db.engine, client.id)

                @after_this_request
                def _record_use_after_the_answer(response):
                    response.call_on_close(record)
                    return response

            return view(*args, **kwargs)

        return wrapped

    return decorator


def api_actor() -> Actor:
    """The authenticated API client as the actor of core operations."""
    return Actor(label=f"api:{g.api_client.name}")


def client_key() -> str:
    """Rate-limit API calls per client token, not per address."""
    return request.headers.get("Authorization", "")[-16:] or (request.remote_addr or "")


class ApiParser(FlaskParser):
    """webargs' parser, answering 400 with our error body (not a 500) for a body that is not JSON or is nested
    deeper than the JSON parser can follow (RecursionError)."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return webargs_core.missing
        data = req.get_data(cache=True)
        try:
            return webargs_core.parse_json(data)
        except RecursionError:
            raise BadRequest(gettext("The JSON body is nested too deeply.")) from None

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise BadRequest(gettext("The request body is not valid JSON."))


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = ApiParser()

    def arguments(self, schema, *args, **kwargs):
        """As flask-smorest's, with a schema class made an instance once, here: given a class, webargs builds a new
        schema (and each nested one) for every request, about half a millisecond of an order's capture. The
        schemas hold no per-request state (marshmallow 4 has no context), so one instance serves every request."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


def api_blueprint(name: str, url_prefix: str, description: str) -> Blueprint:
    """A JSON API blueprint: uniform errors, no CSRF (bearer tokens, no cookies), per-client rate limits."""
    blp = ApiBlueprint(name, __name__, url_prefix=url_prefix, description=description)
    # Flask looks handlers up by status code before class, so each code is claimed for the blueprint.
    for status in ERROR_CODES:
        blp.register_error_handler(status, handle_http_error)
    blp.register_error_handler(HTTPException, handle_http_error)
    blp.register_error_handler(DomainError, handle_domain_error)
    csrf.exempt(blp)
    # One budget per client across every API blueprint (shared scope), reads and writes apart: a web shop polling
    # availability does not eat the budget its orders need, and the reverse.
    limiter.shared_limit(
        lambda: current_app.config["API_READ_RATE_LIMIT"], scope="api-read", key_func=client_key, methods=READ_METHODS
    )(blp)
    limiter.shared_limit(
        lambda: current_app.config["API_WRITE_RATE_LIMIT"],
        scope="api-write",
        key_func=client_key,
        methods=WRITE_METHODS,
    )(blp)
    return blp


def _is_api_path() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def register_api_error_bodies(app) -> None:
    """Errors raised before a request reaches an API blueprint (unknown address, wrong method or TRACE, a body too
    large read by an app-wide hook) answer the JSON error body under /api/v1; other paths keep the handlers
    registered before (HTML pages). Call it after the web error pages are registered."""
    handlers = app.error_handler_spec.setdefault(None, {})
    codes = {code for code in handlers if code is not None} | set(ERROR_CODES) | {413}
    for code in sorted(codes):
        exc_class = default_exceptions.get(code)
        if exc_class is None:
            continue
        previous = handlers.get(code, {}).get(exc_class)

        def handler(error, previous=previous):
            if _is_api_path() and isinstance(error, HTTPException):
                return handle_http_error(error)
            return previous(error) if previous is not None else error

        app.register_error_handler(code, handler)
    previous_any = handlers.get(None, {}).get(HTTPException)

    def any_http_error(error):
        if _is_api_path():
            return handle_http_error(error)
        return previous_any(error) if previous_any is not None else error

    app.register_error_handler(HTTPException, any_http_error)


def register_api(app) -> None:
    from app.api import (
        availability,
        customers,
        events,
        fulfilments,
        orders,
        parcels,
        products,
        reports,
        returns,
        settings,
        stock,
    )

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
    api.register_blueprint(fulfilments.blp)
    api.register_blueprint(stock.blp)
    api.register_blueprint(availability.blp)
    api.register_blueprint(availability.recommendations_blp)
    api.register_blueprint(events.blp)
    api.register_blueprint(settings.blp)
    api.register_blueprint(parcels.blp)
    api.register_blueprint(products.blp)
    api.register_blueprint(returns.blp)
    api.register_blueprint(reports.blp)
    api.register_blueprint(customers.blp)
    from app.api import docs

    app.register_blueprint(docs.bp)
    register_api_error_bodies(app)
