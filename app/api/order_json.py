"""Orders as the API shows them (OrderOutSchema), read with a few Core statements and built as plain dicts.

Loading a page of orders through the ORM (identity map, relationship collections, a graph of objects) and dumping
it through marshmallow cost about 30 ms for 50 orders; reading exactly the columns the schema shows for the whole
page at once and building the dicts directly costs a fraction of it.

Entry points, to be called inside a request (label URLs are external URLs built with url_for, as in
ParcelOutSchema) and inside the session's transaction (what the session holds is flushed first, then read back):

    dump_orders(ids) -> list[dict]        # the orders of `ids`, in that order; ids of no order are left out
    dump_order(order_id) -> dict | None   # one order, None when there is none

    return jsonify(order_json.dump_order(order.id)), 201   # e.g. the answer to a capture, once flushed

Each dict equals `OrderOutSchema().dump(order)`, with `unfulfilled` read from the order's latest sourcing decision
(what OrderOutSchema reads for an order without `latest_unfulfilled`, and what that attribute holds once the
decision is flushed); send it with jsonify, as flask-smorest does, for the same bytes.
Whatever the number of orders, five statements at most: the orders with their latest decision, their lines, their
fulfilments with their lines, when there are fulfilments the parcels with their label in force, and the messages
the customer was sent (e-mails and text messages in one UNION ALL, customer_messages.messages_of).
tests/api/test_order_json.py holds this module to the schema: a field added to OrderOutSchema must be added here.
"""

from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

from flask import url_for
from sqlalchemy import Select, select

from app.core.integration import customer_messages
from app.core.models import (
    Carrier,
    CarrierService,
    Fulfilment,
    FulfilmentLine,
    LabelStatus,
    Location,
    Order,
    OrderLine,
    Parcel,
    Product,
    ShippingLabel,
    SourcingDecision,
)
from app.core.models.base import among
from app.extensions import db

# Plain tables, not mapped classes: Core statements skip the ORM's compile and execute steps, and the columns keep
# their types (UTCDateTime gives the same aware datetimes as the objects have, JSON the same dicts).
_order, _line, _product = Order.__table__, OrderLine.__table__, Product.__table__
_fulfilment, _fulfilment_line = Fulfilment.__table__, FulfilmentLine.__table__
_parcel, _label, _carrier, _service = (
    Parcel.__table__,
    ShippingLabel.__table__,
    Carrier.__table__,
    CarrierService.__table__,
)
_decision = SourcingDecision.__table__
_served_from, _transfer_to = Location.__table__.alias("served_from"), Location.__table__.alias("transfer_to")


class _Statements(NamedTuple):
    orders: Select
    lines: Select
    fulfilments: Select
    parcels: Select


@cache
def _statements(postgresql: bool):
    """The statements, built once per dialect (their cache keys are computed once too)."""
    latest_unfulfilled = (
        select(_decision.c.unfulfilled)
        .where(_decision.c.order_id == _order.c.id)
        .order_by(_decision.c.id.desc())
        .limit(1)
        .correlate(_order)
        .scalar_subquery()
    )
    orders = select(
        _order.c.id,
        _order.c.channel,
        _order.c.external_ref,
        _order.c.status,
        _order.c.delivery_method,
        _order.c.needs_review,
        _order.c.gift_wrap,
        _order.c.gift_message,
        _order.c.needs_customer_service,
        _order.c.promised_by,
        _order.c.created_at,
        latest_unfulfilled,
    ).where(among(_order.c.id, postgresql))
    lines = (
        select(_line.c.order_id, _line.c.line_no, _product.c.sku, _product.c.gtin, _line.c.quantity, _line.c.cancelled)
        .select_from(_line.join(_product, _product.c.id == _line.c.product_id))
        .where(among(_line.c.order_id, postgresql))
        .order_by(_line.c.order_id, _line.c.line_no)
    )
    # Fulfilments with their lines, one row per line: a statement less, and the same scans.
    fulfilments = (
        select(
            _fulfilment.c.order_id,
            _fulfilment.c.id,
            _served_from.c.code,
            _transfer_to.c.code,
            _fulfilment.c.status,
            _fulfilment.c.accept_by,
            _fulfilment.c.ready_by,
            _fulfilment.c.reship_of_id,
            _fulfilment_line.c.id,
            _product.c.sku,
            _fulfilment_line.c.quantity,
            _fulfilment_line.c.picked,
            _fulfilment_line.c.short,
        )
        .select_from(
            _fulfilment.join(_served_from, _served_from.c.id == _fulfilment.c.location_id)
            .outerjoin(_transfer_to, _transfer_to.c.id == _fulfilment.c.transfer_to_id)
            .outerjoin(_fulfilment_line, _fulfilment_line.c.fulfilment_id == _fulfilment.c.id)
            .outerjoin(_product, _product.c.id == _fulfilment_line.c.product_id)
        )
        .where(among(_fulfilment.c.order_id, postgresql))
        .order_by(_fulfilment.c.id, _fulfilment_line.c.id)
    )
    # Each parcel with its active labels (Parcel.label is the last active one by id), carrier and service names.
    parcels = (
        select(
            _parcel.c.fulfilment_id,
            _parcel.c.id,
            _parcel.c.number,
            _parcel.c.weight_grams,
            _parcel.c.handed_over_at,
            _label.c.id,
            _carrier.c.name,
            _service.c.name,
            _label.c.tracking_number,
        )
        .select_from(
            _parcel.outerjoin(_label, (_label.c.parcel_id == _parcel.c.id) & (_label.c.status == LabelStatus.ACTIVE))
            .outerjoin(_carrier, _carrier.c.id == _label.c.carrier_id)
            .outerjoin(_service, _service.c.id == _label.c.service_id)
        )
        .where(among(_parcel.c.fulfilment_id, postgresql))
        .order_by(_parcel.c.fulfilment_id, _parcel.c.number, _label.c.id)
    )
    return _Statements(orders, lines, fulfilments, parcels)


def _iso(value):
    return value.isoformat() if value is not None else None  # marshmallow's DateTime: "iso"


class _LabelUrls:
    """The label URLs as ParcelOutSchema builds them (url_for, external), with url_for called once per dump."""

    _PROBE = "987654321"

    def __init__(self):
        self.parts = {}
        for kind, endpoint in (("pdf", "api_parcels.LabelPdf"), ("zpl", "api_parcels.LabelZpl")):
            url = url_for(endpoint, parcel_id=int(self._PROBE), _external=True)
            self.parts[kind] = url.split(self._PROBE) if url.count(self._PROBE) == 1 else endpoint

    def __call__(self, kind: str, parcel_id: int) -> str:
        parts = self.parts[kind]
        if isinstance(parts, str):  # the probe also appears elsewhere in the URL: build it the slow way
            return url_for(parts, parcel_id=parcel_id, _external=True)
        return f"{parts[0]}{parcel_id}{parts[1]}"


def _parcels(connection, statement, fulfilment_ids: list[int]) -> dict[int, list[dict]]:
    urls = None
    by_fulfilment: dict[int, list[dict]] = {}
    parcel_ids: dict[int, dict] = {}
    rows = connection.execute(statement, {"ids": fulfilment_ids}).all()
    for fulfilment_id, parcel_id, number, weight, handed_over_at, label_id, carrier, service, tracking in rows:
        parcel = parcel_ids.get(parcel_id)
        if parcel is None:
            parcel = parcel_ids[parcel_id] = {
                "number": number,
                "carrier": None,
                "service": None,
                "tracking_number": None,
                "weight_grams": weight,
                "handed_over_at": _iso(handed_over_at),
                "label_pdf_url": None,
                "label_zpl_url": None,
            }
            by_fulfilment.setdefault(fulfilment_id, []).append(parcel)
        if label_id is not None:  # the rows come in label id order: the last one is the label in force
            urls = urls or _LabelUrls()
            parcel["carrier"], parcel["service"], parcel["tracking_number"] = carrier, service, tracking
            parcel["label_pdf_url"] = urls("pdf", parcel_id)
            parcel["label_zpl_url"] = urls("zpl", parcel_id)
    return by_fulfilment


def _fulfilments(connection, statements: _Statements, order_ids: list[int]) -> dict[int, list[dict]]:
    by_order: dict[int, list[dict]] = {}
    by_id: dict[int, dict] = {}
    for (
        order_id,
        id_,
        location,
        transfer_to,
        status,
        accept_by,
        ready_by,
        reship_of,
        line_id,
        sku,
        quantity,
        picked,
        short,
    ) in connection.execute(statements.fulfilments, {"ids": order_ids}).all():
        fulfilment = by_id.get(id_)
        if fulfilment is None:
            fulfilment = by_id[id_] = {
                "id": id_,
                "location": location,
                "transfer_to": transfer_to,
                "status": status,
                "accept_by": _iso(accept_by),
                "ready_by": _iso(ready_by),
                "lines": [],
                "parcels": [],
                "reship_of": reship_of,
            }
            by_order.setdefault(order_id, []).append(fulfilment)
        if line_id is not None:
            fulfilment["lines"].append({"sku": sku, "quantity": quantity, "picked": picked, "short": short})
    if by_id:
        for fulfilment_id, parcels in _parcels(connection, statements.parcels, list(by_id)).items():
            by_id[fulfilment_id]["parcels"] = parcels
    return by_order


def dump_orders(ids: Sequence[int]) -> list[dict]:
    """The orders of `ids` as OrderOutSchema dumps them, in the order of `ids`; ids of no order are left out."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    db.session.flush()  # read through the connection below, as Session.execute would after its autoflush
    connection = db.session.connection()
    statements = _statements(connection.dialect.name == "postgresql")
    rows = connection.execute(statements.orders, {"ids": ids}).all()
    if not rows:
        return []
    found = [row[0] for row in rows]
    lines: dict[int, list[dict]] = {}
    for order_id, line_no, sku, gtin, quantity, cancelled in connection.execute(
        statements.lines, {"ids": found}
    ).all():  # fetched at once: iterating a result fetches row by row
        lines.setdefault(order_id, []).append(
            {"line_no": line_no, "sku": sku, "gtin": gtin, "quantity": quantity, "cancelled": cancelled or 0}
        )
    fulfilments = _fulfilments(connection, statements, found)
    messages = customer_messages.messages_of(found)
    dumped = {}
    for (
        order_id,
        channel,
        external_ref,
        status,
        delivery_method,
        needs_review,
        gift_wrap,
        gift_message,
        needs_customer_service,
        promised_by,
        created_at,
        unfulfilled,
    ) in rows:
        dumped[order_id] = {
            "id": order_id,
            "channel": channel,
            "external_ref": external_ref,
            "status": status,
            "delivery_method": delivery_method,
            "needs_review": needs_review,
            "gift_wrap": gift_wrap,
            "gift_message": gift_message,
            "needs_customer_service": needs_customer_service,
            "promised_by": _iso(promised_by),
            "created_at": _iso(created_at),
            "lines": lines.get(order_id, []),
            "fulfilments": fulfilments.get(order_id, []),
            "unfulfilled": unfulfilled if unfulfilled is not None else {},  # no decision yet
            "messages": [
                {**message, "created_at": _iso(message["created_at"]), "sent_at": _iso(message["sent_at"])}
                for message in messages.get(order_id, [])
            ],
        }
    return [dumped[order_id] for order_id in ids if order_id in dumped]


def dump_order(order_id: int) -> dict | None:
    """One order as OrderOutSchema dumps it, or None when there is no such order."""
    found = dump_orders([order_id])
    return found[0] if found else None
