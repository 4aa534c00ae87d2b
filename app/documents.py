"""Printable documents of the app's records: models in, labels/ data out, with the reader's words.

Shared by the screens (app.web.pack) and the API (app.api.parcels), so neither imports the other.
"""

from flask_babel import gettext

from app.core.models import ShippingLabel
from app.formatting import customer_locale, decimal_symbol, store_date
from labels import data as ld


def shipping_captions() -> ld.Captions:
    return ld.Captions(
        {
            "from": gettext("From"),
            "to": gettext("To"),
            "service": gettext("Service"),
            "weight": gettext("Weight"),
            "parcel": gettext("Parcel {n} of {m}"),
            "order": gettext("Order"),
            "date": gettext("Date"),
            "tracking": gettext("Tracking"),
            "decimal": decimal_symbol(),
        }
    )


def slip_captions() -> ld.Captions:
    return ld.Captions(
        {
            "title": gettext("Packing slip"),
            "order": gettext("Order"),
            "date": gettext("Date"),
            "ship_to": gettext("Ship to"),
            "sku": gettext("SKU"),
            "item": gettext("Item"),
            "quantity": gettext("Qty"),
            "gift_message": gettext("Gift message"),
            "thanks": gettext("Thank you for your order!"),
            "gtin": gettext("GTIN"),
            "page": gettext("Page {n} of {m}"),
        }
    )


def manifest_captions() -> ld.Captions:
    return ld.Captions(
        {
            "title": gettext("Carrier manifest"),
            "carrier": gettext("Carrier"),
            "date": gettext("Date"),
            "tracking": gettext("Tracking number"),
            "order": gettext("Order"),
            "service": gettext("Service"),
            "weight": gettext("Weight"),
            "parcel": gettext("Parcel"),
            "parcels_total": gettext("Parcels"),
            "weight_total": gettext("Total weight"),
            "signature": gettext("Driver signature"),
            "store": gettext("Store"),
            "page": gettext("Page {n} of {m}"),
            "decimal": decimal_symbol(),
        }
    )


def pick_captions() -> ld.Captions:
    return ld.Captions(
        {
            "title": gettext("Pick list"),
            "date": gettext("Date"),
            "shelf": gettext("Shelf"),
            "product": gettext("Product"),
            "sku": gettext("SKU"),
            "gtin": gettext("GTIN"),
            "total": gettext("Total"),
            "split": gettext("Totes"),
            "commands": gettext("Scan to"),
            "page": gettext("Page {n} of {m}"),
        }
    )


def store_address(store) -> ld.Address:
    return ld.Address(
        name=store.name,
        line1=store.address_line1 or store.name,
        postcode=store.postcode or "",
        city=store.city or "",
        country=store.country or "FR",
    )


def customer_address(order) -> ld.Address:
    return ld.Address(
        name=order.customer_name,
        line1=order.ship_line1 or "",
        postcode=order.ship_postcode or "",
        city=order.ship_city or "",
        country=order.ship_country or "",
        line2=order.ship_line2 or "",
        phone=order.customer_phone or "",
    )


def label_document(label: ShippingLabel) -> ld.ShippingLabel:
    """The printable label of a ShippingLabel row, in the customer's language (they read it too)."""
    parcel = label.parcel
    fulfilment = parcel.fulfilment
    order, store = fulfilment.order, fulfilment.location
    count = len(fulfilment.parcels)
    with customer_locale(order):
        return ld.ShippingLabel(
            sender=store_address(store),
            recipient=customer_address(order),
            carrier_name=label.carrier.name,
            service_name=label.service.name,
            tracking_number=label.tracking_number,
            weight_grams=parcel.weight_grams or 0,
            parcel_no=parcel.number,
            parcel_count=count,
            order_reference=order.reference,
            when=store_date(label.created_at, store),
            routing="|".join(
                [
                    label.carrier.code,
                    label.service.code,
                    order.ship_country or "",
                    order.ship_postcode or "",
                    label.tracking_number,
                    f"{parcel.number}/{count}",
                ]
            ),
            captions=shipping_captions(),
        )
