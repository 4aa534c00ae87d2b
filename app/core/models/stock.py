from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models.base import UTCDateTime, utcnow
from app.extensions import db


class MovementKind(StrEnum):
    RECEIVE = "receive"
    ADJUST = "adjust"
    COUNT = "count"
    SYNC = "sync"
    RESERVE = "reserve"
    RELEASE = "release"
    PICK = "pick"
    SHIP = "ship"
    RETURN = "return"
    DAMAGE = "damage"


class StockLevel(db.Model):
    """Units of one product at one location. Written only by app.core.inventory.stock."""

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("location_id", "product_id", name="uq_stock_level_location_product"),
        # A product's rows at every location from the index alone (sourcing, availability): see e9a1f0c0de03.
        Index(
            "ix_stock_level_product_id_location_id",
            "product_id",
            "location_id",
            postgresql_include=["on_hand", "reserved", "safety_stock"],
        ),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
        CheckConstraint("damaged >= 0", name="damaged_not_negative"),
        CheckConstraint("quarantined >= 0", name="quarantined_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    # Units set aside as damaged: no longer on hand, kept apart for the returns-to-vendor or write-off.
    damaged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Returned units waiting for a manager's decision (back on sale, or damaged): not on hand, never sold.
    quarantined: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    location = relationship("Location")
    product = relationship("Product")

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)


class StockMovement(db.Model):
    """One append-only ledger row: the change it made to on_hand and reserved, and why.

    `on_hand_after` is the on-hand figure the change left (empty on rows written before the stock change feed).
    `position` is given after commit by the sequencer (app.core.inventory.changes.sequence), in commit order, like
    the outbox's: the ERP's change feed follows it, so a client following its cursor never skips a movement.
    """

    __tablename__ = "stock_movement"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('receive','adjust','count','sync','reserve','release','pick','ship','return','damage')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    damaged_delta: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quarantined_delta: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reason: Mapped[str] = mapped_column(String(200), default="")
    reference: Mapped[str] = mapped_column(String(120), default="", index=True)
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    on_hand_after: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int | None] = mapped_column(Integer, unique=True, index=True)


class Reservation(db.Model):
    """Units of stock held at a location for one fulfilment line."""

    __tablename__ = "reservation"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fulfilment_line_id: Mapped[int] = mapped_column(ForeignKey("fulfilment_line.id", ondelete="CASCADE"), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelBuffer(db.Model):
    """Units held back from what a sales channel is shown, per location (e.g. show marketplaces less)."""

    __tablename__ = "channel_buffer"
    __table_args__ = (
        UniqueConstraint("channel", "location_id", name="uq_channel_buffer_channel_location"),
        CheckConstraint("units >= 0", name="units_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    units: Mapped[int] = mapped_column(Integer, default=0)
