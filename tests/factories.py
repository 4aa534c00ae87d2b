"""Test data built through the core operations, with random references."""

import random
import string
import uuid
from contextlib import contextmanager

from sqlalchemy import event

from app.core.actor import Actor
from app.core.inventory import catalogue, stock
from app.core.models import Location
from app.core.ordering.orders import LineDraft, OrderDraft
from app.core.people import users
from app.extensions import db

ACTOR = Actor.system("test")
PASSWORD = "correct-horse-battery"


def random_ref(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:10].upper()


def random_gtin() -> str:
    body = "20" + "".join(random.choices(string.digits, k=10))  # 20-29: GS1 in-store range
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def make_location(code: str | None = None, **kwargs) -> Location:
    location = Location(code=code or random_ref("S")[:8], name=kwargs.pop("name", "Store " + random_ref()), **kwargs)
    db.session.add(location)
    db.session.flush()
    return location


def make_product(**kwargs):
    return catalogue.create_product(
        sku=kwargs.pop("sku", random_ref("SKU-")),
        name=kwargs.pop("name", "Product " + random_ref()),
        gtin=kwargs.pop("gtin", random_gtin()),
        **kwargs,
    )


def make_user(stores=(), role="associate", **kwargs):
    return users.create_user(
        email=kwargs.pop("email", f"{random_ref().lower()}@example.test"),
        name=kwargs.pop("name", "Test User"),
        password=PASSWORD,
        role=role,
        stores=list(stores),
        actor=ACTOR,
        **kwargs,
    )


def stocked(location, product, quantity: int):
    stock.receive(location, product, quantity, actor=ACTOR, reference="test")
    return product


def ship_draft(*lines, ref: str | None = None, channel: str = "web") -> OrderDraft:
    return OrderDraft(
        channel=channel,
        external_ref=ref or random_ref("W-"),
        customer_name="Léa Martin",
        delivery_method="ship",
        customer_email="lea@example.fr",
        lines=[LineDraft(code=p.sku, quantity=q) for p, q in lines],
        ship_to={"line1": "12 rue de la Paix", "postcode": "75002", "city": "Paris", "country": "FR"},
    )


def collect_draft(pickup, *lines, ref: str | None = None) -> OrderDraft:
    return OrderDraft(
        channel="web",
        external_ref=ref or random_ref("C-"),
        customer_name="Giulia Rossi",
        delivery_method="collect",
        lines=[LineDraft(code=p.sku, quantity=q) for p, q in lines],
        pickup_location_code=pickup.code,
    )


@contextmanager
def sql_statements():
    """Every SQL statement sent to the database inside the block (the requests' and the test's), in order."""
    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
