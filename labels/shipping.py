"""Shipping labels: 4x6 inch PDF (one page per label) and ZPL II for 203 dpi thermal printers."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator

from reportlab.lib.pagesizes import inch
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from labels.barcodes import DOT, code128_module_width, code128_modules, draw_code128, draw_qr, qr_matrix
from labels.data import (
    SHIPPING_CAPTIONS,
    Address,
    ShippingLabel,
    ascii_text,
    barcode_value,
    caption,
    kilograms,
    printable,
)

PAGE_WIDTH, PAGE_HEIGHT = 4 * inch, 6 * inch  # 288 x 432 pt
MARGIN = 12.0
REGULAR, BOLD = "Helvetica", "Helvetica-Bold"


def fit(text: str, font: str, size: float, width: float) -> tuple[str, float]:
    """text (already printable) and the largest font size up to size at which it fits width on one line.

    Never cut: small but whole beats cut (a name or an address must be read in full).
    """
    measured = stringWidth(text, font, size)
    if measured <= width or not text:
        return text, size
    return text, _floor(size * width / measured)


def _floor(size: float) -> float:
    return int(size * 10) / 10  # a tenth of a point below the exact fit, so rounding never overflows


def fit_lines(
    text: str, font: str, size: float, width: float, *, min_size: float | None = None, max_lines: int = 2
) -> tuple[list[str], float]:
    """text (already printable) as lines and a font size so every line fits width, never cut.

    In order of preference: one line at size; one line shrunk down to min_size (default 3/4 of size);
    wrapped at word breaks into at most max_lines lines, at the largest size from size down to min_size;
    else smaller still until it fits in max_lines lines.
    """
    min_size = size * 0.75 if min_size is None else min_size
    line, line_size = fit(text, font, size, width)
    if line_size >= min_size:
        return [line], line_size
    for current in _sizes(size, min_size):
        lines = simpleSplit(text, font, current, width)
        if len(lines) <= max_lines and all(stringWidth(piece, font, current) <= width for piece in lines):
            return lines, current
    return [line], line_size  # a word wider than width even at 1 pt: that word alone decides the size


def _sizes(size: float, min_size: float) -> Iterator[float]:
    """Font sizes to try: half points from size down to min_size, then a tenth smaller each time, down to 1 pt."""
    current = size
    while current >= min_size:
        yield current
        current -= 0.5
    current = min_size * 0.9
    while current >= 1:
        yield _floor(current)
        current *= 0.9


def _line(canvas: Canvas, text: str, x: float, y: float, font: str, size: float, width: float) -> None:
    text, size = fit(printable(text), font, size, width)
    canvas.setFont(font, size)
    canvas.drawString(x, y, text)


def _city_line(address: Address) -> str:
    return f"{address.postcode} {address.city}".strip()


def _draw_label(canvas: Canvas, label: ShippingLabel) -> None:
    """One label on the current page. Coordinates are PDF points from the bottom-left corner."""
    captions = label.captions

    def cap(key: str, **values: object) -> str:
        return caption(captions, SHIPPING_CAPTIONS, key, **values)

    tracking = barcode_value(label.tracking_number, "tracking number")
    left, right = MARGIN, PAGE_WIDTH - MARGIN
    width = right - left
    canvas.setLineWidth(1.2)

    # Carrier and service band.
    service = printable(label.service_name).upper()
    service, service_size = fit(service, BOLD, 13, width * 0.45)
    service_width = stringWidth(service, BOLD, service_size) + 10
    canvas.rect(right - service_width, 392, service_width, 24, stroke=0, fill=1)
    canvas.setFillGray(1)
    canvas.setFont(BOLD, service_size)
    canvas.drawRightString(right - 5, 399, service)
    canvas.setFillGray(0)
    _line(canvas, label.carrier_name, left, 398, BOLD, 18, width - service_width - 8)
    canvas.line(left, 386, right, 386)

    # Sender, small.
    y = 376.0
    canvas.setFont(BOLD, 6.5)
    canvas.drawString(left, y, cap("from").upper())
    sender = label.sender
    lines = [
        sender.name,
        sender.line1,
        sender.line2,
        _city_line(sender),
        " ".join(filter(None, (sender.country, sender.phone))),
    ]
    for text in filter(None, lines):
        y -= 8.6
        _line(canvas, text, left + 4, y, REGULAR, 8, width - 4)
    canvas.line(left, 322, right, 322)

    # Recipient, large.
    recipient = label.recipient
    canvas.setFont(BOLD, 7)
    canvas.drawString(left, 312, cap("to").upper())
    if label.note:  # beside the caption, right-aligned, shrunk to fit (never cut)
        note, note_size = fit(printable(label.note), BOLD, 9, width - 40)
        canvas.setFont(BOLD, note_size)
        canvas.drawRightString(right, 312, note)
    y = 295.0
    _line(canvas, recipient.name, left + 4, y, BOLD, 15, width - 4)
    for text in filter(None, (recipient.line1, recipient.line2)):
        y -= 14
        _line(canvas, text, left + 4, y, REGULAR, 12, width - 4)
    y -= 18
    _line(canvas, _city_line(recipient), left + 4, y, BOLD, 16, width - 4)
    y -= 14
    country = " ".join(filter(None, (recipient.country, "  " + recipient.phone if recipient.phone else "")))
    _line(canvas, country, left + 4, y, BOLD, 11, width - 4)
    canvas.line(left, 214, right, 214)

    # Details on the left, routing QR code on the right.
    qr_size = 84.0
    info_width = width - qr_size - 6
    rows = (
        (cap("service"), printable(label.service_name)),
        (cap("weight"), kilograms(label.weight_grams, captions.get("decimal") or SHIPPING_CAPTIONS["decimal"])),
        (cap("order"), printable(label.order_reference)),
        (cap("date"), label.when),
    )
    y = 202.0
    _line(canvas, cap("parcel", n=label.parcel_no, m=label.parcel_count), left, y, BOLD, 13, info_width)
    for name, value in rows:
        y -= 14
        _line(canvas, name, left, y, REGULAR, 8, 52)
        _line(canvas, value, left + 54, y, BOLD, 10, info_width - 54)
    draw_qr(canvas, label.routing, right - qr_size + 4 * DOT, 126, qr_size)
    canvas.line(left, 124, right, 124)

    # Tracking number: Code128 with the human-readable text under it.
    canvas.setFont(BOLD, 7)
    canvas.drawString(left, 114, cap("tracking").upper())
    module = code128_module_width(tracking, PAGE_WIDTH - 2 * 4)
    bars_width = code128_modules(tracking) * module
    x = round((PAGE_WIDTH - bars_width) / 2 / DOT) * DOT
    draw_code128(canvas, tracking, x, 36, module, 70)
    text, size = fit(tracking, BOLD, 13, width)
    canvas.setFont(BOLD, size)
    canvas.drawCentredString(PAGE_WIDTH / 2, 20, text)


def _canvas(buffer: io.BytesIO, title: str) -> Canvas:
    canvas = Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1, pageCompression=1)
    canvas.setTitle(printable(title))
    canvas.setCreator("Comptoir")
    canvas.setAuthor("Comptoir")
    return canvas


def label_pdf(label: ShippingLabel) -> bytes:
    """One shipping label as a one-page 4x6 inch (288 x 432 pt) PDF."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, label.tracking_number)
    _draw_label(canvas, label)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def labels_pdf(labels: Iterable[ShippingLabel], progress: Callable[[int], None] | None = None) -> bytes:
    """Many labels in one 4x6 PDF, one page each, in order. labels may be a generator: it is read once,
    one label at a time; progress(pages_done) is called after each page. ValueError if there is no label."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, "Shipping labels")
    pages = 0
    for label in labels:
        _draw_label(canvas, label)
        canvas.showPage()
        pages += 1
        if progress is not None:
            progress(pages)
    if not pages:
        raise ValueError("labels_pdf needs at least one label")
    canvas.save()
    return buffer.getvalue()


# --- ZPL II -----------------------------------------------------------------------------------------

ZPL_DPI = 203
ZPL_WIDTH, ZPL_HEIGHT = 812, 1218  # 4 x 6 inch in dots
_Z_MARGIN = 34
_Z_CHAR = 0.5  # average width of a font 0 character, as a fraction of its height (an estimate, on the safe side)


def zpl_text(text: object) -> str:
    """User text made safe for a ^FH_ field: ASCII, with _, ^ and ~ as hex escapes (_5F, _5E, _7E),
    so no customer-supplied character can end the field or start a command.

    ASCII because resident printer fonts differ in coverage (the ZD621 emulator's font 0 has no "ç"),
    and a missing glyph prints as nothing or fails the job; carriers' own ZPL labels are ASCII too.
    """
    return ascii_text(text).replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


_Z_NARROWEST = 10  # font 0's smallest height and width, in dots


def _z_size(text: str, height: int, width: int) -> tuple[int, int, int]:
    """(lines, character height, character width) so text fits width dots in font 0, never cut: one line
    at height, condensed as needed; if even the narrowest characters overflow, two lines at half height."""
    chars = max(1, len(text))
    condensed = min(height, int(width / (chars * _Z_CHAR)))
    if condensed >= _Z_NARROWEST:
        return 1, height, condensed
    half = max(_Z_NARROWEST, height // 2)
    return 2, half, max(_Z_NARROWEST, min(half, int(2 * width / (chars * _Z_CHAR))))


def _z_field(x: int, y: int, text: str, height: int, width: int | None = None, *, reverse: bool = False) -> str:
    """A text field at (x, y) in a field block of width dots (to the right margin by default), shrunk to fit."""
    width = width if width is not None else ZPL_WIDTH - _Z_MARGIN - x
    text = ascii_text(text)
    lines, char_height, char_width = _z_size(text, height, width)
    block = f"^FB{width},{lines},0,L,0"
    return f"^FO{x},{y}{block}^A0N,{char_height},{char_width}{'^FR' if reverse else ''}^FH_^FD{zpl_text(text)}^FS"


def _z_line(y: int) -> str:
    return f"^FO{_Z_MARGIN},{y}^GB{ZPL_WIDTH - 2 * _Z_MARGIN},3,3^FS"


def label_zpl(label: ShippingLabel) -> bytes:
    """The label as ZPL II for a 203 dpi printer with 4x6 inch media (UTF-8 bytes, ^XA ... ^XZ)."""
    captions = label.captions

    def cap(key: str, **values: object) -> str:
        return caption(captions, SHIPPING_CAPTIONS, key, **values)

    tracking = barcode_value(label.tracking_number, "tracking number")
    left, right = _Z_MARGIN, ZPL_WIDTH - _Z_MARGIN
    out = ["^XA", "^CI28", f"^PW{ZPL_WIDTH}", f"^LL{ZPL_HEIGHT}", "^LH0,0", "^PON", "^PMN"]

    # Carrier and service band.
    service = printable(label.service_name).upper()
    service_width = min(int(len(service) * 44 * _Z_CHAR) + 28, (right - left) // 2)
    out.append(f"^FO{right - service_width},42^GB{service_width},68,68^FS")
    out.append(_z_field(right - service_width + 14, 56, service, 44, service_width - 20, reverse=True))
    out.append(_z_field(left, 50, label.carrier_name, 56, right - service_width - 20 - left))
    out.append(_z_line(128))

    # Sender.
    sender = label.sender
    out.append(_z_field(left, 142, cap("from").upper(), 20))
    y = 168
    for text in filter(
        None,
        (
            sender.name,
            sender.line1,
            sender.line2,
            _city_line(sender),
            " ".join(filter(None, (sender.country, sender.phone))),
        ),
    ):
        out.append(_z_field(left + 10, y, text, 22))
        y += 26
    out.append(_z_line(306))

    # Recipient.
    recipient = label.recipient
    out.append(_z_field(left, 322, cap("to").upper(), 22))
    if label.note:
        out.append(_z_field(left + 90, 320, label.note, 26, right - left - 90))
    y = 352
    out.append(_z_field(left + 10, y, recipient.name, 46))
    y += 52
    for text in filter(None, (recipient.line1, recipient.line2)):
        out.append(_z_field(left + 10, y, text, 36))
        y += 40
    out.append(_z_field(left + 10, y + 6, _city_line(recipient), 52))
    y += 66
    phone = "   " + recipient.phone if recipient.phone else ""
    out.append(_z_field(left + 10, y, recipient.country + phone, 32))
    out.append(_z_line(604))

    # Details and routing QR.
    qr_left = right - 236
    out.append(_z_field(left, 622, cap("parcel", n=label.parcel_no, m=label.parcel_count), 40, qr_left - left - 10))
    rows = (
        (cap("service"), label.service_name),
        (cap("weight"), kilograms(label.weight_grams, captions.get("decimal") or SHIPPING_CAPTIONS["decimal"])),
        (cap("order"), label.order_reference),
        (cap("date"), label.when),
    )
    y = 676
    for name, value in rows:
        out.append(_z_field(left, y + 4, name, 24, 140))
        out.append(_z_field(left + 150, y, value, 30, qr_left - left - 160))
        y += 42
    modules = len(qr_matrix(label.routing))
    magnification = max(2, min(10, 220 // modules))
    out.append(f"^FO{qr_left},612^BQN,2,{magnification}^FH_^FDMA,{zpl_text(label.routing)}^FS")
    out.append(_z_line(856))

    # Tracking number: Code128 (automatic subsets) with the interpretation line under the bars.
    bars = code128_modules(tracking)
    module = next((m for m in (3, 2) if (bars + 20) * m <= ZPL_WIDTH - 16), 1)
    x = max(0, (ZPL_WIDTH - bars * module) // 2)
    out.append(_z_field(left, 870, cap("tracking").upper(), 20))
    out.append(f"^FO{x},905^BY{module},3,170^BCN,170,Y,N,N,A^FH_^FD{zpl_text(tracking)}^FS")
    out.append("^XZ")
    return ("\n".join(out) + "\n").encode("utf-8")
