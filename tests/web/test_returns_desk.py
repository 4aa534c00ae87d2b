"""The returns desk: finding an order of any store, the refund shown before confirming, one return per confirmation
even when it is sent twice, refusals next to their fields, returns by post received by scan, and the quarantine's
decisions (managers only)."""

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core import returns
from app.core.models import CustomerReturn, PaymentTransaction, Scan, StockLevel
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.core.test_returns import shipped_order
from tests.factories import ACTOR, PASSWORD, make_location, make_user

HX = {"HX-Request": "true", "HX-Target": "return-order"}


@pytest.fixture
def desk(app, client):
    """A paid order shipped by another store (2 units at 20.00 and 1 at 15.00, shipping 4.90), and store HERE's
    associate signed in at the desk."""
    order = shipped_order()
    order.customer_name, order.customer_email, order.customer_phone = (
        "Lucie Martin",
        "lucie@example.fr",
        "06 12 34 56 78",
    )
    here, there = make_location(code="HERE"), make_location(code="THERE")
    associate = make_user(stores=[here])
    manager = make_user(stores=[here], role="manager")
    stranger = make_user(stores=[there])
    db.session.commit()
    login(client, associate.email, PASSWORD)
    return {
        "order": order,
        "here": here,
        "there": there,
        "associate": associate,
        "manager": manager,
        "stranger": stranger,
        "token": csrf_token(client, "/stores/HERE/returns"),
    }


def _text(response) -> str:
    return response.get_data(as_text=True)


def _search(client, desk, text):
    return client.post("/stores/HERE/returns", data={"q": text, "csrf_token": desk["token"]})


def _form(desk, *rows, token=None):
    """rows: (line index, quantity, reason, condition)."""
    lines = desk["order"].lines
    data = {"csrf_token": desk["token"]}
    for index, quantity, reason, condition in rows:
        line_id = lines[index].id
        data[f"qty-{line_id}"], data[f"reason-{line_id}"], data[f"condition-{line_id}"] = quantity, reason, condition
    if token is not None:
        data["token"] = token
    return data


def _order_url(desk, store="HERE"):
    return f"/stores/{store}/returns/orders/{desk['order'].id}"


def _returns(desk):
    db.session.expire_all()
    return db.session.scalars(select(CustomerReturn).where(CustomerReturn.order_id == desk["order"].id)).all()


def test_the_slip_number_the_tracking_number_and_the_name_find_the_order_of_another_store(client, desk):
    order = desk["order"]
    tracking = order.fulfilments[0].parcels[0].label.tracking_number
    for text in (order.reference, order.reference.lower(), tracking):
        response = _search(client, desk, text)
        assert response.status_code == 303, text
        assert response.headers["Location"].endswith(_order_url(desk))
    response = _search(client, desk, "lucie martin")
    assert response.status_code == 303 and response.headers["Location"].endswith(_order_url(desk))
    assert _search(client, desk, "nobody at all").status_code == 404
    assert _search(client, desk, "   ").status_code == 422


def test_the_order_page_says_what_can_come_back(client, desk):
    page = _text(client.get(_order_url(desk)))
    assert "2 of 2 can be returned" in page and "1 of 1 can be returned" in page
    assert "Changed their mind" in page and "To inspect" in page
    assert 'name="csrf_token"' in page


def test_the_quote_shows_the_refund_before_anything_changes(client, desk):
    response = client.post(
        _order_url(desk) + "/quote", data=_form(desk, (0, "1", "too_small", "resellable")), headers=HX
    )
    page = _text(response)
    assert response.status_code == 200
    assert "€20.00" in page and "Refunded to the original payment." in page and "Confirm return" in page
    assert "Shipping" not in page  # not the whole order
    assert _returns(desk) == []
    whole = client.post(
        _order_url(desk) + "/quote",
        data=_form(desk, (0, "2", "damaged", "damaged"), (1, "1", "late", "inspect")),
        headers=HX,
    )
    assert "€4.90" in _text(whole) and "€59.90" in _text(whole)


def test_confirming_twice_with_the_same_form_takes_one_return(client, desk):
    quote = _text(
        client.post(_order_url(desk) + "/quote", data=_form(desk, (0, "1", "too_small", "resellable")), headers=HX)
    )
    token = re.search(r'name="token" value="([^"]+)"', quote).group(1)
    data = _form(desk, (0, "1", "too_small", "resellable"), token=token)
    first = client.post(_order_url(desk) + "/confirm", data=data)
    again = client.post(_order_url(desk) + "/confirm", data=data)
    [ret] = _returns(desk)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"] == f"/stores/HERE/returns/{ret.id}"
    assert (ret.location_id, ret.status, ret.refund_amount) == (desk["here"].id, "received", Decimal("20.00"))
    level = db.session.scalar(
        select(StockLevel).where(
            StockLevel.location_id == desk["here"].id, StockLevel.product_id == desk["order"].lines[0].product_id
        )
    )
    assert level.on_hand == 1
    [refund] = db.session.scalars(
        select(PaymentTransaction).where(
            PaymentTransaction.order_id == desk["order"].id, PaymentTransaction.kind == "refund"
        )
    ).all()
    assert (refund.status, refund.amount, refund.return_id) == ("succeeded", Decimal("20.00"), ret.id)
    page = _text(client.get(f"/stores/HERE/returns/{ret.id}"))
    assert ret.number in page and "€20.00" in page and "Refunded" in page
    # a new form (a new token) for the same unit: nothing is left of it to return
    second = client.post(
        _order_url(desk) + "/confirm", data=_form(desk, (0, "2", "too_small", "resellable"), token="another-token-1")
    )
    assert second.status_code == 422 and "At most 1 of this item can be returned." in _text(second)
    assert len(_returns(desk)) == 1


@pytest.mark.parametrize(
    ("rows", "field", "message"),
    [
        ((), "lines", "Choose at least one item to return."),
        (((0, "3", "too_small", "resellable"),), "qty-{0}", "At most 2 of this item can be returned."),
        (((0, "1", "", "resellable"),), "reason-{0}", "Choose a reason from the list."),
        (((0, "1", "too_small", "broken"),), "condition-{0}", "Choose the condition of the returned item."),
        (((0, "two", "too_small", "resellable"),), "qty-{0}", "Give a whole number of units, 0 or more."),
        (((0, "99999999999", "too_small", "resellable"),), "qty-{0}", "Give a whole number of units, 0 or more."),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_changes_nothing(client, desk, rows, field, message):
    name = field.format(desk["order"].lines[0].id)
    for action in ("quote", "confirm"):
        response = client.post(
            _order_url(desk) + f"/{action}", data=_form(desk, *rows, token="a-form-token-123"), headers=HX
        )
        page = _text(response)
        assert response.status_code == 422, action
        assert f'id="{name}-error">{message}</p>' in page, action
    assert _returns(desk) == []
    assert (
        db.session.scalar(
            select(func.count()).select_from(PaymentTransaction).where(PaymentTransaction.kind == "refund")
        )
        == 0
    )


def test_a_confirm_without_its_token_is_refused(client, desk):
    response = client.post(_order_url(desk) + "/confirm", data=_form(desk, (0, "1", "too_small", "resellable")))
    assert response.status_code == 422 and "show the refund again" in _text(response)
    assert (
        _returns(desk) == []
        and db.session.scalar(select(func.count()).select_from(Scan).where(Scan.purpose == "return")) == 0
    )


def test_forms_need_their_csrf_token(client, desk):
    data = _form(desk, (0, "1", "too_small", "resellable"), token="a-form-token-123")
    data.pop("csrf_token")
    assert client.post(_order_url(desk) + "/confirm", data=data).status_code == 400
    assert _returns(desk) == []


def test_a_return_belongs_to_the_store_that_took_it(app, client, desk):
    ret = returns.create_return(
        desk["order"],
        desk["there"],
        [{"sku": desk["order"].lines[0].product.sku, "quantity": 1, "reason": "late", "condition": "resellable"}],
        actor=ACTOR,
    )
    db.session.commit()
    assert client.get(f"/stores/HERE/returns/{ret.id}").status_code == 404
    assert client.get(f"/stores/HERE/returns/{ret.id}/receipt.pdf?size=a4").status_code == 404
    assert client.get(f"/stores/HERE/returns/{10**15}").status_code == 404
    assert client.get(f"/stores/HERE/returns/orders/{10**15}").status_code == 404
    login(client, desk["stranger"].email, PASSWORD)
    assert client.get(f"/stores/THERE/returns/{ret.id}").status_code == 200
    assert client.get("/stores/HERE/returns").status_code == 403  # not a member of HERE


def test_the_receipt_route_serves_the_pdf_when_the_documents_have_it(client, desk):
    from app import documents

    ret = returns.create_return(
        desk["order"],
        desk["here"],
        [{"sku": desk["order"].lines[0].product.sku, "quantity": 1, "reason": "late", "condition": "resellable"}],
        actor=ACTOR,
    )
    db.session.commit()
    assert client.get(f"/stores/HERE/returns/{ret.id}/receipt.pdf?size=a3").status_code == 404
    if not hasattr(documents, "return_receipt_document"):  # written on the retapi branch; merged by the lead
        assert client.get(f"/stores/HERE/returns/{ret.id}/receipt.pdf?size=a4").status_code == 404
        return
    for size in ("a4", "80mm"):
        response = client.get(f"/stores/HERE/returns/{ret.id}/receipt.pdf?size={size}")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF")


def test_a_return_by_post_is_received_here_by_its_number_or_the_order_number(client, desk):
    order = desk["order"]
    first, second = order.lines
    by_post = returns.create_return(
        order,
        desk["there"],
        [{"sku": first.product.sku, "quantity": 1, "reason": "changed_mind", "condition": "resellable"}],
        actor=ACTOR,
        status="expected",
    )
    other = returns.create_return(
        order,
        desk["there"],
        [{"sku": second.product.sku, "quantity": 1, "reason": "late", "condition": "inspect"}],
        actor=ACTOR,
        status="expected",
    )
    db.session.commit()
    url = "/stores/HERE/returns/expected"
    assert client.get(url).status_code == 200
    two = client.post(url, data={"code": order.reference, "csrf_token": desk["token"]})
    assert two.status_code == 409 and "2 returns by post of this order are expected" in _text(two)
    response = client.post(url, data={"code": by_post.number.lower(), "csrf_token": desk["token"]})
    page = _text(response)
    assert response.status_code == 200 and "€20.00 refunded" in page and first.product.sku in page
    db.session.expire_all()
    assert (by_post.status, by_post.location_id) == ("received", desk["here"].id)
    # the order number now names the one still expected
    response = client.post(url, data={"code": order.reference, "csrf_token": desk["token"]})
    assert response.status_code == 200 and other.number in _text(response)
    again = client.post(url, data={"code": by_post.number, "csrf_token": desk["token"]})
    assert again.status_code == 200 and "already received" in _text(again)
    db.session.expire_all()
    assert by_post.refund_amount == Decimal("20.00")
    refunds = db.session.scalars(select(PaymentTransaction).where(PaymentTransaction.kind == "refund")).all()
    assert len(refunds) == 2
    assert client.post(url, data={"code": "RET-9999999", "csrf_token": desk["token"]}).status_code == 404
    assert client.post(url, data={"code": "", "csrf_token": desk["token"]}).status_code == 422


def test_quarantine_decisions_are_for_managers_of_the_store(client, desk):
    order = desk["order"]
    ret = returns.create_return(
        order,
        desk["here"],
        [
            {"sku": order.lines[0].product.sku, "quantity": 2, "reason": "damaged", "condition": "inspect"},
            {"sku": order.lines[1].product.sku, "quantity": 1, "reason": "late", "condition": "inspect"},
        ],
        actor=ACTOR,
    )
    db.session.commit()
    first, second = ret.lines
    url = "/stores/HERE/returns/inspect"
    assert client.get(url).status_code == 403
    assert (
        client.post(f"{url}/{first.id}", data={"outcome": "resellable", "csrf_token": desk["token"]}).status_code == 403
    )
    login(client, desk["manager"].email, PASSWORD)
    token = csrf_token(client, url)
    page = _text(client.get(url))
    assert ret.number in page and "Back on sale" in page
    assert client.post(f"{url}/{first.id}", data={"outcome": "lost", "csrf_token": token}).status_code == 422
    ok = client.post(f"{url}/{first.id}", data={"outcome": "resellable", "csrf_token": token})
    assert ok.status_code == 200 and "2 units of" in _text(ok)
    damaged = client.post(f"{url}/{second.id}", data={"outcome": "damaged", "csrf_token": token})
    assert damaged.status_code == 200 and "counted as damaged" in _text(damaged)
    changed = client.post(f"{url}/{second.id}", data={"outcome": "resellable", "csrf_token": token})
    assert changed.status_code == 409
    assert returns.quarantined(desk["here"]) == []

    def level(line):
        return db.session.scalar(
            select(StockLevel).where(
                StockLevel.location_id == desk["here"].id, StockLevel.product_id == line.product_id
            )
        )

    db.session.expire_all()
    assert (level(first).on_hand, level(first).quarantined) == (2, 0)
    assert (level(second).damaged, level(second).quarantined) == (1, 0)
    assert "Nothing waits for inspection" in _text(client.get(url))


def test_the_navigation_has_returns(client, desk):
    page = _text(client.get("/stores/HERE/returns"))
    assert re.search(r'href="/stores/HERE/returns"[^>]*aria-current="page"', page)
    assert "/stores/HERE/returns/inspect" not in page  # the quarantine tab is for managers
