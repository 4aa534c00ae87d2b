"""The store board: who may see it, open work by stage with the oldest age, today's capacity, who is working,
the orders at risk with the reason and the levers, and the fragment the page polls."""

import re
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from babel.dates import format_time
from sqlalchemy import func, select

from app.core.models import (
    BoardSnapshot,
    Fulfilment,
    FulfilmentLine,
    LatenessPrediction,
    Order,
    OrderLine,
    PickList,
    Pickup,
    Scan,
)
from app.core.reports import board as board_figures
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


# --- the snapshot: what the worker keeps, and the board reads -------------------------------------------------------


def busy_store(here, people):
    """Work in every part of the board: stages, a pick list with its picker, people working, orders at risk and
    already late, a judged prediction."""
    picker = make_user([here], name="Noémie Petit")
    pick_list = PickList(location_id=here.id, user_id=picker.id, status="open", created_at=NOW - timedelta(hours=1))
    db.session.add(pick_list)
    db.session.flush()
    work(here, "picking", pick_list_id=pick_list.id, tote="A", quantity=3)
    work(here, "created", minutes_ago=50, quantity=40, ready_in=90)
    work(here, "accepted", minutes_ago=125, quantity=20, ready_in=-15)  # already late
    work(here, "picked", minutes_ago=20)
    ready = work(here, "ready_for_pickup", minutes_ago=300, method="collect")
    db.session.add(Pickup(fulfilment=ready, location_id=here.id, ready_at=NOW - timedelta(hours=4), refused=[]))
    scan(here, picker, 12, quantity=1, pick_list=pick_list)
    scan(here, people["associate"], 4)
    db.session.add(
        LatenessPrediction(
            fulfilment_id=ready.id,
            location_id=here.id,
            made_at=NOW - timedelta(hours=5),
            predicted_ready_at=NOW - timedelta(hours=4, minutes=10),
            deadline=NOW - timedelta(hours=3),
            late=False,
        )
    )
    db.session.commit()


def snapshot_row(store):
    db.session.expire_all()
    return db.session.get(BoardSnapshot, store.id)


def without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', html)


def test_the_worker_keeps_each_stores_board_and_the_board_shows_it_as_computed_fresh(app, client, stores, monkeypatch):
    here, _there, people = stores
    busy_store(here, people)
    prediction.refresh(now=NOW)  # the worker's pass: predictions, and the board's snapshot of each busy store
    kept = snapshot_row(here)
    assert kept is not None and kept.computed_at == NOW
    assert kept.payload == board_figures.compute(here, NOW)  # the same figures as computed now
    assert kept.payload["rows"] and kept.payload["staff"] and kept.payload["picks"]  # a board with everything on it
    assert kept.payload["accuracy"]["judged"] == 1
    token = kept.token
    sign_in(client, people["manager"])
    from_snapshot = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    assert snapshot_row(here).token == token  # read, not computed again
    monkeypatch.setitem(app.config, "BOARD_SNAPSHOT_MAX_AGE", 0)  # every poll computes the board again
    monkeypatch.setitem(app.config, "BOARD_FRAGMENT_CACHE_SIZE", 0)
    fresh = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    assert snapshot_row(here).token != token
    assert without_tokens(from_snapshot) == without_tokens(fresh)
    assert "Noémie Petit" in fresh and "1 order finishes at" in fresh and 'id="late-orders"' in fresh
    assert "Over the last 7 days, 1 of 1 prediction was right" in fresh


def test_the_snapshot_is_worded_in_each_readers_language(client, stores):
    here, _there, people = stores
    scan(here, people["associate"], 2)
    work(here, "accepted", quantity=60, ready_in=60)
    db.session.commit()
    sign_in(client, people["manager"])
    english = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    token = snapshot_row(here).token
    people["manager"].language = "fr"
    db.session.commit()
    french = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    assert snapshot_row(here).token == token  # the same figures
    assert "1 associate at 30 units/h" in english and "Updated at" in english
    assert "1 associate at 30 units/h" not in french and "Updated at" not in french
    assert "16:00" in french and "19:00" in french  # the same times, on a French store clock


def test_a_missing_or_stale_snapshot_is_computed_again(app, client, stores, monkeypatch):
    here, _there, people = stores
    work(here, "created", minutes_ago=10)
    db.session.commit()
    sign_in(client, people["manager"])
    assert snapshot_row(here) is None
    assert stage(client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True), "accept") == (
        1,
        "oldest 10 min",
    )
    kept = snapshot_row(here)  # missing: computed and kept
    assert kept.computed_at == NOW
    # Figures that nothing in the open work says are out of date (as after a change the fingerprint cannot see):
    # shown until the snapshot is DEFAULT_MAX_AGE seconds old, then computed again.
    kept.payload, kept.token = {**kept.payload, "received_today": 41}, "0" * 32
    db.session.commit()
    assert app.config["BOARD_SNAPSHOT_MAX_AGE"] == board_figures.DEFAULT_MAX_AGE == 60
    later = NOW + timedelta(seconds=board_figures.DEFAULT_MAX_AGE - 1)
    monkeypatch.setattr(board_module, "utcnow", lambda: later)
    assert "41 orders received today out of 50." in client.get("/stores/HERE/board", headers=LIVE).get_data(
        as_text=True
    )
    stale = NOW + timedelta(seconds=board_figures.DEFAULT_MAX_AGE)
    monkeypatch.setattr(board_module, "utcnow", lambda: stale)
    html = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    assert "1 order received today out of 50." in html
    assert stage(html, "accept") == (1, "oldest 11 min")
    assert snapshot_row(here).computed_at == stale
    db.session.delete(snapshot_row(here))
    db.session.commit()
    assert "1 order received today out of 50." in client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    assert snapshot_row(here) is not None


def test_a_change_to_the_open_work_shows_at_the_next_poll(client, stores):
    """Same moment, no worker: each change to the store's open work gives another fingerprint, and the next poll
    computes the board again; a change at another store does not."""
    here, there, people = stores
    first = work(here, "created", minutes_ago=10)
    ready = work(here, "ready_for_pickup", minutes_ago=30, method="collect")
    pickup = Pickup(fulfilment=ready, location_id=here.id, ready_at=NOW - timedelta(minutes=20), refused=[])
    db.session.add(pickup)
    db.session.commit()
    sign_in(client, people["manager"])

    def poll():
        return client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)

    assert stage(poll(), "accept") == (1, "oldest 10 min")
    token = snapshot_row(here).token
    work(there, "created", minutes_ago=1)  # another store's work
    scan(there, people["other_manager"], 1)
    db.session.commit()
    poll()
    assert snapshot_row(here).token == token
    work(here, "created", minutes_ago=2)  # new work
    db.session.commit()
    assert stage(poll(), "accept") == (2, "oldest 10 min")
    db.session.get(Fulfilment, first.id).status = "accepted"  # a step
    db.session.commit()
    html = poll()
    assert stage(html, "accept") == (1, "oldest 2 min") and stage(html, "pick") == (1, "oldest 10 min")
    db.session.get(Pickup, pickup.id).customer_arrived_at = NOW - timedelta(minutes=1)  # the customer is here
    db.session.commit()
    assert stage(poll(), "arrived") == (1, "oldest 1 min")
    assert "Nobody has scanned or acted here in the last 30 minutes." in poll()
    scan(here, people["associate"], 0)  # someone starts working
    db.session.commit()
    assert "1 person worked here in the last 30 minutes:" in poll()


def test_what_changes_with_time_alone_shows_within_the_max_age(app, client, stores, monkeypatch):
    """Someone last seen 29 minutes ago stops counting as working a minute later: no change to the open work, so
    the snapshot stands until it is BOARD_SNAPSHOT_MAX_AGE old."""
    here, _there, people = stores
    scan(here, people["associate"], 29)
    work(here, "created", minutes_ago=5)
    db.session.commit()
    monkeypatch.setitem(app.config, "BOARD_SNAPSHOT_MAX_AGE", 90)
    sign_in(client, people["manager"])
    assert "1 person worked here in the last 30 minutes:" in client.get("/stores/HERE/board").get_data(as_text=True)
    for seconds, working in ((89, True), (90, False)):
        moment = NOW + timedelta(seconds=seconds)
        monkeypatch.setattr(board_module, "utcnow", lambda moment=moment: moment)
        html = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
        assert ("1 person worked here in the last 30 minutes:" in html) is working


def test_the_kept_fragment_carries_each_readers_own_token_and_the_store_as_it_is_now(client, app, stores):
    here, _there, people = stores
    scan(here, people["associate"], 2)
    work(here, "accepted", quantity=60, ready_in=60)
    db.session.commit()
    sign_in(client, people["manager"])
    html = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    assert board_module.CSRF_SLOT not in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
    other = app.test_client()
    sign_in(other, people["admin"])
    other_html = other.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    other_token = re.search(r'name="csrf_token" value="([^"]+)"', other_html)[1]
    assert without_tokens(html) == without_tokens(other_html) and token != other_token
    # The lever's form posts with the token the kept fragment was given; the lever goes at once, while the
    # figures are still the snapshot's.
    kept = snapshot_row(here).token
    answer = client.post("/stores/HERE/ship-paused", data={"paused": "1", "csrf_token": token})
    assert answer.status_code == 303
    html = client.get("/stores/HERE/board", headers=LIVE).get_data(as_text=True)
    assert 'action="/stores/HERE/ship-paused"' not in html and 'href="/stores/HERE/reject-all"' in html
    assert snapshot_row(here).token == kept


def test_the_migration_adds_the_snapshot_and_the_scan_index_and_takes_them_back(database_url, tmp_path):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from app import create_app
    from tests.conftest import ENGINE, _prepare_postgres

    if ENGINE == "postgresql":
        url = _prepare_postgres(database_url + "_board_migration")
    else:
        url = "sqlite:///" + str(tmp_path / "migration.sqlite3")
    scratch = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with scratch.app_context():

        def schema():
            inspector = inspect(db.engine)
            tables = inspector.get_table_names()
            return "board_snapshot" in tables, "ix_scan_location_id_id" in {
                i["name"] for i in inspector.get_indexes("scan")
            }

        upgrade()
        assert schema() == (True, True)
        store = make_location(code="MIG")
        db.session.commit()
        board_figures.save(store.id, NOW, "0", {"stages": {}})
        db.session.commit()
        db.session.remove()
        downgrade(revision="e9a1f0c0de11")  # this migration and any after it
        assert schema() == (False, False)
        upgrade()
        assert schema() == (True, True)
        db.session.remove()
        db.engine.dispose()


def test_the_worker_rewrites_a_snapshot_only_after_a_change_or_half_the_max_age(app, stores):
    here, _there, _people = stores
    work(here, "created", minutes_ago=10)
    db.session.commit()
    prediction.refresh(now=NOW)
    token = snapshot_row(here).token
    half = timedelta(seconds=app.config["BOARD_SNAPSHOT_MAX_AGE"] / 2)
    prediction.refresh(now=NOW + half - timedelta(seconds=1))  # nothing changed: the row stays
    assert snapshot_row(here).token == token
    work(here, "created", minutes_ago=1)
    db.session.commit()
    prediction.refresh(now=NOW + timedelta(seconds=2))  # new work: written again
    kept = snapshot_row(here)
    assert kept.token != token and kept.payload["stages"]["accept"]["count"] == 2
    token = kept.token
    prediction.refresh(now=NOW + timedelta(seconds=2) + half)  # half the max age: written again
    assert snapshot_row(here).token != token
