"""The app factory plus `flask demo load` on an empty database gives a working store."""

from sqlalchemy import func, select
from stdnum import ean

from app.core.inventory import stock
from app.core.models import Fulfilment, Location, Order, Product, StockLevel, User
from app.extensions import db
from tests.conftest import login


def _counts():
    return {
        m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in (Location, Product, Order, User)
    }


def test_demo_load_on_an_empty_database_gives_the_login_page_and_a_queue(app, client, runner):
    assert _counts() == {"Location": 0, "Product": 0, "Order": 0, "User": 0}
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "associate.par01@demo.comptoir.fr" in result.output and "comptoir-demo" in result.output
    counts = _counts()
    assert counts["Location"] >= 11 and counts["Product"] >= 350 and counts["Order"] >= 75
    assert all(ean.is_valid(g) for g in db.session.scalars(select(Product.gtin)))
    for level in db.session.scalars(select(StockLevel)):
        assert stock.ledger_totals(level.location_id, level.product_id) == (level.on_hand, level.reserved)

    assert client.get("/login").status_code == 200
    login(client, "associate.par01@demo.comptoir.fr", "comptoir-demo")
    page = client.get("/", follow_redirects=True)
    assert page.request.path == "/stores/PAR01/queue"
    waiting = db.session.scalars(
        select(Fulfilment)
        .join(Location, Fulfilment.location_id == Location.id)
        .where(Location.code == "PAR01", Fulfilment.status == "created")
    ).first()
    assert waiting.order.reference in page.get_data(as_text=True)

    again = runner.invoke(args=["demo", "load", "--if-empty"])
    assert again.exit_code == 0, again.output
    assert _counts() == counts
