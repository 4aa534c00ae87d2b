"""Database models of the shared core. Only app.core operations write them."""

from app.core.models.api import ApiClient, IdempotencyRecord
from app.core.models.audit import AuditEvent
from app.core.models.catalogue import Product, ProductBarcode, ShelfLocation
from app.core.models.events import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription
from app.core.models.location import Location
from app.core.models.orders import (
    DeliveryMethod,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from app.core.models.sourcing import ProductBlock, SourcingDecision, SourcingRules
from app.core.models.stock import ChannelBuffer, MovementKind, Reservation, StockLevel, StockMovement
from app.core.models.users import Role, User, membership
from app.core.models.work import (
    Carrier,
    CarrierCollection,
    CarrierService,
    LabelStatus,
    Manifest,
    ManifestStatus,
    OutboundEmail,
    PackageType,
    Parcel,
    ParcelItem,
    PickList,
    PickListStatus,
    PrintJob,
    PrintJobChunk,
    PrintJobStatus,
    Scan,
    ScanMode,
    ShippingLabel,
)

__all__ = [
    "ApiClient",
    "AuditEvent",
    "Carrier",
    "CarrierCollection",
    "CarrierService",
    "ChannelBuffer",
    "DeliveryMethod",
    "DeliveryStatus",
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentStatus",
    "IdempotencyRecord",
    "LabelStatus",
    "Location",
    "Manifest",
    "ManifestStatus",
    "MovementKind",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OutboundEmail",
    "OutboxEvent",
    "PackageType",
    "Parcel",
    "ParcelItem",
    "PickList",
    "PickListStatus",
    "PrintJob",
    "PrintJobChunk",
    "PrintJobStatus",
    "Product",
    "ProductBarcode",
    "ProductBlock",
    "Reservation",
    "Role",
    "Scan",
    "ScanMode",
    "ShelfLocation",
    "ShippingLabel",
    "SourcingDecision",
    "SourcingRules",
    "StockLevel",
    "StockMovement",
    "User",
    "WebhookDelivery",
    "WebhookSubscription",
    "membership",
]
