"""Click & collect after picking: bags, hold-shelf slots, the customer's pickup code, arrival, hand-over, put-back.

One Pickup per click & collect fulfilment, made when the fulfilment is picked (or, for a transfer, when the
sending store packs it). It lives at the pickup store (the fulfilment's transfer_to, or its own location).
"""

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models.base import UTCDateTime, utcnow
from app.extensions import db


class PickupSlot(db.Model):
    """A place on a store's hold shelf (a pigeonhole, a rail, a bin) where bags wait for their customer."""

    __tablename__ = "pickup_slot"
    __table_args__ = (UniqueConstraint("location_id", "code", name="uq_pickup_slot_location_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    location = relationship("Location")

    @property
    def barcode(self) -> str:
        return slot_barcode(self.location.code, self.code)


# Why a customer leaves part of an order at the counter: the reasons a store may offer (each store chooses which,
# Location.pickup_refusal_reasons; None offers them all).
REFUSAL_REASONS = (
    "changed_mind",
    "too_small",
    "too_large",
    "damaged",
    "wrong_item",
    "not_as_described",
    "missing",
    "other",
)


def slot_barcode(location_code: str, slot_code: str) -> str:
    """What a slot's label scans as: a prefix no product code uses, the store, the slot."""
    return f"SLOT-{location_code}-{slot_code}"


def bag_barcode(fulfilment_id: int, number: int) -> str:
    """What a bag's label scans as: the fulfilment and the bag's number."""
    return f"BAG-{fulfilment_id}-{number}"


_OPEN = text("is_open")


class Pickup(db.Model):
    """The hold-shelf side of a click & collect fulfilment at its pickup store."""

    __tablename__ = "pickup"
    __table_args__ = (
        CheckConstraint("bags >= 0", name="bags_not_negative"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts_not_negative"),
        # The code is unique among the store's open pickups (read aloud at the counter, so short).
        Index(
            "uq_pickup_open_location_code",
            "location_id",
            "code",
            unique=True,
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        # The store's pickups still on the shelf or awaiting put-back: a few rows per store, whatever the history.
        Index("ix_pickup_open_location", "location_id", postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index(
            "ix_pickup_put_back_location",
            "location_id",
            postgresql_where=text("put_back"),
            sqlite_where=text("put_back"),
        ),
        # The worker's expiry and reminder passes.
        Index("ix_pickup_open_expires_at", "expires_at", postgresql_where=_OPEN, sqlite_where=_OPEN),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fulfilment_id: Mapped[int] = mapped_column(ForeignKey("fulfilment.id", ondelete="CASCADE"), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))  # the pickup store
    # Open: not yet collected, expired or cancelled (it holds a code that no other open pickup may hold).
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    code: Mapped[str | None] = mapped_column(String(12))
    bags: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a transfer reached the pickup store
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customer_arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrival_note: Mapped[str] = mapped_column(String(120), default="")
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Units reserved for the fulfilment that sit on the hold shelf and wait for an associate to put them back.
    put_back: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    restocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How the customer was identified without the code: {kind, last_digits, reason, by}.
    id_check: Mapped[dict | None] = mapped_column(JSON)
    # Items the customer refused or that were missing: [{sku, quantity, reason}].
    refused: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    fulfilment = relationship("Fulfilment", backref=db.backref("pickup", uselist=False))
    location = relationship("Location")
    bag_rows: Mapped[list["PickupBag"]] = relationship(
        back_populates="pickup", cascade="all, delete-orphan", order_by="PickupBag.number"
    )


class PickupBag(db.Model):
    """One bag (or box) of a pickup, labelled n of m, and the slot it was put in."""

    __tablename__ = "pickup_bag"
    __table_args__ = (
        UniqueConstraint("pickup_id", "number", name="uq_pickup_bag_pickup_number"),
        CheckConstraint("number > 0", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pickup_id: Mapped[int] = mapped_column(ForeignKey("pickup.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_slot.id"), index=True)
    staged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    pickup: Mapped[Pickup] = relationship(back_populates="bag_rows")
    slot = relationship(PickupSlot)
