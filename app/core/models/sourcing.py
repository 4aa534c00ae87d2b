from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models.base import UTCDateTime, utcnow
from app.extensions import db


class SourcingDecision(db.Model):
    """Why an order (or what was left of it) went where it went: ranked candidates and reasons."""

    __tablename__ = "sourcing_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(32), default="new_order")
    candidates: Mapped[list] = mapped_column(JSON, default=list)
    plan: Mapped[list] = mapped_column(JSON, default=list)
    unfulfilled: Mapped[dict] = mapped_column(JSON, default=dict)
    notes: Mapped[list] = mapped_column(JSON, default=list)  # about the whole decision (origin, rules applied)
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SourcingRules(db.Model):
    """The retailer's routing rules, edited by admins in the UI and the API (one row, id 1).

    Ship orders are ranked by full coverage first, then by a score in kilometre-equivalents:
    distance + workload_km_per_order × open fulfilments + capacity_km × share of today's
    capacity used − priority_km × location priority. Lower is better.
    """

    __tablename__ = "sourcing_rules"
    __table_args__ = (
        CheckConstraint("max_splits BETWEEN 1 AND 5", name="max_splits"),
        CheckConstraint("collect_shortage IN ('refuse', 'transfer')", name="collect_shortage"),
        CheckConstraint("pickup_expiry IN ('cancel', 'customer_service')", name="pickup_expiry"),
        CheckConstraint(
            "workload_km_per_order >= 0 AND capacity_km >= 0 AND priority_km >= 0 AND unknown_distance_km >= 0",
            name="weights",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    max_splits: Mapped[int] = mapped_column(Integer, default=2)
    collect_shortage: Mapped[str] = mapped_column(String(16), default="refuse")
    # A click & collect order nobody came for: cancelled, or kept open for customer service to call the customer.
    pickup_expiry: Mapped[str] = mapped_column(String(16), default="cancel", server_default="cancel")
    ship_from_warehouses: Mapped[bool] = mapped_column(Boolean, default=True)
    workload_km_per_order: Mapped[int] = mapped_column(Integer, default=5)
    capacity_km: Mapped[int] = mapped_column(Integer, default=50)
    priority_km: Mapped[int] = mapped_column(Integer, default=100)
    unknown_distance_km: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120), default="")


class ProductBlock(db.Model):
    """A product a location must not be given (damaged display stock, recall, local exclusivity...)."""

    __tablename__ = "product_block"
    __table_args__ = (UniqueConstraint("location_id", "product_id", name="uq_product_block_location_product"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120), default="")

    location = relationship("Location")
    product = relationship("Product")
