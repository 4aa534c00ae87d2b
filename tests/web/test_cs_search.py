"""The customer service console's search (/cs): who may open it, where customer service lands, and its results."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from app.core.models import Order
from app.core.ordering import orders
from app.extensions import db
from tests.conftest import login
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, ship_draft, stocked


@pytest.fixture
def chain(app):
    paris = make_location(code="PARCS", name="Paris Opéra", timezone="Europe/Paris")
    product = make_product()
    stocked(paris, product, 5)
    draft = ship_draft((product, 1), ref="CS-1001")
    draft.customer_name, draft.customer_email, draft.customer_phone = "Léa Rossí", "lea@example.fr", "+33612345678"
    order, _ = orders.create_order(draft, actor=ACTOR)
    orders.assign_fulfilment(order, paris, {order.lines[0]: 1}, actor=ACTOR)
    db.session.flush()
    # 23:30 UTC on 1 March is 00:30 on 2 March in Paris: the list shows the store's day
    db.session.execute(
        update(Order).where(Order.id == order.id).values(created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    )
    people = {
        "associate": make_user(stores=[paris]),
        "manager": make_user(stores=[paris], role="manager"),
        "admin": make_user(role="admin"),
        "customer_service": make_user(role="customer_service"),
    }
    db.session.commit()
    return paris, order.id, people


def sign_in(client, user):
    return login(client, user.email, PASSWORD)


@pytest.mark.parametrize(
    ("who", "status"), [("associate", 403), ("manager", 403), ("admin", 200), ("customer_service", 200)]
)
def test_only_customer_service_and_admins_open_the_console(client, chain, who, status):
    _paris, _order_id, people = chain
    sign_in(client, people[who])
    assert client.get("/cs").status_code == status
    assert client.get("/cs", query_string={"q": "rossi"}).status_code in ({status} if status == 403 else {200})


def test_signed_out_people_are_sent_to_sign_in(client, chain):
    response = client.get("/cs")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_customer_service_lands_on_the_console_and_cannot_use_a_stores_floor(client, chain):
    paris, _order_id, people = chain
    response = sign_in(client, people["customer_service"])
    assert response.status_code == 302 and response.headers["Location"].endswith("/cs")
    assert client.get("/").headers["Location"].endswith("/cs")
    for path in ("queue", "counter", "returns", "dispatch", "stock"):
        assert client.get(f"/stores/{paris.code}/{path}").status_code == 403, path


def test_customer_service_made_a_member_of_a_store_still_cannot_use_its_floor(client, chain):
    paris, _order_id, people = chain
    person = db.session.merge(people["customer_service"])
    person.stores.append(db.session.merge(paris))
    db.session.commit()
    sign_in(client, person)
    assert client.get(f"/stores/{paris.code}/queue").status_code == 403


def test_an_associate_still_lands_on_their_store_and_does_not_see_the_console_link(client, chain):
    paris, _order_id, people = chain
    sign_in(client, people["associate"])
    page = client.get("/", follow_redirects=True)
    assert f"/stores/{paris.code}/queue" in page.request.path
    assert 'href="/cs"' not in page.get_data(as_text=True)


def test_a_search_without_accents_lists_the_order_with_its_store_status_and_local_date(client, chain):
    _paris, order_id, people = chain
    sign_in(client, people["customer_service"])
    page = client.get("/cs")
    assert 'href="/cs"' in page.get_data(as_text=True) and 'aria-current="page"' in page.get_data(as_text=True)
    html = client.get("/cs", query_string={"q": "lea rossi"}).get_data(as_text=True)
    assert "WEB-CS-1001" in html and "Léa Rossí" in html and "lea@example.fr" in html
    assert f'href="/cs/orders/{order_id}"' in html
    assert "Paris Opéra (PARCS)" in html and "To accept" in html and "In progress" in html
    assert "3/2/26" in html  # the store's day (2 March), not UTC's (1 March)
    assert "1 order for “lea rossi”" in html


def test_results_come_alone_to_htmx_and_misses_and_empty_searches_say_why(client, chain):
    _paris, _order_id, people = chain
    sign_in(client, people["customer_service"])
    fragment = client.get(
        "/cs", query_string={"q": "06 12 34 56 78"}, headers={"HX-Request": "true", "HX-Target": "cs-results"}
    )
    assert fragment.status_code == 200
    assert "WEB-CS-1001" in fragment.get_data(as_text=True) and "<html" not in fragment.get_data(as_text=True)
    missed = client.get("/cs", query_string={"q": "nobody"})
    assert missed.status_code == 404 and "No order matches “nobody”." in missed.get_data(as_text=True)
    short = client.get("/cs", query_string={"q": "ro"})
    assert short.status_code == 404 and "at least 3 letters" in short.get_data(as_text=True)
    assert client.get("/cs", query_string={"q": "  "}).status_code == 422


def test_results_are_in_french_for_a_french_reader(client, chain):
    _paris, _order_id, people = chain
    person = db.session.merge(people["customer_service"])
    person.language = "fr"
    db.session.commit()
    sign_in(client, person)
    html = client.get("/cs", query_string={"q": "rossi"}).get_data(as_text=True)
    assert "Service client" in html and "02/03/2026 00:30" in html
