"""The pickup store's Incoming screen (transfers on their way, received by scanning their parcel), and the sending
store's screens for a transfer: packed with the pack screen, addressed to the pickup store, off its queue once the
carrier has it."""

import re

import pytest
from sqlalchemy import func, select

from app.core.floor import dispatch, pickups
from app.core.models import AuditEvent, StockMovement
from app.core.models import FulfilmentStatus as S
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.core.test_transfers import assert_ledger_matches_levels, packed_transfer, picked_transfer
from tests.factories import ACTOR, PASSWORD, make_location, make_user

HX = {"HX-Request": "true", "HX-Target": "incoming"}


def _with_carrier():
    fulfilment, sender, pickup_store = packed_transfer(2, 1)
    parcel = fulfilment.parcels[0]
    dispatch.hand_over(sender, parcel.label.tracking_number, "hand-w001", actor=ACTOR)
    return fulfilment, sender, pickup_store, parcel.label.tracking_number


def _signed_in(client, store, role="associate"):
    user = make_user(stores=[store], role=role)
    db.session.commit()
    login(client, user.email, PASSWORD)
    return csrf_token(client, "/")


def _moves() -> int:
    return db.session.scalar(select(func.count()).select_from(StockMovement))


def _count(html: str, tab: str) -> int:
    """The count of a queue tab, or of the Incoming link beside the tabs."""
    anchor = "incoming-link" if tab == "incoming" else f"tab-{tab}"
    match = re.search(rf'id="{anchor}"[^>]*>[^<]*<span class="count">(\d+)</span>', html)
    assert match, f"no {tab} tab"
    return int(match[1])


def test_the_incoming_screen_lists_transfers_with_their_parcels_and_the_queue_links_to_it(client):
    fulfilment, sender, pickup_store, tracking = _with_carrier()
    waiting, *_ = picked_transfer(1)  # another order to another store: not listed here
    token = _signed_in(client, pickup_store)
    assert token
    queue = client.get(f"/stores/{pickup_store.code}/queue").get_data(as_text=True)
    assert _count(queue, "incoming") == 1
    assert f'href="/stores/{pickup_store.code}/incoming"' in queue
    response = client.get(f"/stores/{pickup_store.code}/incoming")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert fulfilment.order.reference in html and waiting.order.reference not in html
    assert sender.name in html and tracking in html
    assert "With the carrier" in html and "handed to the carrier" in html
    assert 'action="/stores/' + pickup_store.code + '/incoming/receive"' in html
    assert 'style="' not in html and " hx-" not in html
    assert len(re.findall(r'\bid="([^"]+)"', html)) == len(set(re.findall(r'\bid="([^"]+)"', html)))


def test_a_transfer_packed_but_not_handed_over_is_listed_as_not_with_the_carrier_yet(client):
    fulfilment, _sender, pickup_store = packed_transfer(1)
    _signed_in(client, pickup_store)
    html = client.get(f"/stores/{pickup_store.code}/incoming").get_data(as_text=True)
    assert fulfilment.parcels[0].label.tracking_number in html
    assert "Packed at the sending store" in html and "not handed to the carrier yet" in html


def test_scanning_the_parcels_tracking_number_receives_it_and_a_repeat_changes_nothing(client):
    fulfilment, _sender, pickup_store, tracking = _with_carrier()
    token = _signed_in(client, pickup_store)
    url = f"/stores/{pickup_store.code}/incoming/receive"
    response = client.post(url, data={"csrf_token": token, "code": tracking, "scan_id": "scan-w0001"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f"Received: order {fulfilment.order.reference}" in html
    assert '"ok": true' in response.headers["HX-Trigger"]
    db.session.expire_all()
    assert fulfilment.pickup.received_at is not None and fulfilment.status == S.PACKED
    for line in fulfilment.lines:
        held = db.session.scalar(
            select(func.sum(StockMovement.reserved_delta)).where(
                StockMovement.location_id == pickup_store.id, StockMovement.product_id == line.product_id
            )
        )
        assert held == line.picked
    assert_ledger_matches_levels()
    moves = _moves()

    again = client.post(url, data={"csrf_token": token, "code": fulfilment.order.reference}, headers=HX)
    assert again.status_code == 200
    assert f"Already received: order {fulfilment.order.reference}" in again.get_data(as_text=True)
    assert _moves() == moves
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "pickup.transfer_received")) == 1
    listing = client.get(f"/stores/{pickup_store.code}/incoming").get_data(as_text=True)
    assert "No transfer is on its way to this store." in listing
    assert _count(client.get(f"/stores/{pickup_store.code}/queue").get_data(as_text=True), "incoming") == 0


def test_receiving_without_javascript_answers_the_whole_page(client):
    fulfilment, _sender, pickup_store, tracking = _with_carrier()
    token = _signed_in(client, pickup_store)
    response = client.post(
        f"/stores/{pickup_store.code}/incoming/receive", data={"csrf_token": token, "code": tracking}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html and fulfilment.order.reference in html


@pytest.mark.parametrize("code", ["NOPE-0000", "", "x" * 65])
def test_a_wrong_code_is_refused_with_a_message_and_changes_nothing(client, code):
    fulfilment, _sender, pickup_store, _tracking = _with_carrier()
    token = _signed_in(client, pickup_store)
    moves = _moves()
    response = client.post(
        f"/stores/{pickup_store.code}/incoming/receive", data={"csrf_token": token, "code": code}, headers=HX
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in html and '"ok": false' in response.headers["HX-Trigger"]
    db.session.expire_all()
    assert fulfilment.pickup.received_at is None and _moves() == moves


def test_another_stores_transfer_cannot_be_received_here_and_its_screen_is_closed_to_others(client):
    fulfilment, sender, pickup_store, tracking = _with_carrier()
    elsewhere = make_location(code="ELSE01")
    token = _signed_in(client, elsewhere)
    moves = _moves()
    response = client.post("/stores/ELSE01/incoming/receive", data={"csrf_token": token, "code": tracking}, headers=HX)
    assert response.status_code == 422
    assert "No transfer to this store has the code" in response.get_data(as_text=True)
    assert fulfilment.order.reference not in client.get("/stores/ELSE01/incoming").get_data(as_text=True)
    assert client.get(f"/stores/{pickup_store.code}/incoming").status_code == 403
    forbidden = client.post(
        f"/stores/{pickup_store.code}/incoming/receive", data={"csrf_token": token, "code": tracking}, headers=HX
    )
    assert forbidden.status_code == 403
    # The sending store cannot receive it either: it is not the pickup store.
    client.post("/logout", data={"csrf_token": token})
    token = _signed_in(client, sender)
    refused = client.post(
        f"/stores/{sender.code}/incoming/receive", data={"csrf_token": token, "code": tracking}, headers=HX
    )
    assert refused.status_code == 422
    db.session.expire_all()
    assert fulfilment.pickup.received_at is None and _moves() == moves
    assert pickups.incoming(pickup_store) == [fulfilment]


def test_a_transfer_not_packed_yet_cannot_be_received(client):
    fulfilment, _sender, pickup_store = picked_transfer(1)
    token = _signed_in(client, pickup_store)
    response = client.post(
        f"/stores/{pickup_store.code}/incoming/receive",
        data={"csrf_token": token, "code": fulfilment.order.reference},
        headers=HX,
    )
    assert response.status_code == 409
    assert "has not packed this order yet" in response.get_data(as_text=True)


def test_the_sending_store_packs_it_on_the_pack_screen_and_its_queue_drops_it_once_the_carrier_has_it(client):
    """Packed with the pack screen and addressed to the pickup store, on the To ship tab until the carrier has it;
    then (and once staged at the pickup store) on none of the sending store's tabs."""
    fulfilment, sender, pickup_store = picked_transfer(2, 1)
    token = _signed_in(client, sender)
    base = f"/stores/{sender.code}/fulfilments/{fulfilment.id}"
    panel = client.get(base).get_data(as_text=True)
    assert f'href="{base}/pack"' in panel
    page = client.get(f"{base}/pack")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Milano Duomo" in html and "Piazza del Duomo 1" in html and "Do not send it to the customer" in html
    done = client.post(
        f"{base}/pack/finish", data={"csrf_token": token}, headers={"HX-Request": "true", "HX-Target": "pack"}
    )
    assert done.status_code == 200
    db.session.expire_all()
    assert fulfilment.status == S.PACKED
    parcel = fulfilment.parcels[0]
    tracking = parcel.label.tracking_number
    label = client.get(f"/stores/{sender.code}/parcels/{parcel.id}/label.pdf")
    assert label.status_code == 200 and label.data.startswith(b"%PDF-")
    slip = client.get(f"{base}/packing-slip.pdf?size=4x6")
    assert slip.status_code == 200 and slip.data.startswith(b"%PDF-")

    ship_tab = client.get(f"/stores/{sender.code}/queue?tab=ship").get_data(as_text=True)
    assert fulfilment.order.reference in ship_tab and _count(ship_tab, "ship") == 1
    assert tracking in client.get(f"/stores/{sender.code}/dispatch").get_data(as_text=True)
    handed = client.post(
        f"/stores/{sender.code}/dispatch/scan",
        data={"csrf_token": token, "code": tracking, "scan_id": "scan-w0101"},
        headers={"HX-Request": "true", "HX-Target": "dispatch"},
    )
    assert handed.status_code == 200
    assert "stays packed until that store receives it" in handed.headers["HX-Trigger"]
    db.session.expire_all()
    assert fulfilment.status == S.PACKED
    ship_tab = client.get(f"/stores/{sender.code}/queue?tab=ship").get_data(as_text=True)
    assert fulfilment.order.reference not in ship_tab and _count(ship_tab, "ship") == 0
    panel = client.get(base).get_data(as_text=True)
    assert f"it stays packed until store {pickup_store.code} receives it" in panel
    # Received and staged at the pickup store: ready for pickup there, not on the sending store's tabs.
    pickups.receive_transfer(pickup_store, tracking, actor=ACTOR)
    (slot,) = pickups.add_slots(pickup_store, ["A-01"], actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR)
    assert fulfilment.status == S.READY_FOR_PICKUP
    collect_tab = client.get(f"/stores/{sender.code}/queue?tab=collect").get_data(as_text=True)
    assert fulfilment.order.reference not in collect_tab and _count(collect_tab, "collect") == 0


@pytest.mark.parametrize("language", ["fr", "it"])
def test_the_incoming_screen_and_its_answers_are_in_the_readers_language(client, language):
    from tests.web.test_i18n import translated

    fulfilment, _sender, pickup_store, tracking = _with_carrier()
    user = make_user(stores=[pickup_store], language=language)
    db.session.commit()
    login(client, user.email, PASSWORD)
    token = csrf_token(client, "/")
    page = client.get(f"/stores/{pickup_store.code}/incoming").get_data(as_text=True)
    for msgid in ("Receive a parcel", "On their way here", "With the carrier", "Tracking number or order number"):
        assert translated(language, msgid) in page
    queue = client.get(f"/stores/{pickup_store.code}/queue").get_data(as_text=True)
    assert translated(language, "Incoming") in queue
    done = client.post(
        f"/stores/{pickup_store.code}/incoming/receive", data={"csrf_token": token, "code": tracking}, headers=HX
    )
    expected = translated(language, "Received: order %(ref)s") % {"ref": fulfilment.order.reference}
    assert expected in done.get_data(as_text=True)


def test_the_received_order_links_on_to_its_preparation_screen_which_stages_it(app, client):
    fulfilment, _sender, pickup_store, tracking = _with_carrier()
    token = _signed_in(client, pickup_store)
    html = client.post(
        f"/stores/{pickup_store.code}/incoming/receive", data={"csrf_token": token, "code": tracking}, headers=HX
    ).get_data(as_text=True)
    prepare = f"/stores/{pickup_store.code}/fulfilments/{fulfilment.id}/prepare"
    assert f'href="{prepare}"' in html
    assert client.get(prepare).status_code == 200


def test_a_received_transfer_is_the_pickup_stores_work_to_prepare_then_on_its_hold_shelf(client):
    """Its fulfilment stays the sending store's, yet once received the pickup store's queue lists it: to prepare
    (linking to its preparation), then ready for pickup (linking to its hand-over); the sender's queue does not."""
    from app.core.floor import pickups

    fulfilment, sender, pickup_store, tracking = _with_carrier()
    pickups.receive_transfer(pickup_store, tracking, actor=ACTOR)
    db.session.commit()
    _signed_in(client, pickup_store)
    html = client.get(f"/stores/{pickup_store.code}/queue?tab=pack").get_data(as_text=True)
    assert _count(html, "pack") == 1
    assert f'href="/stores/{pickup_store.code}/fulfilments/{fulfilment.id}/prepare"' in html

    (slot,) = pickups.add_slots(pickup_store, ["T-1"], actor=ACTOR)
    pickups.stage(db.session.get(type(fulfilment), fulfilment.id), slot, actor=ACTOR)
    db.session.commit()
    html = client.get(f"/stores/{pickup_store.code}/queue?tab=collect").get_data(as_text=True)
    assert (_count(html, "pack"), _count(html, "collect")) == (0, 1)
    assert f'href="/stores/{pickup_store.code}/pickups/{fulfilment.id}"' in html
    assert client.get(f"/stores/{pickup_store.code}/pickups/{fulfilment.id}").status_code == 200

    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    _signed_in(client, sender)
    html = client.get(f"/stores/{sender.code}/queue?tab=collect").get_data(as_text=True)
    assert _count(html, "collect") == 0 and fulfilment.order.reference not in html
