"""The stock list: the whole catalogue a page at a time, searchable, each figure explained."""

import re

import pytest

from app.core.inventory import stock
from app.extensions import db
from tests.conftest import login
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, random_ref

HX_MORE = {"HX-Request": "true", "HX-Target": "more-rows"}
HX_ROWS = {"HX-Request": "true", "HX-Target": "rows"}


@pytest.fixture
def catalogue(app, client):
    """120 products (more than two pages of 50), named so that their order is known; an associate signed in."""
    store = make_location()
    tag = random_ref()
    products = [make_product(name=f"Article {tag} {n:03d}") for n in range(120)]
    stock.receive(store, products[0], 7, actor=ACTOR, reference="test")
    user = make_user(stores=[store])
    db.session.commit()
    login(client, user.email, PASSWORD)
    return store, products


def _skus(html: str) -> list[str]:
    return re.findall(r"<code>(SKU-[0-9A-F]+)</code>", html)


def _next(html: str) -> str | None:
    match = re.search(r'id="more-rows".*?href="([^"]+)"', html, re.S)
    return match.group(1).replace("&amp;", "&") if match else None


def test_following_the_next_links_reaches_the_last_product_without_repeating_any(client, catalogue):
    store, products = catalogue
    url, seen, pages = f"/stores/{store.code}/stock", [], 0
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen += _skus(page.text)
        url, pages = _next(page.text), pages + 1
    assert pages == 3
    assert seen == [p.sku for p in products]  # every product once, in name order, the last one included


def test_htmx_gets_only_the_next_rows_in_place_of_the_more_row(client, catalogue):
    store, products = catalogue
    first = client.get(f"/stores/{store.code}/stock")
    more = client.get(_next(first.text), headers=HX_MORE)
    assert "<table" not in more.text and "<html" not in more.text
    assert _skus(more.text) == [p.sku for p in products[50:100]]
    last = client.get(_next(more.text), headers=HX_MORE)
    assert _skus(last.text) == [p.sku for p in products[100:]]
    assert _next(last.text) is None


def test_search_finds_a_product_beyond_the_first_page_by_name_sku_or_barcode(client, catalogue):
    store, products = catalogue
    target = products[117]
    for query in (target.sku, target.gtin, target.name, target.sku.lower()):
        found = client.get(f"/stores/{store.code}/stock", query_string={"q": query}, headers=HX_ROWS)
        assert target.sku in _skus(found.text), query
        assert "<html" not in found.text


def test_search_treats_percent_and_underscore_as_text(client, catalogue):
    store, _ = catalogue
    page = client.get(f"/stores/{store.code}/stock", query_string={"q": "%"})
    assert "No product matches." in page.text


def test_a_5000_character_search_answers_normally(client, catalogue):
    store, _ = catalogue
    page = client.get(f"/stores/{store.code}/stock", query_string={"q": "a" * 5000})
    assert page.status_code == 200
    assert "No product matches." in page.text
    assert 'value="' + "a" * 100 + '"' in page.text


def test_a_next_link_with_nonsense_starts_from_the_first_page(client, catalogue):
    store, products = catalogue
    for after in ("abc", "9" * 40, "-1"):
        page = client.get(f"/stores/{store.code}/stock", query_string={"after": after})
        assert page.status_code == 200
        assert _skus(page.text)[0] == products[0].sku


def test_every_figure_is_named_and_explained(client, catalogue):
    store, products = catalogue
    page = client.get(f"/stores/{store.code}/stock").text
    for words in ("On hand", "Reserved", "Safety stock", "Damaged", "Available", "on hand minus reserved"):
        assert words in page
    row = re.search(rf"<tr[^>]*>\s*<td>\s*<div class=\"product-cell\">\s*<span>{products[0].name}.*?</tr>", page, re.S)
    assert [int(n) for n in re.findall(r'class="num">(?:<strong>)?(\d+)', row.group(0))] == [7, 0, 0, 7]


def test_search_finds_a_product_by_an_extra_barcode(client, catalogue):
    store, _ = catalogue
    code = random_ref("SUP")
    product = make_product(name="Zzz last of the catalogue", barcodes=[code])
    db.session.commit()
    found = client.get(f"/stores/{store.code}/stock", query_string={"q": code}, headers=HX_ROWS)
    assert _skus(found.text) == [product.sku]
