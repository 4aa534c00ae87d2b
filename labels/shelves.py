"""Shelf labels: a Code128 of the place ("PAR01:A3-12-2"), the place in large type and the product under it.

Two layouts: "2x1" (one 2 x 1 inch label a page, for a label printer) and "a4" (sheets of 3 x 8 labels of 70 x 37 mm,
the common A4 label sheet). Plain data in, PDF bytes out; no database, no Flask.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reportlab.lib.pagesizes import A4, inch, mm
from reportlab.pdfgen.canvas import Canvas

from labels.barcodes import DOT, code128_module_width, code128_modules, draw_code128
from labels.data import barcode_value, printable
from labels.shipping import BOLD, REGULAR, fit

LAYOUTS = ("2x1", "a4")
SHEET_COLUMNS, SHEET_ROWS = 3, 8
SHEET_LABEL = (70 * mm, 37 * mm)


@dataclass(frozen=True)
class ShelfLabel:
    barcode: str  # what the scanner reads, e.g. "PAR01:A3-12-2"
    place: str  # printed large, e.g. "A3-12-2"
    product: str  # printed small under it, e.g. "PULL-M · Pull marin M"


def _draw(canvas: Canvas, label: ShelfLabel, x: float, y: float, width: float, height: float) -> None:
    """One label in the box whose bottom-left corner is (x, y)."""
    margin = min(width, height) * 0.08
    inner = width - 2 * margin
    place, size = fit(printable(label.place), BOLD, height * 0.22, inner)
    canvas.setFont(BOLD, size)
    canvas.drawCentredString(x + width / 2, y + height - margin - size * 0.8, place)
    product, small = fit(printable(label.product), REGULAR, height * 0.1, inner)
    canvas.setFont(REGULAR, small)
    canvas.drawCentredString(x + width / 2, y + margin, product)
    value = barcode_value(label.barcode, "shelf label barcode")
    # Whole printer dots, at least 2 a module where the label's width (quiet zones in its margins) allows, and the
    # bars start on a dot: a module that straddles dots prints (and scans) grey.
    module = code128_module_width(value, width, max_dots=4, min_dots=2)
    bars = code128_modules(value) * module
    bars_bottom = y + margin + small * 1.4
    bars_height = (y + height - margin - size * 1.1) - bars_bottom
    left = round((x + (width - bars) / 2) / DOT) * DOT
    draw_code128(canvas, value, left, bars_bottom, module, bars_height)


def shelf_labels_pdf(
    labels: Sequence[ShelfLabel], layout: str = "2x1", progress: Callable[[int], None] | None = None
) -> bytes:
    """Shelf labels as one PDF in the given layout, in order; progress(labels_done) after each one.
    ValueError for an unknown layout or no label."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: one of {', '.join(LAYOUTS)}")
    if not labels:
        raise ValueError("no shelf label to print")
    buffer = io.BytesIO()
    page = (2 * inch, 1 * inch) if layout == "2x1" else A4
    canvas = Canvas(buffer, pagesize=page, invariant=1, pageCompression=1)
    canvas.setTitle("Shelf labels")
    canvas.setCreator("Comptoir")
    per_page = 1 if layout == "2x1" else SHEET_COLUMNS * SHEET_ROWS
    width, height = page if layout == "2x1" else SHEET_LABEL
    left = 0 if layout == "2x1" else (A4[0] - SHEET_COLUMNS * width) / 2
    top = page[1] if layout == "2x1" else A4[1] - (A4[1] - SHEET_ROWS * height) / 2
    for i, label in enumerate(labels):
        slot = i % per_page
        if i and slot == 0:
            canvas.showPage()
        column, row = slot % SHEET_COLUMNS if per_page > 1 else 0, slot // SHEET_COLUMNS if per_page > 1 else 0
        _draw(canvas, label, left + column * width, top - (row + 1) * height, width, height)
        if progress is not None:
            progress(i + 1)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
