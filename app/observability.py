"""What an operator sees of a running process: one JSON log line per request, the request id, and logging set up.

Every request gets an id: the caller's `X-Request-ID` when it is a sane token (a load balancer's or another
service's), else a new one. It is echoed in the response's `X-Request-ID`, carried by every log line written while
the request runs (a context variable the JSON formatter reads), and the worker sets one per job (`job-...`), which
its webhook calls send on as their own `X-Request-ID`.

The request line says who and what, never personal data or secrets: the route *template* (`/api/v1/orders/<ref>`,
never the path with its values or the query string), the endpoint, the status, the duration, the signed-in user's
id or the API client's id, and the store code when the route names one. No e-mail, name, search text, token or
header value is ever logged.
"""

import contextvars
import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, request

REQUEST_ID_HEADER = "X-Request-ID"
# What an incoming id may be: letters, digits and . _ - : up to 128 characters (a UUID, a trace id, a
# load balancer's "Root=1-..." id); anything else (spaces, quotes, control characters, too long) is replaced.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=-]{0,127}")
STORE_ARGS = ("store_code", "location_code")  # the URL parts that name a store (never "code": pickup codes)

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("comptoir_request_id", default=None)
# In a worker job: the request that wrote the row the job works on (an event, a payment step), logged with the job.
origin_request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "comptoir_origin_request_id", default=None
)
log = logging.getLogger("app.request")


def new_request_id(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex


def valid_request_id(value: str | None) -> str | None:
    """The incoming id when it is one we may log and echo, else None."""
    if value and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request or job id, and the `fields`
    a caller passed as extra={"fields": {...}}; an exception's traceback as "exc"."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


_configured = False


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Send the app's log (every app.* logger) to stderr, as JSON lines (LOG_FORMAT=json, the default) or as plain
    text (LOG_FORMAT=text), at LOG_LEVEL (default INFO). Once per process."""
    global _configured
    if _configured:
        return
    _configured = True
    fmt = (fmt or os.environ.get("LOG_FORMAT") or "json").lower()
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger("app")
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("LOG_LEVEL") or "INFO").upper())
    # Still propagated: gunicorn and flask leave the root logger without handlers, so nothing is written twice,
    # and pytest's caplog still sees the records.


def _user_id() -> int | None:
    """The signed-in user's id if this request loaded the user (never loads it: /readyz stays cheap)."""
    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        return getattr(user, "id", None)
    return None


def request_fields(status: int, duration_ms: float) -> dict:
    """What the request line says (no personal data, no query string, no header values)."""
    rule = request.url_rule.rule if request.url_rule is not None else None
    fields = {
        "method": request.method,
        "route": rule,
        "endpoint": request.endpoint,
        "status": status,
        "duration_ms": round(duration_ms, 1),
    }
    user_id = _user_id()
    if user_id is not None:
        fields["user_id"] = user_id
    client = g.get("api_client")
    if client is not None:
        fields["api_client_id"] = getattr(client, "id", None)
    store = next((request.view_args[a] for a in STORE_ARGS if request.view_args and a in request.view_args), None)
    if store is None and g.get("store") is not None:
        store = getattr(g.store, "code", None)
    if store is not None:
        fields["store"] = str(store)[:32]
    return fields


def init_app(app: Flask) -> None:
    """Request ids, the request line and the request latency metric on every request."""
    if not app.testing:
        configure_logging()

    @app.before_request
    def take_the_request_id():
        g.request_id = valid_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        g._request_id_token = request_id_var.set(g.request_id)
        g._started = time.perf_counter()

    @app.after_request
    def log_the_request(response):
        started = g.get("_started")
        if started is None:  # refused before our before_request ran (another hook answered first)
            g.request_id = valid_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
            started = time.perf_counter()
        duration = time.perf_counter() - started
        response.headers[REQUEST_ID_HEADER] = g.request_id
        fields = request_fields(response.status_code, duration * 1000)
        from app import metrics

        metrics.observe_request(fields["method"], fields["route"], response.status_code, duration)
        level = logging.DEBUG if request.endpoint == "static" else logging.INFO
        log.log(level, "request", extra={"fields": fields, "request_id": g.request_id})
        return response

    @app.teardown_request
    def forget_the_request_id(_error=None):
        token = g.pop("_request_id_token", None)
        if token is not None:
            try:
                request_id_var.reset(token)
            except ValueError:  # set in another context (a copied one): nothing to undo here
                request_id_var.set(None)
