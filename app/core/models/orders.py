from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    bindparam,
    event,
    func,
    inspect,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models.base import Timestamps, UTCDateTime
from app.core.service.text import SEARCH_TEXT_LENGTH
from app.core.service.text import search_text as _search_text
from app.extensions import db


class DeliveryMethod(StrEnum):
    SHIP = "ship"
    COLLECT = "collect"


class OrderStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class FulfilmentStatus(StrEnum):
    CREATED = "created"
    ACCEPTED = "accepted"
    PICKING = "picking"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"
    EXPIRED = "expired"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# The open statuses (app.core.ordering.orders.OPEN), in the order the partial index on open work names them.
OPEN_STATUSES = ("created", "accepted", "picking", "picked", "packed", "ready_for_pickup")
_OPEN_WHERE = text("status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")")
# Closed orders whose customer's personal data is still held (the retention job's partial index).
_RETAINED_WHERE = text("status IN ('completed', 'cancelled') AND personal_data_erased_at IS NULL")


class Order(Timestamps, db.Model):
    """A customer's order from one channel; split into fulfilments per location."""

    __tablename__ = "customer_order"
    __table_args__ = (
        UniqueConstraint("channel", "external_ref", name="uq_customer_order_channel_ref"),
        CheckConstraint("delivery_method IN ('ship', 'collect')", name="delivery_method"),
        CheckConstraint("status IN ('open', 'completed', 'cancelled')", name="status"),
        # GET /api/v1/orders?status=...: the page in id order straight from the index, however long the history.
        Index("ix_customer_order_status_id", "status", "id"),
        # The counter look-up finds an order by its channel's reference alone (app.core.floor.lookup): see e9a1f0c0de05.
        Index("ix_customer_order_external_ref", "external_ref"),
        # The customer service search (app.core.service.search): LIKE '%lea%' on search_text from a trigram index on
        # PostgreSQL (pg_trgm, see e9a1f0c0de10); SQLite ignores the method and keeps a plain index nobody reads.
        # The exception queue and its badge, GET /api/v1/orders?needs_customer_service=true: the flagged few, not a
        # scan of the whole history (e9a1f0c0de14).
        Index(
            "ix_customer_order_flagged",
            "id",
            postgresql_where=text("needs_customer_service"),
            sqlite_where=text("needs_customer_service"),
        ),
        # A whole e-mail is looked up exactly before the trigram search (app.core.service.search): e9a1f0c0de11.
        # PostgreSQL only: SQLite cannot reflect an expression index (its search scans anyway).
        Index("ix_customer_order_lower_email", func.lower(text("customer_email"))).ddl_if(dialect="postgresql"),
        # The retention job (app.core.privacy.erase_expired): closed orders not yet erased, oldest change first; an
        # order leaves the index once erased, so the job reads only what is due (see e9a1f0c0de13).
        Index(
            "ix_customer_order_retention",
            "updated_at",
            postgresql_where=_RETAINED_WHERE,
            sqlite_where=_RETAINED_WHERE,
        ),
        Index(
            "ix_customer_order_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_ref: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.OPEN)
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(254), default="")
    customer_phone: Mapped[str] = mapped_column(String(32), default="")
    customer_language: Mapped[str] = mapped_column(String(8), default="en")
    delivery_method: Mapped[str] = mapped_column(String(16))
    ship_line1: Mapped[str] = mapped_column(String(200), default="")
    ship_line2: Mapped[str] = mapped_column(String(200), default="")
    ship_postcode: Mapped[str] = mapped_column(String(16), default="")
    ship_city: Mapped[str] = mapped_column(String(100), default="")
    ship_country: Mapped[str] = mapped_column(String(2), default="")
    ship_latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    ship_longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    pickup_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    promised_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_reference: Mapped[str] = mapped_column(String(120), default="")
    payment_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # The payment provider that authorised payment_amount (app.core.payments), and the shipping fee within it (the
    # first capture takes it; a return of the whole order refunds it). None: what the lines do not account for.
    payment_provider: Mapped[str] = mapped_column(String(32), default="", server_default="")
    shipping_fee: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when some units could not be placed anywhere: customer service must call the customer.
    needs_customer_service: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Value-added services asked for with the order: their own step when packing.
    gift_wrap: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    gift_message: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # The customer's name, e-mail and phone digits, folded (app.core.service.text.search_text): kept by
    # orders.create_order and by the events below on every change, read by the customer service search.
    search_text: Mapped[str] = mapped_column(String(SEARCH_TEXT_LENGTH), default="", server_default="")
    # When the customer's name, contacts and address were erased (app.core.privacy): on request, or after the
    # retailer's retention period. None: still held.
    personal_data_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.line_no"
    )
    fulfilments: Mapped[list["Fulfilment"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="Fulfilment.id"
    )
    pickup_location = relationship("Location")

    @property
    def reference(self) -> str:
        return f"{self.channel.upper()}-{self.external_ref}"


_SEARCHED = ("customer_name", "customer_email", "customer_phone")


@event.listens_for(Order, "before_insert")
def _new_search_text(_mapper, _connection, order: Order) -> None:
    """An order added through the ORM (tests, imports) gets its search_text."""
    order.search_text = _search_text(order.customer_name, order.customer_email, order.customer_phone)


@event.listens_for(Order, "before_update")
def _keep_search_text(_mapper, _connection, order: Order) -> None:
    """A changed name, e-mail or phone keeps search_text in step; other changes (a status) read nothing more."""
    state = inspect(order)
    if not any(state.attrs[name].history.has_changes() for name in _SEARCHED):
        return
    wanted = _search_text(order.customer_name, order.customer_email, order.customer_phone)
    if order.search_text != wanted:
        order.search_text = wanted


class OrderLine(db.Model):
    __tablename__ = "order_line"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no", name="uq_order_line_order_line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("cancelled >= 0 AND cancelled <= quantity", name="cancelled_within_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    # Units customer service cancelled before they left a store (app.core.service.actions.cancel_lines): the order
    # no longer wants them (wanted), no location is asked for them, and they are never captured.
    cancelled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def wanted(self) -> int:
        """Units the customer still wants: ordered, less cancelled."""
        return self.quantity - (self.cancelled or 0)

    order: Mapped[Order] = relationship(back_populates="lines")
    product = relationship("Product")


class Fulfilment(Timestamps, db.Model):
    """The part of an order that one location serves; moves through the state machine."""

    __tablename__ = "fulfilment"
    __table_args__ = (
        CheckConstraint(
            "status IN ('created','accepted','picking','picked','packed','shipped',"
            "'ready_for_pickup','collected','expired','rejected','cancelled')",
            name="status",
        ),
        # Every index below leads with location_id, so none on location_id alone is needed.
        # GET /api/v1/orders?location=...: EXISTS (this location, this order) from the index alone.
        Index("ix_fulfilment_location_id_order_id", "location_id", "order_id"),
        # The newest fulfilment of a store (the queue's "new work arrived"): one step down the index.
        Index("ix_fulfilment_location_id_id", "location_id", "id"),
        # What a store was given since local midnight (sourcing's capacity left today).
        Index("ix_fulfilment_location_id_created_at", "location_id", "created_at"),
        # Open work only, a few rows per store whatever the history: queue tabs and lists, sourcing's workload.
        Index(
            "ix_fulfilment_open_location_id_status",
            "location_id",
            "status",
            postgresql_where=_OPEN_WHERE,
            sqlite_where=_OPEN_WHERE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    status: Mapped[str] = mapped_column(String(20), default=FulfilmentStatus.CREATED, index=True)
    accept_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ready_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_reason: Mapped[str] = mapped_column(String(200), default="")
    # Click & collect served from another location: the parcel travels to this pickup store.
    transfer_to_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    # Sent again at no charge for a lost or damaged parcel: the shipped fulfilment this one replaces
    # (app.core.service.actions.reship). Its units are never captured.
    reship_of_id: Mapped[int | None] = mapped_column(ForeignKey("fulfilment.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Floor work: who is picking it, on which pick list and into which tote; the gift step once done.
    picker_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    pick_list_id: Mapped[int | None] = mapped_column(ForeignKey("pick_list.id"), index=True)
    tote: Mapped[str] = mapped_column(String(2), default="", server_default="")
    gift_done: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    order: Mapped[Order] = relationship(back_populates="fulfilments")
    location = relationship("Location", foreign_keys=[location_id])
    transfer_to = relationship("Location", foreign_keys=[transfer_to_id])
    reship_of = relationship("Fulfilment", remote_side=[id], foreign_keys=[reship_of_id])
    picker = relationship("User")
    pick_list = relationship("PickList", back_populates="fulfilments")
    parcels = relationship(
        "Parcel", back_populates="fulfilment", cascade="all, delete-orphan", order_by="Parcel.number"
    )
    lines: Mapped[list["FulfilmentLine"]] = relationship(
        back_populates="fulfilment", cascade="all, delete-orphan", order_by="FulfilmentLine.id"
    )

    # A concurrent change to the same fulfilment fails instead of being silently overwritten.
    __mapper_args__ = {"version_id_col": version}


def open_statuses_clause(status=None):
    """`fulfilment.status IN ('created', ...)` with the open statuses as literals, in the words of the partial
    index ix_fulfilment_open_location_id_status: SQLite uses a partial index only for a query that repeats its
    WHERE, and PostgreSQL cannot prove bound parameters imply it in the generic plan of a prepared statement.
    status: the column of an alias of the fulfilment table (default: Fulfilment.status)."""
    return (Fulfilment.status if status is None else status).in_(
        bindparam("open_statuses", list(OPEN_STATUSES), expanding=True, literal_execute=True, unique=True)
    )


class FulfilmentLine(db.Model):
    __tablename__ = "fulfilment_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("picked >= 0 AND short >= 0 AND picked + short <= quantity", name="picked_within_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fulfilment_id: Mapped[int] = mapped_column(ForeignKey("fulfilment.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    picked: Mapped[int] = mapped_column(Integer, default=0)
    short: Mapped[int] = mapped_column(Integer, default=0)

    fulfilment: Mapped[Fulfilment] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()
    product = relationship("Product")
