"""Boxes and bags of a store (package types), kept by its managers."""

from flask import Blueprint, abort, request
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from app.core.floor import packing
from app.core.models import PackageType
from app.core.uow import unit_of_work
from app.extensions import db
from app.web.helpers import current_actor, manager_required, render, save_form, store_route, toast

bp = Blueprint("boxes", __name__)


class PackageTypeForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=80)])
    length_mm = IntegerField(lazy_gettext("Length (mm)"), validators=[InputRequired(), NumberRange(min=1, max=5000)])
    width_mm = IntegerField(lazy_gettext("Width (mm)"), validators=[InputRequired(), NumberRange(min=1, max=5000)])
    height_mm = IntegerField(lazy_gettext("Height (mm)"), validators=[InputRequired(), NumberRange(min=1, max=5000)])
    tare_grams = IntegerField(
        lazy_gettext("Empty weight (g)"), default=0, validators=[InputRequired(), NumberRange(min=0, max=50_000)]
    )


def _package_type(store, package_type_id: int) -> PackageType:
    package_type = db.session.get(PackageType, package_type_id)
    if package_type is None or package_type.location_id != store.id:
        abort(404)
    return package_type


def _package_types_page(store, form=None, status=200, trigger=None):
    return render(
        "pack/package_types.html",
        status=status,
        trigger=trigger,
        store=store,
        form=form or PackageTypeForm(formdata=None),
        boxes=packing.package_types(store, include_inactive=True),
    )


@bp.route("/stores/<store_code>/package-types", methods=["GET", "POST"])
@store_route
@manager_required
def package_types(store):
    if request.method == "GET":
        return _package_types_page(store)
    form = PackageTypeForm()
    values = {name: getattr(form, name).data for name in ("name", "length_mm", "width_mm", "height_mm", "tare_grams")}
    added = gettext("Box %(name)s added.", name=values["name"])
    status, trigger = save_form(form, lambda: packing.add_package_type(store, values, actor=current_actor()), added)
    return _package_types_page(store, form if status != 200 else None, status, trigger)


@bp.post("/stores/<store_code>/package-types/<int:package_type_id>/deactivate")
@store_route
@manager_required
def package_type_deactivate(store, package_type_id):
    box = _package_type(store, package_type_id)
    with unit_of_work():
        packing.deactivate_package_type(box, actor=current_actor())
    return _package_types_page(store, trigger=toast(gettext("Box %(name)s is no longer offered.", name=box.name)))
