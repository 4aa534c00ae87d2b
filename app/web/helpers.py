"""Helpers every web route uses: rendering, store authorisation, the acting user."""

import json
from functools import cache, wraps

from flask import Response, abort, g, make_response, redirect, render_template, request
from flask_babel import get_locale, gettext
from flask_login import current_user, login_required
from sqlalchemy import bindparam, exists, select
from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.actor import Actor
from app.core.errors import DomainError
from app.core.models import Location
from app.core.models.users import MANAGING_ROLES, Role, membership
from app.core.uow import unit_of_work
from app.extensions import db, htmx

# Every route with a <store_code> must be wrapped by store_route; the test sweep checks it.
STORE_ROUTES: set[str] = set()


def render(page: str, partial: str | None = None, status: int = 200, trigger: dict | None = None, **context):
    """Render the whole page, or only the partial when htmx targets part of the page."""
    wants_fragment = partial is not None and htmx and not htmx.boosted and htmx.target
    response = make_response(render_template(partial if wants_fragment else page, **context), status)
    response.vary.add("HX-Request")
    if trigger:
        response.headers["HX-Trigger"] = json.dumps(trigger)
    return response


def in_reader_language(params: dict | None) -> dict:
    """A message's parameters with a product's name in the reader's language, when the core gave its names
    (app.core.inventory.products.named)."""
    if not params or "names" not in params:
        return params or {}
    params = dict(params)
    names = params.pop("names") or {}
    params["name"] = names.get(str(get_locale() or "")[:2]) or params.get("name", "")
    return params


def say(message: str, params: dict | None = None) -> str:
    """A core message (a msgid and its parameters) in the reader's language, product names included."""
    return gettext(message, **in_reader_language(params))


def go_to(url: str):
    """Open another page: htmx follows HX-Location (no full reload), a plain form post a 303 redirect."""
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Location"] = url
        return response
    return redirect(url, 303)


def toast(message: str, level: str = "success") -> dict:
    """An HX-Trigger payload that shows a message in the toast area."""
    return {"toast": {"message": message, "level": level}}


def mark_fields(form, error: DomainError) -> None:
    """Put each refused field's message (translated) under that field of the form: "parcel.1.weight" marks weight."""
    for path, text in error.field_messages(gettext).items():
        field = getattr(form, path.split(".")[0], None) or getattr(form, path.rsplit(".", 1)[-1], None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*(field.errors or []), text]


def save_form(form, change, saved: str | None = None) -> tuple[int, dict]:
    """Validate the form, run change() in one unit of work; on a domain error mark the form's fields.

    Answers (HTTP status, toast trigger) for the route to re-render its page with; nothing is changed on an error.
    """
    if form is not None and not form.validate():
        return 422, toast(gettext("Some values are not valid."), "error")
    try:
        with unit_of_work():
            change()
    except DomainError as error:
        if form is not None:
            mark_fields(form, error)
        return error.http_status, toast(domain_message(error), "error")
    return 200, toast(saved or gettext("Saved."))


def domain_message(error: DomainError) -> str:
    """The translated sentence for a domain error."""
    return error.sentence(gettext)


@cache
def _store_and_membership():
    """The store and whether the user is one of its members, in one round trip: the rule of User.may_access
    without loading every store of the user on each request (built once, run with fresh values each time)."""
    member = exists().where(membership.c.user_id == bindparam("user_id"), membership.c.location_id == Location.id)
    return select(Location, member).where(Location.code == bindparam("code"))


def store_route(view):
    """Require a signed-in member of the store named by <store_code> (admins see every store). Customer service
    never works on a store's floor, even if it were made a member of one: 403."""
    STORE_ROUTES.add(view.__name__)

    @login_required
    @wraps(view)
    def wrapped(store_code, **kwargs):
        row = db.session.execute(_store_and_membership(), {"code": store_code, "user_id": current_user.id}).first()
        if row is None:
            abort(404)
        store, is_member = row
        if current_user.is_customer_service or not (is_member or current_user.is_admin):
            abort(403)
        g.store = store
        return view(store, **kwargs)

    wrapped.store_scoped = True
    return wrapped


def role_required(*roles):
    """Refuse users whose role is not one of these."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def manager_required(view):
    """Refuse anyone but the store's managers and admins (with store_route: managers of this very store)."""
    return role_required(*MANAGING_ROLES)(view)


def admin_required(view):
    """Refuse anyone but admins."""
    return role_required(Role.ADMIN)(view)


def current_actor() -> Actor:
    """The signed-in user as the actor of core operations, with their address and device."""
    return Actor.for_user(current_user, ip=request.remote_addr or "", device=request.user_agent.string)


def document_response(body: bytes, filename: str, mimetype: str = "application/pdf") -> Response:
    """A printable document (PDF label, slip, manifest, pick list; ZPL) shown inline under its own file name.

    Never cached: documents carry customers' names and addresses (the API's label downloads use it too).
    """
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


class MultiCheckboxField(SelectMultipleField):
    """Several choices as a list of checkboxes (scopes, reasons...)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
