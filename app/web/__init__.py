"""Server-rendered screens: one blueprint per area."""

from flask import Flask, g, make_response, redirect, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import default_exceptions
from werkzeug.local import LocalProxy

from app import formatting
from app.core.errors import N_, DomainError
from app.extensions import htmx, login_manager
from app.web import auth
from app.web.helpers import domain_message, in_reader_language, render, say

HTTP_MESSAGES = {
    400: N_("The request could not be understood. Reload the page and try again."),
    403: N_("You do not have access to this page."),
    404: N_("This page does not exist."),
    405: N_("This action is not allowed here."),
    409: N_("This conflicts with a change made meanwhile. Reload and try again."),
    413: N_("What was sent is too large."),
    414: N_("This address is too long. Go back and search for something shorter."),
    422: N_("Some values are not valid."),
    429: N_("Too many attempts. Wait a minute and try again."),
    431: N_("The request is too large. Sign out and in again, then retry."),
    500: N_("Something went wrong on our side. The error has been logged."),
}
# Any other error status gets the app's page too, with the sentence for its class.
CLASS_MESSAGES = {
    4: N_("This request cannot be handled. Go back and try again."),
    5: N_("Something went wrong on our side. The error has been logged."),
}


STATUS_LABELS = {
    "created": lazy_gettext("To accept"),
    "accepted": lazy_gettext("Accepted"),
    "picking": lazy_gettext("Picking"),
    "picked": lazy_gettext("Picked"),
    "packed": lazy_gettext("Packed"),
    "shipped": lazy_gettext("Shipped"),
    "ready_for_pickup": lazy_gettext("Ready for pickup"),
    "collected": lazy_gettext("Collected"),
    "expired": lazy_gettext("Expired"),
    "rejected": lazy_gettext("Rejected"),
    "cancelled": lazy_gettext("Cancelled"),
}
REFUSAL_LABELS = {
    "failed": lazy_gettext("already failed this order"),
    "paused": lazy_gettext("ship-from-store paused"),
    "no_ship": lazy_gettext("does not ship"),
    "no_capacity": lazy_gettext("no capacity left today"),
    "no_stock": lazy_gettext("no stock of any line"),
    "blocked": lazy_gettext("product blocked here: %(skus)s"),
}
METHOD_LABELS = {"ship": lazy_gettext("Ship from store"), "collect": lazy_gettext("Click & collect")}


login_manager.user_loader(auth.signed_in_user)


@login_manager.unauthorized_handler
def unauthorized():
    """Send people to the sign-in page; htmx requests are told to load it as a whole page."""
    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if htmx:
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def _refusal_label(code: str, skus=()) -> str:
    """Why sourcing passed a location over, in the reader's language."""
    if code == "blocked":
        return gettext("product blocked here: %(skus)s", skus=", ".join(skus or ()))
    return str(REFUSAL_LABELS.get(code, code))


def _http_message(status: int) -> str:
    return HTTP_MESSAGES.get(status) or CLASS_MESSAGES[5 if status >= 500 else 4]


def _error_page(status: int, message: str):
    store = g.get("store")
    return render("errors/error.html", "errors/_error.html", status=status, code=status, message=message, store=store)


def _shelf_words(shelf) -> str:
    """A shelf place as an associate reads it: "Aisle A3, bay 12, level 2"."""
    if shelf is None:
        return ""
    if shelf.level:
        return gettext(
            "Aisle %(aisle)s, bay %(bay)s, level %(level)s", aisle=shelf.aisle, bay=shelf.bay, level=shelf.level
        )
    return gettext("Aisle %(aisle)s, bay %(bay)s", aisle=shelf.aisle, bay=shelf.bay)


def register_web(app: Flask) -> None:
    from app.web import (
        admin,
        auth,
        board,
        boxes,
        counter,
        cs,
        cs_search,
        curbside,
        dispatch,
        incoming,
        kpi,
        labels,
        pack,
        pick,
        pickups,
        productivity,
        queue,
        returns,
        sessions,
        shelves,
        staff,
        stock,
        switch,
    )

    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    app.register_blueprint(auth.bp)
    app.register_blueprint(queue.bp)
    app.register_blueprint(stock.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(pick.bp)
    app.register_blueprint(pack.bp)
    app.register_blueprint(sessions.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(switch.bp)
    app.register_blueprint(labels.bp)
    app.register_blueprint(dispatch.bp)
    app.register_blueprint(boxes.bp)
    app.register_blueprint(shelves.bp)
    app.register_blueprint(curbside.bp)
    app.register_blueprint(incoming.bp)
    app.register_blueprint(pickups.bp)
    app.register_blueprint(counter.bp)
    app.register_blueprint(returns.bp)
    app.register_blueprint(board.bp)
    app.register_blueprint(productivity.bp)
    app.register_blueprint(kpi.bp)
    app.register_blueprint(cs_search.bp)
    app.register_blueprint(cs.bp)

    formatting.register(app)
    app.jinja_env.globals.update(
        status_label=lambda s: STATUS_LABELS.get(s, s),
        method_label=lambda m: METHOD_LABELS.get(m, m),
        refusal_label=_refusal_label,
        reason_label=queue.reason_label,
        shelf_words=_shelf_words,
        say=say,
        in_reader_language=in_reader_language,
    )

    @app.context_processor
    def navigation():
        stores = []
        if current_user and current_user.is_authenticated:  # no user outside a request (the worker's e-mails)
            # Loaded only if the template uses it (the page header does; htmx fragments such as a scan answer do not).
            stores = LocalProxy(lambda: current_user.stores)
        return {
            "languages": app.config["LANGUAGES"],
            "get_locale": get_locale,
            "user_stores": stores,
        }

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _error_page(
            400, gettext("Your session expired or the form was sent twice. Reload the page and try again.")
        )

    @app.errorhandler(DomainError)
    def domain_error(error):
        return _error_page(error.http_status, domain_message(error))

    # Every error status Werkzeug knows, one handler each (flask-smorest answers JSON for the HTTPException class;
    # a handler per status comes first, and app.api keeps JSON for /api/v1): the app's page, never the server's.
    for status in sorted(code for code in default_exceptions if code >= 400):
        app.register_error_handler(status, lambda e, s=status: _error_page(s, gettext(_http_message(s))))

    @app.get("/favicon.ico")
    def favicon():
        """For what asks the root for it (a PDF opened in a tab): pages link the icon in static/."""
        return app.send_static_file("favicon.ico")

    @app.get("/healthz")
    def healthz():
        """Liveness probe for load balancers, and the trivial endpoint benchmarks compare against."""
        return {"status": "ok"}

    @app.after_request
    def no_store_for_pages(response):
        if request.endpoint and request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
