"""The customer's "I'm here" page (issue 12, step 4): opened from the ready e-mail's link without an account, signed,
valid only while the order waits on the hold shelf, in the customer's language, with a CSRF-protected form."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.floor import pickups
from app.core.integration import notices
from app.core.models import AuditEvent, OutboxEvent, Pickup
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.extensions import db
from app.formatting import customer_locale
from tests.conftest import csrf_from
from tests.core.test_pickup_notices import paris_store, picked
from tests.factories import ACTOR

PUBLIC_URL = "https://comptoir.example.test"


@pytest.fixture(autouse=True)
def settings(app):
    app.config.update(PUBLIC_URL=PUBLIC_URL, SMS_SENDER="test")


def ready_now(store=None, **kwargs):
    """A pickup made ready now (the page compares its hold with the real clock)."""
    fulfilment, _products = picked(store, **kwargs)
    (slot,) = pickups.add_slots(fulfilment.location, ["A-01"], actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR)
    db.session.commit()
    return fulfilment.pickup


def path_of(pickup) -> str:
    url = notices.im_here_url(pickup)
    assert url.startswith(PUBLIC_URL + "/pickup/")
    return url[len(PUBLIC_URL) :]


def say_here(client, path, note="", token=None):
    page = client.get(path)
    assert page.status_code == 200
    data = {"note": note, "csrf_token": token or csrf_from(page.get_data(as_text=True))}
    return client.post(path, data=data)


def test_the_page_speaks_the_customers_language_and_shows_the_order_store_and_deadline(client):
    pickup = ready_now(language="it")
    response = client.get(path_of(pickup), headers={"Accept-Language": "fr"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="it">' in html
    order = pickup.fulfilment.order
    assert f"Ordine {order.reference}" in html and "Comptoir Rivoli" in html and "12 rue de Rivoli" in html
    with customer_locale(order):
        expected = notices.deadline(pickup)
    assert expected.endswith("alle 23:59") and expected in html and "(ora del negozio)" in html
    assert pickups.format_code(pickup.code) in html
    assert "Posto auto o veicolo (facoltativo)" in html and "Sono qui" in html
    assert 'name="csrf_token"' in html and 'name="viewport"' in html


def test_saying_i_am_here_records_the_arrival_for_the_stores_queue(client):
    pickup = ready_now()
    path = path_of(pickup)
    response = say_here(client, path, note="  posto 12,   Panda rossa ")
    assert response.status_code == 303 and response.headers["Location"].endswith(path)
    db.session.expire_all()
    assert [p.id for p in pickups.arrivals(pickup.location)] == [pickup.id]
    assert pickup.arrival_note == "posto 12, Panda rossa" and pickup.customer_arrived_at is not None
    assert db.session.scalar(select(OutboxEvent).where(OutboxEvent.type == "pickup.customer_arrived"))
    confirmation = client.get(path).get_data(as_text=True)
    assert "il negozio sa che sei qui" in confirmation and "posto 12, Panda rossa" in confirmation
    # saying it twice is fine: the first arrival time stays, the note changes, one event and one audit row
    first = pickup.customer_arrived_at
    assert say_here(client, path, note="posto 14").status_code == 303
    db.session.expire_all()
    assert (pickup.customer_arrived_at, pickup.arrival_note) == (first, "posto 14")
    assert len(db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "pickup.customer_arrived")).all()) == 1
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "pickup.customer_arrived")).all()) == 1


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(client):
    pickup = ready_now()
    path = path_of(pickup)
    client.get(path)
    response = client.post(path, data={"note": "here"})
    assert response.status_code == 400
    assert "Tocca di nuovo il pulsante" in response.get_data(as_text=True)
    response = client.post(path, data={"note": "here", "csrf_token": "forged"})
    assert response.status_code == 400
    db.session.expire_all()
    assert pickup.customer_arrived_at is None and pickups.arrivals(pickup.location) == []


def tampered(token: str) -> str:
    payload, _, signature = token.partition(".")
    return f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize(
    "make_path",
    [
        lambda path: path[:-1] + ("x" if path[-1] != "x" else "y"),  # the signature changed
        lambda path: "/pickup/" + tampered(path.rsplit("/", 1)[1]),
        lambda path: "/pickup/eyJwIjo5OTk5fQ.forged",  # another pickup's id, not signed by us
        lambda path: "/pickup/" + "a" * 5000,
        lambda path: "/pickup/%00",
    ],
)
def test_a_link_that_is_not_ours_is_a_404_and_changes_nothing(client, make_path):
    pickup = ready_now()
    path = make_path(path_of(pickup))
    response = client.get(path, headers={"Accept-Language": "fr"})
    assert response.status_code in {404, 400}
    assert response.status_code == 404 or "%00" in path
    page = client.get(path_of(pickup)).get_data(as_text=True)
    assert client.post(path, data={"csrf_token": csrf_from(page), "note": "x"}).status_code in {404, 400}
    db.session.expire_all()
    assert pickup.customer_arrived_at is None


def test_a_signed_token_for_a_pickup_that_does_not_exist_is_a_404(client, app):
    from itsdangerous import URLSafeSerializer

    token = URLSafeSerializer(app.config["SECRET_KEY"], salt=notices.TOKEN_SALT).dumps({"p": 424242})
    response = client.get(f"/pickup/{token}", headers={"Accept-Language": "fr"})
    assert response.status_code == 404 and "Ce lien n’est pas valide" in response.get_data(as_text=True)
    for data in ({"p": "1"}, {"p": True}, [1], {"p": 10**30}):
        token = URLSafeSerializer(app.config["SECRET_KEY"], salt=notices.TOKEN_SALT).dumps(data)
        assert client.get(f"/pickup/{token}").status_code == 404
    # a token signed for something else (another salt) is not one either
    other = URLSafeSerializer(app.config["SECRET_KEY"], salt="another.purpose").dumps({"p": 1})
    assert client.get(f"/pickup/{other}").status_code == 404


def test_after_collection_the_page_says_so_politely(client):
    pickup = ready_now(paris_store(pickup_bag_scan=False))
    path = path_of(pickup)
    page = client.get(path).get_data(as_text=True)
    pickups.collect(pickup.fulfilment, actor=ACTOR, pickup_code=pickup.code)
    db.session.commit()
    response = client.get(path)
    assert response.status_code == 410 and "Hai già ritirato questo ordine" in response.get_data(as_text=True)
    response = client.post(path, data={"csrf_token": csrf_from(page), "note": "x"})
    assert response.status_code == 410
    db.session.expire_all()
    assert pickup.customer_arrived_at is None


def test_after_the_hold_ends_the_page_refuses_politely_even_before_the_worker_ran(client):
    pickup = ready_now()
    path = path_of(pickup)
    page = client.get(path).get_data(as_text=True)
    db.session.get(Pickup, pickup.id).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.post(path, data={"csrf_token": csrf_from(page), "note": "x"})
    assert response.status_code == 410 and "è terminato" in response.get_data(as_text=True)
    assert client.get(path).status_code == 410
    pickups.expire(pickup.fulfilment, actor=ACTOR)
    db.session.commit()
    assert pickup.fulfilment.status == S.EXPIRED
    response = client.get(path)
    assert response.status_code == 410 and "Contatta il negozio" in response.get_data(as_text=True)
    db.session.expire_all()
    assert pickup.customer_arrived_at is None


def test_a_store_without_curbside_has_no_link_and_no_page(client):
    pickup = ready_now(paris_store(curbside=False))
    assert notices.im_here_url(pickup) is None
    token = notices.im_here_token(pickup)
    response = client.get(f"/pickup/{token}")
    assert response.status_code == 404 and "banco" in response.get_data(as_text=True)


def test_the_link_is_absolute_on_public_url_and_the_page_is_not_cached_nor_indexed(client, app):
    pickup = ready_now()
    app.config["PUBLIC_URL"] = "https://shop.example.com/comptoir"
    url = notices.im_here_url(pickup)
    assert re.fullmatch(r"https://shop\.example\.com/comptoir/pickup/[A-Za-z0-9_\-.]+", url)
    app.config["PUBLIC_URL"] = PUBLIC_URL
    response = client.get(path_of(pickup))
    assert response.headers["Cache-Control"] == "no-store"
    assert '<meta name="robots" content="noindex">' in response.get_data(as_text=True)
