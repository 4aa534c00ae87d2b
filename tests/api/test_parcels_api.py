from sqlalchemy import select

from app.core.integration.api_clients import create_api_client
from app.core.models import Order
from app.extensions import db
from tests.conftest import login
from tests.core.test_packing import finished, labelled_collect_parcel, picked_fulfilment
from tests.factories import ACTOR, PASSWORD, make_location, make_user


def _labelled():
    fulfilment = finished(picked_fulfilment(1))
    db.session.commit()
    return fulfilment, fulfilment.parcels[0]


def _bearer(scopes):
    _, token = create_api_client("shop", scopes, actor=ACTOR)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_a_token_with_orders_read_gets_the_pdf_and_zpl_and_the_order_lists_the_parcels(client):
    fulfilment, parcel = _labelled()
    headers = _bearer(["orders:read"])
    order = client.get(f"/api/v1/orders/{fulfilment.order_id}", headers=headers).get_json()
    [listed] = order["fulfilments"][0]["parcels"]
    assert listed["number"] == 1
    assert listed["carrier"] == "Comptoir Express"
    assert listed["tracking_number"] == parcel.label.tracking_number
    assert listed["handed_over_at"] is None
    assert listed["label_pdf_url"] == f"http://localhost/api/v1/parcels/{parcel.id}/label.pdf"
    pdf = client.get(listed["label_pdf_url"], headers=headers)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    zpl = client.get(listed["label_zpl_url"], headers=headers)
    assert zpl.status_code == 200 and zpl.data.startswith(b"^XA")
    assert client.get("/api/v1/parcels/999999/label.pdf", headers=headers).status_code == 404


def test_without_the_scope_403_and_without_a_token_401(client):
    _, parcel = _labelled()
    assert client.get(f"/api/v1/parcels/{parcel.id}/label.pdf", headers=_bearer(["stock:write"])).status_code == 403
    assert client.get(f"/api/v1/parcels/{parcel.id}/label.pdf").status_code == 401
    assert (
        client.get(f"/api/v1/parcels/{parcel.id}/label.zpl", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )


def test_staff_of_the_store_may_download_and_others_get_403(client):
    fulfilment, parcel = _labelled()
    member = make_user(stores=[fulfilment.location])
    outsider = make_user(stores=[make_location()])
    db.session.commit()
    login(client, member.email, PASSWORD)
    assert client.get(f"/api/v1/parcels/{parcel.id}/label.pdf").status_code == 200
    client.post("/logout", data={})  # CSRF-protected: use a fresh client instead
    other = client.application.test_client()
    login(other, outsider.email, PASSWORD)
    response = other.get(f"/api/v1/parcels/{parcel.id}/label.pdf")
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


def test_a_voided_label_is_404(client):
    from app.core.floor import packing

    fulfilment, parcel = _labelled()
    packing.void_label(parcel.label, actor=ACTOR)
    db.session.commit()
    headers = _bearer(["orders:read"])
    assert client.get(f"/api/v1/parcels/{parcel.id}/label.pdf", headers=headers).status_code == 404
    order = client.get(f"/api/v1/orders/{fulfilment.order_id}", headers=headers).get_json()
    assert order["fulfilments"][0]["parcels"][0]["label_pdf_url"] is None
    assert db.session.scalar(select(Order.id)) == fulfilment.order_id


def test_a_click_and_collect_parcel_has_no_label_to_download_409(client):
    parcel = labelled_collect_parcel()
    headers = _bearer(["orders:read"])
    for kind in ("pdf", "zpl"):
        response = client.get(f"/api/v1/parcels/{parcel.id}/label.{kind}", headers=headers)
        assert response.status_code == 409
        body = response.get_json()
        assert body["error"] == "collect_not_shipped" and "click & collect" in body["message"]
