"""The manager's shelves screen: place products, set the walk, print shelf labels; managers of this store only."""

from sqlalchemy import select

from app.core.inventory import shelves
from app.core.models import AuditEvent, ShelfLocation
from app.extensions import db
from tests.conftest import csrf_from, login
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user
from tests.labels.test_labels import decode_pages


def _signed_in(client, role="manager", code="PAR01"):
    store = make_location(code=code, name="Paris")
    user = make_user(stores=[store], role=role)
    db.session.commit()
    login(client, user.email, PASSWORD)
    return store


def _post(client, url, data, page):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def test_a_manager_places_a_product_by_its_barcode_and_sets_the_walk(app, client):
    store = _signed_in(client)
    product = make_product(sku="PULL-M", name="Pull marin")
    db.session.commit()
    page = "/stores/PAR01/shelves"
    assert "No shelf place found." in client.get(page).get_data(as_text=True)
    saved = _post(client, page, {"code": product.gtin, "shelf": "a3-12-2", "sequence": ""}, page)
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/stores/PAR01/shelves?q=PULL-M")
    listed = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Aisle A3, bay 12, level 2" in listed and "PULL-M" in listed and "by the walk" in listed
    bad = _post(client, page, {"code": "PULL-M", "shelf": "A3/12"}, page)
    assert bad.status_code == 422 and "A shelf place is aisle-bay or aisle-bay-level" in bad.get_data(as_text=True)
    unknown = _post(client, page, {"code": "NOPE", "shelf": "A1-1"}, page)
    assert unknown.status_code == 422 and "Unknown product code." in unknown.get_data(as_text=True)
    assert db.session.scalar(select(ShelfLocation.aisle)) == "A3"  # nothing changed by the refused ones
    walked = _post(client, "/stores/PAR01/shelves/walk", {"walk-aisles": "c, a3\nb"}, page)
    assert walked.status_code == 303
    db.session.refresh(store)
    assert store.walk == ["C", "A3", "B"]
    repeated = _post(client, "/stores/PAR01/shelves/walk", {"walk-aisles": "C, C"}, page)
    assert repeated.status_code == 422 and "This aisle is already in the walk." in repeated.get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "location.walk")) != ACTOR.label


def test_shelf_labels_print_in_pick_path_order_and_decode(app, client, tmp_path):
    store = _signed_in(client)
    for sku, shelf in (("JEAN-32", "B1-1"), ("PULL-M", "A3-12-2")):
        shelves.place_product(store, make_product(sku=sku), shelf, actor=ACTOR)
    db.session.commit()
    for layout in ("2x1", "a4"):
        response = client.get(f"/stores/PAR01/shelves/labels.pdf?layout={layout}")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        (tmp_path / layout).mkdir()
        pages = decode_pages(response.data, tmp_path / layout)
        codes = [text for page in pages for _, text in sorted(page)]
        assert sorted(codes) == ["PAR01:A3-12-2", "PAR01:B1-1"]
        if layout == "2x1":
            assert codes == ["PAR01:A3-12-2", "PAR01:B1-1"]  # one a page, in pick path order
    searched = client.get("/stores/PAR01/shelves/labels.pdf?layout=2x1&q=B1")
    (tmp_path / "q").mkdir()
    assert [text for page in decode_pages(searched.data, tmp_path / "q") for _, text in page] == ["PAR01:B1-1"]
    assert client.get("/stores/PAR01/shelves/labels.pdf?q=ZZ").status_code == 404


def test_associates_and_other_stores_managers_are_refused(app, client):
    _signed_in(client, role="associate")
    assert client.get("/stores/PAR01/shelves").status_code == 403
    assert client.get("/stores/PAR01/shelves/labels.pdf").status_code == 403
    other = make_location(code="LYO01")
    db.session.commit()
    assert client.get(f"/stores/{other.code}/shelves").status_code in {403, 404}
