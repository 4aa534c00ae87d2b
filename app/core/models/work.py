"""The store's floor work on a fulfilment: pick lists, scans, parcels, carriers, labels, manifests, print jobs."""

from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models.base import UTCDateTime, utcnow
from app.extensions import db


class PickListStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class LabelStatus(StrEnum):
    ACTIVE = "active"
    VOID = "void"


class ManifestStatus(StrEnum):
    OPEN = "open"
    HANDED_OVER = "handed_over"


class PrintJobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"


class ScanMode(StrEnum):
    EVERY = "every"  # scan every unit
    FIRST = "first"  # scan the first unit, then confirm the quantity
    NONE = "none"  # no scan: tap to confirm


class PickList(db.Model):
    """One or more fulfilments picked together in one walk, each into its own tote (A, B, C...)."""

    __tablename__ = "pick_list"
    __table_args__ = (CheckConstraint("status IN ('open', 'done', 'cancelled')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    location = relationship("Location")
    user = relationship("User")
    fulfilments = relationship("Fulfilment", back_populates="pick_list", order_by="Fulfilment.tote")

    @property
    def number(self) -> str:
        return f"P{self.id:06d}"


class Scan(db.Model):
    """One scan or tap by an associate, kept under the id the device gave it: a resend is answered, not counted."""

    __tablename__ = "scan"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        # The store's last scan in one step down the index (the board's fingerprint, app.core.reports.board).
        Index("ix_scan_location_id_id", "location_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    purpose: Mapped[str] = mapped_column(String(16))  # pick, pack, dispatch
    pick_list_id: Mapped[int | None] = mapped_column(ForeignKey("pick_list.id"), index=True)
    fulfilment_line_id: Mapped[int | None] = mapped_column(ForeignKey("fulfilment_line.id"))
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcel.id"))
    code: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    fulfilment_line = relationship("FulfilmentLine")


class PackageType(db.Model):
    """A box or bag a store packs into: inner dimensions and its own (tare) weight."""

    __tablename__ = "package_type"
    __table_args__ = (
        UniqueConstraint("location_id", "name", name="uq_package_type_location_name"),
        CheckConstraint("length_mm > 0 AND width_mm > 0 AND height_mm > 0", name="dimensions_positive"),
        CheckConstraint("tare_grams >= 0", name="tare_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    length_mm: Mapped[int] = mapped_column(Integer)
    width_mm: Mapped[int] = mapped_column(Integer)
    height_mm: Mapped[int] = mapped_column(Integer)
    tare_grams: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Carrier(db.Model):
    """A carrier the retailer ships with. Built-in local carriers issue their own tracking numbers."""

    __tablename__ = "carrier"
    __table_args__ = (
        CheckConstraint("tracking_format IN ('s10', 'luhn')", name="tracking_format"),
        CheckConstraint("next_serial >= 0", name="next_serial_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    tracking_format: Mapped[str] = mapped_column(String(16), default="s10")
    tracking_prefix: Mapped[str] = mapped_column(String(8), default="")
    tracking_suffix: Mapped[str] = mapped_column(String(4), default="")
    next_serial: Mapped[int] = mapped_column(Integer, default=1)
    max_weight_grams: Mapped[int] = mapped_column(Integer, default=30000)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    services = relationship("CarrierService", back_populates="carrier", order_by="CarrierService.price")


class CarrierCollection(db.Model):
    """When a carrier collects parcels at one store: a time of day in the store's timezone (the cut-off)."""

    __tablename__ = "carrier_collection"
    __table_args__ = (UniqueConstraint("location_id", "carrier_id", name="uq_carrier_collection_location_carrier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carrier.id", ondelete="CASCADE"))
    collect_at: Mapped[time] = mapped_column(Time)

    carrier = relationship(Carrier)


class CarrierService(db.Model):
    __tablename__ = "carrier_service"
    __table_args__ = (
        UniqueConstraint("carrier_id", "code", name="uq_carrier_service_carrier_code"),
        CheckConstraint("transit_days >= 0", name="transit_days_not_negative"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carrier.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(80))
    price: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    transit_days: Mapped[int] = mapped_column(Integer, default=2)
    max_weight_grams: Mapped[int] = mapped_column(Integer, default=30000)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    carrier = relationship(Carrier, back_populates="services")


class Parcel(db.Model):
    """One box of a fulfilment, with what is in it, its weight and its service; labelled, then handed over."""

    __tablename__ = "parcel"
    __table_args__ = (
        UniqueConstraint("fulfilment_id", "number", name="uq_parcel_fulfilment_number"),
        CheckConstraint("weight_grams IS NULL OR weight_grams > 0", name="weight_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fulfilment_id: Mapped[int] = mapped_column(ForeignKey("fulfilment.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    package_type_id: Mapped[int | None] = mapped_column(ForeignKey("package_type.id"))
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("carrier_service.id"))
    manifest_id: Mapped[int | None] = mapped_column(ForeignKey("manifest.id"), index=True)
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    fulfilment = relationship("Fulfilment", back_populates="parcels")
    package_type = relationship(PackageType)
    service = relationship(CarrierService)
    manifest = relationship("Manifest", back_populates="parcels")
    items = relationship("ParcelItem", back_populates="parcel", cascade="all, delete-orphan", order_by="ParcelItem.id")
    labels = relationship("ShippingLabel", back_populates="parcel", order_by="ShippingLabel.id")

    @property
    def label(self) -> "ShippingLabel | None":
        """The label in force (not voided), if any."""
        return next((label for label in reversed(self.labels) if label.status == "active"), None)


class ParcelItem(db.Model):
    __tablename__ = "parcel_item"
    __table_args__ = (
        UniqueConstraint("parcel_id", "fulfilment_line_id", name="uq_parcel_item_parcel_line"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcel.id", ondelete="CASCADE"), index=True)
    fulfilment_line_id: Mapped[int] = mapped_column(ForeignKey("fulfilment_line.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)

    parcel = relationship(Parcel, back_populates="items")
    fulfilment_line = relationship("FulfilmentLine")


class ShippingLabel(db.Model):
    """A carrier label for a parcel. Voiding frees the tracking number; only one label per number is in force."""

    __tablename__ = "shipping_label"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'void')", name="status"),
        Index(
            "uq_shipping_label_active_tracking",
            "tracking_number",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcel.id", ondelete="CASCADE"), index=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carrier.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("carrier_service.id"))
    tracking_number: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(8), default="active")
    print_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    parcel = relationship(Parcel, back_populates="labels")
    carrier = relationship(Carrier)
    service = relationship(CarrierService)


class Manifest(db.Model):
    """A carrier's end-of-day hand-over list at one store."""

    __tablename__ = "manifest"
    __table_args__ = (CheckConstraint("status IN ('open', 'handed_over')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carrier.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    location = relationship("Location")
    carrier = relationship(Carrier)
    parcels = relationship(Parcel, back_populates="manifest", order_by=Parcel.id)

    @property
    def number(self) -> str:
        return f"MAN-{self.id:06d}"


class PrintJob(db.Model):
    """A batch of labels rendered into one PDF a chunk at a time, so the screen can show progress."""

    __tablename__ = "print_job"
    __table_args__ = (CheckConstraint("status IN ('running', 'done')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    label_ids: Mapped[list] = mapped_column(JSON, default=list)
    done: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    chunks = relationship("PrintJobChunk", cascade="all, delete-orphan", order_by="PrintJobChunk.seq")

    @property
    def total(self) -> int:
        return len(self.label_ids)


class PrintJobChunk(db.Model):
    __tablename__ = "print_job_chunk"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_print_job_chunk_job_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("print_job.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


class OutboundEmail(db.Model):
    """A message to a customer, written in the same transaction as what it tells; the worker sends it."""

    __tablename__ = "outbound_email"
    __table_args__ = (CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("customer_order.id", ondelete="SET NULL"), index=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # What it tells (shipped, pickup_ready, pickup_reminder, collected...), an HTML part beside the text, and the
    # text of a QR code the HTML shows inline (drawn when the e-mail is sent, attached to it: nothing to fetch).
    kind: Mapped[str] = mapped_column(String(32), default="", server_default="")
    html: Mapped[str | None] = mapped_column(Text)
    qr: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboundSms(db.Model):
    """A text message to a customer, written with what it tells; the worker sends it through SMS_SENDER."""

    __tablename__ = "outbound_sms"
    __table_args__ = (CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("customer_order.id", ondelete="SET NULL"), index=True)
    to: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(String(480))
    kind: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
