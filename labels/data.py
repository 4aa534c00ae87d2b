"""Plain data for labels and documents, and the small text helpers every renderer shares.

Everything here is immutable. Captions are the translated words printed on a document; a caller
passes the whole mapping or only the keys it wants to change (missing keys fall back to English).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


class Captions(Mapping[str, str]):
    """A read-only, hashable mapping of caption key to translated text (so the dataclasses stay hashable)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None, /, **more: str) -> None:
        merged = dict(items or {})
        merged.update(more)
        object.__setattr__(self, "_items", merged)

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Captions are read-only")

    def __repr__(self) -> str:
        return f"Captions({self._items!r})"


SHIPPING_CAPTIONS = Captions(
    {
        "from": "From",
        "to": "To",
        "service": "Service",
        "weight": "Weight",
        "parcel": "Parcel {n} of {m}",
        "order": "Order",
        "date": "Date",
        "tracking": "Tracking",
        "decimal": ".",  # decimal separator of the weight ("," in French and Italian)
    }
)

SLIP_CAPTIONS = Captions(
    {
        "title": "Packing slip",
        "order": "Order",
        "date": "Date",
        "ship_to": "Ship to",
        "sku": "SKU",
        "item": "Item",
        "quantity": "Qty",
        "gift_message": "Gift message",
        "thanks": "Thank you for your order!",
        "gtin": "GTIN",
        "page": "Page {n} of {m}",
    }
)

MANIFEST_CAPTIONS = Captions(
    {
        "title": "Carrier manifest",
        "carrier": "Carrier",
        "date": "Date",
        "tracking": "Tracking number",
        "order": "Order",
        "service": "Service",
        "weight": "Weight",
        "parcel": "Parcel",
        "parcels_total": "Parcels",
        "weight_total": "Total weight",
        "signature": "Driver signature",
        "store": "Store",
        "page": "Page {n} of {m}",
        "decimal": ".",
    }
)

PICK_CAPTIONS = Captions(
    {
        "title": "Pick list",
        "date": "Date",
        "shelf": "Shelf",
        "product": "Product",
        "sku": "SKU",
        "gtin": "GTIN",
        "total": "Total",
        "split": "Totes",
        "commands": "Scan to",
        "page": "Page {n} of {m}",
    }
)


RETURN_CAPTIONS = Captions(
    {
        "title": "Return receipt",
        "order": "Order",
        "date": "Date",
        "item": "Item",
        "quantity": "Qty",
        "reason": "Reason",
        "condition": "Condition",
        "refund": "Refund",
        "refunded": "Refunded to your original payment.",
        "expected": "Your refund is sent once we receive the items.",
        "thanks": "Thank you! Keep this receipt.",
        "page": "Page {n} of {m}",
    }
)


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    postcode: str
    city: str
    country: str  # ISO 3166 alpha-2
    line2: str = ""
    phone: str = ""


@dataclass(frozen=True)
class ShippingLabel:
    sender: Address
    recipient: Address
    carrier_name: str
    service_name: str
    tracking_number: str
    weight_grams: int
    parcel_no: int
    parcel_count: int
    order_reference: str
    when: str  # the ship date as printed: the store's local day in the reader's words
    routing: str  # text of the QR code, e.g. "CX|EXP|FR|75011|CX123456785FR|2/3"
    captions: Mapping[str, str] = SHIPPING_CAPTIONS
    # A line printed beside the recipient's caption, e.g. that the parcel is a click & collect transfer for an order.
    note: str = ""


@dataclass(frozen=True)
class SlipItem:
    sku: str
    name: str
    quantity: int
    gtin: str = ""


@dataclass(frozen=True)
class PackingSlip:
    store_name: str
    store_address: Address
    order_reference: str
    when: str  # the order date as printed: the store's local day in the reader's words
    customer: Address
    items: tuple[SlipItem, ...]
    gift_message: str = ""
    parcel_summary: str = ""  # e.g. "2 parcels"
    captions: Mapping[str, str] = SLIP_CAPTIONS
    # Printed in bold under the order's facts, e.g. that the parcel is a click & collect transfer to a store.
    note: str = ""


@dataclass(frozen=True)
class ManifestParcel:
    tracking_number: str
    order_reference: str
    weight_grams: int
    parcel_no: int
    parcel_count: int
    service_name: str


@dataclass(frozen=True)
class Manifest:
    number: str  # e.g. "MAN-000042", printed as a Code128 at the top of every page
    carrier_name: str
    store_name: str
    store_address: Address
    when: str  # when it was opened, as printed: the store's local date and time in the reader's words
    parcels: tuple[ManifestParcel, ...]
    captions: Mapping[str, str] = MANIFEST_CAPTIONS


@dataclass(frozen=True)
class PickGroup:
    """One product on a pick list, with how many units go to which tote."""

    shelf: str
    sku: str
    name: str
    gtin: str
    total: int
    split: tuple[tuple[str, str, int], ...]  # (tote letter, order reference, quantity)


@dataclass(frozen=True)
class PickList:
    number: str
    store_name: str
    when: str  # when it was made, as printed: the store's local date and time in the reader's words
    groups: tuple[PickGroup, ...]
    commands: tuple[tuple[str, str], ...]  # (barcode value, caption), e.g. ("CMD:CONFIRM", "Confirm")
    captions: Mapping[str, str] = PICK_CAPTIONS


@dataclass(frozen=True)
class ReturnItem:
    sku: str
    name: str
    quantity: int
    reason: str  # in the reader's words
    condition: str  # in the reader's words


@dataclass(frozen=True)
class ReturnReceipt:
    """The customer's receipt of a return: its number as Code128 (what a later scan finds it by)."""

    number: str  # e.g. "RET-0000001"
    store_name: str
    store_address: Address
    order_reference: str
    when: str  # the store's local date and time in the reader's words
    items: tuple[ReturnItem, ...]
    refund: str  # the amount as the reader writes it, e.g. "20,00 €"
    expected: bool = False  # a return by post not yet received: the refund waits
    captions: Mapping[str, str] = RETURN_CAPTIONS


# --- helpers shared by the renderers -------------------------------------------------------------

# Letters with no decomposition to a Latin-1 base letter.
_FALLBACK = {
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "ı": "i",
    "Ŀ": "L",
    "ŀ": "l",
    "Ŋ": "N",
    "ŋ": "n",
    "Ŧ": "T",
    "ŧ": "t",
    "ĸ": "k",
    "ſ": "s",
    "Ə": "E",
    "ə": "e",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "‹": "<",
    "›": ">",
}


def _winansi(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: object) -> str:
    """Text the standard PDF fonts can draw (WinAnsi: Latin-1 plus €, œ, Š, curly quotes...).

    Other characters become their closest plain letter ("Łódź" -> "Lódz"), or "?" when there is none;
    line breaks and tabs become spaces and other control characters are dropped. Never raises.
    """
    out: list[str] = []
    for char in unicodedata.normalize("NFC", str(text)):
        if char in "\t\n\r\v\f":
            out.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        elif _winansi(char):
            out.append(char)
        elif char in _FALLBACK:
            out.append(_FALLBACK[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(base if base and all(_winansi(c) for c in base) else "?")
    return "".join(out)


_ASCII = str.maketrans(
    {
        "ß": "ss",
        "Æ": "AE",
        "æ": "ae",
        "Ø": "O",
        "ø": "o",
        "Œ": "OE",
        "œ": "oe",
        "Þ": "Th",
        "þ": "th",
        "Ð": "D",
        "ð": "d",
        "€": "EUR",
        "£": "GBP",
        "‘": "'",
        "’": "'",
        "‚": ",",
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "–": "-",
        "—": "-",
        "…": "...",
        "•": "*",
        "·": ".",
        "×": "x",
        "\u00a0": " ",
        "\u00ad": "",
    }
)


def ascii_text(text: object) -> str:
    """printable(text) folded to ASCII for printer-resident fonts: "Françoise Łódź" -> "Francoise Lodz"."""
    folded = unicodedata.normalize("NFKD", printable(text).translate(_ASCII))
    return "".join(c if c < "\x7f" else "?" for c in folded if not unicodedata.combining(c))


def caption(captions: Mapping[str, str], defaults: Mapping[str, str], key: str, **values: object) -> str:
    """The caption for key (falling back to the English default), formatted with values, printable."""
    template = captions.get(key) or defaults.get(key, key)
    if values:
        try:
            template = template.format(**values)
        except (KeyError, IndexError, ValueError):
            template = defaults.get(key, key).format(**values)
    return printable(template)


def kilograms(grams: int, decimal: str = ".") -> str:
    """1250 -> "1.25 kg" (two decimals, with the given decimal separator)."""
    return f"{grams / 1000:.2f}".replace(".", decimal or ".") + " kg"


def barcode_value(value: str, what: str = "barcode") -> str:
    """value, checked to be printable ASCII (what Code128 encodes without extensions); ValueError otherwise."""
    if not value or any(not (32 <= ord(c) < 127) for c in value):
        raise ValueError(f"{what} must be non-empty printable ASCII for Code128: {value!r}")
    return value
