import io
import json
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.core.floor import carriers, dispatch, packing
from app.core.models import AuditEvent, Carrier, PackageType, Parcel, PrintJob, ShippingLabel
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.core.test_packing import finished, labelled_collect_parcel, picked_fulfilment, ready
from tests.factories import ACTOR, PASSWORD, make_location, make_user

HX = {"HX-Request": "true", "HX-Target": "pack"}


def _signed_in(client, role="associate", **kwargs):
    fulfilment = picked_fulfilment(2, 1, **kwargs)
    user = make_user(stores=[fulfilment.location], role=role)
    db.session.commit()
    login(client, user.email, PASSWORD)
    return fulfilment, csrf_token(client, "/")


def _pages(body: bytes) -> int:
    assert body.startswith(b"%PDF-")
    return len(PdfReader(io.BytesIO(body)).pages)


def test_the_pack_screen_opens_parcel_one_and_shows_the_gift_step_first(client):
    fulfilment, _ = _signed_in(client, gift=True)
    response = client.get(f"/stores/{fulfilment.location.code}/fulfilments/{fulfilment.id}/pack")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.index("Joyeux anniversaire") < html.index("Parcel 1")
    assert "Gift step done" in html
    assert 'style="' not in html and " hx-" not in html
    assert "/barcodes/CMD:NEW-PARCEL.svg" in html
    db.session.expire_all()
    assert len(fulfilment.parcels) == 1


def test_packing_through_the_screen_ends_with_labels_and_pdfs(client):
    fulfilment, token = _signed_in(client)
    code = fulfilment.location.code
    base = f"/stores/{code}/fulfilments/{fulfilment.id}"
    client.get(f"{base}/pack")
    db.session.expire_all()
    parcel = fulfilment.parcels[0]
    box = db.session.scalar(select(PackageType))
    service = carriers.active_services()[0]
    data = {
        "csrf_token": token,
        f"p{parcel.id}-package_type": box.id,
        f"p{parcel.id}-weight_grams": "1200",
        f"p{parcel.id}-service": service.id,
    }
    saved = client.post(f"/stores/{code}/parcels/{parcel.id}/settings", data=data, headers=HX)
    assert saved.status_code == 200
    assert "<html" not in saved.get_data(as_text=True)
    done = client.post(f"{base}/pack/finish", data={"csrf_token": token}, headers=HX)
    again = client.post(f"{base}/pack/finish", data={"csrf_token": token}, headers=HX)
    assert done.status_code == 200 and again.status_code == 200
    db.session.expire_all()
    assert fulfilment.status == "packed"
    assert db.session.scalar(select(func.count()).select_from(ShippingLabel)) == 1
    html = done.get_data(as_text=True)
    assert parcel.label.tracking_number in html
    assert _pages(client.get(f"/stores/{code}/parcels/{parcel.id}/label.pdf").data) == 1
    zpl = client.get(f"/stores/{code}/parcels/{parcel.id}/label.zpl")
    assert zpl.data.startswith(b"^XA") and parcel.label.tracking_number.encode() in zpl.data
    for size in ("a4", "4x6"):
        assert _pages(client.get(f"{base}/packing-slip.pdf?size={size}").data) >= 1
    assert client.get(f"{base}/packing-slip.pdf?size=a3").status_code == 404


def test_bad_parcel_settings_are_422_and_change_nothing(client):
    fulfilment, token = _signed_in(client)
    code = fulfilment.location.code
    client.get(f"/stores/{code}/fulfilments/{fulfilment.id}/pack")
    db.session.expire_all()
    parcel = fulfilment.parcels[0]
    for weight in ("0", "abc", "999999"):
        response = client.post(
            f"/stores/{code}/parcels/{parcel.id}/settings",
            data={"csrf_token": token, f"p{parcel.id}-weight_grams": weight, f"p{parcel.id}-package_type": "999"},
            headers=HX,
        )
        assert response.status_code == 422
        assert 'aria-invalid="true"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert (parcel.weight_grams, parcel.package_type_id) == (None, None)


def test_moving_units_is_refused_when_repeated(client):
    fulfilment, token = _signed_in(client)
    code = fulfilment.location.code
    client.get(f"/stores/{code}/fulfilments/{fulfilment.id}/pack")
    client.post(f"/stores/{code}/fulfilments/{fulfilment.id}/pack/parcels", data={"csrf_token": token}, headers=HX)
    client.post(f"/stores/{code}/fulfilments/{fulfilment.id}/pack/parcels", data={"csrf_token": token}, headers=HX)
    db.session.expire_all()
    first, second = fulfilment.parcels
    line = fulfilment.lines[0]
    prefix = f"m{first.id}-{line.id}"
    data = {
        "csrf_token": token,
        "item": line.id,
        f"{prefix}-line": line.id,
        f"{prefix}-expected": "2",
        f"{prefix}-quantity": "1",
        f"{prefix}-to": second.id,
    }
    assert client.post(f"/stores/{code}/parcels/{first.id}/move", data=data, headers=HX).status_code == 200
    assert client.post(f"/stores/{code}/parcels/{first.id}/move", data=data, headers=HX).status_code == 409
    db.session.expire_all()
    assert [[i.quantity for i in p.items] for p in fulfilment.parcels] == [[1, 1], [1]]


def test_scan_to_pack_and_command_barcodes_through_the_scan_bar(client):
    fulfilment, token = _signed_in(client)
    fulfilment.location.scan_to_pack = True
    db.session.commit()
    code = fulfilment.location.code
    url = f"/stores/{code}/fulfilments/{fulfilment.id}/pack/scan"
    page = client.get(f"/stores/{code}/fulfilments/{fulfilment.id}/pack").get_data(as_text=True)
    assert f'data-hx-post="{url}"' in page
    product = fulfilment.lines[0].product
    ok = client.post(url, data={"csrf_token": token, "code": product.gtin, "scan_id": "abcdef0123456789"}, headers=HX)
    resend = client.post(
        url, data={"csrf_token": token, "code": product.gtin, "scan_id": "abcdef0123456789"}, headers=HX
    )
    assert json.loads(ok.headers["HX-Trigger"])["scan"] == {"ok": True}
    assert json.loads(resend.headers["HX-Trigger"])["scan"] == {"ok": True}
    wrong = client.post(url, data={"csrf_token": token, "code": "nope", "scan_id": "abcdef0123456790"}, headers=HX)
    assert wrong.status_code == 422
    assert json.loads(wrong.headers["HX-Trigger"])["scan"] == {"ok": False}
    assert packing.scanned_units(fulfilment)[fulfilment.lines[0].id] == 1
    new = client.post(
        url, data={"csrf_token": token, "code": "CMD:NEW-PARCEL", "scan_id": "abcdef0123456791"}, headers=HX
    )
    assert new.status_code == 200
    db.session.expire_all()
    assert len(fulfilment.parcels) == 2
    refused = client.post(
        url, data={"csrf_token": token, "code": "CMD:CONFIRM", "scan_id": "abcdef0123456792"}, headers=HX
    )
    assert refused.status_code == 422
    assert fulfilment.status == "picked"
    svg = client.get("/barcodes/CMD:CONFIRM.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert client.get("/barcodes/<script>.svg").status_code == 404


def test_void_relabel_reprint_through_the_screen(client):
    fulfilment, token = _signed_in(client)
    finished(fulfilment)
    db.session.commit()
    code = fulfilment.location.code
    parcel = fulfilment.parcels[0]
    label = parcel.label
    reprint = client.post(f"/stores/{code}/labels/{label.id}/reprint", data={"csrf_token": token})
    assert reprint.status_code == 303 and reprint.location.endswith(f"/parcels/{parcel.id}/label.pdf")
    void = client.post(f"/stores/{code}/labels/{label.id}/void", data={"csrf_token": token}, headers=HX)
    assert void.status_code == 200
    assert (
        client.post(f"/stores/{code}/labels/{label.id}/void", data={"csrf_token": token}, headers=HX).status_code == 200
    )
    assert client.get(f"/stores/{code}/parcels/{parcel.id}/label.pdf").status_code == 404
    express = next(s for s in carriers.active_services() if s.code == "EXP" and s.carrier.code == "CX")
    again = client.post(
        f"/stores/{code}/parcels/{parcel.id}/relabel",
        data={"csrf_token": token, f"r{parcel.id}-service": express.id},
        headers=HX,
    )
    assert again.status_code == 200
    db.session.expire_all()
    assert parcel.label.service_id == express.id
    assert parcel.label.tracking_number == label.tracking_number
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("label.%"))).all()
    assert sorted(actions) == ["label.issue", "label.issue", "label.reprint", "label.void"]


def test_dispatch_hand_over_print_job_and_manifest(client):
    fulfilment, token = _signed_in(client)
    store = fulfilment.location
    ready(fulfilment)
    second = packing.new_parcel(fulfilment, actor=ACTOR)
    packing.move_items(fulfilment, second, {fulfilment.lines[1]: 1}, actor=ACTOR)
    finished(fulfilment)
    other = finished(picked_fulfilment(1, store=store))
    db.session.commit()
    code = store.code
    page = client.get(f"/stores/{code}/dispatch")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "3 parcels ready to hand over" in html
    started = client.post(f"/stores/{code}/print-jobs", data={"csrf_token": token})
    assert started.status_code == 303
    job_url = started.location
    assert "<progress" in client.get(job_url).get_data(as_text=True)
    job = db.session.scalar(select(PrintJob))
    steps = 0
    while True:
        step = client.post(
            f"{job_url}/step", data={"csrf_token": token}, headers={"HX-Request": "true", "HX-Target": "job-progress"}
        )
        steps += 1
        assert step.status_code == 200
        if "Open the labels" in step.get_data(as_text=True):
            break
        assert steps < 5
    db.session.expire_all()
    assert job.status == "done"
    assert _pages(client.get(f"{job_url}.pdf").data) == 3
    manifest = client.post(
        f"/stores/{code}/dispatch/manifests",
        data={"csrf_token": token, "carrier_id": db.session.scalar(select(Carrier.id).where(Carrier.code == "CX"))},
    )
    assert manifest.status_code == 303
    assert _pages(client.get(manifest.location).data) >= 1
    scan = f"/stores/{code}/dispatch/scan"
    label = other.parcels[0].label.tracking_number
    answer = client.post(
        scan,
        data={"csrf_token": token, "code": label, "scan_id": "dispatch-000001"},
        headers={"HX-Request": "true", "HX-Target": "dispatch"},
    )
    assert answer.status_code == 200
    assert json.loads(answer.headers["HX-Trigger"])["scan"] == {"ok": True}
    assert "Handed over today" in answer.get_data(as_text=True)
    unknown = client.post(
        scan,
        data={"csrf_token": token, "code": "ZZ1", "scan_id": "dispatch-000002"},
        headers={"HX-Request": "true", "HX-Target": "dispatch"},
    )
    assert unknown.status_code == 404
    assert json.loads(unknown.headers["HX-Trigger"])["scan"] == {"ok": False}
    db.session.expire_all()
    assert other.status == "shipped"


def test_another_stores_user_gets_403_and_other_records_are_404(client):
    fulfilment = finished(picked_fulfilment(1))
    mine = make_location()
    outsider = make_user(stores=[mine], role="manager")
    db.session.commit()
    login(client, outsider.email, PASSWORD)
    code = fulfilment.location.code
    parcel = fulfilment.parcels[0]
    assert client.get(f"/stores/{code}/fulfilments/{fulfilment.id}/pack").status_code == 403
    assert client.get(f"/stores/{code}/parcels/{parcel.id}/label.pdf").status_code == 403
    assert client.get(f"/stores/{code}/dispatch").status_code == 403
    # Through my own store's URL, another store's parcel does not exist.
    assert client.get(f"/stores/{mine.code}/parcels/{parcel.id}/label.pdf").status_code == 404
    assert client.get(f"/stores/{mine.code}/fulfilments/{fulfilment.id}/pack").status_code == 404


def test_package_types_screen_is_for_managers_and_validates(client):
    fulfilment, token = _signed_in(client, role="manager")
    code = fulfilment.location.code
    assert client.get(f"/stores/{code}/package-types").status_code == 200
    bad = client.post(
        f"/stores/{code}/package-types",
        data={"csrf_token": token, "name": "", "length_mm": "0", "width_mm": "1", "height_mm": "1", "tare_grams": "-1"},
    )
    assert bad.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(PackageType)) == 1
    dup = client.post(
        f"/stores/{code}/package-types",
        data={
            "csrf_token": token,
            "name": "box m",
            "length_mm": "1",
            "width_mm": "1",
            "height_mm": "1",
            "tare_grams": "0",
        },
    )
    assert dup.status_code == 422
    good = client.post(
        f"/stores/{code}/package-types",
        data={
            "csrf_token": token,
            "name": "Sac",
            "length_mm": "400",
            "width_mm": "300",
            "height_mm": "10",
            "tare_grams": "20",
        },
    )
    assert good.status_code == 200
    box = db.session.scalar(select(PackageType).where(PackageType.name == "Sac"))
    url = f"/stores/{code}/package-types/{box.id}/deactivate"
    assert client.post(url, data={"csrf_token": token}).status_code == 200
    assert client.post(url, data={"csrf_token": token}).status_code == 200
    db.session.expire_all()
    assert box.active is False


def test_associates_cannot_manage_boxes_and_only_admins_edit_carriers(client):
    fulfilment, _ = _signed_in(client)
    assert client.get(f"/stores/{fulfilment.location.code}/package-types").status_code == 403
    assert client.get("/admin/carriers").status_code == 403


def test_admins_edit_carriers_and_services(client):
    carriers.ensure_builtin_carriers()
    admin = make_user(role="admin")
    db.session.commit()
    login(client, admin.email, PASSWORD)
    token = csrf_token(client, "/admin/carriers")
    cx = db.session.scalar(select(Carrier).where(Carrier.code == "CX"))
    bad = client.post(
        f"/admin/carriers/{cx.id}",
        data={
            "csrf_token": token,
            f"c{cx.id}-name": "CX",
            f"c{cx.id}-max_weight_grams": "30000",
            f"c{cx.id}-tracking_format": "s10",
            f"c{cx.id}-tracking_prefix": "C1",
            f"c{cx.id}-tracking_suffix": "FR",
            f"c{cx.id}-active": "y",
        },
    )
    assert bad.status_code == 422
    db.session.expire_all()
    assert cx.name == "Comptoir Express"
    good = client.post(
        f"/admin/carriers/{cx.id}/services",
        data={
            "csrf_token": token,
            f"n{cx.id}-code": "SAT",
            f"n{cx.id}-name": "Samedi",
            f"n{cx.id}-price": "12.50",
            f"n{cx.id}-transit_days": "1",
            f"n{cx.id}-max_weight_grams": "5000",
            f"n{cx.id}-active": "y",
        },
    )
    assert good.status_code == 200
    db.session.expire_all()
    assert [s.code for s in cx.services if s.code == "SAT"] == ["SAT"]


def test_hand_over_of_everything_ships_through_the_core_once(client):
    fulfilment, token = _signed_in(client)
    finished(fulfilment)
    db.session.commit()
    carrier = fulfilment.parcels[0].label.carrier
    manifest = dispatch.open_manifest(fulfilment.location, carrier, actor=ACTOR)
    db.session.commit()
    url = f"/stores/{fulfilment.location.code}/dispatch/scan"
    for _ in range(2):
        response = client.post(url, data={"csrf_token": token, "code": manifest.number, "scan_id": "manifest-scan-1"})
        assert response.status_code == 200
    db.session.expire_all()
    assert fulfilment.status == "shipped"
    assert db.session.scalar(select(func.count()).select_from(Parcel).where(Parcel.handed_over_at.is_not(None))) == 1


def _input_value(html: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html).group(1)


def _selected(html: str, name: str) -> str:
    select = re.search(rf'<select[^>]*name="{name}".*?</select>', html, re.S).group(0)
    return re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', select).group(0)


FINISH = {
    "button": lambda base: (f"{base}/pack/finish", {}),
    "scan": lambda base: (f"{base}/pack/scan", {"code": "CMD:CONFIRM", "scan_id": "confirm-0001"}),
}


@pytest.mark.parametrize("finish", FINISH)
def test_a_prefilled_parcel_is_finished_without_saving_it_as_the_screen_showed(client, finish):
    """By the Finish button or by the CMD:CONFIRM scan alone: what is shown as chosen is chosen."""
    fulfilment, token = _signed_in(client)
    base = f"/stores/{fulfilment.location.code}/fulfilments/{fulfilment.id}"
    page = client.get(f"{base}/pack").get_data(as_text=True)
    db.session.expire_all()
    parcel = fulfilment.parcels[0]
    shown_weight = _input_value(page, f"p{parcel.id}-weight_grams")
    assert f"Estimate: {shown_weight} g" in page  # the estimate line and the prefilled weight agree
    assert "has no box" not in page and "has no weight" not in page
    assert "Suggested: Box M" in page
    assert 'data-hx-include=".parcel-form"' in page  # the finish button takes the parcel forms along
    url, data = FINISH[finish](base)
    done = client.post(url, data={"csrf_token": token, **data}, headers=HX)
    assert done.status_code == 200
    assert json.loads(done.headers["HX-Trigger"])["toast"]["level"] == "success"
    html = done.get_data(as_text=True)
    assert 'id="labels-title"' in html and "Finish packing" not in html
    db.session.expire_all()
    box = db.session.scalar(select(PackageType))
    assert (fulfilment.status, parcel.package_type_id, parcel.weight_grams) == ("packed", box.id, int(shown_weight))
    assert str(box.id) in _selected(page, f"p{parcel.id}-package_type")
    assert parcel.label is not None


def test_finishing_takes_a_value_changed_on_screen_but_not_saved_and_refuses_a_bad_one(client):
    fulfilment, token = _signed_in(client)
    base = f"/stores/{fulfilment.location.code}/fulfilments/{fulfilment.id}"
    client.get(f"{base}/pack")
    db.session.expire_all()
    parcel = fulfilment.parcels[0]
    box = db.session.scalar(select(PackageType))
    shown = {  # what hx-include sends from the parcel form, the weight typed over without "Save parcel 1"
        f"p{parcel.id}-csrf_token": token,
        f"p{parcel.id}-package_type": box.id,
        f"p{parcel.id}-weight_grams": "abc",
        f"p{parcel.id}-service": carriers.active_services()[0].id,
    }
    bad = client.post(f"{base}/pack/finish", data={"csrf_token": token, **shown}, headers=HX)
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    db.session.expire_all()
    assert (fulfilment.status, parcel.weight_grams) == ("picked", None)
    shown[f"p{parcel.id}-weight_grams"] = "2345"
    done = client.post(f"{base}/pack/finish", data={"csrf_token": token, **shown}, headers=HX)
    assert done.status_code == 200
    db.session.expire_all()
    assert (fulfilment.status, parcel.weight_grams, parcel.package_type_id) == ("packed", 2345, box.id)


def _collect_signed_in(client):
    fulfilment = picked_fulfilment(1, collect=True)
    user = make_user(stores=[fulfilment.location])
    db.session.commit()
    login(client, user.email, PASSWORD)
    return fulfilment, csrf_token(client, "/")


def test_a_click_and_collect_order_is_never_packed_through_the_screen_and_says_what_comes_next(client):
    fulfilment, token = _collect_signed_in(client)
    code = fulfilment.location.code
    base = f"/stores/{code}/fulfilments/{fulfilment.id}"
    page = client.get(f"{base}/pack")
    html = page.get_data(as_text=True)
    assert page.status_code == 409
    assert "is click &amp; collect: it is not packed into a carrier parcel or labelled" in html
    assert "Ship to" not in html and ", ()" not in html
    assert f'href="/stores/{code}/fulfilments/{fulfilment.id}"' in html  # back to the order
    finish = client.post(f"{base}/pack/finish", data={"csrf_token": token}, headers=HX)
    scan = client.post(
        f"{base}/pack/scan", data={"csrf_token": token, "code": "CMD:CONFIRM", "scan_id": "collect-0001"}, headers=HX
    )
    for refused in (finish, scan):
        assert refused.status_code == 409 and 'id="pack"' in refused.get_data(as_text=True)
        assert "click & collect" in json.loads(refused.headers["HX-Trigger"])["toast"]["message"]
    assert client.get(f"{base}/packing-slip.pdf?size=a4").status_code == 409
    db.session.expire_all()
    assert (fulfilment.status, fulfilment.parcels) == ("picked", [])
    assert db.session.scalar(select(func.count()).select_from(ShippingLabel)) == 0
    order_page = client.get(f"/stores/{code}/fulfilments/{fulfilment.id}").get_data(as_text=True)
    queue_page = client.get(f"/stores/{code}/queue?tab=pack").get_data(as_text=True)
    assert "Picked: prepare it for pickup." in queue_page  # words only: the work list's row is a link already
    assert f'href="{base}/prepare">Prepare for pickup</a>' in order_page  # the next step: bags and the hold shelf
    assert f'href="{base}/pack"' not in order_page


def test_a_click_and_collect_label_made_before_the_rule_is_refused_on_screen(client):
    parcel = labelled_collect_parcel()
    user = make_user(stores=[parcel.fulfilment.location])
    db.session.commit()
    login(client, user.email, PASSWORD)
    code = parcel.fulfilment.location.code
    for url in (f"/stores/{code}/parcels/{parcel.id}/label.pdf", f"/stores/{code}/parcels/{parcel.id}/label.zpl"):
        response = client.get(url)
        assert response.status_code == 409 and "click &amp; collect" in response.get_data(as_text=True)


def test_labels_slips_and_manifests_open_in_a_new_tab_and_say_so(client):
    fulfilment, _ = _signed_in(client)
    finished(fulfilment)
    db.session.commit()
    code = fulfilment.location.code
    page = client.get(f"/stores/{code}/fulfilments/{fulfilment.id}/pack").get_data(as_text=True)
    parcel = fulfilment.parcels[0]
    for url in (f"/stores/{code}/parcels/{parcel.id}/label.pdf", f"/stores/{code}/parcels/{parcel.id}/label.zpl"):
        link = re.search(rf'<a [^>]*href="{re.escape(url)}"[^>]*>.*?</a>', page).group(0)
        assert 'target="_blank"' in link and 'rel="noopener"' in link and "(opens in a new tab)" in link
    reprint = re.search(r'<form [^>]*action="[^"]*/reprint"[^>]*>.*?</form>', page, re.S).group(0)
    assert 'target="_blank"' in reprint and "(opens in a new tab)" in reprint
    assert len(re.findall(r'href="[^"]*packing-slip.pdf[^"]*" target="_blank" rel="noopener"', page)) == 2
    dispatch_page = client.get(f"/stores/{code}/dispatch").get_data(as_text=True)
    manifest = re.search(r'<form [^>]*action="[^"]*/dispatch/manifests"[^>]*>.*?</form>', dispatch_page, re.S)
    assert 'target="_blank"' in manifest.group(0) and "(opens in a new tab)" in manifest.group(0)
