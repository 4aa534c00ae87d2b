"""Capture an order: from what a web shop, a POS or a file sends to a sourced order, one path for the API and imports."""

from decimal import Decimal

from app.core import batch, configuration
from app.core.actor import Actor
from app.core.inventory import stock
from app.core.ordering import orders, sourcing


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value else None


def draft_from_payload(body: dict) -> orders.OrderDraft:
    """The order a checked payload describes (see payloads.OrderInSchema): what the API and the imports receive."""
    delivery, customer, payment = body["delivery"], body["customer"], body.get("payment") or {}
    gift = body.get("gift") or {}
    return orders.OrderDraft(
        channel=body["channel"],
        external_ref=body["external_ref"],
        customer_name=customer["name"],
        customer_email=customer.get("email", ""),
        customer_phone=customer.get("phone", ""),
        customer_language=customer.get("language", "en"),
        delivery_method=delivery["method"],
        ship_to=dict(delivery.get("address") or {}),
        pickup_location_code=delivery.get("pickup_location"),
        lines=[
            orders.LineDraft(
                code=line.get("sku") or line["gtin"],
                quantity=line["quantity"],
                unit_price=_decimal(line.get("unit_price")),
            )
            for line in body["lines"]
        ],
        promised_by=body.get("promised_by"),
        payment_reference=payment.get("reference", ""),
        payment_amount=_decimal(payment.get("amount")),
        currency=payment.get("currency", "EUR"),
        payment_provider=payment.get("provider", ""),
        shipping_fee=_decimal(body.get("shipping_fee")),
        needs_review=body.get("review", False),
        gift_wrap=bool(gift.get("wrap")),
        gift_message=gift.get("message", "").strip(),
    )


def capture_order(order: dict | orders.OrderDraft, *, actor: Actor) -> tuple[orders.Order, bool]:
    """Take an order in and source it; the same channel and reference again returns the first (created=False)."""
    draft = order if isinstance(order, orders.OrderDraft) else draft_from_payload(order)
    # The order's audit, outbox, ledger, reservation, decision, payment and message rows are read by nothing
    # until it is captured: they go out together at the end, one INSERT per table, not through the ORM's flush.
    with batch.rows_written_together(), stock.updates_together():
        configuration.preload()  # rules, settings and webhook subscriptions: one statement, not three
        captured, created = orders.create_order(draft, actor=actor)
        if created:
            captured.messages_queued = []  # a new order has told the customer nothing yet (see customer_messages.send)
            sourcing.source_order(captured, actor=actor)
            _tell_customer(captured)
    return captured, created


def _tell_customer(order: orders.Order) -> None:
    """The customer hears the order is in and, when sourcing split it over several locations, in how many parts."""
    from app.core.integration import customer_messages

    customer_messages.order_confirmed(order)
    if len(customer_messages.open_fulfilments(order)) > 1:
        customer_messages.order_split(order)
