from decimal import Decimal

from sqlalchemy import JSON, Boolean, CheckConstraint, Integer, Numeric, String
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models.base import Timestamps
from app.extensions import db


class Location(Timestamps, db.Model):
    """A store or a warehouse that holds stock and serves fulfilments."""

    __tablename__ = "location"
    __table_args__ = (
        CheckConstraint("kind IN ('store', 'warehouse')", name="kind"),
        CheckConstraint("daily_capacity >= 0", name="daily_capacity"),
        CheckConstraint("pick_batch_size BETWEEN 1 AND 50", name="pick_batch_size"),
        CheckConstraint("scan_mode IN ('every', 'first', 'none')", name="scan_mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16), default="store")
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="", server_default="")
    postcode: Mapped[str] = mapped_column(String(16), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="FR")
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    ships_from_store: Mapped[bool] = mapped_column(Boolean, default=True)
    click_and_collect: Mapped[bool] = mapped_column(Boolean, default=True)
    returns: Mapped[bool] = mapped_column(Boolean, default=True)
    daily_capacity: Mapped[int] = mapped_column(Integer, default=50)
    accept_within_minutes: Mapped[int] = mapped_column(Integer, default=60)
    ready_within_minutes: Mapped[int] = mapped_column(Integer, default=240)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    ship_paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    sourcing_priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # {"mon": [["09:00", "19:00"]], ...} in the store's timezone; None means app.core.ordering.hours.DEFAULT_HOURS.
    opening_hours: Mapped[dict | None] = mapped_column(JSON)
    # The order in which an associate walks the store's aisles (pick path); None: aisles in natural order.
    walk: Mapped[list | None] = mapped_column(JSON)
    # Floor settings: orders per batch pick list (1-50), scan mode (every, first, none), scanning while packing,
    # and the thermal printer that takes ZPL on host:port (empty: print PDFs from the tablet).
    pick_batch_size: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    scan_mode: Mapped[str] = mapped_column(String(8), default="every", server_default="every")
    scan_to_pack: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    zpl_printer: Mapped[str] = mapped_column(String(120), default="", server_default="")
    # Click & collect (app.core.floor.pickups): a bag step with bag labels before staging; how many days (store
    # time) an order waits on the hold shelf; a reminder this many hours before the hold runs out (0: none); every
    # bag's label scanned at hand-over; the customer may say "I'm here" from the ready e-mail (curbside).
    pickup_bag_step: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    pickup_hold_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    pickup_reminder_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    pickup_bag_scan: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    curbside: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # The reasons offered when a customer leaves part of an order (app.core.models.pickups.REFUSAL_REASONS); None: all.
    pickup_refusal_reasons: Mapped[list | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<Location {self.code}>"
