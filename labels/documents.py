"""Paper documents: packing slip (A4 or 4x6), carrier manifest (A4), pick list (A4) and the customer's return
receipt (A4 or an 80 mm till roll).

Built with reportlab's platypus so long tables flow onto more pages; every page carries a header
(and, where it matters, its barcode) and "Page n of m".
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4, inch
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from labels.barcodes import DOT, code128_module_width, code128_modules, draw_code128
from labels.data import (
    MANIFEST_CAPTIONS,
    PICK_CAPTIONS,
    RETURN_CAPTIONS,
    SLIP_CAPTIONS,
    Address,
    Manifest,
    PackingSlip,
    PickList,
    ReturnReceipt,
    barcode_value,
    caption,
    kilograms,
    printable,
)
from labels.shipping import fit, fit_lines

REGULAR, BOLD = "Helvetica", "Helvetica-Bold"
SIZES = {"a4": A4, "4x6": (4 * inch, 6 * inch)}


# --- building blocks ---------------------------------------------------------------------------------


def _p(text: object) -> str:
    """Text for a Paragraph: printable, with markup characters escaped (a name may contain "<" or "&")."""
    return escape(printable(text))


def _style(name: str, size: float, *, font: str = REGULAR, leading: float | None = None, **kw: Any) -> ParagraphStyle:
    return ParagraphStyle(name, fontName=font, fontSize=size, leading=leading or size * 1.2, **kw)


_STYLES = {
    "a4": {
        "body": _style("body", 10),
        "small": _style("small", 8, textColor=colors.HexColor("#333333")),
        "bold": _style("bold", 10, font=BOLD),
        "cell": _style("cell", 9.5),
        "cell_bold": _style("cell_bold", 9.5, font=BOLD),
        "head": _style("head", 9, font=BOLD),
        "head_right": _style("head_right", 9, font=BOLD, alignment=TA_RIGHT),
        "big": _style("big", 16, font=BOLD),
        "right": _style("right", 9.5, alignment=TA_RIGHT),
        "right_bold": _style("right_bold", 12, font=BOLD, alignment=TA_RIGHT),
        "center": _style("center", 11, alignment=TA_CENTER),
    },
    "4x6": {
        "body": _style("body6", 8),
        "small": _style("small6", 6.5, textColor=colors.HexColor("#333333")),
        "bold": _style("bold6", 8, font=BOLD),
        "cell": _style("cell6", 7.5),
        "cell_bold": _style("cell_bold6", 7.5, font=BOLD),
        "head": _style("head6", 7, font=BOLD),
        "head_right": _style("head_right6", 7, font=BOLD, alignment=TA_RIGHT),
        "big": _style("big6", 11, font=BOLD),
        "right": _style("right6", 7.5, alignment=TA_RIGHT),
        "right_bold": _style("right_bold6", 9, font=BOLD, alignment=TA_RIGHT),
        "center": _style("center6", 8, alignment=TA_CENTER),
    },
}


class Code128Flowable(Flowable):
    """A Code128 with its quiet zones and, optionally, its text under the bars (for tables and stories)."""

    def __init__(self, value: str, max_width: float, height: float, *, text: str | None = None, font_size: float = 8):
        super().__init__()
        self.value = barcode_value(value)
        self.module = code128_module_width(self.value, max_width)
        self.bars_width = code128_modules(self.value) * self.module
        self.quiet = 10 * self.module
        self.bar_height = height
        self.text = printable(text) if text is not None else None
        self.font_size = font_size
        self.width = self.bars_width + 2 * self.quiet
        self.height = height + (font_size + 3 if self.text else 0)

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        text_height = self.height - self.bar_height
        draw_code128(self.canv, self.value, self.quiet, text_height, self.module, self.bar_height)
        if self.text:
            text, size = fit(self.text, BOLD, self.font_size, self.width)
            self.canv.setFont(BOLD, size)
            self.canv.drawCentredString(self.width / 2, 1.5, text)


def _draw_code128(canvas: Canvas, value: str, right: float, top: float, max_width: float, height: float) -> float:
    """Code128 of value right-aligned at right (quiet zone inside), bars' top at top; return its left edge."""
    module = code128_module_width(value, max_width)
    bars = code128_modules(value) * module
    x = round((right - 10 * module - bars) / DOT) * DOT
    draw_code128(canvas, value, x, top - height, module, height)
    return x - 10 * module


def _address_lines(address: Address) -> list[str]:
    city = f"{address.postcode} {address.city}".strip()
    return [line for line in (address.name, address.line1, address.line2, city, address.country, address.phone) if line]


@dataclass(frozen=True)
class _Block:
    """Lines of one text, fitted to a width (never cut), in one font and size."""

    lines: tuple[str, ...]
    font: str
    size: float

    @property
    def height(self) -> float:
        return len(self.lines) * self.size * 1.2


def _block(text: object, font: str, size: float, width: float, *, max_lines: int = 2) -> _Block:
    lines, fitted = fit_lines(printable(text), font, size, width, max_lines=max_lines)
    return _Block(tuple(lines), font, fitted)


def _heading(text: str, style: ParagraphStyle, width: float) -> Paragraph:
    """A column heading that never breaks inside a word: set smaller when its longest word is wider than the
    column (less the cell's 6 + 6 points of padding)."""
    size = min(fit(word, style.fontName, style.fontSize, width - 12)[1] for word in printable(text).split() or [""])
    if size < style.fontSize:
        style = ParagraphStyle(f"{style.name}-{size}", parent=style, fontSize=size, leading=size * 1.2)
    return Paragraph(_p(text), style)


def _draw_block(canvas: Canvas, block: _Block, x: float, top: float, align: str = "left") -> float:
    """Draw the block's lines below top (left, right or centre aligned on x); return the y under it."""
    canvas.setFont(block.font, block.size)
    draw = {"left": canvas.drawString, "right": canvas.drawRightString, "centre": canvas.drawCentredString}[align]
    for line in block.lines:
        top -= block.size * 1.2
        draw(x, top + block.size * 0.2, line)
    return top


class _NumberedCanvas(Canvas):
    """Holds pages back until the end so each page's footer can say "Page n of m"."""

    footer: Callable[[Canvas, int, int], None] = staticmethod(lambda canvas, page, total: None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            type(self).footer(self, number, total)
            super().showPage()
        super().save()


def _build(
    story: list[Flowable],
    pagesize: tuple[float, float],
    margins: tuple[float, float, float, float],  # top, right, bottom, left
    header: Callable[[Canvas, Any], None],
    footer: Callable[[Canvas, int, int], None],
    title: str,
) -> bytes:
    buffer = io.BytesIO()
    top, right, bottom, left = margins
    doc = BaseDocTemplate(
        buffer,
        pagesize=pagesize,
        topMargin=top,
        rightMargin=right,
        bottomMargin=bottom,
        leftMargin=left,
        title=printable(title),
        author="Comptoir",
        creator="Comptoir",
        invariant=1,
        pageCompression=1,
    )
    frame = Frame(left, bottom, pagesize[0] - left - right, pagesize[1] - top - bottom, id="body", showBoundary=0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=header)])
    canvasmaker = type("NumberedCanvas", (_NumberedCanvas,), {"footer": staticmethod(footer)})
    doc.build(story, canvasmaker=canvasmaker)
    return buffer.getvalue()


def _page_footer(
    captions: Mapping[str, str],
    defaults: Mapping[str, str],
    label: str,
    left: float,
    right: float,
    y: float,
    size: float,
) -> Callable[[Canvas, int, int], None]:
    def footer(canvas: Canvas, page: int, total: int) -> None:
        canvas.saveState()
        numbering = caption(captions, defaults, "page", n=page, m=total)
        canvas.setFont(REGULAR, size)
        canvas.drawRightString(right, y, numbering)
        room = right - left - stringWidth(numbering, REGULAR, size) - 12
        _draw_block(canvas, _block(label, REGULAR, size, room, max_lines=1), left, y + size)
        canvas.restoreState()

    return footer


_GRID = colors.HexColor("#999999")
_SHADE = colors.HexColor("#eeeeee")


# --- packing slip ------------------------------------------------------------------------------------


def packing_slip_pdf(slip: PackingSlip, size: str = "a4") -> bytes:
    """The packing slip that goes in the parcel: A4 or 4x6 inch ("a4" / "4x6"; ValueError otherwise).

    Every page has the store, the title and the order reference as Code128; the items table flows
    onto as many pages as it needs, its header repeated; then the gift message (boxed) and thanks.
    """
    if size not in SIZES:
        raise ValueError(f"packing slip size must be one of {sorted(SIZES)}, not {size!r}")
    order_reference = barcode_value(slip.order_reference, "order reference")
    small = size == "4x6"
    pagesize = SIZES[size]
    page_width, page_height = pagesize
    margin = 14.0 if small else 36.0
    styles = _STYLES[size]
    captions = slip.captions
    width = page_width - 2 * margin

    def cap(key: str, **values: object) -> str:
        return caption(captions, SLIP_CAPTIONS, key, **values)

    # Store name and title wrap (never cut), so the header is as tall as they need.
    if small:
        store = _block(slip.store_name, BOLD, 10, 130)
        title = _block(cap("title"), BOLD, 12, width - 140)
        code_top = max(store.height, title.height) + 4
        order = _block(f"{cap('order')}: {slip.order_reference}", BOLD, 8, width, max_lines=1)
        header_height = code_top + 40 + 4 + order.height + 8
    else:
        column = width - 250  # the order barcode takes the right 240 points
        title = _block(cap("title"), BOLD, 18, column)
        store = _block(slip.store_name, BOLD, 14, column)
        address = [_block(line, REGULAR, 8, column, max_lines=1) for line in _address_lines(slip.store_address)[1:]]
        header_height = max(title.height + 4 + store.height + 2 + sum(a.height for a in address), 66) + 12

    def header(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        top = page_height - margin
        if small:
            _draw_block(canvas, store, margin, top)
            _draw_block(canvas, title, page_width - margin, top, "right")
            _draw_code128(canvas, order_reference, page_width - margin, top - code_top, width, 40)
            _draw_block(canvas, order, margin, top - code_top - 44)
        else:
            y = _draw_block(canvas, title, margin, top) - 4
            y = _draw_block(canvas, store, margin, y) - 2
            for line in address:
                y = _draw_block(canvas, line, margin, y)
            left = _draw_code128(canvas, order_reference, page_width - margin, top, 240, 48)
            reference = _block(slip.order_reference, BOLD, 10, 240, max_lines=1)
            _draw_block(canvas, reference, (left + page_width - margin) / 2, top - 52, "centre")
        canvas.setLineWidth(0.8)
        canvas.line(
            margin,
            page_height - margin - header_height + 6,
            page_width - margin,
            page_height - margin - header_height + 6,
        )
        canvas.restoreState()

    footer_size = 6.5 if small else 8
    footer = _page_footer(
        captions,
        SLIP_CAPTIONS,
        f"{slip.store_name} - {slip.order_reference}",
        margin,
        page_width - margin,
        margin - 4 if small else 22,
        footer_size,
    )

    ship_to = [Paragraph(_p(cap("ship_to")), styles["head"])]
    ship_to += [
        Paragraph(_p(line), styles["bold" if i == 0 else "body"])
        for i, line in enumerate(_address_lines(slip.customer))
    ]
    facts = [
        Paragraph(f"{_p(cap('order'))}: <b>{_p(slip.order_reference)}</b>", styles["body"]),
        Paragraph(f"{_p(cap('date'))}: {_p(slip.when)}", styles["body"]),
    ]
    if slip.parcel_summary:
        facts.append(Paragraph(_p(slip.parcel_summary), styles["body"]))
    if slip.note:
        facts.append(Paragraph(f"<b>{_p(slip.note)}</b>", styles["body"]))
    top_table = Table([[ship_to, facts]], colWidths=[width * 0.6, width * 0.4])
    top_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, -1), 0)]))

    sku_width = 62 if small else 110
    qty_width = 30 if small else 50
    rows: list[list[Any]] = [
        [
            _heading(cap("sku"), styles["head"], sku_width),
            _heading(cap("item"), styles["head"], width - sku_width - qty_width),
            _heading(cap("quantity"), styles["head_right"], qty_width),
        ]
    ]
    for item in slip.items:
        name = _p(item.name)
        if item.gtin:
            name += f'<br/><font size="{6 if small else 7.5}">{_p(cap("gtin"))} {_p(item.gtin)}</font>'
        rows.append(
            [
                Paragraph(_p(item.sku), styles["cell"]),
                Paragraph(name, styles["cell"]),
                Paragraph(str(item.quantity), styles["right_bold"]),
            ]
        )
    rows.append(["", "", Paragraph(str(sum(item.quantity for item in slip.items)), styles["right_bold"])])
    items = Table(rows, colWidths=[sku_width, width - sku_width - qty_width, qty_width], repeatRows=1)
    items.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
                ("LINEBELOW", (0, 0), (-1, -2), 0.4, _GRID),
                ("LINEABOVE", (-1, -1), (-1, -1), 1, colors.black),
                ("TOPPADDING", (0, 0), (-1, -1), 2 if small else 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2 if small else 3),
            ]
        )
    )
    story: list[Flowable] = [top_table, Spacer(1, 6 if small else 12), items]
    if slip.gift_message:
        box = Table(
            [[Paragraph(_p(cap("gift_message")), styles["head"])], [Paragraph(_p(slip.gift_message), styles["body"])]],
            colWidths=[width],
        )
        box.setStyle(
            TableStyle([("BOX", (0, 0), (-1, -1), 1.2, colors.black), ("BACKGROUND", (0, 0), (-1, 0), _SHADE)])
        )
        story += [Spacer(1, 8 if small else 16), KeepTogether([box])]
    story += [Spacer(1, 8 if small else 18), Paragraph(_p(cap("thanks")), styles["center"])]
    bottom = margin + (6 if small else 10)
    return _build(
        story,
        pagesize,
        (margin + header_height, margin, bottom, margin),
        header,
        footer,
        f"{cap('title')} {slip.order_reference}",
    )


# --- carrier manifest -----------------------------------------------------------------------------------


def manifest_pdf(manifest: Manifest) -> bytes:
    """The carrier manifest (A4): the manifest number as Code128 at the top of every page (scanning it
    hands over every parcel), carrier, store, date, one row per parcel with its tracking number as Code128,
    then the totals and signature boxes."""
    number = barcode_value(manifest.number, "manifest number")
    page_width, page_height = A4
    margin = 36.0
    styles = _STYLES["a4"]
    captions = manifest.captions
    decimal = captions.get("decimal") or MANIFEST_CAPTIONS["decimal"]

    def cap(key: str, **values: object) -> str:
        return caption(captions, MANIFEST_CAPTIONS, key, **values)

    column = page_width - 2 * margin - 250  # the manifest barcode takes the right 240 points
    title = _block(cap("title"), BOLD, 18, column)
    store = f"{manifest.store_name}, {manifest.store_address.postcode} {manifest.store_address.city}"
    facts = [
        (_block(name, REGULAR, 9, 70, max_lines=1), _block(value, BOLD, 9, column - 74))
        for name, value in (
            (cap("carrier"), manifest.carrier_name),
            (cap("store"), store),
            (cap("date"), manifest.when),
        )
    ]
    header_height = max(title.height + 26 + sum(value.height + 1.2 for _, value in facts), 74) + 22

    def header(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        top = page_height - margin
        y = _draw_block(canvas, title, margin, top) - 4
        canvas.setFont(BOLD, 13)
        canvas.drawString(margin, y - 13, printable(manifest.number))
        y -= 22
        for name, value in facts:
            _draw_block(canvas, name, margin, y)
            y = _draw_block(canvas, value, margin + 74, y) - 1.2
        left = _draw_code128(canvas, number, page_width - margin, top, 240, 56)
        canvas.setFont(BOLD, 10)
        canvas.drawCentredString((left + page_width - margin) / 2, top - 70, printable(manifest.number))
        canvas.setLineWidth(0.8)
        canvas.line(margin, top - header_height + 8, page_width - margin, top - header_height + 8)
        canvas.restoreState()

    footer = _page_footer(
        captions, MANIFEST_CAPTIONS, f"{manifest.number} - {manifest.carrier_name}", margin, page_width - margin, 22, 8
    )
    width = page_width - 2 * margin
    barcode_width = 192.0
    widths = [24, barcode_width + 8, 0, 80, 40, 58]
    widths[2] = width - sum(widths)
    rows: list[list[Any]] = [
        [
            _heading(text, styles["head"], column)
            for text, column in zip(
                ("#", cap("tracking"), cap("order"), cap("service"), cap("parcel"), cap("weight")), widths, strict=True
            )
        ]
    ]
    total_grams = 0
    for index, parcel in enumerate(manifest.parcels, start=1):
        total_grams += parcel.weight_grams
        tracking = barcode_value(parcel.tracking_number, "tracking number")
        rows.append(
            [
                Paragraph(str(index), styles["cell"]),
                Code128Flowable(tracking, barcode_width, 30, text=tracking),
                Paragraph(_p(parcel.order_reference), styles["cell"]),
                Paragraph(_p(parcel.service_name), styles["cell"]),
                Paragraph(f"{parcel.parcel_no}/{parcel.parcel_count}", styles["cell"]),
                Paragraph(kilograms(parcel.weight_grams, decimal), styles["right"]),
            ]
        )
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, _GRID),
                ("ALIGN", (1, 1), (1, -1), "LEFT"),
                ("TOPPADDING", (0, 1), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 1), (-1, -1), 5),
            ]
        )
    )
    totals = Table(
        [
            [
                Paragraph(_p(cap("parcels_total")), styles["bold"]),
                Paragraph(str(len(manifest.parcels)), styles["right_bold"]),
            ],
            [
                Paragraph(_p(cap("weight_total")), styles["bold"]),
                Paragraph(kilograms(total_grams, decimal), styles["right_bold"]),
            ],
        ],
        colWidths=[150, 100],
        hAlign="RIGHT",
    )
    totals.setStyle(
        TableStyle([("BOX", (0, 0), (-1, -1), 1, colors.black), ("LINEBELOW", (0, 0), (-1, 0), 0.4, _GRID)])
    )
    signature = Table(
        [[Paragraph(_p(cap("signature")), styles["head"]), Paragraph(_p(cap("date")), styles["head"])], ["", ""]],
        colWidths=[width * 0.6, width * 0.4],
        rowHeights=[16, 56],
    )
    signature.setStyle(
        TableStyle([("BOX", (0, 0), (-1, -1), 1, colors.black), ("INNERGRID", (0, 0), (-1, -1), 0.4, _GRID)])
    )
    story: list[Flowable] = [table, Spacer(1, 14), KeepTogether([totals, Spacer(1, 18), signature])]
    return _build(
        story,
        A4,
        (margin + header_height, margin, margin + 10, margin),
        header,
        footer,
        f"{cap('title')} {manifest.number}",
    )


# --- pick list ----------------------------------------------------------------------------------------------


def _command_grid(commands: Sequence[tuple[str, str]], width: float) -> tuple[int, float, float]:
    """(columns, column width, band height) for the command barcodes at the foot of each pick list page."""
    if not commands:
        return 1, width, 0.0
    columns = max(1, min(len(commands), 4))
    while columns > 1:
        column = width / columns
        if all(code128_module_width(value, column - 6, min_dots=2) >= 2 * DOT for value, _ in commands):
            break
        columns -= 1
    rows = -(-len(commands) // columns)
    columns = -(-len(commands) // rows)  # balance: 4 commands in 2 x 2 rather than 3 + 1
    return columns, width / columns, rows * 62.0 + 14


def pick_list_pdf(pick_list: PickList) -> bytes:
    """The pick list (A4): one row per product in the given order (shelf, product, total, units per tote),
    and at the foot of every page the command barcodes (Code128 of each value, its caption under it)."""
    commands = [(barcode_value(value, "command"), label) for value, label in pick_list.commands]
    page_width, page_height = A4
    margin = 36.0
    styles = _STYLES["a4"]
    captions = pick_list.captions
    width = page_width - 2 * margin
    columns, column_width, band = _command_grid(commands, width)

    def cap(key: str, **values: object) -> str:
        return caption(captions, PICK_CAPTIONS, key, **values)

    title = _block(f"{cap('title')} {pick_list.number}", BOLD, 18, width * 0.6)
    store = _block(pick_list.store_name, REGULAR, 9, width * 0.38)
    when = _block(f"{cap('date')}: {pick_list.when}", REGULAR, 9, width * 0.38, max_lines=1)
    header_height = max(title.height, store.height + when.height) + 22

    def header(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        top = page_height - margin
        _draw_block(canvas, title, margin, top)
        _draw_block(
            canvas, when, page_width - margin, _draw_block(canvas, store, page_width - margin, top, "right"), "right"
        )
        canvas.setLineWidth(0.8)
        canvas.line(margin, top - header_height + 16, page_width - margin, top - header_height + 16)
        # Command barcodes, above the footer line.
        if commands:
            canvas.line(margin, margin + 10 + band, page_width - margin, margin + 10 + band)
            canvas.setFont(BOLD, 7)
            canvas.drawString(margin, margin + band + 2, cap("commands").upper())
            for index, (value, label) in enumerate(commands):
                row, column = divmod(index, columns)
                x = margin + column * column_width
                y = margin + 10 + band - 14 - (row + 1) * 62
                module = code128_module_width(value, column_width - 6)
                bars = code128_modules(value) * module
                left = round((x + (column_width - bars) / 2) / DOT) * DOT
                draw_code128(canvas, value, left, y + 16, module, 38)
                text, size = fit(printable(label), BOLD, 10, column_width - 6)
                canvas.setFont(BOLD, size)
                canvas.drawCentredString(x + column_width / 2, y + 4, text)
        canvas.restoreState()

    footer = _page_footer(
        captions, PICK_CAPTIONS, f"{pick_list.number} - {pick_list.store_name}", margin, page_width - margin, 22, 8
    )
    widths = [70, 0, 48, 150]
    widths[1] = width - sum(widths)
    rows: list[list[Any]] = [
        [
            _heading(text, styles["head"], column)
            for text, column in zip((cap("shelf"), cap("product"), cap("total"), cap("split")), widths, strict=True)
        ]
    ]
    for group in pick_list.groups:
        product = f"<b>{_p(group.name)}</b><br/>{_p(cap('sku'))} {_p(group.sku)}"
        if group.gtin:
            product += f" &middot; {_p(cap('gtin'))} {_p(group.gtin)}"
        split = "<br/>".join(
            f"<b>{_p(tote)}</b> &nbsp;{_p(order)} &nbsp;<b>&times; {qty}</b>" for tote, order, qty in group.split
        )
        rows.append(
            [
                Paragraph(_p(group.shelf), styles["big"]),
                Paragraph(product, styles["cell"]),
                Paragraph(str(group.total), styles["big"]),
                Paragraph(split, styles["cell"]),
            ]
        )
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, _GRID),
                ("TOPPADDING", (0, 1), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 1), (-1, -1), 6),
            ]
        )
    )
    story: list[Flowable] = [table]
    return _build(
        story,
        A4,
        (margin + header_height, margin, margin + 14 + band, margin),
        header,
        footer,
        f"{cap('title')} {pick_list.number}",
    )


# --- return receipt ------------------------------------------------------------------------------------

RECEIPT_SIZES = ("a4", "80mm")
TILL_ROLL_WIDTH = 80 / 25.4 * inch  # 80 mm paper; the page is as long as the receipt


def _together(single_page: bool, flowables: list[Flowable]) -> list[Flowable]:
    """Kept on one page; a till roll is one page (and measures its flowables before building: KeepTogether
    answers a page's height to be split)."""
    return flowables if single_page else [KeepTogether(flowables)]


def _receipt_story(receipt: ReturnReceipt, width: float, till: bool) -> list[Flowable]:
    """What the receipt says, top to bottom, for a column of width points."""
    styles = _STYLES["4x6" if till else "a4"]

    def cap(key: str, **values: object) -> str:
        return caption(receipt.captions, RETURN_CAPTIONS, key, **values)

    centred = _style("receipt_centre", 9 if till else 10, alignment=TA_CENTER)
    title = _style("receipt_title", 13 if till else 18, font=BOLD, alignment=TA_CENTER if till else 0)
    store_style = _style("receipt_store", 10 if till else 14, font=BOLD, alignment=TA_CENTER if till else 0)
    address_style = _style("receipt_address", 7.5 if till else 9, alignment=TA_CENTER if till else 0)
    story: list[Flowable] = [
        Paragraph(_p(receipt.store_name), store_style),
        *[Paragraph(_p(line), address_style) for line in _address_lines(receipt.store_address)[1:]],
        Spacer(1, 6 if till else 14),
        Paragraph(_p(cap("title")), title),
        Spacer(1, 6 if till else 10),
    ]
    code = Code128Flowable(receipt.number, width, 40 if till else 52, text=receipt.number, font_size=9 if till else 10)
    code.hAlign = "CENTER"
    story += [
        code,
        Spacer(1, 6 if till else 10),
        Paragraph(f"{_p(cap('order'))}: <b>{_p(receipt.order_reference)}</b>", styles["body"]),
        Paragraph(f"{_p(cap('date'))}: {_p(receipt.when)}", styles["body"]),
        Spacer(1, 6 if till else 12),
    ]
    if till:  # one block an item: a till roll has no room for four columns
        rows: list[list[Any]] = []
        for item in receipt.items:
            rows.append(
                [
                    Paragraph(
                        f"<b>{item.quantity} x {_p(item.name)}</b><br/>{_p(item.sku)}<br/>"
                        f"{_p(cap('reason'))}: {_p(item.reason)}<br/>{_p(cap('condition'))}: {_p(item.condition)}",
                        styles["cell"],
                    )
                ]
            )
        items = Table(rows, colWidths=[width])
        items.setStyle(
            TableStyle(
                [
                    ("LINEBELOW", (0, 0), (-1, -1), 0.4, _GRID),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                    ("TOPPADDING", (0, 0), (-1, -1), 3),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ]
            )
        )
    else:
        qty, reason, condition = 40.0, 130.0, 100.0
        item_width = width - qty - reason - condition
        rows = [
            [
                _heading(cap("item"), styles["head"], item_width),
                _heading(cap("quantity"), styles["head_right"], qty),
                _heading(cap("reason"), styles["head"], reason),
                _heading(cap("condition"), styles["head"], condition),
            ]
        ]
        for item in receipt.items:
            rows.append(
                [
                    Paragraph(f"{_p(item.name)}<br/><font size='7.5'>{_p(item.sku)}</font>", styles["cell"]),
                    Paragraph(str(item.quantity), styles["right_bold"]),
                    Paragraph(_p(item.reason), styles["cell"]),
                    Paragraph(_p(item.condition), styles["cell"]),
                ]
            )
        items = Table(rows, colWidths=[item_width, qty, reason, condition], repeatRows=1)
        items.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.4, _GRID),
                ]
            )
        )
    refund = Table(
        [[Paragraph(_p(cap("refund")), styles["bold"]), Paragraph(_p(receipt.refund), styles["right_bold"])]],
        colWidths=[width * 0.5, width * 0.5],
    )
    refund.setStyle(
        TableStyle(
            [
                ("LINEABOVE", (0, 0), (-1, 0), 1, colors.black),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story += [
        items,
        Spacer(1, 4 if till else 8),
        *_together(till, [refund, Paragraph(_p(cap("expected" if receipt.expected else "refunded")), styles["body"])]),
        Spacer(1, 10 if till else 20),
        Paragraph(_p(cap("thanks")), centred),
    ]
    return story


def return_receipt_pdf(receipt: ReturnReceipt, size: str = "a4") -> bytes:
    """The customer's return receipt: A4 pages ("a4"), or one page of an 80 mm till roll as long as the receipt
    ("80mm"); ValueError otherwise. The return number is a Code128 under the store's name."""
    if size not in RECEIPT_SIZES:
        raise ValueError(f"return receipt size must be one of {RECEIPT_SIZES}, not {size!r}")
    barcode_value(receipt.number, "return number")
    till = size == "80mm"
    margin = 8.0 if till else 36.0
    padding = 6.0  # the frame's own, on every side
    page_width = TILL_ROLL_WIDTH if till else A4[0]
    width = page_width - 2 * margin - 2 * padding
    story = _receipt_story(receipt, width, till)
    title = f"{caption(receipt.captions, RETURN_CAPTIONS, 'title')} {receipt.number}"
    if till:
        measure = Canvas(io.BytesIO())
        height = sum(f.wrapOn(measure, width, 1e6)[1] + f.getSpaceBefore() + f.getSpaceAfter() for f in story)
        pagesize = (page_width, height + 2 * margin + 2 * padding + 12)
        story = _receipt_story(receipt, width, till)  # fresh flowables: wrapping may have cached a layout
        return _build(story, pagesize, (margin, margin, margin, margin), lambda c, d: None, lambda c, n, m: None, title)
    footer = _page_footer(
        receipt.captions,
        RETURN_CAPTIONS,
        f"{receipt.store_name} - {receipt.number}",
        margin,
        page_width - margin,
        22,
        8,
    )
    return _build(story, A4, (margin, margin, margin + 10, margin), lambda c, d: None, footer, title)
