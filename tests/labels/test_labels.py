"""labels/: every barcode is proven by an independent decoder (zxing-cpp) reading the rasterised output.

PDFs are rasterised with poppler's pdftoppm at 203 dpi (a thermal printer's resolution), ZPL is rendered
by zplkit (a ZD621 emulator). Text is checked with pdftotext and page sizes with pdfinfo.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from labels.barcodes import code128_svg
from labels.data import (
    SHIPPING_CAPTIONS,
    Address,
    Manifest,
    ManifestParcel,
    PackingSlip,
    PickGroup,
    PickList,
    ShippingLabel,
    SlipItem,
    ascii_text,
    printable,
)
from labels.documents import manifest_pdf, packing_slip_pdf, pick_list_pdf
from labels.shipping import label_pdf, label_zpl, labels_pdf

CI = os.environ.get("CI", "").lower() == "true"
A4 = (595.28, 841.89)
FOUR_BY_SIX = (288.0, 432.0)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    message = f"{tool} (apt-get install -y poppler-utils) is missing: the PDF barcode/text checks cannot run"
    if CI:
        pytest.fail(message + " (CI=true: this is a failure)")
    sys.stderr.write(f"\n{'!' * 78}\n!! SKIPPED: {message}\n{'!' * 78}\n")
    pytest.skip("LOUD SKIP: " + message)


# --- independent readers -------------------------------------------------------------------------------


def decode_pages(pdf: bytes, tmp_path: Path) -> list[set[tuple[str, str]]]:
    """Rasterise every page at 203 dpi and decode it: one set of (format, text) per page."""
    pdftoppm = _require("pdftoppm")
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    subprocess.run([pdftoppm, "-r", "203", "-png", str(source), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    decoded = []
    for page in pages:
        with Image.open(page) as image:
            results = zxingcpp.read_barcodes(image)
        assert all(r.valid for r in results)
        decoded.append({(r.format.name, r.text) for r in results})
    return decoded


def texts(pages: list[set[tuple[str, str]]]) -> set[str]:
    return {text for page in pages for _, text in page}


def pdf_text(pdf: bytes, tmp_path: Path, *, layout: bool = False) -> str:
    pdftotext = _require("pdftotext")
    source = tmp_path / "text.pdf"
    source.write_bytes(pdf)
    command = [pdftotext, *(["-layout"] if layout else []), str(source), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def page_sizes(pdf: bytes, tmp_path: Path) -> list[tuple[float, float]]:
    pdfinfo = _require("pdfinfo")
    source = tmp_path / "info.pdf"
    source.write_bytes(pdf)
    out = subprocess.run(
        [pdfinfo, "-f", "1", "-l", "9999", str(source)], check=True, capture_output=True, text=True
    ).stdout
    return [(float(w), float(h)) for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", out)]


def assert_size(sizes: list[tuple[float, float]], expected: tuple[float, float]) -> None:
    assert sizes
    for width, height in sizes:
        assert width == pytest.approx(expected[0], abs=0.5) and height == pytest.approx(expected[1], abs=0.5)


def render_zpl(zpl: bytes):
    import zplkit

    document = zplkit.render(zpl, zplkit.Options(profile="zd621", dpi=203, width=812, height=1218))
    return document


def decode_png(png: bytes) -> set[tuple[str, str]]:
    with Image.open(io.BytesIO(png)) as image:
        results = zxingcpp.read_barcodes(image)
    assert all(r.valid for r in results)
    return {(r.format.name, r.text) for r in results}


# --- sample data ------------------------------------------------------------------------------------------

STORE = Address("Comptoir Paris Bastille", "12 rue de la Roquette", "75011", "Paris", "FR", phone="+33 1 23 45 67 89")
CUSTOMER = Address(
    "Françoise Lefèvre",
    "3 place de l'Église",
    "69002",
    "Lyon",
    "FR",
    line2="Bâtiment C, 2e étage",
    phone="+33 6 12 34 56 78",
)


def make_label(n: int = 2, **changes) -> ShippingLabel:
    tracking = f"CX{123456780 + n:09d}FR"
    label = ShippingLabel(
        sender=STORE,
        recipient=CUSTOMER,
        carrier_name="Colis Express",
        service_name="Express 24h",
        tracking_number=tracking,
        weight_grams=1250,
        parcel_no=2,
        parcel_count=3,
        order_reference="CMD-2026-000123",
        when="2026-11-23",
        routing=f"CX|EXP|FR|69002|{tracking}|2/3",
    )
    return replace(label, **changes)


COMMANDS = (("CMD:CONFIRM", "Confirm"), ("CMD:SHORT", "Short"), ("CMD:NEXT", "Next"), ("CMD:NEW-PARCEL", "New parcel"))


# --- text helpers -----------------------------------------------------------------------------------------------


def test_printable_keeps_latin1_and_replaces_the_rest_sensibly():
    assert printable("Łódź") == "Lódz"
    assert printable("Françoise à l'Hôpital, Ça va") == "Françoise à l'Hôpital, Ça va"
    assert printable("Œuvre 10 €") == "Œuvre 10 €"  # WinAnsi has them
    assert printable("東京") == "??"
    assert printable("a\nb\tc\x00d\u200be") == "a b cde"
    assert printable("e\u0301") == "é"  # decomposed accent, composed back
    assert ascii_text("Françoise Łódź — «Œuvre» ß") == 'Francoise Lodz - "OEuvre" ss'


# --- shipping label: PDF ---------------------------------------------------------------------------------------


def test_label_pdf_is_one_4x6_page_whose_barcodes_decode(tmp_path):
    label = make_label()
    pdf = label_pdf(label)
    assert pdf.startswith(b"%PDF")
    assert_size(page_sizes(pdf, tmp_path), FOUR_BY_SIX)
    assert len(page_sizes(pdf, tmp_path)) == 1
    assert decode_pages(pdf, tmp_path) == [{("Code128", label.tracking_number), ("QRCode", label.routing)}]


def test_label_pdf_text(tmp_path):
    label = make_label(recipient=replace(CUSTOMER, city="Łódź"))
    text = pdf_text(label_pdf(label), tmp_path)
    for expected in (
        "Françoise Lefèvre",
        "3 place de l'Église",
        "Bâtiment C, 2e étage",
        "69002 Lódz",
        "Comptoir Paris Bastille",
        "Colis Express",
        "EXPRESS 24H",
        "Parcel 2 of 3",
        "1.25 kg",
        "CMD-2026-000123",
        "2026-11-23",
        label.tracking_number,
    ):
        assert expected in text, expected
    assert "■" not in text


def test_label_pdf_translated_captions_and_partial_captions(tmp_path):
    french = {
        **SHIPPING_CAPTIONS,
        "parcel": "Colis {n} sur {m}",
        "weight": "Poids",
        "to": "Destinataire",
        "decimal": ",",
    }
    text = pdf_text(label_pdf(make_label(captions=french)), tmp_path)
    assert "Colis 2 sur 3" in text and "1,25 kg" in text and "DESTINATAIRE" in text and "Poids" in text
    text = pdf_text(label_pdf(make_label(captions={"date": "Data"})), tmp_path)  # Italian, one key only
    assert "Data" in text and "Parcel 2 of 3" in text


def test_label_pdf_is_deterministic():
    assert label_pdf(make_label()) == label_pdf(make_label())


def test_label_pdf_long_text_is_shrunk_never_cut(tmp_path):
    name = "Établissements " * 12
    label = make_label(recipient=replace(CUSTOMER, name=name.strip()), carrier_name="X" * 80)
    pdf = label_pdf(label)
    text = " ".join(pdf_text(pdf, tmp_path).split())
    assert name.strip() in text and "X" * 80 in text and "…" not in text
    assert decode_pages(pdf, tmp_path) == [{("Code128", label.tracking_number), ("QRCode", label.routing)}]


def test_label_rejects_a_tracking_number_code128_cannot_carry():
    with pytest.raises(ValueError, match="tracking number"):
        label_pdf(make_label(tracking_number="CX12345é"))
    with pytest.raises(ValueError, match="tracking number"):
        label_zpl(make_label(tracking_number=""))


def test_labels_pdf_batch_one_page_per_label_in_order_with_progress(tmp_path):
    labels = [make_label(n) for n in range(5)]
    seen: list[int] = []
    pdf = labels_pdf((label for label in labels), progress=seen.append)  # a generator: read once
    assert seen == [1, 2, 3, 4, 5]
    sizes = page_sizes(pdf, tmp_path)
    assert len(sizes) == 5
    assert_size(sizes, FOUR_BY_SIX)
    assert decode_pages(pdf, tmp_path) == [{("Code128", lb.tracking_number), ("QRCode", lb.routing)} for lb in labels]


def test_labels_pdf_needs_a_label():
    with pytest.raises(ValueError, match="at least one"):
        labels_pdf([])


# --- shipping label: ZPL -------------------------------------------------------------------------------------------


def test_label_zpl_structure():
    zpl = label_zpl(make_label())
    text = zpl.decode("utf-8")
    assert text.startswith("^XA")
    assert text.rstrip().endswith("^XZ")
    assert text.count("^XA") == 1 and text.count("^XZ") == 1
    for command in ("^PW812", "^LL1218", "^CI28", "^BC", "^BQ"):
        assert command in text, command
    assert re.search(r"\^BCN,\d+,Y,", text), "Code128 must print its interpretation line"


def test_label_zpl_renders_and_decodes():
    label = make_label()
    document = render_zpl(label_zpl(label))
    assert len(document.labels) == 1
    scene = document.labels[0]
    assert (scene.width, scene.height) == (812, 1218)
    assert decode_png(scene.png()) == {("Code128", label.tracking_number), ("QRCode", label.routing)}


def test_label_zpl_user_text_cannot_inject_commands():
    import zplkit
    from zplkit import _native

    parse = getattr(zplkit, "parse", None) or _native.parse
    evil = "Evil^XZ^XA^FO0,0^GB812,1218,812^FS~JA~DGR:X.GRF,1,1,FF_5E"
    label = make_label(
        recipient=replace(CUSTOMER, name=evil, line1=evil, city=evil),
        sender=replace(STORE, name=evil),
        carrier_name=evil,
        service_name=evil,
        order_reference=evil,
        routing="CX|^XZ~JA_5E|2/3",
        captions={"parcel": "Colis {n}^XZ~JA {m}"},
    )
    zpl = label_zpl(label)
    assert zpl.count(b"^XA") == 1 and zpl.count(b"^XZ") == 1
    assert b"~" not in zpl
    assert b"^GB812,1218" not in zpl

    def commands(data: bytes) -> list[bytes]:
        return [bytes(e)[:3] for e in parse(data).elements]

    assert commands(zpl) == commands(label_zpl(make_label(captions={"parcel": "Colis {n} {m}"})))
    document = render_zpl(zpl)
    assert len(document.labels) == 1
    # The escaped characters come back intact inside the QR code: escaped, not lost.
    assert decode_png(document.labels[0].png()) == {("Code128", label.tracking_number), ("QRCode", label.routing)}


# --- packing slip ----------------------------------------------------------------------------------------------------


def make_slip(count: int = 60, gift: str = "Joyeux anniversaire ! Bisous, Zoé") -> PackingSlip:
    items = tuple(
        SlipItem(
            f"SKU-{i:04d}", f"Pull en laine mérinos côtelé, taille {i}", i % 4 + 1, "3700413000017" if i % 2 else ""
        )
        for i in range(count)
    )
    return PackingSlip(
        store_name="Comptoir Paris",
        store_address=STORE,
        order_reference="CMD-2026-000123",
        when="20 nov. 2026",
        customer=replace(CUSTOMER, name="Françoise <b>Lefèvre</b> & Łódź"),
        items=items,
        gift_message=gift,
        parcel_summary="2 parcels",
    )


@pytest.mark.parametrize(("size", "expected"), [("a4", A4), ("4x6", FOUR_BY_SIX)])
def test_packing_slip_flows_onto_pages_and_every_page_carries_the_order_barcode(tmp_path, size, expected):
    slip = make_slip()
    pdf = packing_slip_pdf(slip, size=size)
    sizes = page_sizes(pdf, tmp_path)
    assert len(sizes) > 1
    assert_size(sizes, expected)
    pages = decode_pages(pdf, tmp_path)
    assert texts(pages) == {slip.order_reference}
    assert all(page == {("Code128", slip.order_reference)} for page in pages)
    text = pdf_text(pdf, tmp_path)
    for expected_text in (
        "Packing slip",
        "SKU-0000",
        "SKU-0059",
        "taille 59",
        "Françoise <b>Lefèvre</b> & Lódz",
        "Gift message",
        "Bisous, Zoé",
        "2 parcels",
        f"Page 1 of {len(sizes)}",
        f"Page {len(sizes)} of {len(sizes)}",
        str(sum(item.quantity for item in slip.items)),
    ):
        assert expected_text in text, expected_text


def test_packing_slip_without_gift_message_and_translated(tmp_path):
    slip = replace(make_slip(3, gift=""), captions={"title": "Bon de livraison", "thanks": "Merci !"})
    pdf = packing_slip_pdf(slip)
    text = pdf_text(pdf, tmp_path)
    assert "Gift message" not in text and "Bon de livraison" in text and "Merci !" in text
    assert decode_pages(pdf, tmp_path) == [{("Code128", slip.order_reference)}]


def test_packing_slip_rejects_unknown_size():
    with pytest.raises(ValueError, match="size"):
        packing_slip_pdf(make_slip(1), size="letter")


# --- manifest ----------------------------------------------------------------------------------------------------------


def test_manifest_paginates_and_every_tracking_barcode_decodes(tmp_path):
    parcels = tuple(
        ManifestParcel(
            f"CX{200000 + i * 7:06d}{i % 10}FR", f"CMD-2026-{i:06d}", 500 + i * 37, i % 2 + 1, 2, "Express 24h"
        )
        for i in range(40)
    )
    manifest = Manifest("MAN-000042", "Colis Express", "Comptoir Paris", STORE, "2026-11-23 17:05", parcels)
    pdf = manifest_pdf(manifest)
    sizes = page_sizes(pdf, tmp_path)
    assert len(sizes) > 1
    assert_size(sizes, A4)
    pages = decode_pages(pdf, tmp_path)
    assert texts(pages) == {manifest.number} | {p.tracking_number for p in parcels}
    assert all(("Code128", manifest.number) in page for page in pages)
    # Every tracking number appears exactly once across the pages (no row lost or doubled at a page break).
    rows = [text for page in pages for _, text in page if text != manifest.number]
    assert sorted(rows) == sorted(p.tracking_number for p in parcels)
    text = pdf_text(pdf, tmp_path, layout=True)
    total = sum(p.weight_grams for p in parcels)
    assert re.search(r"Parcels +40\n", text)
    assert re.search(rf"Total weight +{total / 1000:.2f} kg\n", text)
    assert "Colis Express" in text and "2026-11-23 17:05" in text and "Driver signature" in text
    assert f"Page {len(sizes)} of {len(sizes)}" in text


# --- pick list ---------------------------------------------------------------------------------------------------------


def test_pick_list_commands_decode_and_groups_keep_their_order(tmp_path):
    shelves = [f"B-{(i * 7) % 30:02d}-{i % 3}" for i in range(30)]  # deliberately not sorted
    groups = tuple(
        PickGroup(
            shelf, f"SKU-{i:04d}", f"Produit numéro {i}", "3700413000017", 3, (("A", "CMD-1", 1), ("B", "CMD-2", 2))
        )
        for i, shelf in enumerate(shelves)
    )
    pick_list = PickList("PL-000007", "Comptoir Paris", "23/11/2026 09:00", groups, COMMANDS)
    pdf = pick_list_pdf(pick_list)
    assert_size(page_sizes(pdf, tmp_path), A4)
    pages = decode_pages(pdf, tmp_path)
    assert len(pages) > 1
    for page in pages:  # the commands are at the foot of every page
        assert page == {("Code128", value) for value, _ in COMMANDS}
    text = pdf_text(pdf, tmp_path)
    positions = [text.index(shelf) for shelf in shelves]
    assert positions == sorted(positions)
    for caption in ("Confirm", "Short", "Next", "New parcel", "Produit numéro 29", "CMD-2", "PL-000007"):
        assert caption in text, caption


# --- SVG for screens ---------------------------------------------------------------------------------------------------


def _rasterise_svg(svg: bytes, scale: float = 12.0) -> Image.Image:
    """A tiny rasteriser for the SVG's rects (all code128_svg draws), independent of python-barcode."""
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    _, _, width, height = (float(v) for v in root.attrib["viewBox"].split())
    image = Image.new("L", (round(width * scale), round(height * scale)), 255)
    draw = ImageDraw.Draw(image)
    for rect in root.iter("{http://www.w3.org/2000/svg}rect"):
        if rect.attrib.get("width") == "100%" or rect.attrib.get("fill") != "black":
            continue
        x, y, w, h = (float(rect.attrib[k]) for k in ("x", "y", "width", "height"))
        draw.rectangle([x * scale, y * scale, (x + w) * scale - 1, (y + h) * scale - 1], fill=0)
    return image


@pytest.mark.parametrize("human_readable", [False, True])
def test_code128_svg_is_standalone_without_inline_style_and_decodes(human_readable):
    svg = code128_svg("CX123456785FR", human_readable=human_readable)
    assert svg.startswith(b"<?xml")
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["viewBox"].startswith("0 0 ")
    assert all("style" not in element.attrib for element in root.iter())
    assert b"<!DOCTYPE" not in svg and b"<script" not in svg
    assert ("CX123456785FR" in svg.decode()) is True  # <title>
    image = _rasterise_svg(svg)
    results = zxingcpp.read_barcodes(image)
    assert {(r.format.name, r.text) for r in results} == {("Code128", "CX123456785FR")}


def test_code128_svg_rejects_non_ascii():
    with pytest.raises(ValueError, match="ASCII"):
        code128_svg("Łódź")


def test_empty_documents_still_render():
    slip = replace(make_slip(0, gift=""), items=())
    assert packing_slip_pdf(slip, size="4x6").startswith(b"%PDF")
    manifest = Manifest("MAN-000001", "Colis Express", "Comptoir Paris", STORE, "2026-11-23", ())
    assert manifest_pdf(manifest).startswith(b"%PDF")
    assert pick_list_pdf(PickList("PL-1", "Comptoir", "2026-11-23", (), ())).startswith(b"%PDF")


def test_documents_are_hashable_values():
    assert hash(make_label()) == hash(make_label())
    assert make_label().captions == dict(SHIPPING_CAPTIONS)
    with pytest.raises(AttributeError):
        make_label().captions._items = {}  # type: ignore[attr-defined]


# --- wrap or shrink, never cut (issue 10, defect 8) -------------------------------------------------------------------

LONG_STORE = "Comptoir Paris Rivoli - Forum des Halles, niveau -2, porte Lescot"
ITALIAN_SLIP = {"title": "Bolla di consegna", "order": "Ordine", "date": "Data", "page": "Pagina {n} di {m}"}


def pypdf_text(pdf: bytes) -> str:
    """The PDF's text by pypdf (no poppler needed), whitespace and line breaks folded to single spaces."""
    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


@pytest.mark.parametrize("size", ["a4", "4x6"])
def test_the_italian_slip_title_and_a_long_store_name_are_printed_whole(size):
    slip = replace(make_slip(3), store_name=LONG_STORE, captions=ITALIAN_SLIP)
    text = pypdf_text(packing_slip_pdf(slip, size=size))
    assert "Bolla di consegna" in text
    assert LONG_STORE in text or all(word in text for word in LONG_STORE.split())
    assert "…" not in text and "..." not in text


def test_a_long_store_name_wraps_in_the_slip_header_and_pushes_the_table_down():
    short = packing_slip_pdf(make_slip(3), size="4x6")
    long = packing_slip_pdf(replace(make_slip(3), store_name=LONG_STORE), size="4x6")
    assert pypdf_text(long).count("Comptoir Paris Rivoli") >= 1
    assert short != long and "…" not in pypdf_text(long)


def test_manifest_and_pick_list_headers_are_never_cut():
    carrier = "Corriere Espresso Internazionale del Nord Italia e della Svizzera"
    manifest = Manifest("MAN-000042", carrier, LONG_STORE, STORE, "24/11/2026 02:13", ())
    text = pypdf_text(manifest_pdf(replace(manifest, captions={"title": "Distinta di consegna al corriere"})))
    for words in (carrier, LONG_STORE, "Distinta di consegna al corriere", "24/11/2026 02:13"):
        assert all(word in text for word in words.split()), words
    pick = PickList("PL-000007", LONG_STORE, "24/11/2026 02:13", (), COMMANDS)
    text = pypdf_text(pick_list_pdf(replace(pick, captions={"title": "Lista di prelievo multiordine"})))
    for words in (LONG_STORE, "Lista di prelievo multiordine PL-000007", "24/11/2026 02:13"):
        assert all(word in text for word in words.split()), words
    assert "…" not in text


def test_fit_lines_prefers_one_line_then_wraps_then_shrinks_and_never_cuts():
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from labels.shipping import fit_lines

    assert fit_lines("Bolla di consegna", "Helvetica-Bold", 18, 200) == (["Bolla di consegna"], 18)
    lines, size = fit_lines("Bolla di consegna", "Helvetica-Bold", 18, 130)
    assert lines == ["Bolla di consegna"] and 13.5 <= size < 18  # shrunk a little, still one line
    lines, size = fit_lines(LONG_STORE, "Helvetica-Bold", 10, 130)
    assert len(lines) == 2 and size >= 7.5 and " ".join(lines) == LONG_STORE
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    lines, size = fit_lines(word, "Helvetica-Bold", 10, 100)
    assert "".join(lines) == word and all(stringWidth(line, "Helvetica-Bold", size) <= 100 for line in lines)


def test_zpl_fields_are_condensed_or_wrapped_never_cut():
    name = "Établissements Lefèvre-Saint-Rémy et Compagnie, service des expéditions internationales " * 2
    label = make_label(recipient=replace(CUSTOMER, name=name.strip()))
    zpl = label_zpl(label).decode()
    scene = render_zpl(zpl.encode()).labels[0]  # the wrapped name leaves the barcodes readable
    assert decode_png(scene.png()) == {("Code128", label.tracking_number), ("QRCode", label.routing)}
    assert "..." not in zpl
    assert ascii_text(name.strip()) in zpl  # whole, inside a two-line field block
    assert re.search(r"\^FB\d+,2,0,L,0\^A0N,\d+,\d+\^FH_\^FDEtablissements", zpl)


def test_column_headings_never_break_inside_a_word():
    french = {"shelf": "Emplacement", "product": "Produit", "total": "Total", "split": "Bacs"}
    groups = (PickGroup("A-01-1", "SKU-1", "Lampe", "", 1, (("A", "CMD-1", 1),)),)
    pick = PickList("PL-000008", "Comptoir", "24/11/2026 02:13", groups, COMMANDS, captions=french)
    assert "Emplacement" in pypdf_text(pick_list_pdf(pick))


# --- shelf labels -------------------------------------------------------------------------------------------


def _shelf_labels(n: int):
    from labels.shelves import ShelfLabel

    return [
        ShelfLabel(
            f"PAR01:A{i % 7 + 1}-{i + 1}-{i % 3 + 1}", f"A{i % 7 + 1}-{i + 1}-{i % 3 + 1}", f"SKU-{i:03d} · Pull n°{i}"
        )
        for i in range(n)
    ]


def test_shelf_labels_2x1_one_a_page_each_decoded_by_zxing(tmp_path):
    from labels.shelves import shelf_labels_pdf

    labels = _shelf_labels(3)
    done = []
    pdf = shelf_labels_pdf(labels, "2x1", progress=done.append)
    assert done == [1, 2, 3]
    pages = decode_pages(pdf, tmp_path)
    assert pages == [{("Code128", label.barcode)} for label in labels]
    assert "A1-1-1" in pdf_text(pdf, tmp_path) and "SKU-000" in pdf_text(pdf, tmp_path)


def test_shelf_labels_on_a4_sheets_of_24_every_one_decoded(tmp_path):
    from labels.shelves import shelf_labels_pdf

    labels = _shelf_labels(30)  # a full sheet and part of the next
    pages = decode_pages(shelf_labels_pdf(labels, "a4"), tmp_path)
    assert len(pages) == 2
    assert pages[0] == {("Code128", label.barcode) for label in labels[:24]}
    assert pages[1] == {("Code128", label.barcode) for label in labels[24:]}


def test_shelf_labels_refuse_an_unknown_layout_or_nothing_to_print():
    from labels.shelves import shelf_labels_pdf

    with pytest.raises(ValueError, match="unknown layout"):
        shelf_labels_pdf(_shelf_labels(1), "letter")
    with pytest.raises(ValueError, match="no shelf label"):
        shelf_labels_pdf([], "a4")


# --- a click & collect transfer: the note beside the recipient ------------------------------------------------------

TRANSFER_NOTE = "Click & collect transfer: order CMD-2026-000123 to store Comptoir Milano Duomo (MIL01)"


def test_a_transfer_label_prints_its_note_whole_and_its_barcodes_still_decode(tmp_path):
    label = make_label(recipient=replace(STORE, name="Comptoir Milano Duomo"), note=TRANSFER_NOTE)
    pdf = label_pdf(label)
    text = pdf_text(pdf, tmp_path)
    assert TRANSFER_NOTE in text and "Comptoir Milano Duomo" in text
    assert decode_pages(pdf, tmp_path) == [{("Code128", label.tracking_number), ("QRCode", label.routing)}]
    zpl = label_zpl(label)
    assert TRANSFER_NOTE in zpl.decode()
    scene = render_zpl(zpl).labels[0]
    assert decode_png(scene.png()) == {("Code128", label.tracking_number), ("QRCode", label.routing)}
    assert TRANSFER_NOTE not in label_zpl(make_label()).decode()


@pytest.mark.parametrize("size", ["a4", "4x6"])
def test_a_transfer_slip_prints_its_note(tmp_path, size):
    slip = replace(make_slip(3, gift=""), note=TRANSFER_NOTE)
    text = pdf_text(packing_slip_pdf(slip, size=size), tmp_path)
    assert "Click & collect transfer" in text and "MIL01" in text
