"""Dispatch: parcels ready for their carrier, hand-over scans, the day's manifests, printing them all at once."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from sqlalchemy import select

from app.core.errors import DomainError
from app.core.floor import carriers, packing, printing
from app.core.floor import dispatch as handover
from app.core.models import Carrier, LabelStatus, Manifest, ManifestStatus
from app.core.uow import unit_of_work
from app.documents import label_document, manifest_document
from app.extensions import db
from app.web.helpers import current_actor, document_response, domain_message, render, store_route, toast
from labels.shipping import label_zpl

bp = Blueprint("dispatch", __name__)


def dispatch_page(store, *, status=200, trigger=None):
    ready = packing.ready_parcels(store)
    done = handover.handed_over_today(store)
    groups = {}
    for carrier in carriers.all_carriers():
        groups[carrier.id] = {"carrier": carrier, "ready": [], "done": []}
    for parcel in ready:
        groups.setdefault(parcel.label.carrier_id, {"carrier": parcel.label.carrier, "ready": [], "done": []})
        groups[parcel.label.carrier_id]["ready"].append(parcel)
    for parcel in done:
        label = next((lbl for lbl in reversed(parcel.labels) if lbl.status == LabelStatus.ACTIVE), None)
        if label is not None:
            groups.setdefault(label.carrier_id, {"carrier": label.carrier, "ready": [], "done": []})
            groups[label.carrier_id]["done"].append(parcel)
    shown = [g for g in groups.values() if g["ready"] or g["done"]]
    open_manifests = {
        m.carrier_id: m
        for m in db.session.scalars(
            select(Manifest)
            .where(Manifest.location_id == store.id, Manifest.status == ManifestStatus.OPEN)
            .order_by(Manifest.id)
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
        scan_url=url_for("dispatch.dispatch_scan", store_code=store.code),
        scan_target="#dispatch",
    )


@bp.get("/stores/<store_code>/dispatch")
@store_route
def dispatch(store):
    return dispatch_page(store)


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
        return dispatch_page(
            store,
            status=error.http_status,
            trigger={"scan": {"ok": False}, **toast(domain_message(error), "error")},
        )
    params = {k: v for k, v in outcome.params.items() if k not in {"shipped", "transfers"}}
    message = gettext(outcome.message, **params)
    if outcome.params.get("shipped"):
        message += " " + gettext("Shipped: %(refs)s.", refs=", ".join(outcome.params["shipped"]))
    for ref, pickup_store in outcome.params.get("transfers", []):
        message += " " + gettext(
            "Order %(ref)s is on its way to store %(store)s: it stays packed until that store receives it.",
            ref=ref,
            store=pickup_store,
        )
    return dispatch_page(store, trigger={"scan": {"ok": outcome.ok}, **toast(message)})


@bp.post("/stores/<store_code>/dispatch/manifests")
@store_route
def manifest_open(store):
    carrier_id = request.form.get("carrier_id", "")
    carrier = db.session.get(Carrier, int(carrier_id)) if carrier_id.isdigit() and len(carrier_id) < 10 else None
    if carrier is None:
        return dispatch_page(store, status=422, trigger=toast(gettext("Choose a carrier."), "error"))
    with unit_of_work():
        manifest = handover.open_manifest(store, carrier, actor=current_actor())
    return redirect(url_for("dispatch.manifest_pdf_view", store_code=store.code, manifest_id=manifest.id), 303)


@bp.get("/stores/<store_code>/manifests/<int:manifest_id>.pdf")
@store_route
def manifest_pdf_view(store, manifest_id):
    manifest = db.session.get(Manifest, manifest_id)
    if manifest is None or manifest.location_id != store.id:
        abort(404)
    return document_response(manifest_document(manifest), f"{manifest.number}.pdf")


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
        return dispatch_page(store, status=error.http_status, trigger=toast(domain_message(error), "error"))
    sent = ngettext(
        "%(num)d label sent to the thermal printer.", "%(num)d labels sent to the thermal printer.", len(ready)
    )
    return dispatch_page(store, trigger=toast(sent))
