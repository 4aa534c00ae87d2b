"""Database models of the shared core. Only app.core operations write them."""

from app.core.models.api import ApiClient, IdempotencyRecord
from app.core.models.audit import AuditEvent
from app.core.models.catalogue import Product, ProductBarcode, ShelfLocation
from app.core.models.events import OutboxEvent, WebhookDelivery, WebhookSubscription
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

__all__ = [
    "ApiClient",
    "AuditEvent",
    "ChannelBuffer",
    "DeliveryMethod",
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentStatus",
    "IdempotencyRecord",
    "Location",
    "MovementKind",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OutboxEvent",
    "Product",
    "ProductBarcode",
    "ProductBlock",
    "Reservation",
    "Role",
    "ShelfLocation",
    "SourcingDecision",
    "SourcingRules",
    "StockLevel",
    "StockMovement",
    "User",
    "WebhookDelivery",
    "WebhookSubscription",
    "membership",
]
