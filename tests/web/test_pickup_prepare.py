"""Preparing a picked click & collect order on screen: the store's click & collect settings and its hold-shelf slots
(managers), slot and bag labels (PDF decoded by zxing-cpp, ZPL rendered and decoded), the bag count and staging by
scanning a slot's label until the order is ready for pickup; another store's staff see none of it."""

import json
import re

import pytest
from sqlalchemy import func, select

from app.core.floor import pickups
from app.core.models import AuditEvent, OutboundEmail, Pickup, PickupBag, PickupSlot
from app.core.models import FulfilmentStatus as S
from app.core.models.pickups import REFUSAL_REASONS
from app.core.ordering import orders
from app.extensions import db
from tests.conftest import csrf_from, login
from tests.factories import ACTOR, PASSWORD, collect_draft, make_location, make_product, make_user, stocked
from tests.labels.test_labels import decode_pages, decode_png, pdf_text

HX = {"HX-Request": "true", "HX-Target": "prepare"}


def _signed_in(client, store, role="associate"):
    user = make_user(stores=[store], role=role)
    db.session.commit()
    login(client, user.email, PASSWORD)
    return user


def _picked(store, ref=None):
    product = make_product()
    stocked(store, product, 5)
    draft = collect_draft(store, (product, 2), ref=ref)
    draft.customer_name = "Françoise Lefèvre"
    draft.customer_email = "francoise@example.fr"
    order, _ = orders.create_order(draft, actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {line: line.quantity for line in order.lines}, actor=ACTOR)
    for target in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, target, actor=ACTOR)
    return fulfilment


def _token(client, url):
    return csrf_from(client.get(url).get_data(as_text=True))


def _toast(response) -> str:
    return json.loads(response.headers["HX-Trigger"])["toast"]["message"]


@pytest.fixture
def store(app):
    place = make_location(code="PAR7", name="Paris Bastille")
    db.session.commit()
    return place


# --- settings -------------------------------------------------------------------------------------------


def test_a_manager_edits_the_stores_click_and_collect_settings_validated_and_audited(client, store):
    _signed_in(client, store, role="manager")
    page = "/stores/PAR7/slots"
    html = client.get(page).get_data(as_text=True)
    assert "Click & collect settings" in html and 'name="settings-pickup_hold_days"' in html
    token = csrf_from(html)
    good = {
        "csrf_token": token,
        "settings-pickup_bag_step": "y",
        "settings-pickup_hold_days": "3",
        "settings-pickup_reminder_hours": "0",
        "settings-curbside": "y",
        "settings-pickup_refusal_reasons": ["too_small", "damaged"],
    }
    saved = client.post("/stores/PAR7/pickup-settings", data=good)
    assert saved.status_code == 303 and saved.headers["Location"].endswith(page)
    db.session.refresh(store)
    assert (store.pickup_bag_step, store.pickup_hold_days, store.pickup_reminder_hours) == (True, 3, 0)
    assert (store.pickup_bag_scan, store.curbside) == (False, True)
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "location.settings"))
    assert audit.after == {
        "pickup_bag_step": True,
        "pickup_hold_days": 3,
        "pickup_reminder_hours": 0,
        "pickup_bag_scan": False,
        "pickup_refusal_reasons": ["too_small", "damaged"],
    }
    assert "Saved." in client.get(page).get_data(as_text=True)  # the toast after the redirect
    for name, value, message in (
        ("settings-pickup_hold_days", "0", "between 1 and 60"),
        ("settings-pickup_hold_days", "61", "between 1 and 60"),
        ("settings-pickup_hold_days", "", "This field is required."),
        ("settings-pickup_reminder_hours", "337", "between 0 and 336"),
        ("settings-pickup_reminder_hours", "-1", "between 0 and 336"),
        ("settings-pickup_reminder_hours", "soon", "Not a valid integer value."),
        ("settings-pickup_refusal_reasons", [], "Choose at least one reason."),
        ("settings-pickup_refusal_reasons", ["too_small", "lost_it"], "is not a valid choice"),
    ):
        refused = client.post(
            "/stores/PAR7/pickup-settings", data={**good, "settings-pickup_bag_step": "", name: value}
        )
        body = refused.get_data(as_text=True)
        assert refused.status_code == 422 and message in body, (name, value)
        assert 'aria-invalid="true"' in body
    db.session.refresh(store)
    assert (store.pickup_bag_step, store.pickup_hold_days) == (True, 3)  # nothing of the refused ones applied
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "location.settings")) == 1
    # in French, the refusal too
    client.post("/language", data={"csrf_token": token, "language": "fr", "next": page})
    french = client.post("/stores/PAR7/pickup-settings", data={**good, "settings-pickup_hold_days": "99"})
    assert french.status_code == 422 and "Paramètres du click & collect" in french.get_data(as_text=True)


def test_the_location_api_reads_and_changes_the_pickup_settings(app, client, store):
    from app.core.integration import api_clients

    _client_row, token = api_clients.create_api_client("POS", ["settings:read", "settings:write"], actor=ACTOR)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    shown = client.get("/api/v1/locations/PAR7", headers=headers).get_json()
    assert {k: shown[k] for k in rules_names()} == {
        "pickup_bag_step": False,
        "pickup_hold_days": 7,
        "pickup_reminder_hours": 24,
        "pickup_bag_scan": True,
        "curbside": True,
        "pickup_refusal_reasons": list(REFUSAL_REASONS),
    }
    reasons = client.patch("/api/v1/locations/PAR7", json={"pickup_refusal_reasons": ["damaged"]}, headers=headers)
    assert reasons.status_code == 200 and reasons.get_json()["pickup_refusal_reasons"] == ["damaged"]
    for bad in ([], ["lost_it"], "damaged"):
        assert (
            client.patch("/api/v1/locations/PAR7", json={"pickup_refusal_reasons": bad}, headers=headers).status_code
            == 422
        )
    changed = client.patch("/api/v1/locations/PAR7", json={"pickup_hold_days": 5, "curbside": False}, headers=headers)
    assert changed.status_code == 200 and (changed.get_json()["pickup_hold_days"], changed.get_json()["curbside"]) == (
        5,
        False,
    )
    refused = client.patch("/api/v1/locations/PAR7", json={"pickup_hold_days": 0}, headers=headers)
    assert refused.status_code == 422
    db.session.refresh(store)
    assert store.pickup_hold_days == 5


def rules_names():
    from app.core.ordering import rules

    return rules.PICKUP_SETTINGS


# --- slots ----------------------------------------------------------------------------------------------


def test_a_manager_adds_slots_by_code_list_and_range_and_takes_one_out_of_use(client, store):
    _signed_in(client, store, role="manager")
    page = "/stores/PAR7/slots"
    token = _token(client, page)
    assert "No slot yet" in client.get(page).get_data(as_text=True)
    added = client.post(page, data={"csrf_token": token, "slots-code": "a-01..a-03, curb\nB7"})
    assert added.status_code == 303
    codes = [s.code for s in pickups.slots(store)]
    assert codes == ["A-01", "A-02", "A-03", "B7", "CURB"]
    assert "5 slots added or back in use." in client.get(page).get_data(as_text=True)
    for bad, message in (
        ("A-05..A-02", "A range is two codes ending in numbers"),
        ("A-1..B-3", "A range is two codes ending in numbers"),
        ("A1..A999", "At most 500 slots at a time."),
        ("A/1", "A slot code is 1 to 16 letters"),
        ("", "This field is required."),
    ):
        refused = client.post(page, data={"csrf_token": token, "slots-code": bad})
        assert refused.status_code == 422 and message in refused.get_data(as_text=True), bad
    assert db.session.scalar(select(func.count(PickupSlot.id))) == 5
    # a slot holding a bag stays in use; an empty one goes out of use and back
    fulfilment = _picked(store)
    a01 = next(s for s in pickups.slots(store) if s.code == "A-01")
    pickups.stage(fulfilment, a01, actor=ACTOR)
    db.session.commit()
    html = client.get(page).get_data(as_text=True)
    assert "Holds bags: move them first." in html
    refused = client.post(f"/stores/PAR7/slots/{a01.id}/active", data={"csrf_token": token, "active": "false"})
    assert refused.status_code == 409 and "Slot A-01 still holds bags: move them first." in refused.get_data(
        as_text=True
    )
    db.session.refresh(a01)
    assert a01.active
    b7 = next(s for s in pickups.slots(store) if s.code == "B7")
    out = client.post(f"/stores/PAR7/slots/{b7.id}/active", data={"csrf_token": token, "active": "false"})
    assert out.status_code == 303
    db.session.refresh(b7)
    assert not b7.active and [s.code for s in pickups.slots(store)] == ["A-01", "A-02", "A-03", "CURB"]
    again = client.post(f"/stores/PAR7/slots/{b7.id}/active", data={"csrf_token": token, "active": "false"})
    assert again.status_code == 303  # the same again: nothing more
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "pickup.slot_active")) == 1
    back = client.post(f"/stores/PAR7/slots/{b7.id}/active", data={"csrf_token": token, "active": "true"})
    assert back.status_code == 303
    db.session.refresh(b7)
    assert b7.active
    assert client.post(f"/stores/PAR7/slots/{b7.id}/active", data={"csrf_token": token}).status_code == 400
    assert client.post(f"/stores/PAR7/slots/{b7.id}/active", data={"active": "false"}).status_code == 400  # no CSRF
    other = make_location(code="LYO7")
    (theirs,) = pickups.add_slots(other, ["Z1"], actor=ACTOR)
    db.session.commit()
    assert (
        client.post(f"/stores/PAR7/slots/{theirs.id}/active", data={"csrf_token": token, "active": "false"}).status_code
        == 404
    )


def test_slot_labels_print_as_pdf_in_both_layouts_and_as_zpl(client, store, tmp_path):
    _signed_in(client, store, role="manager")
    pickups.add_slots(store, ["A-01", "B-12", "CURBSIDE-1"], actor=ACTOR)
    db.session.commit()
    expected = ["SLOT-PAR7-A-01", "SLOT-PAR7-B-12", "SLOT-PAR7-CURBSIDE-1"]
    for layout in ("2x1", "a4"):
        response = client.get(f"/stores/PAR7/slots/labels.pdf?layout={layout}")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.headers["Cache-Control"] == "no-store"
        (tmp_path / layout).mkdir()
        pages = decode_pages(response.data, tmp_path / layout)
        codes = [text for page in pages for _, text in sorted(page)]
        assert sorted(codes) == expected
        if layout == "2x1":
            assert codes == expected and len(pages) == 3  # one a page, in code order
        assert "Hold shelf" in pdf_text(response.data, tmp_path / layout)
    one = pickups.slots(store)[1]
    single = client.get(f"/stores/PAR7/slots/labels.pdf?slot={one.id}")
    (tmp_path / "one").mkdir()
    assert [t for page in decode_pages(single.data, tmp_path / "one") for _, t in page] == ["SLOT-PAR7-B-12"]
    zpl = client.get("/stores/PAR7/slots/labels.zpl")
    assert zpl.status_code == 200 and zpl.mimetype == "text/plain"
    text = zpl.get_data(as_text=True)
    assert text.count("^XA") == 3 and text.count("^XZ") == 3 and "^PW406" in text and "^LL203" in text
    import zplkit

    document = zplkit.render(zpl.data, zplkit.Options(profile="zd621", dpi=203, width=406, height=203))
    assert [decode_png(label.png()) for label in document.labels] == [{("Code128", code)} for code in expected]
    # no thermal printer set: said, nothing sent
    token = _token(client, "/stores/PAR7/slots")
    refused = client.post("/stores/PAR7/slots/print-zpl", data={"csrf_token": token})
    assert refused.status_code == 409 and "This store has no thermal printer set." in refused.get_data(as_text=True)
    assert client.get("/stores/PAR7/slots/labels.pdf?slot=999999").status_code == 404


def test_slot_labels_go_to_the_stores_thermal_printer(client, store, monkeypatch):
    from app.core.floor import printing

    sent = []
    monkeypatch.setattr(printing, "send_zpl", lambda printer, data: sent.append((printer, data)))
    store.zpl_printer = "10.0.0.9:9100"
    pickups.add_slots(store, ["A1"], actor=ACTOR)
    _signed_in(client, store, role="manager")
    token = _token(client, "/stores/PAR7/slots")
    assert client.post("/stores/PAR7/slots/print-zpl", data={"csrf_token": token}).status_code == 303
    assert sent[0][0] == "10.0.0.9:9100" and b"SLOT-PAR7-A1" in sent[0][1]


# --- the bag step and the hold shelf ---------------------------------------------------------------------


def test_bags_counted_labels_printed_and_staged_by_scanning_slots_until_ready(client, store, tmp_path):
    store.pickup_bag_step = True
    fulfilment = _picked(store, ref="C-700")
    pickups.add_slots(store, ["A-01", "A-02"], actor=ACTOR)
    _signed_in(client, store)
    base = f"/stores/PAR7/fulfilments/{fulfilment.id}"
    # the order's next step links here
    panel = client.get(base).get_data(as_text=True)
    assert f'href="{base}/prepare">Prepare for pickup</a>' in panel
    page = client.get(f"{base}/prepare")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Number of bags" in html and "stage-code" not in html  # bags first
    token = csrf_from(html)
    assert client.get(f"{base}/bag-labels.pdf").status_code == 404  # not counted yet
    # staging before counting is refused, in words
    early = client.post(f"{base}/prepare/stage", data={"csrf_token": token, "code": "SLOT-PAR7-A-01"}, headers=HX)
    assert early.status_code == 409 and _toast(early) == "Count the bags and print their labels before staging."
    for bad in ("0", "21", "two", ""):
        refused = client.post(f"{base}/prepare/bags", data={"csrf_token": token, "bags-bags": bad}, headers=HX)
        assert refused.status_code == 422 and 'aria-invalid="true"' in refused.get_data(as_text=True), bad
    counted = client.post(f"{base}/prepare/bags", data={"csrf_token": token, "bags-bags": "2"}, headers=HX)
    assert counted.status_code == 200 and 'id="prepare"' in counted.get_data(as_text=True)
    assert "<html" not in counted.get_data(as_text=True)  # the screen's part only, for htmx
    assert (
        client.post(f"{base}/prepare/bags", data={"csrf_token": token, "bags-bags": "2"}, headers=HX).status_code == 200
    )
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "pickup.bags")) == 1
    # bag labels: 2 x 1 and 4 x 6 PDFs and ZPL, every barcode decoded
    wanted = [pickups.bag_barcode(fulfilment.id, n) for n in (1, 2)]
    for size in ("2x1", "4x6"):
        pdf = client.get(f"{base}/bag-labels.pdf?size={size}")
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        (tmp_path / size).mkdir()
        pages = decode_pages(pdf.data, tmp_path / size)
        assert [sorted(p) for p in pages] == [[("Code128", code)] for code in wanted]
        words = " ".join(pdf_text(pdf.data, tmp_path / size).split())
        assert "C-700" in words or fulfilment.order.reference in words
        assert "Françoise Lefèvre" in words and "Bag 1 of 2" in words and "Bag 2 of 2" in words
        zpl = client.get(f"{base}/bag-labels.zpl?size={size}")
        text = zpl.get_data(as_text=True)
        assert zpl.mimetype == "text/plain" and text.count("^XA") == 2 and "Francoise Lefevre" in text
        assert "Bag 2 of 2" in text and ("^PW406" if size == "2x1" else "^PW812") in text
        import zplkit

        width, height = (406, 203) if size == "2x1" else (812, 1218)
        document = zplkit.render(zpl.data, zplkit.Options(profile="zd621", dpi=203, width=width, height=height))
        assert [decode_png(label.png()) for label in document.labels] == [{("Code128", code)} for code in wanted]
    # bag 2 into A-02 (scan its label, then the slot), then the rest into A-01
    chosen = client.post(f"{base}/prepare/stage", data={"csrf_token": token, "code": wanted[1]}, headers=HX)
    body = chosen.get_data(as_text=True)
    assert chosen.status_code == 200 and "Bag 2 of 2: now scan the slot you put it in." in body
    assert '<input type="hidden" name="bag" value="2">' in body
    placed = client.post(
        f"{base}/prepare/stage", data={"csrf_token": token, "code": "slot-par7-a-02", "bag": "2"}, headers=HX
    )
    assert placed.status_code == 200 and _toast(placed) == "Bag 2 on slot A-02. 1 bag still to put on the shelf."
    db.session.expire_all()
    assert fulfilment.status == S.PICKED
    ready = client.post(f"{base}/prepare/stage", data={"csrf_token": token, "code": "A-01"}, headers=HX)
    body = ready.get_data(as_text=True)
    assert ready.status_code == 200
    assert _toast(ready) == f"Order {fulfilment.order.reference} is ready for pickup: the customer has been told."
    db.session.expire_all()
    pickup = fulfilment.pickup
    assert fulfilment.status == S.READY_FOR_PICKUP and pickup.code
    assert {b.number: b.slot.code for b in pickup.bag_rows} == {1: "A-01", 2: "A-02"}
    # the code is never shown to staff here
    for shown in (body, client.get(f"{base}/prepare").get_data(as_text=True)):
        assert pickup.code not in shown and pickups.format_code(pickup.code) not in shown
        assert "Ready for pickup." in shown
    # the same scan again changes nothing
    audits = db.session.scalar(select(func.count()).where(AuditEvent.action == "pickup.staged"))
    again = client.post(
        f"{base}/prepare/stage", data={"csrf_token": token, "code": "SLOT-PAR7-A-01", "bag": "1"}, headers=HX
    )
    assert again.status_code == 200 and _toast(again) == "Already on slot A-01: nothing changed."
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "pickup.staged")) == audits
    emails = db.session.scalar(select(func.count()).where(OutboundEmail.kind == "pickup_ready"))
    assert emails == 1
    # the counted bags cannot be changed once the order is ready
    late = client.post(f"{base}/prepare/bags", data={"csrf_token": token, "bags-bags": "3"}, headers=HX)
    assert late.status_code == 409


def test_without_the_bag_step_one_scan_of_a_slot_makes_the_order_ready(client, store):
    fulfilment = _picked(store)
    pickups.add_slots(store, ["A1"], actor=ACTOR)
    _signed_in(client, store)
    base = f"/stores/PAR7/fulfilments/{fulfilment.id}"
    html = client.get(f"{base}/prepare").get_data(as_text=True)
    assert "Number of bags" not in html and 'id="stage-code"' in html and "autofocus" in html
    assert client.get(f"{base}/bag-labels.pdf").status_code == 200  # the one bag's label, scanned at hand-over
    token = csrf_from(html)
    # the top scan bar of this screen stages too
    scanbar = re.search(r'<form class="scanbar"[^>]*>', html).group(0)
    assert f'action="{base}/prepare/stage"' in scanbar and 'data-hx-target="#prepare"' in scanbar
    done = client.post(f"{base}/prepare/stage", data={"csrf_token": token, "code": "SLOT-PAR7-A1", "scan_id": "x1"})
    assert done.status_code == 200
    db.session.expire_all()
    assert fulfilment.status == S.READY_FOR_PICKUP and [b.slot.code for b in fulfilment.pickup.bag_rows] == ["A1"]


def test_bag_labels_go_to_the_stores_thermal_printer(client, store, monkeypatch):
    from app.core.floor import printing

    sent = []
    monkeypatch.setattr(printing, "send_zpl", lambda printer, data: sent.append((printer, data)))
    fulfilment = _picked(store)
    _signed_in(client, store)
    base = f"/stores/PAR7/fulfilments/{fulfilment.id}"
    token = _token(client, f"{base}/prepare")
    refused = client.post(f"{base}/bag-labels/print-zpl", data={"csrf_token": token, "size": "4x6"}, headers=HX)
    assert refused.status_code == 409 and _toast(refused) == "This store has no thermal printer set." and not sent
    store.zpl_printer = "10.0.0.9:9100"
    db.session.commit()
    done = client.post(f"{base}/bag-labels/print-zpl", data={"csrf_token": token, "size": "4x6"}, headers=HX)
    assert done.status_code == 200 and _toast(done) == "Sent to the thermal printer."
    assert sent[0][0] == "10.0.0.9:9100" and b"^PW812" in sent[0][1]
    assert pickups.bag_barcode(fulfilment.id, 1).encode() in sent[0][1]


def test_a_wrong_or_foreign_slot_or_bag_is_named_and_changes_nothing(client, store):
    store.pickup_bag_step = True
    fulfilment = _picked(store)
    other_order = _picked(store)
    pickups.set_bags(fulfilment, 1, actor=ACTOR)
    pickups.set_bags(other_order, 1, actor=ACTOR)
    (retired,) = pickups.add_slots(store, ["OLD"], actor=ACTOR)
    pickups.set_slot_active(retired, False, actor=ACTOR)
    pickups.add_slots(store, ["A1"], actor=ACTOR)
    elsewhere = make_location(code="LYO7")
    pickups.add_slots(elsewhere, ["A1"], actor=ACTOR)
    _signed_in(client, store)
    base = f"/stores/PAR7/fulfilments/{fulfilment.id}"
    token = _token(client, f"{base}/prepare")
    for code, status, message in (
        ("SLOT-LYO7-A1", 422, "This slot label belongs to another store."),
        ("SLOT-PAR7-ZZ", 422, "No slot ZZ on this store's hold shelf."),
        ("OLD", 422, "No slot OLD on this store's hold shelf."),
        (pickups.bag_barcode(other_order.id, 1), 422, "This is not a bag label of this order."),
        (pickups.bag_barcode(fulfilment.id, 5), 422, "This is not a bag label of this order."),
        ("", 422, "Scan or type the slot's label."),
    ):
        refused = client.post(f"{base}/prepare/stage", data={"csrf_token": token, "code": code}, headers=HX)
        assert refused.status_code == status and _toast(refused) == message, code
        assert message.replace("'", "&#39;") in refused.get_data(as_text=True)
        assert json.loads(refused.headers["HX-Trigger"])["scan"] == {"ok": False}
    assert (
        client.post(
            f"{base}/prepare/stage", data={"csrf_token": token, "code": "A1", "bag": "7"}, headers=HX
        ).status_code
        == 422
    )  # no bag 7
    db.session.expire_all()
    assert fulfilment.status == S.PICKED
    assert db.session.scalar(select(func.count(PickupBag.id)).where(PickupBag.slot_id.is_not(None))) == 0
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "pickup.staged")) == 0
    # no CSRF: refused
    assert client.post(f"{base}/prepare/stage", data={"code": "A1"}).status_code == 400


def test_an_order_not_picked_yet_or_a_delivery_has_no_prepare_screen_step(client, store):
    product = make_product()
    stocked(store, product, 3)
    order, _ = orders.create_order(collect_draft(store, (product, 1)), actor=ACTOR)
    accepted = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    orders.transition(accepted, S.ACCEPTED, actor=ACTOR)
    pickups.add_slots(store, ["A1"], actor=ACTOR)
    _signed_in(client, store)
    base = f"/stores/PAR7/fulfilments/{accepted.id}"
    html = client.get(f"{base}/prepare").get_data(as_text=True)
    assert "This order is not picked yet: pick it first." in html and "stage-code" not in html
    token = csrf_from(html)
    for code in ("A1", pickups.bag_barcode(accepted.id, 1)):
        refused = client.post(f"{base}/prepare/stage", data={"csrf_token": token, "code": code}, headers=HX)
        assert refused.status_code == 409 and "it cannot be bagged or staged now" in _toast(refused), code
    db.session.expire_all()
    assert accepted.status == S.ACCEPTED and db.session.scalar(select(func.count(Pickup.id))) in (0, None)
    assert client.get("/stores/PAR7/fulfilments/999999999/prepare").status_code == 404
    assert client.get("/stores/PAR7/fulfilments/abc/prepare").status_code == 404


@pytest.mark.parametrize("role", ["associate", "manager"])
def test_another_stores_staff_see_none_of_these_pages(client, store, role):
    fulfilment = _picked(store)
    (slot,) = pickups.add_slots(store, ["A1"], actor=ACTOR)
    other = make_location(code="LYO7")
    db.session.commit()
    _signed_in(client, other, role=role)
    token = _token(client, "/stores/LYO7/stock")
    base = f"/stores/PAR7/fulfilments/{fulfilment.id}"
    for url in (f"{base}/prepare", f"{base}/bag-labels.pdf", f"{base}/bag-labels.zpl", "/stores/PAR7/slots"):
        assert client.get(url).status_code == 403, url
    for url in (f"{base}/prepare/stage", f"{base}/prepare/bags", "/stores/PAR7/slots", "/stores/PAR7/pickup-settings"):
        assert client.post(url, data={"csrf_token": token, "code": "SLOT-PAR7-A1"}).status_code == 403, url
    # and through their own store's address: not found
    lyo = f"/stores/LYO7/fulfilments/{fulfilment.id}"
    assert client.get(f"{lyo}/prepare").status_code == 404
    assert client.post(f"{lyo}/prepare/stage", data={"csrf_token": token, "code": "SLOT-PAR7-A1"}).status_code == 404
    if role == "manager":
        assert client.get(f"/stores/LYO7/slots/labels.pdf?slot={slot.id}").status_code == 404
    db.session.expire_all()
    assert fulfilment.status == S.PICKED


def test_associates_may_prepare_but_not_manage_slots_or_settings(client, store):
    _signed_in(client, store)
    assert client.get("/stores/PAR7/slots").status_code == 403
    assert client.get("/stores/PAR7/slots/labels.pdf").status_code == 403
    token = _token(client, "/stores/PAR7/stock")
    data = {"csrf_token": token, "settings-pickup_hold_days": "9", "settings-pickup_reminder_hours": "1"}
    assert client.post("/stores/PAR7/pickup-settings", data=data).status_code == 403
    db.session.refresh(store)
    assert store.pickup_hold_days == 7


def test_every_new_string_reads_in_french_and_italian(client, store):
    store.pickup_bag_step = True
    fulfilment = _picked(store)
    pickups.add_slots(store, ["A1"], actor=ACTOR)
    _signed_in(client, store, role="manager")
    token = _token(client, "/stores/PAR7/slots")
    base = f"/stores/PAR7/fulfilments/{fulfilment.id}"
    for language, words in (
        ("fr", ("Préparer pour le retrait", "Nombre de sacs", "Emplacements")),
        ("it", ("Preparare per il ritiro", "Numero di sacchetti", "Posti")),
    ):
        client.post("/language", data={"csrf_token": token, "language": language, "next": "/"})
        prepare = client.get(f"{base}/prepare").get_data(as_text=True)
        slots = client.get("/stores/PAR7/slots").get_data(as_text=True)
        assert words[0] in prepare and words[1] in prepare, language
        assert words[2] in slots, language


def test_a_customers_name_cannot_inject_commands_into_a_bag_labels_zpl():
    from labels.pickups import BagLabel, bag_label_zpl

    evil = "Evil^XZ^XA^FO0,0^GB812,1218,812^FS~JA"
    for size in ("2x1", "4x6"):
        zpl = bag_label_zpl(
            BagLabel("WEB-1", evil, 1, 1, "BAG-1-1", store=evil, captions={"bag": "Sac {n}~JA {m}"}), size
        )
        assert zpl.count(b"^XA") == 1 and zpl.count(b"^XZ") == 1 and b"~" not in zpl and b"^GB812,1218" not in zpl
