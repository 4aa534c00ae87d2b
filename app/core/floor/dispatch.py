"""Handing parcels to the carrier: the day's manifest per carrier, hand-over scans, shipping and the customer's email.

A hand-over scan is stored under the id the device gave it, so a resend is answered and changes nothing.
When every parcel of a fulfilment is handed over it becomes shipped (the stock ledger consumes the picked
units inside orders.transition) and the customer is written to in their language.

A click & collect transfer (parcels addressed to the pickup store) is handed over the same way, on the same
manifest, but it is not shipped and the customer gets no "on its way" e-mail: it stays packed, its units still
reserved at the sending store, until the pickup store receives it (pickups.receive_transfer) and stages it. Once
its every parcel is with the carrier it is no longer the sending store's work (with_carrier_clause).
"""

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select

from app.core import audit, payments
from app.core.actor import Actor
from app.core.errors import N_, DomainError
from app.core.floor import pickups, scans
from app.core.floor.packing import is_transfer_clause, ready_parcels, require_shipping
from app.core.floor.scans import Outcome, ScanWork
from app.core.integration import customer_messages, events
from app.core.models import (
    Carrier,
    Fulfilment,
    LabelStatus,
    Location,
    Manifest,
    ManifestStatus,
    Parcel,
    ShippingLabel,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import MAX_ID, utcnow
from app.core.ordering import orders
from app.extensions import db

MANIFEST_CODE = re.compile(r"^MAN-(\d{1,12})$")


class HandOverRefused(DomainError):
    code = "hand_over_refused"
    http_status = 409


class UnknownCode(DomainError):
    code = "unknown_code"
    http_status = 404
    message = N_("Unknown code %(code)s: not a label or a manifest of this store.")


def _local_day(location: Location, now: datetime) -> tuple[datetime, datetime]:
    """The store's local day containing `now`, as a UTC [start, end) interval."""
    zone = ZoneInfo(location.timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time.min, zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, zone)


def open_manifest(location: Location, carrier: Carrier, *, actor: Actor, now: datetime | None = None) -> Manifest:
    """Today's open manifest of a carrier at a store (created when missing), with every labelled parcel of that
    carrier there that is not handed over yet; parcels left on an older open manifest move to today's."""
    now = now or utcnow()
    start, end = _local_day(location, now)
    manifest = db.session.scalar(
        select(Manifest)
        .where(
            Manifest.location_id == location.id,
            Manifest.carrier_id == carrier.id,
            Manifest.status == ManifestStatus.OPEN,
            Manifest.created_at >= start,
            Manifest.created_at < end,
        )
        .order_by(Manifest.id)
        .limit(1)
    )
    if manifest is None:
        manifest = Manifest(location_id=location.id, carrier_id=carrier.id, status="open", created_at=now)
        db.session.add(manifest)
        db.session.flush()
        audit.record(actor, "manifest.open", manifest, None, {"carrier": carrier.code, "location": location.code})
    attached = []
    for parcel in ready_parcels(location, carrier.id):
        if parcel.manifest_id == manifest.id:
            continue
        if parcel.manifest is None or parcel.manifest.status == ManifestStatus.OPEN:
            parcel.manifest = manifest
            attached.append(parcel.id)
    if attached:
        audit.record(actor, "manifest.attach", manifest, None, {"parcels": attached})
    db.session.flush()
    return manifest


def _label_for(code: str) -> ShippingLabel | None:
    labels = db.session.scalars(
        select(ShippingLabel).where(ShippingLabel.tracking_number == code).order_by(ShippingLabel.id.desc())
    ).all()
    return next((label for label in labels if label.status == LabelStatus.ACTIVE), labels[0] if labels else None)


def _parcels_for(location: Location, code: str) -> tuple[list[Parcel], Manifest | None]:
    match = MANIFEST_CODE.match(code)
    if match:
        manifest = db.session.get(Manifest, int(match[1])) if int(match[1]) <= MAX_ID else None
        if manifest is None:
            raise UnknownCode(code=code)
        if manifest.location_id != location.id:
            raise HandOverRefused(N_("Manifest %(code)s belongs to another store."), code=code)
        if not manifest.parcels:
            raise HandOverRefused(N_("Manifest %(code)s has no parcel."), code=code)
        return list(manifest.parcels), manifest
    label = _label_for(code)
    if label is None:
        raise UnknownCode(code=code)
    parcel = label.parcel
    if parcel.fulfilment.location_id != location.id:
        raise HandOverRefused(N_("Parcel %(code)s belongs to another store."), code=code)
    if label.status != LabelStatus.ACTIVE:
        raise HandOverRefused(N_("Label %(code)s was voided: do not hand it over; print its new label."), code=code)
    return [parcel], None


def _complete(fulfilment: Fulfilment) -> bool:
    parcels = [p for p in fulfilment.parcels if p.label is not None]
    return fulfilment.status == S.PACKED and bool(parcels) and all(p.handed_over_at is not None for p in parcels)


def _ship_if_complete(fulfilment: Fulfilment, actor: Actor) -> bool:
    """Ship a fulfilment whose every labelled parcel is with the carrier; a transfer is never shipped here."""
    if pickups.is_transfer(fulfilment) or not _complete(fulfilment):
        return False
    # What leaves the store is captured (before the transition, which voids what nothing else will capture).
    payments.capture_left_store(fulfilment, {line: line.picked for line in fulfilment.lines}, actor=actor)
    orders.transition(fulfilment, S.SHIPPED, actor=actor)
    customer_messages.shipped(fulfilment, [p for p in fulfilment.parcels if p.label is not None])
    return True


def with_carrier_clause():
    """SQL: a packed transfer whose every parcel the carrier has. The sending store has nothing left to do with
    it (its queue leaves it out); it stays packed until the pickup store receives it."""
    waiting = exists().where(Parcel.fulfilment_id == Fulfilment.id, Parcel.handed_over_at.is_(None))
    handed = exists().where(Parcel.fulfilment_id == Fulfilment.id, Parcel.handed_over_at.is_not(None))
    return (Fulfilment.status == S.PACKED) & is_transfer_clause() & handed & ~waiting


def _close_manifest(manifest: Manifest, now: datetime, actor: Actor) -> None:
    if manifest.status == ManifestStatus.OPEN and manifest.parcels and all(p.handed_over_at for p in manifest.parcels):
        manifest.status, manifest.handed_over_at = "handed_over", now
        audit.record(actor, "manifest.handed_over", manifest, {"status": "open"}, {"status": "handed_over"})


def hand_over(
    location: Location, code: str, client_id: str, *, actor: Actor, user=None, now: datetime | None = None
) -> Outcome:
    """Hand one parcel (its tracking number) or a whole manifest ("MAN-000042") to the carrier.

    Unknown codes, another store's parcel and voided labels are refused. A parcel handed over again is
    answered without change; a resend of the same scan id gets the first answer.
    """
    client_id = scans.check_client_id(client_id)
    code = (code or "").strip().upper()
    work = ScanWork("dispatch", location.id, reference=f"L{location.id}")
    replay = scans.replay(client_id, work)
    if replay is not None:
        return replay
    if not code:
        raise HandOverRefused(N_("Scan or type a code."), field="code")
    now = now or utcnow()
    parcels, manifest = _parcels_for(location, code)
    fresh = [p for p in parcels if p.handed_over_at is None and p.label is not None]
    shipped = []
    for parcel in fresh:
        require_shipping(parcel.fulfilment)
        if parcel.fulfilment.status != S.PACKED:
            raise HandOverRefused(
                N_("Order %(ref)s is not packed: it cannot be handed over."), ref=parcel.fulfilment.order.reference
            )
    for parcel in fresh:
        label = parcel.label
        parcel.handed_over_at = now
        audit.record(actor, "parcel.hand_over", parcel, None, {"tracking_number": label.tracking_number, "code": code})
        fulfilment = parcel.fulfilment
        events.emit(
            "parcel.handed_over",
            fulfilment.order,
            fulfilment,
            parcel=parcel.number,
            carrier=label.carrier.code,
            tracking_number=label.tracking_number,
        )
    db.session.flush()
    in_transit = []
    for fulfilment in {p.fulfilment.id: p.fulfilment for p in fresh}.values():
        if _ship_if_complete(fulfilment, actor):
            shipped.append(fulfilment.order.reference)
        elif pickups.is_transfer(fulfilment) and _complete(fulfilment):
            in_transit.append([fulfilment.order.reference, fulfilment.transfer_to.code])
    for touched in {p.manifest.id: p.manifest for p in parcels if p.manifest is not None}.values():
        _close_manifest(touched, now, actor)
    db.session.flush()
    if not fresh:
        result = Outcome(
            True,
            "already",
            N_("%(code)s was already handed over."),
            {"code": code},
            parcel_id=parcels[0].id if parcels else None,
        )
    elif manifest is not None:
        result = Outcome(
            True, "handed_over", N_("Manifest %(code)s handed over; parcels: %(n)s."), {"code": code, "n": len(fresh)}
        )
    else:
        parcel = fresh[0]
        result = Outcome(
            True,
            "handed_over",
            N_("Parcel %(code)s handed over (order %(ref)s)."),
            {"code": code, "ref": parcel.fulfilment.order.reference},
            parcel_id=parcel.id,
        )
    if shipped:
        result.params["shipped"] = shipped
    if in_transit:  # [[order reference, pickup store code]]: on their way to the pickup store, not shipped
        result.params["transfers"] = in_transit
    return scans.record(client_id, work, result, user=user, code=code, quantity=len(fresh))


def handed_over_today(location: Location, now: datetime | None = None) -> list[Parcel]:
    """Parcels of this store handed to a carrier during the store's current day, latest first."""
    start, end = _local_day(location, now or utcnow())
    return list(
        db.session.scalars(
            select(Parcel)
            .join(Fulfilment, Parcel.fulfilment_id == Fulfilment.id)
            .where(Fulfilment.location_id == location.id, Parcel.handed_over_at >= start, Parcel.handed_over_at < end)
            .order_by(Parcel.handed_over_at.desc(), Parcel.id.desc())
        )
    )
