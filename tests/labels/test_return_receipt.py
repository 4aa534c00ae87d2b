"""The customer's return receipt (A4 and 80 mm till roll): the return number's Code128 read back by zxing-cpp from
the page rasterised at 203 dpi, the words with pdftotext, the page size with pdfinfo."""

from dataclasses import replace
from datetime import timedelta

import pytest

from labels.data import ReturnItem, ReturnReceipt
from labels.documents import TILL_ROLL_WIDTH, return_receipt_pdf
from tests.labels.test_labels import A4, STORE, assert_size, decode_pages, page_sizes, pdf_text


def make_receipt(count: int = 2, **changes) -> ReturnReceipt:
    items = tuple(
        ReturnItem(f"SKU-{i:04d}", f"Pull en laine mérinos, taille {i}", i % 3 + 1, "Too small", "Resellable")
        for i in range(count)
    )
    receipt = ReturnReceipt(
        number="RET-0000042",
        store_name="Comptoir Lyon Part-Dieu",
        store_address=STORE,
        order_reference="CMD-2026-000123",
        when="03/03/2026 17:05",
        items=items,
        refund="€59.90",
    )
    return replace(receipt, **changes)


@pytest.mark.parametrize("size", ["a4", "80mm"])
def test_the_return_number_decodes_on_both_sizes_with_every_item_and_the_refund(tmp_path, size):
    receipt = make_receipt(3)
    pdf = return_receipt_pdf(receipt, size=size)
    pages = decode_pages(pdf, tmp_path)
    assert pages[0] == {("Code128", "RET-0000042")}
    text = pdf_text(pdf, tmp_path)
    for expected in (
        "Return receipt",
        "Comptoir Lyon Part-Dieu",
        "12 rue de la Roquette",
        "CMD-2026-000123",
        "03/03/2026 17:05",
        "SKU-0002",
        "taille 2",
        "Too small",
        "Resellable",
        "€59.90",
        "Refunded to your original payment.",
    ):
        assert expected in text, expected
    sizes = page_sizes(pdf, tmp_path)
    if size == "a4":
        assert_size(sizes, A4)
    else:
        [(width, height)] = sizes  # one page of the roll, as long as the receipt
        assert width == pytest.approx(TILL_ROLL_WIDTH, abs=0.5) and 200 < height < 1200


def test_a_long_till_receipt_stays_on_one_page_and_a_long_a4_one_flows(tmp_path):
    till = return_receipt_pdf(make_receipt(30), size="80mm")
    assert len(page_sizes(till, tmp_path)) == 1 and "SKU-0029" in pdf_text(till, tmp_path)
    a4 = return_receipt_pdf(make_receipt(80), size="a4")
    assert len(page_sizes(a4, tmp_path)) > 1 and "SKU-0079" in pdf_text(a4, tmp_path)


def test_a_return_by_post_says_the_refund_waits_and_captions_translate(tmp_path):
    receipt = make_receipt(1, expected=True, captions={"title": "Reçu de retour"})
    text = pdf_text(return_receipt_pdf(receipt, size="80mm"), tmp_path)
    assert "Reçu de retour" in text and "once we receive the items" in text and "original payment" not in text


def test_unknown_size_is_refused():
    with pytest.raises(ValueError, match="size"):
        return_receipt_pdf(make_receipt(), size="letter")


def test_a_return_receipt_from_the_database_in_the_customers_language_on_the_stores_clock(app, tmp_path):
    from app.core import returns
    from app.documents import return_receipt_document
    from tests.core.test_returns import NOW, shipped_order
    from tests.factories import ACTOR, make_location

    order = shipped_order()
    order.customer_language = "fr"
    store = make_location(name="Comptoir Lyon", address_line1="5 place Bellecour", postcode="69002", city="Lyon")
    first = order.lines[0]
    ret = returns.create_return(
        order,
        store,
        [{"sku": first.product.sku, "quantity": 2, "reason": "too_small", "condition": "resellable"}],
        actor=ACTOR,
        now=NOW + timedelta(days=2),  # 16:00 UTC is 17:00 in Lyon (Europe/Paris, winter)
    )
    for size in ("a4", "80mm"):
        pdf = return_receipt_document(ret, size=size)
        folder = tmp_path / size
        folder.mkdir()
        assert decode_pages(pdf, folder)[0] == {("Code128", ret.number)}
        text = pdf_text(pdf, folder)
        assert "Comptoir Lyon" in text and "5 place Bellecour" in text and order.reference in text
        assert "05/03/2025 17:00" in text  # French date order, the store's clock
        assert "40,00\xa0€" in text or "40,00 €" in text  # Babel's French currency format
        assert first.product.sku in text
