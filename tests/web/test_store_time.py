"""Every printed and shown time is the store's local time (issue 10, defect 4).

The moment is 17:13 UTC on a Monday: 18:13 in Paris, 02:13 the next day in Tokyo, 12:13 in New York.
Each document is fetched over HTTP and its text extracted with pypdf.
"""

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_datetime
from pypdf import PdfReader

from app.core.floor import dispatch, picking, printing
from app.core.models import PrintJob
from app.core.ordering import orders
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.core.test_packing import finished, picked_fulfilment
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, ship_draft, stocked

MOMENT = datetime(2026, 11, 23, 17, 13, tzinfo=UTC)
ZONES = ["Europe/Paris", "Asia/Tokyo", "America/New_York"]


def pdf_text(body: bytes) -> str:
    assert body.startswith(b"%PDF-")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    return " ".join(text.split())


def spaced(text: str) -> str:
    """Babel's narrow and no-break spaces as the plain spaces the PDF fonts print."""
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def local(zone: str, locale: str) -> str:
    return spaced(format_datetime(MOMENT, "short", tzinfo=ZoneInfo(zone), locale=locale))


def utc(locale: str) -> str:
    return spaced(format_datetime(MOMENT, "short", tzinfo=UTC, locale=locale))


def local_day(zone: str, locale: str) -> str:
    return spaced(format_date(MOMENT.astimezone(ZoneInfo(zone)).date(), "medium", locale=locale))


def pick_list_at(store, user):
    """A pick list of one accepted order at the store, started by user."""
    product = make_product()
    stocked(store, product, 3)
    order, _ = orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    pick_list = picking.start_pick(store, [fulfilment], user=user, actor=ACTOR)
    return pick_list


@pytest.fixture(params=ZONES)
def floor(request, client):
    """A store in the zone with a packed order (slip, label, manifest, print job) and a pick list, all made at
    MOMENT, and a French-speaking associate signed in; the customer reads English."""
    zone = request.param
    store = make_location(timezone=zone)
    fulfilment = finished(picked_fulfilment(1, store=store))
    fulfilment.order.created_at = MOMENT
    label = fulfilment.parcels[0].label
    label.created_at = MOMENT
    manifest = dispatch.open_manifest(store, label.carrier, actor=ACTOR, now=MOMENT)
    user = make_user(stores=[store], language="fr")
    pick_list = pick_list_at(store, user)
    pick_list.created_at = MOMENT
    job = printing.start_print_job(store, [label.id], user)
    db.session.commit()
    login(client, user.email, PASSWORD)
    return {"zone": zone, "store": store, "fulfilment": fulfilment, "manifest": manifest, "pick": pick_list, "job": job}


def test_the_manifest_prints_the_store_time(client, floor):
    text = pdf_text(client.get(f"/stores/{floor['store'].code}/manifests/{floor['manifest'].id}.pdf").data)
    assert local(floor["zone"], "fr") in text
    assert "17:13" not in text and utc("fr") not in text


def test_the_pick_list_prints_the_store_time(client, floor):
    text = pdf_text(client.get(f"/stores/{floor['store'].code}/picks/{floor['pick'].id}/pick-list.pdf").data)
    assert local(floor["zone"], "fr") in text
    assert "17:13" not in text


@pytest.mark.parametrize("size", ["a4", "4x6"])
def test_the_packing_slip_prints_the_order_day_at_the_store(client, floor, size):
    url = f"/stores/{floor['store'].code}/fulfilments/{floor['fulfilment'].id}/packing-slip.pdf?size={size}"
    text = pdf_text(client.get(url).data)
    assert local_day(floor["zone"], "en") in text  # the customer's language
    if floor["zone"] == "Asia/Tokyo":  # already Tuesday there
        assert "Nov 24, 2026" in text and "Nov 23, 2026" not in text


def test_the_label_and_the_print_job_print_the_ship_day_at_the_store(client, floor):
    code, parcel = floor["store"].code, floor["fulfilment"].parcels[0]
    expected = local_day(floor["zone"], "en")
    assert expected in pdf_text(client.get(f"/stores/{code}/parcels/{parcel.id}/label.pdf").data)
    token = csrf_token(client, f"/stores/{code}/dispatch")
    job_url = f"/stores/{code}/print-jobs/{floor['job'].id}"
    assert client.post(f"{job_url}/step", data={"csrf_token": token}).status_code == 200
    db.session.expire_all()
    assert db.session.get(PrintJob, floor["job"].id).status == "done"
    assert expected in pdf_text(client.get(f"{job_url}.pdf").data)


def test_the_screens_show_the_store_time(client, floor):
    fulfilment = floor["fulfilment"]
    fulfilment.order.promised_by = MOMENT
    db.session.commit()
    html = client.get(f"/stores/{floor['store'].code}/fulfilments/{fulfilment.id}/pack").get_data(as_text=True)
    assert local(floor["zone"], "fr") in spaced(html)
    assert utc("fr") not in spaced(html)


def test_app_wide_pages_name_the_zone_they_show(app):
    from app.formatting import store_time

    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert store_time(MOMENT, None).endswith("UTC")
        assert store_time(None, None) == ""
