from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models.base import Timestamps
from app.extensions import db


class Product(Timestamps, db.Model):
    """A sellable item; its GTIN is validated by the catalogue operations. `name` is the default name, `names` the
    name per language ({"fr": ..., "it": ...}) shown to staff who read it. An inactive product is no longer sold:
    it stays for its history (orders, ledger) and new orders for it are refused."""

    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("weight_grams IS NULL OR weight_grams >= 0", name="weight"),
        Index("ix_product_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(80), default="")
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    length_mm: Mapped[int | None] = mapped_column(Integer)
    width_mm: Mapped[int | None] = mapped_column(Integer)
    height_mm: Mapped[int | None] = mapped_column(Integer)
    price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    image_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    names: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    style: Mapped[str] = mapped_column(String(64), default="", server_default="")
    size: Mapped[str] = mapped_column(String(32), default="", server_default="")
    colour: Mapped[str] = mapped_column(String(64), default="", server_default="")
    flags: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")

    barcodes: Mapped[list["ProductBarcode"]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="ProductBarcode.id"
    )

    def __repr__(self) -> str:
        return f"<Product {self.sku}>"


class ProductBarcode(db.Model):
    """An extra code printed on a product (supplier label, old GTIN)."""

    __tablename__ = "product_barcode"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)

    product: Mapped[Product] = relationship(back_populates="barcodes")


class ShelfLocation(db.Model):
    """Where a product sits in a store, and where it comes in the pick path."""

    __tablename__ = "shelf_location"
    __table_args__ = (UniqueConstraint("location_id", "product_id", name="uq_shelf_location_store_product"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), index=True)
    aisle: Mapped[str] = mapped_column(String(16))
    bay: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(8), default="", server_default="")
    pick_sequence: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def code(self) -> str:
        """aisle-bay-level as printed on the shelf label ("A3-12-2"; aisle-bay when the level is not known)."""
        return "-".join(part for part in (self.aisle, self.bay, self.level) if part)
