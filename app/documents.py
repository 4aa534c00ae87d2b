"""Printable documents of the app's records: models in, labels/ data out, with the reader's words.

Shared by the screens (app.web) and the API (app.api.parcels), so neither imports the other.
"""

from flask_babel import gettext, ngettext

from app.core.errors import N_
from app.core.models import ShippingLabel
from app.formatting import customer_locale, decimal_symbol, money, product_name, store_date, store_time
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


def pickup_store_address(store) -> ld.Address:
    """A pickup store as the recipient of a click & collect transfer: its name and full address."""
    return ld.Address(
        name=store.name,
        line1=store.address_line1 or store.name,
        postcode=store.postcode or "",
        city=store.city or "",
        country=store.country or "FR",
        line2=store.address_line2 or "",
    )


def _transfer_to(fulfilment):
    """The pickup store a click & collect transfer travels to; None for a parcel going to the customer."""
    from app.core.floor.pickups import is_transfer

    return fulfilment.transfer_to if is_transfer(fulfilment) else None


def destination(fulfilment) -> ld.Address:
    """Where a fulfilment's parcels go: the customer's address, or the pickup store's for a transfer."""
    store = _transfer_to(fulfilment)
    return pickup_store_address(store) if store is not None else customer_address(fulfilment.order)


def transfer_note(fulfilment) -> str:
    """What a transfer's label and slip say it is (in the current language); empty for any other parcel."""
    store = _transfer_to(fulfilment)
    if store is None:
        return ""
    return gettext(
        "Click & collect transfer: order %(ref)s to store %(store)s",
        ref=fulfilment.order.reference,
        store=f"{store.name} ({store.code})",
    )


def label_document(label: ShippingLabel) -> ld.ShippingLabel:
    """The printable label of a ShippingLabel row, in the customer's language (they read it too). A click &
    collect transfer is addressed to its pickup store and says so (transfer_note)."""
    parcel = label.parcel
    fulfilment = parcel.fulfilment
    order, store = fulfilment.order, fulfilment.location
    count = len(fulfilment.parcels)
    recipient = destination(fulfilment)
    with customer_locale(order):
        return ld.ShippingLabel(
            sender=store_address(store),
            recipient=recipient,
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
                    recipient.country,
                    recipient.postcode,
                    label.tracking_number,
                    f"{parcel.number}/{count}",
                ]
            ),
            captions=shipping_captions(),
            note=transfer_note(fulfilment),
        )


# --- whole documents: model objects in, printable bytes out ---------------------------------------


def packing_slip_document(fulfilment, size: str = "a4") -> bytes:
    """The packing slip of a fulfilment (its picked units), as a PDF on A4 or a 4x6 inch label; a transfer's is
    addressed to the pickup store and says so."""
    from labels.documents import packing_slip_pdf

    order, store = fulfilment.order, fulfilment.location
    count = len(fulfilment.parcels)
    with customer_locale(order):  # the customer reads the slip, product names included
        items = tuple(
            ld.SlipItem(
                sku=line.product.sku,
                name=product_name(line.product),
                quantity=line.picked,
                gtin=line.product.gtin or "",
            )
            for line in fulfilment.lines
            if line.picked
        )
        slip = ld.PackingSlip(
            store_name=store.name,
            store_address=store_address(store),
            order_reference=order.reference,
            when=store_date(order.created_at, store),
            customer=destination(fulfilment),
            items=items,
            gift_message=order.gift_message or "",
            parcel_summary=ngettext("%(num)s parcel", "%(num)s parcels", count) if count else "",
            captions=slip_captions(),
            note=transfer_note(fulfilment),
        )
    return packing_slip_pdf(slip, size=size)


def manifest_document(manifest) -> bytes:
    """A carrier's manifest: every parcel on it with its label in force, as a PDF for the driver to sign."""
    from labels.documents import manifest_pdf

    store = manifest.location
    parcels = tuple(
        ld.ManifestParcel(
            tracking_number=label.tracking_number,
            order_reference=p.fulfilment.order.reference,
            weight_grams=p.weight_grams or 0,
            parcel_no=p.number,
            parcel_count=len(p.fulfilment.parcels),
            service_name=label.service.name,
        )
        for p in manifest.parcels
        for label in [p.label]
        if label is not None
    )
    document = ld.Manifest(
        number=manifest.number,
        carrier_name=manifest.carrier.name,
        store_name=store.name,
        store_address=store_address(store),
        when=store_time(manifest.created_at, store),
        parcels=parcels,
        captions=manifest_captions(),
    )
    return manifest_pdf(document)


def pick_list_document(pick_list, commands: tuple[tuple[str, str], ...]) -> bytes:
    """A pick list on paper in the pick path's order, with the command barcodes (value, caption) for a handheld."""
    from app.core.floor import picking
    from labels.documents import pick_list_pdf

    document = ld.PickList(
        number=pick_list.number,
        store_name=pick_list.location.name,
        when=store_time(pick_list.created_at, pick_list.location),
        groups=tuple(
            ld.PickGroup(
                shelf=g.shelf_text,
                sku=g.product.sku,
                name=product_name(g.product),
                gtin=g.product.gtin or "",
                total=g.total,
                split=tuple((s.tote, s.reference, s.line.quantity) for s in g.splits),
            )
            for g in picking.groups(pick_list)
        ),
        commands=commands,
        captions=pick_captions(),
    )
    return pick_list_pdf(document)


# --- customer returns -------------------------------------------------------------------------------------------

# A return's reasons and conditions in words (gettext at the edge, in the reader's language).
RETURN_REASON_WORDS = {
    "changed_mind": N_("Changed my mind"),
    "too_small": N_("Too small"),
    "too_large": N_("Too large"),
    "not_as_described": N_("Not as described"),
    "damaged": N_("Arrived damaged"),
    "late": N_("Arrived too late"),
    "wrong_item": N_("Wrong item"),
    "other": N_("Other reason"),
}
RETURN_CONDITION_WORDS = {
    "resellable": N_("Resellable"),
    "damaged": N_("Damaged"),
    "inspect": N_("To be inspected"),
}


def return_reason_word(code: str) -> str:
    return gettext(RETURN_REASON_WORDS[code]) if code in RETURN_REASON_WORDS else code


def return_condition_word(code: str) -> str:
    return gettext(RETURN_CONDITION_WORDS[code]) if code in RETURN_CONDITION_WORDS else code


def return_captions() -> ld.Captions:
    return ld.Captions(
        {
            "title": gettext("Return receipt"),
            "order": gettext("Order"),
            "date": gettext("Date"),
            "item": gettext("Item"),
            "quantity": gettext("Qty"),
            "reason": gettext("Reason"),
            "condition": gettext("Condition"),
            "refund": gettext("Refund"),
            "refunded": gettext("Refunded to your original payment."),
            "expected": gettext("Your refund is sent once we receive the items."),
            "thanks": gettext("Thank you! Keep this receipt."),
            "page": gettext("Page {n} of {m}"),
        }
    )


def return_receipt_document(customer_return, size: str = "a4") -> bytes:
    """The customer's receipt of a return, in the customer's language: the receiving store's name and address, the
    date and time on its clock, each item with its quantity, reason and condition, the refund to the original
    payment, and the return number as a Code128. A4 ("a4") or an 80 mm till roll ("80mm")."""
    from labels.documents import return_receipt_pdf

    order, store = customer_return.order, customer_return.location
    expected = customer_return.status != "received"
    with customer_locale(order):
        receipt = ld.ReturnReceipt(
            number=customer_return.number,
            store_name=store.name,
            store_address=store_address(store),
            order_reference=order.reference,
            when=store_time(customer_return.received_at or customer_return.created_at, store),
            items=tuple(
                ld.ReturnItem(
                    sku=line.product.sku,
                    name=product_name(line.product),
                    quantity=line.quantity,
                    reason=return_reason_word(line.reason),
                    condition=return_condition_word(line.condition),
                )
                for line in customer_return.lines
            ),
            refund=money(customer_return.refund_amount, order.currency),
            expected=expected,
            captions=return_captions(),
        )
    return return_receipt_pdf(receipt, size=size)
