"""Shared tablets: switch the device's person by badge or PIN during its shift, and set one's own PIN.

The device keeps its session (its key, its shift from the full-password sign-in); only who acts on it changes, so
current_user, and the Actor of every core operation, is the person switched to. Wrong PINs are counted like wrong
passwords (app.web.auth's throttle, in the database every worker shares)."""

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.core.errors import DomainError
from app.core.people import switch
from app.core.uow import unit_of_work
from app.web import auth
from app.web.helpers import current_actor, domain_message, go_to, mark_fields, render, save_form, store_route

bp = Blueprint("switch", __name__)


class BadgeForm(FlaskForm):
    badge = PasswordField(lazy_gettext("Scan your badge"), validators=[DataRequired(), Length(max=64)])


class PinSwitchForm(FlaskForm):
    person = SelectField(lazy_gettext("Your name"), coerce=int)
    pin = PasswordField(lazy_gettext("Your PIN"), validators=[DataRequired(), Length(max=6)])


class OwnPinForm(FlaskForm):
    password = PasswordField(lazy_gettext("Your password"), validators=[DataRequired()])
    pin = PasswordField(lazy_gettext("New PIN (4 to 6 digits)"), validators=[DataRequired(), Length(max=6)])


def wait_message(seconds: int) -> str:
    if seconds >= 60:
        minutes = -(-seconds // 60)
        return ngettext(
            "Too many wrong tries. Try again in %(num)d minute.",
            "Too many wrong tries. Try again in %(num)d minutes.",
            minutes,
        )
    return ngettext(
        "Too many wrong tries. Try again in %(num)d second.",
        "Too many wrong tries. Try again in %(num)d seconds.",
        seconds,
    )


def _forms(store, badge=None, pin=None):
    pin = pin or PinSwitchForm(formdata=None)
    people = switch.candidates(store)
    pin.person.choices = [SelectChoice(p.id, p.name) for p in people if p.pin_hash]
    return badge or BadgeForm(formdata=None), pin


def _page(store, badge=None, pin=None, status=200, alert=None):
    badge, pin = _forms(store, badge, pin)
    return render("switch/switch.html", status=status, store=store, badge_form=badge, pin_form=pin, alert=alert)


def _shift_over():
    """The shift ended: the device is signed out and asks for a full password."""
    logout_user()
    auth._forget_device()
    flash(gettext("This device's shift is over: sign in with your password to start a new one."), "error")
    return go_to(url_for("auth.login", next=request.path))


@bp.get("/stores/<store_code>/switch")
@store_route
def page(store):
    if not switch.shift_open(g.device_session, current_app.config["SHIFT_LENGTH"]):
        return _shift_over()
    return _page(store)


def _switch(store, account: str, form, do):
    throttle, address = auth.login_throttle(), request.remote_addr or ""
    wait = throttle.admit(address, account)
    if wait:
        return _page(store, status=429, alert=wait_message(wait), **form)
    try:
        with unit_of_work():
            person = do()
    except switch.ShiftOver:
        return _shift_over()
    except DomainError as error:
        throttle.failed(address, account)
        for each in form.values():
            mark_fields(each, error)
        return _page(store, status=error.http_status, alert=domain_message(error), **form)
    throttle.succeeded(address, account)
    login_user(person)  # the device's session (its key, its shift) stays; who acts on it changes
    flash(gettext("Hello %(name)s: this device is yours until the next switch.", name=person.name), "success")
    return go_to(url_for("queue.queue", store_code=store.code))


@bp.post("/stores/<store_code>/switch/badge")
@store_route
def badge(store):
    form = BadgeForm()
    if not form.validate():
        return _page(store, badge=form, status=422)
    shift = current_app.config["SHIFT_LENGTH"]
    return _switch(
        store,
        "badge",
        {"badge": form},
        lambda: switch.switch_by_badge(g.device_session, store, form.badge.data, shift=shift, actor=current_actor()),
    )


@bp.post("/stores/<store_code>/switch/pin")
@store_route
def pin(store):
    _, form = _forms(store, pin=PinSwitchForm())
    if not form.validate():
        return _page(store, pin=form, status=422)
    shift = current_app.config["SHIFT_LENGTH"]
    return _switch(
        store,
        f"pin:{form.person.data}",
        {"pin": form},
        lambda: switch.switch_by_pin(
            g.device_session, store, form.person.data, form.pin.data, shift=shift, actor=current_actor()
        ),
    )


@bp.route("/account/pin", methods=["GET", "POST"])
@login_required
def own_pin():
    form = OwnPinForm()
    if request.method == "GET":
        return render("switch/pin.html", form=form, store=None)
    if not form.validate():
        return render("switch/pin.html", status=422, form=form, store=None)
    throttle, address, account = auth.login_throttle(), request.remote_addr or "", current_user.email
    wait = throttle.admit(address, account)
    if wait:
        return render("switch/pin.html", status=429, form=form, store=None, alert=auth.wait_message(wait))
    if not current_user.check_password(form.password.data or ""):
        throttle.failed(address, account)
        form.password.errors.append(gettext("Wrong password."))
        return render("switch/pin.html", status=422, form=form, store=None)
    throttle.succeeded(address, account)
    person = current_user._get_current_object()
    status, trigger = save_form(
        None, lambda: switch.set_pin(person, form.pin.data, actor=current_actor()), gettext("Your PIN is set.")
    )
    if status != 200:
        form.pin.errors.append(trigger["toast"]["message"])
        return render("switch/pin.html", status=status, form=form, store=None)
    flash(gettext("Your PIN is set."), "success")
    return redirect(url_for("queue.home"), 303)
