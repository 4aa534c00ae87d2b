"""What the catalogue tells the floor: the name in the associate's language, the photo, how to handle it."""

import io

from pypdf import PdfReader

from app.core.floor import picking
from app.core.inventory import products
from app.core.ordering import orders
from app.extensions import db
from tests.conftest import login
from tests.core.test_packing import picked_fulfilment
from tests.factories import ACTOR, PASSWORD, make_location, make_user, random_gtin, ship_draft, stocked

IMAGE = "https://example.invalid/images/vase-bleu.jpg"


def _vase(sku="VASE-1", **extra):
    item = {
        "sku": sku,
        "name": "Glass vase",
        "names": {"fr": "Vase en verre", "it": "Vaso di vetro"},
        "gtin": random_gtin(),
        "image_url": IMAGE,
        "flags": ["fragile", "hazmat"],
        **extra,
    }
    [(product, _)] = products.save_products([products.ProductItemSchema().load(item)], actor=ACTOR)
    return product


def test_the_pick_screen_shows_the_french_name_and_the_photo_to_a_french_associate(client):
    store = make_location()
    vase = stocked(store, _vase(), 3)
    order, _ = orders.create_order(ship_draft((vase, 1)), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    user = make_user(stores=[store], language="fr")
    pick_list = picking.start_pick(store, [fulfilment], user=user, actor=ACTOR)
    db.session.commit()
    login(client, user.email, PASSWORD)
    html = client.get(f"/stores/{store.code}/picks/{pick_list.id}").get_data(as_text=True)
    assert "Vase en verre" in html and "Glass vase" not in html
    assert f'<img class="product-image" src="{IMAGE}" alt="Vase en verre"' in html
    assert "Fragile" in html and "Matières dangereuses" in html


def test_the_pack_screen_shows_the_italian_name_the_photo_and_the_flags(client):
    store = make_location()
    plain = products.save_products(
        [products.ProductItemSchema().load({"sku": "TSH-1", "name": "T-shirt", "gtin": random_gtin()})], actor=ACTOR
    )[0][0]
    fulfilment = picked_fulfilment(1, 2, store=store, products=[_vase(), plain])
    user = make_user(stores=[store], language="it")
    db.session.commit()
    login(client, user.email, PASSWORD)
    html = client.get(f"/stores/{store.code}/fulfilments/{fulfilment.id}/pack").get_data(as_text=True)
    assert "Vaso di vetro" in html and "Glass vase" not in html
    assert "T-shirt" in html  # no Italian name: the default one
    care = html[html.index('id="care-title"') : html.index("</ul>", html.index('id="care-title"'))]
    assert "Vaso di vetro" in care and "T-shirt" not in care
    assert "Fragile" in care and "Merci pericolose" in care
    assert f'src="{IMAGE}" alt="Vaso di vetro"' in html


def test_an_english_associate_reads_the_default_name_and_no_care_notice_without_flags(client):
    store = make_location()
    product = _vase(flags=[], image_url=None)
    fulfilment = picked_fulfilment(1, store=store, products=[product])
    user = make_user(stores=[store], language="en")
    db.session.commit()
    login(client, user.email, PASSWORD)
    html = client.get(f"/stores/{store.code}/fulfilments/{fulfilment.id}/pack").get_data(as_text=True)
    assert "Glass vase" in html and "Vase en verre" not in html
    assert 'id="care-title"' not in html and "product-image" not in html


def test_the_packing_slip_names_products_in_the_customers_language(client):
    store = make_location()
    fulfilment = picked_fulfilment(1, store=store, products=[_vase()], customer_language="it")
    user = make_user(stores=[store], language="fr")
    db.session.commit()
    login(client, user.email, PASSWORD)
    response = client.get(f"/stores/{store.code}/fulfilments/{fulfilment.id}/packing-slip.pdf?size=a4")
    assert response.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "Vaso di vetro" in text and "Vase en verre" not in text


def test_a_scan_answers_with_the_name_in_the_associates_language_and_a_replay_too(client):
    from tests.conftest import csrf_from

    store = make_location()
    vase = stocked(store, _vase(sku="VASE-2"), 3)
    order, _ = orders.create_order(ship_draft((vase, 2)), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 2}, actor=ACTOR)
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    user = make_user(stores=[store], language="it")
    pick_list = picking.start_pick(store, [fulfilment], user=user, actor=ACTOR)
    db.session.commit()
    login(client, user.email, PASSWORD)
    page = client.get(f"/stores/{store.code}/picks/{pick_list.id}").get_data(as_text=True)
    token = csrf_from(page)
    url = f"/stores/{store.code}/picks/{pick_list.id}/scan"
    form = {"code": vase.gtin, "scan_id": "scan-it-1", "csrf_token": token}
    answers = [client.post(url, data=form, headers={"HX-Request": "true", "HX-Target": "pick-live"}) for _ in range(2)]
    for answer in answers:  # the second is the same scan sent again: replayed, in the same words
        text = answer.get_data(as_text=True)
        assert answer.status_code == 200 and "Vaso di vetro" in text and "Glass vase" not in text
    assert db.session.get(type(fulfilment.lines[0]), fulfilment.lines[0].id).picked == 1


def test_the_stock_screens_name_products_in_the_associates_language(client):
    store = make_location()
    vase = stocked(store, _vase(sku="VASE-3"), 2)
    user = make_user(stores=[store], language="fr", role="manager")
    db.session.commit()
    login(client, user.email, PASSWORD)
    for url in (f"/stores/{store.code}/stock?q=VASE-3", f"/stores/{store.code}/stock/{vase.id}/count"):
        html = client.get(url).get_data(as_text=True)
        assert "Vase en verre" in html and "Glass vase" not in html, url
