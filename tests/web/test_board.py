"""The store board: who may see it, open work by stage with the oldest age, today's capacity, who is working,
the orders at risk with the reason and the levers, and the fragment the page polls."""

import re
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from babel.dates import format_time
from sqlalchemy import func, select

from app.core.models import (
    Fulfilment,
    FulfilmentLine,
    LatenessPrediction,
    Order,
    OrderLine,
    PickList,
    Pickup,
    Scan,
)
from app.core.reports import prediction
from app.extensions import db
from app.web import board as board_module
from tests.conftest import login
from tests.factories import PASSWORD, make_location, make_product, make_user, random_ref

NOW = datetime(2025, 3, 11, 14, 0, tzinfo=UTC)  # Tuesday, 15:00 in Paris
ALWAYS_OPEN = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
LIVE = {"HX-Request": "true", "HX-Target": "board-live"}


def paris(hour: int, minute: int = 0) -> str:
    """A time of day as the board writes it for an English reader ("2:48 PM")."""
    return format_time(time(hour, minute), "short", locale="en")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(board_module, "utcnow", lambda: NOW)


def work(store, status, *, minutes_ago=10, method="ship", quantity=1, ready_in=600, **kwargs):
    product = make_product()
    order = Order(
        channel="web",
        external_ref=random_ref("W-"),
        fingerprint=uuid.uuid4().hex,
        customer_name="Léa Martin",
        delivery_method=method,
        pickup_location_id=store.id if method == "collect" else None,
    )
    line = OrderLine(line_no=1, product=product, quantity=quantity)
    order.lines.append(line)
    fulfilment = Fulfilment(
        location_id=store.id,
        status=status,
        created_at=NOW - timedelta(minutes=minutes_ago),
        accept_by=NOW + timedelta(minutes=ready_in),
        ready_by=NOW + timedelta(minutes=ready_in),
        **kwargs,
    )
    fulfilment.lines.append(FulfilmentLine(order_line=line, product_id=product.id, quantity=quantity))
    order.fulfilments.append(fulfilment)
    db.session.add(order)
    db.session.flush()
    return fulfilment


def scan(store, user, minutes_ago, quantity=0, pick_list=None):
    db.session.add(
        Scan(
            client_id=uuid.uuid4().hex,
            location_id=store.id,
            user_id=user.id,
            purpose="pick",
            pick_list_id=pick_list.id if pick_list else None,
            code="x",
            outcome="counted",
            quantity=quantity,
            details={},
            created_at=NOW - timedelta(minutes=minutes_ago),
        )
    )


@pytest.fixture
def stores(app):
    here = make_location(code="HERE", name="Lyon Part-Dieu", opening_hours=ALWAYS_OPEN)
    there = make_location(code="THERE", opening_hours=ALWAYS_OPEN)
    people = {
        "associate": make_user([here]),
        "manager": make_user([here], role="manager"),
        "other_manager": make_user([there], role="manager"),
        "admin": make_user(role="admin"),
    }
    db.session.commit()
    return here, there, people


def sign_in(client, user):
    assert login(client, user.email, PASSWORD).status_code in (302, 303)


@pytest.mark.parametrize(
    ("who", "status"), [("associate", 403), ("other_manager", 403), ("manager", 200), ("admin", 200)]
)
def test_only_the_stores_managers_and_head_office_see_the_board(client, stores, who, status):
    _here, _there, people = stores
    sign_in(client, people[who])
    assert client.get("/stores/HERE/board").status_code == status
    assert client.get("/stores/NOWHERE/board").status_code == 404


def test_the_managers_queue_links_to_the_board_and_the_associates_does_not(client, stores):
    _here, _there, people = stores
    sign_in(client, people["manager"])
    assert 'href="/stores/HERE/board"' in client.get("/stores/HERE/queue").get_data(as_text=True)
    client.post("/logout", data={})
    client.delete_cookie("session")
    sign_in(client, people["associate"])
    assert "/stores/HERE/board" not in client.get("/stores/HERE/queue").get_data(as_text=True)


def stage(html: str, key: str) -> tuple[int, str]:
    match = re.search(
        rf'id="stage-{key}">.*?data-count="(\d+)">\d+</span>\s*<span class="stage-age">([^<]*)</span>', html, re.S
    )
    assert match, f"no stage {key}"
    return int(match[1]), match[2]


def test_open_work_by_stage_with_the_oldest_age_and_todays_capacity(client, stores):
    here, there, people = stores
    work(here, "created", minutes_ago=50)
    work(here, "created", minutes_ago=10)
    work(here, "accepted", minutes_ago=125)
    work(here, "picking", minutes_ago=30)
    work(here, "picked", minutes_ago=20)
    work(here, "picked", minutes_ago=40, method="collect")  # bags and the hold shelf next
    work(here, "packed", minutes_ago=70)
    shelved = work(here, "ready_for_pickup", minutes_ago=300, method="collect")
    waiting = work(here, "ready_for_pickup", minutes_ago=200, method="collect")
    ended = work(here, "expired", minutes_ago=3000, method="collect")
    work(here, "shipped", minutes_ago=5)  # done: on no stage, but received today
    work(there, "created", minutes_ago=500)  # another store's
    db.session.add_all(
        [
            Pickup(fulfilment=shelved, location_id=here.id, ready_at=NOW - timedelta(hours=4), refused=[]),
            Pickup(
                fulfilment=waiting,
                location_id=here.id,
                ready_at=NOW - timedelta(hours=3),
                customer_arrived_at=NOW - timedelta(minutes=7),
                refused=[],
            ),
            Pickup(
                fulfilment=ended,
                location_id=here.id,
                is_open=False,
                put_back=True,
                closed_at=NOW - timedelta(hours=26, minutes=5),
                refused=[],
            ),
        ]
    )
    db.session.commit()
    sign_in(client, people["manager"])
    html = client.get("/stores/HERE/board").get_data(as_text=True)
    assert stage(html, "accept") == (2, "oldest 50 min")
    assert stage(html, "pick") == (2, "oldest 2 h 05 min")
    assert stage(html, "pack") == (1, "oldest 20 min")
    assert stage(html, "stage") == (1, "oldest 40 min")
    assert stage(html, "waiting") == (2, "oldest 4 h 00 min")
    assert stage(html, "arrived") == (1, "oldest 7 min")
    assert stage(html, "put_back") == (1, "oldest 26 h 05 min")
    assert stage(html, "dispatch") == (1, "oldest 1 h 10 min")
    # since local midnight (23:00 UTC): everything above but the 50-hour-old expired order
    assert "10 orders received today out of 50." in html
    assert 'data-hx-trigger="every 30s"' in html


def test_who_is_working_on_what(client, stores):
    here, _there, people = stores
    picker = make_user([here], name="Noémie Petit")
    pick_list = PickList(location_id=here.id, user_id=picker.id, status="open", created_at=NOW - timedelta(hours=1))
    db.session.add(pick_list)
    db.session.flush()
    work(here, "picking", pick_list_id=pick_list.id, tote="A")
    scan(here, picker, 50, pick_list=pick_list)
    scan(here, picker, 12, pick_list=pick_list)
    db.session.commit()
    sign_in(client, people["manager"])
    html = client.get("/stores/HERE/board").get_data(as_text=True)
    row = re.search(r'<table id="active-picks">.*?</table>', html, re.S)[0]
    assert pick_list.number in row and "Noémie Petit" in row and paris(14, 48) in row and "(12 min ago)" in row
    assert "1 person worked here in the last 30 minutes:" in html


def test_orders_at_risk_with_the_reason_the_levers_and_the_kept_prediction(client, stores):
    here, _there, people = stores
    scan(here, people["associate"], 2)  # one associate; no measured pace: the standard 30 units/h
    at_risk = work(here, "accepted", quantity=60, ready_in=60)  # 60 to pick + 60 to pack: 4 h
    db.session.commit()
    sign_in(client, people["manager"])
    html = client.get("/stores/HERE/board").get_data(as_text=True)
    reason = f"1 associate at 30 units/h: 1 order finishes at {paris(19)}, after its {paris(16)} ready-by time"
    assert reason in html
    assert "the prediction uses a standard 30 units per person per hour" in html
    risk = re.search(r'<table id="risk-orders">.*?</table>', html, re.S)[0]
    assert at_risk.order.reference in risk and paris(16) in risk and paris(19) in risk
    assert 'action="/stores/HERE/ship-paused"' in html  # pause ship-from-store
    assert 'href="/stores/HERE/reject-all"' in html  # let the orders re-route
    assert "Call 3 more people in" in html  # 4 x 30 = 120 units in the hour
    # The board only reads; the worker keeps the predictions, at most one per fulfilment every ten minutes.
    assert db.session.scalar(select(func.count()).select_from(LatenessPrediction)) == 0
    assert prediction.refresh(now=NOW) == 1
    kept = db.session.scalars(select(LatenessPrediction)).all()
    assert [(row.fulfilment_id, row.late) for row in kept] == [(at_risk.id, True)]
    assert prediction.refresh(now=NOW + timedelta(minutes=5)) == 0  # a pass soon after keeps no second prediction
    assert db.session.scalar(select(func.count()).select_from(LatenessPrediction)) == 1


def test_the_fragment_refreshes_the_live_part_only(client, stores):
    here, _there, people = stores
    sign_in(client, people["manager"])
    assert stage(client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True), "accept")[0] == 0
    work(here, "created", minutes_ago=3)
    db.session.commit()
    fragment = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    assert "<html" not in fragment and "board-poll" not in fragment
    assert stage(fragment, "accept") == (1, "oldest 3 min")
    assert "Every open order should be ready in time." not in fragment  # nobody is working: at risk
    assert "Nobody has worked here in the last 30 minutes: 1 order is waiting to be picked or packed." in fragment
