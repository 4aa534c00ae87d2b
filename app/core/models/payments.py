"""Payments and returns: the payments ledger (one row per provider transaction), customer returns, and the
retailer's settings for both (and for what the customer is told).

Money is NUMERIC(12, 2) in the order's currency, never a float. Written only by app.core.payments and
app.core.returns.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models.base import UTCDateTime, utcnow
from app.extensions import db

TRANSACTION_KINDS = ("authorisation", "capture", "void", "refund")
TRANSACTION_STATUSES = ("pending", "succeeded", "failed")


class PaymentTransaction(db.Model):
    """One step of an order's payment with its provider: the authorisation the web shop sent, then captures,
    voids and refunds. A row is written pending in the transaction that decides it (a parcel shipped, a pickup
    collected, an order cancelled, a return), and the provider is called after that commit, by its idempotency key,
    again by `flask worker` while it stays pending (a timeout). It never exceeds what the step before allows."""

    __tablename__ = "payment_transaction"
    __table_args__ = (
        CheckConstraint("kind IN ('authorisation', 'capture', 'void', 'refund')", name="kind"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        UniqueConstraint("idempotency_key", name="uq_payment_transaction_idempotency_key"),
        # The worker's retries: pending rows, the next due first.
        Index("ix_payment_transaction_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    fulfilment_id: Mapped[int | None] = mapped_column(ForeignKey("fulfilment.id", ondelete="SET NULL"))
    return_id: Mapped[int | None] = mapped_column(ForeignKey("customer_return.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    provider: Mapped[str] = mapped_column(String(32))
    provider_reference: Mapped[str] = mapped_column(String(120), default="")
    idempotency_key: Mapped[str] = mapped_column(String(120))
    actor: Mapped[str] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The request (or worker job) that decided this step: the worker's provider call logs it.
    request_id: Mapped[str | None] = mapped_column(String(128))

    order = relationship("Order")


RETURN_STATUSES = ("expected", "received")
RETURN_CONDITIONS = ("resellable", "damaged", "inspect")
# The reasons a retailer's returns offer by default (RetailerSettings.return_reasons chooses and orders them).
RETURN_REASONS = (
    "changed_mind",
    "too_small",
    "too_large",
    "not_as_described",
    "damaged",
    "late",
    "wrong_item",
    "other",
)


class CustomerReturn(db.Model):
    """Items of an order coming back: at a store's counter (received at once) or announced by post (expected until
    a store or the warehouse scans it in). Its number is on the receipt's barcode: RET-<id, 7 digits>."""

    __tablename__ = "customer_return"
    __table_args__ = (
        CheckConstraint("status IN ('expected', 'received')", name="status"),
        Index("ix_customer_return_location_id_status", "location_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    status: Mapped[str] = mapped_column(String(16), default="received")
    # What the rule gave back to the original payment (items, and shipping when the whole order came back).
    refund_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    shipping_refunded: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by: Mapped[str] = mapped_column(String(120), default="")

    order = relationship("Order")
    location = relationship("Location")
    lines: Mapped[list["ReturnLine"]] = relationship(
        back_populates="customer_return", cascade="all, delete-orphan", order_by="ReturnLine.id"
    )
    refunds = relationship("PaymentTransaction", order_by="PaymentTransaction.id", viewonly=True)

    @property
    def number(self) -> str:
        return return_number(self.id)


def return_number(return_id: int) -> str:
    """What a return's receipt and label scan as."""
    return f"RET-{return_id:07d}"


class ReturnLine(db.Model):
    __tablename__ = "return_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("condition IN ('resellable', 'damaged', 'inspect')", name="condition"),
        CheckConstraint("outcome IS NULL OR outcome IN ('resellable', 'damaged')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("customer_return.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    condition: Mapped[str] = mapped_column(String(16))
    unit_refund: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    # An `inspect` unit waits in quarantine until a manager decides: back on sale, or damaged.
    outcome: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(String(120), default="")

    customer_return: Mapped[CustomerReturn] = relationship(back_populates="lines")
    order_line = relationship("OrderLine")
    product = relationship("Product")


# What the customer can be told; each can be turned off by the retailer (RetailerSettings.notifications_off).
NOTIFICATION_KINDS = (
    "order_confirmed",
    "order_split",
    "order_delayed",
    "order_cancelled",
    "order_changed",
    "shipped",
    "pickup_ready",
    "pickup_reminder",
    "pickup_collected",
    "return_received",
    "refunded",
)
HANDOVER_ON_FAILED_CAPTURE = ("hold", "hand_over")


class RetailerSettings(db.Model):
    """The retailer's payment, return and customer message settings (one row, id 1; defaults when absent)."""

    __tablename__ = "retailer_settings"
    __table_args__ = (
        CheckConstraint("return_window_days BETWEEN 0 AND 365", name="return_window_days"),
        CheckConstraint("failed_capture IN ('hold', 'hand_over')", name="failed_capture"),
        CheckConstraint("personal_data_retention_days BETWEEN 30 AND 3650", name="personal_data_retention_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    return_window_days: Mapped[int] = mapped_column(Integer, default=30)
    # None: every reason of RETURN_REASONS, in that order.
    return_reasons: Mapped[list | None] = mapped_column(JSON)
    # A capture that failed before a click & collect hand-over: hold the goods, or hand over and retry the capture.
    failed_capture: Mapped[str] = mapped_column(String(16), default="hold")
    notifications_off: Mapped[list | None] = mapped_column(JSON)
    # French and Italian labour rules restrict individual monitoring: team figures only unless the retailer says so
    # (then each person's figures are shown to their store's managers, and to the person).
    individual_productivity: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Days after an order closed (its last change) before its customer's name, contacts and address are erased
    # (app.core.privacy.erase_expired): 1095, three years, by default (docs/PRIVACY.md says why).
    personal_data_retention_days: Mapped[int] = mapped_column(Integer, default=1095, server_default="1095")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120), default="")
