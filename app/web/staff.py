"""The staff screen: a store's managers (and admins) invite people, deactivate them, change their role, their stores
and reset their password. Every rule lives in app.core.people.staff; this only shows and posts."""

from flask import Blueprint, abort, flash, request
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.core.errors import DomainError
from app.core.models import Role
from app.core.models.base import MAX_ID
from app.core.people import staff, switch
from app.web.admin import MultiCheckboxField
from app.web.helpers import current_actor, manager_required, render, save_form, store_route

bp = Blueprint("staff", __name__)

ROLE_LABELS = {
    Role.ASSOCIATE: lazy_gettext("Associate"),
    Role.MANAGER: lazy_gettext("Manager"),
    Role.ADMIN: lazy_gettext("Admin"),
    Role.CUSTOMER_SERVICE: lazy_gettext("Customer service"),
}
LANGUAGE_CHOICES = [
    SelectChoice("", lazy_gettext("Their choice")),
    SelectChoice("fr", "Français"),
    SelectChoice("it", "Italiano"),
    SelectChoice("en", "English"),
]


def _role_choices():
    roles = [Role.ASSOCIATE, Role.MANAGER] + ([Role.ADMIN, Role.CUSTOMER_SERVICE] if current_user.is_admin else [])
    return [SelectChoice(str(role), ROLE_LABELS[role]) for role in roles]


def _store_choices():
    return [SelectChoice(store.code, f"{store.name} ({store.code})") for store in staff.manageable_stores(current_user)]


class InviteForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(lazy_gettext("Role"))
    stores = MultiCheckboxField(lazy_gettext("Stores"))
    language = SelectField(lazy_gettext("Language"), choices=LANGUAGE_CHOICES)


class BadgeForm(FlaskForm):
    badge = PasswordField(lazy_gettext("Badge code (scan the badge)"), validators=[DataRequired(), Length(max=64)])


class PersonForm(FlaskForm):
    role = SelectField(lazy_gettext("Role"))
    stores = MultiCheckboxField(lazy_gettext("Stores"))


def _choices(form):
    form.role.choices = _role_choices()
    form.stores.choices = _store_choices()
    return form


def _said(trigger: dict | None) -> None:
    """The pages are whole-page form posts (boosted): the outcome shows in the page's own message area."""
    if trigger:
        flash(trigger["toast"]["message"], trigger["toast"]["level"])


def _staff_page(store, form=None, status=200, trigger=None, shown=None):
    _said(trigger)
    form = form or _choices(InviteForm(formdata=None, stores=[store.code]))
    people = staff.store_staff(store)
    return render(
        "staff/staff.html",
        status=status,
        store=store,
        people=[p for p in people if staff.may_manage(current_user, p)],
        form=form,
        shown=shown,
        role_label=lambda role: ROLE_LABELS.get(role, role),
    )


def _person(store, user_id):
    if user_id > MAX_ID:
        abort(404)
    try:
        return staff.person_of(current_user, store, user_id)
    except DomainError:
        abort(404)


def _person_page(store, person, form=None, status=200, trigger=None, shown=None, badge_form=None):
    _said(trigger)
    if form is None:
        own = {choice.value for choice in _store_choices()}
        form = _choices(
            PersonForm(formdata=None, role=person.role, stores=[s.code for s in person.stores if s.code in own])
        )
    others = [s for s in person.stores if s.code not in {choice.value for choice in _store_choices()}]
    return render(
        "staff/person.html",
        status=status,
        store=store,
        person=person,
        form=form,
        other_stores=others,
        shown=shown,
        badge_form=badge_form or BadgeForm(formdata=None),
        role_label=lambda role: ROLE_LABELS.get(role, role),
    )


@bp.get("/stores/<store_code>/staff")
@store_route
@manager_required
def people(store):
    return _staff_page(store)


@bp.post("/stores/<store_code>/staff/invite")
@store_route
@manager_required
def invite(store):
    form = _choices(InviteForm())
    made = {}

    def change():
        made["person"], made["password"] = staff.invite(
            by=current_user,
            email=form.email.data,
            name=form.name.data,
            role=form.role.data,
            store_codes=form.stores.data or [],
            language=form.language.data,
            actor=current_actor(),
        )

    status, trigger = save_form(form, change, gettext("Invitation ready."))
    if status != 200:
        return _staff_page(store, form, status, trigger)
    return _staff_page(store, status=201, trigger=trigger, shown=(made["person"], made["password"]))


@bp.get("/stores/<store_code>/staff/<int:user_id>")
@store_route
@manager_required
def person(store, user_id):
    return _person_page(store, _person(store, user_id))


@bp.post("/stores/<store_code>/staff/<int:user_id>/role")
@store_route
@manager_required
def update(store, user_id):
    person = _person(store, user_id)
    form = _choices(PersonForm())

    def change():
        staff.change_stores(by=current_user, person=person, store_codes=form.stores.data or [], actor=current_actor())
        staff.change_role(by=current_user, person=person, role=form.role.data, actor=current_actor())

    status, trigger = save_form(form, change)
    if status == 200 and store not in person.stores:  # no longer of this store: back to its list
        return _staff_page(store, trigger=trigger)
    return _person_page(store, person, form if status != 200 else None, status, trigger)


@bp.post("/stores/<store_code>/staff/<int:user_id>/deactivate")
@store_route
@manager_required
def deactivate(store, user_id):
    return _set_active(store, user_id, False)


@bp.post("/stores/<store_code>/staff/<int:user_id>/reactivate")
@store_route
@manager_required
def reactivate(store, user_id):
    return _set_active(store, user_id, True)


def _set_active(store, user_id, active: bool):
    person = _person(store, user_id)
    saved = (
        gettext("%(name)s may sign in again.", name=person.name)
        if active
        else gettext("%(name)s is deactivated and signed out everywhere.", name=person.name)
    )

    def change():
        staff.set_active(by=current_user, person=person, active=active, actor=current_actor())

    status, trigger = save_form(None, change, saved)
    return _person_page(store, person, status=status, trigger=trigger)


@bp.post("/stores/<store_code>/staff/<int:user_id>/password")
@store_route
@manager_required
def reset_password(store, user_id):
    person = _person(store, user_id)
    made = {}

    def change():
        made["password"] = staff.reset_password(by=current_user, person=person, actor=current_actor())

    status, trigger = save_form(
        None, change, gettext("New temporary password for %(name)s; they are signed out everywhere.", name=person.name)
    )
    return _person_page(store, person, status=status, trigger=trigger, shown=made.get("password"))


@bp.post("/stores/<store_code>/staff/<int:user_id>/badge")
@store_route
@manager_required
def badge(store, user_id):
    """Give the person the badge scanned into the field, or take theirs back (the clear button)."""
    person = _person(store, user_id)
    form = BadgeForm()
    if "clear" in request.form:
        status, trigger = save_form(
            None, lambda: switch.clear_badge(person, actor=current_actor()), gettext("Badge taken back.")
        )
        return _person_page(store, person, status=status, trigger=trigger)
    status, trigger = save_form(
        form, lambda: switch.set_badge(person, form.badge.data, actor=current_actor()), gettext("Badge given.")
    )
    return _person_page(store, person, status=status, trigger=trigger, badge_form=form if status != 200 else None)
