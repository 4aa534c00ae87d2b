"""Scans answered once: every scan or tap from a device is stored under the id the device gave it.

A resend (a network drop, a double tap) gets the first answer back and changes nothing; the same id sent for
other work is refused. Picking, packing and dispatch scans go through here, and so will the handover, return
and put-back scans to come: each says what it is for (ScanWork), checks the id, asks for a replay, then records.
"""

import string
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app import metrics
from app.core.errors import N_, DomainError, InvalidInput
from app.core.models import Scan
from app.core.models.base import utcnow
from app.extensions import db

CLIENT_ID_CHARS = frozenset(string.ascii_letters + string.digits + "-_")


class DuplicateScan(DomainError):
    """The same scan id arrived twice at the same moment: the other request counted it."""

    code = "duplicate_scan"
    http_status = 409
    message = N_("This scan was already received; scan again.")


@dataclass(frozen=True)
class ScanWork:
    """What a scan is for: its purpose at a store and the piece of work, named by a pick list or a reference."""

    purpose: str  # pick, pack, dispatch
    location_id: int
    reference: str | None = None  # e.g. "F42" for packing fulfilment 42, "L3" for dispatch at store 3
    pick_list_id: int | None = None


@dataclass
class Outcome:
    """What a scan or tap did, replayed as is when the same scan id comes again."""

    ok: bool
    outcome: str
    message: str
    params: dict = field(default_factory=dict)
    line_id: int | None = None  # the fulfilment line it counted on
    parcel_id: int | None = None  # the parcel it went into, or was handed over
    product_id: int | None = None
    replayed: bool = False
    scan: Scan | None = None  # the stored row when the answer counted units (what undo takes back)


def check_client_id(client_id: str) -> str:
    """The device's scan id: 8 to 64 letters, digits, '-' or '_'."""
    client_id = (client_id or "").strip()
    if not 8 <= len(client_id) <= 64 or set(client_id) - CLIENT_ID_CHARS:
        raise InvalidInput(N_("This scan has no valid scan id; scan again."), field="scan_id")
    return client_id


def replay(client_id: str, work: ScanWork) -> Outcome | None:
    """The stored answer to an earlier scan with this id, if any; refused when that scan was for other work."""
    earlier = db.session.execute(
        select(
            Scan.purpose,
            Scan.location_id,
            Scan.pick_list_id,
            Scan.parcel_id,
            Scan.fulfilment_line_id,
            Scan.outcome,
            Scan.details,
        ).where(Scan.client_id == client_id)
    ).first()
    if earlier is None:
        return None
    d = earlier.details or {}
    stored = (earlier.purpose, earlier.location_id, earlier.pick_list_id, d.get("reference"))
    if stored != (work.purpose, work.location_id, work.pick_list_id, work.reference):
        raise InvalidInput(N_("This scan id was already used for other work; scan again."), field="scan_id")
    return Outcome(
        ok=d.get("ok", False),
        outcome=earlier.outcome,
        message=d.get("message", ""),
        params=d.get("params", {}),
        line_id=earlier.fulfilment_line_id,
        parcel_id=earlier.parcel_id,
        product_id=d.get("product_id"),
        replayed=True,
    )


def record(client_id: str, work: ScanWork, result: Outcome, *, user, code: str, quantity: int = 0) -> Outcome:
    """Store a scan and its answer under the client id; a concurrent resend of the same id loses (DuplicateScan)."""
    details = {"ok": result.ok, "message": result.message, "params": result.params}
    if work.reference is not None:
        details["reference"] = work.reference
    if result.product_id is not None:
        details["product_id"] = result.product_id
    values = {
        "client_id": client_id,
        "location_id": work.location_id,
        "user_id": user.id if user is not None else None,
        "purpose": work.purpose,
        "pick_list_id": work.pick_list_id,
        "fulfilment_line_id": result.line_id,
        "parcel_id": result.parcel_id,
        "code": code[:64],
        "outcome": result.outcome,
        "quantity": quantity,
        "details": details,
        "created_at": utcnow(),
    }
    try:
        db.session.flush()  # what the caller changed (a line's counts, a parcel) is written first
        # A plain INSERT: no unit-of-work bookkeeping for a row nothing else in the request changes.
        scan_id = db.session.execute(insert(Scan.__table__).values(values).returning(Scan.__table__.c.id)).scalar_one()
    except IntegrityError:  # the same id sent twice at once: the other request counted it; this one rolls back
        raise DuplicateScan(field="scan_id") from None
    metrics.count(metrics.SCANS, purpose=work.purpose, ok=str(bool(result.ok)).lower())
    if quantity:
        result.scan = Scan(id=scan_id, **values)  # what the answer shows (the undo button); not added to the session
    return result
