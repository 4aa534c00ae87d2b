"""The payments ledger: an order's authorisation, and the captures, voids and refunds that follow it.

The web shop authorises at checkout and sends the authorisation with the order; Comptoir records it, then
- captures what leaves a store when it leaves (a shipped fulfilment's units, a collected pickup's units; the
  shipping fee with the order's first capture),
- voids what will never be captured (once no fulfilment of the order is open: cancelled, rejected with nothing left,
  expired, or completed for less than authorised),
- refunds returns (app.core.returns).
Each step is a PaymentTransaction row written *pending* in the transaction that decides it, capped by what the step
before allows (captures by the authorisation, refunds by the captures, counted with what is pending), under the
order's row lock (orders.lock_order), so racing requests cannot exceed it. The provider is called after that
commit (run_committed, at the end of the request; process_due, by `flask worker`), outside any transaction, by the
row's idempotency key: a timeout leaves it pending and the worker calls again with the same key.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, inspect, or_, select, update

from app import metrics
from app.core import audit, batch
from app.core.actor import Actor
from app.core.errors import N_, DomainError
from app.core.integration import events
from app.core.models import FulfilmentStatus as S
from app.core.models import Order, PaymentTransaction, RetailerSettings
from app.core.models.base import utcnow
from app.core.payments.providers import Call, ProviderTimeout, Result, provider
from app.core.uow import transaction_cache, unit_of_work
from app.extensions import db
from app.observability import origin_request_id_var, request_id_var

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)  # a claimed call nobody finished (a crash) is due again after this
DUE_KEY = "payments_due"
ENDED = {S.SHIPPED, S.COLLECTED, S.REJECTED, S.CANCELLED, S.EXPIRED}


class PaymentFailed(DomainError):
    """The capture before a hand-over failed, and the retailer holds the goods until it is settled."""

    http_status = 409
    code = "payment_failed"
    message = N_("The payment could not be taken: do not hand the order over. Customer service has been told.")


def money(value) -> Decimal:
    return (Decimal(value) if value is not None else ZERO).quantize(CENT)


def settings() -> RetailerSettings:
    """The retailer's settings (defaults when never saved).

    A retailer that never saved them would cost a SELECT at every call (the session remembers rows, not their
    absence), twice an order captured: that they are missing is remembered until the transaction ends, or until
    this session adds them (pending, or stored by retailer_settings, which forgets it)."""
    known = transaction_cache(_SETTINGS)
    if known.get("missing") and not any(isinstance(obj, RetailerSettings) for obj in db.session.new):
        found = None
    else:
        found = db.session.get(RetailerSettings, 1)
        known["missing"] = found is None
    return found if found is not None else RetailerSettings(id=1, return_window_days=30, failed_capture="hold")


def remember_settings(found: RetailerSettings | None) -> None:
    """The settings row (None: never saved), read by the caller in this transaction (app.core.configuration):
    settings() reads it again from the session only, held here until the transaction ends (the session keeps
    loaded rows by weak reference)."""
    known = transaction_cache(_SETTINGS)
    known["missing"], known["held"] = found is None, found


_SETTINGS = "retailer_settings"


def has_payment(order: Order) -> bool:
    return bool(order.payment_reference) and order.payment_amount is not None


@dataclass
class Totals:
    currency: str
    authorised: Decimal
    captured: Decimal  # succeeded
    refunded: Decimal  # succeeded
    voided: Decimal  # succeeded
    capturing: Decimal  # pending
    refunding: Decimal  # pending
    voiding: Decimal  # pending

    @property
    def capturable(self) -> Decimal:
        """What may still be captured: authorised less what is captured, being captured or voided."""
        return max(ZERO, self.authorised - self.captured - self.capturing - self.voided - self.voiding)

    @property
    def refundable(self) -> Decimal:
        """What may still be refunded: captured (and being captured) less what is refunded or being refunded."""
        return max(ZERO, self.captured + self.capturing - self.refunded - self.refunding)


def transactions(order: Order) -> list[PaymentTransaction]:
    return list(
        db.session.scalars(
            select(PaymentTransaction).where(PaymentTransaction.order_id == order.id).order_by(PaymentTransaction.id)
        )
    )


def totals(order: Order) -> Totals:
    sums = {(kind, status): ZERO for kind in ("authorisation", "capture", "void", "refund") for status in ("p", "s")}
    for txn in transactions(order):
        if txn.status != "failed":
            sums[(txn.kind, txn.status[0])] += money(txn.amount)
    authorised = sums[("authorisation", "s")]
    return Totals(
        currency=order.currency,
        authorised=authorised,
        captured=sums[("capture", "s")],
        refunded=sums[("refund", "s")],
        voided=sums[("void", "s")],
        capturing=sums[("capture", "p")],
        refunding=sums[("refund", "p")],
        voiding=sums[("void", "p")],
    )


def _by_key(key: str) -> PaymentTransaction | None:
    return db.session.scalar(select(PaymentTransaction).where(PaymentTransaction.idempotency_key == key))


def _lock(order: Order) -> None:
    """The order's row lock (as orders.lock_order takes it, without reloading anything): the ledger's caps are read
    and its row written by one transaction at a time, whichever path got here (a store's dispatch takes no other)."""
    db.session.execute(select(Order.id).where(Order.id == order.id).with_for_update())


def _add(order: Order, kind: str, amount: Decimal, key: str, actor: Actor, **links) -> PaymentTransaction:
    txn = PaymentTransaction(
        order_id=order.id,
        kind=kind,
        amount=money(amount),
        currency=order.currency,
        status="pending",
        provider=order.payment_provider or "test",
        idempotency_key=key,
        actor=actor.label,
        attempts=0,
        next_attempt_at=utcnow(),
        request_id=request_id_var.get(),
        **links,
    )
    db.session.add(txn)
    db.session.flush()
    db.session.info.setdefault(DUE_KEY, []).append(txn)
    audit.record(actor, f"payment.{kind}_requested", order, None, {"amount": str(txn.amount), "key": key})
    return txn


def record_authorisation(order: Order, *, actor: Actor, new: bool = False) -> PaymentTransaction | None:
    """The web shop's authorisation, as sent with the order: a succeeded row (nothing to call). new=True: the order
    was just created, so it has none yet (no look-up on the capture path)."""
    if not has_payment(order) or (not new and _by_key(f"auth-O{order.id}") is not None):
        return None
    values = dict(
        order_id=order.id,
        kind="authorisation",
        amount=money(order.payment_amount),
        currency=order.currency,
        status="succeeded",
        provider=order.payment_provider or "test",
        provider_reference=order.payment_reference,
        idempotency_key=f"auth-O{order.id}",
        actor=actor.label,
        settled_at=utcnow(),
        request_id=request_id_var.get(),
    )
    rows = batch.pending()
    if rows is not None:  # order capture: written with the order's other rows
        rows.add(PaymentTransaction, values)
        return None
    txn = PaymentTransaction(**values)
    db.session.add(txn)
    return txn


def shipping_fee(order: Order) -> Decimal:
    """The shipping fee within the authorisation: as sent, else what the lines do not account for."""
    if order.shipping_fee is not None:
        return money(order.shipping_fee)
    items = sum((money(line.unit_price) * line.quantity for line in order.lines), ZERO)
    return max(ZERO, money(order.payment_amount) - items)


def _first_capture(order: Order, before: PaymentTransaction | None = None) -> bool:
    """No capture (that did not fail) yet, or none before `before`: the shipping fee goes with this one."""
    return not any(
        t.kind == "capture" and t.status != "failed" and (before is None or t.id < before.id)
        for t in transactions(order)
    )


def capture_left_store(fulfilment, units: dict, *, actor: Actor) -> PaymentTransaction | None:
    """Capture the value of the units leaving a store ({FulfilmentLine: quantity}), with the shipping fee on the
    order's first capture; capped by what is still capturable. Once per fulfilment (key capture-F<id>): asked again,
    the row stays, its amount brought in line with these units while no provider has taken it."""
    order = fulfilment.order
    if not has_payment(order) or fulfilment.reship_of_id is not None:  # a re-shipment goes at no charge
        return None
    _lock(order)
    key = f"capture-F{fulfilment.id}"
    existing = _by_key(key)
    value = sum((money(line.order_line.unit_price) * qty for line, qty in units.items() if qty), ZERO)
    if existing is not None:
        if existing.status == "pending" and existing.attempts == 0:
            if _first_capture(order, before=existing):  # the fee it was written with stays in it
                value += shipping_fee(order)
            if existing.amount != value:
                existing.amount = min(value, totals(order).capturable + money(existing.amount))
        return existing
    if _first_capture(order):
        value += shipping_fee(order)
    amount = min(value, totals(order).capturable)
    if amount <= ZERO:
        return None
    return _add(order, "capture", amount, key, actor, fulfilment_id=fulfilment.id)


def void_remainder(order: Order, *, actor: Actor) -> PaymentTransaction | None:
    """Once no fulfilment of the order is open and nothing more will leave a store, release what was authorised and
    never captured (a cancel, a rejection with nothing left, an expiry, a partial order)."""
    if not has_payment(order) or any(f.status not in ENDED for f in order.fulfilments):
        return None
    _lock(order)
    # A capture that failed for units that did leave (a hand-over the retailer lets go on after a decline) stays
    # authorised for customer service to settle: voiding it would give up the money for goods the customer has.
    left_unpaid = sum(
        (
            money(t.amount)
            for t in transactions(order)
            if t.kind == "capture" and t.status == "failed" and _left_store(order, t.fulfilment_id)
        ),
        ZERO,
    )
    remainder = totals(order).capturable - left_unpaid
    if remainder <= ZERO:
        return None
    count = sum(1 for t in transactions(order) if t.kind == "void")
    return _add(order, "void", remainder, f"void-O{order.id}-{count + 1}", actor)


def void_part(order: Order, amount, *, key: str, actor: Actor) -> PaymentTransaction | None:
    """Release part of the authorisation now (units cancelled while the rest of the order goes on), at most what is
    still capturable; the same key again returns the first void."""
    if not has_payment(order):
        return None
    _lock(order)
    existing = _by_key(key)
    if existing is not None:
        return existing
    amount = min(money(amount), totals(order).capturable)
    if amount <= ZERO:
        return None
    return _add(order, "void", amount, key, actor)


def _left_store(order: Order, fulfilment_id: int | None) -> bool:
    return any(f.id == fulfilment_id and f.status in {S.SHIPPED, S.COLLECTED} for f in order.fulfilments)


def refund(order: Order, amount: Decimal, *, key: str, actor: Actor, **links) -> PaymentTransaction | None:
    """Refund to the original payment, at most what was captured and not yet refunded (the caller holds the order's
    lock). The same key again returns the first refund."""
    if has_payment(order):
        _lock(order)
    existing = _by_key(key)
    if existing is not None or not has_payment(order):
        return existing
    amount = min(money(amount), totals(order).refundable)
    if amount <= ZERO:
        return None
    return _add(order, "refund", amount, key, actor, **links)


# --- calling the provider ---------------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 15 * 2 ** max(0, attempts - 1)))


def _claim(txn_id: int, now) -> PaymentTransaction | None:
    """Take a pending row for one call (attempts + 1, due again after the lease): two processes never call at once."""
    with unit_of_work(writes=True):
        claimed = db.session.execute(
            update(PaymentTransaction)
            .where(
                PaymentTransaction.id == txn_id,
                PaymentTransaction.status == "pending",
                or_(PaymentTransaction.next_attempt_at.is_(None), PaymentTransaction.next_attempt_at <= now),
            )
            .values(attempts=PaymentTransaction.attempts + 1, next_attempt_at=now + LEASE)
            .returning(PaymentTransaction.id)
            .execution_options(synchronize_session=False)
        ).scalar()
        if claimed is None:
            return None
        txn = db.session.get(PaymentTransaction, txn_id, populate_existing=True)
        order = txn.order
        capture_reference = ""
        if txn.kind == "refund":
            captures = [t for t in transactions(order) if t.kind == "capture"]
            if any(t.status == "pending" for t in captures):  # refund what is captured: wait for the capture
                txn.attempts -= 1
                txn.next_attempt_at = now + backoff(1)
                return None
            capture_reference = next((t.provider_reference for t in captures if t.status == "succeeded"), "")
        call = Call(
            kind=txn.kind,
            authorisation=order.payment_reference,
            amount=money(txn.amount),
            currency=txn.currency,
            idempotency_key=txn.idempotency_key,
            attempt=txn.attempts,
            capture_reference=capture_reference,
        )
        db.session.expunge(txn)
    return txn, call


def _call(txn: PaymentTransaction, call: Call) -> Result:
    adapter = provider(txn.provider)
    if adapter is None:
        return Result("declined", message=f"no adapter for the payment provider {txn.provider!r}")
    if txn.kind == "refund" and call.amount > ZERO and not call.capture_reference:
        return Result("declined", message="nothing was captured to refund")
    try:
        return getattr(adapter, txn.kind)(call)
    except ProviderTimeout as error:
        return Result.retry(str(error) or "timeout")
    except Exception as error:  # a provider's adapter must never stop the worker: the call is retried
        log.exception("payment provider %s failed on %s", txn.provider, txn.idempotency_key)
        return Result.retry(f"{type(error).__name__}: {error}")


EVENT = {"capture": "payment.captured", "refund": "payment.refunded", "void": "payment.voided"}


def _record(txn_id: int, result: Result, now) -> PaymentTransaction:
    with unit_of_work(writes=True, keep_loaded=True):
        txn = db.session.get(PaymentTransaction, txn_id, populate_existing=True, with_for_update=True)
        if txn.status != "pending":
            return txn
        order = txn.order
        details = {"kind": txn.kind, "amount": str(money(txn.amount)), "currency": txn.currency}
        if result.status == "succeeded":
            txn.status, txn.provider_reference, txn.settled_at = "succeeded", result.reference[:120], now
            txn.next_attempt_at, txn.last_error = None, ""
            events.emit(EVENT[txn.kind], order, transaction_id=txn.id, **details)
            if txn.return_id is not None and txn.kind == "refund":
                from app.core.integration import customer_messages

                customer_messages.refunded(txn)
        elif result.status == "declined" or txn.attempts >= MAX_ATTEMPTS:
            txn.status, txn.settled_at, txn.next_attempt_at = "failed", now, None
            txn.last_error = (result.message or "declined")[:500]
            order.needs_customer_service = True
            events.emit("payment.failed", order, transaction_id=txn.id, reason=txn.last_error, **details)
        else:
            txn.next_attempt_at, txn.last_error = now + backoff(txn.attempts), (result.message or "retry")[:500]
        metrics.count(metrics.PAYMENTS, kind=txn.kind, status=txn.status)
        audit.record(
            Actor.system("payments"),
            f"payment.{txn.kind}_{txn.status}",
            order,
            None,
            {**details, "attempt": txn.attempts, **({"error": txn.last_error} if txn.last_error else {})},
        )
    return txn


def process(txn_id: int, *, now=None) -> PaymentTransaction | None:
    """Call the provider for one pending row, outside any transaction, and record the answer. Not due, or taken
    by another process: nothing is called (returns None)."""
    now = now or utcnow()
    if db.session().in_transaction():
        db.session.commit()  # whatever wrote the row is committed; the call happens outside any transaction
    claimed = _claim(txn_id, now)
    if claimed is None:
        return None
    txn, call = claimed
    if txn.request_id:  # the worker's job log names the request that decided this step
        origin_request_id_var.set(txn.request_id)
    return _record(txn.id, _call(txn, call), now)


def run_committed() -> int:
    """Call the provider for the rows this session wrote and committed (the end of a request)."""
    due = db.session.info.pop(DUE_KEY, [])
    ids = [inspect(t).identity[0] for t in due if inspect(t).identity]  # rolled back: transient, no identity
    done = 0
    for txn_id in ids:
        try:
            done += process(txn_id) is not None
        except Exception:
            db.session.rollback()
            log.exception("payment transaction %s: the call after commit failed; the worker retries it", txn_id)
    return done


def process_due(*, now=None, limit: int = 50) -> int:
    """The worker's pass: every pending row whose time has come (first calls nobody made, retries)."""
    now = now or utcnow()
    ids = db.session.scalars(
        select(PaymentTransaction.id)
        .where(PaymentTransaction.status == "pending", PaymentTransaction.next_attempt_at <= now)
        .order_by(PaymentTransaction.next_attempt_at)
        .limit(limit)
    ).all()
    db.session.rollback()
    return sum(process(txn_id, now=now) is not None for txn_id in ids)


def capture_before_handover(fulfilment, units: dict, *, actor: Actor) -> PaymentTransaction | None:
    """The capture of a click & collect hand-over, taken before the goods are handed over: written and committed,
    then the provider is called. The hand-over (pickups.hand_over) goes on, or is held, by its outcome."""
    txn = capture_left_store(fulfilment, units, actor=actor)
    if txn is None:
        return None
    txn_id = txn.id
    db.session.commit()
    db.session.info[DUE_KEY] = [t for t in db.session.info.get(DUE_KEY, []) if t is not txn]
    process(txn_id)
    return db.session.get(PaymentTransaction, txn_id, populate_existing=True)


def summary(order: Order) -> dict:
    """GET /api/v1/orders/{id}/payments: totals and every transaction, money as decimal strings."""
    t = totals(order)
    return {
        "currency": order.currency,
        "authorised": str(t.authorised),
        "captured": str(t.captured),
        "refunded": str(t.refunded),
        "voided": str(t.voided),
        "transactions": [
            {
                "id": txn.id,
                "kind": txn.kind,
                "amount": str(money(txn.amount)),
                "status": txn.status,
                "provider_reference": txn.provider_reference,
                "created_at": txn.created_at,
                "fulfilment_id": txn.fulfilment_id,
                "return_id": txn.return_id,
                "attempts": txn.attempts,
                "last_error": txn.last_error,
            }
            for txn in transactions(order)
        ],
    }


def pending_count() -> int:
    return db.session.scalar(select(func.count()).where(PaymentTransaction.status == "pending")) or 0
