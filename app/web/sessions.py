"""A store manager's view of the devices signed in for the store's staff, and signing a lost one out."""

from itertools import groupby

from flask import Blueprint, abort, current_app, g
from flask_babel import gettext, ngettext

from app.core.people import sign_in
from app.core.uow import unit_of_work
from app.web.helpers import current_actor, manager_required, render, store_route, toast

bp = Blueprint("sessions", __name__)


def _page(store, trigger: dict | None = None):
    rows = sign_in.store_sessions(store, current_app.config["PERMANENT_SESSION_LIFETIME"])
    people = [(user, list(devices)) for user, devices in groupby(rows, key=lambda row: row.user)]
    this_device = getattr(g.get("device_session"), "id", None)
    return render("sessions/devices.html", trigger=trigger, store=store, people=people, this_device=this_device)


@bp.get("/stores/<store_code>/sessions")
@store_route
@manager_required
def devices(store):
    return _page(store)


@bp.post("/stores/<store_code>/sessions/<int:user_session_id>/revoke")
@store_route
@manager_required
def revoke(store, user_session_id):
    row = sign_in.store_session(store, user_session_id) or abort(404)
    with unit_of_work():
        sign_in.revoke_session(row, actor=current_actor())
    name = row.user.name
    message = (
        gettext("%(name)s is signed out on %(device)s.", name=name, device=row.device)
        if row.device
        else gettext("%(name)s is signed out on that device.", name=name)
    )
    return _page(store, toast(message))


@bp.post("/stores/<store_code>/people/<int:user_id>/sessions/revoke")
@store_route
@manager_required
def revoke_person(store, user_id):
    person = sign_in.store_person(store, user_id) or abort(404)
    with unit_of_work():
        count = sign_in.revoke_sessions_of(person, actor=current_actor())
    message = ngettext(
        "%(num)d device of %(name)s signed out.", "%(num)d devices of %(name)s signed out.", count, name=person.name
    )
    return _page(store, toast(message))
