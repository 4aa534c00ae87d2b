"""Barcodes: Code128 SVG for screens (python-barcode), Code128 and QR drawn straight onto a reportlab canvas.

The PDF drawers size modules in whole printer dots at 203 dpi (the thermal printers' resolution),
so a bar is never a fraction of a dot wide when the page is printed at its natural size.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import barcode
from barcode.writer import SVGWriter
from reportlab.graphics.barcode import code128 as rl_code128
from reportlab.graphics.barcode import qrencoder

from labels.data import barcode_value

DOT = 72 / 203  # one 203 dpi printer dot, in PDF points
_QR_BORDER = 4  # quiet zone, in modules (the QR standard's minimum)
_CODE128_QUIET = 10  # quiet zone each side, in modules


# --- screen: SVG ----------------------------------------------------------------------------------

_MM = re.compile(r"^(-?[0-9.]+)mm$")


class _PlainSVGWriter(SVGWriter):
    """SVGWriter with presentation attributes instead of inline style, unitless coordinates and a viewBox."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.with_doctype = False
        self._title = title

    def _finish(self) -> bytes:
        root = self._root
        for element in root.getElementsByTagName("*"):
            for name in ("x", "y", "width", "height"):
                match = _MM.match(element.getAttribute(name))
                if match:
                    element.setAttribute(name, f"{float(match.group(1)):g}")
            style = element.getAttribute("style")
            if style:
                element.removeAttribute("style")
                for declaration in style.split(";"):
                    if ":" in declaration:
                        key, value = (part.strip() for part in declaration.split(":", 1))
                        if key == "font-size" and value.endswith("pt"):  # user units are millimetres
                            value = f"{float(value[:-2]) * 25.4 / 72:.2f}"
                        element.setAttribute(key, value)
            if element.getAttribute("id"):
                element.removeAttribute("id")
        for node in list(root.childNodes):
            if node.nodeType == node.COMMENT_NODE:
                root.removeChild(node)
        width, height = (float(root.getAttribute(name).removesuffix("mm")) for name in ("width", "height"))
        root.setAttribute("viewBox", f"0 0 {width:g} {height:g}")
        root.setAttribute("width", f"{width:g}mm")
        root.setAttribute("height", f"{height:g}mm")
        root.setAttribute("role", "img")
        root.setAttribute("shape-rendering", "crispEdges")
        title = self._document.createElement("title")
        title.appendChild(self._document.createTextNode(self._title))
        root.insertBefore(title, root.firstChild)
        return self._document.toxml(encoding="UTF-8")


@functools.lru_cache(maxsize=512)
def code128_svg(text: str, *, human_readable: bool = False) -> bytes:
    """A standalone SVG (UTF-8 bytes) of text as Code128, 0.33 mm modules, 12 mm bars, no inline styles.

    The size is in millimetres with a viewBox, so CSS may scale it. ValueError if text is not printable ASCII.
    """
    barcode_value(text)
    options: dict[str, Any] = {
        "module_width": 0.33,
        "module_height": 12.0,
        "quiet_zone": 3.3,  # 10 modules
        "write_text": human_readable,
        "font_size": 8,
        "text_distance": 3.5,
        "compress": True,
    }
    svg = barcode.get("code128", text, writer=_PlainSVGWriter(text)).render(options)
    if human_readable:
        svg = svg.replace(b"<text ", b'<text font-family="monospace" ')
    return svg


# --- print: reportlab canvas -------------------------------------------------------------------------


def code128_modules(value: str) -> int:
    """Width of value as Code128 in modules, without quiet zones."""
    return round(rl_code128.Code128(barcode_value(value), barWidth=1, quiet=0).width)


def code128_module_width(value: str, max_width: float, *, max_dots: int = 3, min_dots: int = 2) -> float:
    """The widest module (whole 203 dpi dots, max_dots down to min_dots) that fits value and its quiet zones
    in max_width points; below min_dots the module shrinks to fit exactly (better small than cut)."""
    modules = code128_modules(value) + 2 * _CODE128_QUIET
    for dots in range(max_dots, min_dots - 1, -1):
        if modules * dots * DOT <= max_width:
            return dots * DOT
    return max_width / modules


def draw_code128(canvas: Any, value: str, x: float, y: float, module: float, height: float) -> float:
    """Draw value as Code128 bars with bottom-left at (x, y) (quiet zones not included); return its width."""
    bars = rl_code128.Code128(barcode_value(value), barWidth=module, barHeight=height, quiet=0, humanReadable=0)
    bars.drawOn(canvas, x, y)
    return bars.width


@functools.lru_cache(maxsize=256)
def qr_matrix(text: str, level: str = "M") -> tuple[tuple[bool, ...], ...]:
    """The QR modules of text (rows top to bottom, True = dark), smallest version for the level.

    Uses one fixed mask pattern: reportlab picks the best of eight by trying them all, which costs
    about 30 ms; every mask is valid QR and decodes the same (the decoder reads the mask from the symbol).
    """
    code = qrencoder.QRCode(None, getattr(qrencoder.QRErrorCorrectLevel, level))
    code.addData(text)
    code.version = code.calculate_version()
    code.makeImpl(False, 2)  # mask 2: every third column, no large flat areas on short ASCII payloads
    return tuple(tuple(bool(m) for m in row) for row in code.modules)


def draw_qr(canvas: Any, text: str, x: float, y: float, size: float, *, level: str = "M") -> float:
    """Draw text as a QR code with its quiet zone inside the size x size square at (x, y) bottom-left.

    Modules are whole 203 dpi dots when they fit; returns the side actually used (<= size).
    """
    matrix = qr_matrix(text, level)
    count = len(matrix) + 2 * _QR_BORDER
    dots = int(size / DOT) // count
    module = dots * DOT if dots >= 1 else size / count
    side = module * count
    top = y + side - _QR_BORDER * module
    left = x + _QR_BORDER * module
    path = canvas.beginPath()
    for r, row in enumerate(matrix):
        c = 0
        n = len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                path.rect(left + start * module, top - (r + 1) * module, (c - start) * module, module)
            else:
                c += 1
    canvas.drawPath(path, stroke=0, fill=1)
    return side
