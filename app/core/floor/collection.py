"""Carrier collection times per store (the cut-off): when the van comes, and so when a packed parcel is late."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.models import Carrier, CarrierCollection, CarrierService, Parcel
from app.core.models import FulfilmentStatus as S
from app.extensions import db


def next_collection(collect_at: time, after: datetime, timezone: str) -> datetime:
    """The first collection at `collect_at` (store time) at or after the moment `after`, in UTC."""
    zone = ZoneInfo(timezone)
    if after.tzinfo is None:  # SQLite hands back naive UTC
        after = after.replace(tzinfo=UTC)
    day = after.astimezone(zone).date()
    for offset in (0, 1):
        moment = datetime.combine(day + timedelta(days=offset), collect_at, tzinfo=zone)
        if moment >= after:
            return moment.astimezone(UTC)
    raise AssertionError("a time of day comes back within a day")  # pragma: no cover


def collection_deadlines(store, fulfilments) -> dict[int, datetime]:
    """{fulfilment id: when its parcels must be handed over} for the packed ones whose carrier has a collection
    time at the store: the first collection at or after the order's ready-by time (the earliest of its carriers).
    One query for the parcels' carriers, one for the store's collection times."""
    packed = {f.id: f for f in fulfilments if f.status == S.PACKED}
    if not packed:
        return {}
    times = dict(
        db.session.execute(
            select(CarrierCollection.carrier_id, CarrierCollection.collect_at).where(
                CarrierCollection.location_id == store.id
            )
        ).all()
    )
    if not times:
        return {}
    carriers = db.session.execute(
        select(Parcel.fulfilment_id, CarrierService.carrier_id)
        .join(CarrierService, CarrierService.id == Parcel.service_id)
        .where(Parcel.fulfilment_id.in_(sorted(packed)))
    ).all()
    deadlines: dict[int, datetime] = {}
    for fulfilment_id, carrier_id in carriers:
        if carrier_id not in times:
            continue
        fulfilment = packed[fulfilment_id]
        due = next_collection(times[carrier_id], fulfilment.ready_by or fulfilment.created_at, store.timezone)
        deadlines[fulfilment_id] = min(due, deadlines.get(fulfilment_id, due))
    return deadlines


def collection_times(store) -> list[tuple[Carrier, time | None]]:
    """Every active carrier with its collection time at the store (None: not set)."""
    times = dict(
        db.session.execute(
            select(CarrierCollection.carrier_id, CarrierCollection.collect_at).where(
                CarrierCollection.location_id == store.id
            )
        ).all()
    )
    carriers = db.session.scalars(select(Carrier).where(Carrier.active).order_by(Carrier.name, Carrier.id)).all()
    return [(carrier, times.get(carrier.id)) for carrier in carriers]


def parse_collection_time(text: str | None) -> time | None:
    """ "17:30" (or "17:30:00") as a time of day; blank is None (no collection set). Anything else is refused."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) > 8:
            raise ValueError(text)
        return time.fromisoformat(text).replace(second=0, microsecond=0, tzinfo=None)
    except ValueError:
        raise InvalidInput(
            N_("Give the collection time as hours and minutes, for example 17:30."), field="collect_at"
        ) from None


def set_collection_time(store, carrier: Carrier, collect_at: time | None, *, actor: Actor) -> bool:
    """Set (or clear, with None) when a carrier collects at a store; True when it changed. Audited."""
    row = db.session.scalar(
        select(CarrierCollection).where(
            CarrierCollection.location_id == store.id, CarrierCollection.carrier_id == carrier.id
        )
    )
    before = row.collect_at if row is not None else None
    if before == collect_at:
        return False
    if collect_at is None:
        db.session.delete(row)
    elif row is None:
        db.session.add(CarrierCollection(location_id=store.id, carrier_id=carrier.id, collect_at=collect_at))
    else:
        row.collect_at = collect_at
    audit.record(
        actor,
        "location.collection_time",
        store,
        before={"carrier": carrier.code, "collect_at": before.isoformat("minutes") if before else None},
        after={"carrier": carrier.code, "collect_at": collect_at.isoformat("minutes") if collect_at else None},
    )
    db.session.flush()
    return True
