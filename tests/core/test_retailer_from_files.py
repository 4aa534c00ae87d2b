"""A retailer that is not the demo, built from its own files only (the samples/ the README's onboarding path uses),
on an empty database; then its first order comes through the API, goes to the nearest new store and is picked
along that store's pick path."""

from pathlib import Path

from sqlalchemy import func, select

from app.core.actor import Actor
from app.core.floor import picking
from app.core.integration.api_clients import create_api_client
from app.core.models import Location, Order, Product, StockLevel, User
from app.core.ordering import orders
from app.extensions import db
from tests.factories import ACTOR

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _import(runner, *args):
    result = runner.invoke(args=[*args[:-1], str(SAMPLES / args[-1])])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_retailer_built_from_files_takes_its_first_order_and_picks_it_on_its_pick_path(app, runner, client):
    assert db.session.scalar(select(func.count()).select_from(Location)) == 0  # nothing of the demo
    assert "18 imported" in _import(runner, "products", "import", "products.csv")
    assert "4 imported" in _import(runner, "locations", "import", "locations.csv")
    assert "9 imported" in _import(runner, "shelves", "import", "shelves.csv")
    assert "11 imported" in _import(runner, "stock", "import", "stock.csv")
    assert "3 imported" in _import(runner, "users", "import", "users.csv")

    milan = db.session.scalar(select(Location).where(Location.code == "MDL-MIL1"))
    assert 45.0 < float(milan.latitude) < 46.0  # no coordinates in the file: Milan's postcode area
    assert db.session.scalar(select(func.sum(StockLevel.on_hand))) == 95
    again = _import(runner, "locations", "import", "locations.csv")
    assert "0 imported, 4 unchanged" in again  # a file sent again changes nothing

    _, token = create_api_client("web shop", ["orders:read", "orders:write"], actor=ACTOR)
    db.session.commit()
    body = {
        "channel": "web",
        "external_ref": "MD-0001",
        "customer": {"name": "Camille Roux", "email": "camille@example.fr", "language": "fr"},
        "delivery": {
            "method": "ship",
            "address": {"line1": "8 quai Saint-Vincent", "postcode": "69001", "city": "Lyon", "country": "FR"},
        },
        "lines": [{"sku": "ROBE-PTF-NOI-38", "quantity": 1}, {"sku": "CHEM-LIN-BLC-M", "quantity": 2}],
    }
    created = client.post("/api/v1/orders", json=body, headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.json
    assert [f["location"] for f in created.json["fulfilments"]] == ["MDL-LYO1"]  # the nearest store with both

    order = db.session.scalar(select(Order).where(Order.external_ref == "MD-0001"))
    [fulfilment] = order.fulfilments
    lyon = fulfilment.location
    associate = db.session.scalar(select(User).where(User.email == "lea.bernard@maisondulac.example"))
    assert [store.code for store in associate.stores] == ["MDL-LYO1"]
    actor = Actor.for_user(associate)
    orders.accept_fulfilment(fulfilment, actor=actor)
    pick_list = picking.start_pick(lyon, [fulfilment], user=associate, actor=actor)
    path = [(g.product.sku, g.shelf_text) for g in picking.groups(pick_list)]
    assert path == [("CHEM-LIN-BLC-M", "R1-01-1"), ("ROBE-PTF-NOI-38", "R2-05-2")]  # aisle R1 before R2
    for sku, _ in path:
        product = db.session.scalar(select(Product).where(Product.sku == sku))
        for n in range(next(g.total for g in picking.groups(pick_list) if g.product.sku == sku)):
            outcome = picking.scan(pick_list, product.gtin, f"scan-{sku}-{n}", user=associate, actor=actor)
            assert outcome.ok, outcome
    picking.finish(pick_list, user=associate, actor=actor)
    db.session.commit()
    assert fulfilment.status == "picked"
    assert [line.picked for line in sorted(fulfilment.lines, key=lambda line: line.product.sku)] == [2, 1]
