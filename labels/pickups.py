"""Click & collect labels: a bag label (order number, customer, bag n of m, a Code128 of the bag) and the labels of
the hold shelf's slots, as PDF (2 x 1 inch or 4 x 6 inch bag labels; 2 x 1 inch or A4 sheets of slot labels) and as
ZPL II for 203 dpi thermal printers. Plain data in, bytes out; no database, no Flask.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reportlab.lib.pagesizes import A4, inch
from reportlab.pdfgen.canvas import Canvas

from labels.barcodes import DOT, code128_module_width, code128_modules, draw_code128
from labels.data import Captions, ascii_text, barcode_value, caption, printable
from labels.shelves import SHEET_COLUMNS, SHEET_LABEL, SHEET_ROWS
from labels.shipping import BOLD, REGULAR, fit, zpl_text

BAG_SIZES = ("2x1", "4x6")
SLOT_LAYOUTS = ("2x1", "a4")
PAGES = {"2x1": (2 * inch, 1 * inch), "4x6": (4 * inch, 6 * inch)}
ZPL_DOTS = {"2x1": (406, 203), "4x6": (812, 1218)}  # 203 dpi

BAG_CAPTIONS = Captions(
    {
        "title": "Click & collect",
        "bag": "Bag {n} of {m}",
        "order": "Order",
        "slot": "Hold shelf",
    }
)


@dataclass(frozen=True)
class BagLabel:
    order_reference: str  # printed large: what the counter finds the order by
    customer_name: str
    number: int  # bag n ...
    count: int  # ... of m
    barcode: str  # what the scanner reads, e.g. "BAG-1234-2"
    store: str = ""  # the pickup store's name, small
    captions: Mapping[str, str] = field(default_factory=Captions)


@dataclass(frozen=True)
class SlotLabel:
    code: str  # printed large, e.g. "A-01"
    barcode: str  # e.g. "SLOT-PAR01-A-01"
    store: str = ""  # printed small under it
    captions: Mapping[str, str] = field(default_factory=Captions)


def _cap(label, key: str, **values: object) -> str:
    return caption(label.captions, BAG_CAPTIONS, key, **values)


# --- PDF ------------------------------------------------------------------------------------------


def _barcode(canvas: Canvas, value: str, x: float, bottom: float, width: float, height: float, max_dots: int) -> None:
    """Code128 of value centred in [x, x + width] (quiet zones inside), bars on whole printer dots."""
    module = code128_module_width(value, width, max_dots=max_dots, min_dots=2)
    bars = code128_modules(value) * module
    left = round((x + (width - bars) / 2) / DOT) * DOT
    draw_code128(canvas, value, left, bottom, module, height)


def _bag_2x1(canvas: Canvas, label: BagLabel, width: float, height: float) -> None:
    margin = 5.0
    inner = width - 2 * margin
    bag = printable(_cap(label, "bag", n=label.number, m=label.count))
    bag, bag_size = fit(bag, BOLD, 9, inner * 0.45)
    canvas.setFont(BOLD, bag_size)
    canvas.drawRightString(width - margin, height - margin - bag_size * 0.8, bag)
    reference, size = fit(printable(label.order_reference), BOLD, 11, inner * 0.55 - 4)
    canvas.setFont(BOLD, size)
    canvas.drawString(margin, height - margin - size * 0.8, reference)
    name, name_size = fit(printable(label.customer_name), REGULAR, 8, inner)
    canvas.setFont(REGULAR, name_size)
    name_y = height - margin - size - name_size * 0.9
    canvas.drawString(margin, name_y, name)
    code, code_size = fit(printable(label.barcode), REGULAR, 5.5, inner)
    canvas.setFont(REGULAR, code_size)
    canvas.drawCentredString(width / 2, 2.5, code)
    bottom = 2.5 + code_size + 1.5
    _barcode(canvas, label.barcode, 0, bottom, width, name_y - 3 - bottom, max_dots=3)


def _bag_4x6(canvas: Canvas, label: BagLabel, width: float, height: float) -> None:
    margin = 16.0
    inner = width - 2 * margin
    # Title band.
    canvas.rect(margin, height - margin - 30, inner, 30, stroke=0, fill=1)
    canvas.setFillGray(1)
    title, title_size = fit(printable(_cap(label, "title")).upper(), BOLD, 16, inner - 16)
    canvas.setFont(BOLD, title_size)
    canvas.drawCentredString(width / 2, height - margin - 21, title)
    canvas.setFillGray(0)
    y = height - margin - 62
    canvas.setFont(BOLD, 9)
    canvas.drawString(margin, y + 18, printable(_cap(label, "order")).upper())
    reference, size = fit(printable(label.order_reference), BOLD, 30, inner)
    canvas.setFont(BOLD, size)
    canvas.drawString(margin, y - 10, reference)
    name, name_size = fit(printable(label.customer_name), BOLD, 22, inner)
    canvas.setFont(BOLD, name_size)
    canvas.drawString(margin, y - 46, name)
    canvas.setLineWidth(1.2)
    canvas.line(margin, y - 62, width - margin, y - 62)
    bag, bag_size = fit(printable(_cap(label, "bag", n=label.number, m=label.count)), BOLD, 40, inner)
    canvas.setFont(BOLD, bag_size)
    canvas.drawCentredString(width / 2, y - 112, bag)
    if label.store:
        store, store_size = fit(printable(label.store), REGULAR, 11, inner)
        canvas.setFont(REGULAR, store_size)
        canvas.drawCentredString(width / 2, y - 136, store)
    canvas.line(margin, y - 150, width - margin, y - 150)
    code, code_size = fit(printable(label.barcode), BOLD, 14, inner)
    canvas.setFont(BOLD, code_size)
    canvas.drawCentredString(width / 2, margin + 4, code)
    bottom = margin + 4 + code_size + 6
    _barcode(canvas, label.barcode, 4, bottom, width - 8, min(110, y - 164 - bottom), max_dots=4)


def bag_labels_pdf(labels: Sequence[BagLabel], size: str = "2x1") -> bytes:
    """Bag labels, one a page, in order, on 2 x 1 inch or 4 x 6 inch pages. ValueError for an unknown size, no label
    or a barcode Code128 cannot carry."""
    if size not in BAG_SIZES:
        raise ValueError(f"unknown size {size!r}: one of {', '.join(BAG_SIZES)}")
    if not labels:
        raise ValueError("no bag label to print")
    for label in labels:
        barcode_value(label.barcode, "bag label barcode")
    buffer = io.BytesIO()
    width, height = PAGES[size]
    canvas = Canvas(buffer, pagesize=(width, height), invariant=1, pageCompression=1)
    canvas.setTitle(printable(f"{labels[0].order_reference} bags"))
    canvas.setCreator("Comptoir")
    draw = _bag_2x1 if size == "2x1" else _bag_4x6
    for label in labels:
        draw(canvas, label, width, height)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _slot(canvas: Canvas, label: SlotLabel, x: float, y: float, width: float, height: float) -> None:
    """One slot label in the box whose bottom-left corner is (x, y): the code large, the bars, the store small."""
    margin = min(width, height) * 0.07
    inner = width - 2 * margin
    code, size = fit(printable(label.code), BOLD, height * 0.26, inner)
    canvas.setFont(BOLD, size)
    canvas.drawCentredString(x + width / 2, y + height - margin - size * 0.8, code)
    small_text = " · ".join(filter(None, (_cap(label, "slot"), label.store)))
    small_text, small = fit(printable(small_text), REGULAR, height * 0.1, inner)
    canvas.setFont(REGULAR, small)
    canvas.drawCentredString(x + width / 2, y + margin, small_text)
    value = barcode_value(label.barcode, "slot label barcode")
    # Whole printer dots down to one: "SLOT-<store>-<slot>" is long for 2 inches, and a module that straddles
    # dots prints grey; a thin crisp bar scans where a grey one does not.
    module = code128_module_width(value, width, max_dots=4, min_dots=1)
    bars = code128_modules(value) * module
    bottom = y + margin + small * 1.4
    top = y + height - margin - size * 1.05
    left = round((x + (width - bars) / 2) / DOT) * DOT
    draw_code128(canvas, value, left, bottom, module, top - bottom)


def slot_labels_pdf(labels: Sequence[SlotLabel], layout: str = "2x1") -> bytes:
    """Slot labels: one 2 x 1 inch label a page, or A4 sheets of 3 x 8 labels of 70 x 37 mm (as shelf labels).
    ValueError for an unknown layout or no label."""
    if layout not in SLOT_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: one of {', '.join(SLOT_LAYOUTS)}")
    if not labels:
        raise ValueError("no slot label to print")
    buffer = io.BytesIO()
    page = PAGES["2x1"] if layout == "2x1" else A4
    canvas = Canvas(buffer, pagesize=page, invariant=1, pageCompression=1)
    canvas.setTitle("Slot labels")
    canvas.setCreator("Comptoir")
    per_page = 1 if layout == "2x1" else SHEET_COLUMNS * SHEET_ROWS
    width, height = page if layout == "2x1" else SHEET_LABEL
    left = 0 if layout == "2x1" else (A4[0] - SHEET_COLUMNS * width) / 2
    top = page[1] if layout == "2x1" else A4[1] - (A4[1] - SHEET_ROWS * height) / 2
    for i, label in enumerate(labels):
        place = i % per_page
        if i and place == 0:
            canvas.showPage()
        column, row = (place % SHEET_COLUMNS, place // SHEET_COLUMNS) if per_page > 1 else (0, 0)
        _slot(canvas, label, left + column * width, top - (row + 1) * height, width, height)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- ZPL II ---------------------------------------------------------------------------------------


def _z_text(x: int, y: int, text: str, height: int, width: int, align: str = "L", *, reverse: bool = False) -> str:
    """A one-line text field in a block of width dots, condensed so it fits (font 0 is about half as wide as high)."""
    text = ascii_text(text)
    char_width = max(10, min(height, int(width / (max(1, len(text)) * 0.5))))
    font = f"^A0N,{height},{char_width}{'^FR' if reverse else ''}"
    return f"^FO{x},{y}^FB{width},1,0,{align},0{font}^FH_^FD{zpl_text(text)}^FS"


def _z_barcode(value: str, y: int, width: int, height: int, max_module: int) -> str:
    """Code128 (automatic subsets) centred across width dots, no interpretation line, modules as wide as fit."""
    value = barcode_value(value, "barcode")
    bars = code128_modules(value)
    module = next((m for m in range(max_module, 0, -1) if (bars + 20) * m <= width), 1)
    x = max(0, (width - bars * module) // 2)
    return f"^BY{module},3,{height}^FO{x},{y}^BCN,{height},N,N,N,A^FH_^FD{zpl_text(value)}^FS"


def _z_start(size: str) -> list[str]:
    width, height = ZPL_DOTS[size]
    return ["^XA", "^CI28", f"^PW{width}", f"^LL{height}", "^LH0,0", "^PON", "^PMN"]


def bag_label_zpl(label: BagLabel, size: str = "2x1") -> bytes:
    """One bag label as ZPL II for a 203 dpi printer with 2 x 1 or 4 x 6 inch media (^XA ... ^XZ)."""
    if size not in BAG_SIZES:
        raise ValueError(f"unknown size {size!r}: one of {', '.join(BAG_SIZES)}")
    width, _height = ZPL_DOTS[size]
    bag = _cap(label, "bag", n=label.number, m=label.count)
    out = _z_start(size)
    if size == "2x1":
        margin = 14
        inner = width - 2 * margin
        out.append(_z_text(margin, 10, label.order_reference, 30, inner * 55 // 100))
        out.append(_z_text(margin + inner * 55 // 100, 12, bag, 26, inner * 45 // 100, "R"))
        out.append(_z_text(margin, 46, label.customer_name, 24, inner))
        out.append(_z_barcode(label.barcode, 78, width, 96, 3))
        out.append(_z_text(margin, 180, label.barcode, 16, inner, "C"))
    else:
        margin = 34
        inner = width - 2 * margin
        out.append(f"^FO{margin},{margin}^GB{inner},84,84^FS")
        out.append(_z_text(margin + 20, margin + 20, _cap(label, "title").upper(), 48, inner - 40, "C", reverse=True))
        out.append(_z_text(margin, 150, _cap(label, "order").upper(), 26, inner))
        out.append(_z_text(margin, 184, label.order_reference, 84, inner))
        out.append(_z_text(margin, 290, label.customer_name, 62, inner))
        out.append(f"^FO{margin},372^GB{inner},3,3^FS")
        out.append(_z_text(margin, 400, bag, 110, inner, "C"))
        if label.store:
            out.append(_z_text(margin, 530, label.store, 32, inner, "C"))
        out.append(f"^FO{margin},584^GB{inner},3,3^FS")
        out.append(_z_barcode(label.barcode, 640, width, 300, 4))
        out.append(_z_text(margin, 970, label.barcode, 40, inner, "C"))
    out.append("^XZ")
    return ("\n".join(out) + "\n").encode()


def bag_labels_zpl(labels: Sequence[BagLabel], size: str = "2x1") -> bytes:
    """Every bag label, one ^XA ... ^XZ format each, in order."""
    if not labels:
        raise ValueError("no bag label to print")
    return b"".join(bag_label_zpl(label, size) for label in labels)


def slot_labels_zpl(labels: Sequence[SlotLabel]) -> bytes:
    """Slot labels for 2 x 1 inch media: the code large, the barcode, the store; one format each."""
    if not labels:
        raise ValueError("no slot label to print")
    width, _height = ZPL_DOTS["2x1"]
    margin = 14
    inner = width - 2 * margin
    out = []
    for label in labels:
        out.extend(_z_start("2x1"))
        out.append(_z_text(margin, 8, label.code, 48, inner, "C"))
        out.append(_z_barcode(label.barcode, 62, width, 100, 3))
        small = " - ".join(filter(None, (_cap(label, "slot"), label.store)))
        out.append(_z_text(margin, 172, small, 20, inner, "C"))
        out.append("^XZ")
    return ("\n".join(out) + "\n").encode()
