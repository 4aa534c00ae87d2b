"""Labels and printing: a parcel's label as PDF or ZPL, reprint, void, relabel, the thermal printer,
print jobs of every label ready for dispatch, and the barcodes screens show."""

import re

from flask import Blueprint, Response, abort, redirect, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from app.core.errors import DomainError
from app.core.floor import commands, packing, printing
from app.core.models import CarrierService, PrintJob, PrintJobStatus, ShippingLabel
from app.core.uow import unit_of_work
from app.documents import label_document
from app.extensions import db
from app.web.dispatch import dispatch_page
from app.web.helpers import current_actor, document_response, domain_message, render, store_route, toast
from app.web.pack import find_parcel, pack_change, pack_page, refused_form, relabel_form
from labels.barcodes import code128_svg
from labels.shipping import label_pdf, label_zpl, labels_pdf

bp = Blueprint("labels", __name__)

BARCODE_TEXT = re.compile(r"^[A-Z0-9:-]{1,40}$")
CHUNK = 10


def _label(store, label_id: int) -> ShippingLabel:
    label = db.session.get(ShippingLabel, label_id)
    if label is None or label.parcel.fulfilment.location_id != store.id:
        abort(404)
    return label


def _job(store, job_id: int) -> PrintJob:
    job = db.session.get(PrintJob, job_id)
    if job is None or job.location_id != store.id:
        abort(404)
    return job


@bp.get("/stores/<store_code>/parcels/<int:parcel_id>/label.pdf")
@store_route
def label_pdf_view(store, parcel_id):
    label = packing.printable_label(find_parcel(store, parcel_id))
    return document_response(label_pdf(label_document(label)), f"label-{label.tracking_number}.pdf")


@bp.get("/stores/<store_code>/parcels/<int:parcel_id>/label.zpl")
@store_route
def label_zpl_view(store, parcel_id):
    label = packing.printable_label(find_parcel(store, parcel_id))
    return document_response(label_zpl(label_document(label)), f"label-{label.tracking_number}.zpl", "text/plain")


@bp.post("/stores/<store_code>/labels/<int:label_id>/reprint")
@store_route
def reprint(store, label_id):
    label = _label(store, label_id)
    fulfilment = label.parcel.fulfilment
    try:
        with unit_of_work():
            packing.reprint(label, actor=current_actor())
    except DomainError as error:
        return pack_page(store, fulfilment, status=error.http_status, trigger=toast(domain_message(error), "error"))
    return redirect(url_for("labels.label_pdf_view", store_code=store.code, parcel_id=label.parcel_id), 303)


@bp.post("/stores/<store_code>/labels/<int:label_id>/void")
@store_route
def void(store, label_id):
    label = _label(store, label_id)
    fulfilment = label.parcel.fulfilment
    return pack_change(
        store,
        fulfilment,
        lambda: packing.void_label(label, actor=current_actor()),
        gettext("Label %(number)s voided.", number=label.tracking_number),
    )


@bp.post("/stores/<store_code>/parcels/<int:parcel_id>/relabel")
@store_route
def relabel(store, parcel_id):
    parcel = find_parcel(store, parcel_id)
    fulfilment = parcel.fulfilment
    form = relabel_form(parcel, request.form)
    if not form.validate():
        return refused_form(store, fulfilment, relabel_forms={parcel.id: form})
    service = db.session.get(CarrierService, form.service.data)
    return pack_change(
        store,
        fulfilment,
        lambda: packing.relabel(parcel, service, actor=current_actor()),
        gettext("New label issued for parcel %(n)s.", n=parcel.number),
    )


@bp.post("/stores/<store_code>/parcels/<int:parcel_id>/print-zpl")
@store_route
def print_zpl(store, parcel_id):
    parcel = find_parcel(store, parcel_id)
    fulfilment = parcel.fulfilment

    def change():
        label = parcel.label
        if label is None:
            raise packing.PackRefused(packing.N_("This parcel has no label in force."))
        if not store.zpl_printer:
            raise packing.PackRefused(packing.N_("This store has no thermal printer set."))
        packing.reprint(label, actor=current_actor())
        printing.send_zpl(store.zpl_printer, label_zpl(label_document(label)))

    return pack_change(store, fulfilment, change, gettext("Sent to the thermal printer."))


@bp.get("/barcodes/<path:text>.svg")
@login_required
def barcode(text):
    value = text.strip().upper()
    if commands.command(value) is None and not BARCODE_TEXT.match(value):
        abort(404)
    response = Response(code128_svg(value), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


# --- print jobs -----------------------------------------------------------------------------------------


@bp.post("/stores/<store_code>/print-jobs")
@store_route
def print_job_start(store):
    ready = packing.ready_parcels(store)
    try:
        with unit_of_work():
            job = printing.start_print_job(store, [p.label.id for p in ready], current_user, actor=current_actor())
    except DomainError as error:
        return dispatch_page(store, status=error.http_status, trigger=toast(domain_message(error), "error"))
    return redirect(url_for("labels.print_job", store_code=store.code, job_id=job.id), 303)


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
    if job.status != PrintJobStatus.DONE:
        abort(404)
    return document_response(printing.job_pdf(job), f"labels-{job.id}.pdf")
