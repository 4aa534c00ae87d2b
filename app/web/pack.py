"""Packing, labels, printing and dispatch screens; package types per store; carriers for admins."""

import re

from flask import Blueprint, Response, abort, redirect, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from app.core import carriers, commands, packing, printing
from app.core import dispatch as handover
from app.core.errors import DomainError
from app.core.models import (
    Carrier,
    CarrierService,
    Fulfilment,
    FulfilmentLine,
    Manifest,
    PackageType,
    Parcel,
    PrintJob,
    ShippingLabel,
)
from app.core.models import FulfilmentStatus as S
from app.core.uow import unit_of_work
from app.documents import (
    customer_address,
    label_document,
    manifest_captions,
    slip_captions,
    store_address,
)
from app.extensions import db
from app.formatting import customer_locale, money, store_date, store_time
from app.web.helpers import current_actor, domain_message, render, role_required, store_route, toast
from labels import data as ld
from labels.barcodes import code128_svg
from labels.documents import manifest_pdf, packing_slip_pdf
from labels.shipping import label_pdf, label_zpl, labels_pdf

bp = Blueprint("pack", __name__)

BARCODE_TEXT = re.compile(r"^[A-Z0-9:-]{1,40}$")
SLIP_SIZES = ("a4", "4x6")
CHUNK = 10
FORMAT_LABELS = {
    "s10": lazy_gettext("UPU S10 (letters, digits, check digit, country)"),
    "luhn": lazy_gettext("Digits with a Luhn check digit"),
}


def _pdf(body: bytes, filename: str, mimetype: str = "application/pdf") -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


# --- look-ups: 404 for another store's records -------------------------------------------------------


def _fulfilment(store, fulfilment_id: int) -> Fulfilment:
    fulfilment = db.session.get(Fulfilment, fulfilment_id)
    if fulfilment is None or fulfilment.location_id != store.id:
        abort(404)
    return fulfilment


def _parcel(store, parcel_id: int) -> Parcel:
    parcel = db.session.get(Parcel, parcel_id)
    if parcel is None or parcel.fulfilment.location_id != store.id:
        abort(404)
    return parcel


def _label(store, label_id: int) -> ShippingLabel:
    label = db.session.get(ShippingLabel, label_id)
    if label is None or label.parcel.fulfilment.location_id != store.id:
        abort(404)
    return label


def _package_type(store, package_type_id: int) -> PackageType:
    package_type = db.session.get(PackageType, package_type_id)
    if package_type is None or package_type.location_id != store.id:
        abort(404)
    return package_type


def _job(store, job_id: int) -> PrintJob:
    job = db.session.get(PrintJob, job_id)
    if job is None or job.location_id != store.id:
        abort(404)
    return job


# --- forms ------------------------------------------------------------------------------------------


class ParcelForm(FlaskForm):
    package_type = SelectField(lazy_gettext("Box"), coerce=int, validators=[InputRequired()])
    weight_grams = IntegerField(
        lazy_gettext("Weight (g)"), validators=[InputRequired(), NumberRange(min=1, max=carriers.MAX_WEIGHT)]
    )
    service = SelectField(lazy_gettext("Service"), coerce=int, validators=[InputRequired()])


class MoveForm(FlaskForm):
    line = HiddenField(validators=[DataRequired()])
    expected = HiddenField(validators=[DataRequired()])
    quantity = IntegerField(lazy_gettext("Units"), validators=[InputRequired(), NumberRange(min=1, max=10_000)])
    to = SelectField(lazy_gettext("To parcel"), coerce=int, validators=[InputRequired()])


class ServiceChoiceForm(FlaskForm):
    service = SelectField(lazy_gettext("Service"), coerce=int, validators=[InputRequired()])


class PackageTypeForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=80)])
    length_mm = IntegerField(lazy_gettext("Length (mm)"), validators=[InputRequired(), NumberRange(min=1, max=5000)])
    width_mm = IntegerField(lazy_gettext("Width (mm)"), validators=[InputRequired(), NumberRange(min=1, max=5000)])
    height_mm = IntegerField(lazy_gettext("Height (mm)"), validators=[InputRequired(), NumberRange(min=1, max=5000)])
    tare_grams = IntegerField(
        lazy_gettext("Empty weight (g)"), default=0, validators=[InputRequired(), NumberRange(min=0, max=50_000)]
    )


class CarrierForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=80)])
    max_weight_grams = IntegerField(
        lazy_gettext("Heaviest parcel (g)"), validators=[InputRequired(), NumberRange(min=1, max=carriers.MAX_WEIGHT)]
    )
    tracking_format = SelectField(
        lazy_gettext("Tracking number format"),
        choices=[SelectChoice(value, label) for value, label in FORMAT_LABELS.items()],
    )
    tracking_prefix = StringField(lazy_gettext("Tracking prefix"), validators=[Length(max=8)])
    tracking_suffix = StringField(lazy_gettext("Tracking suffix (country)"), validators=[Length(max=4)])
    active = BooleanField(lazy_gettext("In use"))


class ServiceForm(FlaskForm):
    code = StringField(lazy_gettext("Code"), validators=[DataRequired(), Length(max=16)])
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=80)])
    price = StringField(lazy_gettext("Price (EUR)"), validators=[DataRequired(), Length(max=12)])
    transit_days = IntegerField(
        lazy_gettext("Working days in transit"), validators=[InputRequired(), NumberRange(min=0, max=30)]
    )
    max_weight_grams = IntegerField(
        lazy_gettext("Heaviest parcel (g)"), validators=[InputRequired(), NumberRange(min=1, max=carriers.MAX_WEIGHT)]
    )
    active = BooleanField(lazy_gettext("In use"), default=True)


def _service_choices(weight=None) -> list[SelectChoice]:
    return [
        SelectChoice(
            s.id,
            ngettext(
                "%(carrier)s · %(service)s · %(price)s · %(num)d day",
                "%(carrier)s · %(service)s · %(price)s · %(num)d days",
                s.transit_days,
                carrier=s.carrier.name,
                service=s.name,
                price=money(s.price),
            ),
        )
        for s in carriers.active_services()
        if weight is None or carriers.takes(s, weight)
    ]


def _parcel_form(store, fulfilment, parcel, formdata=None) -> ParcelForm:
    boxes = packing.package_types(store)
    box = parcel.package_type or (boxes[0] if boxes else None)
    weight = parcel.weight_grams or packing.estimated_weight(parcel, box) or None
    service = parcel.service
    if service is None and weight:
        try:
            service = carriers.choose_service(fulfilment, weight)
        except DomainError:
            service = None
    form = ParcelForm(
        formdata=formdata,
        prefix=f"p{parcel.id}",
        package_type=box.id if box else None,
        weight_grams=weight,
        service=service.id if service else None,
    )
    form.package_type.choices = [
        SelectChoice(
            b.id,
            gettext("%(name)s (%(l)s × %(w)s × %(h)s mm)", name=b.name, l=b.length_mm, w=b.width_mm, h=b.height_mm),
        )
        for b in boxes
    ]
    form.service.choices = _service_choices()
    return form


def _move_form(fulfilment, parcel, item, formdata=None) -> MoveForm:
    form = MoveForm(
        formdata=formdata,
        prefix=f"m{parcel.id}-{item.fulfilment_line_id}",
        line=item.fulfilment_line_id,
        expected=item.quantity,
        quantity=1,
    )
    others = [p for p in fulfilment.parcels if p.id != parcel.id]
    form.to.choices = [SelectChoice(p.id, gettext("Parcel %(n)s", n=p.number)) for p in others]
    return form


def _relabel_form(parcel, formdata=None) -> ServiceChoiceForm:
    form = ServiceChoiceForm(formdata=formdata, prefix=f"r{parcel.id}", service=parcel.service_id)
    form.service.choices = _service_choices(parcel.weight_grams)
    return form


# --- the pack screen ----------------------------------------------------------------------------------


def _problems(fulfilment) -> list[str]:
    if fulfilment.status != S.PICKED:
        return []
    messages = []
    for text in packing.problems(fulfilment).values():
        message, params = text if isinstance(text, tuple) else (text, {})
        messages.append(gettext(message, **params))
    return messages


def _pack_page(store, fulfilment, *, status=200, trigger=None, forms=None, move_forms=None, relabel_forms=None):
    forms, move_forms, relabel_forms = forms or {}, move_forms or {}, relabel_forms or {}
    parcels = list(fulfilment.parcels)
    packing_open = fulfilment.status == S.PICKED
    if packing_open:
        for parcel in parcels:
            forms.setdefault(parcel.id, _parcel_form(store, fulfilment, parcel))
            for item in parcel.items:
                move_forms.setdefault((parcel.id, item.fulfilment_line_id), _move_form(fulfilment, parcel, item))
    else:
        for parcel in parcels:
            if parcel.label is None and parcel.handed_over_at is None:
                relabel_forms.setdefault(parcel.id, _relabel_form(parcel))
    scanned = packing.scanned_units(fulfilment) if store.scan_to_pack else {}
    return render(
        "pack/pack.html",
        "pack/_pack.html",
        status=status,
        trigger=trigger,
        store=store,
        fulfilment=fulfilment,
        order=fulfilment.order,
        parcels=parcels,
        packing_open=packing_open,
        gift_step=packing.needs_gift_step(fulfilment),
        forms=forms,
        move_forms=move_forms,
        relabel_forms=relabel_forms,
        problems=_problems(fulfilment),
        scanned=scanned,
        has_boxes=bool(packing.package_types(store)),
        estimates={p.id: packing.estimated_weight(p) for p in parcels},
        commands={"new_parcel": commands.NEW_PARCEL, "confirm": commands.CONFIRM},
        scan_url=url_for("pack.pack_scan", store_code=store.code, fulfilment_id=fulfilment.id),
        scan_target="#pack",
    )


def _change(store, fulfilment, change, success: str, **page):
    """Run a change in one transaction; re-render the pack screen with a toast either way."""
    try:
        with unit_of_work():
            change()
    except DomainError as error:
        db.session.rollback()
        db.session.expire_all()
        return _pack_page(
            store, fulfilment, status=error.http_status, trigger=toast(domain_message(error), "error"), **page
        )
    return _pack_page(store, fulfilment, trigger=toast(success))


@bp.get("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack")
@store_route
def pack(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    if fulfilment.status not in {S.PICKED, S.PACKED, S.SHIPPED}:
        abort(404)
    if fulfilment.status == S.PICKED and not fulfilment.parcels:
        try:  # opening the screen opens packing: parcel 1 with every picked unit (idempotent)
            with unit_of_work():
                packing.start_packing(fulfilment, actor=current_actor())
        except DomainError:
            db.session.rollback()
    return _pack_page(store, fulfilment)


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/gift")
@store_route
def gift(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    return _change(
        store,
        fulfilment,
        lambda: packing.gift_done(fulfilment, actor=current_actor()),
        gettext("Gift step done."),
    )


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/parcels")
@store_route
def new_parcel(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    return _change(
        store, fulfilment, lambda: packing.new_parcel(fulfilment, actor=current_actor()), gettext("New parcel open.")
    )


def _closed(store, fulfilment):
    """Packing is over (a late or repeated request): show the labels instead, saying so."""
    return _pack_page(store, fulfilment, status=409, trigger=toast(gettext("This order is already packed."), "error"))


@bp.post("/stores/<store_code>/parcels/<int:parcel_id>/settings")
@store_route
def parcel_settings(store, parcel_id):
    parcel = _parcel(store, parcel_id)
    fulfilment = parcel.fulfilment
    if fulfilment.status != S.PICKED:
        return _closed(store, fulfilment)
    form = _parcel_form(store, fulfilment, parcel, request.form)
    if not form.validate():
        return _pack_page(
            store,
            fulfilment,
            status=422,
            trigger=toast(gettext("Some values are not valid."), "error"),
            forms={parcel.id: form},
        )
    box = db.session.get(PackageType, form.package_type.data)
    service = db.session.get(CarrierService, form.service.data)

    def change():
        packing.set_parcel(
            parcel, package_type=box, weight_grams=form.weight_grams.data, service=service, actor=current_actor()
        )

    try:
        with unit_of_work():
            change()
    except DomainError as error:
        db.session.rollback()
        db.session.expire_all()
        form = _parcel_form(store, fulfilment, parcel, request.form)
        form.validate()
        for name, text in error.field_messages(gettext).items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [*field.errors, text]
        return _pack_page(
            store,
            fulfilment,
            status=error.http_status,
            trigger=toast(domain_message(error), "error"),
            forms={parcel.id: form},
        )
    return _pack_page(store, fulfilment, trigger=toast(gettext("Parcel %(n)s saved.", n=parcel.number)))


@bp.post("/stores/<store_code>/parcels/<int:parcel_id>/move")
@store_route
def move(store, parcel_id):
    source = _parcel(store, parcel_id)
    fulfilment = source.fulfilment
    if fulfilment.status != S.PICKED:
        return _closed(store, fulfilment)
    line_id = request.form.get("item", "")
    item = next((i for i in source.items if str(i.fulfilment_line_id) == line_id), None)
    if item is None:
        return _pack_page(
            store,
            fulfilment,
            status=409,
            trigger=toast(gettext("This was already changed. Check the parcels and try again."), "error"),
        )
    form = _move_form(fulfilment, source, item, request.form)
    if not form.validate():
        return _pack_page(
            store,
            fulfilment,
            status=422,
            trigger=toast(gettext("Some values are not valid."), "error"),
            move_forms={(source.id, item.fulfilment_line_id): form},
        )
    target = db.session.get(Parcel, form.to.data)
    line = db.session.get(FulfilmentLine, item.fulfilment_line_id)
    expected = int(form.expected.data) if form.expected.data.isdigit() else -1
    return _change(
        store,
        fulfilment,
        lambda: packing.move_items(
            fulfilment, target, {line: form.quantity.data}, actor=current_actor(), source=source, expected=expected
        ),
        gettext("Moved to parcel %(n)s.", n=target.number if target else ""),
    )


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/parcels/<int:parcel_id>/remove")
@store_route
def remove_parcel(store, fulfilment_id, parcel_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    parcel = db.session.get(Parcel, parcel_id)
    if parcel is None:  # removed already: a resend
        return _pack_page(store, fulfilment, trigger=toast(gettext("Parcel removed.")))
    if parcel.fulfilment_id != fulfilment.id:
        abort(404)
    return _change(
        store,
        fulfilment,
        lambda: packing.remove_parcel(fulfilment, parcel, actor=current_actor()),
        gettext("Parcel removed."),
    )


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/finish")
@store_route
def finish(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    return _change(
        store,
        fulfilment,
        lambda: packing.finish_packing(fulfilment, actor=current_actor()),
        gettext("Packing finished: labels are ready."),
    )


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/scan")
@store_route
def pack_scan(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    code = request.form.get("code", "")[:64]
    try:
        with unit_of_work():
            outcome = packing.pack_scan(
                fulfilment,
                None,
                code,
                request.form.get("scan_id", ""),
                actor=current_actor(),
                user=current_user,
            )
    except DomainError as error:
        db.session.rollback()
        db.session.expire_all()
        return _pack_page(
            store,
            fulfilment,
            status=error.http_status,
            trigger={"scan": {"ok": False}, **toast(domain_message(error), "error")},
        )
    message = gettext(outcome.message, **outcome.params)
    return _pack_page(
        store,
        fulfilment,
        status=200 if outcome.ok else 422,
        trigger={"scan": {"ok": outcome.ok}, **toast(message, "success" if outcome.ok else "error")},
    )


# --- labels --------------------------------------------------------------------------------------------


def _active_label(parcel) -> ShippingLabel:
    label = parcel.label
    if label is None:
        abort(404)
    return label


@bp.get("/stores/<store_code>/parcels/<int:parcel_id>/label.pdf")
@store_route
def label_pdf_view(store, parcel_id):
    label = _active_label(_parcel(store, parcel_id))
    return _pdf(label_pdf(label_document(label)), f"label-{label.tracking_number}.pdf")


@bp.get("/stores/<store_code>/parcels/<int:parcel_id>/label.zpl")
@store_route
def label_zpl_view(store, parcel_id):
    label = _active_label(_parcel(store, parcel_id))
    return _pdf(label_zpl(label_document(label)), f"label-{label.tracking_number}.zpl", "text/plain")


@bp.post("/stores/<store_code>/labels/<int:label_id>/reprint")
@store_route
def reprint(store, label_id):
    label = _label(store, label_id)
    fulfilment = label.parcel.fulfilment
    try:
        with unit_of_work():
            packing.reprint(label, actor=current_actor())
    except DomainError as error:
        db.session.rollback()
        return _pack_page(store, fulfilment, status=error.http_status, trigger=toast(domain_message(error), "error"))
    return redirect(url_for("pack.label_pdf_view", store_code=store.code, parcel_id=label.parcel_id), 303)


@bp.post("/stores/<store_code>/labels/<int:label_id>/void")
@store_route
def void(store, label_id):
    label = _label(store, label_id)
    fulfilment = label.parcel.fulfilment
    return _change(
        store,
        fulfilment,
        lambda: packing.void_label(label, actor=current_actor()),
        gettext("Label %(number)s voided.", number=label.tracking_number),
    )


@bp.post("/stores/<store_code>/parcels/<int:parcel_id>/relabel")
@store_route
def relabel(store, parcel_id):
    parcel = _parcel(store, parcel_id)
    fulfilment = parcel.fulfilment
    form = _relabel_form(parcel, request.form)
    if not form.validate():
        return _pack_page(
            store,
            fulfilment,
            status=422,
            trigger=toast(gettext("Some values are not valid."), "error"),
            relabel_forms={parcel.id: form},
        )
    service = db.session.get(CarrierService, form.service.data)
    return _change(
        store,
        fulfilment,
        lambda: packing.relabel(parcel, service, actor=current_actor()),
        gettext("New label issued for parcel %(n)s.", n=parcel.number),
    )


@bp.post("/stores/<store_code>/parcels/<int:parcel_id>/print-zpl")
@store_route
def print_zpl(store, parcel_id):
    parcel = _parcel(store, parcel_id)
    fulfilment = parcel.fulfilment

    def change():
        label = parcel.label
        if label is None:
            raise packing.PackRefused(packing.N_("This parcel has no label in force."))
        if not store.zpl_printer:
            raise packing.PackRefused(packing.N_("This store has no thermal printer set."))
        packing.reprint(label, actor=current_actor())
        printing.send_zpl(store.zpl_printer, label_zpl(label_document(label)))

    return _change(store, fulfilment, change, gettext("Sent to the thermal printer."))


@bp.get("/stores/<store_code>/fulfilments/<int:fulfilment_id>/packing-slip.pdf")
@store_route
def packing_slip(store, fulfilment_id):
    fulfilment = _fulfilment(store, fulfilment_id)
    size = request.args.get("size", "a4")
    if size not in SLIP_SIZES or fulfilment.status not in {S.PICKED, S.PACKED, S.SHIPPED}:
        abort(404)
    order = fulfilment.order
    items = tuple(
        ld.SlipItem(sku=line.product.sku, name=line.product.name, quantity=line.picked, gtin=line.product.gtin or "")
        for line in fulfilment.lines
        if line.picked
    )
    count = len(fulfilment.parcels)
    with customer_locale(order):
        slip = ld.PackingSlip(
            store_name=store.name,
            store_address=store_address(store),
            order_reference=order.reference,
            when=store_date(order.created_at, store),
            customer=customer_address(order),
            items=items,
            gift_message=order.gift_message or "",
            parcel_summary=ngettext("%(num)s parcel", "%(num)s parcels", count) if count else "",
            captions=slip_captions(),
        )
    return _pdf(packing_slip_pdf(slip, size=size), f"packing-slip-{order.reference}-{size}.pdf")


@bp.get("/barcodes/<path:text>.svg")
@login_required
def barcode(text):
    value = text.strip().upper()
    if commands.command(value) is None and not BARCODE_TEXT.match(value):
        abort(404)
    response = Response(code128_svg(value), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


# --- dispatch ------------------------------------------------------------------------------------------


def _dispatch_page(store, *, status=200, trigger=None):
    ready = packing.ready_parcels(store)
    done = handover.handed_over_today(store)
    groups = {}
    for carrier in carriers.all_carriers():
        groups[carrier.id] = {"carrier": carrier, "ready": [], "done": []}
    for parcel in ready:
        groups.setdefault(parcel.label.carrier_id, {"carrier": parcel.label.carrier, "ready": [], "done": []})
        groups[parcel.label.carrier_id]["ready"].append(parcel)
    for parcel in done:
        label = next((lbl for lbl in reversed(parcel.labels) if lbl.status == "active"), None)
        if label is not None:
            groups.setdefault(label.carrier_id, {"carrier": label.carrier, "ready": [], "done": []})
            groups[label.carrier_id]["done"].append(parcel)
    shown = [g for g in groups.values() if g["ready"] or g["done"]]
    open_manifests = {
        m.carrier_id: m
        for m in db.session.scalars(
            select(Manifest).where(Manifest.location_id == store.id, Manifest.status == "open").order_by(Manifest.id)
        )
    }
    return render(
        "pack/dispatch.html",
        "pack/_dispatch.html",
        status=status,
        trigger=trigger,
        store=store,
        groups=shown,
        ready_count=len(ready),
        done_count=len(done),
        manifests=open_manifests,
        scan_url=url_for("pack.dispatch_scan", store_code=store.code),
        scan_target="#dispatch",
    )


@bp.get("/stores/<store_code>/dispatch")
@store_route
def dispatch(store):
    return _dispatch_page(store)


@bp.post("/stores/<store_code>/dispatch/scan")
@store_route
def dispatch_scan(store):
    try:
        with unit_of_work():
            outcome = handover.hand_over(
                store,
                request.form.get("code", "")[:64],
                request.form.get("scan_id", ""),
                actor=current_actor(),
                user=current_user,
            )
    except DomainError as error:
        db.session.rollback()
        return _dispatch_page(
            store,
            status=error.http_status,
            trigger={"scan": {"ok": False}, **toast(domain_message(error), "error")},
        )
    params = {k: v for k, v in outcome.params.items() if k != "shipped"}
    message = gettext(outcome.message, **params)
    if outcome.params.get("shipped"):
        message += " " + gettext("Shipped: %(refs)s.", refs=", ".join(outcome.params["shipped"]))
    return _dispatch_page(store, trigger={"scan": {"ok": outcome.ok}, **toast(message)})


@bp.post("/stores/<store_code>/dispatch/manifests")
@store_route
def manifest_open(store):
    carrier_id = request.form.get("carrier_id", "")
    carrier = db.session.get(Carrier, int(carrier_id)) if carrier_id.isdigit() and len(carrier_id) < 10 else None
    if carrier is None:
        return _dispatch_page(store, status=422, trigger=toast(gettext("Choose a carrier."), "error"))
    with unit_of_work():
        manifest = handover.open_manifest(store, carrier, actor=current_actor())
    return redirect(url_for("pack.manifest_pdf_view", store_code=store.code, manifest_id=manifest.id), 303)


@bp.get("/stores/<store_code>/manifests/<int:manifest_id>.pdf")
@store_route
def manifest_pdf_view(store, manifest_id):
    manifest = db.session.get(Manifest, manifest_id)
    if manifest is None or manifest.location_id != store.id:
        abort(404)
    parcels = tuple(
        ld.ManifestParcel(
            tracking_number=label.tracking_number,
            order_reference=p.fulfilment.order.reference,
            weight_grams=p.weight_grams or 0,
            parcel_no=p.number,
            parcel_count=len(p.fulfilment.parcels),
            service_name=label.service.name,
        )
        for p in manifest.parcels
        for label in [next((lbl for lbl in reversed(p.labels) if lbl.status == "active"), None)]
        if label is not None
    )
    document = ld.Manifest(
        number=manifest.number,
        carrier_name=manifest.carrier.name,
        store_name=store.name,
        store_address=store_address(store),
        when=store_time(manifest.created_at, store),
        parcels=parcels,
        captions=manifest_captions(),
    )
    return _pdf(manifest_pdf(document), f"{manifest.number}.pdf")


@bp.post("/stores/<store_code>/dispatch/print-zpl")
@store_route
def dispatch_print_zpl(store):
    ready = packing.ready_parcels(store)
    try:
        if not store.zpl_printer:
            raise packing.PackRefused(packing.N_("This store has no thermal printer set."))
        if not ready:
            raise packing.PackRefused(packing.N_("There is no label to print."))
        with unit_of_work():
            for parcel in ready:
                packing.reprint(parcel.label, actor=current_actor())
            printing.send_zpl(store.zpl_printer, b"".join(label_zpl(label_document(p.label)) for p in ready))
    except DomainError as error:
        db.session.rollback()
        return _dispatch_page(store, status=error.http_status, trigger=toast(domain_message(error), "error"))
    sent = ngettext(
        "%(num)d label sent to the thermal printer.", "%(num)d labels sent to the thermal printer.", len(ready)
    )
    return _dispatch_page(store, trigger=toast(sent))


# --- print jobs -----------------------------------------------------------------------------------------


@bp.post("/stores/<store_code>/print-jobs")
@store_route
def print_job_start(store):
    ready = packing.ready_parcels(store)
    try:
        with unit_of_work():
            job = printing.start_print_job(store, [p.label.id for p in ready], current_user, actor=current_actor())
    except DomainError as error:
        db.session.rollback()
        return _dispatch_page(store, status=error.http_status, trigger=toast(domain_message(error), "error"))
    return redirect(url_for("pack.print_job", store_code=store.code, job_id=job.id), 303)


def _job_page(store, job, status=200):
    return render("pack/print_job.html", "pack/_print_progress.html", status=status, store=store, job=job)


@bp.get("/stores/<store_code>/print-jobs/<int:job_id>")
@store_route
def print_job(store, job_id):
    return _job_page(store, _job(store, job_id))


@bp.post("/stores/<store_code>/print-jobs/<int:job_id>/step")
@store_route
def print_job_step(store, job_id):
    job = _job(store, job_id)
    with unit_of_work():
        printing.print_step(job, lambda rows: labels_pdf(label_document(r) for r in rows), size=CHUNK)
    return _job_page(store, job)


@bp.get("/stores/<store_code>/print-jobs/<int:job_id>.pdf")
@store_route
def print_job_pdf(store, job_id):
    job = _job(store, job_id)
    if job.status != "done":
        abort(404)
    return _pdf(printing.job_pdf(job), f"labels-{job.id}.pdf")


# --- package types (managers) -------------------------------------------------------------------------------


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
@role_required("manager", "admin")
def package_types(store):
    if request.method == "GET":
        return _package_types_page(store)
    form = PackageTypeForm()
    if not form.validate():
        return _package_types_page(store, form, 422, toast(gettext("Some values are not valid."), "error"))
    values = {name: getattr(form, name).data for name in ("name", "length_mm", "width_mm", "height_mm", "tare_grams")}
    try:
        with unit_of_work():
            packing.add_package_type(store, values, actor=current_actor())
    except DomainError as error:
        db.session.rollback()
        _field_errors(form, error)
        return _package_types_page(store, form, error.http_status, toast(domain_message(error), "error"))
    return _package_types_page(store, trigger=toast(gettext("Box %(name)s added.", name=values["name"])))


@bp.post("/stores/<store_code>/package-types/<int:package_type_id>/deactivate")
@store_route
@role_required("manager", "admin")
def package_type_deactivate(store, package_type_id):
    box = _package_type(store, package_type_id)
    with unit_of_work():
        packing.deactivate_package_type(box, actor=current_actor())
    return _package_types_page(store, trigger=toast(gettext("Box %(name)s is no longer offered.", name=box.name)))


def _field_errors(form, error: DomainError) -> None:
    for name, text in error.field_messages(gettext).items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*(field.errors or []), text]


# --- carriers (admins) ----------------------------------------------------------------------------------------


def _carrier_forms(carrier, formdata=None):
    form = CarrierForm(formdata=formdata, obj=carrier, prefix=f"c{carrier.id}")
    return form


def _carriers_page(status=200, trigger=None, forms=None, service_forms=None, new_service_forms=None):
    forms, service_forms, new_service_forms = forms or {}, service_forms or {}, new_service_forms or {}
    rows = carriers.all_carriers()
    for carrier in rows:
        forms.setdefault(carrier.id, _carrier_forms(carrier))
        new_service_forms.setdefault(carrier.id, ServiceForm(formdata=None, prefix=f"n{carrier.id}"))
        for service in carrier.services:
            service_forms.setdefault(service.id, ServiceForm(formdata=None, obj=service, prefix=f"s{service.id}"))
    return render(
        "pack/carriers.html",
        status=status,
        trigger=trigger,
        carriers=rows,
        forms=forms,
        service_forms=service_forms,
        new_service_forms=new_service_forms,
    )


def _admin_save(form, change, page_forms: dict):
    if not form.validate():
        return _carriers_page(422, toast(gettext("Some values are not valid."), "error"), **page_forms)
    try:
        with unit_of_work():
            change()
    except DomainError as error:
        db.session.rollback()
        db.session.expire_all()
        _field_errors(form, error)
        return _carriers_page(error.http_status, toast(domain_message(error), "error"), **page_forms)
    return _carriers_page(200, toast(gettext("Saved.")))


@bp.get("/admin/carriers")
@login_required
@role_required("admin")
def carrier_list():
    if not carriers.all_carriers():
        with unit_of_work():
            carriers.ensure_builtin_carriers()
    return _carriers_page()


@bp.post("/admin/carriers/<int:carrier_id>")
@login_required
@role_required("admin")
def carrier_update(carrier_id):
    carrier = db.session.get(Carrier, carrier_id)
    if carrier is None:
        abort(404)
    form = _carrier_forms(carrier, request.form)
    names = ("name", "max_weight_grams", "tracking_format", "tracking_prefix", "tracking_suffix", "active")
    values = {name: getattr(form, name).data for name in names}
    values["tracking_suffix"] = values["tracking_suffix"] or ""
    values["tracking_prefix"] = values["tracking_prefix"] or ""
    return _admin_save(
        form, lambda: carriers.update_carrier(carrier, values, actor=current_actor()), {"forms": {carrier.id: form}}
    )


def _service_values(form) -> dict:
    return {
        name: getattr(form, name).data
        for name in ("code", "name", "price", "transit_days", "max_weight_grams", "active")
    }


@bp.post("/admin/carriers/<int:carrier_id>/services")
@login_required
@role_required("admin")
def service_add(carrier_id):
    carrier = db.session.get(Carrier, carrier_id)
    if carrier is None:
        abort(404)
    form = ServiceForm(formdata=request.form, prefix=f"n{carrier.id}")
    return _admin_save(
        form,
        lambda: carriers.add_service(carrier, _service_values(form), actor=current_actor()),
        {"new_service_forms": {carrier.id: form}},
    )


@bp.post("/admin/carrier-services/<int:service_id>")
@login_required
@role_required("admin")
def service_update(service_id):
    service = db.session.get(CarrierService, service_id)
    if service is None:
        abort(404)
    form = ServiceForm(formdata=request.form, prefix=f"s{service.id}")
    return _admin_save(
        form,
        lambda: carriers.update_service(service, _service_values(form), actor=current_actor()),
        {"service_forms": {service.id: form}},
    )
