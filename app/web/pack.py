"""The pack screen: parcels of a picked fulfilment, their box, weight and service, scans, finishing; the slip.

A click & collect transfer is packed here too, addressed to its pickup store (app.documents.destination)."""

from flask import Blueprint, abort, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, NumberRange

from app.core.errors import CollectNotShipped, DomainError
from app.core.floor import carriers, commands, packing, pickups
from app.core.models import CarrierService, Fulfilment, FulfilmentLine, PackageType, Parcel
from app.core.models import FulfilmentStatus as S
from app.core.uow import unit_of_work
from app.documents import packing_slip_document
from app.extensions import db
from app.formatting import money
from app.web.helpers import current_actor, document_response, domain_message, render, say, store_route, toast

bp = Blueprint("pack", __name__)

SLIP_SIZES = ("a4", "4x6")


# --- look-ups: 404 for another store's records -------------------------------------------------------


def find_fulfilment(store, fulfilment_id: int) -> Fulfilment:
    fulfilment = db.session.get(Fulfilment, fulfilment_id)
    if fulfilment is None or fulfilment.location_id != store.id:
        abort(404)
    return fulfilment


def find_parcel(store, parcel_id: int) -> Parcel:
    parcel = db.session.get(Parcel, parcel_id)
    if parcel is None or parcel.fulfilment.location_id != store.id:
        abort(404)
    return parcel


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
    """The parcel's box, weight and service as finishing would take them (saved, else suggested)."""
    boxes = packing.package_types(store)
    choice = packing.parcel_choice(parcel)
    service = parcel.service
    if service is None and choice.weight_grams:
        try:
            service = carriers.choose_service(fulfilment, choice.weight_grams)
        except DomainError:
            service = None
    form = ParcelForm(
        formdata=formdata,
        prefix=f"p{parcel.id}",
        package_type=choice.package_type.id if choice.package_type else None,
        weight_grams=choice.weight_grams,
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


def relabel_form(parcel, formdata=None) -> ServiceChoiceForm:
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
        messages.append(say(message, params))
    return messages


def _not_shipped(store, fulfilment, error: CollectNotShipped, trigger=None):
    """A click & collect order opened on the pack screen: no parcel, no address; say what comes next instead."""
    return render(
        "pack/pack.html",
        "pack/_not_shipped.html",
        body="pack/_not_shipped.html",
        status=error.http_status,
        trigger=trigger,
        store=store,
        fulfilment=fulfilment,
        order=fulfilment.order,
        message=domain_message(error),
    )


def pack_page(store, fulfilment, *, status=200, trigger=None, forms=None, move_forms=None, relabel_forms=None):
    try:
        packing.require_shipping(fulfilment)
    except CollectNotShipped as error:
        return _not_shipped(store, fulfilment, error, trigger)
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
                relabel_forms.setdefault(parcel.id, relabel_form(parcel))
    scanned = packing.scanned_units(fulfilment) if store.scan_to_pack else {}
    return render(
        "pack/pack.html",
        "pack/_pack.html",
        status=status,
        trigger=trigger,
        store=store,
        fulfilment=fulfilment,
        order=fulfilment.order,
        transfer_to=fulfilment.transfer_to if pickups.is_transfer(fulfilment) else None,
        parcels=parcels,
        packing_open=packing_open,
        gift_step=packing.needs_gift_step(fulfilment),
        forms=forms,
        move_forms=move_forms,
        relabel_forms=relabel_forms,
        problems=_problems(fulfilment),
        scanned=scanned,
        has_boxes=bool(packing.package_types(store)),
        choices={p.id: packing.parcel_choice(p) for p in parcels},
        commands={"new_parcel": commands.NEW_PARCEL, "confirm": commands.CONFIRM},
        scan_url=url_for("pack.pack_scan", store_code=store.code, fulfilment_id=fulfilment.id),
        scan_target="#pack",
    )


def refused_form(store, fulfilment, **forms):
    """The pack screen again with a form that did not validate, as posted, its fields marked."""
    return pack_page(
        store, fulfilment, status=422, trigger=toast(gettext("Some values are not valid."), "error"), **forms
    )


def pack_change(store, fulfilment, change, success: str, **page):
    """Run a change in one transaction; re-render the pack screen with a toast either way."""
    try:
        with unit_of_work():
            change()
    except DomainError as error:
        db.session.expire_all()
        return pack_page(
            store, fulfilment, status=error.http_status, trigger=toast(domain_message(error), "error"), **page
        )
    return pack_page(store, fulfilment, trigger=toast(success))


@bp.get("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack")
@store_route
def pack(store, fulfilment_id):
    fulfilment = find_fulfilment(store, fulfilment_id)
    if fulfilment.status not in {S.PICKED, S.PACKED, S.SHIPPED}:
        abort(404)
    if fulfilment.status == S.PICKED and not fulfilment.parcels:
        try:  # opening the screen opens packing: parcel 1 with every picked unit (idempotent)
            with unit_of_work():
                packing.start_packing(fulfilment, actor=current_actor())
        except DomainError:
            pass  # refused (unit_of_work rolled back): the page shows the fulfilment as it is
    return pack_page(store, fulfilment)


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/gift")
@store_route
def gift(store, fulfilment_id):
    fulfilment = find_fulfilment(store, fulfilment_id)
    return pack_change(
        store,
        fulfilment,
        lambda: packing.gift_done(fulfilment, actor=current_actor()),
        gettext("Gift step done."),
    )


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/parcels")
@store_route
def new_parcel(store, fulfilment_id):
    fulfilment = find_fulfilment(store, fulfilment_id)
    return pack_change(
        store, fulfilment, lambda: packing.new_parcel(fulfilment, actor=current_actor()), gettext("New parcel open.")
    )


def _closed(store, fulfilment):
    """Packing is over (a late or repeated request): show the labels instead, saying so."""
    return pack_page(store, fulfilment, status=409, trigger=toast(gettext("This order is already packed."), "error"))


@bp.post("/stores/<store_code>/parcels/<int:parcel_id>/settings")
@store_route
def parcel_settings(store, parcel_id):
    parcel = find_parcel(store, parcel_id)
    fulfilment = parcel.fulfilment
    if fulfilment.status != S.PICKED:
        return _closed(store, fulfilment)
    form = _parcel_form(store, fulfilment, parcel, request.form)
    if not form.validate():
        return refused_form(store, fulfilment, forms={parcel.id: form})
    try:
        with unit_of_work():
            _save_parcel(parcel, form)
    except DomainError as error:
        db.session.expire_all()
        form = _parcel_form(store, fulfilment, parcel, request.form)
        form.validate()
        for name, text in error.field_messages(gettext).items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [*field.errors, text]
        return pack_page(
            store,
            fulfilment,
            status=error.http_status,
            trigger=toast(domain_message(error), "error"),
            forms={parcel.id: form},
        )
    return pack_page(store, fulfilment, trigger=toast(gettext("Parcel %(n)s saved.", n=parcel.number)))


def _save_parcel(parcel, form: ParcelForm) -> None:
    box = db.session.get(PackageType, form.package_type.data)
    service = db.session.get(CarrierService, form.service.data)
    packing.set_parcel(
        parcel, package_type=box, weight_grams=form.weight_grams.data, service=service, actor=current_actor()
    )


@bp.post("/stores/<store_code>/parcels/<int:parcel_id>/move")
@store_route
def move(store, parcel_id):
    source = find_parcel(store, parcel_id)
    fulfilment = source.fulfilment
    if fulfilment.status != S.PICKED:
        return _closed(store, fulfilment)
    line_id = request.form.get("item", "")
    item = next((i for i in source.items if str(i.fulfilment_line_id) == line_id), None)
    if item is None:
        return pack_page(
            store,
            fulfilment,
            status=409,
            trigger=toast(gettext("This was already changed. Check the parcels and try again."), "error"),
        )
    form = _move_form(fulfilment, source, item, request.form)
    if not form.validate():
        return refused_form(store, fulfilment, move_forms={(source.id, item.fulfilment_line_id): form})
    target = db.session.get(Parcel, form.to.data)
    line = db.session.get(FulfilmentLine, item.fulfilment_line_id)
    expected = int(form.expected.data) if form.expected.data.isdigit() else -1
    return pack_change(
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
    fulfilment = find_fulfilment(store, fulfilment_id)
    parcel = db.session.get(Parcel, parcel_id)
    if parcel is None:  # removed already: a resend
        return pack_page(store, fulfilment, trigger=toast(gettext("Parcel removed.")))
    if parcel.fulfilment_id != fulfilment.id:
        abort(404)
    return pack_change(
        store,
        fulfilment,
        lambda: packing.remove_parcel(fulfilment, parcel, actor=current_actor()),
        gettext("Parcel removed."),
    )


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/finish")
@store_route
def finish(store, fulfilment_id):
    """Finish with the parcels as the screen shows them: the parcel forms come along (hx-include) and are saved
    first, so a value changed without "Save parcel" is the one that goes; without them, the saved or suggested
    values go (packing.parcel_choice)."""
    fulfilment = find_fulfilment(store, fulfilment_id)
    shown = {}
    if fulfilment.status == S.PICKED:
        for parcel in fulfilment.parcels:
            if f"p{parcel.id}-weight_grams" in request.form:
                shown[parcel.id] = (parcel, _parcel_form(store, fulfilment, parcel, request.form))
        refused = {parcel_id: form for parcel_id, (_, form) in shown.items() if not form.validate()}
        if refused:
            return refused_form(store, fulfilment, forms=refused)

    def change():
        for parcel, form in shown.values():
            _save_parcel(parcel, form)
        packing.finish_packing(fulfilment, actor=current_actor())

    forms = {parcel_id: form for parcel_id, (_, form) in shown.items()}
    return pack_change(store, fulfilment, change, gettext("Packing finished: labels are ready."), forms=forms)


@bp.post("/stores/<store_code>/fulfilments/<int:fulfilment_id>/pack/scan")
@store_route
def pack_scan(store, fulfilment_id):
    fulfilment = find_fulfilment(store, fulfilment_id)
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
        db.session.expire_all()
        return pack_page(
            store,
            fulfilment,
            status=error.http_status,
            trigger={"scan": {"ok": False}, **toast(domain_message(error), "error")},
        )
    message = say(outcome.message, outcome.params)
    return pack_page(
        store,
        fulfilment,
        status=200 if outcome.ok else 422,
        trigger={"scan": {"ok": outcome.ok}, **toast(message, "success" if outcome.ok else "error")},
    )


@bp.get("/stores/<store_code>/fulfilments/<int:fulfilment_id>/packing-slip.pdf")
@store_route
def packing_slip(store, fulfilment_id):
    fulfilment = find_fulfilment(store, fulfilment_id)
    size = request.args.get("size", "a4")
    if size not in SLIP_SIZES or fulfilment.status not in {S.PICKED, S.PACKED, S.SHIPPED}:
        abort(404)
    packing.require_shipping(fulfilment)  # a click & collect order has no one to ship to: 409, said in words
    body = packing_slip_document(fulfilment, size)
    return document_response(body, f"packing-slip-{fulfilment.order.reference}-{size}.pdf")
