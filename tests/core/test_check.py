"""`flask check`: the ledger's invariants hold on the demo, and each one fails (exit 1, saying which row) when a row
is broken behind the core's back, as a bad manual fix or a half-restored backup would."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text, update

from app.core import checks
from app.core.models import Fulfilment, FulfilmentLine, PaymentTransaction, Reservation, StockLevel
from app.extensions import db


@pytest.fixture
def demo(runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    db.session.commit()


def _check(runner):
    db.session.commit()  # the command reads what the test wrote
    result = runner.invoke(args=["check"])
    db.session.rollback()
    return result


def test_check_passes_on_the_demo_and_fails_on_a_stock_row_that_left_its_ledger(demo, runner):
    assert db.session.scalar(select(func.count()).select_from(Reservation).where(Reservation.quantity > 0)) > 0
    result = _check(runner)
    assert result.exit_code == 0, result.output
    assert "5 of 5 invariants hold." in result.output
    assert "ok    stock equals its ledger" in result.output
    assert all(c.ok and c.checked > 0 for c in checks.run()[:4])

    level = db.session.scalars(select(StockLevel).where(StockLevel.on_hand > 0).order_by(StockLevel.id)).first()
    db.session.execute(update(StockLevel).where(StockLevel.id == level.id).values(on_hand=StockLevel.on_hand + 1))
    result = _check(runner)
    assert result.exit_code == 1
    assert f"FAIL  stock equals its ledger: stock row {level.id} " in result.output
    assert "4 of 5 invariants hold." in result.output

    db.session.execute(update(StockLevel).where(StockLevel.id == level.id).values(on_hand=StockLevel.on_hand - 1))
    assert _check(runner).exit_code == 0


def test_check_fails_on_reservations_for_closed_work_and_on_a_capture_beyond_the_authorisation(demo, runner):
    held = db.session.execute(
        select(Reservation.id, FulfilmentLine.fulfilment_id)
        .join(FulfilmentLine, FulfilmentLine.id == Reservation.fulfilment_line_id)
        .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .where(Reservation.quantity > 0, Fulfilment.status == "accepted")
        .order_by(Reservation.id)
    ).first()
    db.session.execute(update(Fulfilment).where(Fulfilment.id == held[1]).values(status="cancelled"))
    result = _check(runner)
    assert result.exit_code == 1
    assert f"FAIL  reservations hold units only for open work: reservation {held[0]} " in result.output

    db.session.execute(text("DELETE FROM reservation WHERE id = :id"), {"id": held[0]})
    result = _check(runner)
    assert "FAIL  reserved equals the reservations' units" in result.output

    authorisation = db.session.scalars(
        select(PaymentTransaction)
        .where(PaymentTransaction.kind == "authorisation", PaymentTransaction.status == "succeeded")
        .order_by(PaymentTransaction.id)
    ).first()
    db.session.add(
        PaymentTransaction(
            order_id=authorisation.order_id,
            kind="capture",
            amount=authorisation.amount + Decimal("0.01"),
            currency=authorisation.currency,
            status="succeeded",
            provider="test",
            idempotency_key=f"broken-{authorisation.id}",
            actor="test",
        )
    )
    result = _check(runner)
    assert result.exit_code == 1
    assert (
        f"FAIL  payments never exceed (captured <= authorised, refunded <= captured): order {authorisation.order_id}:"
        in (result.output)
    )
